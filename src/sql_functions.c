/*-------------------------------------------------------------------------
 *
 * sql_functions.c
 *		Every SQL function of protech_backup written in C, in the order of
 *		the install script, with the helpers that read their arguments and
 *		build their results.  Each unpacks its arguments, calls the module
 *		that does the work, and returns what it found; none holds logic of
 *		its own.  On a standby, those that would write to the backup
 *		directory refuse at once (reject_during_recovery); those that only
 *		read work.  The top layer: it may include any module.
 *
 * protech_backup_runtime() reports what only this process's shared memory
 * and the file system know: the scheduler's pid and next due instant, the
 * backup running now and the bytes it has written, the backup directory
 * and its free space.  Everything else of protech_backup_status() and
 * protech_backup_metrics() (last success, last failure, sizes) comes from
 * protech_backup_list() and protech_backup_history, in SQL.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "databases.h"
#include "download.h"
#include "durable.h"
#include "leave_out.h"
#include "manual.h"
#include "repository.h"
#include "restore.h"
#include "retention.h"
#include "schedule.h"
#include "settings.h"
#include "slot.h"
#include "verify.h"

/* the longest slice protech_backup_read() returns: the largest bytea */
#define MAX_SLICE (MaxAllocSize - VARHDRSZ)

PG_FUNCTION_INFO_V1(protech_backup_now);
PG_FUNCTION_INFO_V1(protech_backup_list);
PG_FUNCTION_INFO_V1(protech_backup_next_run_sql);
PG_FUNCTION_INFO_V1(protech_backup_cleanup);
PG_FUNCTION_INFO_V1(protech_backup_verify);
PG_FUNCTION_INFO_V1(protech_backup_restore);
PG_FUNCTION_INFO_V1(protech_backup_read);
PG_FUNCTION_INFO_V1(protech_backup_read_size);
PG_FUNCTION_INFO_V1(protech_backup_retention_plan);
PG_FUNCTION_INFO_V1(protech_backup_runtime);
PG_FUNCTION_INFO_V1(protech_backup_databases_sql);

/* argument helpers */

static void reject_argument(const char *name, const char *problem,
										   const char *hint) pg_attribute_noreturn();

/*
 * Raise invalid_parameter_value for argument name of an SQL function of
 * the extension, which problem describes ("must not be null"), with hint
 * (or NULL).  One wording for every function.
 */
static void
reject_argument(const char *name, const char *problem,
							   const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("argument \"%s\" %s", name, problem),
			 hint ? errhint("%s", hint) : 0));
}

/*
 * Raise read_only_sql_transaction at once when this server is a standby:
 * function would write to the backup directory (or create a database),
 * and a standby writes nothing there, whether it shares the directory with
 * its primary or not.
 */
static void
reject_during_recovery(const char *function)
{
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot run %s during recovery", function),
				 errdetail("This server is a standby: it takes no backups and writes nothing to the backup directory."),
				 errhint("Run it on the primary.")));
}

/*
 * The backup that argument argno, a file name, names in directory (see
 * protech_backup_find_backup); NULL raises invalid_parameter_value like
 * any other name that is not a backup's.
 */
static ProtechBackupInfo *
backup_argument(FunctionCallInfo fcinfo, int argno, const char *directory)
{
	if (PG_ARGISNULL(argno))
		reject_argument("file_name", "must not be null",
									   "Give a file_name from protech_backup_list().");
	return protech_backup_find_backup(text_to_cstring(PG_GETARG_TEXT_PP(argno)),
									  directory);
}

/*
 * A List of C strings as a text[] Datum, empty for NIL.
 */
static Datum
text_array_of(List *strings)
{
	ArrayBuildState *state = initArrayResult(TEXTOID, CurrentMemoryContext,
											 false);
	ListCell   *lc;

	foreach(lc, strings)
		state = accumArrayResult(state, CStringGetTextDatum(lfirst(lc)), false,
								 TEXTOID, CurrentMemoryContext);
	return makeArrayResult(state, CurrentMemoryContext);
}

