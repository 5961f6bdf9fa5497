/*-------------------------------------------------------------------------
 *
 * database_properties.h
 *		The database-level properties a backup carries in its sidecar
 *		file (database_properties.c).  Built on stream.h, programs.h and
 *		child.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECH_BACKUP_DATABASE_PROPERTIES_H
#define PROTECH_BACKUP_DATABASE_PROPERTIES_H

#include "stream.h"

extern const char **protech_backup_database_properties_argv(void);
extern bool protech_backup_apply_database_properties(ProtechBackupStreamReader *reader,
													 const char *target,
													 const char *const *envp,
													 char **problem);

#endif							/* PROTECH_BACKUP_DATABASE_PROPERTIES_H */
