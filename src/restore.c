/*-------------------------------------------------------------------------
 *
 * restore.c
 *		Restore a stored backup into a new database of this server, count
 *		its tables and rows, and drop it again when it was only a scratch
 *		database or the restore failed: what the SQL function
 *		protech_backup_restore() and a verification run, and the removal of
 *		scratch databases a crash left behind.  Built on programs.c,
 *		child.c, repository.c, stream.c, encrypt.c (every file of a
 *		backup is read through protech_backup_stored_reader), globals.c,
 *		database_properties.c, and archive_toc.c and selection.c for a
 *		selective restore (only some tables or schemas).
 *
 * CREATE DATABASE and DROP DATABASE cannot run inside a function's
 * transaction, so everything goes through client programs run by the child
 * runner (child.c), connected to this server (see programs.c): psql, as
 * protech_backup.role, creates and drops the database (connected to the
 * database the caller is in) and creates in it the extensions the backup
 * records; then, as protech_backup.restore_role when it is set (else as
 * protech_backup.role), psql restores a plain dump with ON_ERROR_STOP, or
 * pg_restore --exit-on-error the custom and directory formats, and psql
 * counts; last, psql as protech_backup.role gives the new database the
 * database-level properties the backup saved (owner, comment, ACL,
 * settings...: database_properties.c), as pg_dump --create would have.
 *
 * A restore runs the code of the backed-up database's users: the
 * functions its CHECK constraints, defaults, index expressions, policies
 * and materialized views call, with the rights of the role restoring.  So
 * it runs as a superuser only when the backup's manifest says that every
 * function of the database belonged to a superuser; otherwise it needs
 * protech_backup.restore_role, a role that is no superuser, which owns the
 * new database (protech_backup_check_restore_rights).  The extensions are
 * created by protech_backup.role before the dump's statements run, so the
 * restore role needs not be able to; the dump's COMMENT ON EXTENSION of
 * them, which only their owner may run, is passed over in the restore
 * role's sessions (restore_process_utility).  What this extension
 * compressed itself (plain .sql.gz and .sql.zst, custom .dump.zst) is
 * decompressed by the stream pipeline's reader (stream.c), one buffer at a
 * time, into the program's standard input; pg_dump's own gzip is read by
 * pg_restore.  An encrypted backup is read through age -d with
 * protech_backup.encryption_identity_file (encrypt.c), into that reader.  The calling process waits in the child runner's latch loop,
 * so cancel, statement_timeout, termination and protech_backup.timeout
 * stop the program at once.
 *
 * The database is dropped (DROP DATABASE ... WITH (FORCE), since the
 * session of a killed program may linger) by an error cleanup callback, so
 * whatever ends the restore (an error, cancel, termination) drops it before
 * the error returns; a normal end drops a scratch database the same way.
 * Creating and dropping run with cancel interrupts held, so that a cancel
 * or statement_timeout never leaves the creation half known or the drop
 * half done.  A scratch database is named protech_backup_verify_<pid>_<random>,
 * which cannot clash, and which the scheduler recognises at start to drop
 * those a crash left (or a termination in the middle of CREATE DATABASE,
 * whose server session may still finish it after psql is killed).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <unistd.h>

#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/procarray.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/wait_event.h"

#include "archive_toc.h"
#include "child.h"
#include "database_properties.h"
#include "encrypt.h"
#include "globals.h"
#include "extension.h"
#include "leave_out.h"
#include "programs.h"
#include "repository.h"
#include "restore.h"
#include "selection.h"
#include "settings.h"
#include "stream.h"

/* scratch databases: this prefix, a pid, "_" and 8 hex digits */
#define SCRATCH_PREFIX PROTECH_BACKUP_PREFIX "verify_"
#define SCRATCH_PATTERN "^" SCRATCH_PREFIX "[0-9]+_[0-9a-f]{8}$"

/* how long creating or dropping a database may wait for a lock */
#define DATABASE_LOCK_TIMEOUT "SET lock_timeout = '1min'"

/* lines of a failed program's output quoted when no error line is found */
#define FAILURE_TAIL_LINES 10
/* longest excerpt of a failed program's output that is quoted */
#define FAILURE_EXCERPT_BYTES 1500

/*
 * Count the user tables of the database, and the rows of each (ONLY, so
 * that a partitioned or inherited table's rows are counted once, in the
 * table that holds them), in one statement: query_to_xml runs the count of
 * each table, and the count is taken out of its XML.
 */
#define COUNT_QUERY \
	"SELECT pg_catalog.count(*), coalesce(pg_catalog.sum(" \
	"pg_catalog.substring(pg_catalog.query_to_xml(pg_catalog.format(" \
	"'SELECT pg_catalog.count(*) AS n FROM ONLY %I.%I', n.nspname, c.relname), " \
	"false, true, '')::pg_catalog.text, '<n>(\\d+)</n>')::pg_catalog.int8), 0) " \
	PROTECH_BACKUP_USER_TABLES

/*
 * The database a restore creates, for the error cleanup that drops it.
 */
