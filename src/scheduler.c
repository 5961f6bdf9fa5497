/*-------------------------------------------------------------------------
 *
 * scheduler.c
 *		The launcher and the scheduler of protech_backup.  Built on run.c
 *		(one backup run), worker.c, schedule.c, history.c, restore.c (the
 *		scratch databases a crash left), repository.c (the partial files a
 *		crash left) and slot.c.
 *
 * - "protech_backup launcher": registered from _PG_init, started once the
 *	 server accepts connections (on a standby, in hot standby), connected
 *	 to no database (only the shared catalogs).  On a standby it logs once
 *	 that backups start after promotion and waits for that, checking every
 *	 second: a standby runs nothing else of the extension.  Then it starts
 *	 the scheduler for protech_backup.database once that database exists,
 *	 restarts it if it stops, and replaces it when the setting changes.  A
 *	 database that does not exist is logged once; the launcher then
 *	 rechecks quietly, so nothing crash-loops.
 *
 * - "protech_backup scheduler": a dynamic worker connected to
 *	 protech_backup.database.  It waits quietly for the extension to be
 *	 created there, marks runs a crash left 'running' as failed, removes
 *	 stale partial files, runs one catch-up backup when a scheduled run was
 *	 missed, then sleeps on its latch until the next due instant of
 *	 protech_backup.schedule, recomputed from the wall clock after every
 *	 wake-up; it wakes at least every EXTENSION_POLL_MS, so that a clock
 *	 jump or a DROP EXTENSION is noticed (it then waits for the extension
 *	 again).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_database.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "databases.h"
#include "extension.h"
#include "history.h"
#include "repository.h"
#include "restore.h"
#include "run.h"
#include "scheduler.h"
#include "settings.h"
#include "slot.h"
#include "worker.h"

PGDLLEXPORT void protech_backup_launcher_main(Datum main_arg);
PGDLLEXPORT void protech_backup_scheduler_main(Datum main_arg);

/* how often the launcher rechecks a missing database or restarts a stopped scheduler */
#define LAUNCHER_RETRY_MS 10000
/* how often the launcher of a standby checks whether it was promoted */
#define PROMOTION_POLL_MS 1000
/*
 * how often the scheduler looks for the extension: while it is missing, and
 * while it waits for the next run (so that a DROP EXTENSION is noticed)
 */
#define EXTENSION_POLL_MS 5000

/*
 * Register the launcher; called from _PG_init when preloaded.
 */
