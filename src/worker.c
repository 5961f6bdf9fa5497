/*-------------------------------------------------------------------------
 *
 * worker.c
 *		The background workers of protech_backup.
 *
 * Three kinds of process, one code path for the backup itself
 * (run_recorded_backup, which calls protech_backup_take()):
 *
 * - "protech_backup launcher": registered from _PG_init, started after
 *	 recovery, connected to no database (only the shared catalogs).  It
 *	 starts the scheduler for protech_backup.database once that database
 *	 exists, restarts it if it stops, and replaces it when the setting
 *	 changes.  A database that does not exist is logged once; the launcher
 *	 then rechecks quietly, so nothing crash-loops.
 *
 * - "protech_backup scheduler": a dynamic worker connected to
 *	 protech_backup.database.  It waits quietly for the extension to be
 *	 created there, marks runs a crash left 'running' as failed, removes
 *	 stale partial files, runs one catch-up backup when a scheduled run was
 *	 missed, then sleeps on its latch until the next due instant of
 *	 protech_backup.schedule, recomputed from the wall clock after every
 *	 wake-up.
 *
 * - "protech_backup backup": a dynamic worker started by
 *	 protech_backup_now() for one manual backup, so that the run is recorded
 *	 in the history in transactions of its own (a failed run too) while the
 *	 caller waits.  When the caller is canceled or terminated, the worker is
 *	 sent SIGTERM, kills pg_dump, removes the partial file and records the
 *	 run as failed; the caller waits for that before its error returns.
 *
 * SIGTERM (fast shutdown, pg_terminate_backend) sets ShutdownRequestPending;
 * protech_backup_check_for_interrupts(), called from the child loop, turns
 * it into an ERROR so the run is recorded as failed before the process
 * exits.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "commands/async.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "pgtime.h"
#include "port/atomics.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/procsignal.h"
#include "tcop/tcopprot.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "protech_backup.h"

PGDLLEXPORT void protech_backup_launcher_main(Datum main_arg);
PGDLLEXPORT void protech_backup_scheduler_main(Datum main_arg);
PGDLLEXPORT void protech_backup_manual_main(Datum main_arg);

static bool current_schedule(ProtechBackupSchedule *schedule);

/* how often the launcher rechecks a missing database or restarts a stopped scheduler */
#define LAUNCHER_RETRY_MS 10000
/*
 * how often the scheduler looks for the extension: while it is missing, and
 * while it waits for the next run (so that a DROP EXTENSION is noticed)
 */
#define EXTENSION_POLL_MS 5000

/*
 * A manual backup request, in a DSM segment shared by the calling backend
 * and the worker that runs the backup.
 */
typedef struct ManualRequest
{
	char		database[NAMEDATALEN];
	pid_t		caller_pid;		/* holds the slot until the worker takes it */
	bool		caller_canceled;	/* set by the caller before SIGTERM */
	bool		succeeded;
	bool		failed;
	ProtechBackupInfo info;		/* when succeeded */
	int			sqlerrcode;		/* when failed */
	char		message[1024];
	char		detail[4096];
	char		hint[1024];
} ManualRequest;

/* the request this process serves, in a manual backup worker */
static ManualRequest *manual_request = NULL;

/*
 * What the caller of protech_backup_now() needs to stop its worker.
 */
typedef struct ManualWait
{
	ManualRequest *request;
	BackgroundWorkerHandle *handle;
} ManualWait;

/*
 * Register the launcher; called from _PG_init when preloaded.
 */
void
protech_backup_register_launcher(void)
{
	BackgroundWorker worker = {0};

	worker.bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = LAUNCHER_RETRY_MS / 1000;
	strlcpy(worker.bgw_library_name, "protech_backup", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "protech_backup_launcher_main", BGW_MAXLEN);
	strlcpy(worker.bgw_name, "protech_backup launcher", BGW_MAXLEN);
	strlcpy(worker.bgw_type, "protech_backup launcher", BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
}

/*
 * Start a dynamic worker of the given type running function, connected to
 * database, notifying this process when it starts and stops.  Returns NULL
 * when no background worker slot is free.
 */
static BackgroundWorkerHandle *
start_dynamic_worker(const char *type, const char *function,
					 const char *database, Datum main_arg)
{
	BackgroundWorker worker = {0};
	BackgroundWorkerHandle *handle;

	worker.bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(worker.bgw_library_name, "protech_backup", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, function, BGW_MAXLEN);
	snprintf(worker.bgw_name, BGW_MAXLEN, "%s for database %s", type, database);
	strlcpy(worker.bgw_type, type, BGW_MAXLEN);
	strlcpy(worker.bgw_extra, database, BGW_EXTRALEN);
	worker.bgw_main_arg = main_arg;
	worker.bgw_notify_pid = MyProcPid;
	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
		return NULL;
	return handle;
}

/*
 * Signal handling common to all our workers: SIGHUP reloads the
 * configuration, SIGTERM asks to stop (see the file header).
 */
static void
setup_signals(void)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	BackgroundWorkerUnblockSignals();
}

