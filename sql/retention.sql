--
-- Backup retention: its settings, the planner behind it driven through
-- protech_backup_retention_plan() by a table of cases, the planner's
-- argument checks, and protech_backup_cleanup().
--
CREATE EXTENSION protech_backup;
SET TimeZone = 'UTC';
SET DateStyle = ISO;

-- the settings, their defaults and ranges
SELECT name, setting, unit, context, min_val, max_val
FROM pg_settings
WHERE name ~ '^protech_backup\.(retention|keep)_'
ORDER BY name;

-- reloadable only, never negative, sizes in memory units
SET protech_backup.retention_count = 5;
ALTER SYSTEM SET protech_backup.retention_count = -1;
ALTER SYSTEM SET protech_backup.keep_weekly = -1;
ALTER SYSTEM SET protech_backup.retention_max_size = '50GB';
ALTER SYSTEM SET protech_backup.retention_max_size = '50 apples';
ALTER SYSTEM RESET ALL;

--
-- The planner, one case per row.  Unless a case says otherwise every rule
-- is off, each backup is 100 bytes, the zone is UTC and it is now
-- 2026-11-26 12:00 UTC.  The plan lists each backup once, newest first.
--
CREATE TEMP TABLE retention_case (
	id int PRIMARY KEY,
	description text NOT NULL,
	started_at timestamptz[] NOT NULL,
	size_bytes bigint[],
	verify_failed boolean[],
	retention_count int NOT NULL DEFAULT 0,
	retention_days int NOT NULL DEFAULT 0,
	keep_daily int NOT NULL DEFAULT 0,
	keep_weekly int NOT NULL DEFAULT 0,
	keep_monthly int NOT NULL DEFAULT 0,
	max_size bigint NOT NULL DEFAULT 0,
	timezone text NOT NULL DEFAULT 'UTC',
	now timestamptz NOT NULL DEFAULT '2026-11-26 12:00+00'
);

-- 0, 1 and many backups; every rule off keeps everything
INSERT INTO retention_case (id, description, started_at, retention_count) VALUES
(1, 'no backups', '{}', 30),
(2, 'one backup, count 1', '{2026-11-26 00:00+00}', 1),
(3, 'one backup, count 0 and everything else off', '{2026-11-26 00:00+00}', 0),
(4, 'many backups, every rule off: all kept',
 '{2026-11-26 00:00+00, 2025-01-01 00:00+00, 2020-06-15 00:00+00}', 0);

-- count only; the input order does not matter
INSERT INTO retention_case (id, description, started_at, retention_count) VALUES
(10, 'count 3 of 5, given oldest first',
 '{2026-11-22 00:00+00, 2026-11-23 00:00+00, 2026-11-24 00:00+00,
   2026-11-25 00:00+00, 2026-11-26 00:00+00}', 3),
(11, 'count 3 of 5, given in no order',
 '{2026-11-24 00:00+00, 2026-11-26 00:00+00, 2026-11-22 00:00+00,
   2026-11-25 00:00+00, 2026-11-23 00:00+00}', 3),
(12, 'count 30 of 3', '{2026-11-26 00:00+00, 2026-11-25 00:00+00, 2026-11-24 00:00+00}', 30);

-- days only: younger means strictly less than N times 24 hours old
INSERT INTO retention_case (id, description, started_at, retention_days) VALUES
(20, 'days 14',
 '{2026-11-26 11:00+00, 2026-11-12 12:00:01+00, 2026-11-12 12:00+00,
   2026-11-11 00:00+00}', 14),
(21, 'days 1, newest is older',
 '{2026-11-23 00:00+00, 2026-11-21 00:00+00}', 1),
(22, 'days 1, a backup from the future (clock set back) is young',
 '{2026-11-27 00:00+00, 2026-11-26 06:00+00, 2026-11-20 00:00+00}', 1);

-- daily: the newest backup of each of the N most recent days with a backup
INSERT INTO retention_case (id, description, started_at, keep_daily) VALUES
(30, 'daily 3, several backups a day',
 '{2026-11-26 09:00+00, 2026-11-26 01:00+00, 2026-11-25 23:59:59+00,
   2026-11-25 00:00+00, 2026-11-24 12:00+00, 2026-11-23 12:00+00}', 3),
(31, 'daily 3, a pause in backups keeps 3 days',
 '{2026-11-26 00:00+00, 2026-11-25 00:00+00, 2026-11-20 00:00+00,
   2026-11-10 00:00+00}', 3);

