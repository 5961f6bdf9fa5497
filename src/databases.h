/*-------------------------------------------------------------------------
 *
 * databases.h
 *		The databases a run backs up (databases.c).  Built on settings.h
 *		and extension.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECH_BACKUP_DATABASES_H
#define PROTECH_BACKUP_DATABASES_H

#include "nodes/pg_list.h"

extern bool protech_backup_many_databases(void);
extern List *protech_backup_configured_databases(void);
extern bool protech_backup_database_configured(const char *database);

#endif							/* PROTECH_BACKUP_DATABASES_H */
