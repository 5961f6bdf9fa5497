/*-------------------------------------------------------------------------
 *
 * repository.h
 *		The backup directory, its lock file and the backups in it
 *		(repository.c).  Built on manifest.h, durable.h, stream.h,
 *		settings.h and slot.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECH_BACKUP_REPOSITORY_H
#define PROTECH_BACKUP_REPOSITORY_H

#include "nodes/pg_list.h"

#include "protech_backup.h"
#include "storage.h"

extern void protech_backup_prepare_directory(const char *directory);
extern void protech_backup_claim_directory(const char *directory, int64 run_id);
extern bool protech_backup_try_claim_directory(const char *directory);
extern void protech_backup_release_directory(void);
extern bool protech_backup_begin_manifest_update(const char *directory,
												 char **holder);
extern void protech_backup_end_manifest_update(void);
extern void protech_backup_choose_file_name(const char *directory,
											TimestampTz started_at,
											const char *database,
											const char *suffix,
											char *file_name);
extern List *protech_backup_list_backups(const char *directory);
extern ProtechBackupInfo *protech_backup_find_backup(const char *file_name,
													 const char *directory);
extern void protech_backup_report_not_a_backup(const char *file_name,
											   const char *directory,
											   const char *problem) pg_attribute_noreturn();
extern void protech_backup_remove_stale_partials(const char *directory);
extern char **protech_backup_folder_files(const char *path, int *count,
										  char **problem);
extern void protech_backup_seal_folder(const char *path, int64 *size_bytes,
									   char *sha256);
extern int64 protech_backup_stored_size(const char *path,
										const ProtechBackupStorage *storage);
extern bool protech_backup_check_stored(const char *directory,
										const ProtechBackupInfo *info,
										char **problem);

#endif							/* PROTECH_BACKUP_REPOSITORY_H */
