/*-------------------------------------------------------------------------
 *
 * backup.c
 *		Take one backup: run pg_dump of protech_backup.database as a child
 *		process, stream its output into "<name>.partial" while compressing
 *		(when this extension compresses, see format.c) and hashing it, then
 *		fsync, rename durably and write the manifest.  A directory-format
 *		dump is written by pg_dump itself into the folder "<name>.partial",
 *		then sealed (every file and the folder synced and hashed) and
 *		renamed durably.  Also the SQL function protech_backup_now().
 *
 * protech_backup_take() is the one code path every trigger uses (manual
 * calls, pg_cron, the scheduler).  It holds the cluster-wide backup slot
 * for its whole duration, and whatever error or exit interrupts it removes
 * the files it was writing and ends the server processes pg_dump left, so
 * a backup is either complete and listed or absent.  A backup that would
 * start short of free space (protech_backup.min_free_space) is refused
 * before anything is written.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands/dbcommands.h"
#include "utils/acl.h"
#include "common/cryptohash.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "pgtime.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "protech_backup.h"

PG_FUNCTION_INFO_V1(protech_backup_now);

/* the name a manifest has while it is written */
#define MANIFEST_PARTIAL_SUFFIX \
	PROTECH_BACKUP_MANIFEST_SUFFIX PROTECH_BACKUP_PARTIAL_SUFFIX

/* how many of pg_dump's last lines an error message quotes */
#define PG_DUMP_TAIL_LINES 10
/* what pg_dump prints when --lock-wait-timeout expires on a table */
#define PG_DUMP_LOCK_QUERY "Query was: LOCK TABLE "
#define PG_DUMP_LOCK_MODE " IN ACCESS SHARE MODE"
/* a backup needs this many times the last backup's size free */
#define FREE_SPACE_FACTOR 1.2
/* file names tried for the backups started within one second */
#define MAX_NAME_TRIES 1000

/*
 * Files a backup in progress may leave behind, for the error cleanup.
 * Each path is cleared once the file it names is complete.
 */
typedef struct BackupFiles
{
	char		partial_path[MAXPGPATH];	/* dump (file or folder) being
											 * written */
	char		dump_path[MAXPGPATH];	/* dump renamed, manifest not yet */
	char		globals_partial[MAXPGPATH]; /* globals being written */
	char		globals_path[MAXPGPATH];	/* globals renamed, manifest not
											 * yet */
	int			fd;
} BackupFiles;

/*
 * Every this many bytes stored, ask the kernel to start writing them back
 * (as backend_flush_after does for the server's own writes), so that the
 * fsync that makes the backup durable finds little left to write instead
 * of the whole dump: without it, that fsync made an uncompressed backup
 * about 4% slower than a bare pg_dump, which does not sync plain output.
 */
#define BACKUP_FLUSH_AFTER (8 * 1024 * 1024)

/*
 * What the output sink needs: the compressor (NULL when the output is
 * stored as it comes), where to write, the running hash and count of the
 * bytes stored, and how many of them writeback was started for.
 */
typedef struct DumpSink
{
	ProtechBackupCodec *codec;
	int			fd;
	const char *path;
	pg_cryptohash_ctx *sha256;
	uint64		bytes;
	uint64		flushed;
} DumpSink;

/*
 * Terminate the server processes still serving pg_dump's connections once
 * pg_dump is gone: one that waits for a lock would otherwise wait on,
 * holding the locks it already has, until the lock is granted.  They are
 * told apart by their application_name; at most one backup runs at a time.
 */
static void
terminate_pg_dump_backends(void)
{
	int			count;

	pgstat_clear_backend_activity_snapshot();
	count = pgstat_fetch_stat_numbackends();
	for (int i = 1; i <= count; i++)
	{
		LocalPgBackendStatus *local = pgstat_fetch_stat_local_beentry(i);
		PgBackendStatus *backend = local ? &local->backendStatus : NULL;

		if (backend != NULL && backend->st_procpid != MyProcPid &&
			backend->st_backendType == B_BACKEND &&
			strcmp(backend->st_appname, PROTECH_BACKUP_APPLICATION_NAME) == 0 &&
			kill(backend->st_procpid, SIGTERM) == 0)
			ereport(LOG,
					(errmsg("protech_backup: terminated process %d, left over from the failed pg_dump",
							backend->st_procpid)));
	}
	pgstat_clear_backend_activity_snapshot();
}

