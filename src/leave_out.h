/*-------------------------------------------------------------------------
 *
 * leave_out.h
 *		What a restore leaves out: the extensions that can live in one
 *		database only, and the filters that take them out of a dump
 *		(leave_out.c).  Built on child.h and settings.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECH_BACKUP_LEAVE_OUT_H
#define PROTECH_BACKUP_LEAVE_OUT_H

#include "nodes/bitmapset.h"
#include "nodes/pg_list.h"
#include "storage/fd.h"

#include "child.h"
#include "protech_backup.h"

extern void protech_backup_describe_single_database_extensions(ProtechBackupInfo *info);
extern bool protech_backup_leaves_out(const ProtechBackupInfo *info,
									  const char *target);
extern bool protech_backup_extension_left_out(const ProtechBackupInfo *info,
											  const char *target,
											  const char *name);
extern List *protech_backup_left_out_schemas(const ProtechBackupInfo *info,
											 const char *target);
extern List *protech_backup_left_out_notes(const ProtechBackupInfo *info,
										   const char *target);
extern void *protech_backup_dump_filter(const ProtechBackupInfo *info,
										const char *target,
										ProtechBackupSource source,
										void *source_arg);
extern bool protech_backup_dump_filter_read(StringInfo buf, void *arg);
extern bool protech_backup_restore_list(const ProtechBackupInfo *info,
										const char *target,
										bool selective,
										const Bitmapset *wanted,
										const char *const *argv,
										const char *const *envp,
										ProtechBackupSource source,
										void *source_arg, char **path,
										File *file, char **problem);

#endif							/* PROTECH_BACKUP_LEAVE_OUT_H */
