/*-------------------------------------------------------------------------
 *
 * database_properties.c
 *		The database-level properties of a backed-up database, which
 *		pg_dump writes only with --create: its tablespace, owner, comment,
 *		security labels, connection limit, ACL, ALTER DATABASE ... SET and
 *		ALTER ROLE ... IN DATABASE ... SET settings, ALLOW_CONNECTIONS and
 *		IS_TEMPLATE.  A backup saves them (backup.c, through the function
 *		that writes its globals file) as a psql script beside the dump,
 *		"<name>.database.sql", listed in the manifest with its size and
 *		SHA-256, encrypted as the dump is ("<name>.database.sql.age");
 *		protech_backup_restore() applies it to the new database
 *		(restore.c), read through the reader restore.c opens (decrypting
 *		an encrypted one).  Built on stream.c, programs.c and child.c.
 *
 * The script is generated at backup time by one query over the catalog
 * (DATABASE_PROPERTIES_QUERY) that quotes every name with %I and every
 * value with %L; the database itself is never named in it: every
 * statement says :"target", the psql variable that psql quotes as an
 * identifier, so the same file applies, with stock psql, to a database of
 * any new name (psql -v target=NEW_NAME -f FILE, connected to another
 * database), and no text is ever rewritten.  Without the variable the
 * script stops at its first line.  The statements come in the order that
 * keeps them applicable: the tablespace first (the database must have no
 * session), ALLOW_CONNECTIONS and IS_TEMPLATE last.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "child.h"
#include "database_properties.h"
#include "programs.h"
#include "settings.h"
#include "stream.h"

/* lines of psql's output quoted when applying the properties fails */
#define APPLY_FAILURE_LINES 10

/*
 * The GUCs whose values are lists of quoted elements, which ALTER ... SET
 * takes as a list of literals (pg_dump 15's variable_is_guc_list_quote).
 */
#define LIST_QUOTE_GUCS \
	"'{local_preload_libraries,search_path,session_preload_libraries," \
	"shared_preload_libraries,temp_tablespaces,unix_socket_directories}'"

/*
 * One setting "name=value" of pg_db_role_setting (c.item) as "name TO
 * value": the name quoted as an identifier; the value as one literal, or,
 * for a list GUC, each element (unquoted when it was quoted) as a literal.
 */
#define SETTING_TO_VALUE \
	"pg_catalog.format('%I TO %s', pg_catalog.split_part(c.item, '=', 1), " \
	"CASE WHEN pg_catalog.lower(pg_catalog.split_part(c.item, '=', 1)) " \
	"OPERATOR(pg_catalog.=) ANY (" LIST_QUOTE_GUCS "::pg_catalog.text[]) " \
	"THEN (SELECT pg_catalog.string_agg(pg_catalog.quote_literal(" \
	"CASE WHEN x.e OPERATOR(pg_catalog.~~) '\"%' " \
	"THEN pg_catalog.replace(pg_catalog.substr(x.e, 2, " \
	"pg_catalog.length(x.e) OPERATOR(pg_catalog.-) 2), '\"\"', '\"') " \
	"ELSE x.e END), ', ' ORDER BY m.i) " \
	"FROM pg_catalog.regexp_matches(pg_catalog.substr(c.item, " \
	"pg_catalog.strpos(c.item, '=') OPERATOR(pg_catalog.+) 1), " \
	"'\"(?:[^\"]|\"\")*\"|[^\", ]+', 'g') WITH ORDINALITY AS m(a, i), " \
	"LATERAL (SELECT m.a[1] AS e) AS x) " \
	"ELSE pg_catalog.quote_literal(pg_catalog.substr(c.item, " \
	"pg_catalog.strpos(c.item, '=') OPERATOR(pg_catalog.+) 1)) END)"

/*
 * The script, one line per row, for the database the query runs in.  Its
 * header stops psql when target is not set, and sets the client encoding
 * the file is written in.  The ACL is given back as the owner's grants:
 * every privilege of PUBLIC and the owner revoked, then each aclitem
 * granted again.
 */
