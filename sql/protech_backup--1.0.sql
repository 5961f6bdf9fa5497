/* protech_backup--1.0.sql: objects of the protech_backup extension */

\echo Use "CREATE EXTENSION protech_backup" to load this file. \quit

-- One backup, as described by its manifest.
CREATE TYPE protech_backup_info AS (
	file_name text,
	database name,
	format text,
	compression text,
	size_bytes bigint,
	sha256 text,
	started_at timestamptz,
	finished_at timestamptz,
	trigger text
);

CREATE FUNCTION protech_backup_now()
RETURNS SETOF protech_backup_info
AS 'MODULE_PATHNAME', 'protech_backup_now'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE ROWS 1;
COMMENT ON FUNCTION protech_backup_now() IS 'take a backup now and return it';

CREATE FUNCTION protech_backup_list()
RETURNS SETOF protech_backup_info
AS 'MODULE_PATHNAME', 'protech_backup_list'
LANGUAGE C VOLATILE STRICT PARALLEL SAFE ROWS 30;
COMMENT ON FUNCTION protech_backup_list() IS 'every complete backup, newest first';

-- Only a superuser runs these until it grants EXECUTE.
REVOKE ALL ON FUNCTION protech_backup_now() FROM PUBLIC;
REVOKE ALL ON FUNCTION protech_backup_list() FROM PUBLIC;

CREATE FUNCTION protech_backup_cleanup(dry_run boolean DEFAULT false)
RETURNS TABLE(file_name text, action text, reason text)
AS 'MODULE_PATHNAME', 'protech_backup_cleanup'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE ROWS 30;
COMMENT ON FUNCTION protech_backup_cleanup(boolean) IS 'apply backup retention now (or, with dry_run, only show what it would do)';

-- It deletes backups: only a superuser runs it until it grants EXECUTE.
REVOKE ALL ON FUNCTION protech_backup_cleanup(boolean) FROM PUBLIC;

-- Not STRICT, so that a NULL argument raises an error instead of
-- silently returning nothing.
CREATE FUNCTION protech_backup_retention_plan(
	started_at timestamptz[],
	size_bytes bigint[],
	retention_count int,
	retention_days int,
	keep_daily int,
	keep_weekly int,
	keep_monthly int,
	max_size bigint,
	timezone text,
	now timestamptz)
RETURNS TABLE(started_at timestamptz, action text, reason text)
AS 'MODULE_PATHNAME', 'protech_backup_retention_plan'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION protech_backup_retention_plan(timestamptz[], bigint[], int, int, int, int, int, bigint, text, timestamptz) IS 'which of the given backups retention would keep under the given rules, and why';

-- Left executable by PUBLIC: it is pure computation over its arguments,
-- reads no setting and touches no file, so it reveals and changes nothing,
-- and lets anyone try retention rules before an administrator sets them.
