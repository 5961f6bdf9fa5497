-- protech_backup 1.0 -> 1.1
--
-- protech_backup_status() reports a stale backup by
-- protech_backup.expected_interval when it is set, so that a cluster whose
-- backups pg_cron takes (protech_backup.schedule = '') is still told when
-- they stop.

\echo Use "ALTER EXTENSION protech_backup UPDATE TO '1.1'" to load this file. \quit

-- One row answering the original design's monitoring list: is the scheduler
-- alive, did the last backup complete, is its size reasonable, is there
-- room for the next one.  healthy is true when problems is empty.
-- SECURITY DEFINER so that a monitoring role needs EXECUTE on this function
-- alone; granted to pg_monitor.
CREATE OR REPLACE FUNCTION protech_backup_status(
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
			CASE WHEN r.scheduler_pid IS NULL THEN
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