/*
 * End of a backup, whichever way it ends: remove what is unfinished (on
 * success nothing is), end what pg_dump left running on the server when
 * it did not finish, and give the cluster-wide slot back.  Also the error
 * and exit cleanup.
 */
static void
release_backup(int code, Datum arg)
{
	BackupFiles *files = (BackupFiles *) DatumGetPointer(arg);

	if (files->fd >= 0)
		close(files->fd);
	files->fd = -1;
	if (files->partial_path[0] != '\0')
	{
		terminate_pg_dump_backends();
		(void) protech_backup_remove_dump(files->partial_path);
	}
	if (files->dump_path[0] != '\0')
		(void) protech_backup_remove_dump(files->dump_path);
	if (files->globals_partial[0] != '\0')
		(void) protech_backup_remove_dump(files->globals_partial);
	if (files->globals_path[0] != '\0')
		(void) protech_backup_remove_dump(files->globals_path);
	protech_backup_release_slot();
}

/*
 * Store bytes of the backup as they will stay on disk: hash and write
 * them, starting writeback every BACKUP_FLUSH_AFTER bytes.  The output of
 * the compressor, or pg_dump's own output when nothing compresses it here.
 */
static void
store_bytes(const char *data, size_t len, void *arg)
{
	DumpSink   *sink = (DumpSink *) arg;

	protech_backup_sha256_update(sink->sha256, data, len);
	sink->bytes += len;
	while (len > 0)
	{
		ssize_t		written;

		errno = 0;
		written = write(sink->fd, data, len);
		if (written < 0 && errno == EINTR)
			continue;
		if (written <= 0)
		{
			/* a short write without errno means the disk is full */
			if (errno == 0)
				errno = ENOSPC;
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not write to file \"%s\": %m", sink->path)));
		}
		data += written;
		len -= written;
	}
	if (sink->bytes - sink->flushed >= BACKUP_FLUSH_AFTER)
	{
		pg_flush_data(sink->fd, sink->flushed, sink->bytes - sink->flushed);
		sink->flushed = sink->bytes;
	}
	protech_backup_report_progress(sink->bytes);
}

/*
 * Output sink for pg_dump: compress each chunk as it arrives (the
 * compressor hands its output to store_bytes), or store it as it is.
 */
static void
write_dump_chunk(const char *data, size_t len, void *arg)
{
	DumpSink   *sink = (DumpSink *) arg;

	if (sink->codec == NULL)
		store_bytes(data, len, sink);
	else if (!protech_backup_codec_feed(sink->codec, data, len))
		elog(ERROR, "%s", protech_backup_codec_error(sink->codec));
}

/*
 * The last few lines of what a program printed, for errdetail.
 */
char *
protech_backup_last_lines(StringInfo output, int nlines)
{
	char	   *start;

	while (output->len > 0 && output->data[output->len - 1] == '\n')
		output->data[--output->len] = '\0';
	start = output->data + output->len;
	while (start > output->data && nlines > 0)
	{
		start--;
		if (*start == '\n' && --nlines == 0)
		{
			start++;
			break;
		}
	}
	return start;
}

/*
 * The pg_dump to run: the setting, or the pg_dump next to the running
 * postgres.  Checks that it can be executed and that it is at least as new
 * as the server, and returns its version line.
 */
static char *
check_pg_dump(const char *pg_dump, const char *const *envp)
{
	const char *argv[] = {pg_dump, "--version", NULL};
	StringInfoData output;
	int			status;
	char	   *version;
	int			major;

	if (access(pg_dump, X_OK) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not execute pg_dump \"%s\": %m", pg_dump),
				 errhint("Set protech_backup.pg_dump_path to the pg_dump of PostgreSQL %s or later.",
						 PG_MAJORVERSION)));

	initStringInfo(&output);
	status = protech_backup_run_child("pg_dump", argv, envp, NULL, NULL,
									  protech_backup_collect_output, &output,
									  &output, protech_backup_timeout);
	version = pstrdup(protech_backup_last_lines(&output, 1));
	if (status != 0 ||
		sscanf(version, "pg_dump (PostgreSQL) %d", &major) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("\"%s\" is not a usable pg_dump", pg_dump),
				 errdetail("\"%s --version\" printed \"%s\" (%s).",
						   pg_dump, version, wait_result_to_str(status)),
				 errhint("Set protech_backup.pg_dump_path to the pg_dump of PostgreSQL %s or later.",
						 PG_MAJORVERSION)));
	if (major < PG_VERSION_NUM / 10000)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("pg_dump \"%s\" is older than the server", pg_dump),
				 errdetail("It reports \"%s\"; the server is PostgreSQL %s.",
						   version, PG_VERSION),
				 errhint("Set protech_backup.pg_dump_path to the pg_dump of PostgreSQL %s or later.",
						 PG_MAJORVERSION)));
	return version;
}