typedef struct TargetDatabase
{
	const char *name;
	const char *owner;			/* protech_backup.restore_role, or NULL */
	const char *const *maintenance_envp;	/* psql in the caller's database */
	bool		created;
} TargetDatabase;

static ProcessUtility_hook_type prev_process_utility_hook = NULL;

/*
 * What a failed psql or pg_restore printed, for an error detail: from its
 * first error line on ("psql:FILE:LINE: ERROR:  ..." with psql's CONTEXT,
 * "pg_restore: error: ..." with its "Command was: ..."), which says which
 * statement failed, or its last lines when no such line was kept; at most
 * FAILURE_EXCERPT_BYTES of it.
 */
static char *
failure_excerpt(StringInfo output)
{
	char	   *excerpt = NULL;

	for (char *line = output->data; *line != '\0';)
	{
		char	   *end = strchr(line, '\n');
		char	   *error = strstr(line, " ERROR: ");

		if ((strncmp(line, "psql:", 5) == 0 && error && (!end || error < end)) ||
			strncmp(line, "pg_restore: error: ", 19) == 0)
		{
			excerpt = line;
			break;
		}
		if (end == NULL)
			break;
		line = end + 1;
	}
	if (excerpt == NULL)
		excerpt = protech_backup_last_lines(output, FAILURE_TAIL_LINES);
	excerpt = pnstrdup(excerpt,
					   pg_mbcliplen(excerpt, strlen(excerpt), FAILURE_EXCERPT_BYTES));
	for (size_t len = strlen(excerpt); len > 0 && excerpt[len - 1] == '\n';)
		excerpt[--len] = '\0';
	return excerpt;
}

/*
 * Run psql with one SQL command (after pinning search_path, and setting a
 * lock timeout so that it cannot wait forever) with the connection
 * environment envp (the caller's
 * database, or the new one), with cancel interrupts held.  Returns its wait
 * status; what it printed goes to output.
 */
static int
run_database_command(const TargetDatabase *db, const char *const *envp,
					 const char *command, StringInfo output)
{
	const char *argv[PROTECH_BACKUP_PSQL_OPTIONS + 5];
	int			argc = protech_backup_psql_options(argv, true);
	int			status;

	argv[argc++] = "-c";
	argv[argc++] = DATABASE_LOCK_TIMEOUT;
	argv[argc++] = "-c";
	argv[argc++] = command;
	argv[argc] = NULL;

	HOLD_CANCEL_INTERRUPTS();
	status = protech_backup_run_child("psql", argv, envp,
									  NULL, NULL, NULL, NULL, output,
									  protech_backup_timeout);
	RESUME_CANCEL_INTERRUPTS();
	return status;
}

/*
 * Drop database db->name if this restore created it.  A failure is
 * reported at elevel (WARNING from the error cleanup, ERROR otherwise),
 * saying how to drop it by hand.
 */
static void
drop_database(TargetDatabase *db, int elevel)
{
	StringInfoData output;
	int			status;

	if (!db->created)
		return;
	initStringInfo(&output);
	status = run_database_command(db, db->maintenance_envp,
								  psprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)",
										   quote_identifier(db->name)),
								  &output);
	if (status != 0)
	{
		ereport(elevel,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("could not drop database \"%s\": psql %s",
						db->name, wait_result_to_str(status)),
				 errdetail("psql printed:\n%s",
						   protech_backup_last_lines(&output, FAILURE_TAIL_LINES)),
				 errhint("Drop it by hand with DROP DATABASE %s WITH (FORCE).",
						 quote_identifier(db->name))));
		return;
	}
	db->created = false;
}

/*
 * Error and exit cleanup of a restore: drop the database it created.
 */
static void
drop_database_on_error(int code, Datum arg)
{
	drop_database((TargetDatabase *) DatumGetPointer(arg), WARNING);
}

/*
 * Create database db->name, empty, from template0, with the encoding and
 * locale info records (those of the backed-up database), owned by db->owner
 * when there is one.  Raises an error saying what psql printed when that
 * fails.  A scratch database counts as created from the start, since its
 * name is nobody else's: an interruption then drops it if it came to exist.
 */
static void
create_database(TargetDatabase *db, const ProtechBackupInfo *info,
				bool scratch)
{
	StringInfoData command;
	StringInfoData output;
	int			status;

	initStringInfo(&command);
	appendStringInfo(&command,
					 "CREATE DATABASE %s TEMPLATE template0 ENCODING %s "
					 "LOCALE_PROVIDER %s LC_COLLATE %s LC_CTYPE %s",
					 quote_identifier(db->name),
					 quote_literal_cstr(info->encoding),
					 info->locale_provider,
					 quote_literal_cstr(info->lc_collate),
					 quote_literal_cstr(info->lc_ctype));
	if (info->icu_locale[0] != '\0')
		appendStringInfo(&command, " ICU_LOCALE %s",
						 quote_literal_cstr(info->icu_locale));
	if (db->owner != NULL)
		appendStringInfo(&command, " OWNER %s", quote_identifier(db->owner));

	db->created = scratch;
	initStringInfo(&output);
	status = run_database_command(db, db->maintenance_envp, command.data,
								  &output);
	if (status != 0)
	{
		char	   *printed = protech_backup_last_lines(&output, FAILURE_TAIL_LINES);

		db->created = false;
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("could not create database \"%s\": psql %s",
						db->name, wait_result_to_str(status)),
				 errdetail("psql printed:\n%s", printed),
				 strstr(printed, "permission denied") ?
				 errhint("Let protech_backup.role create databases (CREATEDB).") : 0));
	}
	db->created = true;
}

