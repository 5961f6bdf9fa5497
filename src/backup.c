/*-------------------------------------------------------------------------
 *
 * backup.c
 *		Take one backup: run pg_dump of protech_backup.database as a child
 *		process, stream its output into "<name>.partial" while compressing
 *		(when this extension compresses, see storage.c) and hashing it, then
 *		fsync, rename durably and write the manifest.  A directory-format
 *		dump is written by pg_dump itself into the folder "<name>.partial",
 *		then sealed (every file and the folder synced and hashed) and
 *		renamed durably.
 *
 * protech_backup_take() is the one code path every trigger uses (manual
 * calls, pg_cron, the scheduler), through protech_backup_run() (run.c).
 * It claims the cluster-wide backup slot and returns holding it, and
 * whatever error or exit interrupts it removes the files it was writing,
 * ends the server processes pg_dump left and gives the slot back, so a
 * backup is either complete and listed or absent.  A backup that would
 * start short of free space (protech_backup.min_free_space) is refused
 * before anything is written.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/xlog.h"
#include "commands/dbcommands.h"
#include "common/cryptohash.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "backup.h"
#include "child.h"
#include "database_properties.h"
#include "databases.h"
#include "durable.h"
#include "encrypt.h"
#include "extension.h"
#include "leave_out.h"
#include "manifest.h"
#include "pg_dump.h"
#include "programs.h"
#include "repository.h"
#include "settings.h"
#include "slot.h"
#include "stream.h"

/* a backup needs this many times the last backup's size free */
#define FREE_SPACE_FACTOR 1.2

/* the extra files of a backup, as slots of BackupFiles.extra_paths */
#define EXTRA_GLOBALS 0
#define EXTRA_PROPERTIES 1
#define EXTRA_FILES 2

/*
 * Files a backup in progress may leave behind, for the error cleanup.
 * Each path is cleared once the file it names is complete.
 */
typedef struct BackupFiles
{
	char		partial_path[MAXPGPATH];	/* dump (file or folder) being
											 * written */
	char		dump_path[MAXPGPATH];	/* dump renamed, manifest not yet */
	char		extra_partial[MAXPGPATH];	/* an extra file being written */
	/* the extra files renamed, manifest not yet (EXTRA_GLOBALS...) */
	char		extra_paths[EXTRA_FILES][MAXPGPATH];
	int			fd;
} BackupFiles;

/*
 * Error and exit cleanup of a backup: remove what is unfinished, end what
 * pg_dump left running on the server when it did not finish, and give the
 * directory's lock file and the cluster-wide slot back.
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
		protech_backup_terminate_pg_dump_backends();
		(void) protech_backup_remove_dump(files->partial_path);
	}
	if (files->dump_path[0] != '\0')
		(void) protech_backup_remove_dump(files->dump_path);
	if (files->extra_partial[0] != '\0')
		(void) protech_backup_remove_dump(files->extra_partial);
	for (int i = 0; i < lengthof(files->extra_paths); i++)
		if (files->extra_paths[i][0] != '\0')
			(void) protech_backup_remove_dump(files->extra_paths[i]);
	protech_backup_release_directory();
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
 * or than FREE_SPACE_FACTOR times the size of the newest of backups (the
 * directory's, newest first): better than filling the disk and failing at
 * the end.  0 turns the check off.
 */
static void
check_free_space(const char *directory, List *backups)
{
	int64		free_space;
	int64		min_free = (int64) protech_backup_min_free_space * 1024 * 1024;

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
 * Raise undefined_database unless database (protech_backup.database, or
 * one that protech_backup.databases lists) exists.
 */
void
protech_backup_check_database(const char *database)
{
	bool		home = strcmp(database, protech_backup_database) == 0;

	if (!OidIsValid(get_database_oid(database, true)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_DATABASE),
				 errmsg("database \"%s\" does not exist", database),
				 home ?
				 errdetail("protech_backup.database names the database to back up.") :
				 errdetail("protech_backup.databases lists it."),
				 home ?
				 errhint("Set protech_backup.database to an existing database and reload the configuration.") :
				 errhint("Create the database, or remove it from protech_backup.databases and reload the configuration.")));
}