void
protech_backup_register_launcher(void)
{
	BackgroundWorker worker = {0};

	worker.bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = LAUNCHER_RETRY_MS / 1000;
	strlcpy(worker.bgw_library_name, "protech_backup", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "protech_backup_launcher_main", BGW_MAXLEN);
	strlcpy(worker.bgw_name, "protech_backup launcher", BGW_MAXLEN);
	strlcpy(worker.bgw_type, "protech_backup launcher", BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
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
 * On a standby: log once that scheduled backups start after promotion,
 * and wait until the server is promoted.  Returns false when asked to stop
 * meanwhile.
 */
static bool
wait_for_promotion(void)
{
	if (!RecoveryInProgress())
		return true;
	ereport(LOG,
			(errmsg("protech_backup: this server is a standby, scheduled backups start after its promotion")));
	while (RecoveryInProgress())
	{
		protech_backup_wait_on_latch(PROMOTION_POLL_MS);
		protech_backup_reload_if_requested();
		if (ShutdownRequestPending)
			return false;
	}
	ereport(LOG,
			(errmsg("protech_backup: this server was promoted, scheduling backups")));
	return true;
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
 * protech_backup.database, once the server is not a standby.
 */
void
protech_backup_launcher_main(Datum main_arg)
{
	BackgroundWorkerHandle *scheduler = NULL;
	char		scheduler_database[NAMEDATALEN] = "";
	char		missing_logged[NAMEDATALEN] = "";
	char		directory_logged[MAXPGPATH] = "";
	TimestampTz last_start = 0;

	protech_backup_setup_signals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	log_directory(directory_logged);
	if (!wait_for_promotion())
		proc_exit(0);

	while (!ShutdownRequestPending)
	{
		long		timeout_ms = -1;
		pid_t		pid;

		if (protech_backup_reload_if_requested())
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
				scheduler = protech_backup_start_dynamic_worker("protech_backup scheduler",
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
		protech_backup_wait_on_latch(timeout_ms);
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
	const ProtechBackupSchedule *schedule = protech_backup_schedule_in_force();

	if (schedule == NULL)
		return 0;
	return protech_backup_next_run(schedule, protech_backup_timezone_in_force(),
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
		protech_backup_begin_work();
		installed = protech_backup_extension_installed();
		protech_backup_end_work();
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
		protech_backup_wait_on_latch(EXTENSION_POLL_MS);
		protech_backup_reload_if_requested();
		if (ShutdownRequestPending ||
			strcmp(database, protech_backup_database) != 0)
			return false;
	}
}

/*
 * Start-up housekeeping of the scheduler: runs a crash, an immediate stop
 * or a failover left 'running' are failed, old history is purged, scratch
 * databases of interrupted verifications are dropped, stale partial files
 * are removed (when no backup of this server runs and no other server
 * holds the directory's lock file: the holder removes them then).
 */
static void
scheduler_housekeeping(void)
{
	char	   *directory = protech_backup_resolved_directory();
	int64		failed;

	protech_backup_begin_work();
	failed = protech_backup_history_mark_interrupted(protech_backup_slot_run_id());
	if (failed > 0)
		ereport(LOG,
				(errmsg("protech_backup: marked " INT64_FORMAT " interrupted run(s) as failed, the server was restarted or failed over",
						failed)));
	if (protech_backup_history_days > 0)
		protech_backup_history_purge(protech_backup_history_days);
	protech_backup_drop_leftover_scratch_databases();
	protech_backup_end_work();

	if (protech_backup_try_claim_directory(directory))
	{
		protech_backup_remove_stale_partials(directory);
		protech_backup_release_directory();
	}
}

/*
 * Run a scheduled (or catch-up) backup of every database to back up (see
 * databases.c), one after the other, the cluster's globals dumped once
 * (see protech_backup_take), then purge old history.  When the next slot
 * of the schedule falls while databases are still waiting, they are
 * recorded 'skipped' instead, so that a slot never overlaps the next.
 * Memory is allocated in a context reset afterwards, so the scheduler does
 * not grow.
 */
static void
run_scheduled_backup(const char *trigger, MemoryContext run_context)
{
	MemoryContext old = MemoryContextSwitchTo(run_context);
	const ProtechBackupSchedule *schedule = protech_backup_schedule_in_force();
	TimestampTz next_slot = schedule == NULL ? 0 :
		protech_backup_next_run(schedule, protech_backup_timezone_in_force(),
								GetCurrentTimestamp());
	ProtechBackupInfo *shared = palloc0(sizeof(ProtechBackupInfo));
	List	   *databases;
	ListCell   *lc;

	protech_backup_begin_work();
	MemoryContextSwitchTo(run_context);
	databases = protech_backup_configured_databases();
	protech_backup_end_work();

	foreach(lc, databases)
	{
		ProtechBackupInfo info;
		ErrorData  *error = NULL;

		MemoryContextSwitchTo(run_context);
		if (foreach_current_index(lc) > 0 && next_slot != 0 &&
			GetCurrentTimestamp() >= next_slot)
			protech_backup_record_skipped(trigger, lfirst(lc),
										  psprintf("the next scheduled backup was due at %s before this database's turn came",
												   timestamptz_to_str(next_slot)));
		else
			protech_backup_run(trigger, lfirst(lc),
							   list_length(databases) > 1 ? shared : NULL,
							   &info, &error);
	}
	if (protech_backup_history_days > 0)
	{
		protech_backup_begin_work();
		protech_backup_history_purge(protech_backup_history_days);
		protech_backup_end_work();
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(run_context);
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
	const ProtechBackupSchedule *schedule;
	TimestampTz checked_until;
	TimestampTz last_success;
	TimestampTz announced = 0;

	strlcpy(database, MyBgworkerEntry->bgw_extra, NAMEDATALEN);
	protech_backup_setup_signals();
	BackgroundWorkerInitializeConnection(database, NULL, 0);
	protech_backup_pin_search_path();
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
	protech_backup_begin_work();
	schedule = protech_backup_schedule_in_force();
	if (protech_backup_catch_up && schedule != NULL &&
		protech_backup_history_last_scheduled_success(&last_success) &&
		protech_backup_next_run(schedule, protech_backup_timezone_in_force(),
								last_success) <= checked_until)
	{
		protech_backup_end_work();
		ereport(LOG,
				(errmsg("protech_backup: a scheduled backup was missed since %s, running a catch-up backup",
						timestamptz_to_str(last_success))));
		run_scheduled_backup("catch-up", run_context);
	}
	else
		protech_backup_end_work();

	while (!ShutdownRequestPending)
	{
		long		timeout_ms = -1;
		TimestampTz now;
		bool		installed;

		protech_backup_reload_if_requested();
		if (strcmp(database, protech_backup_database) != 0)
			break;				/* the launcher starts one for the new database */

		/* a DROP EXTENSION is noticed within EXTENSION_POLL_MS */
		protech_backup_begin_work();
		installed = protech_backup_extension_installed();
		protech_backup_end_work();
		if (!installed)
		{
			if (!wait_for_extension(database))
				break;
			announced = 0;
			continue;
		}

		now = GetCurrentTimestamp();
		schedule = protech_backup_schedule_in_force();
		if (schedule != NULL)
		{
			TimestampTz due = protech_backup_next_run(schedule,
													  protech_backup_timezone_in_force(),
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
		protech_backup_wait_on_latch(timeout_ms < 0 ? EXTENSION_POLL_MS :
									 Min(timeout_ms, EXTENSION_POLL_MS));
	}
	proc_exit(0);
}
