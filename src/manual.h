/*-------------------------------------------------------------------------
 *
 * manual.h
 *		A manual backup, run in a worker of its own while the caller waits
 *		(manual.c).  Built on run.h, worker.h and slot.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECH_BACKUP_MANUAL_H
#define PROTECH_BACKUP_MANUAL_H

#include "protech_backup.h"

extern ProtechBackupInfo *protech_backup_run_manual(const char *database,
													ProtechBackupInfo *shared,
													ErrorData *error);

#endif							/* PROTECH_BACKUP_MANUAL_H */
