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
-- Every database of the cluster (protech_backup.databases): each scheduled
-- run backs up every configured database, each backup named after its
-- database; protech_backup_now(database) backs up one of them; retention
-- and protech_backup_cleanup() work per database; protech_backup_status()
-- returns one row per configured database and protech_backup_metrics()
-- labels every series with its database.

-- The databases that are backed up, in the order a run backs them up:
-- protech_backup.database alone while protech_backup.databases is empty.
CREATE FUNCTION protech_backup_databases()
RETURNS SETOF name
AS 'MODULE_PATHNAME', 'protech_backup_databases_sql'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION protech_backup_databases() IS 'the databases that are backed up';
REVOKE ALL ON FUNCTION protech_backup_databases() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION protech_backup_databases() TO pg_monitor;

-- Back up one of the databases that are backed up, now.  Not STRICT, so
-- that a NULL argument raises an error instead of silently returning
-- nothing.
CREATE FUNCTION protech_backup_now(database name)
RETURNS SETOF protech_backup_info
AS 'MODULE_PATHNAME', 'protech_backup_now'
LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 1;
COMMENT ON FUNCTION protech_backup_now(name) IS 'take a backup of one database now and return it';
REVOKE ALL ON FUNCTION protech_backup_now(name) FROM PUBLIC;

-- The size anomaly of the newest backup of one database, judged against
-- the previous backups of that database alone (the function without
-- argument judges the newest backup of the directory among all).
CREATE FUNCTION protech_backup_size_anomaly(database name)
RETURNS text
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
	WITH backups AS (
		SELECT b.file_name, b.size_bytes, b.format, b.compression,
			   row_number() OVER (ORDER BY b.started_at DESC, b.file_name DESC) AS n
		FROM @extschema@.protech_backup_list() b, pg_control_system() c
		WHERE (b.system_identifier IS NULL
			   OR b.system_identifier = c.system_identifier)
		  AND b.database = $1),
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
REVOKE ALL ON FUNCTION protech_backup_size_anomaly(name) FROM PUBLIC;

-- protech_backup_cleanup() shows the database of each backup.
DROP FUNCTION protech_backup_cleanup(boolean);
CREATE FUNCTION protech_backup_cleanup(dry_run boolean DEFAULT false)
RETURNS TABLE(file_name text, action text, reason text, database name)
AS 'MODULE_PATHNAME', 'protech_backup_cleanup'
LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 30;
COMMENT ON FUNCTION protech_backup_cleanup(boolean) IS 'apply backup retention now (or, with dry_run, only show what it would do)';
REVOKE ALL ON FUNCTION protech_backup_cleanup(boolean) FROM PUBLIC;

-- protech_backup_status() returns one row per database that is backed up
-- (protech_backup_databases()), with its database: each row has its own
-- last success, last failure, size anomaly and staleness; what concerns
-- the whole cluster (the scheduler, the free space, a backup running) is
-- on every row.  While protech_backup.databases is empty, the one row
-- counts every backup of the directory, as before.
DROP FUNCTION protech_backup_status();
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
	OUT in_recovery boolean,
	OUT database name)