/*
 * The role a restore through protech_backup.restore_role gives the new
 * database: the backed-up database's owner, when it is no superuser and the
 * restore role has its privileges (by membership, which it needs anyway to
 * give the restored objects their owners), so that the restored objects
 * may be given their owners where the owner's rights on the database count
 * (CREATE on schema public); else the restore role itself.
 */
static const char *
restored_database_owner(const ProtechBackupInfo *info)
{
	Oid			owner = info->database_owner[0] ?
		get_role_oid(info->database_owner, true) : InvalidOid;

	if (OidIsValid(owner) && !superuser_arg(owner) &&
		has_privs_of_role(get_role_oid(protech_backup_restore_role, false),
						  owner))
		return info->database_owner;
	return protech_backup_restore_role;
}

/*
 * Prepare the new database db->name for the dump, as role
 * (protech_backup.role), before any statement of the dump runs: create the
 * extensions info records, in the order they were created in the backed-up
 * database, each in its schema (the dump's CREATE EXTENSION IF NOT EXISTS
 * then passes over them, and a restore role that is no superuser needs not
 * create them); only those whose schema every new database has (public,
 * pg_catalog), since the dump creates the other schemas, and so the
 * extensions in them; not those a restore into db->name leaves out
 * (leave_out.c), nor, in a selective restore (selection not NULL), those
 * it does not take.  Then, for a restore through
 * protech_backup.restore_role, give the database its owner (see
 * restored_database_owner), only now, so that no other role may create
 * anything in it while the extensions' scripts run.  Raises an error
 * saying what psql printed when that fails.
 */
static void
prepare_database(const TargetDatabase *db, const ProtechBackupInfo *info,
				 const char *role, const ProtechBackupSelection *selection)
{
	StringInfoData command;
	StringInfoData output;
	int			status;

	initStringInfo(&command);
	for (int i = 0; i < info->extension_count; i++)
	{
		const ProtechBackupExtension *extension = &info->extensions[i];

		if ((strcmp(extension->schema, "public") == 0 ||
			 strcmp(extension->schema, "pg_catalog") == 0) &&
			!protech_backup_extension_left_out(info, db->name, extension->name) &&
			protech_backup_selection_has_extension(selection, extension->name))
			appendStringInfo(&command,
							 "CREATE EXTENSION IF NOT EXISTS %s WITH SCHEMA %s; ",
							 quote_identifier(extension->name),
							 quote_identifier(extension->schema));
	}
	if (db->owner != NULL &&
		strcmp(restored_database_owner(info), db->owner) != 0)
		appendStringInfo(&command, "ALTER DATABASE %s OWNER TO %s; ",
						 quote_identifier(db->name),
						 quote_identifier(restored_database_owner(info)));
	if (command.len == 0)
		return;

	initStringInfo(&output);
	status = run_database_command(db,
								  protech_backup_connection_environment(db->name, role),
								  command.data, &output);
	if (status != 0)
	{
		char	   *printed = protech_backup_last_lines(&output, FAILURE_TAIL_LINES);

		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("could not prepare database \"%s\" for backup \"%s\": psql %s",
						db->name, info->file_name, wait_result_to_str(status)),
				 errdetail("psql printed:\n%s", printed),
				 !strstr(printed, "can only create extension in database") ?
				 errhint("Install the extensions the backup needs on this server.") :
				 info->single_database_extensions[0] == '\0' ?
				 errhint("An extension of the backup can live in one database only (pg_cron), and the backup's manifest, older than protech_backup 1.2, does not say so: restore it into the database it was taken of, or take a new backup, whose restore into another name leaves the extension out.") :
				 errhint("The extension can live only in the database its setting names (pg_cron: cron.database_name): restore into another name, which leaves it out, or name this database in that setting.")));
	}
}

/*
 * A libpq connection string naming database, for pg_restore's --dbname (a
 * plain name there would be taken as a connection string when it contains
 * "=").
 */
static char *
dbname_conninfo(const char *database)
{
	StringInfoData conninfo;

	initStringInfo(&conninfo);
	appendStringInfoString(&conninfo, "dbname='");
	for (const char *c = database; *c; c++)
	{
		if (*c == '\'' || *c == '\\')
			appendStringInfoChar(&conninfo, '\\');
		appendStringInfoChar(&conninfo, *c);
	}
	appendStringInfoChar(&conninfo, '\'');
	return conninfo.data;
}

/*
 * The method a restore decompresses the stored backup with: the one this
 * extension compressed it with, none when pg_dump compressed it.
 */