/*
 * The backup argument 0 of protech_backup_verify() or
 * protech_backup_restore() names, found in the backup directory, which
 * *directory is set to.  When the call would write (refused_on_standby
 * names it, NULL when it only reads), a standby refuses it first, at once.
 */
static ProtechBackupInfo *
stored_backup_argument(FunctionCallInfo fcinfo, char **directory,
					   const char *refused_on_standby)
{
	if (refused_on_standby != NULL)
		reject_during_recovery(refused_on_standby);
	protech_backup_require_preload();
	*directory = protech_backup_resolved_directory();
	return backup_argument(fcinfo, 0, *directory);
}

/* the columns of protech_backup_info in version 1.0, and since 1.1 */
#define INFO_COLUMNS_1_0 12
#define INFO_COLUMNS 14

/*
 * Return a list of ProtechBackupInfo as the rows of a set-returning
 * function whose result type is protech_backup_info: with the columns of
 * version 1.0 only while the installed extension is still 1.0 (between
 * the installation of this library and ALTER EXTENSION UPDATE).
 */
static void
return_infos(FunctionCallInfo fcinfo, List *infos)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ListCell   *lc;

	InitMaterializedSRF(fcinfo, 0);
	if (rsinfo->setDesc->natts != INFO_COLUMNS &&
		rsinfo->setDesc->natts != INFO_COLUMNS_1_0)
		elog(ERROR, "protech_backup_info has %d columns, expected %d",
			 rsinfo->setDesc->natts, INFO_COLUMNS);
	foreach(lc, infos)
	{
		ProtechBackupInfo *info = lfirst(lc);
		Datum		values[INFO_COLUMNS];
		bool		nulls[INFO_COLUMNS] = {0};
		NameData   *database = palloc(sizeof(NameData));

		namestrcpy(database, info->database);
		values[0] = CStringGetTextDatum(info->file_name);
		values[1] = NameGetDatum(database);
		values[2] = CStringGetTextDatum(info->format);
		values[3] = CStringGetTextDatum(info->compression);
		values[4] = Int64GetDatum(info->size_bytes);
		values[5] = CStringGetTextDatum(info->sha256);
		values[6] = TimestampTzGetDatum(info->started_at);
		values[7] = TimestampTzGetDatum(info->finished_at);
		values[8] = CStringGetTextDatum(info->trigger);
		values[9] = TimestampTzGetDatum(info->verified_at);
		nulls[9] = info->verified_at == 0;
		values[10] = CStringGetTextDatum(info->verify_result);
		nulls[10] = info->verify_result[0] == '\0';
		values[11] = CStringGetTextDatum(info->globals_file);
		/* as pg_control_system() shows it; NULL for a 1.0 manifest */
		values[12] = Int64GetDatum((int64) info->system_identifier);
		nulls[12] = info->system_identifier == 0;
		values[13] = Int32GetDatum((int32) info->timeline);
		nulls[13] = info->timeline == 0;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

/*
 * Add one row (first column, action, reason, and database when the result
 * has a fourth column: protech_backup_cleanup() from version 1.2 on) to the
 * result of a materialized set-returning function.
 */
static void
put_row(ReturnSetInfo *rsinfo, Datum first, const char *action,
		const char *reason, const char *database)
{
	Datum		values[4];
	bool		nulls[4] = {0};
	NameData   *name = palloc0(sizeof(NameData));

	values[0] = first;
	values[1] = CStringGetTextDatum(action);
	values[2] = CStringGetTextDatum(reason);
	if (database != NULL)
		namestrcpy(name, database);
	values[3] = NameGetDatum(name);
	nulls[3] = database == NULL;
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * Fetch argument argno of protech_backup_retention_plan(), an array of a
 * type passed by value (timestamptz, bigint or boolean), as its elements;
 * no NULLs.
 */
static Datum *
array_argument(FunctionCallInfo fcinfo, int argno, const char *name,
			   Oid element_type, int *count)
{
	ArrayType  *array;
	Datum	   *elements;
	bool	   *nulls;
	int16		typlen;
	bool		typbyval;
	char		typalign;

	if (PG_ARGISNULL(argno))
		reject_argument(name, "must not be null", NULL);
	array = PG_GETARG_ARRAYTYPE_P(argno);
	if (ARR_NDIM(array) > 1)
		reject_argument(name, "must be a one-dimensional array", NULL);
	get_typlenbyvalalign(element_type, &typlen, &typbyval, &typalign);
	deconstruct_array(array, element_type, typlen, typbyval, typalign,
					  &elements, &nulls, count);
	for (int i = 0; i < *count; i++)
		if (nulls[i])
			reject_argument(name, "must not contain null values", NULL);
	return elements;
}

/*
 * Raise the error for the array argument name, whose length differs from
 * that of started_at.
 */
static void
reject_array_length(const char *name, int length, int started_at_length)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("arguments \"started_at\" and \"%s\" must have the same length",
					name),
			 errdetail("\"started_at\" has %d elements and \"%s\" has %d.",
					   started_at_length, name, length)));
}

