/*-------------------------------------------------------------------------
 *
 * worker.c
 *		What every background worker of protech_backup shares: starting a
 *		dynamic worker, the signal handling (SIGHUP reloads, SIGTERM asks to
 *		stop), the latch wait, the search_path pinned for the process's
 *		life, and the short transactions its SPI work runs in.  Depends on no other module; the launcher and the scheduler
 *		(scheduler.c) and the manual backup worker (manual.c) are built on
 *		it.
 *
 * SIGTERM (fast shutdown, pg_terminate_backend) sets ShutdownRequestPending;
 * protech_backup_check_for_interrupts() (child.c), called from every long
 * wait of a backup, turns it into an ERROR so the run is recorded as failed
 * before the process exits.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"
#include "utils/wait_event.h"

#include "protech_backup.h"
#include "worker.h"

/*
 * Start a dynamic worker of the given type running function, connected to
 * database, notifying this process when it starts and stops.  Returns NULL
 * when no background worker slot is free.
 */
BackgroundWorkerHandle *
protech_backup_start_dynamic_worker(const char *type, const char *function,
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
void
protech_backup_setup_signals(void)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	BackgroundWorkerUnblockSignals();
}

/*
 * Reload the configuration file if SIGHUP arrived.  Returns true if it did.
 */
bool
protech_backup_reload_if_requested(void)
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
void
protech_backup_wait_on_latch(long timeout_ms)
{
	(void) WaitLatch(MyLatch,
					 WL_LATCH_SET | WL_EXIT_ON_PM_DEATH |
					 (timeout_ms >= 0 ? WL_TIMEOUT : 0),
					 timeout_ms, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
}

/*
 * Pin search_path for the whole life of this process, connected to a
 * database whose owner (or any role that may create objects in a schema of
 * its search_path, or set it with ALTER DATABASE or ALTER ROLE) is not to
 * be trusted: nothing the process runs then resolves a name to what such a
 * role created (the queries qualify every name too; see extension.c).
 */
void
protech_backup_pin_search_path(void)
{
	SetConfigOption("search_path", PROTECH_BACKUP_SEARCH_PATH,
					PGC_SUSET, PGC_S_OVERRIDE);
}

/*
 * Start a transaction with a snapshot, for SPI work, and
 * (protech_backup_end_work) commit it.
 */
void
protech_backup_begin_work(void)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
}

void
protech_backup_end_work(void)
{
	PopActiveSnapshot();
	CommitTransactionCommand();
}
