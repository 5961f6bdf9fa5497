--
-- The cron schedule: protech_backup_next_run() over every piece of the
-- syntax, month ends and leap days, cron's day rule, time zones and daylight
-- saving time, its error messages, and the check hook of
-- protech_backup.schedule.
--
CREATE EXTENSION protech_backup;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';

-- Each row: when the schedule fires next after "after" in the zone, and
-- whether that is the instant worked out by hand.  2026-01-15 is a Thursday.
SELECT schedule, zone, after, next_run, next_run = expected::timestamptz AS ok
FROM (VALUES
	-- star, value, list, range, steps
	('* * * * *',          'UTC', '2026-01-15 10:20:30+00', '2026-01-15 10:21:00+00'),
	('20 10 * * *',        'UTC', '2026-01-15 10:20:30+00', '2026-01-16 10:20:00+00'),
	('5,50 * * * *',       'UTC', '2026-01-15 10:20:30+00', '2026-01-15 10:50:00+00'),
	('10-12 * * * *',      'UTC', '2026-01-15 10:20:30+00', '2026-01-15 11:10:00+00'),
	('*/15 * * * *',       'UTC', '2026-01-15 10:20:30+00', '2026-01-15 10:30:00+00'),
	('1-30/7 * * * *',     'UTC', '2026-01-15 10:20:30+00', '2026-01-15 10:22:00+00'),
	('0 9-17/4 * * *',     'UTC', '2026-01-15 10:20:30+00', '2026-01-15 13:00:00+00'),
	('0 0 1,15 * *',       'UTC', '2026-01-15 10:20:30+00', '2026-02-01 00:00:00+00'),
	-- names, either case, and 7 = Sunday
	('0 0 1 jun *',        'UTC', '2026-01-15 10:20:30+00', '2026-06-01 00:00:00+00'),
	('0 0 1 JAN-mar/2 *',  'UTC', '2026-01-15 10:20:30+00', '2026-03-01 00:00:00+00'),
	('0 0 * * mon',        'UTC', '2026-01-15 10:20:30+00', '2026-01-19 00:00:00+00'),
	('0 0 * * MON-Fri',    'UTC', '2026-01-15 10:20:30+00', '2026-01-16 00:00:00+00'),
	('0 0 * * 0',          'UTC', '2026-01-15 10:20:30+00', '2026-01-18 00:00:00+00'),
	('0 0 * * 7',          'UTC', '2026-01-15 10:20:30+00', '2026-01-18 00:00:00+00'),
	('0 0 * * 6-7',        'UTC', '2026-01-15 10:20:30+00', '2026-01-17 00:00:00+00'),
	('0 0 * * sun-sat/3',  'UTC', '2026-01-15 10:20:30+00', '2026-01-17 00:00:00+00'),
	-- the macros, in any case and with white space around
	('@yearly',            'UTC', '2026-01-15 10:20:30+00', '2027-01-01 00:00:00+00'),
	('@annually',          'UTC', '2026-01-15 10:20:30+00', '2027-01-01 00:00:00+00'),
	('@monthly',           'UTC', '2026-01-15 10:20:30+00', '2026-02-01 00:00:00+00'),
	('@weekly',            'UTC', '2026-01-15 10:20:30+00', '2026-01-18 00:00:00+00'),
	('@daily',             'UTC', '2026-01-15 10:20:30+00', '2026-01-16 00:00:00+00'),
	('@midnight',          'UTC', '2026-01-15 10:20:30+00', '2026-01-16 00:00:00+00'),
	('@hourly',            'UTC', '2026-01-15 10:20:30+00', '2026-01-15 11:00:00+00'),
	(' @HOURLY ',          'UTC', '2026-01-15 10:20:30+00', '2026-01-15 11:00:00+00'),
	-- month ends: the 31st skips shorter months, the year wraps
	('0 0 31 * *',         'UTC', '2026-01-31 12:00:00+00', '2026-03-31 00:00:00+00'),
	('0 0 31 * *',         'UTC', '2026-03-31 12:00:00+00', '2026-05-31 00:00:00+00'),
	('59 23 31 12 *',      'UTC', '2026-12-31 23:59:00+00', '2027-12-31 23:59:00+00'),
	-- leap days, 2100 not being a leap year
	('0 0 29 2 *',         'UTC', '2026-01-15 10:20:30+00', '2028-02-29 00:00:00+00'),
	('0 0 29 2 *',         'UTC', '2096-03-01 00:00:00+00', '2104-02-29 00:00:00+00'),
	-- both day fields restricted: the 13th or a Friday
	('0 0 13 * fri',       'UTC', '2026-01-10 00:00:00+00', '2026-01-13 00:00:00+00'),
	('0 0 13 * fri',       'UTC', '2026-01-13 00:00:00+00', '2026-01-16 00:00:00+00'),
	-- a day field starting with "*" is not restricted: an odd day and a Friday
	('0 0 */2 * fri',      'UTC', '2026-01-15 10:20:30+00', '2026-01-23 00:00:00+00'),
	-- strictly after: an "after" on a firing instant moves on
	('0 12 * * *',         'UTC', '2026-01-15 12:00:00+00', '2026-01-16 12:00:00+00'),
	('0 12 * * *',         'UTC', '2026-01-15 11:59:59.999999+00', '2026-01-15 12:00:00+00'),
	('0 0 1 1 *',          'UTC', '1999-12-31 23:59:59.5+00', '2000-01-01 00:00:00+00'),
	-- local times: midnight in Manila is 16:00 UTC the day before
	('0 0 * * *',          'Asia/Manila', '2026-01-15 10:20:30+00', '2026-01-15 16:00:00+00'),
	('0 16 * * *',         'UTC', '2026-01-15 10:20:30+00', '2026-01-15 16:00:00+00'),
	-- New York springs forward over 02:00-03:00 on 2026-03-08: a time in
	-- the gap fires once, at 03:00 EDT, and the day after as usual
	('30 2 * * *',         'America/New_York', '2026-03-07 12:00:00+00', '2026-03-08 07:00:00+00'),
	('30 2 * * *',         'America/New_York', '2026-03-08 07:00:00+00', '2026-03-09 06:30:00+00'),
	('*/15 * * * *',       'America/New_York', '2026-03-08 06:50:00+00', '2026-03-08 07:00:00+00'),
	('*/15 * * * *',       'America/New_York', '2026-03-08 07:00:00+00', '2026-03-08 07:15:00+00'),
	-- New York falls back over 01:00-02:00 on 2026-11-01: a repeated time
	-- fires once, at its first (EDT) occurrence, then the next day
	('30 1 * * *',         'America/New_York', '2026-11-01 00:00:00+00', '2026-11-01 05:30:00+00'),
	('30 1 * * *',         'America/New_York', '2026-11-01 05:30:00+00', '2026-11-02 06:30:00+00'),
	('30 1 * * *',         'America/New_York', '2026-11-01 06:10:00+00', '2026-11-02 06:30:00+00'),
	('*/30 * * * *',       'America/New_York', '2026-11-01 05:45:00+00', '2026-11-01 07:00:00+00')
) AS t(schedule, zone, after, expected),
LATERAL protech_backup_next_run(schedule, zone, after::timestamptz) AS next_run;

