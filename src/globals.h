/*-------------------------------------------------------------------------
 *
 * globals.h
 *		Creating a backup's roles and tablespaces where they are missing
 *		(globals.c).  Built on durable.h, programs.h and child.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECH_BACKUP_GLOBALS_H
#define PROTECH_BACKUP_GLOBALS_H

#include "nodes/pg_list.h"

extern bool protech_backup_restore_missing_globals(const char *path,
												   const char *const *envp,
												   List **notes,
												   char **problem);

#endif							/* PROTECH_BACKUP_GLOBALS_H */