/*
 * Fetch the int argument argno of protech_backup_retention_plan(): not
 * NULL, not negative.
 */
static int
count_argument(FunctionCallInfo fcinfo, int argno, const char *name)
{
	if (PG_ARGISNULL(argno))
		reject_argument(name, "must not be null", NULL);
	if (PG_GETARG_INT32(argno) < 0)
		reject_argument(name, "must not be negative", NULL);
	return PG_GETARG_INT32(argno);
}

/*
 * The backup argument 0 of protech_backup_read() and
 * protech_backup_read_size() names, checked (privileges first) and laid
 * out as the bytes served for it.
 */
static ProtechBackupServed *
served_argument(FunctionCallInfo fcinfo)
{
	char	   *directory;

	protech_backup_require_preload();
	protech_backup_check_read_privilege();
	directory = protech_backup_resolved_directory();
	return protech_backup_serve(directory, backup_argument(fcinfo, 0, directory));
}

/* the SQL functions, in the order of the install script */

/*
 * SQL: protech_backup_now() RETURNS SETOF protech_backup_info
 *		protech_backup_now(database name) RETURNS SETOF protech_backup_info
 *		(version 1.2 on)
 *
 * Take a backup now, synchronously (in a worker of its own, see manual.c),
 * of database, which must be one protech_backup.databases backs up, or of
 * every database it backs up, one after the other (the cluster's globals
 * dumped once), and return one row per backup.  A database that fails does
 * not stop the others: once all have run, the first failure is raised as
 * it was raised, the others reported as WARNINGs before it.
 */
Datum
protech_backup_now(PG_FUNCTION_ARGS)
{
	List	   *databases;
	List	   *infos = NIL;
	ErrorData  *failure = NULL;
	ProtechBackupInfo *shared;
	ListCell   *lc;

	/* its worker could not start before promotion: refuse, claiming nothing */
	reject_during_recovery("protech_backup_now()");
	if (PG_NARGS() == 1)
	{
		char	   *database;

		if (PG_ARGISNULL(0))
			reject_argument("database", "must not be null", NULL);
		database = NameStr(*PG_GETARG_NAME(0));
		if (!protech_backup_database_configured(database))
			reject_argument("database",
							psprintf("names \"%s\", a database that is not backed up", database),
							"Give a database that protech_backup.databases lists (or protech_backup.database when it is empty).");
		databases = list_make1(database);
	}
	else
		databases = protech_backup_configured_databases();

	shared = list_length(databases) > 1 ? palloc0(sizeof(ProtechBackupInfo)) : NULL;
	foreach(lc, databases)
	{
		ErrorData  *error = palloc0(sizeof(ErrorData));
		ProtechBackupInfo *info = protech_backup_run_manual(lfirst(lc), shared,
															error);

		if (info != NULL)
			infos = lappend(infos, info);
		else if (failure == NULL)
			failure = error;
		else
			ereport(WARNING,
					(errmsg("protech_backup: backup of database \"%s\" failed: %s",
							(char *) lfirst(lc), error->message)));
	}
	if (failure != NULL)
		ThrowErrorData(failure);

	return_infos(fcinfo, infos);
	return (Datum) 0;
}