static ProtechBackupMethod
stream_method(const ProtechBackupStorage *storage)
{
	return storage->compressor == PROTECH_BACKUP_COMPRESSOR_STREAM ?
		storage->method : PROTECH_BACKUP_METHOD_NONE;
}

/*
 * The stored backup at path read as a restore's program takes it on its
 * standard input (decrypted when encrypted, decompressed when this
 * extension compressed it: protech_backup_stored_reader), or NULL when the
 * program reads the file itself; a plain dump is always read when
 * leave_out is set, for the filter it flows through.
 */
static ProtechBackupStreamReader *
open_backup_stream(const char *path, const ProtechBackupStorage *storage,
				   bool leave_out)
{
	if (storage->compressor == PROTECH_BACKUP_COMPRESSOR_STREAM ||
		protech_backup_is_encrypted_name(path) ||
		(leave_out && storage->format == PROTECH_BACKUP_FORMAT_PLAIN))
		return protech_backup_stored_reader(path, stream_method(storage));
	return NULL;
}

/*
 * Add to argv (from *argc on) pg_restore's options that leave out of a
 * custom or directory archive at path what a restore of the backup info
 * describes into target leaves out (see leave_out.c), and what a
 * selective restore does not take (when selection is not NULL: see
 * selection.c): -L with the archive's list, those entries commented
 * out, and -N for each of the left-out schemas.  *list_file is the
 * temporary file of the list.  False with *problem when the archive could
 * not be listed.
 */
static bool
restrict_archive(const char *path, const ProtechBackupStorage *storage,
				 const ProtechBackupInfo *info, const char *target,
				 const ProtechBackupSelection *selection,
				 const char *const *envp,
				 const char **argv, int *argc, File *list_file,
				 char **problem)
{
	ProtechBackupStreamReader *reader = open_backup_stream(path, storage, false);
	const char *list_argv[] = {argv[0], "--list", reader ? NULL : path, NULL};
	char	   *list_path;
	bool		listed;
	ListCell   *lc;

	listed = protech_backup_restore_list(info, target, selection != NULL,
										 selection ? selection->wanted : NULL,
										 list_argv, envp,
										 reader ? protech_backup_stream_read : NULL,
										 reader, &list_path, list_file, problem);
	if (reader)
		protech_backup_stream_reader_close(reader);
	if (!listed)
		return false;
	argv[(*argc)++] = psprintf("--use-list=%s", list_path);
	foreach(lc, protech_backup_left_out_schemas(info, target))
		argv[(*argc)++] = psprintf("--exclude-schema=%s", (char *) lfirst(lc));
	return true;
}

/*
 * Decompress the backup at path (compressed by this extension as method
 * says, decrypted when encrypted: protech_backup_stored_reader) into a new
 * temporary file of the server (temp_tablespaces, else base/pgsql_tmp),
 * which the server removes when it is closed, at the end of the
 * transaction, whatever ends it, and at its next start after a crash;
 * never in the backup directory, so never listed.  For pg_restore --jobs,
 * which must seek in a custom-format archive and reopens it by name in
 * each worker.  Returns the file, *temp_path its absolute path.
 */
static File
copy_to_temporary_file(const char *path, ProtechBackupMethod method,
					   char **temp_path)
{
	ProtechBackupStreamReader *reader = protech_backup_stored_reader(path, method);
	File		file = OpenTemporaryFile(false);
	off_t		offset = 0;
	StringInfoData buf;

	initStringInfo(&buf);
	while (protech_backup_stream_read(&buf, reader))
	{
		if (FileWrite(file, buf.data, buf.len, offset,
					  WAIT_EVENT_DATA_FILE_WRITE) != buf.len)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not write temporary file \"%s\": %m",
							FilePathName(file))));
		offset += buf.len;
		resetStringInfo(&buf);
		protech_backup_check_for_interrupts();
	}
	protech_backup_stream_reader_close(reader);
	*temp_path = is_absolute_path(FilePathName(file)) ?
		pstrdup(FilePathName(file)) :
		psprintf("%s/%s", DataDir, FilePathName(file));
	return file;
}

/*
 * Restore the backup info describes, at path, stored as storage says, into
 * the existing, empty database target with psql or pg_restore, leaving
 * out what a restore into target leaves out (see leave_out.c) and, when
 * selection is not NULL, the archive's entries it does not take (a
 * selective restore: see selection.c), pg_restore with jobs parallel jobs
 * (a custom-format archive this extension compressed or encrypted is
 * decompressed and decrypted to a temporary file first, removed on return
 * or error).  Returns true, or false with
 * *problem saying which program failed and which statement.
 */