-- weekly: ISO weeks, also across week 53 and the year change
INSERT INTO retention_case (id, description, started_at, keep_weekly, now) VALUES
(40, 'weekly 2',
 '{2026-11-26 00:00+00, 2026-11-23 00:00+00, 2026-11-22 23:00+00,
   2026-11-16 00:00+00, 2026-11-09 00:00+00}', 2, '2026-11-26 12:00+00'),
(41, 'weekly 3 across 2026-W53 into 2027-W01',
 '{2027-01-04 08:00+00, 2027-01-02 08:00+00, 2026-12-31 08:00+00,
   2026-12-28 08:00+00, 2026-12-27 08:00+00, 2026-12-20 08:00+00}', 3,
 '2027-01-05 12:00+00');

-- monthly, across the year change
INSERT INTO retention_case (id, description, started_at, keep_monthly, now) VALUES
(50, 'monthly 3 across the year change',
 '{2027-01-15 00:00+00, 2027-01-01 00:00+00, 2026-12-31 23:00+00,
   2026-12-01 00:00+00, 2026-11-30 00:00+00, 2026-10-31 00:00+00}', 3,
 '2027-01-20 12:00+00');

-- the zone decides days, weeks and months
INSERT INTO retention_case (id, description, started_at, keep_daily, keep_weekly,
							keep_monthly, timezone) VALUES
(60, 'daily 5 in UTC: one UTC day',
 '{2026-11-25 16:30+00, 2026-11-25 15:30+00, 2026-11-25 10:00+00}', 5, 0, 0, 'UTC'),
(61, 'daily 5 in Asia/Manila: 16:30 UTC is the next day there',
 '{2026-11-25 16:30+00, 2026-11-25 15:30+00, 2026-11-25 10:00+00}', 5, 0, 0, 'Asia/Manila'),
(62, 'weekly 5 in UTC: Sunday evening is still week 48',
 '{2026-11-29 17:00+00, 2026-11-29 15:00+00}', 0, 5, 0, 'UTC'),
(63, 'weekly 5 in Asia/Manila: Sunday 17:00 UTC is Monday of week 49 there',
 '{2026-11-29 17:00+00, 2026-11-29 15:00+00}', 0, 5, 0, 'Asia/Manila'),
(64, 'monthly 5 in Asia/Manila: 30 November 20:00 UTC is December there',
 '{2026-11-30 20:00+00, 2026-11-30 15:00+00}', 0, 0, 5, 'Asia/Manila'),
(65, 'daily 2 in America/New_York over the end of DST: 1 November has 25 hours',
 '{2026-11-02 04:30+00, 2026-11-01 06:30+00, 2026-11-01 05:30+00,
   2026-11-01 03:30+00, 2026-10-31 02:00+00}', 2, 0, 0, 'America/New_York'),
(66, 'daily 3 in Europe/Berlin over the start of DST: 29 March has 23 hours',
 '{2026-03-29 22:30+00, 2026-03-29 21:30+00, 2026-03-28 22:30+00,
   2026-03-28 12:00+00}', 3, 0, 0, 'Europe/Berlin');

-- the union of the rules; each backup names the first rule that keeps it
-- (count, days, daily, weekly, monthly)
INSERT INTO retention_case (id, description, started_at, retention_count,
							retention_days, keep_daily, keep_weekly, keep_monthly) VALUES
(70, 'count 2, days 3, daily 4, weekly 3, monthly 3',
 '{2026-11-26 02:00+00, 2026-11-25 02:00+00, 2026-11-24 02:00+00,
   2026-11-23 02:00+00, 2026-11-20 02:00+00, 2026-11-10 02:00+00,
   2026-10-31 02:00+00, 2026-10-15 02:00+00, 2026-09-30 02:00+00,
   2026-08-31 02:00+00}', 2, 3, 4, 3, 3);

-- retention_max_size, after the keep rules; the newest always stays
INSERT INTO retention_case (id, description, started_at, size_bytes,
							retention_count, max_size) VALUES
(80, 'count 5, max 350 bytes of 100 byte backups',
 '{2026-11-26 00:00+00, 2026-11-25 00:00+00, 2026-11-24 00:00+00,
   2026-11-23 00:00+00, 2026-11-22 00:00+00, 2026-11-21 00:00+00}', NULL, 5, 350),
(81, 'no keep rule, max 250: keep what fits',
 '{2026-11-26 00:00+00, 2026-11-25 00:00+00, 2026-11-24 00:00+00,
   2026-11-23 00:00+00}', NULL, 0, 250),
(82, 'no keep rule, max exactly the total: all kept',
 '{2026-11-26 00:00+00, 2026-11-25 00:00+00, 2026-11-24 00:00+00}', NULL, 0, 300),