/*
 * SQL: protech_backup_list() RETURNS SETOF protech_backup_info
 *
 * Every complete backup in the backup directory, newest first, read from
 * the files themselves.
 */
Datum
protech_backup_list(PG_FUNCTION_ARGS)
{
	protech_backup_require_preload();
	return_infos(fcinfo,
								protech_backup_list_backups(protech_backup_resolved_directory()));
	return (Datum) 0;
}

/*
 * SQL function protech_backup_next_run(schedule, timezone, after): when the
 * schedule fires next after "after", read in the named zone.  Errors give
 * the same detail and hint as the check hooks of the settings (settings.c).
 */
Datum
protech_backup_next_run_sql(PG_FUNCTION_ARGS)
{
	char	   *schedule_text = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *zone = text_to_cstring(PG_GETARG_TEXT_PP(1));
	TimestampTz after = PG_GETARG_TIMESTAMPTZ(2);
	ProtechBackupSchedule schedule;
	char	   *detail;
	pg_tz	   *tz;

	if (!protech_backup_parse_schedule(schedule_text, &schedule, &detail))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid schedule \"%s\"", schedule_text),
				 errdetail("%s", detail),
				 errhint(PROTECH_BACKUP_SCHEDULE_HINT)));
	tz = protech_backup_find_time_zone(zone);
	if (tz == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid time zone \"%s\"", zone),
				 errdetail(PROTECH_BACKUP_TIMEZONE_DETAIL, zone),
				 errhint(PROTECH_BACKUP_TIMEZONE_HINT)));

	PG_RETURN_TIMESTAMPTZ(protech_backup_next_run(&schedule, tz, after));
}

/*
 * SQL: protech_backup_cleanup(dry_run boolean DEFAULT false)
 *		RETURNS TABLE(file_name text, action text, reason text)
 *
 * Apply retention now under the current settings, or with dry_run only
 * show what it would do.  Every complete backup appears once, newest first.
 * Deleting holds the backup slot, so it never races a running backup; a
 * dry run deletes nothing and needs no slot.
 */
Datum
protech_backup_cleanup(PG_FUNCTION_ARGS)
{
	bool		dry_run;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *directory;
	List	   *outcomes;
	ListCell   *lc;

	if (PG_ARGISNULL(0))
		reject_argument("dry_run", "must not be null", NULL);
	dry_run = PG_GETARG_BOOL(0);
	if (!dry_run)
		reject_during_recovery("protech_backup_cleanup()");
	protech_backup_require_preload();
	directory = protech_backup_resolved_directory();

	outcomes = protech_backup_apply_retention(directory, dry_run);

	InitMaterializedSRF(fcinfo, 0);
	foreach(lc, outcomes)
	{
		ProtechBackupRetentionOutcome *outcome = lfirst(lc);

		put_row(rsinfo, CStringGetTextDatum(outcome->file_name),
				outcome->action, outcome->reason, outcome->database);
	}
	return (Datum) 0;
}

/*
 * SQL: protech_backup_verify(file_name text, restore boolean DEFAULT false)
 *		RETURNS TABLE(file_name text, checksum_ok boolean, restored boolean,
 *					  tables integer, rows bigint, duration interval,
 *					  detail text)
 *
 * Verify a backup (see protech_backup_verify_backup) and return the
 * outcome as one row: restored is NULL when no restore was asked for,
 * tables and rows are those of the restore, detail says what is wrong,
 * or else what the restore left out (NULL when neither).
 * A damaged backup is reported, never raised.
 */
