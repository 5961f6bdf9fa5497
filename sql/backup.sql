--
-- The manual backup path: protech_backup_now() and protech_backup_list(),
-- their privileges, and the validation of the settings.
--
CREATE EXTENSION protech_backup;

-- the functions live in the schema chosen at CREATE EXTENSION
SELECT DISTINCT n.nspname
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE p.proname LIKE 'protech\_backup\_%';

-- nothing to list before the first backup
SELECT count(*) FROM protech_backup_list();

CREATE TABLE pets (id int PRIMARY KEY, name text);
INSERT INTO pets VALUES (1, 'Bantay'), (2, 'Muning');

-- a backup: one row, described by its manifest
SELECT file_name ~ '^protech_backup_\d{8}_\d{6}\.sql$' AS name_ok,
       database, format, compression,
       size_bytes > 0 AS has_bytes,
       sha256 ~ '^[0-9a-f]{64}$' AS sha256_ok,
       finished_at >= started_at AS ordered,
       trigger
FROM protech_backup_now();

-- two more backups, surely within one second of each other: distinct names
SELECT count(DISTINCT file_name) AS distinct_names
FROM (SELECT file_name FROM protech_backup_now()
      UNION ALL
      SELECT file_name FROM protech_backup_now()) AS b;

-- the list has all three, newest first, and agrees with what now() returned
SELECT count(*) AS backups,
       bool_and(file_name ~ '^protech_backup_\d{8}_\d{6}(_\d+)?\.sql$') AS names_ok
FROM protech_backup_list();
SELECT bool_and(started_at >= next_started) AS newest_first
FROM (SELECT started_at, lead(started_at) OVER () AS next_started
      FROM protech_backup_list()) AS l
WHERE next_started IS NOT NULL;

-- each backup was read back after it was taken (verify_after_backup =
-- checksum); verify reads it back again, or restores it too
SELECT count(*) AS backups, bool_and(verify_result = 'ok: checksum') AS checked,
       bool_and(verified_at >= finished_at) AS after
FROM protech_backup_list();
SELECT checksum_ok, restored, tables, rows, detail
FROM protech_backup_verify((SELECT file_name FROM protech_backup_list() LIMIT 1));
SELECT checksum_ok, restored, tables, rows, detail
FROM protech_backup_verify((SELECT file_name FROM protech_backup_list() LIMIT 1),
                           restore => true);
SELECT verify_result FROM protech_backup_list() LIMIT 1;
SELECT count(*) AS scratch_databases FROM pg_database
WHERE datname LIKE 'protech\_backup\_verify\_%';

-- names that are not those of backups are refused before any file is opened
\set VERBOSITY terse
SELECT * FROM protech_backup_verify('../postgresql.conf');
SELECT * FROM protech_backup_verify('/etc/passwd');
SELECT * FROM protech_backup_verify(NULL);
SELECT * FROM protech_backup_restore('a/b', 'restored');
SELECT protech_backup_read('', 0, 1);
SELECT protech_backup_read_size('a/b');
\set VERBOSITY default

-- EXECUTE is revoked from PUBLIC on every function of the extension
SELECT p.oid::regprocedure AS executable_by_public
FROM pg_proc p
JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
	AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'protech_backup'
WHERE EXISTS (SELECT FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) AS a
			  WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE');

-- EXECUTE is revoked from PUBLIC
CREATE ROLE regress_pb_user;
SET ROLE regress_pb_user;
SELECT * FROM protech_backup_now();
SELECT * FROM protech_backup_list();
SELECT * FROM protech_backup_verify('x');
SELECT * FROM protech_backup_restore('x', 'y');
SELECT protech_backup_read('x', 0, 1);
SELECT protech_backup_read_size('x');
RESET ROLE;
DROP ROLE regress_pb_user;

-- the settings can only come from the configuration file
SET protech_backup.directory = '/tmp';
SET protech_backup.passfile = '/tmp/pgpass';

-- bad values are rejected by the check hooks, and nothing is written
ALTER SYSTEM SET protech_backup.directory = 'relative/path';
ALTER SYSTEM SET protech_backup.pg_dump_path = 'pg_dump';
ALTER SYSTEM SET protech_backup.passfile = 'pgpass';
ALTER SYSTEM SET protech_backup.min_free_space = -1;
ALTER SYSTEM SET protech_backup.lock_wait_timeout = -1;
ALTER SYSTEM SET protech_backup.database = '';
ALTER SYSTEM SET protech_backup.role = 'a_role_name_that_is_far_too_long_to_be_a_postgresql_identifier_at_all';
ALTER SYSTEM SET protech_backup.timezone = 'Mars/Olympus_Mons';
ALTER SYSTEM SET protech_backup.verify_after_backup = 'sometimes';
-- good values are accepted
ALTER SYSTEM SET protech_backup.timezone = 'Asia/Manila';
ALTER SYSTEM RESET ALL;

DROP EXTENSION protech_backup;
