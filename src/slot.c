/*-------------------------------------------------------------------------
 *
 * slot.c
 *		What every process of protech_backup shares, in one small piece of
 *		shared memory: the cluster-wide backup slot (at most one backup runs
 *		at a time), the scheduler's state, and the lock under which
 *		manifests are written and removed.  Claiming and releasing the slot
 *		happen here and nowhere else.
 *
 * The shared memory is only there when the library is preloaded through
 * shared_preload_libraries; every SQL function that works with backups
 * calls protech_backup_require_preload() first so that a library loaded by
 * CREATE EXTENSION alone says clearly what is missing.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/timestamp.h"

#include "slot.h"

/*
 * The shared state (see ProtechBackupState), under a spinlock.
 */
typedef struct ProtechBackupShared
{
	slock_t		mutex;
	ProtechBackupState state;
} ProtechBackupShared;

static ProtechBackupShared *protech_backup_shared = NULL;

/*
 * In a manual backup worker: the process (the caller of
 * protech_backup_now()) that claimed the slot on this worker's behalf and
 * hands it over at the worker's claim; 0 when none does.
 */
static pid_t slot_handed_over_by = 0;

/*
 * Held while a manifest is written or removed (see manifest.c), so that a
 * verification never rewrites the manifest of a backup being deleted.
 */
static LWLock *manifest_lock = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/*
 * Reserve the shared slot and the manifest lock (PostgreSQL 15's
 * shmem_request_hook).
 */
static void
slot_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(ProtechBackupShared)));
	RequestNamedLWLockTranche("protech_backup", 1);
}

/*
 * Attach to (and on first use, initialize) the shared slot, and find the
 * manifest lock.
 */
static void
slot_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	protech_backup_shared = ShmemInitStruct("protech_backup",
											sizeof(ProtechBackupShared),
											&found);
	if (!found)
	{
		memset(protech_backup_shared, 0, sizeof(ProtechBackupShared));
		SpinLockInit(&protech_backup_shared->mutex);
	}
	manifest_lock = &(GetNamedLWLockTranche("protech_backup"))->lock;
	LWLockRelease(AddinShmemInitLock);
}

/*
 * Install the hooks that reserve and attach the shared memory; called from
 * _PG_init when preloaded.
 */
void
protech_backup_install_shmem_hooks(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = slot_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = slot_shmem_startup;
}

/*
 * Raise a clear error when the library was not preloaded: without the shared
 * slot nothing can guarantee that only one backup runs at a time.
 */
void
protech_backup_require_preload(void)
{
	if (protech_backup_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("protech_backup must be loaded via shared_preload_libraries"),
				 errhint("Add protech_backup to shared_preload_libraries in postgresql.conf and restart the server.")));
}

/*
 * Exit callback of a process that has claimed the slot at least once: give
 * it back whatever way the process ends.
 */
static void
release_slot_at_exit(int code, Datum arg)
{
	protech_backup_release_slot();
}

/*
 * Raise object_in_use for a backup that holds the slot.  A manual backup's
 * caller holds it, with no file yet, until its worker takes it over.
 */
static void
report_slot_busy(pid_t holder, TimestampTz since, const char *file)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_IN_USE),
			 errmsg("another backup is already running"),
			 file[0] ?
			 errdetail("Process %d started backup \"%s\" at %s.",
					   (int) holder, file, timestamptz_to_str(since)) :
			 errdetail("Process %d started a backup at %s.",
					   (int) holder, timestamptz_to_str(since)),
			 errhint("Wait for it to finish, or cancel it with pg_cancel_backend(%d).",
					 (int) holder)));
}

/*
 * Take the cluster-wide backup slot for this process, for the history row
 * run_id (0 if none), unless another process holds it (other than the one
 * handing it over, see protech_backup_take_over_slot_from).  Returns
 * whether it did; when it did not and busy_error is true, raises
 * object_in_use naming the backup that holds it.
 */
