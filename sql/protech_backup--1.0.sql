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
	trigger text,
	verified_at timestamptz,
	verify_result text,
	globals_file text
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
CREATE FUNCTION protech_backup_next_run(schedule text, timezone text, after timestamptz)
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'protech_backup_next_run_sql'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION protech_backup_next_run(text, text, timestamptz) IS
	'first instant after "after" at which the cron schedule fires in the time zone';

-- Like every function of the extension, only a superuser runs it until it
-- grants EXECUTE.
REVOKE ALL ON FUNCTION protech_backup_next_run(text, text, timestamptz) FROM PUBLIC;

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
	message text,
	post_backup_status text CHECK (post_backup_status IN ('succeeded', 'failed'))
);
CREATE INDEX protech_backup_history_started_at_idx
	ON protech_backup_history (started_at);
COMMENT ON TABLE protech_backup_history IS 'one row per backup run';
REVOKE ALL ON protech_backup_history FROM PUBLIC;

-- Only a superuser runs these until it grants EXECUTE.
REVOKE ALL ON FUNCTION protech_backup_now() FROM PUBLIC;
REVOKE ALL ON FUNCTION protech_backup_list() FROM PUBLIC;

-- Not STRICT, so that a NULL dry_run raises an error instead of silently
-- returning nothing.
CREATE FUNCTION protech_backup_cleanup(dry_run boolean DEFAULT false)
RETURNS TABLE(file_name text, action text, reason text)
AS 'MODULE_PATHNAME', 'protech_backup_cleanup'
LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 30;
COMMENT ON FUNCTION protech_backup_cleanup(boolean) IS 'apply backup retention now (or, with dry_run, only show what it would do)';

-- It deletes backups: only a superuser runs it until it grants EXECUTE.
REVOKE ALL ON FUNCTION protech_backup_cleanup(boolean) FROM PUBLIC;

-- Verify a backup: read it back against its manifest and, with restore,
-- restore it into a scratch database.  Not STRICT, so that a NULL argument
-- raises an error instead of silently returning nothing.
CREATE FUNCTION protech_backup_verify(file_name text, restore boolean DEFAULT false)
RETURNS TABLE(file_name text, checksum_ok boolean, restored boolean,
			  tables integer, rows bigint, duration interval, detail text)
AS 'MODULE_PATHNAME', 'protech_backup_verify'
LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 1;
COMMENT ON FUNCTION protech_backup_verify(text, boolean) IS 'read a backup back against its manifest and, with restore, restore it into a scratch database; record the outcome';

-- Restore a backup into a new database.
CREATE FUNCTION protech_backup_restore(file_name text, target_database name)
RETURNS TABLE(database name, tables integer, rows bigint, duration interval)
AS 'MODULE_PATHNAME', 'protech_backup_restore'
LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 1;
COMMENT ON FUNCTION protech_backup_restore(text, name) IS 'restore a backup into a new database, which must not exist yet';

-- Raw bytes of a backup, for download over an SQL connection; also needs
-- the privileges of pg_read_server_files, which it checks itself.
CREATE FUNCTION protech_backup_read(file_name text, "offset" bigint, length integer)
RETURNS bytea
AS 'MODULE_PATHNAME', 'protech_backup_read'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION protech_backup_read(text, bigint, integer) IS 'length bytes of a backup from offset on (a directory-format backup as a tar archive), for download';

