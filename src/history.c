/*-------------------------------------------------------------------------
 *
 * history.c
 *		The run history: one row of protech_backup_history per backup run,
 *		whatever started it, written by the process that runs the backup in
 *		transactions of its own, so that a failed run is recorded too.
 *		Built on extension.c (where the table is, and SPI under a pinned
 *		search_path).
 *
 * Every function here runs inside a transaction the caller started, in a
 * database connection to protech_backup.database.  Values always travel as
 * SPI parameters; only the table's schema-qualified, quoted name is put into
 * the query text, and every function and operator is pg_catalog's, named
 * so.  When the extension is not installed in the connected database there
 * is no table: the functions then do nothing.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "extension.h"
#include "history.h"

/*
 * The quoted, schema-qualified name of the history table, or NULL when the
 * extension is not installed in this database.  Must be called with SPI
 * connected.
 */
static char *
history_table(void)
{
	char	   *schema = protech_backup_extension_schema();

	return schema ? psprintf("%s.protech_backup_history", schema) : NULL;
}

/*
 * Run one statement on the history table ("%s" in query stands for its
 * name) with the given parameters.  Returns how many rows it processed.
 * When first is not NULL and the statement returns a non-null value in its
 * first column, stores it in *first (a by-value type: bigint or
 * timestamptz) and sets *found.  Does nothing when there is no table.
 */
static uint64
history_execute(const char *query, int nargs, Oid *types, Datum *values,
				const char *nulls, Datum *first, bool *found)
{
	char	   *table;
	uint64		processed = 0;
	int			rc;
	int			nestlevel;

	if (found)
		*found = false;
	nestlevel = protech_backup_spi_connect();
	table = history_table();
	if (table != NULL)
	{
		rc = SPI_execute_with_args(psprintf(query, table), nargs, types,
								   values, nulls, false, 0);
		if (rc < 0)
			elog(ERROR, "could not update protech_backup_history: %s",
				 SPI_result_code_string(rc));
		processed = SPI_processed;
		if (first != NULL && SPI_tuptable != NULL && SPI_processed > 0)
		{
			bool		isnull;

			*first = SPI_getbinval(SPI_tuptable->vals[0],
								   SPI_tuptable->tupdesc, 1, &isnull);
			*found = !isnull;
		}
	}
	protech_backup_spi_finish(nestlevel);
	return processed;
}

/*
 * history_execute of a statement with one parameter, $1, of type type,
 * that returns no value: how many rows it processed.
 */
static uint64
history_execute_1(const char *query, Oid type, Datum value)
{
	return history_execute(query, 1, &type, &value, NULL, NULL, NULL);
}

/*
 * Record a run that starts now; returns its run_id (0 without a table).
 */
int64
protech_backup_history_start(const char *trigger, const char *database,
							 TimestampTz started_at)
{
	Oid			types[3] = {TEXTOID, NAMEOID, TIMESTAMPTZOID};
	Datum		values[3];
	NameData	dbname;
	Datum		run_id;
	bool		found;

	namestrcpy(&dbname, database);
	values[0] = CStringGetTextDatum(trigger);
	values[1] = NameGetDatum(&dbname);
	values[2] = TimestampTzGetDatum(started_at);

	history_execute("INSERT INTO %s (trigger, database, started_at, status) "
					"VALUES ($1, $2, $3, 'running') RETURNING run_id",
					3, types, values, NULL, &run_id, &found);
	return found ? DatumGetInt64(run_id) : 0;
}

/*
 * Record how run run_id ended: its status ('succeeded', 'failed',
 * 'skipped'), the backup it made (info, or NULL), a message (or NULL), and
 * how post_backup_command went (copy_status, or NULL when none ran).
 */
void
protech_backup_history_finish(int64 run_id, const char *status,
							  const ProtechBackupInfo *info,
							  const char *message, const char *copy_status)
{
	Oid			types[7] = {INT8OID, TEXTOID, TIMESTAMPTZOID, TEXTOID, INT8OID,
	TEXTOID, TEXTOID};
	Datum		values[7];
	char		nulls[7] = "       ";

	if (run_id == 0)
		return;
	values[0] = Int64GetDatum(run_id);
	values[1] = CStringGetTextDatum(status);
	values[2] = TimestampTzGetDatum(info ? info->finished_at : GetCurrentTimestamp());
	if (info)
	{
		values[3] = CStringGetTextDatum(info->file_name);
		values[4] = Int64GetDatum(info->size_bytes);
	}
	else
		nulls[3] = nulls[4] = 'n';
	if (message)
		values[5] = CStringGetTextDatum(message);
	else
		nulls[5] = 'n';
	if (copy_status)
		values[6] = CStringGetTextDatum(copy_status);
	else
		nulls[6] = 'n';
	history_execute("UPDATE %s SET status = $2, finished_at = $3, "
					"file_name = $4, size_bytes = $5, message = $6, "
					"post_backup_status = $7 WHERE run_id OPERATOR(pg_catalog.=) $1",
					7, types, values, nulls, NULL, NULL);
}

/*
 * Mark the runs a crash left 'running' as failed, except run keep_run_id
 * (the one a live process may be running now).  Returns how many.
 */
int64
protech_backup_history_mark_interrupted(int64 keep_run_id)
{
	return history_execute_1("UPDATE %s SET status = 'failed', "
							 "finished_at = pg_catalog.now(), "
							 "message = 'server restarted or failed over while the backup was running' "
							 "WHERE status OPERATOR(pg_catalog.=) 'running' "
							 "AND run_id OPERATOR(pg_catalog.<>) $1",
							 INT8OID, Int64GetDatum(keep_run_id));
}

/*
 * Delete history rows older than days days.  Returns how many.
 */
int64
protech_backup_history_purge(int days)
{
	return history_execute_1("DELETE FROM %s WHERE started_at OPERATOR(pg_catalog.<) "
							 "(pg_catalog.now() OPERATOR(pg_catalog.-) "
							 "pg_catalog.make_interval(days => $1))",
							 INT4OID, Int32GetDatum(days));
}

/*
 * Start time of the newest successful scheduled or catch-up run into
 * *started_at; false when there is none (or no table).
 */
bool
protech_backup_history_last_scheduled_success(TimestampTz *started_at)
{
	Datum		value;
	bool		found;

	history_execute("SELECT pg_catalog.max(started_at) FROM %s "
					"WHERE status OPERATOR(pg_catalog.=) 'succeeded' "
					"AND trigger OPERATOR(pg_catalog.=) ANY ('{schedule,catch-up}'::pg_catalog.text[])",
					0, NULL, NULL, NULL, &value, &found);
	if (!found)
		return false;
	*started_at = DatumGetTimestampTz(value);
	return true;
}