/*
 * Make sure the backup directory exists (creating its last component) and
 * is a directory of mode 0700, whatever the umask.  An existing directory
 * that others may enter is tightened to 0700.  Refuses it when it lies
 * where PostgreSQL manages files through a symbolic link changed since the
 * setting was made; warns, once per process, when it lies elsewhere inside
 * the data directory.
 */
static void
ensure_directory(const char *directory)
{
	static bool warned_in_data_directory = false;
	struct stat st;

	protech_backup_check_directory_location(directory);

	if (!warned_in_data_directory &&
		protech_backup_in_data_directory(directory))
	{
		ereport(WARNING,
				(errmsg("protech_backup: backup directory \"%s\" is inside the data directory",
						directory),
				 errdetail("Base backups and copies of the data directory will contain every backup too."),
				 errhint("Set protech_backup.directory to a directory outside the data directory.")));
		warned_in_data_directory = true;
	}

	if (stat(directory, &st) == 0)
	{
		if (!S_ISDIR(st.st_mode))
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("backup directory \"%s\" is not a directory",
							directory),
					 errhint("Set protech_backup.directory to a directory, or move the file away.")));
		if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
		{
			if (chmod(directory, S_IRWXU) != 0)
				ereport(ERROR,
						(errcode_for_file_access(),
						 errmsg("could not change the mode of backup directory \"%s\" to 0700: %m",
								directory),
						 errhint("Make the server's user its owner, with mode 0700.")));
			ereport(LOG,
					(errmsg("protech_backup: changed the mode of backup directory \"%s\" from %04o to 0700",
							directory, (unsigned int) (st.st_mode & 07777))));
		}
		return;
	}
	if (errno != ENOENT || mkdir(directory, S_IRWXU) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create backup directory \"%s\": %m",
						directory),
				 errhint("Create it, owned by the server's user with mode 0700, or set protech_backup.directory.")));
	if (chmod(directory, S_IRWXU) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not change the mode of backup directory \"%s\" to 0700: %m",
						directory)));
	{
		char	   *parent = pstrdup(directory);

		get_parent_directory(parent);
		protech_backup_fsync(parent, true, ERROR);
	}
	ereport(LOG,
			(errmsg("protech_backup: created backup directory \"%s\"",
					directory)));
}

/*
 * A size for messages: pg_size_pretty's words and the exact bytes.
 */
static char *
size_words(int64 bytes)
{
	char	   *pretty = text_to_cstring(DatumGetTextPP(DirectFunctionCall1(pg_size_pretty,
																			Int64GetDatum(bytes))));

	return psprintf("%s (" INT64_FORMAT " bytes)", pretty, bytes);
}

/*
 * Refuse to start a backup, with disk_full, when the file system of the
 * backup directory has less free space than protech_backup.min_free_space
 * or than FREE_SPACE_FACTOR times the size of the newest backup: better
 * than filling the disk and failing at the end.  0 turns the check off.
 */
static void
check_free_space(const char *directory)
{
	int64		free_space;
	int64		min_free = (int64) protech_backup_min_free_space * 1024 * 1024;
	List	   *backups;

	if (protech_backup_min_free_space == 0)
		return;
	free_space = protech_backup_free_bytes(directory);
	if (free_space < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read the free space of backup directory \"%s\": %m",
						directory)));
	if (free_space < min_free)
		ereport(ERROR,
				(errcode(ERRCODE_DISK_FULL),
				 errmsg("not enough free space in backup directory \"%s\" to start a backup",
						directory),
				 errdetail("Its file system has %s free, less than protech_backup.min_free_space, %s.",
						   size_words(free_space), size_words(min_free)),
				 errhint("Free space there (protech_backup.retention_count and the other retention settings delete older backups), move protech_backup.directory to a larger file system, or lower protech_backup.min_free_space (0 turns this check off).")));

	backups = protech_backup_list_backups(directory);
	if (backups != NIL)
	{
		ProtechBackupInfo *last = linitial(backups);
		double		needed = FREE_SPACE_FACTOR * last->size_bytes;

		if (free_space < needed)
			ereport(ERROR,
					(errcode(ERRCODE_DISK_FULL),
					 errmsg("not enough free space in backup directory \"%s\" to start a backup",
							directory),
					 errdetail("Its file system has %s free, less than %.1f times the size of the last backup \"%s\", %s.",
							   size_words(free_space), FREE_SPACE_FACTOR,
							   last->file_name, size_words(last->size_bytes)),
					 errhint("Free space there (protech_backup.retention_count and the other retention settings delete older backups), move protech_backup.directory to a larger file system, or set protech_backup.min_free_space to 0 to turn this check off.")));
	}
}