Datum
protech_backup_verify(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ProtechBackupInfo *info;
	char	   *directory;
	ProtechBackupVerification v;
	Interval   *duration = palloc0(sizeof(Interval));
	Datum		values[7];
	bool		nulls[7] = {0};

	info = stored_backup_argument(fcinfo, &directory,
								  !PG_ARGISNULL(1) && PG_GETARG_BOOL(1) ?
								  "protech_backup_verify() with restore" : NULL);
	if (PG_ARGISNULL(1))
		reject_argument("restore", "must not be null", NULL);

	protech_backup_verify_backup(directory, info, PG_GETARG_BOOL(1), &v);

	duration->time = v.finished_at - v.started_at;
	InitMaterializedSRF(fcinfo, 0);
	values[0] = CStringGetTextDatum(info->file_name);
	values[1] = BoolGetDatum(v.checksum_ok);
	values[2] = BoolGetDatum(v.restored);
	nulls[2] = !v.restore;
	values[3] = Int32GetDatum(v.tables);
	nulls[3] = !v.counted;
	values[4] = Int64GetDatum(v.rows);
	nulls[4] = !v.counted;
	values[5] = IntervalPGetDatum(duration);
	if (v.detail != NULL || v.left_out != NULL)
		values[6] = CStringGetTextDatum(v.detail ? v.detail : v.left_out);
	else
		nulls[6] = true;
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}

/*
 * The names of the text array argument argno (a selective restore's
 * tables or schemas) as a List of strings, NIL when it is NULL; an empty
 * array or a NULL element is refused.
 */
static List *
name_list_argument(FunctionCallInfo fcinfo, int argno, const char *name)
{
	List	   *names = NIL;
	Datum	   *elements;
	int			count;

	if (PG_ARGISNULL(argno))
		return NIL;
	elements = array_argument(fcinfo, argno, name, TEXTOID, &count);
	if (count == 0)
		reject_argument(name, "must not be empty",
						"Pass NULL to restore the whole backup.");
	for (int i = 0; i < count; i++)
		names = lappend(names, TextDatumGetCString(elements[i]));
	return names;
}

/* the arguments and columns of protech_backup_restore before 1.2, and since */
#define RESTORE_ARGS_1_1 2
#define RESTORE_COLUMNS_1_1 4
#define RESTORE_COLUMNS 5

/*
 * SQL: protech_backup_restore(file_name text, target_database name,
 *		restore_globals boolean DEFAULT false, tables text[] DEFAULT NULL,
 *		schemas text[] DEFAULT NULL, jobs integer DEFAULT 1)
 *		RETURNS TABLE(database name, tables integer, rows bigint,
 *					  duration interval, notes text[])
 *
 * Restore a backup into a new database, which must not exist yet: the live
 * database is never dropped or overwritten.  The backup is read back and
 * checked against its manifest first.  When the restore fails, the
 * half-restored database is dropped and the error quotes the statement
 * that failed.  notes says, one line each, what the restore left out
 * (leave_out.c) or left as it was (roles that existed already, database
 * properties an old backup lacks), NULL when nothing.  Also serves the
 * two-argument, four-column form of 1.0 and 1.1 until ALTER EXTENSION
 * UPDATE (from the caller's argument count and tuple descriptor).  tables
 * and schemas, when not NULL, restore only those (selection.c).
 */
Datum
protech_backup_restore(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ProtechBackupInfo *info;
	ProtechBackupRestoreOptions options = {.restore_globals = false,.jobs = 1};
	List	   *notes = NIL;
	char	   *directory;
	char	   *target;
	int32		tables;
	int64		rows;
	TimestampTz started_at = GetCurrentTimestamp();
	Interval   *duration = palloc0(sizeof(Interval));
	Datum		values[RESTORE_COLUMNS];
	bool		nulls[RESTORE_COLUMNS] = {0};

	info = stored_backup_argument(fcinfo, &directory,
								  "protech_backup_restore()");
	if (PG_ARGISNULL(1) || NameStr(*PG_GETARG_NAME(1))[0] == '\0')
		reject_argument("target_database",
									   "must not be null or empty", NULL);
	target = NameStr(*PG_GETARG_NAME(1));
	if (PG_NARGS() > RESTORE_ARGS_1_1)
	{
		if (PG_ARGISNULL(2))
			reject_argument("restore_globals", "must not be null", NULL);
		options.restore_globals = PG_GETARG_BOOL(2);
		options.tables = name_list_argument(fcinfo, 3, "tables");
		options.schemas = name_list_argument(fcinfo, 4, "schemas");
		if (PG_ARGISNULL(5) || PG_GETARG_INT32(5) < 1 || PG_GETARG_INT32(5) > 64)
			reject_argument("jobs", "must be between 1 and 64", NULL);
		options.jobs = PG_GETARG_INT32(5);
	}
	notes = protech_backup_left_out_notes(info, target);
	protech_backup_restore_backup(directory, info, target, &options, &notes,
								  &tables, &rows);

	duration->time = GetCurrentTimestamp() - started_at;
	InitMaterializedSRF(fcinfo, 0);
	if (rsinfo->setDesc->natts != RESTORE_COLUMNS &&
		rsinfo->setDesc->natts != RESTORE_COLUMNS_1_1)
		elog(ERROR, "protech_backup_restore() returns %d columns, not %d",
			 rsinfo->setDesc->natts, RESTORE_COLUMNS);
	values[0] = DirectFunctionCall1(namein, CStringGetDatum(target));
	values[1] = Int32GetDatum(tables);
	values[2] = Int64GetDatum(rows);
	values[3] = IntervalPGetDatum(duration);
	if (rsinfo->setDesc->natts == RESTORE_COLUMNS)
	{
		values[4] = notes ? text_array_of(notes) : (Datum) 0;
		nulls[4] = notes == NIL;
	}
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}

