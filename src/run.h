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

extern bool protech_backup_run(const char *trigger, const char *database,
							   ProtechBackupInfo *shared, ProtechBackupInfo *info,
							   ErrorData **error);
extern void protech_backup_record_skipped(const char *trigger,
										  const char *database,
										  const char *reason);

#endif							/* PROTECH_BACKUP_RUN_H */