/*
 * Remove the ".partial" files and folders a crashed backup left behind.  Only called
 * while holding the backup slot, so none of them belongs to a live backup,
 * and a partial manifest only while holding the manifest lock, so none
 * belongs to a live verification.  A directory that does not exist yet has
 * none.
 */
void
protech_backup_remove_stale_partials(const char *directory)
{
	DIR		   *dir = AllocateDir(directory);
	struct dirent *de;

	if (dir == NULL && errno == ENOENT)
		return;

	while ((de = ReadDir(dir, directory)) != NULL)
	{
		char		path[MAXPGPATH];
		size_t		len = strlen(de->d_name);
		bool		manifest;
		bool		removed;

		if (strncmp(de->d_name, PROTECH_BACKUP_PREFIX,
					strlen(PROTECH_BACKUP_PREFIX)) != 0 ||
			len < strlen(PROTECH_BACKUP_PARTIAL_SUFFIX) ||
			strcmp(de->d_name + len - strlen(PROTECH_BACKUP_PARTIAL_SUFFIX),
				   PROTECH_BACKUP_PARTIAL_SUFFIX) != 0)
			continue;
		protech_backup_build_path(path, directory, de->d_name, "");
		/* a verification may be writing a manifest: that happens locked */
		manifest = len >= strlen(MANIFEST_PARTIAL_SUFFIX) &&
			strcmp(de->d_name + len - strlen(MANIFEST_PARTIAL_SUFFIX),
				   MANIFEST_PARTIAL_SUFFIX) == 0;
		if (manifest)
			protech_backup_lock_manifests();
		removed = protech_backup_remove_dump(path);
		if (manifest)
			protech_backup_unlock_manifests();
		if (removed)
			ereport(LOG,
					(errmsg("protech_backup: removed stale partial backup \"%s\"",
							path)));
	}
	FreeDir(dir);
}

/*
 * Whether a file of that name exists in the directory.
 */
static bool
file_exists_in(const char *directory, const char *name, const char *suffix)
{
	char		path[MAXPGPATH];
	struct stat st;

	protech_backup_build_path(path, directory, name, suffix);
	return lstat(path, &st) == 0;
}

/*
 * Choose the backup's file name from its start time in
 * protech_backup.timezone: protech_backup_YYYYMMDD_HHMMSS followed by the
 * suffix of its storage (".sql", ".sql.zst", ...), with "_2", "_3", ...
 * inserted before the suffix when a file of that name (dump, manifest or
 * partial) already exists, so two backups in one second never collide.
 * At most MAX_NAME_TRIES names are tried, checking for interrupts.
 */
static void
choose_file_name(const char *directory, TimestampTz started_at,
				 const char *suffix, char *file_name)
{
	pg_time_t	t = timestamptz_to_time_t(started_at);
	struct pg_tm *tm = pg_localtime(&t, pg_tzset(protech_backup_timezone));
	char		stem[64];

	snprintf(stem, sizeof(stem), PROTECH_BACKUP_PREFIX "%04d%02d%02d_%02d%02d%02d",
			 tm->tm_year + 1900, tm->tm_mon + 1, tm->tm_mday,
			 tm->tm_hour, tm->tm_min, tm->tm_sec);
	for (int n = 1; n <= MAX_NAME_TRIES; n++)
	{
		protech_backup_check_for_interrupts();
		if (n == 1)
			snprintf(file_name, MAXPGPATH, "%s%s", stem, suffix);
		else
			snprintf(file_name, MAXPGPATH, "%s_%d%s", stem, n, suffix);
		if (!file_exists_in(directory, file_name, "") &&
			!file_exists_in(directory, file_name, PROTECH_BACKUP_MANIFEST_SUFFIX) &&
			!file_exists_in(directory, file_name, PROTECH_BACKUP_PARTIAL_SUFFIX))
			return;
	}
	ereport(ERROR,
			(errcode(ERRCODE_DUPLICATE_FILE),
			 errmsg("could not choose a file name for the backup in directory \"%s\"",
					directory),
			 errdetail("Files named %s to %s_%d%s exist already.",
					   psprintf("%s%s", stem, suffix), stem, MAX_NAME_TRIES, suffix)));
}