/*
 * Reload the configuration file if SIGHUP arrived.  Returns true if it did.
 */
static bool
reload_if_requested(void)
{
	if (!ConfigReloadPending)
		return false;
	ConfigReloadPending = false;
	ProcessConfigFile(PGC_SIGHUP);
	return true;
}

/*
 * Wait on the latch for at most timeout_ms (-1: no limit), exiting on
 * postmaster death.
 */
static void
wait_on_latch(long timeout_ms)
{
	(void) WaitLatch(MyLatch,
					 WL_LATCH_SET | WL_EXIT_ON_PM_DEATH |
					 (timeout_ms >= 0 ? WL_TIMEOUT : 0),
					 timeout_ms, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
}

/*
 * Interrupt check for long waits of a backup: the usual
 * CHECK_FOR_INTERRUPTS, plus a SIGTERM of our workers turned into an ERROR
 * so that the run is recorded before the process exits.  While cancel
 * interrupts are held (creating or dropping a database, see restore.c) a
 * SIGTERM waits like a cancel.  Whatever is held, a ProcSignalBarrier is
 * absorbed: the DROP DATABASE a child runs waits until every backend,
 * this one included, has absorbed one, and this process may be exiting
 * (with all interrupts held) while it drops its scratch database.
 */
void
protech_backup_check_for_interrupts(void)
{
	CHECK_FOR_INTERRUPTS();
	if (ProcSignalBarrierPending)
		ProcessProcSignalBarrier();
	if (ShutdownRequestPending && InterruptHoldoffCount == 0 &&
		QueryCancelHoldoffCount == 0)
		ereport(ERROR,
				(errcode(ERRCODE_ADMIN_SHUTDOWN),
				 errmsg("backup interrupted: %s",
						manual_request && manual_request->caller_canceled ?
						"the session that requested it was canceled or terminated" :
						"the server is shutting down or the backup process was terminated")));
}

/*
 * Start and commit a transaction with a snapshot, for SPI work.
 */
static void
begin_work(void)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
}

static void
end_work(void)
{
	PopActiveSnapshot();
	CommitTransactionCommand();
}

/*
 * One backup run, as the steps below see it.
 */
typedef struct BackupRun
{
	const char *trigger;
	int64		run_id;
	TimestampTz started_at;
	MemoryContext context;		/* where results are kept */
	ProtechBackupInfo info;		/* the backup made */
	char	   *notes;			/* what retention and the hook did, or NULL */
	const char *copy_status;	/* of post_backup_command, or NULL */
} BackupRun;

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
 * Step: take the backup (and apply retention).
 */
static void
take_step(BackupRun *run)
{
	char	   *retention_report;
	ProtechBackupInfo *info = protech_backup_take(run->trigger, run->run_id,
												  &retention_report);

	memcpy(&run->info, info, sizeof(ProtechBackupInfo));
	if (retention_report)
		add_note(run, retention_report);
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
						run->info.file_name, protech_backup_database,
						run->info.size_bytes, seconds,
						seconds > 0 ? run->info.size_bytes / seconds / 1000000.0 : 0.0)));
		anomaly = protech_backup_size_anomaly();
		if (anomaly)
			ereport(WARNING,
					(errmsg("protech_backup: size anomaly: %s", anomaly),
					 errhint("Check that the database was not emptied and that pg_dump dumped what it should.")));
	}
	else
		ereport(LOG,
				(errmsg("protech_backup: %s backup of database \"%s\" %s: %s",
						run->trigger, protech_backup_database, status, message)));

	initStringInfo(&payload);
	appendStringInfo(&payload, "{\"run_id\": " INT64_FORMAT ", \"trigger\": ",
					 run->run_id);
	escape_json(&payload, run->trigger);
	appendStringInfoString(&payload, ", \"status\": ");
	escape_json(&payload, status);
	appendStringInfoString(&payload, ", \"database\": ");
	escape_json(&payload, protech_backup_database);
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
 * false with *error set (also logged).
 */
