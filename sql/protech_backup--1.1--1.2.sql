-- protech_backup 1.1 -> 1.2
--
-- Each change of the SQL API since 1.1, in a section of its own saying what
-- it brings.

\echo Use "ALTER EXTENSION protech_backup UPDATE TO '1.2'" to load this file. \quit

-- protech_backup_restore(): restore_globals (a new server in one call),
-- tables and schemas (a selective restore, refused until implemented),
-- jobs (pg_restore in parallel) and the notes column (issue 14)
DROP FUNCTION protech_backup_restore(text, name);
CREATE FUNCTION protech_backup_restore(file_name text, target_database name,
	restore_globals boolean DEFAULT false, tables text[] DEFAULT NULL,
	schemas text[] DEFAULT NULL, jobs integer DEFAULT 1)
RETURNS TABLE(database name, tables integer, rows bigint, duration interval, notes text[])
AS 'MODULE_PATHNAME', 'protech_backup_restore'
LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 1;
COMMENT ON FUNCTION protech_backup_restore(text, name, boolean, text[], text[], integer) IS 'restore a backup into a new database, which must not exist yet, with its database-level properties; with restore_globals, the backup''s roles and tablespaces this server lacks first';
REVOKE ALL ON FUNCTION protech_backup_restore(text, name, boolean, text[], text[], integer) FROM PUBLIC;
