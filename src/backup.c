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
#include "durable.h"
#include "extension.h"
#include "manifest.h"
#include "pg_dump.h"
#include "programs.h"
#include "repository.h"
#include "settings.h"
#include "slot.h"
#include "stream.h"

/* a backup needs this many times the last backup's size free */
#define FREE_SPACE_FACTOR 1.2

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
	/* the extra files renamed (globals, properties), manifest not yet */
	char		extra_paths[2][MAXPGPATH];
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
 * Run program (pg_dump or pg_dumpall) with its output streamed into the new
 * file path through the chain [compress] -> hash -> progress -> file
 * (compressed here when storage says so, hashed as stored).  Sets
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
	ProtechBackupStream *file;
	ProtechBackupStream *hash;
	ProtechBackupStream *compress = NULL;
	int			status;

	file = protech_backup_stream_file(path, fd);
	hash = protech_backup_stream_hash(protech_backup_stream_progress(file));
	if (storage->compressor == PROTECH_BACKUP_COMPRESSOR_STREAM)
		compress = protech_backup_stream_codec(storage->method, storage->level,
											   true, hash);

	status = protech_backup_run_child(program, argv, envp, NULL, NULL,
									  protech_backup_stream_sink,
									  compress ? compress : hash, output,
									  protech_backup_timeout);
	if (status != 0)
		return status;
	protech_backup_stream_finish(compress ? compress : hash);
	if (compress && protech_backup_stream_codec_error(compress))
		elog(ERROR, "%s", protech_backup_stream_codec_error(compress));
	protech_backup_stream_hash_result(hash, size_bytes, sha256);
	return 0;
}

/*
 * Write one extra file of a backup, "<file_name><suffix>" beside its dump,
 * durably: the output of program (argv, connected as envp says) through
 * the chain of dump_to_file, as stored without compression.  Every extra
 * file of a backup (the globals, the database-level properties) is written
 * here, so that each stage of this path applies to all of them.  Sets
 * name, *size_bytes and sha256 for the manifest; slot is the entry of
 * files->extra_paths that holds the renamed file until the manifest is
 * written.
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

	snprintf(name, MAXPGPATH, "%s%s", info->file_name, suffix);
	protech_backup_build_path(files->extra_partial, directory, name,
							  PROTECH_BACKUP_PARTIAL_SUFFIX);
	initStringInfo(&output);
	status = dump_to_file(program, argv, envp, &as_is, files->extra_partial,
						  &files->fd, &output, size_bytes, sha256);
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
 * "<file_name>.globals.sql" beside the backup, so that a restore on a new
 * server does not fail on missing roles; and the database-level properties
 * of the backed-up database (see database_properties.c) into
 * "<file_name>.database.sql", which pg_dump without --create leaves out.
 * A role that cannot read pg_authid (not a superuser) dumps roles without
 * their passwords.
 */
static void
dump_globals_and_properties(const char *directory, const char *database,
							const char *role, const char *const *envp,
							BackupFiles *files, ProtechBackupInfo *info)
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
					directory, database, role, envp, files, 0, info,
					PROTECH_BACKUP_GLOBALS_SUFFIX, info->globals_file,
					&info->globals_size_bytes, info->globals_sha256);
	dump_extra_file("psql", "psql (the database-level properties)",
					protech_backup_database_properties_argv(),
					directory, database, role, envp, files, 1, info,
					PROTECH_BACKUP_PROPERTIES_SUFFIX, info->properties_file,
					&info->properties_size_bytes, info->properties_sha256);
}

/*
 * Take one backup of protech_backup.database now, recorded with the given
 * trigger ("manual", "schedule", ...) for history row run_id (0 if none),
 * stored as protech_backup.format, .compression and .jobs say, in
 * directory.  Returns the new backup's manifest entry, still holding the
 * cluster-wide backup slot, so that the caller verifies it and applies
 * retention before anything else writes there (see run.c), then gives the
 * slot back.  Raises an error, having removed every file it started and
 * given the slot back, when anything fails before the backup is complete;
 * a combination of settings that cannot work is refused before anything
 * is written.
 */
ProtechBackupInfo *
protech_backup_take(const char *trigger, int64 run_id, const char *directory)
{
	ProtechBackupInfo *info = palloc0(sizeof(ProtechBackupInfo));
	BackupFiles files = {.fd = -1};
	char	   *database = pstrdup(protech_backup_database);
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

	protech_backup_claim_directory(directory, run_id);
	PG_ENSURE_ERROR_CLEANUP(release_backup, PointerGetDatum(&files));
	{
		const char **argv;
		int			status;

		strlcpy(info->pg_dump_version, protech_backup_check_pg_dump(pg_dump, envp),
				sizeof(info->pg_dump_version));
		protech_backup_remove_stale_partials(directory);
		check_free_space(directory);

		describe_database(info);
		info->started_at = GetCurrentTimestamp();
		protech_backup_choose_file_name(directory, info->started_at,
										storage.suffix, info->file_name);
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
								  files.partial_path, &files.fd,
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

		dump_globals_and_properties(directory, database, role, envp,
									&files, info);

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