RETURNS SETOF record
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	WITH settings AS (
		SELECT current_setting('protech_backup.schedule') AS schedule,
			   current_setting('protech_backup.timezone') AS timezone,
			   current_setting('protech_backup.databases') <> '' AS many,
			   pg_is_in_recovery() AS in_recovery),
	runtime AS (SELECT * FROM @extschema@.protech_backup_runtime()),
	databases AS (
		SELECT d AS database, row_number() OVER () AS n
		FROM @extschema@.protech_backup_databases() d),
	-- the backups of this cluster (see protech_backup_size_anomaly)
	backups AS (
		SELECT b.*
		FROM @extschema@.protech_backup_list() b, pg_control_system() c
		WHERE b.system_identifier IS NULL
		   OR b.system_identifier = c.system_identifier),
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
			   (SELECT e.seconds > 0 FROM expected e) AS expected_set)
	SELECT s.schedule <> '', s.schedule, s.timezone, r.next_run_at,
		   r.scheduler_pid, r.running_pid IS NOT NULL, r.running_since,
		   r.running_bytes,
		   n.started_at, n.file_name, n.size_bytes, n.finished_at - n.started_at,
		   f.started_at, f.message,
		   t.backups, t.bytes, r.directory, r.directory_free_bytes,
		   cardinality(c.problems) = 0, c.problems, s.in_recovery, d.database
	FROM databases d
	CROSS JOIN settings s
	CROSS JOIN runtime r
	CROSS JOIN period p
	-- on the primary: the newest complete backup of the database whose
	-- verification did not fail; on a standby: the newest success the
	-- history records
	LEFT JOIN LATERAL (
		(SELECT b.started_at, b.finished_at, b.file_name, b.size_bytes
		 FROM backups b
		 WHERE NOT s.in_recovery AND (NOT s.many OR b.database = d.database)
		   AND (b.verify_result IS NULL OR b.verify_result NOT LIKE 'failed%')
		 ORDER BY b.started_at DESC LIMIT 1)
		UNION ALL
		(SELECT h.started_at, h.finished_at, h.file_name, h.size_bytes
		 FROM @extschema@.protech_backup_history h
		 WHERE s.in_recovery AND h.status = 'succeeded'
		   AND (NOT s.many OR h.database = d.database)
		 ORDER BY h.started_at DESC LIMIT 1)) AS n ON true
	CROSS JOIN LATERAL (
		SELECT count(*) AS backups, coalesce(sum(b.size_bytes), 0)::bigint AS bytes
		FROM backups b
		WHERE NOT s.many OR b.database = d.database) AS t
	LEFT JOIN LATERAL (
		SELECT h.started_at, h.message
		FROM @extschema@.protech_backup_history h
		WHERE h.status = 'failed' AND (NOT s.many OR h.database = d.database)
		ORDER BY h.run_id DESC
		LIMIT 1) AS f ON true
	LEFT JOIN LATERAL (
		SELECT h.status, h.post_backup_status, h.message, h.file_name
		FROM @extschema@.protech_backup_history h
		WHERE h.status IN ('succeeded', 'failed')
		  AND (NOT s.many OR h.database = d.database)
		ORDER BY h.run_id DESC
		LIMIT 1) AS lf ON true
	CROSS JOIN LATERAL (
		SELECT CASE WHEN s.many THEN @extschema@.protech_backup_size_anomaly(d.database)
					ELSE @extschema@.protech_backup_size_anomaly() END AS anomaly) AS a
	CROSS JOIN LATERAL (
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
			CASE WHEN n.file_name IS NOT NULL AND a.anomaly IS NOT NULL THEN
				'size anomaly: ' || a.anomaly END,
			CASE WHEN r.directory_free_bytes < n.size_bytes THEN
				format('free space in %s (%s) is less than the size of the last backup (%s)',
					   r.directory, pg_size_pretty(r.directory_free_bytes),
					   pg_size_pretty(n.size_bytes)) END
		], NULL) AS problems) AS c
	ORDER BY d.n
$$;
REVOKE ALL ON FUNCTION protech_backup_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION protech_backup_status() TO pg_monitor;

-- The same in Prometheus naming, one row per metric and database, each
-- labelled with its database; protech_backup_failures_total counts the
-- failed runs of that database the history keeps.
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
				  replace(replace(replace(s.database, '\', '\\'), '"', '\"'),
						  E'\n', '\n')),
		   m.value
	FROM @extschema@.protech_backup_status() AS s,
	LATERAL (VALUES
		('protech_backup_last_success_timestamp_seconds', extract(epoch FROM s.last_success_at)::float8),
		('protech_backup_last_duration_seconds', extract(epoch FROM s.last_success_duration)::float8),
		('protech_backup_last_size_bytes', s.last_success_bytes::float8),
		('protech_backup_backups_total', s.backups::float8),
		('protech_backup_failures_total',
		 (SELECT count(*) FROM @extschema@.protech_backup_history h
		  WHERE h.status = 'failed'
			AND (current_setting('protech_backup.databases') = ''
				 OR h.database = s.database))::float8),
		('protech_backup_running', CASE WHEN s.running THEN 1 ELSE 0 END::float8),
		('protech_backup_directory_free_bytes', s.directory_free_bytes::float8),
		('protech_backup_healthy', CASE WHEN s.healthy THEN 1 ELSE 0 END::float8),
		('protech_backup_in_recovery', CASE WHEN s.in_recovery THEN 1 ELSE 0 END::float8)
	) AS m(name, value)
$$;

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