static bool
claim_slot(int64 run_id, bool busy_error)
{
	static bool exit_callback_registered = false;
	pid_t		holder;
	TimestampTz since;
	char		file[MAXPGPATH];
	bool		claimed;

	protech_backup_require_preload();
	if (!exit_callback_registered)
	{
		before_shmem_exit(release_slot_at_exit, (Datum) 0);
		exit_callback_registered = true;
	}

	SpinLockAcquire(&protech_backup_shared->mutex);
	holder = protech_backup_shared->state.running_pid;
	since = protech_backup_shared->state.running_since;
	strlcpy(file, protech_backup_shared->state.running_file, sizeof(file));
	claimed = holder == 0 || holder == slot_handed_over_by;
	if (claimed)
	{
		protech_backup_shared->state.running_pid = MyProcPid;
		protech_backup_shared->state.running_since = GetCurrentTimestamp();
		protech_backup_shared->state.running_file[0] = '\0';
		protech_backup_shared->state.running_bytes = 0;
		protech_backup_shared->state.running_run_id = run_id;
	}
	SpinLockRelease(&protech_backup_shared->mutex);

	if (claimed)
		slot_handed_over_by = 0;
	else if (busy_error)
		report_slot_busy(holder, since, file);
	return claimed;
}

void
protech_backup_claim_slot(int64 run_id)
{
	(void) claim_slot(run_id, true);
}

bool
protech_backup_try_claim_slot(int64 run_id)
{
	return claim_slot(run_id, false);
}

/*
 * In a manual backup worker: let this process's next claim take the slot
 * over from holder, the caller of protech_backup_now() that claimed it on
 * the worker's behalf.  The caller claims first so that, of many
 * simultaneous calls, exactly one starts a worker and the others get
 * object_in_use at once.
 */
void
protech_backup_take_over_slot_from(pid_t holder)
{
	slot_handed_over_by = holder;
}

/*
 * The history row of the running backup, 0 when none runs.
 */
int64
protech_backup_slot_run_id(void)
{
	int64		run_id;

	SpinLockAcquire(&protech_backup_shared->mutex);
	run_id = protech_backup_shared->state.running_pid ? protech_backup_shared->state.running_run_id : 0;
	SpinLockRelease(&protech_backup_shared->mutex);
	return run_id;
}

/*
 * Record the file the running backup writes, for the 55006 message and for
 * status reports.
 */
void
protech_backup_slot_set_file(const char *file_name)
{
	SpinLockAcquire(&protech_backup_shared->mutex);
	Assert(protech_backup_shared->state.running_pid == MyProcPid);
	strlcpy(protech_backup_shared->state.running_file, file_name, MAXPGPATH);
	SpinLockRelease(&protech_backup_shared->mutex);
}

/*
 * Publish how many bytes the running backup has written.
 */
void
protech_backup_report_progress(uint64 bytes_written)
{
	SpinLockAcquire(&protech_backup_shared->mutex);
	protech_backup_shared->state.running_bytes = bytes_written;
	SpinLockRelease(&protech_backup_shared->mutex);
}

/*
 * Give the slot back, if this process holds it.  Safe to call on any error
 * path, even one raised before the slot was claimed.
 */
void
protech_backup_release_slot(void)
{
	if (protech_backup_shared == NULL)
		return;
	SpinLockAcquire(&protech_backup_shared->mutex);
	if (protech_backup_shared->state.running_pid == MyProcPid)
	{
		protech_backup_shared->state.running_pid = 0;
		protech_backup_shared->state.running_file[0] = '\0';
		protech_backup_shared->state.running_bytes = 0;
		protech_backup_shared->state.running_run_id = 0;
	}
	SpinLockRelease(&protech_backup_shared->mutex);
}

/*
 * Take the manifest lock, waiting for it (uninterruptibly: it is only ever
 * held for the few file operations of writing or removing one manifest).
 * Error recovery releases it.
 */
void
protech_backup_lock_manifests(void)
{
	protech_backup_require_preload();
	LWLockAcquire(manifest_lock, LW_EXCLUSIVE);
}

void
protech_backup_unlock_manifests(void)
{
	LWLockRelease(manifest_lock);
}

/*
 * Publish the scheduler's pid (0 when it exits) and its next due instant
 * (0 when nothing is scheduled), for protech_backup_status().
 */
void
protech_backup_set_scheduler_state(pid_t pid, TimestampTz next_run_at)
{
	SpinLockAcquire(&protech_backup_shared->mutex);
	protech_backup_shared->state.scheduler_pid = pid;
	protech_backup_shared->state.next_run_at = next_run_at;
	SpinLockRelease(&protech_backup_shared->mutex);
}

/*
 * A consistent copy of the shared state.
 */
void
protech_backup_get_state(ProtechBackupState *state)
{
	protech_backup_require_preload();
	SpinLockAcquire(&protech_backup_shared->mutex);
	memcpy(state, &protech_backup_shared->state, sizeof(ProtechBackupState));
	SpinLockRelease(&protech_backup_shared->mutex);
}
