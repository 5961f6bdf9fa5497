/*-------------------------------------------------------------------------
 *
 * restore.h
 *		Restoring a backup into a new database (restore.c).  Built on
 *		programs.h, child.h, repository.h, stream.h, encrypt.h, globals.h,
 *		database_properties.h, archive_toc.h and selection.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECH_BACKUP_RESTORE_H
#define PROTECH_BACKUP_RESTORE_H

#include "nodes/pg_list.h"

#include "protech_backup.h"
#include "selection.h"

/* what protech_backup_restore() was asked for beyond the whole backup */
typedef struct ProtechBackupRestoreOptions
{
	bool		restore_globals;	/* create the missing roles and
									 * tablespaces first */
	int			jobs;			/* pg_restore --jobs */
	List	   *tables;			/* a selective restore's tables (strings), or
								 * NIL */
	List	   *schemas;		/* its schemas, or NIL */
} ProtechBackupRestoreOptions;

extern void protech_backup_install_restore_hook(void);
extern void protech_backup_check_restore_rights(const ProtechBackupInfo *info);
extern bool protech_backup_restore_into(const char *directory,
										const ProtechBackupInfo *info,
										const char *target, bool keep,
										int jobs,
										const ProtechBackupSelection *selection,
										int32 *tables, int64 *rows,
										char **problem);
extern void protech_backup_restore_backup(const char *directory,
										  const ProtechBackupInfo *info,
										  const char *target,
										  const ProtechBackupRestoreOptions *options,
										  List **notes,
										  int32 *tables, int64 *rows);
extern char *protech_backup_scratch_database_name(void);
extern void protech_backup_drop_leftover_scratch_databases(void);

#endif							/* PROTECH_BACKUP_RESTORE_H */
