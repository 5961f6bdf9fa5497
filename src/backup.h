/*-------------------------------------------------------------------------
 *
 * backup.h
 *		Taking one backup (backup.c).  Built on pg_dump.h, repository.h,
 *		manifest.h, stream.h, encrypt.h, databases.h,
 *		database_properties.h, durable.h, programs.h and slot.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECH_BACKUP_BACKUP_H
#define PROTECH_BACKUP_BACKUP_H

#include "nodes/pg_list.h"

#include "protech_backup.h"

extern void protech_backup_check_database(const char *database);
extern ProtechBackupInfo *protech_backup_take(const char *trigger, int64 run_id,
											  const char *directory,
											  const char *database,
											  ProtechBackupInfo *shared,
											  List **listed);

#endif							/* PROTECH_BACKUP_BACKUP_H */