#define DATABASE_PROPERTIES_QUERY \
	"SELECT s.line FROM pg_catalog.pg_database d, LATERAL (" \
	"SELECT 0 AS k, 0 AS n, '-- the database-level properties of a database " \
	"backed up by protech_backup; apply them with' AS line " \
	"UNION ALL SELECT 0, 1, '--   psql -v target=DATABASE -f THIS_FILE " \
	"(connected to another database)' " \
	"UNION ALL SELECT 0, 2, '\\set ON_ERROR_STOP on' " \
	"UNION ALL SELECT 0, 3, '\\if :{?target}' " \
	"UNION ALL SELECT 0, 4, '\\else' " \
	"UNION ALL SELECT 0, 5, 'DO $$BEGIN RAISE EXCEPTION ''the psql variable " \
	"target is not set'' USING HINT = ''Name the database to apply the " \
	"properties to with psql -v target=DATABASE.''; END$$;' " \
	"UNION ALL SELECT 0, 6, '\\endif' " \
	"UNION ALL SELECT 0, 7, 'SET client_encoding = ' OPERATOR(pg_catalog.||) " \
	"pg_catalog.quote_literal(pg_catalog.pg_client_encoding()) " \
	"OPERATOR(pg_catalog.||) ';' " \
	"UNION ALL SELECT 1, 0, pg_catalog.format(" \
	"'ALTER DATABASE :\"target\" SET TABLESPACE %I;', t.spcname) " \
	"FROM pg_catalog.pg_tablespace t " \
	"WHERE t.oid OPERATOR(pg_catalog.=) d.dattablespace " \
	"AND t.spcname OPERATOR(pg_catalog.<>) 'pg_default' " \
	"UNION ALL SELECT 2, 0, pg_catalog.format(" \
	"'ALTER DATABASE :\"target\" OWNER TO %I;', " \
	"pg_catalog.pg_get_userbyid(d.datdba)) " \
	"UNION ALL SELECT 3, 0, pg_catalog.format(" \
	"'COMMENT ON DATABASE :\"target\" IS %L;', c.description) " \
	"FROM pg_catalog.pg_shdescription c " \
	"WHERE c.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_database'::pg_catalog.regclass " \
	"AND c.objoid OPERATOR(pg_catalog.=) d.oid " \
	"UNION ALL SELECT 4, 0, pg_catalog.format(" \
	"'SECURITY LABEL FOR %I ON DATABASE :\"target\" IS %L;', l.provider, l.label) " \
	"FROM pg_catalog.pg_shseclabel l " \
	"WHERE l.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_database'::pg_catalog.regclass " \
	"AND l.objoid OPERATOR(pg_catalog.=) d.oid " \
	"UNION ALL SELECT 5, 0, pg_catalog.format(" \
	"'ALTER DATABASE :\"target\" CONNECTION LIMIT %s;', d.datconnlimit) " \
	"WHERE d.datconnlimit OPERATOR(pg_catalog.<>) -1 " \
	"UNION ALL SELECT 6, 0, 'REVOKE ALL ON DATABASE :\"target\" FROM PUBLIC;' " \
	"WHERE d.datacl IS NOT NULL " \
	"UNION ALL SELECT 6, 1, pg_catalog.format(" \
	"'REVOKE ALL ON DATABASE :\"target\" FROM %I;', " \
	"pg_catalog.pg_get_userbyid(d.datdba)) WHERE d.datacl IS NOT NULL " \
	"UNION ALL SELECT 6, 2, pg_catalog.format(" \
	"'GRANT %s ON DATABASE :\"target\" TO %s%s;', a.privilege_type, " \
	"CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC' " \
	"ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END, " \
	"CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END) " \
	"FROM pg_catalog.aclexplode(d.datacl) a " \
	"UNION ALL SELECT 7, 0, pg_catalog.format('%s SET %s;', " \
	"CASE WHEN r.setrole OPERATOR(pg_catalog.=) 0 " \
	"THEN 'ALTER DATABASE :\"target\"' " \
	"ELSE pg_catalog.format('ALTER ROLE %I IN DATABASE :\"target\"', " \
	"pg_catalog.pg_get_userbyid(r.setrole)) END, " SETTING_TO_VALUE ") " \
	"FROM pg_catalog.pg_db_role_setting r, " \
	"LATERAL pg_catalog.unnest(r.setconfig) WITH ORDINALITY AS c(item, i) " \
	"WHERE r.setdatabase OPERATOR(pg_catalog.=) d.oid " \
	"UNION ALL SELECT 8, 0, 'ALTER DATABASE :\"target\" ALLOW_CONNECTIONS false;' " \
	"WHERE NOT d.datallowconn " \
	"UNION ALL SELECT 9, 0, 'ALTER DATABASE :\"target\" IS_TEMPLATE true;' " \
	"WHERE d.datistemplate" \
	") AS s " \
	"WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database() " \
	"ORDER BY s.k, s.n"

/*
 * The argv of the psql that prints the properties script of the database
 * it connects to (the backed-up one), one statement a line, for backup.c
 * to write as the sidecar file.  search_path is pinned first, like every
 * SQL text of the extension.
 */
const char **
protech_backup_database_properties_argv(void)
{
	const char **argv = palloc((PROTECH_BACKUP_PSQL_OPTIONS + 5) * sizeof(char *));
	int			argc = protech_backup_psql_options(argv, true);

	argv[argc++] = "--no-align";
	argv[argc++] = "--tuples-only";
	argv[argc++] = "-c";
	argv[argc++] = DATABASE_PROPERTIES_QUERY;
	argv[argc] = NULL;
	return argv;
}

/*
 * Apply the properties script reader reads (protech_backup_stored_reader:
 * decrypted when the file is encrypted) to database target with psql,
 * which reads it on its standard input, as the environment envp says
 * (connected to another database: the tablespace moves only a database
 * nobody is connected to).  Returns true, or false with *problem saying
 * what psql printed.
 */
bool
protech_backup_apply_database_properties(ProtechBackupStreamReader *reader,
										 const char *target,
										 const char *const *envp,
										 char **problem)
{
	const char *argv[PROTECH_BACKUP_PSQL_OPTIONS + 6];
	int			argc = protech_backup_psql_options(argv, false);
	StringInfoData output;
	int			status;

	argv[argc++] = "-v";
	argv[argc++] = psprintf("target=%s", target);
	argv[argc++] = "--output=/dev/null";
	argv[argc++] = "-f";
	argv[argc++] = "-";
	argv[argc] = NULL;
	initStringInfo(&output);
	status = protech_backup_run_child("psql", argv, envp,
									  protech_backup_stream_read, reader,
									  NULL, NULL, &output,
									  protech_backup_timeout);
	if (status == 0)
		return true;
	*problem = psprintf("applying the database-level properties failed: psql %s and printed:\n%s",
						wait_result_to_str(status),
						protech_backup_last_lines(&output, APPLY_FAILURE_LINES));
	return false;
}