CREATE FUNCTION protech_backup_read_size(file_name text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'protech_backup_read_size'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION protech_backup_read_size(text) IS 'how many bytes protech_backup_read() serves for a backup';

-- They read backups, create databases and read server files: only a
-- superuser runs them until it grants EXECUTE.
REVOKE ALL ON FUNCTION protech_backup_verify(text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION protech_backup_restore(text, name) FROM PUBLIC;
REVOKE ALL ON FUNCTION protech_backup_read(text, bigint, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION protech_backup_read_size(text) FROM PUBLIC;

-- Not STRICT, so that a NULL argument raises an error instead of
-- silently returning nothing.
CREATE FUNCTION protech_backup_retention_plan(
	started_at timestamptz[],
	size_bytes bigint[],
	verify_failed boolean[],
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
COMMENT ON FUNCTION protech_backup_retention_plan(timestamptz[], bigint[], boolean[], int, int, int, int, int, bigint, text, timestamptz) IS 'which of the given backups retention would keep under the given rules, and why';

-- Pure computation over its arguments, reading no setting and touching no
-- file; still, like every function of the extension, only a superuser
-- runs it until it grants EXECUTE.
REVOKE ALL ON FUNCTION protech_backup_retention_plan(timestamptz[], bigint[], boolean[], int, int, int, int, int, bigint, text, timestamptz) FROM PUBLIC;

-- What the server's shared memory and file system know right now; the
-- building block of protech_backup_status().
CREATE FUNCTION protech_backup_runtime(
	OUT scheduler_pid integer,
	OUT next_run_at timestamptz,
	OUT running_pid integer,
	OUT running_since timestamptz,
	OUT running_file text,
	OUT running_bytes bigint,
	OUT directory text,
	OUT directory_free_bytes bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'protech_backup_runtime'
LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
REVOKE ALL ON FUNCTION protech_backup_runtime() FROM PUBLIC;

-- The newest backup is a size anomaly when it is under 2 kB, or smaller
-- than protech_backup.min_size_ratio times the median of the previous (up to
-- 7) backups of the same format and compression.  NULL when it is not.
CREATE FUNCTION protech_backup_size_anomaly()
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	WITH backups AS (
		SELECT file_name, size_bytes, format, compression,
			   row_number() OVER (ORDER BY started_at DESC, file_name DESC) AS n
		FROM @extschema@.protech_backup_list()),
	newest AS (SELECT * FROM backups WHERE n = 1),
	previous AS (
		SELECT b.size_bytes
		FROM backups b, newest
		WHERE b.n > 1 AND b.format = newest.format
		  AND b.compression = newest.compression
		ORDER BY b.n
		LIMIT 7),
	median AS (
		SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY size_bytes) AS bytes,
			   count(*) AS backups
		FROM previous)
	SELECT CASE
		WHEN newest.size_bytes < 2048 THEN
			format('backup %s is only %s bytes', newest.file_name, newest.size_bytes)
		WHEN newest.size_bytes <
			 current_setting('protech_backup.min_size_ratio')::float8 * median.bytes THEN
			format('backup %s is %s bytes, less than %s of the median size (%s bytes) of the %s previous backups',
				   newest.file_name, newest.size_bytes,
				   current_setting('protech_backup.min_size_ratio'),
				   round(median.bytes), median.backups)
		END
	FROM newest, median
$$;
REVOKE ALL ON FUNCTION protech_backup_size_anomaly() FROM PUBLIC;

-- One row answering the original design's monitoring list: is the scheduler
-- alive, did the last backup complete, is its size reasonable, is there
-- room for the next one.  healthy is true when problems is empty.
-- SECURITY DEFINER so that a monitoring role needs EXECUTE on this function
-- alone; granted to pg_monitor.
CREATE FUNCTION protech_backup_status(
	OUT enabled boolean,
	OUT schedule text,
	OUT timezone text,
	OUT next_run_at timestamptz,
	OUT worker_pid integer,
	OUT running boolean,
	OUT running_since timestamptz,
	OUT running_bytes bigint,
	OUT last_success_at timestamptz,
	OUT last_success_file text,
	OUT last_success_bytes bigint,
	OUT last_success_duration interval,
	OUT last_failure_at timestamptz,
	OUT last_failure_message text,
	OUT backups bigint,
	OUT backups_bytes bigint,
	OUT directory text,
	OUT directory_free_bytes bigint,
	OUT healthy boolean,
	OUT problems text[])
RETURNS record
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	WITH settings AS (
		SELECT current_setting('protech_backup.schedule') AS schedule,
			   current_setting('protech_backup.timezone') AS timezone),
	runtime AS (SELECT * FROM @extschema@.protech_backup_runtime()),
	backups AS (SELECT * FROM @extschema@.protech_backup_list()),
	-- a backup whose verification failed is no success
	newest AS (
		SELECT * FROM backups
		WHERE verify_result IS NULL OR verify_result NOT LIKE 'failed%'
		ORDER BY started_at DESC LIMIT 1),
	totals AS (
		SELECT count(*) AS backups, coalesce(sum(size_bytes), 0)::bigint AS bytes
		FROM backups),
	last_failure AS (
		SELECT started_at, message
		FROM @extschema@.protech_backup_history
		WHERE status = 'failed'
		ORDER BY run_id DESC
		LIMIT 1),
	last_finished AS (
		SELECT status, post_backup_status, message, file_name
		FROM @extschema@.protech_backup_history
		WHERE status IN ('succeeded', 'failed')
		ORDER BY run_id DESC
		LIMIT 1),
	next_two AS (
		SELECT first, @extschema@.protech_backup_next_run(s.schedule, s.timezone, first) AS second
		FROM settings s,
			 LATERAL (SELECT @extschema@.protech_backup_next_run(s.schedule, s.timezone, now()) AS first) AS f
		WHERE s.schedule <> ''),
	period AS (SELECT (SELECT second - first FROM next_two) AS every),
	checks AS (
		SELECT array_remove(ARRAY[
			CASE WHEN r.scheduler_pid IS NULL THEN
				'scheduler not running' END,
			CASE WHEN p.every IS NOT NULL AND
					  (n.started_at IS NULL OR n.started_at < now() - 1.5 * p.every) THEN
				format('no successful backup since %s (the schedule expects one every %s)',
					   coalesce(n.started_at::text, 'the extension was installed'), p.every) END,
			CASE WHEN lf.status = 'failed' THEN
				'last backup failed: ' || split_part(lf.message, E'\n', 1) END,
			CASE WHEN lf.post_backup_status = 'failed' THEN
				format('post_backup_command failed for %s', lf.file_name) END,
			-- the first line of the run's message saying retention did not
			-- delete what it had to
			(regexp_match(lf.message,
						  '(?:^|\n)(retention(?:: could not delete| failed)[^\n]*)'))[1],
			CASE WHEN n.file_name IS NOT NULL AND
					  @extschema@.protech_backup_size_anomaly() IS NOT NULL THEN
				'size anomaly: ' || @extschema@.protech_backup_size_anomaly() END,
			CASE WHEN r.directory_free_bytes < n.size_bytes THEN
				format('free space in %s (%s) is less than the size of the last backup (%s)',
					   r.directory, pg_size_pretty(r.directory_free_bytes),
					   pg_size_pretty(n.size_bytes)) END
		], NULL) AS problems
		FROM runtime r
		CROSS JOIN period p
		LEFT JOIN newest n ON true
		LEFT JOIN last_finished lf ON true)
	SELECT s.schedule <> '', s.schedule, s.timezone, r.next_run_at,
		   r.scheduler_pid, r.running_pid IS NOT NULL, r.running_since,
		   r.running_bytes,
		   n.started_at, n.file_name, n.size_bytes, n.finished_at - n.started_at,
		   f.started_at, f.message,
		   t.backups, t.bytes, r.directory, r.directory_free_bytes,
		   cardinality(c.problems) = 0, c.problems
	FROM settings s
	CROSS JOIN runtime r
	CROSS JOIN totals t
	CROSS JOIN checks c
	LEFT JOIN newest n ON true
	LEFT JOIN last_failure f ON true
$$;
REVOKE ALL ON FUNCTION protech_backup_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION protech_backup_status() TO pg_monitor;

-- The same in Prometheus naming, one row per metric, labelled with the
-- database.  protech_backup_failures_total counts the failed runs the
-- history keeps (protech_backup.history_days).
CREATE FUNCTION protech_backup_metrics(
	OUT name text,
	OUT labels text,
	OUT value double precision)
RETURNS SETOF record
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT m.name,
		   format('database="%s"',
				  replace(replace(replace(current_setting('protech_backup.database'),
										  '\', '\\'), '"', '\"'), E'\n', '\n')),
		   m.value
	FROM @extschema@.protech_backup_status() AS s,
	LATERAL (VALUES
		('protech_backup_last_success_timestamp_seconds', extract(epoch FROM s.last_success_at)::float8),
		('protech_backup_last_duration_seconds', extract(epoch FROM s.last_success_duration)::float8),
		('protech_backup_last_size_bytes', s.last_success_bytes::float8),
		('protech_backup_backups_total', s.backups::float8),
		('protech_backup_failures_total',
		 (SELECT count(*) FROM @extschema@.protech_backup_history WHERE status = 'failed')::float8),
		('protech_backup_running', CASE WHEN s.running THEN 1 ELSE 0 END::float8),
		('protech_backup_directory_free_bytes', s.directory_free_bytes::float8),
		('protech_backup_healthy', CASE WHEN s.healthy THEN 1 ELSE 0 END::float8)
	) AS m(name, value)
$$;
REVOKE ALL ON FUNCTION protech_backup_metrics() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION protech_backup_metrics() TO pg_monitor;
