-- protech_backup 1.0 -> 1.1
--
-- protech_backup_status() reports a stale backup by
-- protech_backup.expected_interval when it is set, so that a cluster whose
-- backups pg_cron takes (protech_backup.schedule = '') is still told when
-- they stop.  Backups know their cluster (system identifier and timeline),
-- and protech_backup_status() is right on a standby (in_recovery).

\echo Use "ALTER EXTENSION protech_backup UPDATE TO '1.1'" to load this file. \quit

-- Backups know their cluster: the system identifier (as pg_control_system()
-- shows it) and the timeline of the server that took each, from its
-- manifest; NULL for the backups of version 1.0, whose manifests lack them.
ALTER TYPE protech_backup_info
	ADD ATTRIBUTE system_identifier bigint,
	ADD ATTRIBUTE timeline integer;

-- The newest backup of this cluster is a size anomaly when it is under 2 kB,
-- or smaller than protech_backup.min_size_ratio times the median of the
-- previous (up to 7) backups of this cluster of the same format and
-- compression.  NULL when it is not.  A backup of this cluster is one of
-- this server's system identifier, or of none recorded (version 1.0).
CREATE OR REPLACE FUNCTION protech_backup_size_anomaly()
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	WITH backups AS (
		SELECT b.file_name, b.size_bytes, b.format, b.compression,
			   row_number() OVER (ORDER BY b.started_at DESC, b.file_name DESC) AS n
		FROM @extschema@.protech_backup_list() b, pg_control_system() c
		WHERE b.system_identifier IS NULL
		   OR b.system_identifier = c.system_identifier),
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

-- protech_backup_status() gains in_recovery, and is right on a standby: no
-- scheduler runs there until promotion, which is no problem, and its last
-- success is the newest successful run of the history that the primary
-- replicates to it.  On the primary the last success is the newest complete
-- backup of this cluster in the directory, as before.  The size, age and
-- failure problems mean the same on every node.  Its result type changes,
-- so it is dropped and created again, with its privileges.
DROP FUNCTION protech_backup_status();

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
	OUT problems text[],
	OUT in_recovery boolean)
RETURNS record
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	WITH settings AS (
		SELECT current_setting('protech_backup.schedule') AS schedule,
			   current_setting('protech_backup.timezone') AS timezone,
			   pg_is_in_recovery() AS in_recovery),
	runtime AS (SELECT * FROM @extschema@.protech_backup_runtime()),
	-- the backups of this cluster (see protech_backup_size_anomaly)
	backups AS (
		SELECT b.*
		FROM @extschema@.protech_backup_list() b, pg_control_system() c
		WHERE b.system_identifier IS NULL
		   OR b.system_identifier = c.system_identifier),
	-- on the primary: the newest complete backup whose verification did
	-- not fail; on a standby: the newest success the history records
	newest AS (
		(SELECT b.started_at, b.finished_at, b.file_name, b.size_bytes
		 FROM backups b, settings s
		 WHERE NOT s.in_recovery
		   AND (b.verify_result IS NULL OR b.verify_result NOT LIKE 'failed%')
		 ORDER BY b.started_at DESC LIMIT 1)
		UNION ALL
		(SELECT h.started_at, h.finished_at, h.file_name, h.size_bytes
		 FROM @extschema@.protech_backup_history h, settings s
		 WHERE s.in_recovery AND h.status = 'succeeded'
		 ORDER BY h.started_at DESC LIMIT 1)),
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
	-- protech_backup.expected_interval (seconds) when set, else the schedule's period
	expected AS (
		SELECT setting::bigint AS seconds FROM pg_catalog.pg_settings
		WHERE name = 'protech_backup.expected_interval'),
	period AS (
		SELECT coalesce((SELECT justify_hours(make_interval(secs => e.seconds)) FROM expected e WHERE e.seconds > 0),
						(SELECT second - first FROM next_two)) AS every,
			   (SELECT e.seconds > 0 FROM expected e) AS expected_set),
	checks AS (
		SELECT array_remove(ARRAY[
			-- a standby runs no scheduler until it is promoted
			CASE WHEN r.scheduler_pid IS NULL AND NOT s.in_recovery THEN
				'scheduler not running' END,
			CASE WHEN p.every IS NOT NULL AND
					  (n.started_at IS NULL OR n.started_at < now() - 1.5 * p.every) THEN
				format('no successful backup since %s (%s expects one every %s)',
					   coalesce(n.started_at::text, 'the extension was installed'),
					   CASE WHEN p.expected_set THEN 'protech_backup.expected_interval'
							ELSE 'the schedule' END, p.every) END,
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
		CROSS JOIN settings s
		CROSS JOIN period p
		LEFT JOIN newest n ON true
		LEFT JOIN last_finished lf ON true)
	SELECT s.schedule <> '', s.schedule, s.timezone, r.next_run_at,
		   r.scheduler_pid, r.running_pid IS NOT NULL, r.running_since,
		   r.running_bytes,
		   n.started_at, n.file_name, n.size_bytes, n.finished_at - n.started_at,
		   f.started_at, f.message,
		   t.backups, t.bytes, r.directory, r.directory_free_bytes,
		   cardinality(c.problems) = 0, c.problems, s.in_recovery
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
-- database, now with protech_backup_in_recovery (1 on a standby).
CREATE OR REPLACE FUNCTION protech_backup_metrics(
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
		('protech_backup_healthy', CASE WHEN s.healthy THEN 1 ELSE 0 END::float8),
		('protech_backup_in_recovery', CASE WHEN s.in_recovery THEN 1 ELSE 0 END::float8)
	) AS m(name, value)
$$;