/*
 * What a backup's manifest says of the database it dumps: the number of its
 * user tables (PROTECH_BACKUP_USER_TABLES), which a restore is checked
 * against; its encoding and locale, which a restore creates its database
 * with (pg_dump without --create records neither); whether every function
 * in it belongs to a superuser, without which a restore as a superuser is
 * refused (see restore.c); and its owner, whom a restore through
 * protech_backup.restore_role gives the new database.  One row, in the
 * database described, whichever way it is run (describe_database).
 */
#define DESCRIBE_QUERY \
	"SELECT (SELECT pg_catalog.count(*)::pg_catalog.int4 " \
	PROTECH_BACKUP_USER_TABLES "), " \
	"pg_catalog.pg_encoding_to_char(d.encoding), " \
	"CASE WHEN d.datlocprovider OPERATOR(pg_catalog.=) 'i' " \
	"THEN 'icu' ELSE 'libc' END, " \
	"d.datcollate, d.datctype, d.daticulocale, " \
	"NOT EXISTS (SELECT FROM pg_catalog.pg_proc p " \
	"JOIN pg_catalog.pg_authid a " \
	"ON a.oid OPERATOR(pg_catalog.=) p.proowner " \
	"WHERE NOT a.rolsuper), " \
	"pg_catalog.pg_get_userbyid(d.datdba) " \
	"FROM pg_catalog.pg_database d " \
	"WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()"
#define DESCRIBE_COLUMNS 8
/* its extensions, which a restore creates before the dump's statements run */
#define EXTENSIONS_QUERY \
	"SELECT e.extname, n.nspname FROM pg_catalog.pg_extension e " \
	"JOIN pg_catalog.pg_namespace n " \
	"ON n.oid OPERATOR(pg_catalog.=) e.extnamespace " \
	"ORDER BY e.oid"

/*
 * Fill info from the DESCRIBE_COLUMNS values of DESCRIBE_QUERY's row (as
 * text, NULL or "" for no ICU locale) and the extension_count pairs of
 * names and schemas of EXTENSIONS_QUERY's rows.
 */
static void
fill_description(ProtechBackupInfo *info, char **values,
				 int extension_count, char **extensions)
{
	if (extension_count > PROTECH_BACKUP_MAX_EXTENSIONS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("database has %d extensions, more than the %d a backup records",
						extension_count, PROTECH_BACKUP_MAX_EXTENSIONS)));
	info->tables = pg_strtoint32(values[0]);
	strlcpy(info->encoding, values[1], sizeof(info->encoding));
	strlcpy(info->locale_provider, values[2], sizeof(info->locale_provider));
	strlcpy(info->lc_collate, values[3], sizeof(info->lc_collate));
	strlcpy(info->lc_ctype, values[4], sizeof(info->lc_ctype));
	strlcpy(info->icu_locale, values[5] ? values[5] : "",
			sizeof(info->icu_locale));
	info->superuser_functions_only = strcmp(values[6], "t") == 0;
	strlcpy(info->database_owner, values[7], sizeof(info->database_owner));
	info->extension_count = extension_count;
	for (int i = 0; i < extension_count; i++)
	{
		strlcpy(info->extensions[i].name, extensions[2 * i], NAMEDATALEN);
		strlcpy(info->extensions[i].schema, extensions[2 * i + 1], NAMEDATALEN);
	}
}

/*
 * Record in info what the manifest says of the database this process is
 * connected to (see DESCRIBE_QUERY and EXTENSIONS_QUERY), and those of its
 * extensions that can live in it only (leave_out.c).  Read just before
 * pg_dump starts, in a snapshot of its own, so a table created or dropped
 * in between makes the count differ from what pg_dump's snapshot holds.
 */