-- the function is strict
SELECT protech_backup_next_run(NULL, 'UTC', '2026-01-15 10:20:30+00');

-- every error says which field is wrong and why
SELECT protech_backup_next_run('', 'UTC', '2026-01-15 10:20:30+00');
SELECT protech_backup_next_run('   ', 'UTC', '2026-01-15 10:20:30+00');
SELECT protech_backup_next_run('0 0 * *', 'UTC', '2026-01-15 10:20:30+00');
SELECT protech_backup_next_run('0 0 * * * *', 'UTC', '2026-01-15 10:20:30+00');
SELECT protech_backup_next_run('61 * * * *', 'UTC', '2026-01-15 10:20:30+00');
SELECT protech_backup_next_run('0 24 * * *', 'UTC', '2026-01-15 10:20:30+00');
SELECT protech_backup_next_run('0 0 0 * *', 'UTC', '2026-01-15 10:20:30+00');
SELECT protech_backup_next_run('0 0 32 * *', 'UTC', '2026-01-15 10:20:30+00');
SELECT protech_backup_next_run('0 0 * 13 *', 'UTC', '2026-01-15 10:20:30+00');
SELECT protech_backup_next_run('0 0 * * 8', 'UTC', '2026-01-15 10:20:30+00');
SELECT protech_backup_next_run('99999999999 * * * *', 'UTC', '2026-01-15 10:20:30+00');
SELECT protech_backup_next_run('*/0 * * * *', 'UTC', '2026-01-15 10:20:30+00');
SELECT protech_backup_next_run('*/x * * * *', 'UTC', '2026-01-15 10:20:30+00');
SELECT protech_backup_next_run('5/15 * * * *', 'UTC', '2026-01-15 10:20:30+00');
SELECT protech_backup_next_run('0 5-1 * * *', 'UTC', '2026-01-15 10:20:30+00');
SELECT protech_backup_next_run('0 0 * * fri-mon', 'UTC', '2026-01-15 10:20:30+00');
SELECT protech_backup_next_run('0 0 * foo *', 'UTC', '2026-01-15 10:20:30+00');
SELECT protech_backup_next_run('0 0 * * funday', 'UTC', '2026-01-15 10:20:30+00');
SELECT protech_backup_next_run('0 0 jan * *', 'UTC', '2026-01-15 10:20:30+00');
SELECT protech_backup_next_run('0 0 * * mön', 'UTC', '2026-01-15 10:20:30+00');
SELECT protech_backup_next_run('0 0 * * 1;5', 'UTC', '2026-01-15 10:20:30+00');
SELECT protech_backup_next_run('1,,2 * * * *', 'UTC', '2026-01-15 10:20:30+00');
SELECT protech_backup_next_run('1- * * * *', 'UTC', '2026-01-15 10:20:30+00');
SELECT protech_backup_next_run('@fortnightly', 'UTC', '2026-01-15 10:20:30+00');
SELECT protech_backup_next_run('@daily 5', 'UTC', '2026-01-15 10:20:30+00');
SELECT protech_backup_next_run('0 0 31 2 *', 'UTC', '2026-01-15 10:20:30+00');
SELECT protech_backup_next_run('0 0 31 4,6,9,11 *', 'UTC', '2026-01-15 10:20:30+00');
SELECT protech_backup_next_run('0 0 * * *', 'Mars/Olympus', '2026-01-15 10:20:30+00');
SELECT protech_backup_next_run('0 0 * * *', 'UTC', 'infinity');

-- the setting: checked with the same sentences, empty disables scheduling
SELECT boot_val FROM pg_settings WHERE name = 'protech_backup.schedule';
ALTER SYSTEM SET protech_backup.schedule = '61 * * * *';
ALTER SYSTEM SET protech_backup.schedule = '0 0 31 2 *';
ALTER SYSTEM SET protech_backup.schedule = '@daily';
ALTER SYSTEM SET protech_backup.schedule = '';
ALTER SYSTEM RESET protech_backup.schedule;

DROP EXTENSION protech_backup;