/*
 * The table named by the last LOCK TABLE query pg_dump printed, when what
 * it printed says that the query timed out; NULL otherwise.
 */
static char *
lock_timeout_table(const char *printed)
{
	const char *query = strstr(printed, PG_DUMP_LOCK_QUERY);
	const char *end;

	if (query == NULL || strstr(printed, "statement timeout") == NULL)
		return NULL;
	query += strlen(PG_DUMP_LOCK_QUERY);
	end = strstr(query, PG_DUMP_LOCK_MODE);
	if (end == NULL)
		return NULL;
	return pnstrdup(query, end - query);
}

/*
 * Raise the error for a pg_dump (or pg_dumpall) that did not exit cleanly,
 * quoting its last lines and, where its words point at a known cause, what
 * to change.  A table that stayed locked past
 * protech_backup.lock_wait_timeout is named in the message itself.
 */
static void
report_dump_failure(const char *program, const char *database,
					const char *role, int status, StringInfo output)
{
	char	   *printed = protech_backup_last_lines(output, PG_DUMP_TAIL_LINES);
	char	   *locked = lock_timeout_table(printed);
	char	   *what;
	const char *hint = NULL;

	if (locked)
	{
		what = psprintf("table %s stayed locked by another session for longer than protech_backup.lock_wait_timeout (%d ms)",
						locked, protech_backup_lock_wait_timeout);
		hint = "Find the session holding the lock in pg_locks and pg_stat_activity, or raise protech_backup.lock_wait_timeout.";
	}
	else
	{
		what = pstrdup(wait_result_to_str(status));
		if (strstr(printed, "authentication failed") ||
			strstr(printed, "pg_hba.conf") ||
			strstr(printed, "password"))
			hint = psprintf("Let role \"%s\" connect to database \"%s\" over the server's Unix socket (a \"local\" line in pg_hba.conf with peer or trust, or its password in the file protech_backup.passfile names), or set protech_backup.role.",
							role, database);
		else if (strstr(printed, "role") && strstr(printed, "does not exist"))
			hint = "Set protech_backup.role to an existing role that can read the whole database.";
	}

	ereport(ERROR,
			(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
			 errmsg("%s of database \"%s\" failed: %s", program, database, what),
			 printed[0] ? errdetail("%s printed:\n%s", program, printed) : 0,
			 hint ? errhint("%s", hint) : 0));
}

/*
 * Raise undefined_database unless database exists.
 */
void
protech_backup_check_database(const char *database)
{
	if (!OidIsValid(get_database_oid(database, true)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_DATABASE),
				 errmsg("database \"%s\" does not exist", database),
				 errdetail("protech_backup.database names the database to back up."),
				 errhint("Set protech_backup.database to an existing database and reload the configuration.")));
}

/*
 * Record in info what the manifest says of the database this process is
 * connected to, protech_backup.database: the number of its user tables
 * (PROTECH_BACKUP_USER_TABLES), which a restore is checked against; its
 * encoding and locale, which a restore creates its database with (pg_dump
 * without --create records neither); whether every function in it belongs
 * to a superuser, without which a restore as a superuser is refused (see
 * restore.c); its extensions, which a restore creates before the dump's
 * statements run; and its owner, whom a restore through
 * protech_backup.restore_role gives the new database.  Read just before pg_dump starts, in a snapshot
 * of its own, so a table created or dropped in between makes the count
 * differ from what pg_dump's snapshot holds.
 */
