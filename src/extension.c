/*-------------------------------------------------------------------------
 *
 * extension.c
 *		Whether, and in which schema, the extension is installed in the
 *		database this process is connected to (the history table and the
 *		SQL functions a worker calls live there), and SPI under the pinned
 *		search_path every query of the extension runs under.  Depends on no
 *		other module.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "utils/guc.h"

#include "extension.h"
#include "protech_backup.h"

/*
 * Connect to SPI for queries of the extension, with search_path pinned to
 * PROTECH_BACKUP_SEARCH_PATH until protech_backup_spi_finish(), whatever
 * the database, the role or the session set: a function, operator or
 * aggregate that a user created in a schema of the path can never be
 * picked for a name the queries use (they qualify every name too).  As
 * PostgreSQL does around the code of index builds and foreign key checks.
 * Returns the GUC nest level to give protech_backup_spi_finish(); an error
 * in between restores the setting with the transaction's abort.
 */
int
protech_backup_spi_connect(void)
{
	int			nestlevel = NewGUCNestLevel();

	(void) set_config_option("search_path", PROTECH_BACKUP_SEARCH_PATH,
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
	SPI_connect();
	return nestlevel;
}

/*
 * Disconnect from SPI and give search_path back its value from before
 * protech_backup_spi_connect().
 */
void
protech_backup_spi_finish(int nestlevel)
{
	SPI_finish();
	AtEOXact_GUC(true, nestlevel);
}

/*
 * The quoted name of the extension's schema, or NULL when the extension is
 * not installed in this database.  Must be called with SPI connected
 * (protech_backup_spi_connect).
 */
char *
protech_backup_extension_schema(void)
{
	if (SPI_execute("SELECT pg_catalog.quote_ident(n.nspname) "
					"FROM pg_catalog.pg_extension e "
					"JOIN pg_catalog.pg_namespace n "
					"ON n.oid OPERATOR(pg_catalog.=) e.extnamespace "
					"WHERE e.extname OPERATOR(pg_catalog.=) 'protech_backup'",
					true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up the protech_backup extension");
	if (SPI_processed == 0)
		return NULL;
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

/*
 * Whether the extension is installed in the connected database.
 */
bool
protech_backup_extension_installed(void)
{
	bool		installed;
	int			nestlevel = protech_backup_spi_connect();

	installed = protech_backup_extension_schema() != NULL;
	protech_backup_spi_finish(nestlevel);
	return installed;
}