/*
 * SQL: protech_backup_read(file_name text, "offset" bigint, length integer)
 *		RETURNS bytea
 *
 * Up to length bytes of the backup file_name as served (the file as
 * stored, compressed or not; a folder as a tar archive) from byte offset
 * on: fewer at its end, none past it.
 */
Datum
protech_backup_read(PG_FUNCTION_ARGS)
{
	ProtechBackupServed *served = served_argument(fcinfo);
	int64		offset;
	int32		length;

	if (PG_ARGISNULL(1) || PG_GETARG_INT64(1) < 0)
		reject_argument("offset", "must not be null or negative", NULL);
	if (PG_ARGISNULL(2) || PG_GETARG_INT32(2) < 0)
		reject_argument("length", "must not be null or negative", NULL);
	offset = PG_GETARG_INT64(1);
	length = PG_GETARG_INT32(2);
	if (length > MAX_SLICE)
		reject_argument("length",
						psprintf("must be at most %d, the largest bytea",
								 (int) MAX_SLICE), NULL);

	PG_RETURN_BYTEA_P(protech_backup_read_served(served, offset, length));
}

/*
 * SQL: protech_backup_read_size(file_name text) RETURNS bigint
 *
 * How many bytes protech_backup_read() serves for the backup: the size of
 * its file, or of the tar archive of its folder.
 */
Datum
protech_backup_read_size(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(protech_backup_served_size(served_argument(fcinfo)));
}

/*
 * SQL: protech_backup_retention_plan(started_at timestamptz[],
 *		size_bytes bigint[], verify_failed boolean[], retention_count int,
 *		retention_days int, keep_daily int, keep_weekly int,
 *		keep_monthly int, max_size bigint, timezone text, now timestamptz)
 *		RETURNS TABLE(started_at timestamptz, action text, reason text)
 *
 * Run the retention planner on the given backups (start times, sizes in
 * bytes, whether their last verification failed) and rules, as if it were
 * now: one row per backup, newest first
 * (backups that started at the same moment in the order given), saying
 * whether retention keeps or deletes it and why.  Touches no file.
 */