(83, 'count 3, max 100 with a newest of 500 bytes',
 '{2026-11-26 00:00+00, 2026-11-25 00:00+00, 2026-11-24 00:00+00}',
 '{500, 50, 50}', 3, 100),
(84, 'count 3, max 150 with sizes that differ: oldest go first',
 '{2026-11-26 00:00+00, 2026-11-25 00:00+00, 2026-11-24 00:00+00,
   2026-11-23 00:00+00}', '{10, 200, 20, 30}', 3, 150);

-- backups within one second, two of them at the very same moment: ties
-- are broken by the order given, the first taken as the newer
INSERT INTO retention_case (id, description, started_at, retention_count,
							keep_daily) VALUES
(90, 'count 2, duplicates within one second',
 '{2026-11-26 12:00:00.2+00, 2026-11-26 12:00:00.5+00,
   2026-11-26 12:00:00.7+00, 2026-11-26 12:00:00.5+00}', 2, 0),
(91, 'daily 1, duplicates within one second',
 '{2026-11-26 12:00:00.5+00, 2026-11-26 12:00:00.5+00,
   2026-11-26 12:00:00.2+00}', 0, 1);

-- backups whose last verification failed take no place under the keep
-- rules, but stay as long as they would if they were good; over the size
-- limit they go first
INSERT INTO retention_case (id, description, started_at, size_bytes,
							verify_failed, retention_count, keep_daily,
							max_size) VALUES
(100, 'count 2, the newest failed: two good ones kept besides it',
 '{2026-11-26 00:00+00, 2026-11-25 00:00+00, 2026-11-24 00:00+00,
   2026-11-23 00:00+00}', NULL, '{t, f, f, f}', 2, 0, 0),
(101, 'count 2, an older failed one goes as it would if it were good',
 '{2026-11-26 00:00+00, 2026-11-25 00:00+00, 2026-11-24 00:00+00,
   2026-11-23 00:00+00}', NULL, '{f, f, t, f}', 2, 0, 0),
(102, 'daily 2, a day whose only backup failed does not count',
 '{2026-11-26 00:00+00, 2026-11-25 00:00+00, 2026-11-24 00:00+00,
   2026-11-23 00:00+00}', NULL, '{t, f, f, f}', 0, 2, 0),
(103, 'count 3, max 250: the failed one goes first',
 '{2026-11-26 00:00+00, 2026-11-25 00:00+00, 2026-11-24 00:00+00}',
 NULL, '{f, t, f}', 3, 0, 250),
(104, 'count 1, every backup failed: the rules apply as to any',
 '{2026-11-26 00:00+00, 2026-11-25 00:00+00}', NULL, '{t, t}', 1, 0, 0),
(105, 'no keep rule: failed ones are kept like every backup',
 '{2026-11-26 00:00+00, 2026-11-25 00:00+00}', NULL, '{f, t}', 0, 0, 0);

SELECT c.id, c.description, p.started_at, p.action, p.reason
FROM retention_case c
LEFT JOIN LATERAL protech_backup_retention_plan(
	c.started_at,
	coalesce(c.size_bytes,
			 array_fill(100::bigint, ARRAY[cardinality(c.started_at)])),
	coalesce(c.verify_failed,
			 array_fill(false, ARRAY[cardinality(c.started_at)])),
	c.retention_count, c.retention_days,
	c.keep_daily, c.keep_weekly, c.keep_monthly,
	c.max_size, c.timezone, c.now)
	WITH ORDINALITY AS p(started_at, action, reason, n) ON true
ORDER BY c.id, p.n;

-- named arguments work too
SELECT * FROM protech_backup_retention_plan(
	started_at => '{2026-11-26 00:00+00, 2026-11-25 00:00+00}',
	size_bytes => '{1, 1}',
	verify_failed => '{false, false}',
	retention_count => 1, retention_days => 0,
	keep_daily => 0, keep_weekly => 0, keep_monthly => 0,
	max_size => 0, timezone => 'UTC', now => '2026-11-26 12:00+00');

