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
 * A failed run's error travels whole, every field of its ErrorData, from
 * the worker to the caller over a shm_mq in the request's DSM segment, as an
 * ErrorResponse message (the way parallel.c's workers report to their
 * leader); the caller raises it as its own with ThrowErrorData.
 *
 * When the caller is canceled or terminated, the worker is sent SIGTERM,
 * kills pg_dump, removes the partial file and records the run as failed;
 * the caller waits for that before its error returns.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "libpq/pqformat.h"
#include "libpq/pqmq.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "storage/shm_mq.h"

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
	char		database[NAMEDATALEN];	/* the worker's: the extension's */
	char		target[NAMEDATALEN];	/* the database to back up */
	bool		share_globals;	/* with the other backups of the call */
	ProtechBackupInfo shared;	/* their globals (see protech_backup_take) */
	pid_t		caller_pid;		/* holds the slot until the worker takes it */
	bool		caller_canceled;	/* set by the caller before SIGTERM */
	bool		succeeded;
	ProtechBackupInfo info;		/* when succeeded */
} ManualRequest;

/*
 * The segment holds the request, then a queue from the worker to the
 * caller that carries the worker's error, whole, when the run fails (as a
 * parallel worker reports its errors to its leader, see parallel.c).  An
 * error larger than the queue is carried in pieces while the caller reads.
 */
#define ERROR_QUEUE_SIZE 16384
#define ERROR_QUEUE_OFFSET MAXALIGN(sizeof(ManualRequest))
#define SEGMENT_SIZE (ERROR_QUEUE_OFFSET + ERROR_QUEUE_SIZE)

/* the request this process serves, in a manual backup worker */
static ManualRequest *manual_request = NULL;

/*
 * What the caller of protech_backup_now() needs to stop its worker.
 */
typedef struct ManualWait
{
	ManualRequest *request;
	BackgroundWorkerHandle *handle;
	shm_mq_handle *queue;		/* the caller's end of the error queue */
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
 * Send error to the caller over queue, as an ErrorResponse message with
 * every field of the ErrorData (the format pq_parse_errornotice() reads),
 * so that the caller raises it as it was raised here.
 */
static void
send_error(shm_mq_handle *queue, const ErrorData *error)
{
	StringInfoData msg;
	const struct
	{
		char		code;
		const char *value;
	}			fields[] = {
		{PG_DIAG_SEVERITY, "ERROR"},
		{PG_DIAG_SEVERITY_NONLOCALIZED, "ERROR"},
		{PG_DIAG_SQLSTATE, unpack_sql_state(error->sqlerrcode)},
		{PG_DIAG_MESSAGE_PRIMARY, error->message},
		{PG_DIAG_MESSAGE_DETAIL, error->detail},
		{PG_DIAG_MESSAGE_HINT, error->hint},
		{PG_DIAG_CONTEXT, error->context},
		{PG_DIAG_SCHEMA_NAME, error->schema_name},
		{PG_DIAG_TABLE_NAME, error->table_name},
		{PG_DIAG_COLUMN_NAME, error->column_name},
		{PG_DIAG_DATATYPE_NAME, error->datatype_name},
		{PG_DIAG_CONSTRAINT_NAME, error->constraint_name},
		{PG_DIAG_SOURCE_FILE, error->filename},
		{PG_DIAG_SOURCE_LINE, error->filename ? psprintf("%d", error->lineno) : NULL},
		{PG_DIAG_SOURCE_FUNCTION, error->funcname},
	};

	initStringInfo(&msg);
	pq_sendbyte(&msg, 'E');
	for (int i = 0; i < lengthof(fields); i++)
		if (fields[i].value != NULL)
		{
			pq_sendbyte(&msg, fields[i].code);
			pq_sendstring(&msg, fields[i].value);
		}
	pq_sendbyte(&msg, '\0');
	(void) shm_mq_send(queue, msg.len, msg.data, false, true);
}

/*
 * Main of a manual backup worker: run the backup the request in the DSM
 * segment asks for, and report the outcome to the caller: the backup in
 * the request, or the error, whole, over the queue.
 */
void
protech_backup_manual_main(Datum main_arg)
{
	dsm_segment *segment;
	shm_mq	   *queue;
	shm_mq_handle *queue_handle;
	ProtechBackupInfo info;
	ErrorData  *error = NULL;

	protech_backup_setup_signals();
	segment = dsm_attach(DatumGetUInt32(main_arg));
	if (segment == NULL)
		proc_exit(0);			/* the caller is gone already */
	manual_request = dsm_segment_address(segment);
	queue = (shm_mq *) ((char *) manual_request + ERROR_QUEUE_OFFSET);
	shm_mq_set_sender(queue, MyProc);
	queue_handle = shm_mq_attach(queue, segment, NULL);
	protech_backup_set_interrupt_reason(manual_interrupt_reason);
	BackgroundWorkerInitializeConnection(manual_request->database, NULL, 0);
	protech_backup_pin_search_path();
	protech_backup_take_over_slot_from(manual_request->caller_pid);

	if (protech_backup_run("manual", manual_request->target,
						   manual_request->share_globals ?
						   &manual_request->shared : NULL, &info, &error))
	{
		memcpy(&manual_request->info, &info, sizeof(info));
		manual_request->succeeded = true;
	}
	else
		send_error(queue_handle, error);
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
		/* a worker sending its error must not wait for this reader */
		if (wait->queue != NULL)
			shm_mq_detach(wait->queue);
		wait->queue = NULL;
		HOLD_INTERRUPTS();
		(void) WaitForBackgroundWorkerShutdown(wait->handle);
		RESUME_INTERRUPTS();
	}
	protech_backup_release_slot();
}