Datum
protech_backup_retention_plan(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum	   *started_at;
	Datum	   *size_bytes;
	Datum	   *verify_failed;
	int			n;
	int			nsizes;
	int			nfailed;
	ProtechBackupRetentionRules rules;
	ProtechBackupRetentionItem *items;
	char	   *zone;

	started_at = array_argument(fcinfo, 0, "started_at", TIMESTAMPTZOID, &n);
	size_bytes = array_argument(fcinfo, 1, "size_bytes", INT8OID, &nsizes);
	if (n != nsizes)
		reject_array_length("size_bytes", nsizes, n);
	verify_failed = array_argument(fcinfo, 2, "verify_failed", BOOLOID,
								   &nfailed);
	if (n != nfailed)
		reject_array_length("verify_failed", nfailed, n);
	rules.count = count_argument(fcinfo, 3, "retention_count");
	rules.days = count_argument(fcinfo, 4, "retention_days");
	rules.daily = count_argument(fcinfo, 5, "keep_daily");
	rules.weekly = count_argument(fcinfo, 6, "keep_weekly");
	rules.monthly = count_argument(fcinfo, 7, "keep_monthly");
	if (PG_ARGISNULL(8))
		reject_argument("max_size", "must not be null", NULL);
	rules.max_size = PG_GETARG_INT64(8);
	if (rules.max_size < 0)
		reject_argument("max_size", "must not be negative", NULL);
	if (PG_ARGISNULL(9))
		reject_argument("timezone", "must not be null", NULL);
	zone = text_to_cstring(PG_GETARG_TEXT_PP(9));
	rules.tz = pg_tzset(zone);
	if (rules.tz == NULL || !pg_tz_acceptable(rules.tz))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time zone \"%s\" not recognized", zone),
				 errhint("Use a name from pg_timezone_names, such as \"UTC\" or \"Asia/Manila\".")));
	if (PG_ARGISNULL(10))
		reject_argument("now", "must not be null", NULL);
	rules.now = PG_GETARG_TIMESTAMPTZ(10);
	if (TIMESTAMP_NOT_FINITE(rules.now))
		reject_argument("now", "must be finite", NULL);

	items = palloc0(n * sizeof(ProtechBackupRetentionItem));
	for (int i = 0; i < n; i++)
	{
		items[i].started_at = DatumGetTimestampTz(started_at[i]);
		items[i].size_bytes = DatumGetInt64(size_bytes[i]);
		items[i].verify_failed = DatumGetBool(verify_failed[i]);
		items[i].position = i;
		if (TIMESTAMP_NOT_FINITE(items[i].started_at))
			reject_argument("started_at", "must not contain infinite timestamps", NULL);
		if (items[i].size_bytes < 0)
			reject_argument("size_bytes", "must not contain negative sizes", NULL);
	}
	protech_backup_plan_retention(items, n, &rules);

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < n; i++)
		put_row(rsinfo, TimestampTzGetDatum(items[i].started_at),
				items[i].keep ? "keep" : "delete", items[i].reason, NULL);
	return (Datum) 0;
}

/*
 * SQL: protech_backup_runtime(OUT scheduler_pid int, OUT next_run_at
 * timestamptz, OUT running_pid int, OUT running_since timestamptz,
 * OUT running_file text, OUT running_bytes bigint, OUT directory text,
 * OUT directory_free_bytes bigint)
 */
Datum
protech_backup_runtime(PG_FUNCTION_ARGS)
{
	ProtechBackupState state;
	TupleDesc	tupdesc;
	Datum		values[8];
	bool		nulls[8] = {0};
	char	   *directory = protech_backup_resolved_directory();
	int64		free_space = protech_backup_free_bytes(directory);

	protech_backup_get_state(&state);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	values[0] = Int32GetDatum(state.scheduler_pid);
	nulls[0] = state.scheduler_pid == 0;
	values[1] = TimestampTzGetDatum(state.next_run_at);
	nulls[1] = state.next_run_at == 0;
	values[2] = Int32GetDatum(state.running_pid);
	values[3] = TimestampTzGetDatum(state.running_since);
	values[4] = CStringGetTextDatum(state.running_file);
	values[5] = Int64GetDatum(state.running_bytes);
	nulls[2] = nulls[3] = nulls[4] = nulls[5] = state.running_pid == 0;
	values[6] = CStringGetTextDatum(directory);
	values[7] = Int64GetDatum(free_space);
	nulls[7] = free_space < 0;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc),
													  values, nulls)));
}

/*
 * SQL: protech_backup_databases() RETURNS SETOF name (version 1.2 on)
 *
 * The databases that are backed up, in the order a run backs them up (see
 * databases.c).
 */
Datum
protech_backup_databases_sql(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ListCell   *lc;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	foreach(lc, protech_backup_configured_databases())
	{
		NameData	name;
		Datum		value;
		bool		isnull = false;

		namestrcpy(&name, lfirst(lc));
		value = NameGetDatum(&name);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value, &isnull);
	}
	return (Datum) 0;
}