static void
describe_database(ProtechBackupInfo *info)
{
	HeapTuple	row;
	TupleDesc	desc;
	bool		isnull;
	char	   *icu_locale;
	int			nestlevel;

	PushActiveSnapshot(GetTransactionSnapshot());
	nestlevel = protech_backup_spi_connect();
	if (SPI_execute("SELECT (SELECT pg_catalog.count(*)::pg_catalog.int4 "
					PROTECH_BACKUP_USER_TABLES "), "
					"pg_catalog.pg_encoding_to_char(d.encoding), "
					"CASE WHEN d.datlocprovider OPERATOR(pg_catalog.=) 'i' "
					"THEN 'icu' ELSE 'libc' END, "
					"d.datcollate, d.datctype, d.daticulocale, "
					"NOT EXISTS (SELECT FROM pg_catalog.pg_proc p "
					"JOIN pg_catalog.pg_authid a "
					"ON a.oid OPERATOR(pg_catalog.=) p.proowner "
					"WHERE NOT a.rolsuper), "
					"pg_catalog.pg_get_userbyid(d.datdba) "
					"FROM pg_catalog.pg_database d "
					"WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()",
					true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not describe the database");
	row = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	info->tables = DatumGetInt32(SPI_getbinval(row, desc, 1, &isnull));
	strlcpy(info->encoding, SPI_getvalue(row, desc, 2), sizeof(info->encoding));
	strlcpy(info->locale_provider, SPI_getvalue(row, desc, 3),
			sizeof(info->locale_provider));
	strlcpy(info->lc_collate, SPI_getvalue(row, desc, 4), sizeof(info->lc_collate));
	strlcpy(info->lc_ctype, SPI_getvalue(row, desc, 5), sizeof(info->lc_ctype));
	icu_locale = SPI_getvalue(row, desc, 6);
	strlcpy(info->icu_locale, icu_locale ? icu_locale : "",
			sizeof(info->icu_locale));
	info->superuser_functions_only = DatumGetBool(SPI_getbinval(row, desc, 7, &isnull));
	strlcpy(info->database_owner, SPI_getvalue(row, desc, 8),
			sizeof(info->database_owner));

	if (SPI_execute("SELECT e.extname, n.nspname FROM pg_catalog.pg_extension e "
					"JOIN pg_catalog.pg_namespace n "
					"ON n.oid OPERATOR(pg_catalog.=) e.extnamespace "
					"ORDER BY e.oid", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not list the extensions of the database");
	if (SPI_processed > PROTECH_BACKUP_MAX_EXTENSIONS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("database has %d extensions, more than the %d a backup records",
						(int) SPI_processed, PROTECH_BACKUP_MAX_EXTENSIONS)));
	info->extension_count = SPI_processed;
	for (int i = 0; i < info->extension_count; i++)
	{
		strlcpy(info->extensions[i].name,
				SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1),
				NAMEDATALEN);
		strlcpy(info->extensions[i].schema,
				SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2),
				NAMEDATALEN);
	}
	protech_backup_spi_finish(nestlevel);
	PopActiveSnapshot();
}

/*
 * pg_dump's command line for a backup stored as storage says: the fixed
 * arguments (format, lock wait timeout, compression, jobs, and for the
 * directory format the folder to write), then the words of
 * protech_backup.pg_dump_options.  Every value in it comes from a setting
 * its check hook validated or from the extension itself; the database and
 * the role travel in the environment, never as arguments.
 */
static const char **
pg_dump_argv(const char *pg_dump, const ProtechBackupStorage *storage,
			 const char *folder)
{
	List	   *extra;
	char	   *detail;
	const char **argv;
	int			argc = 0;
	ListCell   *lc;

	if (!protech_backup_parse_pg_dump_options(protech_backup_pg_dump_options,
											  &extra, &detail))
		elog(ERROR, "invalid protech_backup.pg_dump_options: %s", detail);
	argv = palloc((list_length(extra) + 8) * sizeof(char *));
	argv[argc++] = pg_dump;
	argv[argc++] = psprintf("--format=%s",
							protech_backup_format_options[storage->format].name);
	argv[argc++] = "--no-password";
	if (protech_backup_lock_wait_timeout > 0)
		argv[argc++] = psprintf("--lock-wait-timeout=%d",
								protech_backup_lock_wait_timeout);
	if (storage->format != PROTECH_BACKUP_FORMAT_PLAIN)
		argv[argc++] = psprintf("--compress=%d",
								storage->compressor == PROTECH_BACKUP_COMPRESSOR_PG_DUMP ?
								storage->level : 0);
	if (storage->format == PROTECH_BACKUP_FORMAT_DIRECTORY)
	{
		argv[argc++] = psprintf("--jobs=%d", protech_backup_jobs);
		argv[argc++] = psprintf("--file=%s", folder);
	}
	foreach(lc, extra)
		argv[argc++] = lfirst(lc);
	argv[argc] = NULL;
	return argv;
}

/*
 * Run program (pg_dump or pg_dumpall) with its output streamed into the new
 * file path, compressed here when storage says so, hashed as stored.  Sets
 * *size_bytes and sha256 (hex) of the file as stored.  The file is synced
 * and closed on return; *fd holds it meanwhile, for the error cleanup.
 * Returns the program's wait status.
 */
static int
dump_to_file(const char *program, const char *const *argv,
			 const char *const *envp, const ProtechBackupStorage *storage,
			 const char *path, int *fd, StringInfo output,
			 int64 *size_bytes, char *sha256)
{
	DumpSink	sink = {0};
	int			status;

	*fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | PG_BINARY,
			   S_IRUSR | S_IWUSR);
	if (*fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s\": %m", path)));
	if (fchmod(*fd, S_IRUSR | S_IWUSR) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not change the mode of file \"%s\" to 0600: %m",
						path)));

	sink.fd = *fd;
	sink.path = path;
	sink.sha256 = protech_backup_sha256_begin();
	if (storage->compressor == PROTECH_BACKUP_COMPRESSOR_STREAM)
		sink.codec = protech_backup_codec_begin(storage->method, storage->level,
												true, store_bytes, &sink);

	status = protech_backup_run_child(program, argv, envp, NULL, NULL,
									  write_dump_chunk, &sink, output,
									  protech_backup_timeout);
	if (status != 0)
		return status;
	if (sink.codec && !protech_backup_codec_end(sink.codec))
		elog(ERROR, "%s", protech_backup_codec_error(sink.codec));

	if (pg_fsync(*fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not fsync file \"%s\": %m", path)));
	if (close(*fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not close file \"%s\": %m", path)));
	*fd = -1;

	protech_backup_sha256_end(sink.sha256, sha256);
	*size_bytes = sink.bytes;
	return 0;
}

