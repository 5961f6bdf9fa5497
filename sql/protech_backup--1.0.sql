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

-- When a cron schedule fires next, in a time zone.  STABLE, not IMMUTABLE:
-- the answer depends on the time zone data, which an update can change.
-- It only calculates, reading and starting nothing, so PUBLIC keeps EXECUTE.
CREATE FUNCTION protech_backup_next_run(schedule text, timezone text, after timestamptz)
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'protech_backup_next_run_sql'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION protech_backup_next_run(text, text, timestamptz) IS
	'first instant after "after" at which the cron schedule fires in the time zone';

-- One row per backup run, whatever started it, written by the process that
-- runs the backup in transactions of its own (so failed runs are recorded
-- too).  Not marked as configuration data: dumps do not carry it.
CREATE TABLE protech_backup_history (
	run_id bigserial PRIMARY KEY,
	trigger text NOT NULL CHECK (trigger IN ('manual', 'schedule', 'catch-up')),
	database name NOT NULL,
	started_at timestamptz NOT NULL,
	finished_at timestamptz,
	status text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'skipped')),
	file_name text,
	size_bytes bigint,
	message text
);
CREATE INDEX protech_backup_history_started_at_idx
	ON protech_backup_history (started_at);
COMMENT ON TABLE protech_backup_history IS 'one row per backup run';
REVOKE ALL ON protech_backup_history FROM PUBLIC;

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
