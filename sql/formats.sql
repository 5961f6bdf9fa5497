--
-- The settings of what a backup is stored as: protech_backup.format,
-- .compression, .jobs and .pg_dump_options.  Bad values are rejected by
-- their check hooks with a message naming what is wrong; good ones pass.
--

-- the defaults: the original system's plain, uncompressed SQL script
SELECT name, setting, context FROM pg_settings
WHERE name IN ('protech_backup.format', 'protech_backup.compression',
               'protech_backup.jobs', 'protech_backup.pg_dump_options')
ORDER BY name;

-- they can only come from the configuration file
SET protech_backup.compression = 'zstd';

-- format
ALTER SYSTEM SET protech_backup.format = 'tar';
ALTER SYSTEM SET protech_backup.format = 'custom';
ALTER SYSTEM SET protech_backup.format = 'directory';

-- compression
ALTER SYSTEM SET protech_backup.compression = 'lz4';
ALTER SYSTEM SET protech_backup.compression = '';
ALTER SYSTEM SET protech_backup.compression = 'ZSTD';
ALTER SYSTEM SET protech_backup.compression = 'none:1';
ALTER SYSTEM SET protech_backup.compression = 'gzip:';
ALTER SYSTEM SET protech_backup.compression = 'gzip:0';
ALTER SYSTEM SET protech_backup.compression = 'gzip:10';
ALTER SYSTEM SET protech_backup.compression = 'zstd:20';
ALTER SYSTEM SET protech_backup.compression = 'zstd:-1';
ALTER SYSTEM SET protech_backup.compression = 'zstd:3x';
ALTER SYSTEM SET protech_backup.compression = 'none';
ALTER SYSTEM SET protech_backup.compression = 'gzip';
ALTER SYSTEM SET protech_backup.compression = 'gzip:9';
ALTER SYSTEM SET protech_backup.compression = 'zstd';
ALTER SYSTEM SET protech_backup.compression = 'zstd:1';
ALTER SYSTEM SET protech_backup.compression = 'zstd:19';

-- jobs
ALTER SYSTEM SET protech_backup.jobs = 0;
ALTER SYSTEM SET protech_backup.jobs = 65;
ALTER SYSTEM SET protech_backup.jobs = 4;

-- pg_dump_options: nothing that chooses the output, format, compression,
-- jobs or connection, in any spelling pg_dump accepts
ALTER SYSTEM SET protech_backup.pg_dump_options = '-f /tmp/x';
ALTER SYSTEM SET protech_backup.pg_dump_options = '--file=/tmp/x';
ALTER SYSTEM SET protech_backup.pg_dump_options = '--fi=/tmp/x';
ALTER SYSTEM SET protech_backup.pg_dump_options = '-Fc';
ALTER SYSTEM SET protech_backup.pg_dump_options = '--format=custom';
ALTER SYSTEM SET protech_backup.pg_dump_options = '-vZ9';
ALTER SYSTEM SET protech_backup.pg_dump_options = '--compress=0';
ALTER SYSTEM SET protech_backup.pg_dump_options = '-j2';
ALTER SYSTEM SET protech_backup.pg_dump_options = '--jobs=2';
ALTER SYSTEM SET protech_backup.pg_dump_options = '-dother';
ALTER SYSTEM SET protech_backup.pg_dump_options = '--dbname=other';
ALTER SYSTEM SET protech_backup.pg_dump_options = '-h localhost';
ALTER SYSTEM SET protech_backup.pg_dump_options = '--host=localhost';
ALTER SYSTEM SET protech_backup.pg_dump_options = '-p5433';
ALTER SYSTEM SET protech_backup.pg_dump_options = '--port=5433';
ALTER SYSTEM SET protech_backup.pg_dump_options = '-Ubob';
ALTER SYSTEM SET protech_backup.pg_dump_options = '--username=bob';
ALTER SYSTEM SET protech_backup.pg_dump_options = '-w';
ALTER SYSTEM SET protech_backup.pg_dump_options = '--no-password';
ALTER SYSTEM SET protech_backup.pg_dump_options = '-W';
ALTER SYSTEM SET protech_backup.pg_dump_options = '--password';
ALTER SYSTEM SET protech_backup.pg_dump_options = '-V';
ALTER SYSTEM SET protech_backup.pg_dump_options = '--help';
ALTER SYSTEM SET protech_backup.pg_dump_options = '--lock-wait-timeout=1000';
-- anything that is not an option: a value given as a separate word, a
-- database name, the end of options
ALTER SYSTEM SET protech_backup.pg_dump_options = '--exclude-table-data audit_log';
ALTER SYSTEM SET protech_backup.pg_dump_options = 'otherdb';
ALTER SYSTEM SET protech_backup.pg_dump_options = '--no-owner -- otherdb';
ALTER SYSTEM SET protech_backup.pg_dump_options = '-';
-- quoting as a shell would, without expansion
ALTER SYSTEM SET protech_backup.pg_dump_options = '--exclude-table=''audit log';
ALTER SYSTEM SET protech_backup.pg_dump_options = '"--exclude-table=audit log';
ALTER SYSTEM SET protech_backup.pg_dump_options = '--no-owner \';
-- a quoted word is still checked
ALTER SYSTEM SET protech_backup.pg_dump_options = '"--file=/tmp/x"';
-- good values
ALTER SYSTEM SET protech_backup.pg_dump_options = '--exclude-table-data=audit_log';
ALTER SYSTEM SET protech_backup.pg_dump_options = '-Taudit_log -vTf --no-owner';
ALTER SYSTEM SET protech_backup.pg_dump_options = '"--exclude-table=audit log" --exclude-table=''"Mixed Case"'' --exclude-schema=a\ b';
ALTER SYSTEM SET protech_backup.pg_dump_options = '--role=backup_reader --no-sync';
ALTER SYSTEM SET protech_backup.pg_dump_options = '';

ALTER SYSTEM RESET ALL;