static bool
restore_dump(const char *path, const ProtechBackupStorage *storage,
			 const ProtechBackupInfo *info, const char *target,
			 const char *role, int jobs,
			 const ProtechBackupSelection *selection, char **problem)
{
	bool		plain = storage->format == PROTECH_BACKUP_FORMAT_PLAIN;
	bool		leave_out = protech_backup_leaves_out(info, target);
	bool		streamed = storage->compressor == PROTECH_BACKUP_COMPRESSOR_STREAM ||
		protech_backup_is_encrypted_name(path);
	const char *program = plain ? "psql" : "pg_restore";
	const char *const *envp = protech_backup_connection_environment(target, role);
	const char **argv;
	int			argc = 0;
	ProtechBackupStreamReader *reader = NULL;
	ProtechBackupSource source = NULL;
	void	   *source_arg = NULL;
	File		list_file = -1;
	File		temporary = -1;
	StringInfoData output;
	volatile int status;

	argv = palloc0(sizeof(char *) *
				   (12 + list_length(protech_backup_left_out_schemas(info, target))));
	if (plain)
	{
		argc = protech_backup_psql_options(argv, false);
		/* the dump's SELECTs print results: only errors are of interest */
		argv[argc++] = "--output=/dev/null";
		argv[argc++] = "--file";
	}
	else
	{
		argv[argc++] = protech_backup_program_path(program);
		argv[argc++] = "--exit-on-error";
		argv[argc++] = "--no-password";
		argv[argc++] = psprintf("--dbname=%s", dbname_conninfo(target));
		if (jobs > 1)
			argv[argc++] = psprintf("--jobs=%d", jobs);
		if ((leave_out || selection != NULL) &&
			!restrict_archive(path, storage, info, target, selection, envp,
							  argv, &argc, &list_file, problem))
			return false;
	}
	if (streamed && !plain && jobs > 1)
	{
		char	   *temp_path;

		temporary = copy_to_temporary_file(path, stream_method(storage),
										   &temp_path);
		argv[argc++] = temp_path;
	}
	else if ((reader = open_backup_stream(path, storage, leave_out)) != NULL)
	{
		/* psql reads "-" as standard input, pg_restore reads it without */
		if (plain)
			argv[argc++] = "-";
		source = protech_backup_stream_read;
		source_arg = reader;
		if (plain && leave_out)
		{
			source_arg = protech_backup_dump_filter(info, target, source, reader);
			source = protech_backup_dump_filter_read;
		}
	}
	else
		argv[argc++] = path;
	argv[argc] = NULL;

	initStringInfo(&output);
	PG_TRY();
	{
		status = protech_backup_run_child(program, argv, envp, source,
										  source_arg, NULL, NULL, &output,
										  protech_backup_timeout);
	}
	PG_FINALLY();
	{
		if (list_file >= 0)
			FileClose(list_file);
	}
	PG_END_TRY();
	if (reader)
		protech_backup_stream_reader_close(reader);
	if (temporary >= 0)
		FileClose(temporary);
	if (status == 0)
		return true;
	*problem = psprintf("%s failed (%s) and printed:\n%s", program,
						wait_result_to_str(status), failure_excerpt(&output));
	return false;
}

/*
 * Count the user tables of database target and their rows, with psql, as
 * role, with search_path pinned: the query names only pg_catalog's
 * functions and operators, and calls none of the restored database's.
 * Returns true, or false with *problem saying what psql printed.
 */
static bool
count_tables(const char *target, const char *role, int32 *tables,
			 int64 *rows, char **problem)
{
	const char *argv[PROTECH_BACKUP_PSQL_OPTIONS + 6];
	int			argc = protech_backup_psql_options(argv, true);
	StringInfoData result;
	StringInfoData output;
	int			status;

	argv[argc++] = "--no-align";
	argv[argc++] = "--tuples-only";
	argv[argc++] = "--field-separator= ";
	argv[argc++] = "-c";
	argv[argc++] = COUNT_QUERY;
	argv[argc] = NULL;

	initStringInfo(&result);
	initStringInfo(&output);
	status = protech_backup_run_child("psql", argv,
									  protech_backup_connection_environment(target, role),
									  NULL, NULL, protech_backup_collect_output,
									  &result, &output, protech_backup_timeout);
	if (status == 0 &&
		sscanf(result.data, "%d " INT64_FORMAT, tables, rows) == 2)
		return true;
	*problem = psprintf("counting the restored tables failed: psql %s and printed:\n%s",
						wait_result_to_str(status),
						status == 0 ? result.data : failure_excerpt(&output));
	return false;
}

/*
 * Raise insufficient_privilege, before anything is done, when restoring the
 * backup info describes would run code of a role that is no superuser with
 * a superuser's rights: when protech_backup.restore_role is empty, the
 * restore connects as protech_backup.role, and that is a superuser, and the
 * manifest does not say that every function of the database belonged to a
 * superuser.  Also when protech_backup.restore_role names a superuser, or
 * no role.  Reads the catalog: call it in a transaction.
 */