static bool
run_recorded_backup(const char *trigger, ProtechBackupInfo *info,
					ErrorData **error)
{
	BackupRun	run = {0};
	bool		succeeded;
	const char *status;
	char	   *message;

	run.trigger = trigger;
	run.context = CurrentMemoryContext;
	run.started_at = GetCurrentTimestamp();
	begin_work();
	run.run_id = protech_backup_history_start(trigger, protech_backup_database,
											  run.started_at);
	end_work();

	pgstat_report_activity(STATE_RUNNING,
						   psprintf("%s backup of database \"%s\"",
									trigger, protech_backup_database));
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
	begin_work();
	protech_backup_history_finish(run.run_id, status,
								  succeeded ? &run.info : NULL, message,
								  run.copy_status);
	report_run(&run, succeeded, status, message);
	end_work();
	return succeeded;
}

/*
 * Whether a database of that name exists.  The launcher is connected to no
 * database, so it may only scan the shared catalog pg_database by heap
 * scan, as the autovacuum launcher does: an index lookup could need pg_class.
 */
static bool
database_exists(const char *database)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tuple;
	bool		exists = false;

	StartTransactionCommand();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while (!exists &&
		   (tuple = heap_getnext(scan, ForwardScanDirection)) != NULL)
		exists = strcmp(NameStr(((Form_pg_database) GETSTRUCT(tuple))->datname),
						database) == 0;
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	return exists;
}

/*
 * Log where backups go when it differs from what logged (MAXPGPATH bytes)
 * holds, and remember it there: once at start, and after a reload that
 * changed it, so the log of a cluster whose directory is the default says
 * which folder that is.
 */
static void
log_directory(char *logged)
{
	char	   *directory = protech_backup_resolved_directory();

	if (strcmp(directory, logged) != 0)
	{
		ereport(LOG,
				(errmsg("protech_backup: backups of database \"%s\" are written to directory \"%s\"",
						protech_backup_database, directory)));
		strlcpy(logged, directory, MAXPGPATH);
	}
	pfree(directory);
}

/*
 * Main of the launcher: keep one scheduler running for
 * protech_backup.database.
 */
void
protech_backup_launcher_main(Datum main_arg)
{
	BackgroundWorkerHandle *scheduler = NULL;
	char		scheduler_database[NAMEDATALEN] = "";
	char		missing_logged[NAMEDATALEN] = "";
	char		directory_logged[MAXPGPATH] = "";
	TimestampTz last_start = 0;

	setup_signals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	log_directory(directory_logged);

	while (!ShutdownRequestPending)
	{
		long		timeout_ms = -1;
		pid_t		pid;

		if (reload_if_requested())
		{
			log_directory(directory_logged);
			if (scheduler != NULL &&
				strcmp(scheduler_database, protech_backup_database) != 0)
				TerminateBackgroundWorker(scheduler);
		}

		if (scheduler != NULL &&
			GetBackgroundWorkerPid(scheduler, &pid) == BGWH_STOPPED)
		{
			pfree(scheduler);
			scheduler = NULL;
		}

		if (scheduler == NULL)
		{
			/* restart a stopped scheduler at most every LAUNCHER_RETRY_MS */
			long		since_start = TimestampDifferenceMilliseconds(last_start,
																	  GetCurrentTimestamp());

			if (since_start < LAUNCHER_RETRY_MS)
				timeout_ms = LAUNCHER_RETRY_MS - since_start;
			else if (!database_exists(protech_backup_database))
			{
				if (strcmp(missing_logged, protech_backup_database) != 0)
				{
					ereport(LOG,
							(errmsg("protech_backup: database \"%s\" does not exist, no backups are scheduled",
									protech_backup_database),
							 errhint("Create the database, or set protech_backup.database to an existing one and reload the configuration.")));
					strlcpy(missing_logged, protech_backup_database, NAMEDATALEN);
				}
				timeout_ms = LAUNCHER_RETRY_MS;
			}
			else
			{
				missing_logged[0] = '\0';
				last_start = GetCurrentTimestamp();
				strlcpy(scheduler_database, protech_backup_database, NAMEDATALEN);
				scheduler = start_dynamic_worker("protech_backup scheduler",
												 "protech_backup_scheduler_main",
												 scheduler_database, (Datum) 0);
				if (scheduler == NULL)
				{
					ereport(WARNING,
							(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
							 errmsg("protech_backup: could not start the scheduler"),
							 errhint("Raise max_worker_processes (now %d).",
									 max_worker_processes)));
					timeout_ms = LAUNCHER_RETRY_MS;
				}
			}
		}
		wait_on_latch(timeout_ms);
	}
	proc_exit(0);
}