/*
 * Run a manual backup of database in a dedicated worker and wait for it.
 * Returns the new backup, or NULL with the worker's error, whole (message,
 * detail, hint, context and the other fields), in *error, for the caller
 * to raise as its own.  shared, when not NULL, carries the cluster's
 * globals from one backup of a call to the next (see protech_backup_take).
 * The caller claims the backup slot before it starts the worker, which
 * takes it over: when a backup runs already, or many sessions call at
 * once, all but one get object_in_use at once, without a worker or a
 * history row.
 */
ProtechBackupInfo *
protech_backup_run_manual(const char *database, ProtechBackupInfo *shared,
						  ErrorData *error)
{
	dsm_segment *segment;
	ManualRequest *request;
	ManualWait	wait = {NULL, NULL, NULL};
	ProtechBackupInfo *info;
	shm_mq	   *queue;
	Size		error_size;
	void	   *error_message;

	memset(error, 0, sizeof(ErrorData));	/* elevel 0 until an error arrives */
	protech_backup_require_preload();
	protech_backup_check_database(protech_backup_database);
	protech_backup_claim_slot(0);

	PG_ENSURE_ERROR_CLEANUP(stop_manual_worker, PointerGetDatum(&wait));
	{
		segment = dsm_create(SEGMENT_SIZE, 0);
		request = dsm_segment_address(segment);
		memset(request, 0, sizeof(ManualRequest));
		strlcpy(request->database, protech_backup_database, NAMEDATALEN);
		strlcpy(request->target, database, NAMEDATALEN);
		request->share_globals = shared != NULL;
		if (shared != NULL)
			memcpy(&request->shared, shared, sizeof(ProtechBackupInfo));
		request->caller_pid = MyProcPid;
		queue = shm_mq_create((char *) request + ERROR_QUEUE_OFFSET,
							  ERROR_QUEUE_SIZE);
		shm_mq_set_receiver(queue, MyProc);

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

		/*
		 * The worker sends one message, its error, or none; the queue is
		 * read while the worker runs, so an error of any size gets through.
		 * Ending without a message (success, or a worker that died) shows as
		 * the queue's detach.
		 */
		wait.queue = shm_mq_attach(queue, segment, wait.handle);
		if (shm_mq_receive(wait.queue, &error_size, &error_message,
						   false) == SHM_MQ_SUCCESS)
		{
			StringInfoData msg;

			initStringInfo(&msg);
			appendBinaryStringInfo(&msg, error_message, error_size);
			if (pq_getmsgbyte(&msg) != 'E')
				elog(ERROR, "unexpected message from the backup worker");
			pq_parse_errornotice(&msg, error);
		}
		if (WaitForBackgroundWorkerShutdown(wait.handle) == BGWH_POSTMASTER_DIED)
			ereport(FATAL,
					(errcode(ERRCODE_ADMIN_SHUTDOWN),
					 errmsg("postmaster exited during a backup")));
	}
	PG_END_ENSURE_ERROR_CLEANUP(stop_manual_worker, PointerGetDatum(&wait));
	protech_backup_release_slot();

	if (shared != NULL)
		memcpy(shared, &request->shared, sizeof(ProtechBackupInfo));
	if (error->elevel != 0)
	{
		dsm_detach(segment);
		return NULL;
	}
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
