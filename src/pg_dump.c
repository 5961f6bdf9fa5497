/*-------------------------------------------------------------------------
 *
 * pg_dump.c
 *		pg_dump as a backup runs it: its command line, the check that the
 *		program is usable and new enough, what a failure of it (or of
 *		pg_dumpall) means, and ending the server processes a failed pg_dump
 *		left behind.  Built on settings.c, storage.c and child.c.
 *
 * Every value on pg_dump's command line comes from a setting its check
 * hook validated (protech_backup.pg_dump_options kept as words in its
 * extra, see settings.c) or from the extension itself; the database and the
 * role travel in the environment (programs.c), never as arguments.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>
#include <unistd.h>

#include "miscadmin.h"
#include "pgstat.h"
#include "utils/backend_status.h"

#include "child.h"
#include "pg_dump.h"
#include "settings.h"

/* how many of pg_dump's last lines an error message quotes */
#define PG_DUMP_TAIL_LINES 10
/* what pg_dump prints when --lock-wait-timeout expires on a table */
#define PG_DUMP_LOCK_QUERY "Query was: LOCK TABLE "
#define PG_DUMP_LOCK_MODE " IN ACCESS SHARE MODE"

/*
 * Terminate the server processes still serving pg_dump's connections once
 * pg_dump is gone: one that waits for a lock would otherwise wait on,
 * holding the locks it already has, until the lock is granted.  They are
 * told apart by their application_name; at most one backup runs at a time.
 */
void
protech_backup_terminate_pg_dump_backends(void)
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
 * The pg_dump to run: the setting, or the pg_dump next to the running
 * postgres.  Checks that it can be executed and that it is at least as new
 * as the server, and returns its version line.
 */
char *
protech_backup_check_pg_dump(const char *pg_dump, const char *const *envp)
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
void
protech_backup_report_dump_failure(const char *program, const char *database,
								   const char *role, int status,
								   StringInfo output)
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
 * pg_dump's command line for a backup stored as storage says: the fixed
 * arguments (format, lock wait timeout, compression, jobs, and for the
 * directory format the folder to write), then the words of
 * protech_backup.pg_dump_options.  Every value in it comes from a setting
 * its check hook validated (and parsed) or from the extension itself; the
 * database and the role travel in the environment, never as arguments.
 */
const char **
protech_backup_pg_dump_argv(const char *pg_dump,
							const ProtechBackupStorage *storage,
							const char *folder)
{
	const char *const *extra = protech_backup_pg_dump_options_in_force();
	int			nextra = 0;
	const char **argv;
	int			argc = 0;

	while (extra[nextra] != NULL)
		nextra++;
	argv = palloc((nextra + 8) * sizeof(char *));
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
	for (int i = 0; i < nextra; i++)
		argv[argc++] = extra[i];
	argv[argc] = NULL;
	return argv;
}
