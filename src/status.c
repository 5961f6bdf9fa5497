/*-------------------------------------------------------------------------
 *
 * status.c
 *		What the server knows about backups right now, for
 *		protech_backup_status() and protech_backup_metrics() (SQL functions
 *		of the install script built on protech_backup_runtime() below), the
 *		size-anomaly check the worker runs after each backup, and the free
 *		space of the backup directory, which a backup also checks before it
 *		starts (backup.c).
 *
 * protech_backup_runtime() reports what only this process's shared memory
 * and the file system know: the scheduler's pid and next due instant, the
 * backup running now and the bytes it has written, the backup directory
 * and its free space.  Everything else (last success, last failure, sizes)
 * comes from protech_backup_list() and protech_backup_history, in SQL.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/statvfs.h>

#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "protech_backup.h"

PG_FUNCTION_INFO_V1(protech_backup_runtime);

/*
 * Free bytes for an unprivileged writer in the file system holding path,
 * or of its nearest existing ancestor when path does not exist yet; -1
 * when even that cannot be read.  Also the free-space check before a
 * backup (backup.c).
 */
int64
protech_backup_free_bytes(const char *path)
{
	char	   *probe = pstrdup(path);
	struct statvfs st;

	while (statvfs(probe, &st) != 0)
	{
		if (errno != ENOENT || strcmp(probe, "/") == 0 || probe[0] == '\0')
			return -1;
		get_parent_directory(probe);
		if (probe[0] == '\0')
			probe = pstrdup("/");
	}
	return (int64) st.f_bavail * st.f_frsize;
}

/*
 * SQL: protech_backup_runtime(OUT scheduler_pid int, OUT next_run_at
 * timestamptz, OUT running_pid int, OUT running_since timestamptz,
 * OUT running_file text, OUT running_bytes bigint, OUT directory text,
 * OUT directory_free_bytes bigint)
 */
Datum
protech_backup_runtime(PG_FUNCTION_ARGS)
{
	ProtechBackupState state;
	TupleDesc	tupdesc;
	Datum		values[8];
	bool		nulls[8] = {0};
	char	   *directory = protech_backup_resolved_directory();
	int64		free_space = protech_backup_free_bytes(directory);

	protech_backup_get_state(&state);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	values[0] = Int32GetDatum(state.scheduler_pid);
	nulls[0] = state.scheduler_pid == 0;
	values[1] = TimestampTzGetDatum(state.next_run_at);
	nulls[1] = state.next_run_at == 0;
	values[2] = Int32GetDatum(state.running_pid);
	values[3] = TimestampTzGetDatum(state.running_since);
	values[4] = CStringGetTextDatum(state.running_file);
	values[5] = Int64GetDatum(state.running_bytes);
	nulls[2] = nulls[3] = nulls[4] = nulls[5] = state.running_pid == 0;
	values[6] = CStringGetTextDatum(directory);
	values[7] = Int64GetDatum(free_space);
	nulls[7] = free_space < 0;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc),
													  values, nulls)));
}

/*
 * The size anomaly of the newest backup, as the SQL function
 * protech_backup_size_anomaly() of the extension describes it, or NULL.
 * Called by the worker, in a transaction, after a successful backup.
 */
char *
protech_backup_size_anomaly(void)
{
	MemoryContext caller_context = CurrentMemoryContext;
	char	   *schema;
	char	   *anomaly = NULL;
	int			nestlevel = protech_backup_spi_connect();

	schema = protech_backup_extension_schema();
	if (schema != NULL &&
		SPI_execute(psprintf("SELECT %s.protech_backup_size_anomaly()", schema),
					true, 1) == SPI_OK_SELECT && SPI_processed == 1)
	{
		char	   *value = SPI_getvalue(SPI_tuptable->vals[0],
										 SPI_tuptable->tupdesc, 1);

		if (value)
			anomaly = MemoryContextStrdup(caller_context, value);
	}
	protech_backup_spi_finish(nestlevel);
	return anomaly;
}