void
protech_backup_check_restore_rights(const ProtechBackupInfo *info)
{
	Oid			roleid;

	if (protech_backup_restore_role[0] != '\0')
	{
		roleid = get_role_oid(protech_backup_restore_role, true);
		if (!OidIsValid(roleid))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("protech_backup.restore_role \"%s\" does not exist",
							protech_backup_restore_role),
					 errhint("Create the role, with LOGIN, or set protech_backup.restore_role to an existing one.")));
		if (superuser_arg(roleid))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("protech_backup.restore_role \"%s\" is a superuser",
							protech_backup_restore_role),
					 errdetail("A restore runs the code of the backed-up database's users with the rights of the role it connects as."),
					 errhint("Set protech_backup.restore_role to a role that is not a superuser.")));
		return;
	}
	roleid = get_role_oid(protech_backup_connection_role(), true);
	if (info->superuser_functions_only || !OidIsValid(roleid) ||
		!superuser_arg(roleid))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("backup \"%s\" may not be restored as a superuser",
					info->file_name),
			 errdetail("Functions of the backed-up database belonged to roles that are not superusers, or its manifest does not say (an older one); a restore runs their code with the rights of the role it connects as, here the superuser \"%s\" (protech_backup.role).",
					   protech_backup_connection_role()),
			 errhint("Set protech_backup.restore_role to a role that is not a superuser, which restores then connect as.")));
}

/*
 * ProcessUtility hook: in a restore session (a session of
 * protech_backup.restore_role started by the extension's own programs,
 * whose application_name is protech_backup: see programs.c), a COMMENT ON
 * EXTENSION of an extension the role does not own is passed over with a
 * NOTICE instead of failing.  A restore creates the backup's extensions
 * as protech_backup.role before the dump runs (see prepare_database), and
 * the dump's COMMENT ON EXTENSION of each, which only its owner may run,
 * would otherwise stop every restore through the restore role.  Any other
 * session of the role, and everything else, goes on as it would.
 */
