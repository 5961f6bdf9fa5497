/*-------------------------------------------------------------------------
 *
 * globals.h
 *		Creating a backup's roles and tablespaces where they are missing
 *		(globals.c).  Built on stream.h, programs.h and child.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECH_BACKUP_GLOBALS_H
#define PROTECH_BACKUP_GLOBALS_H

#include "nodes/pg_list.h"

#include "stream.h"

extern bool protech_backup_restore_missing_globals(ProtechBackupStreamReader *reader,
												   const char *const *envp,
												   List **notes,
												   char **problem);

#endif							/* PROTECH_BACKUP_GLOBALS_H */
