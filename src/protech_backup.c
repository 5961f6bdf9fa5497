/*-------------------------------------------------------------------------
 *
 * protech_backup.c
 *		Module set-up of protech_backup: the settings (GUCs) with their check
 *		hooks (those of the schedule and its time zone are in schedule.c,
 *		those of what a backup is stored as in format.c),
 *		the small piece of shared memory that makes sure at most one
 *		backup runs in the whole cluster at a time, and the lock under
 *		which manifests are written and removed.
 *
 * The shared memory is only there when the library is preloaded through
 * shared_preload_libraries; every SQL function that works with backups
 * calls protech_backup_require_preload() first so that a library loaded by
 * CREATE EXTENSION alone says clearly what is missing.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <unistd.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "protech_backup.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

static char *default_directory(void);

/* settings */
char	   *protech_backup_database = NULL;
char	   *protech_backup_directory = NULL;
char	   *protech_backup_pg_dump_path = NULL;
char	   *protech_backup_role = NULL;
char	   *protech_backup_timezone = NULL;
char	   *protech_backup_schedule = NULL;
bool		protech_backup_catch_up = true;
int			protech_backup_history_days = 90;
char	   *protech_backup_post_backup_command = NULL;
int			protech_backup_timeout = 0;
double		protech_backup_min_size_ratio = 0.5;
int			protech_backup_min_free_space = 1024;
int			protech_backup_lock_wait_timeout = 300000;
char	   *protech_backup_passfile = NULL;
/* read by protech_backup_status() only, in SQL */
static int	expected_interval = 0;

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
 * Check hook for settings that must name a database object: not empty (where
 * required) and short enough to be a name.
 */
static bool
check_object_name(char **newval, bool allow_empty, const char *what)
{
	if (**newval == '\0')
	{
		if (allow_empty)
			return true;
		GUC_check_errdetail("The %s name must not be empty.", what);
		return false;
	}
	if (strlen(*newval) >= NAMEDATALEN)
	{
		GUC_check_errdetail("The %s name must be shorter than %d bytes.",
							what, NAMEDATALEN);
		return false;
	}
	return true;
}

static bool
check_database(char **newval, void **extra, GucSource source)
{
	return check_object_name(newval, false, "database");
}

static bool
check_role(char **newval, void **extra, GucSource source)
{
	return check_object_name(newval, true, "role");
}

/*
 * Check hook for settings that hold a path: empty (the built-in default) or
 * absolute, since the server's working directory is no place to guess from.
 */
static bool
check_absolute_path(char **newval, void **extra, GucSource source)
{
	if (**newval != '\0' && !is_absolute_path(*newval))
	{
		GUC_check_errdetail("The path \"%s\" is not absolute.", *newval);
		GUC_check_errhint("Give the full path, starting with \"/\".");
		return false;
	}
	return true;
}

/*
 * Whether path is dir itself or lies below it (both canonical).
 */
static bool
path_within(const char *path, const char *dir)
{
	size_t		len = strlen(dir);

	return strncmp(path, dir, len) == 0 &&
		(path[len] == '\0' || path[len] == '/');
}

/*
 * Check hook for protech_backup.directory: an absolute path that is not
 * the data directory itself nor inside the parts of it PostgreSQL manages
 * (pg_wal, global, base), where a dump could be mistaken for or clobber
 * server files.  Elsewhere inside the data directory is allowed with a
 * warning when a backup starts (see protech_backup_in_data_directory).
 */
static bool
check_directory(char **newval, void **extra, GucSource source)
{
	char		path[MAXPGPATH];
	char		datadir[MAXPGPATH];
	static const char *const managed[] = {"pg_wal", "global", "base"};

	if (!check_absolute_path(newval, extra, source))
		return false;
	if (**newval == '\0' || DataDir == NULL)
		return true;

	strlcpy(path, *newval, sizeof(path));
	canonicalize_path(path);
	strlcpy(datadir, DataDir, sizeof(datadir));
	canonicalize_path(datadir);
	if (strcmp(path, datadir) == 0)
	{
		GUC_check_errdetail("The backup directory must not be the data directory itself.");
		GUC_check_errhint("Use a directory outside the data directory, such as \"%s/protech_backup\" beside it.",
						  datadir);
		return false;
	}
	for (int i = 0; i < lengthof(managed); i++)
	{
		char		forbidden[MAXPGPATH];

		snprintf(forbidden, sizeof(forbidden), "%s/%s", datadir, managed[i]);
		if (path_within(path, forbidden))
		{
			GUC_check_errdetail("The backup directory must not be inside \"%s\", which PostgreSQL manages.",
								forbidden);
			GUC_check_errhint("Use a directory outside the data directory.");
			return false;
		}
	}
	return true;
}

