/*-------------------------------------------------------------------------
 *
 * run.c
 *		One backup run, whatever started it (the scheduler, a catch-up, a
 *		manual call through its worker), in one function,
 *		protech_backup_run(): history row 'running' -> take the backup ->
 *		verify it -> retention -> post-backup command -> history row with
 *		the outcome -> how it ended (a LOG line, a size-anomaly WARNING,
 *		NOTIFY protech_backup).  Built on backup.c, verify.c, retention.c,
 *		post_backup_command.c, history.c, extension.c and worker.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type_d.h"
#include "commands/async.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "pgstat.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "backup.h"
#include "databases.h"
#include "extension.h"
#include "history.h"
#include "post_backup_command.h"
#include "repository.h"
#include "retention.h"
#include "run.h"
#include "settings.h"
#include "slot.h"
#include "verify.h"
#include "worker.h"

/*
 * One backup run, as the steps below see it.
 */
typedef struct BackupRun
{
	const char *trigger;
	const char *database;		/* the database backed up */
	ProtechBackupInfo *shared;	/* the globals of the run, or NULL */
	int64		run_id;
	TimestampTz started_at;
	MemoryContext context;		/* where results are kept */
	ProtechBackupInfo info;		/* the backup made */
	char	   *notes;			/* what retention and the hook did, or NULL */
	const char *copy_status;	/* of post_backup_command, or NULL */
} BackupRun;

/*
 * The size anomaly of the newest backup of database, as the SQL function
 * protech_backup_size_anomaly() of the extension describes it, or NULL:
 * of that database's backups when protech_backup.databases is set and the
 * extension's version (1.2 on) has protech_backup_size_anomaly(name).
 * Called in a transaction, after a successful backup.
 */
static char *
size_anomaly(const char *database)
{
	MemoryContext caller_context = CurrentMemoryContext;
	char	   *schema;
	char	   *anomaly = NULL;
	int			nestlevel = protech_backup_spi_connect();
	Oid			type = NAMEOID;
	NameData	name;
	Datum		value;
	char	   *query = NULL;

	namestrcpy(&name, database);
	value = NameGetDatum(&name);

	schema = protech_backup_extension_schema();
	if (schema != NULL && protech_backup_many_databases() &&
		SPI_execute(psprintf("SELECT pg_catalog.to_regprocedure(%s) IS NOT NULL",
							 quote_literal_cstr(psprintf("%s.protech_backup_size_anomaly(name)",
														 schema))),
					true, 1) == SPI_OK_SELECT && SPI_processed == 1 &&
		strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1),
			   "t") == 0)
		query = psprintf("SELECT %s.protech_backup_size_anomaly($1)", schema);
	else if (schema != NULL)
		query = psprintf("SELECT %s.protech_backup_size_anomaly()", schema);
	if (query != NULL &&
		SPI_execute_with_args(query, strchr(query, '$') ? 1 : 0, &type, &value,
							  NULL, true, 1) == SPI_OK_SELECT &&
		SPI_processed == 1)
	{
		char	   *value = SPI_getvalue(SPI_tuptable->vals[0],
										 SPI_tuptable->tupdesc, 1);

		if (value)
			anomaly = MemoryContextStrdup(caller_context, value);
	}
	protech_backup_spi_finish(nestlevel);
	return anomaly;
}

/*
 * Run step(run) in a transaction of its own.  On error: log it, abort, and
 * return false with a copy of the error in *error (in the caller's memory
 * context).
 */