/*
 * The next due instant of the schedule in force after now, or 0 when
 * scheduling is disabled.
 */
static TimestampTz
next_run_from_now(void)
{
	ProtechBackupSchedule schedule;

	if (!current_schedule(&schedule))
		return 0;
	return protech_backup_next_run(&schedule, pg_tzset(protech_backup_timezone),
								   GetCurrentTimestamp());
}

/*
 * Wait until the extension exists in the scheduler's database, logging once
 * that it is missing.  Returns false when asked to stop meanwhile (shutdown,
 * or protech_backup.database changed).
 */
static bool
wait_for_extension(const char *database)
{
	bool		logged = false;

	for (;;)
	{
		bool		installed;

		/* so that status knows the next run as soon as the extension exists */
		protech_backup_set_scheduler_state(MyProcPid, next_run_from_now());
		begin_work();
		installed = protech_backup_extension_installed();
		end_work();
		if (installed)
		{
			if (logged)
				ereport(LOG,
						(errmsg("protech_backup: extension found in database \"%s\", scheduling backups",
								database)));
			return true;
		}
		if (!logged)
		{
			ereport(LOG,
					(errmsg("protech_backup: extension \"protech_backup\" is not installed in database \"%s\", no backups are scheduled",
							database),
					 errhint("Run CREATE EXTENSION protech_backup in database \"%s\".",
							 database)));
			logged = true;
		}
		wait_on_latch(EXTENSION_POLL_MS);
		reload_if_requested();
		if (ShutdownRequestPending ||
			strcmp(database, protech_backup_database) != 0)
			return false;
	}
}

/*
 * Start-up housekeeping of the scheduler: runs a crash left 'running' are
 * failed, old history is purged, scratch databases of interrupted
 * verifications are dropped, stale partial files are removed (when no
 * backup is running).
 */
static void
scheduler_housekeeping(void)
{
	int64		failed;

	begin_work();
	failed = protech_backup_history_mark_interrupted(protech_backup_slot_run_id());
	if (failed > 0)
		ereport(LOG,
				(errmsg("protech_backup: marked " INT64_FORMAT " interrupted run(s) as failed",
						failed)));
	if (protech_backup_history_days > 0)
		protech_backup_history_purge(protech_backup_history_days);
	protech_backup_drop_leftover_scratch_databases();
	end_work();

	if (protech_backup_try_claim_slot(0))
	{
		protech_backup_remove_stale_partials(protech_backup_resolved_directory());
		protech_backup_release_slot();
	}
}

/*
 * Run a scheduled (or catch-up) backup, then purge old history.  Memory is
 * allocated in a context reset afterwards, so the scheduler does not grow.
 */