--
-- Bad arguments: a clear error with SQLSTATE 22023.
--
CREATE FUNCTION pg_temp.plan_error(call text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE 'SELECT * FROM protech_backup_retention_plan(' || call || ')';
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

SELECT call, pg_temp.plan_error(call) AS result
FROM (VALUES
	($$NULL, '{}', '{}', 0, 0, 0, 0, 0, 0, 'UTC', now()$$),
	($$'{}', NULL, '{}', 0, 0, 0, 0, 0, 0, 'UTC', now()$$),
	($$'{2026-11-26}', '{}', '{}', 0, 0, 0, 0, 0, 0, 'UTC', now()$$),
	($$'{2026-11-26, NULL}', '{1, 1}', '{f, f}', 0, 0, 0, 0, 0, 0, 'UTC', now()$$),
	($$'{2026-11-26}', '{NULL}', '{f}', 0, 0, 0, 0, 0, 0, 'UTC', now()$$),
	($$'{}', '{}', NULL, 0, 0, 0, 0, 0, 0, 'UTC', now()$$),
	($$'{2026-11-26}', '{1}', '{}', 0, 0, 0, 0, 0, 0, 'UTC', now()$$),
	($$'{2026-11-26}', '{1}', '{NULL}', 0, 0, 0, 0, 0, 0, 'UTC', now()$$),
	($$'{{2026-11-26}}', '{{1}}', '{{f}}', 0, 0, 0, 0, 0, 0, 'UTC', now()$$),
	($$'{infinity}', '{1}', '{f}', 0, 0, 0, 0, 0, 0, 'UTC', now()$$),
	($$'{2026-11-26}', '{-1}', '{f}', 0, 0, 0, 0, 0, 0, 'UTC', now()$$),
	($$'{}', '{}', '{}', -1, 0, 0, 0, 0, 0, 'UTC', now()$$),
	($$'{}', '{}', '{}', 0, -1, 0, 0, 0, 0, 'UTC', now()$$),
	($$'{}', '{}', '{}', 0, 0, -1, 0, 0, 0, 'UTC', now()$$),
	($$'{}', '{}', '{}', 0, 0, 0, -1, 0, 0, 'UTC', now()$$),
	($$'{}', '{}', '{}', 0, 0, 0, 0, -1, 0, 'UTC', now()$$),
	($$'{}', '{}', '{}', 0, 0, 0, 0, 0, -1, 'UTC', now()$$),
	($$'{}', '{}', '{}', NULL, 0, 0, 0, 0, 0, 'UTC', now()$$),
	($$'{}', '{}', '{}', 0, 0, 0, 0, 0, NULL, 'UTC', now()$$),
	($$'{}', '{}', '{}', 0, 0, 0, 0, 0, 0, 'Mars/Olympus_Mons', now()$$),
	($$'{}', '{}', '{}', 0, 0, 0, 0, 0, 0, NULL, now()$$),
	($$'{}', '{}', '{}', 0, 0, 0, 0, 0, 0, 'UTC', NULL$$),
	($$'{}', '{}', '{}', 0, 0, 0, 0, 0, 0, 'UTC', 'infinity'$$),
	($$'{}', '{}', '{}', 0, 0, 0, 0, 0, 0, 'UTC', now()$$)
) AS bad(call);

--
-- protech_backup_cleanup(): with the default settings (newest 30) and a
-- few backups, nothing is deleted, dry run or not.
--
SELECT count(*) FROM protech_backup_now();
SELECT action, reason, count(*) > 0 AS some
FROM protech_backup_cleanup(dry_run => true) GROUP BY 1, 2;
SELECT action, reason, count(*) > 0 AS some
FROM protech_backup_cleanup() GROUP BY 1, 2;
SELECT count(*) > 0 AS still_listed FROM protech_backup_list();

-- a NULL dry_run is an error, not an empty result
SELECT * FROM protech_backup_cleanup(NULL);

-- EXECUTE is revoked from PUBLIC on cleanup and on the planner; a
-- superuser grants it
CREATE ROLE regress_pb_user;
SET ROLE regress_pb_user;
SELECT * FROM protech_backup_cleanup(true);
SELECT action, reason FROM protech_backup_retention_plan(
	'{2026-11-26 00:00+00}', '{1}', '{false}', 30, 0, 0, 0, 0, 0, 'UTC', now());
RESET ROLE;
GRANT EXECUTE ON FUNCTION protech_backup_retention_plan(timestamptz[], bigint[], boolean[], int, int, int, int, int, bigint, text, timestamptz) TO regress_pb_user;
SET ROLE regress_pb_user;
SELECT action, reason FROM protech_backup_retention_plan(
	'{2026-11-26 00:00+00}', '{1}', '{false}', 30, 0, 0, 0, 0, 0, 'UTC', now());
RESET ROLE;
REVOKE EXECUTE ON FUNCTION protech_backup_retention_plan(timestamptz[], bigint[], boolean[], int, int, int, int, int, bigint, text, timestamptz) FROM regress_pb_user;
DROP ROLE regress_pb_user;

DROP EXTENSION protech_backup;
