/*-------------------------------------------------------------------------
 *
 * programs.c
 *		PostgreSQL's client programs as this extension runs them (pg_dump,
 *		psql, pg_restore): where they are, and how they reach this very
 *		server.  Built on settings.c and child.c.
 *
 * They run through the child runner (child.c) with an argument vector,
 * never a shell, and connect over the server's own Unix socket as
 * protech_backup.role.  The connection settings travel in their
 * environment (PGHOST, PGPORT, PGUSER, PGDATABASE, PGAPPNAME), from which
 * every other PG* variable of the server's environment is removed, so
 * nothing the postmaster was started with redirects them.
 *
 * pg_dump is protech_backup.pg_dump_path, or the one installed next to the
 * running postgres; psql and pg_restore, which restore into this server,
 * are always the ones installed next to it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <unistd.h>

#include "catalog/pg_authid.h"
#include "miscadmin.h"
#include "postmaster/postmaster.h"
#include "utils/varlena.h"

#include "child.h"
#include "programs.h"
#include "settings.h"

/*
 * The first of the server's Unix socket directories, or "localhost" when it
 * listens on none, so that the programs reach this very server.
 */
static char *
server_socket_host(void)
{
	char	   *rawstring = pstrdup(Unix_socket_directories);
	List	   *dirs;

	if (!SplitDirectoriesString(rawstring, ',', &dirs) || dirs == NIL)
		return "localhost";
	return (char *) linitial(dirs);
}

/*
 * The role the programs connect as: protech_backup.role, or the bootstrap
 * superuser when it is empty.  Reads the catalog: call it in a transaction.
 */
char *
protech_backup_connection_role(void)
{
	if (protech_backup_role[0])
		return pstrdup(protech_backup_role);
	return GetUserNameFromId(BOOTSTRAP_SUPERUSERID, false);
}

/*
 * The path of a client program: pg_dump as protech_backup.pg_dump_path
 * says, anything else (psql, pg_restore) from the directory of the running
 * postgres.
 */
char *
protech_backup_program_path(const char *program)
{
	char	   *bindir;

	if (strcmp(program, "pg_dump") == 0 && protech_backup_pg_dump_path[0])
		return pstrdup(protech_backup_pg_dump_path);
	bindir = pstrdup(my_exec_path);
	get_parent_directory(bindir);
	return psprintf("%s/%s", bindir, program);
}

/*
 * Write into argv the start of every psql command line of this extension:
 * psql's path; -X, since a ~/.psqlrc of the server's OS user would run in
 * every session; quiet; never a password prompt; the first error ends the
 * script (ON_ERROR_STOP).  With pin_search_path, a first command pins
 * search_path, as every SQL text of the extension runs (psql runs -c
 * commands in order, before the caller's).  Returns the number of entries
 * written, at most PROTECH_BACKUP_PSQL_OPTIONS; the caller adds its own
 * and the final NULL.
 */
int
protech_backup_psql_options(const char **argv, bool pin_search_path)
{
	int			argc = 0;

	argv[argc++] = protech_backup_program_path("psql");
	argv[argc++] = "-X";
	argv[argc++] = "-q";
	argv[argc++] = "--no-password";
	argv[argc++] = "-v";
	argv[argc++] = "ON_ERROR_STOP=1";
	if (pin_search_path)
	{
		argv[argc++] = "-c";
		argv[argc++] = "SET search_path = " PROTECH_BACKUP_SEARCH_PATH;
	}
	Assert(argc <= PROTECH_BACKUP_PSQL_OPTIONS);
	return argc;
}

/*
 * The environment of a client program that connects to database of this
 * server as role (see the file header).
 */
const char **
protech_backup_connection_environment(const char *database, const char *role)
{
	const char *extra[] = {
		psprintf("PGHOST=%s", server_socket_host()),
		psprintf("PGPORT=%d", PostPortNumber),
		psprintf("PGUSER=%s", role),
		psprintf("PGDATABASE=%s", database),
		"PGAPPNAME=" PROTECH_BACKUP_APPLICATION_NAME,
		protech_backup_passfile[0] ?
		psprintf("PGPASSFILE=%s", protech_backup_passfile) : NULL,
		NULL
	};

	if (protech_backup_passfile[0] && access(protech_backup_passfile, R_OK) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read password file \"%s\": %m",
						protech_backup_passfile),
				 errhint("Make protech_backup.passfile name a file the server's user can read, with mode 0600, or set it to an empty string.")));
	return protech_backup_child_environment(extra);
}