static bool
run_in_transaction(void (*step) (BackupRun *), BackupRun *run,
				   ErrorData **error)
{
	MemoryContext caller_context = CurrentMemoryContext;
	volatile bool succeeded = false;

	StartTransactionCommand();
	PG_TRY();
	{
		step(run);
		CommitTransactionCommand();
		succeeded = true;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(caller_context);
		*error = CopyErrorData();
		EmitErrorReport();
		FlushErrorState();
		AbortCurrentTransaction();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(caller_context);
	return succeeded;
}

/*
 * Append a line to run->notes.
 */
static void
add_note(BackupRun *run, const char *note)
{
	run->notes = run->notes ?
		MemoryContextStrdup(run->context, psprintf("%s\n%s", run->notes, note)) :
		MemoryContextStrdup(run->context, note);
}

/*
 * Step: take the backup, verify it, apply retention.  The backup slot,
 * which protech_backup_take() claims, is held until retention is done, so
 * that nothing else writes to the directory in between, and given back
 * whatever way the step ends (an exit gives it back by slot.c's own exit
 * callback).
 */
static void
take_step(BackupRun *run)
{
	char	   *directory = protech_backup_resolved_directory();

	PG_TRY();
	{
		ProtechBackupInfo *info = protech_backup_take(run->trigger,
													  run->run_id, directory,
													  run->database,
													  run->shared);
		char	   *retention_report;

		memcpy(&run->info, info, sizeof(ProtechBackupInfo));
		/* a failed verification fails the run, before retention runs */
		protech_backup_verify_new_backup(directory, &run->info);
		retention_report = protech_backup_run_retention(directory);
		if (retention_report)
			add_note(run, retention_report);
	}
	PG_FINALLY();
	{
		protech_backup_release_directory();
	}
	PG_END_TRY();
}

/*
 * Step: run protech_backup.post_backup_command on the new backup.
 */
static void
post_backup_step(BackupRun *run)
{
	char	   *report;
	bool		copied;

	pgstat_report_activity(STATE_RUNNING,
						   psprintf("post_backup_command for \"%s\"",
									run->info.file_name));
	copied = protech_backup_run_post_backup_command(protech_backup_resolved_directory(),
													&run->info, &report);
	run->copy_status = copied ? "succeeded" : "failed";
	add_note(run, report);
	if (!copied)
		ereport(WARNING,
				(errmsg("protech_backup: %s", report),
				 errdetail("The local backup \"%s\" is kept.", run->info.file_name)));
}

/*
 * Say how a run ended: one LOG line, a size-anomaly WARNING when there is
 * one, and NOTIFY protech_backup with a JSON payload (sent when the
 * caller's transaction commits).
 */
static void
report_run(BackupRun *run, bool succeeded, const char *status,
		   const char *message)
{
	StringInfoData payload;
	double		seconds;
	TimestampTz finished_at = succeeded ?
		run->info.finished_at : GetCurrentTimestamp();
	char	   *anomaly = NULL;

	seconds = (finished_at - run->started_at) / 1000000.0;
	if (succeeded)
	{
		ereport(LOG,
				(errmsg("protech_backup: backup \"%s\" of database \"%s\" succeeded: " INT64_FORMAT " bytes in %.1f s (%.1f MB/s)",
						run->info.file_name, run->database,
						run->info.size_bytes, seconds,
						seconds > 0 ? run->info.size_bytes / seconds / 1000000.0 : 0.0)));
		anomaly = size_anomaly(run->database);
		if (anomaly)
			ereport(WARNING,
					(errmsg("protech_backup: size anomaly: %s", anomaly),
					 errhint("Check that the database was not emptied and that pg_dump dumped what it should.")));
	}
	else
		ereport(LOG,
				(errmsg("protech_backup: %s backup of database \"%s\" %s: %s",
						run->trigger, run->database, status, message)));

	initStringInfo(&payload);
	appendStringInfo(&payload, "{\"run_id\": " INT64_FORMAT ", \"trigger\": ",
					 run->run_id);
	escape_json(&payload, run->trigger);
	appendStringInfoString(&payload, ", \"status\": ");
	escape_json(&payload, status);
	appendStringInfoString(&payload, ", \"database\": ");
	escape_json(&payload, run->database);
	if (succeeded)
	{
		appendStringInfoString(&payload, ", \"file\": ");
		escape_json(&payload, run->info.file_name);
		appendStringInfo(&payload, ", \"size_bytes\": " INT64_FORMAT,
						 run->info.size_bytes);
	}
	appendStringInfo(&payload, ", \"duration_seconds\": %.3f", seconds);
	if (run->copy_status)
	{
		appendStringInfoString(&payload, ", \"post_backup\": ");
		escape_json(&payload, run->copy_status);
	}
	if (anomaly)
	{
		appendStringInfoString(&payload, ", \"size_anomaly\": ");
		escape_json(&payload, anomaly);
	}
	if (message)
	{
		/* a NOTIFY payload must stay under 8000 bytes */
		appendStringInfoString(&payload, ", \"message\": ");
		escape_json(&payload, pnstrdup(message, pg_mbcliplen(message, strlen(message), 4000)));
	}
	appendStringInfoChar(&payload, '}');
	Async_Notify("protech_backup", payload.data);
}

/*
 * Run one backup with its history row: 'running' committed first, then the
 * backup, then post_backup_command after a success, then the outcome in a
 * transaction of its own: 'succeeded' (with what retention and the hook
 * did as its message), 'skipped' when another backup holds the slot,
 * 'failed' otherwise (with the error).  Returns true with *info filled, or
 * false with *error set (also logged).  database is the one to back up
 * (protech_backup.database, or one of protech_backup.databases); shared,
 * when not NULL, carries the cluster's globals from one backup of a run of
 * several databases to the next (see protech_backup_take).
 */
bool
protech_backup_run(const char *trigger, const char *database,
				   ProtechBackupInfo *shared, ProtechBackupInfo *info,
				   ErrorData **error)
{
	BackupRun	run = {0};
	bool		succeeded;
	const char *status;
	char	   *message;

	run.trigger = trigger;
	run.database = database;
	run.shared = shared;
	run.context = CurrentMemoryContext;
	run.started_at = GetCurrentTimestamp();
	protech_backup_begin_work();
	run.run_id = protech_backup_history_start(trigger, database,
											  run.started_at);
	protech_backup_end_work();

	pgstat_report_activity(STATE_RUNNING,
						   psprintf("%s backup of database \"%s\"",
									trigger, database));
	succeeded = run_in_transaction(take_step, &run, error);
	if (succeeded && protech_backup_post_backup_command[0] != '\0')
	{
		ErrorData  *hook_error = NULL;

		if (!run_in_transaction(post_backup_step, &run, &hook_error))
		{
			run.copy_status = "failed";
			add_note(&run, psprintf("post_backup_command failed: %s",
									hook_error->message));
		}
	}
	pgstat_report_activity(STATE_IDLE, NULL);

	if (succeeded)
	{
		status = "succeeded";
		message = run.notes;
		memcpy(info, &run.info, sizeof(ProtechBackupInfo));
	}
	else
	{
		status = (*error)->sqlerrcode == ERRCODE_OBJECT_IN_USE ? "skipped" : "failed";
		message = (*error)->detail ?
			psprintf("%s\n%s", (*error)->message, (*error)->detail) :
			(*error)->message;
	}
	protech_backup_begin_work();
	protech_backup_history_finish(run.run_id, status,
								  succeeded ? &run.info : NULL, message,
								  run.copy_status);
	report_run(&run, succeeded, status, message);
	protech_backup_end_work();
	return succeeded;
}

/*
 * Record that database was not backed up by a run of several databases
 * (trigger) for reason, the next scheduled run being due: a history row
 * 'skipped' with reason as its message, logged and notified as every run
 * is.
 */
void
protech_backup_record_skipped(const char *trigger, const char *database,
							  const char *reason)
{
	BackupRun	run = {0};

	run.trigger = trigger;
	run.database = database;
	run.context = CurrentMemoryContext;
	run.started_at = GetCurrentTimestamp();
	protech_backup_begin_work();
	run.run_id = protech_backup_history_start(trigger, database, run.started_at);
	protech_backup_history_finish(run.run_id, "skipped", NULL, reason, NULL);
	report_run(&run, false, "skipped", reason);
	protech_backup_end_work();
}
