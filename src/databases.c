/*-------------------------------------------------------------------------
 *
 * databases.c
 *		The databases a run backs up, as protech_backup.databases says
 *		(settings.c parses it): protech_backup.database alone when it is
 *		empty, the databases it lists, or, for "*", every database that
 *		accepts connections except templates, as they are when the run
 *		starts (so a database created later is backed up by the next run).
 *		Built on settings.c and extension.c (SPI).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "utils/memutils.h"

#include "databases.h"
#include "extension.h"
#include "settings.h"

/*
 * Whether protech_backup.databases is set: then the names of the backups
 * carry the tag of their database (see protech_backup_database_tag).
 */
bool
protech_backup_many_databases(void)
{
	const ProtechBackupDatabaseList *list = protech_backup_databases_in_force();

	return list->all || list->count > 0;
}

/*
 * The names of the databases to back up, in the order they are backed up:
 * as listed, or by name for "*".  Called in a transaction; the list and
 * its names are allocated in the caller's memory context.
 */
List *
protech_backup_configured_databases(void)
{
	const ProtechBackupDatabaseList *list = protech_backup_databases_in_force();
	MemoryContext caller_context = CurrentMemoryContext;
	List	   *result = NIL;
	int			nestlevel;

	if (!list->all)
	{
		for (int i = 0; i < list->count; i++)
			result = lappend(result, pstrdup(list->names[i]));
		return result != NIL ? result :
			list_make1(pstrdup(protech_backup_database));
	}
	nestlevel = protech_backup_spi_connect();
	if (SPI_execute("SELECT datname FROM pg_catalog.pg_database "
					"WHERE datallowconn AND NOT datistemplate "
					"ORDER BY datname", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not list the databases");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		MemoryContext spi_context = MemoryContextSwitchTo(caller_context);

		result = lappend(result,
						 pstrdup(SPI_getvalue(SPI_tuptable->vals[i],
											  SPI_tuptable->tupdesc, 1)));
		MemoryContextSwitchTo(spi_context);
	}
	protech_backup_spi_finish(nestlevel);
	return result;
}

/*
 * Whether database is one of the databases to back up.  Called in a
 * transaction.
 */
bool
protech_backup_database_configured(const char *database)
{
	ListCell   *lc;

	foreach(lc, protech_backup_configured_databases())
		if (strcmp(lfirst(lc), database) == 0)
			return true;
	return false;
}
