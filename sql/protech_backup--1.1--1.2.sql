-- protech_backup 1.1 -> 1.2
--
-- Each change of the SQL API since 1.1, in a section of its own saying what
-- it brings.

\echo Use "ALTER EXTENSION protech_backup UPDATE TO '1.2'" to load this file. \quit

-- protech_backup_restore() says what it left out: the notes column (an
-- extension that can live in one database only, such as pg_cron, is left
-- out of a restore into another name)
DROP FUNCTION protech_backup_restore(text, name);
CREATE FUNCTION protech_backup_restore(file_name text, target_database name)
RETURNS TABLE(database name, tables integer, rows bigint, duration interval,
			  notes text[])
AS 'MODULE_PATHNAME', 'protech_backup_restore'
LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 1;
COMMENT ON FUNCTION protech_backup_restore(text, name) IS 'restore a backup into a new database, which must not exist yet; notes says what it left out';
REVOKE ALL ON FUNCTION protech_backup_restore(text, name) FROM PUBLIC;