static void
restore_process_utility(PlannedStmt *pstmt, const char *queryString,
						bool readOnlyTree, ProcessUtilityContext context,
						ParamListInfo params, QueryEnvironment *queryEnv,
						DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;

	if (IsA(parsetree, CommentStmt) &&
		((CommentStmt *) parsetree)->objtype == OBJECT_EXTENSION &&
		protech_backup_restore_role[0] != '\0' &&
		strcmp(application_name, PROTECH_BACKUP_APPLICATION_NAME) == 0 &&
		GetSessionUserId() == get_role_oid(protech_backup_restore_role, true))
	{
		const char *name = strVal(((CommentStmt *) parsetree)->object);
		Oid			extension = get_extension_oid(name, true);

		if (OidIsValid(extension) &&
			!pg_extension_ownercheck(extension, GetUserId()))
		{
			ereport(NOTICE,
					(errmsg("comment on extension \"%s\" left as it is", name),
					 errdetail("protech_backup created the extension for the restore; protech_backup.restore_role \"%s\" does not own it.",
							   protech_backup_restore_role)));
			return;
		}
	}
	if (prev_process_utility_hook)
		prev_process_utility_hook(pstmt, queryString, readOnlyTree, context,
								  params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
}

/*
 * Install restore_process_utility; called from _PG_init when preloaded.
 */
void
protech_backup_install_restore_hook(void)
{
	prev_process_utility_hook = ProcessUtility_hook;
	ProcessUtility_hook = restore_process_utility;
}

/*
 * Apply the database-level properties file of the backup info describes,
 * in directory, to database target (protech_backup_apply_database_properties,
 * as envp says), read through protech_backup_stored_reader: decrypted
 * when the backup is encrypted.
 */
static bool
apply_properties(const char *directory, const ProtechBackupInfo *info,
				 const char *target, const char *const *envp, char **problem)
{
	ProtechBackupStreamReader *reader =
		protech_backup_stored_reader(psprintf("%s/%s", directory,
											  info->properties_file),
									 PROTECH_BACKUP_METHOD_NONE);
	bool		ok;

	ok = protech_backup_apply_database_properties(reader, target, envp,
												  problem);
	protech_backup_stream_reader_close(reader);
	return ok;
}

/*
 * Restore the backup info describes, in directory, into a new database
 * target that this function creates from template0 (with the encoding and
 * locale of the backed-up database), and count its tables and rows.  The
 * database stays when keep is set and everything succeeded, given the
 * database-level properties the backup recorded (as protech_backup.role,
 * connected to the caller's database: see database_properties.c; a
 * scratch database, dropped at once, is not given them); otherwise it is
 * dropped before this returns, whatever happens (see the file header).
 * Returns true with *tables and *rows, or false with *problem saying what
 * failed and which statement (the database dropped).  Raises an error, the
 * database dropped, when it cannot be created or the restore is
 * interrupted; before anything is done, when the backup may not be restored
 * with the rights in force (protech_backup_check_restore_rights).
 * pg_restore runs with jobs parallel jobs (a directory-format backup with
 * protech_backup.jobs when jobs is 1).  When selection is not NULL, only
 * the archive's entries it holds are restored, and only its extensions
 * created first (a selective restore).
 */
bool
protech_backup_restore_into(const char *directory,
							const ProtechBackupInfo *info, const char *target,
							bool keep, int jobs,
							const ProtechBackupSelection *selection,
							int32 *tables, int64 *rows, char **problem)
{
	ProtechBackupStorage storage;
	TargetDatabase db = {0};
	const char *role = protech_backup_connection_role();
	const char *restore_role = protech_backup_restore_role[0] ?
		protech_backup_restore_role : role;
	char	   *path = psprintf("%s/%s", directory, info->file_name);
	bool		ok;

	/* the callers check them first, to refuse before reading the backup */
	protech_backup_check_restore_rights(info);
	if (info->recipients.count > 0)
		protech_backup_require_identity(info->file_name);
	if (!protech_backup_storage_of(info->format, info->compression, &storage))
		elog(ERROR, "backup \"%s\" has an unknown format", info->file_name);
	db.name = target;
	db.owner = protech_backup_restore_role[0] ? protech_backup_restore_role : NULL;
	db.maintenance_envp =
		protech_backup_connection_environment(get_database_name(MyDatabaseId),
											  role);

	PG_ENSURE_ERROR_CLEANUP(drop_database_on_error, PointerGetDatum(&db));
	{
		create_database(&db, info, !keep);
		prepare_database(&db, info, role, selection);
		ok = restore_dump(path, &storage, info, target, restore_role,
						  jobs <= 1 && storage.format == PROTECH_BACKUP_FORMAT_DIRECTORY ?
						  protech_backup_jobs : jobs, selection, problem) &&
			count_tables(target, restore_role, tables, rows, problem) &&
			(!keep || info->properties_file[0] == '\0' ||
			 apply_properties(directory, info, target, db.maintenance_envp,
							  problem));
		/* should this fail, the cleanup tries once more */
		if (!ok || !keep)
			drop_database(&db, ERROR);
	}
	PG_END_ENSURE_ERROR_CLEANUP(drop_database_on_error, PointerGetDatum(&db));
	return ok;
}

/*
 * A name for a scratch database that cannot clash with any other: the
 * prefix, this process's pid and 32 random bits.
 */
char *
protech_backup_scratch_database_name(void)
{
	uint32		random_bits;

	if (!pg_strong_random(&random_bits, sizeof(random_bits)))
		elog(ERROR, "could not generate a random number");
	return psprintf(SCRATCH_PREFIX "%d_%08x", MyProcPid, random_bits);
}

/*
 * Drop the scratch databases a crash left behind: those named by the
 * pattern of protech_backup_scratch_database_name() whose pid is not a live
 * process of this server (a restarted server has none).  Called by the
 * scheduler at start, in a transaction; a failure is a WARNING.
 */
void
protech_backup_drop_leftover_scratch_databases(void)
{
	List	   *names = NIL;
	ListCell   *lc;
	TargetDatabase db = {0};
	int			nestlevel = protech_backup_spi_connect();

	if (SPI_execute("SELECT datname FROM pg_catalog.pg_database "
					"WHERE datname OPERATOR(pg_catalog.~) '" SCRATCH_PATTERN "'",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not list the databases");
	for (uint64 i = 0; i < SPI_processed; i++)
		names = lappend(names,
						SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	protech_backup_spi_finish(nestlevel);
	if (names == NIL)
		return;

	db.maintenance_envp =
		protech_backup_connection_environment(get_database_name(MyDatabaseId),
											  protech_backup_connection_role());
	foreach(lc, names)
	{
		db.name = lfirst(lc);
		if (BackendPidGetProc(atoi(db.name + strlen(SCRATCH_PREFIX))) != NULL)
			continue;
		db.created = true;
		drop_database(&db, WARNING);
		if (!db.created)
			ereport(LOG,
					(errmsg("protech_backup: dropped scratch database \"%s\" left by an interrupted verification",
							db.name)));
	}
}

/*
 * The entries of the custom or directory archive of the backup info
 * describes, in directory, stored as storage says, that a selective
 * restore of options->tables and options->schemas takes (selection.c),
 * its notes appended to *notes.  Reads the archive's table
 * of contents only (archive_toc.c): a directory archive's toc.dat, the
 * start of a custom one (decrypted and decompressed as a restore reads it,
 * the reader closed, and so its age child killed, when the table of
 * contents ends).  Raises data_corrupted when the archive cannot be read
 * so, and the selection's error for a name the backup does not have.
 */
static ProtechBackupSelection *
select_from_archive(const char *directory, const ProtechBackupInfo *info,
					const ProtechBackupStorage *storage,
					const ProtechBackupRestoreOptions *options, List **notes)
{
	char	   *path = psprintf("%s/%s", directory, info->file_name);
	ProtechBackupStreamReader *reader;
	ProtechBackupToc toc;
	char	   *problem;
	bool		read;

	if (storage->format == PROTECH_BACKUP_FORMAT_DIRECTORY)
		reader = protech_backup_stream_reader(psprintf("%s/toc.dat", path),
											  PROTECH_BACKUP_METHOD_NONE);
	else
		reader = protech_backup_stored_reader(path, stream_method(storage));
	read = protech_backup_read_toc(protech_backup_stream_read, reader, &toc,
								   &problem);
	protech_backup_stream_reader_close(reader);
	if (!read)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("could not read the table of contents of backup \"%s\"",
						info->file_name),
				 errdetail("%s.", problem),
				 errhint("Restore it whole, or restore by hand with pg_restore --list and --use-list.")));
	return protech_backup_select_entries(&toc, info->file_name,
										 options->tables, options->schemas,
										 notes);
}

/*
 * Restore the backup info describes, in directory, into the new database
 * target, which must not exist yet: the live database is never dropped or
 * overwritten.  The rights in force are checked first
 * (protech_backup_check_restore_rights; with restore_globals, once the
 * roles are created, as protech_backup.restore_role may be one of them),
 * then the backup is read back and checked against its manifest.  When the restore fails, the
 * half-restored database is dropped and the error quotes the statement
 * that failed.  With options->restore_globals, the backup's roles and
 * tablespaces this server lacks are created first (globals.c); pg_restore
 * runs with options->jobs jobs (refused for a plain dump).  With
 * options->tables or options->schemas, only those are restored (a
 * selective restore: select_from_archive), refused for a plain dump, and a
 * name that is not in the backup is an error, both before anything is
 * created.  Sets *tables and *rows of the restored database, and appends
 * to *notes what was left as it was, and what a selection took and left
 * out.
 */
void
protech_backup_restore_backup(const char *directory,
							  const ProtechBackupInfo *info,
							  const char *target,
							  const ProtechBackupRestoreOptions *options,
							  List **notes, int32 *tables, int64 *rows)
{
	char	   *problem;
	ProtechBackupStorage storage;
	bool		plain = protech_backup_storage_of(info->format, info->compression,
												  &storage) &&
		storage.format == PROTECH_BACKUP_FORMAT_PLAIN;
	bool		selective = options->tables != NIL || options->schemas != NIL;
	ProtechBackupSelection *selection = NULL;

	if (selective && plain)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("backup \"%s\" is a plain-format dump, which restores whole",
						info->file_name),
				 errdetail("tables and schemas choose entries of a custom or directory archive; a plain dump is one SQL script."),
				 errhint("Restore it whole into a new database and copy what you need from there (pg_dump -t ... | psql), or set protech_backup.format to custom or directory for the next backups.")));
	if (strncmp(target, SCRATCH_PREFIX, strlen(SCRATCH_PREFIX)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("target_database \"%s\" starts with \"%s\"",
						target, SCRATCH_PREFIX),
				 errdetail("Names starting so are reserved for the scratch databases of protech_backup_verify(), which the scheduler drops.")));
	/* with restore_globals, protech_backup.restore_role may come with them */
	if (!options->restore_globals)
		protech_backup_check_restore_rights(info);
	if (info->recipients.count > 0)
		protech_backup_require_identity(info->file_name);
	if (OidIsValid(get_database_oid(target, true)))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_DATABASE),
				 errmsg("database \"%s\" already exists", target),
				 errdetail("protech_backup_restore() only restores into a new database; it never drops or overwrites one."),
				 errhint("Restore into a new database, then swap the names with ALTER DATABASE ... RENAME TO.")));
	if (!protech_backup_check_stored(directory, info, &problem))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("backup \"%s\" does not match its manifest",
						info->file_name),
				 errdetail("Reading it back: %s.", problem),
				 errhint("Restore another backup from protech_backup_list().")));
	if (options->jobs > 1 && plain)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("backup \"%s\" is a plain-format dump, which restores with one job",
						info->file_name),
				 errdetail("jobs runs pg_restore in parallel, for the custom and directory formats; psql restores a plain dump alone."),
				 errhint("Call protech_backup_restore() with jobs => 1.")));

	if (selective)
		selection = select_from_archive(directory, info, &storage, options,
										notes);

	if (options->restore_globals)
	{
		ProtechBackupStreamReader *globals =
			protech_backup_stored_reader(psprintf("%s/%s", directory,
												  info->globals_file),
										 PROTECH_BACKUP_METHOD_NONE);
		bool		created;

		created = protech_backup_restore_missing_globals(globals,
														 protech_backup_connection_environment(get_database_name(MyDatabaseId),
																							   protech_backup_connection_role()),
														 notes, &problem);
		protech_backup_stream_reader_close(globals);
		if (!created)
			ereport(ERROR,
					(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
					 errmsg("could not restore the roles and tablespaces of backup \"%s\"",
							info->file_name),
					 errdetail("%s\nThose created before the failure are kept; database \"%s\" was not created.",
							   problem, target)));
	}
	protech_backup_check_restore_rights(info);
	if (info->properties_file[0] == '\0')
		*notes = lappend(*notes,
						 pstrdup("database-level properties: not recorded by this backup (taken before version 1.2), left as CREATE DATABASE made them"));

	if (!protech_backup_restore_into(directory, info, target, true,
									 options->jobs, selection, tables, rows,
									 &problem))
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("could not restore backup \"%s\" into database \"%s\"",
						info->file_name, target),
				 errdetail("%s\nThe half-restored database \"%s\" was dropped.",
						   problem, target)));
}