/*
 * Reserve the shared slot and the manifest lock (PostgreSQL 15's
 * shmem_request_hook).
 */
static void
protech_backup_shmem_request(void)
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
protech_backup_shmem_startup(void)
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
 * Module load: define the settings everywhere, and the shared memory only
 * when preloaded.
 */
void
_PG_init(void)
{
	char	   *directory_default = default_directory();

	DefineCustomStringVariable("protech_backup.database",
							   "Database that is backed up.",
							   NULL,
							   &protech_backup_database,
							   "postgres",
							   PGC_SIGHUP, 0,
							   check_database, NULL, NULL);
	DefineCustomStringVariable("protech_backup.directory",
							   "Directory the backups are written to.",
							   "The default is a folder protech_backup_<name of the data directory> "
							   "beside the data directory when its parent is writable, else "
							   "protech_backup inside the data directory; empty means that default.",
							   &protech_backup_directory,
							   directory_default ? directory_default : "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY,
							   check_directory, NULL, NULL);
	DefineCustomStringVariable("protech_backup.pg_dump_path",
							   "Path of the pg_dump program.",
							   "Empty means the pg_dump installed next to the running postgres.",
							   &protech_backup_pg_dump_path,
							   "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY,
							   check_absolute_path, NULL, NULL);
	DefineCustomStringVariable("protech_backup.role",
							   "Role pg_dump connects as.",
							   "Empty means the bootstrap superuser.",
							   &protech_backup_role,
							   "",
							   PGC_SIGHUP, 0,
							   check_role, NULL, NULL);
	DefineCustomStringVariable("protech_backup.schedule",
							   "When backups are taken, in cron syntax, in protech_backup.timezone.",
							   "Five fields \"minute hour day-of-month month day-of-week\" "
							   "or a macro such as @daily; empty disables scheduled backups.",
							   &protech_backup_schedule,
							   "0 16 * * *",
							   PGC_SIGHUP, 0,
							   protech_backup_check_schedule, NULL, NULL);
	DefineCustomStringVariable("protech_backup.timezone",
							   "Time zone of backup file names and of the schedule.",
							   NULL,
							   &protech_backup_timezone,
							   "UTC",
							   PGC_SIGHUP, 0,
							   protech_backup_check_timezone, NULL, NULL);

	DefineCustomEnumVariable("protech_backup.format",
							 "pg_dump format of backups: plain, custom or directory.",
							 "plain is a SQL script (.sql) restored with psql, custom an archive "
							 "(.dump) and directory a folder (.dir) restored with pg_restore.",
							 &protech_backup_format,
							 PROTECH_BACKUP_FORMAT_PLAIN,
							 protech_backup_format_options,
							 PGC_SIGHUP, 0,
							 NULL, NULL, NULL);
	DefineCustomStringVariable("protech_backup.compression",
							   "Compression of backups: none, gzip[:level] or zstd[:level].",
							   "Levels are 1 to 9 for gzip (default 6) and 1 to 19 for zstd (default 3).",
							   &protech_backup_compression,
							   "none",
							   PGC_SIGHUP, 0,
							   protech_backup_check_compression, NULL, NULL);
	DefineCustomIntVariable("protech_backup.jobs",
							"Parallel pg_dump jobs of a directory-format backup.",
							"Each job is one more connection to the database.",
							&protech_backup_jobs,
							1, 1, 64,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);
	DefineCustomStringVariable("protech_backup.pg_dump_options",
							   "Extra pg_dump options, split like a shell would split them, without expansion.",
							   "Options that choose the output, the format, the compression, the jobs "
							   "or the connection are set by protech_backup and cannot be given.",
							   &protech_backup_pg_dump_options,
							   "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY,
							   protech_backup_check_pg_dump_options, NULL, NULL);

	DefineCustomEnumVariable("protech_backup.verify_after_backup",
							 "How each backup is verified right after it is taken: off, checksum or restore.",
							 "checksum reads it back against its manifest, decompressing it; restore also "
							 "restores it into a scratch database and checks its tables. A failed "
							 "verification fails the run.",
							 &protech_backup_verify_after_backup,
							 PROTECH_BACKUP_VERIFY_CHECKSUM,
							 protech_backup_verify_after_backup_options,
							 PGC_SIGHUP, 0,
							 NULL, NULL, NULL);

	DefineCustomBoolVariable("protech_backup.catch_up",
							 "Run one catch-up backup at start-up when a scheduled run was missed.",
							 NULL,
							 &protech_backup_catch_up,
							 true,
							 PGC_SIGHUP, 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("protech_backup.history_days",
							"Days of run history to keep in protech_backup_history.",
							"0 keeps the history forever.",
							&protech_backup_history_days,
							90, 0, 36500,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);
	DefineCustomStringVariable("protech_backup.post_backup_command",
							   "Shell command run after each successful backup, e.g. to copy it off-site.",
							   "%p is replaced by the dump's path, %f its file name, %d the directory, "
							   "%m the manifest's path, %% by a percent sign.",
							   &protech_backup_post_backup_command,
							   "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);
	DefineCustomIntVariable("protech_backup.timeout",
							"Longest time pg_dump or the post-backup command may run before it is killed.",
							"0 means no limit.",
							&protech_backup_timeout,
							0, 0, INT_MAX / 1000,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("protech_backup.min_free_space",
							"Free space the backup directory's file system must have for a backup to start.",
							"A backup also needs 1.2 times the size of the last backup free; 0 turns both checks off.",
							&protech_backup_min_free_space,
							1024, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MB,
							NULL, NULL, NULL);
	DefineCustomIntVariable("protech_backup.lock_wait_timeout",
							"Longest time pg_dump waits for the lock on a table before the backup fails.",
							"0 means pg_dump waits as long as it takes.",
							&protech_backup_lock_wait_timeout,
							300000, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomStringVariable("protech_backup.passfile",
							   "Password file pg_dump reads when its connection needs a password.",
							   "Empty means the .pgpass file in the home directory of the server's operating system user.",
							   &protech_backup_passfile,
							   "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY,
							   check_absolute_path, NULL, NULL);
	DefineCustomRealVariable("protech_backup.min_size_ratio",
							 "A backup smaller than this fraction of the median of the previous ones is a size anomaly.",
							 NULL,
							 &protech_backup_min_size_ratio,
							 0.5, 0.0, 1.0,
							 PGC_SIGHUP, 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("protech_backup.expected_interval",
							"How often a successful backup is expected, for protech_backup_status().",
							"A backup older than 1.5 times this is a problem. 0 means the period of "
							"protech_backup.schedule; set it when another scheduler (pg_cron) takes the backups.",
							&expected_interval,
							0, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);
	protech_backup_define_retention_settings();

	MarkGUCPrefixReserved("protech_backup");

	if (!process_shared_preload_libraries_in_progress)
		return;

	if (!IsBinaryUpgrade)
		protech_backup_register_launcher();

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = protech_backup_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = protech_backup_shmem_startup;
}

/*
 * Raise invalid_parameter_value for argument name of an SQL function of
 * the extension, which problem describes ("must not be null"), with hint
 * (or NULL).  One wording for every function.
 */
void
protech_backup_reject_argument(const char *name, const char *problem,
							   const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("argument \"%s\" %s", name, problem),
			 hint ? errhint("%s", hint) : 0));
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

/*
 * Whether path (absolute) is inside the data directory, where base backups
 * of the data directory would copy the dumps too.
 */
bool
protech_backup_in_data_directory(const char *path)
{
	char		canonical[MAXPGPATH];
	char		datadir[MAXPGPATH];

	strlcpy(canonical, path, sizeof(canonical));
	canonicalize_path(canonical);
	strlcpy(datadir, DataDir, sizeof(datadir));
	canonicalize_path(datadir);
	return path_within(canonical, datadir);
}

/*
 * The default backup directory: beside the data directory (in its parent)
 * when that parent is writable, so that base backups of the data directory
 * do not copy the dumps, else inside the data directory.  The folder beside
 * it is named after the data directory ("protech_backup_main" for Debian's
 * /var/lib/postgresql/15/main), so that clusters whose data directories
 * share a parent never share, list or rotate each other's backups.  NULL
 * before the data directory is known.  Returns a palloc'd string.
 */
static char *
default_directory(void)
{
	char		parent[MAXPGPATH];

	if (DataDir == NULL)
		return NULL;
	strlcpy(parent, DataDir, sizeof(parent));
	get_parent_directory(parent);
	if (parent[0] != '\0' && access(parent, W_OK) == 0)
		return psprintf("%s%sprotech_backup_%s", parent,
						strcmp(parent, "/") == 0 ? "" : "/",
						last_dir_separator(DataDir) + 1);
	return psprintf("%s/protech_backup", DataDir);
}

/*
 * The backup directory in force: the setting, whose built-in value is
 * default_directory() as computed when the library was loaded; an empty
 * setting means that default too.  Returns a palloc'd string.
 */
char *
protech_backup_resolved_directory(void)
{
	if (protech_backup_directory[0] != '\0')
		return pstrdup(protech_backup_directory);
	return default_directory();
}