static void
describe_database(ProtechBackupInfo *info)
{
	char	   *values[DESCRIBE_COLUMNS];
	char	  **extensions;
	int			nestlevel;

	PushActiveSnapshot(GetTransactionSnapshot());
	nestlevel = protech_backup_spi_connect();
	if (SPI_execute(DESCRIBE_QUERY, true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not describe the database");
	for (int i = 0; i < DESCRIBE_COLUMNS; i++)
		values[i] = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
								 i + 1);
	if (SPI_execute(EXTENSIONS_QUERY, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not list the extensions of the database");
	extensions = palloc((2 * SPI_processed + 1) * sizeof(char *));
	for (uint64 i = 0; i < SPI_processed; i++)
		for (int j = 0; j < 2; j++)
			extensions[2 * i + j] = SPI_getvalue(SPI_tuptable->vals[i],
												 SPI_tuptable->tupdesc, j + 1);
	fill_description(info, values, (int) SPI_processed, extensions);
	protech_backup_describe_single_database_extensions(info);
	protech_backup_spi_finish(nestlevel);
	PopActiveSnapshot();
}

/*
 * Record in info what the manifest says of database, another database than
 * the one this process is connected to (a background worker connects to
 * one database for its life): the same queries, run by psql in that
 * database with envp (see programs.c), which prints each value followed by
 * a zero byte (-z -0: no value holds one).
 */
static void
describe_other_database(const char *database, const char *const *envp,
						ProtechBackupInfo *info)
{
	const char *argv[PROTECH_BACKUP_PSQL_OPTIONS + 9];
	int			argc = protech_backup_psql_options(argv, true);
	StringInfoData printed;
	StringInfoData errors;
	char	   *values[DESCRIBE_COLUMNS + 2 * PROTECH_BACKUP_MAX_EXTENSIONS + 2];
	int			count = 0;
	int			status;

	argv[argc++] = "-A";
	argv[argc++] = "-t";
	argv[argc++] = "-z";
	argv[argc++] = "-0";
	argv[argc++] = "-c";
	argv[argc++] = DESCRIBE_QUERY;
	argv[argc++] = "-c";
	argv[argc++] = EXTENSIONS_QUERY;
	argv[argc] = NULL;
	initStringInfo(&printed);
	initStringInfo(&errors);
	status = protech_backup_run_child("psql", argv, envp, NULL, NULL,
									  protech_backup_collect_output, &printed,
									  &errors, protech_backup_timeout);
	for (int at = 0; status == 0 && at < printed.len &&
		 count < lengthof(values); at += strlen(printed.data + at) + 1)
		values[count++] = printed.data + at;
	if (status != 0 || count < DESCRIBE_COLUMNS ||
		(count - DESCRIBE_COLUMNS) % 2 != 0)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("could not describe database \"%s\" for its backup",
						database),
				 errdetail("psql printed:\n%s",
						   protech_backup_last_lines(&errors, 10))));
	fill_description(info, values, (count - DESCRIBE_COLUMNS) / 2,
					 values + DESCRIBE_COLUMNS);
}

/*
 * Run program (pg_dump or pg_dumpall) with its output streamed into the new
 * file path through the chain [compress] -> [encrypt] -> hash -> progress
 * -> file (compressed here when storage says so, encrypted with age when
 * there are recipients, hashed as stored).  Sets
 * *size_bytes and sha256 (hex) of the file as stored.  The file is synced
 * and closed on return; *fd holds it meanwhile, for the error cleanup.
 * Returns the program's wait status.
 */
static int
dump_to_file(const char *program, const char *const *argv,
			 const char *const *envp, const ProtechBackupStorage *storage,
			 const ProtechBackupRecipients *recipients,
			 const char *path, int *fd, StringInfo output,
			 int64 *size_bytes, char *sha256)
{
	ProtechBackupStream *file;
	ProtechBackupStream *hash;
	ProtechBackupStream *head;
	ProtechBackupStream *compress = NULL;
	int			status;

	file = protech_backup_stream_file(path, fd);
	hash = protech_backup_stream_hash(protech_backup_stream_progress(file));
	head = hash;
	if (recipients->count > 0)
		head = protech_backup_stream_encrypt(recipients, head);
	if (storage->compressor == PROTECH_BACKUP_COMPRESSOR_STREAM)
		head = compress = protech_backup_stream_codec(storage->method,
													  storage->level, true,
													  head);

	status = protech_backup_run_child(program, argv, envp, NULL, NULL,
									  protech_backup_stream_sink, head, output,
									  protech_backup_timeout);
	if (status != 0)
		return status;
	protech_backup_stream_finish(head);
	if (compress && protech_backup_stream_codec_error(compress))
		elog(ERROR, "%s", protech_backup_stream_codec_error(compress));
	protech_backup_stream_hash_result(hash, size_bytes, sha256);
	return 0;
}

/*
 * The name of an extra file of the backup info describes: the dump's name
 * plus suffix, plus ".age" when the backup is encrypted (every extra file
 * is encrypted as the dump is, see dump_to_file), into name (MAXPGPATH).
 */
static void
extra_file_name(const ProtechBackupInfo *info, const char *suffix, char *name)
{
	snprintf(name, MAXPGPATH, "%s%s%s", info->file_name, suffix,
			 info->recipients.count > 0 ? PROTECH_BACKUP_AGE_SUFFIX : "");
}

/*
 * Write one extra file of a backup beside its dump, durably, named by
 * extra_file_name: the output of program (argv, connected as envp says)
 * through the chain of dump_to_file, without compression, encrypted as the
 * dump is.  Every extra file of a backup (the globals, the database-level
 * properties) is written here, so that each stage of this path applies to
 * all of them.  Sets name, *size_bytes and sha256 for the manifest; slot
 * is the entry of files->extra_paths that holds the renamed file until the
 * manifest is written.
 */
static void
dump_extra_file(const char *program, const char *what,
				const char *const *argv, const char *directory,
				const char *database, const char *role,
				const char *const *envp, BackupFiles *files, int slot,
				const ProtechBackupInfo *info, const char *suffix,
				char *name, int64 *size_bytes, char *sha256)
{
	ProtechBackupStorage as_is = {0};
	StringInfoData output;
	int			status;

	extra_file_name(info, suffix, name);
	protech_backup_build_path(files->extra_partial, directory, name,
							  PROTECH_BACKUP_PARTIAL_SUFFIX);
	initStringInfo(&output);
	status = dump_to_file(program, argv, envp, &as_is, &info->recipients,
						  files->extra_partial, &files->fd, &output,
						  size_bytes, sha256);
	if (status != 0)
		protech_backup_report_dump_failure(what, database, role, status,
										   &output);
	protech_backup_build_path(files->extra_paths[slot], directory, name, "");
	protech_backup_durable_rename(files->extra_partial,
								  files->extra_paths[slot], directory);
	files->extra_partial[0] = '\0';
}

/*
 * Dump the cluster's roles and tablespaces (pg_dumpall --globals-only,
 * the pg_dumpall next to the running postgres) into
 * "<file_name>.globals.sql" beside the backup (encrypted like the dump,
 * then named "<file_name>.globals.sql.age"), so that a restore on a new
 * server does not fail on missing roles.  A role that cannot read
 * pg_authid (not a superuser) dumps roles without their passwords.
 */
static void
dump_globals(const char *directory, const char *database, const char *role,
			 const char *const *envp, BackupFiles *files,
			 ProtechBackupInfo *info)
{
	const char *argv[5];
	int			argc = 0;

	argv[argc++] = protech_backup_program_path("pg_dumpall");
	argv[argc++] = "--globals-only";
	argv[argc++] = "--no-password";
	if (!superuser_arg(get_role_oid(role, false)))
		argv[argc++] = "--no-role-passwords";
	argv[argc] = NULL;
	dump_extra_file("pg_dumpall", "pg_dumpall --globals-only", argv,
					directory, database, role, envp, files, EXTRA_GLOBALS,
					info, PROTECH_BACKUP_GLOBALS_SUFFIX, info->globals_file,
					&info->globals_size_bytes, info->globals_sha256);
}

/*
 * Dump the database-level properties of database, the one backed up (see
 * database_properties.c: psql connected to it as envp says), into
 * "<file_name>.database.sql" beside the backup (encrypted like the dump,
 * then named "<file_name>.database.sql.age"): what pg_dump without
 * --create leaves out.  Each backup of a run dumps its own (never linked as
 * the globals are: they describe its database only).
 */
static void
dump_properties(const char *directory, const char *database,
				const char *role, const char *const *envp,
				BackupFiles *files, ProtechBackupInfo *info)
{
	dump_extra_file("psql", "psql (the database-level properties)",
					protech_backup_database_properties_argv(),
					directory, database, role, envp, files, EXTRA_PROPERTIES,
					info, PROTECH_BACKUP_PROPERTIES_SUFFIX,
					info->properties_file, &info->properties_size_bytes,
					info->properties_sha256);
}

/*
 * Whether a and b encrypt to the same public keys (or both encrypt not).
 */
static bool
same_recipients(const ProtechBackupRecipients *a,
				const ProtechBackupRecipients *b)
{
	if (a->count != b->count)
		return false;
	for (int i = 0; i < a->count; i++)
		if (strcmp(a->keys[i], b->keys[i]) != 0)
			return false;
	return true;
}

/*
 * The globals of a backup, as the first backup of a run of several
 * databases dumped them (shared->globals_file "" until then): linked under
 * this backup's name when it can be, so that pg_dumpall runs once per run
 * while every backup keeps a globals file of its own (retention deletes
 * each link alone); dumped otherwise, or when the encryption recipients
 * changed in between (a reload), since the file is encrypted to them.
 */
static void
take_globals(const char *directory, const char *database, const char *role,
			 const char *const *envp, BackupFiles *files,
			 ProtechBackupInfo *info, ProtechBackupInfo *shared)
{
	char		shared_path[MAXPGPATH];

	if (shared != NULL && shared->globals_file[0] != '\0' &&
		same_recipients(&shared->recipients, &info->recipients))
	{
		extra_file_name(info, PROTECH_BACKUP_GLOBALS_SUFFIX, info->globals_file);
		protech_backup_build_path(shared_path, directory,
								  shared->globals_file, "");
		protech_backup_build_path(files->extra_partial, directory,
								  info->globals_file, PROTECH_BACKUP_PARTIAL_SUFFIX);
		if (link(shared_path, files->extra_partial) == 0)
		{
			info->globals_size_bytes = shared->globals_size_bytes;
			strlcpy(info->globals_sha256, shared->globals_sha256,
					sizeof(info->globals_sha256));
			protech_backup_build_path(files->extra_paths[EXTRA_GLOBALS],
									  directory, info->globals_file, "");
			protech_backup_durable_rename(files->extra_partial,
										  files->extra_paths[EXTRA_GLOBALS],
										  directory);
			files->extra_partial[0] = '\0';
			return;
		}
		files->extra_partial[0] = '\0';
	}
	dump_globals(directory, database, role, envp, files, info);
	if (shared != NULL)
		memcpy(shared, info, sizeof(ProtechBackupInfo));
}

/*
 * Take one backup of database now (protech_backup.database, or another
 * database of protech_backup.databases), recorded with the given
 * trigger ("manual", "schedule", ...) for history row run_id (0 if none),
 * stored as protech_backup.format, .compression and .jobs say, in
 * directory.  Returns the new backup's manifest entry, still holding the
 * cluster-wide backup slot, so that the caller verifies it and applies
 * retention before anything else writes there (see run.c), then gives the
 * slot back; *listed is set to the backups the directory held before, as
 * listed once under its lock file (protech_backup_scan_directory), which
 * the free-space check and the caller's retention work from.  Raises an
 * error, having removed every file it started and given the slot back,
 * when anything fails before the backup is complete; a combination of
 * settings that cannot work is refused before anything is written.
 * shared, when not NULL, carries the globals from one backup of a run to
 * the next (see take_globals).
 */
ProtechBackupInfo *
protech_backup_take(const char *trigger, int64 run_id, const char *directory,
					const char *database, ProtechBackupInfo *shared,
					List **listed)
{
	ProtechBackupInfo *info = palloc0(sizeof(ProtechBackupInfo));
	BackupFiles files = {.fd = -1};
	bool		connected = get_database_oid(database, true) == MyDatabaseId;
	char	   *pg_dump;
	const char *role;
	const char **envp;
	ProtechBackupStorage storage;
	StringInfoData pg_dump_output;

	protech_backup_require_preload();
	protech_backup_storage_in_force(&storage);
	info->recipients = *protech_backup_recipients_in_force();
	protech_backup_check_database(database);
	role = protech_backup_connection_role();
	pg_dump = protech_backup_program_path("pg_dump");
	envp = protech_backup_connection_environment(database, role);

	protech_backup_claim_directory(directory, run_id);
	PG_ENSURE_ERROR_CLEANUP(release_backup, PointerGetDatum(&files));
	{
		const char **argv;
		int			status;

		strlcpy(info->pg_dump_version, protech_backup_check_pg_dump(pg_dump, envp),
				sizeof(info->pg_dump_version));
		*listed = protech_backup_scan_directory(directory);
		check_free_space(directory, *listed);

		if (connected)
			describe_database(info);
		else
			describe_other_database(database, envp, info);
		info->started_at = GetCurrentTimestamp();
		protech_backup_choose_file_name(directory, info->started_at,
										protech_backup_many_databases() ?
										database : NULL,
										psprintf("%s%s", storage.suffix,
												 info->recipients.count > 0 ?
												 PROTECH_BACKUP_AGE_SUFFIX : ""),
										info->file_name);
		protech_backup_slot_set_file(info->file_name);
		protech_backup_build_path(files.partial_path, directory,
								  info->file_name, PROTECH_BACKUP_PARTIAL_SUFFIX);
		argv = protech_backup_pg_dump_argv(pg_dump, &storage, files.partial_path);

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
								  &info->recipients, files.partial_path, &files.fd,
								  &pg_dump_output, &info->size_bytes,
								  info->sha256);
		if (status != 0)
			protech_backup_report_dump_failure("pg_dump", database, role,
											   status, &pg_dump_output);

		protech_backup_build_path(files.dump_path, directory,
								  info->file_name, "");
		if (storage.format == PROTECH_BACKUP_FORMAT_DIRECTORY)
			protech_backup_durable_rename_folder(files.partial_path,
												 files.dump_path);
		else
			protech_backup_durable_rename(files.partial_path, files.dump_path,
										  directory);
		files.partial_path[0] = '\0';

		take_globals(directory, database, role, envp, &files, info, shared);
		dump_properties(directory, database, role, envp, &files, info);

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
		/* never in recovery: a standby refuses to take backups */
		info->system_identifier = GetSystemIdentifier();
		info->timeline = GetWALInsertionTimeLine();

		protech_backup_write_manifest(directory, info);
		files.dump_path[0] = '\0';
		for (int i = 0; i < lengthof(files.extra_paths); i++)
			files.extra_paths[i][0] = '\0';
	}
	PG_END_ENSURE_ERROR_CLEANUP(release_backup, PointerGetDatum(&files));

	return info;
}