/*
 * Dump the cluster's roles and tablespaces (pg_dumpall --globals-only,
 * the pg_dumpall next to the running postgres) into
 * "<file_name>.globals.sql" beside the backup, durably, so that a restore
 * on a new server does not fail on missing roles.  A role that cannot read
 * pg_authid (not a superuser) dumps roles without their passwords.
 */
static void
dump_globals(const char *directory, const char *database, const char *role,
			 const char *const *envp, BackupFiles *files,
			 ProtechBackupInfo *info)
{
	ProtechBackupStorage as_is = {0};
	const char *argv[5];
	int			argc = 0;
	StringInfoData output;
	int			status;

	argv[argc++] = protech_backup_program_path("pg_dumpall");
	argv[argc++] = "--globals-only";
	argv[argc++] = "--no-password";
	if (!superuser_arg(get_role_oid(role, false)))
		argv[argc++] = "--no-role-passwords";
	argv[argc] = NULL;

	snprintf(info->globals_file, sizeof(info->globals_file), "%s%s",
			 info->file_name, PROTECH_BACKUP_GLOBALS_SUFFIX);
	protech_backup_build_path(files->globals_partial, directory,
							  info->globals_file, PROTECH_BACKUP_PARTIAL_SUFFIX);
	initStringInfo(&output);
	status = dump_to_file("pg_dumpall", argv, envp, &as_is,
						  files->globals_partial, &files->fd, &output,
						  &info->globals_size_bytes, info->globals_sha256);
	if (status != 0)
		report_dump_failure("pg_dumpall --globals-only", database, role,
							status, &output);
	protech_backup_build_path(files->globals_path, directory,
							  info->globals_file, "");
	protech_backup_durable_rename(files->globals_partial, files->globals_path,
								  directory);
	files->globals_partial[0] = '\0';
}

/*
 * Take one backup of protech_backup.database now, recorded with the given
 * trigger ("manual", "schedule", ...) for history row run_id (0 if none),
 * stored as protech_backup.format, .compression and .jobs say, verify it
 * as protech_backup.verify_after_backup says, then apply retention;
 * *retention_report says what retention deleted (NULL if nothing).
 * Returns the new backup's manifest entry.  Raises an error, having
 * removed every file it started, when anything fails before the backup is
 * complete; a combination of settings that cannot work is refused before
 * anything is written.  A backup whose verification fails is kept, its
 * manifest saying so, and the error raised.
 */
