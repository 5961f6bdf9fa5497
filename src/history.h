/*-------------------------------------------------------------------------
 *
 * history.h
 *		The run history table protech_backup_history (history.c).  Built on
 *		extension.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECH_BACKUP_HISTORY_H
#define PROTECH_BACKUP_HISTORY_H

#include "protech_backup.h"

extern int64 protech_backup_history_start(const char *trigger,
										  const char *database,
										  TimestampTz started_at);
extern void protech_backup_history_finish(int64 run_id, const char *status,
										  const ProtechBackupInfo *info,
										  const char *message,
										  const char *copy_status);
extern int64 protech_backup_history_mark_interrupted(int64 keep_run_id);
extern int64 protech_backup_history_purge(int days);
extern bool protech_backup_history_last_scheduled_success(TimestampTz *started_at);

#endif							/* PROTECH_BACKUP_HISTORY_H */
