/*-------------------------------------------------------------------------
 *
 * extension.c
 *		Whether, and in which schema, the extension is installed in the
 *		database this process is connected to: the history table and the
 *		SQL functions a worker calls live there.  Depends on no other
 *		module.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"

#include "extension.h"

/*
 * The quoted name of the extension's schema, or NULL when the extension is
 * not installed in this database.  Must be called with SPI connected.
 */
char *
protech_backup_extension_schema(void)
{
	if (SPI_execute("SELECT pg_catalog.quote_ident(n.nspname) "
					"FROM pg_catalog.pg_extension e "
					"JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace "
					"WHERE e.extname = 'protech_backup'",
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

	SPI_connect();
	installed = protech_backup_extension_schema() != NULL;
	SPI_finish();
	return installed;
}
