/*-------------------------------------------------------------------------
 *
 * run.h
 *		One whole backup run (run.c).  Built on backup.h,
 *		post_backup_command.h, history.h and worker.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECH_BACKUP_RUN_H
#define PROTECH_BACKUP_RUN_H

#include "protech_backup.h"

extern bool protech_backup_run(const char *trigger, ProtechBackupInfo *info,
							   ErrorData **error);

#endif							/* PROTECH_BACKUP_RUN_H */