static void
run_scheduled_backup(const char *trigger, MemoryContext run_context)
{
	MemoryContext old = MemoryContextSwitchTo(run_context);
	ProtechBackupInfo info;
	ErrorData  *error = NULL;

	run_recorded_backup(trigger, &info, &error);
	if (protech_backup_history_days > 0)
	{
		begin_work();
		protech_backup_history_purge(protech_backup_history_days);
		end_work();
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(run_context);
}

/*
 * The parsed schedule in force, or false when scheduling is disabled (an
 * empty protech_backup.schedule).  The check hook has validated it.
 */
static bool
current_schedule(ProtechBackupSchedule *schedule)
{
	char	   *detail;

	if (protech_backup_schedule[0] == '\0')
		return false;
	if (!protech_backup_parse_schedule(protech_backup_schedule, schedule, &detail))
		elog(ERROR, "invalid protech_backup.schedule: %s", detail);
	return true;
}

/*
 * Exit callback of the scheduler: no scheduler runs any more.
 */
static void
clear_scheduler_state(int code, Datum arg)
{
	protech_backup_set_scheduler_state(0, 0);
}

/*
 * Main of the scheduler.
 */
void
protech_backup_scheduler_main(Datum main_arg)
{
	char		database[NAMEDATALEN];
	MemoryContext run_context;
	ProtechBackupSchedule schedule;
	TimestampTz checked_until;
	TimestampTz last_success;
	TimestampTz announced = 0;

	strlcpy(database, MyBgworkerEntry->bgw_extra, NAMEDATALEN);
	setup_signals();
	BackgroundWorkerInitializeConnection(database, NULL, 0);
	run_context = AllocSetContextCreate(TopMemoryContext, "protech_backup run",
										ALLOCSET_DEFAULT_SIZES);
	pgstat_report_activity(STATE_IDLE, NULL);

	protech_backup_set_scheduler_state(MyProcPid, 0);
	before_shmem_exit(clear_scheduler_state, (Datum) 0);
	if (!wait_for_extension(database))
		proc_exit(0);
	scheduler_housekeeping();

	/*
	 * Slots up to checked_until have been considered.  A catch-up run
	 * happens when the slot after the last successful scheduled run has
	 * passed while no scheduler ran.
	 */
	checked_until = GetCurrentTimestamp();
	begin_work();
	if (protech_backup_catch_up && current_schedule(&schedule) &&
		protech_backup_history_last_scheduled_success(&last_success) &&
		protech_backup_next_run(&schedule, pg_tzset(protech_backup_timezone),
								last_success) <= checked_until)
	{
		end_work();
		ereport(LOG,
				(errmsg("protech_backup: a scheduled backup was missed since %s, running a catch-up backup",
						timestamptz_to_str(last_success))));
		run_scheduled_backup("catch-up", run_context);
	}
	else
		end_work();

	while (!ShutdownRequestPending)
	{
		long		timeout_ms = -1;
		TimestampTz now;

		bool		installed;

		reload_if_requested();
		if (strcmp(database, protech_backup_database) != 0)
			break;				/* the launcher starts one for the new database */

		/* a DROP EXTENSION is noticed within EXTENSION_POLL_MS */
		begin_work();
		installed = protech_backup_extension_installed();
		end_work();
		if (!installed)
		{
			if (!wait_for_extension(database))
				break;
			announced = 0;
			continue;
		}

		now = GetCurrentTimestamp();
		if (current_schedule(&schedule))
		{
			TimestampTz due = protech_backup_next_run(&schedule,
													  pg_tzset(protech_backup_timezone),
													  checked_until);

			if (due <= now)
			{
				checked_until = now;
				run_scheduled_backup("schedule", run_context);
				continue;
			}
			if (due != announced)
			{
				ereport(LOG,
						(errmsg("protech_backup: next backup of database \"%s\" at %s (schedule \"%s\", time zone %s)",
								database, timestamptz_to_str(due),
								protech_backup_schedule, protech_backup_timezone)));
				announced = due;
				protech_backup_set_scheduler_state(MyProcPid, due);
			}
			/* a clock that went backwards must not make a slot run twice */
			checked_until = Max(checked_until, now);
			timeout_ms = TimestampDifferenceMilliseconds(now, due);
		}
		else if (announced != 0)
		{
			ereport(LOG,
					(errmsg("protech_backup: protech_backup.schedule is empty, no backups are scheduled")));
			announced = 0;
			protech_backup_set_scheduler_state(MyProcPid, 0);
		}
		/* wake at least every EXTENSION_POLL_MS, also to notice a clock jump */
		wait_on_latch(timeout_ms < 0 ? EXTENSION_POLL_MS : Min(timeout_ms, EXTENSION_POLL_MS));
	}
	proc_exit(0);
}

/*
 * Main of a manual backup worker: run the backup the request in the DSM
 * segment asks for, and put the outcome there for the caller.
 */
void
protech_backup_manual_main(Datum main_arg)
{
	dsm_segment *segment;
	ProtechBackupInfo info;
	ErrorData  *error = NULL;

	setup_signals();
	segment = dsm_attach(DatumGetUInt32(main_arg));
	if (segment == NULL)
		proc_exit(0);			/* the caller is gone already */
	manual_request = dsm_segment_address(segment);
	BackgroundWorkerInitializeConnection(manual_request->database, NULL, 0);
	protech_backup_take_over_slot_from(manual_request->caller_pid);

	if (run_recorded_backup("manual", &info, &error))
	{
		memcpy(&manual_request->info, &info, sizeof(info));
		manual_request->succeeded = true;
	}
	else
	{
		manual_request->sqlerrcode = error->sqlerrcode;
		strlcpy(manual_request->message, error->message,
				sizeof(manual_request->message));
		if (error->detail)
			strlcpy(manual_request->detail, error->detail,
					sizeof(manual_request->detail));
		if (error->hint)
			strlcpy(manual_request->hint, error->hint,
					sizeof(manual_request->hint));
		manual_request->failed = true;
	}
	proc_exit(0);
}

/*
 * Error and exit cleanup of protech_backup_now(): stop the worker, if one
 * was started (it kills pg_dump and removes the partial file), and wait
 * until it has, so that when the caller's error returns nothing of the
 * backup is left running; then give the slot back if the worker never
 * took it over.
 */
static void
stop_manual_worker(int code, Datum arg)
{
	ManualWait *wait = (ManualWait *) DatumGetPointer(arg);

	if (wait->handle != NULL)
	{
		wait->request->caller_canceled = true;
		pg_write_barrier();
		TerminateBackgroundWorker(wait->handle);
		HOLD_INTERRUPTS();
		(void) WaitForBackgroundWorkerShutdown(wait->handle);
		RESUME_INTERRUPTS();
	}
	protech_backup_release_slot();
}

/*
 * Run a manual backup in a dedicated worker and wait for it.  Returns the
 * new backup, or raises the worker's error as the caller's own.  The
 * caller claims the backup slot before it starts the worker, which takes
 * it over: when a backup runs already, or many sessions call at once, all
 * but one get object_in_use at once, without a worker or a history row.
 */
ProtechBackupInfo *
protech_backup_run_manual(void)
{
	dsm_segment *segment;
	ManualRequest *request;
	ManualWait	wait = {NULL, NULL};
	ProtechBackupInfo *info;

	protech_backup_require_preload();
	protech_backup_check_database(protech_backup_database);
	protech_backup_claim_slot(0);

	PG_ENSURE_ERROR_CLEANUP(stop_manual_worker, PointerGetDatum(&wait));
	{
		segment = dsm_create(sizeof(ManualRequest), 0);
		request = dsm_segment_address(segment);
		memset(request, 0, sizeof(ManualRequest));
		strlcpy(request->database, protech_backup_database, NAMEDATALEN);
		request->caller_pid = MyProcPid;

		wait.request = request;
		wait.handle = start_dynamic_worker("protech_backup backup",
										   "protech_backup_manual_main",
										   request->database,
										   UInt32GetDatum(dsm_segment_handle(segment)));
		if (wait.handle == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("could not start a background worker for the backup"),
					 errhint("Raise max_worker_processes (now %d); a backup needs one worker while it runs.",
							 max_worker_processes)));
		if (WaitForBackgroundWorkerShutdown(wait.handle) == BGWH_POSTMASTER_DIED)
			ereport(FATAL,
					(errcode(ERRCODE_ADMIN_SHUTDOWN),
					 errmsg("postmaster exited during a backup")));
	}
	PG_END_ENSURE_ERROR_CLEANUP(stop_manual_worker, PointerGetDatum(&wait));
	protech_backup_release_slot();

	if (request->failed)
		ereport(ERROR,
				(errcode(request->sqlerrcode),
				 errmsg_internal("%s", request->message),
				 request->detail[0] ? errdetail_internal("%s", request->detail) : 0,
				 request->hint[0] ? errhint("%s", request->hint) : 0));
	if (!request->succeeded)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("the backup worker exited without reporting a result"),
				 errhint("See the server log for what stopped it.")));

	info = palloc(sizeof(ProtechBackupInfo));
	memcpy(info, &request->info, sizeof(ProtechBackupInfo));
	dsm_detach(segment);
	return info;
}