ProtechBackupInfo *
protech_backup_take(const char *trigger, int64 run_id,
					char **retention_report)
{
	ProtechBackupInfo *info = palloc0(sizeof(ProtechBackupInfo));
	BackupFiles files = {.fd = -1};
	char	   *database = pstrdup(protech_backup_database);
	char	   *directory;
	char	   *pg_dump;
	const char *role;
	const char **envp;
	ProtechBackupStorage storage;
	StringInfoData pg_dump_output;

	protech_backup_require_preload();
	protech_backup_storage_in_force(&storage);
	protech_backup_check_database(database);
	role = protech_backup_connection_role();
	pg_dump = protech_backup_program_path("pg_dump");
	envp = protech_backup_connection_environment(database, role);
	directory = protech_backup_resolved_directory();

	protech_backup_claim_slot(run_id);
	PG_ENSURE_ERROR_CLEANUP(release_backup, PointerGetDatum(&files));
	{
		const char **argv;
		int			status;

		strlcpy(info->pg_dump_version, check_pg_dump(pg_dump, envp),
				sizeof(info->pg_dump_version));
		ensure_directory(directory);
		protech_backup_remove_stale_partials(directory);
		check_free_space(directory);

		describe_database(info);
		info->started_at = GetCurrentTimestamp();
		choose_file_name(directory, info->started_at, storage.suffix,
						 info->file_name);
		protech_backup_slot_set_file(info->file_name);
		protech_backup_build_path(files.partial_path, directory,
								  info->file_name, PROTECH_BACKUP_PARTIAL_SUFFIX);
		argv = pg_dump_argv(pg_dump, &storage, files.partial_path);

		initStringInfo(&pg_dump_output);
		if (storage.format == PROTECH_BACKUP_FORMAT_DIRECTORY)
		{
			/* pg_dump writes the folder; what it prints is kept with stderr */
			status = protech_backup_run_child("pg_dump", argv, envp,
											  NULL, NULL, NULL, NULL,
											  &pg_dump_output,
											  protech_backup_timeout);
			if (status == 0)
				protech_backup_seal_folder(files.partial_path,
										   &info->size_bytes, info->sha256);
		}
		else
			status = dump_to_file("pg_dump", argv, envp, &storage,
								  files.partial_path, &files.fd,
								  &pg_dump_output, &info->size_bytes,
								  info->sha256);
		if (status != 0)
			report_dump_failure("pg_dump", database, role, status,
								&pg_dump_output);

		protech_backup_build_path(files.dump_path, directory,
								  info->file_name, "");
		if (storage.format == PROTECH_BACKUP_FORMAT_DIRECTORY)
			protech_backup_durable_rename_folder(files.partial_path,
												 files.dump_path);
		else
			protech_backup_durable_rename(files.partial_path, files.dump_path,
										  directory);
		files.partial_path[0] = '\0';

		dump_globals(directory, database, role, envp, &files, info);

		info->finished_at = GetCurrentTimestamp();
		strlcpy(info->database, database, sizeof(info->database));
		strlcpy(info->format,
				protech_backup_format_options[storage.format].name,
				sizeof(info->format));
		strlcpy(info->compression,
				protech_backup_compression_name(storage.method, storage.level),
				sizeof(info->compression));
		strlcpy(info->trigger, trigger, sizeof(info->trigger));
		strlcpy(info->server_version, PG_VERSION, sizeof(info->server_version));

		protech_backup_write_manifest(directory, info);
		files.dump_path[0] = '\0';
		files.globals_path[0] = '\0';

		/* a failed verification fails the run, before retention runs */
		protech_backup_verify_new_backup(directory, info);
		*retention_report = protech_backup_run_retention(directory);
	}
	PG_END_ENSURE_ERROR_CLEANUP(release_backup, PointerGetDatum(&files));
	release_backup(0, PointerGetDatum(&files));

	return info;
}

/*
 * SQL: protech_backup_now() RETURNS SETOF protech_backup_info
 *
 * Take a backup now, synchronously (in a worker of its own, see worker.c),
 * and return it as one row.
 */
Datum
protech_backup_now(PG_FUNCTION_ARGS)
{
	ProtechBackupInfo *info = protech_backup_run_manual();

	protech_backup_return_infos(fcinfo, list_make1(info));
	return (Datum) 0;
}
