/*-------------------------------------------------------------------------
 *
 * manual.c
 *		A manual backup (protech_backup_now(), also through pg_cron): the
 *		caller claims the backup slot and starts a dynamic worker,
 *		"protech_backup backup", which runs the backup (run.c) so that the
 *		run is recorded in the history in transactions of its own (a failed
 *		run too) while the caller waits.  Built on run.c, worker.c,
 *		backup.c, child.c and slot.c.
 *
 * When the caller is canceled or terminated, the worker is sent SIGTERM,
 * kills pg_dump, removes the partial file and records the run as failed;
 * the caller waits for that before its error returns.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "port/atomics.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/ipc.h"

#include "backup.h"
#include "child.h"
#include "manual.h"
#include "run.h"
#include "settings.h"
#include "slot.h"
#include "worker.h"

PGDLLEXPORT void protech_backup_manual_main(Datum main_arg);

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
 * Why a SIGTERM interrupts this manual backup worker: its caller's cancel
 * or termination (see stop_manual_worker), or a shutdown.
 */
static const char *
manual_interrupt_reason(void)
{
	return manual_request->caller_canceled ?
		"the session that requested it was canceled or terminated" :
		"the server is shutting down or the backup process was terminated";
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

	protech_backup_setup_signals();
	segment = dsm_attach(DatumGetUInt32(main_arg));
	if (segment == NULL)
		proc_exit(0);			/* the caller is gone already */
	manual_request = dsm_segment_address(segment);
	protech_backup_set_interrupt_reason(manual_interrupt_reason);
	BackgroundWorkerInitializeConnection(manual_request->database, NULL, 0);
	protech_backup_take_over_slot_from(manual_request->caller_pid);

	if (protech_backup_run("manual", &info, &error))
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
		wait.handle = protech_backup_start_dynamic_worker("protech_backup backup",
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
