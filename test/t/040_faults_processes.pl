# Faults of the processes and programs of a backup: pg_dump SIGKILLed
# mid-dump, the server crashing mid-backup, pg_dump_path naming no
# pg_dump, pg_hba.conf rejecting the role, the database dropped during its
# backup, a lock held past lock_wait_timeout, pg_dump running past
# protech_backup.timeout.
#
# Covered elsewhere, not repeated here: a fake pg_dump that fails, kills
# itself or hangs, cancel, statement_timeout and pg_terminate_backend of
# the caller, a missing pg_dump, a missing role or database, a refused
# directory setting (002_failures.pl); SIGTERM of a scheduled backup, the
# scheduler's crash recovery after kill -9 of the backup worker, a
# scheduled run during a manual one recorded as 'skipped'
# (003_scheduler.pl); a failing directory-format pg_dump (010_formats.pl).
#
# Each fault goes through fault() of test/lib/ProtechBackupTest.pm (its
# error checked here, the end state there); the file ends with its line
# "faults: N injected, N survived, 0 lost", which doc/tests.md sums.
use strict;
use warnings;

use lib 'test/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use ProtechBackupTest;
use Test::More;
use Time::HiRes qw(time usleep);

my $node = new_fault_node('faults_processes');
my $home_dir = $node->{protech_backup_dir};

#
# pg_dump killed with SIGKILL mid-dump, with part of the dump written.
#
fault(
	$node,
	'pg_dump SIGKILLed mid-dump',
	sub {
		$node->safe_psql('app',
			'CREATE TABLE big AS SELECT g AS id, md5(g::text) AS payload FROM generate_series(1, 400000) AS g'
		);
		my $locker = lock_table($node, 'app', 'locked_tbl');
		my ($bg, $worker, $pg_dump) = start_blocked_backup($node);
		my ($partial) = partial_files($node);
		$locker->query_safe('COMMIT');
		$locker->quit;
		my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
		my $written = 0;
		usleep(1000)
		  while ($written = -s "$home_dir/$partial" // 0) < 1_000_000 && time < $deadline;
		kill 'KILL', $pg_dump;
		cmp_ok($written, '>=', 1_000_000,
			'pg_dump SIGKILLed mid-dump: killed with part of the dump written');
		like(
			finish_background($bg),
			qr/ERROR:  38000: pg_dump of database "app" failed: child process was terminated by signal 9/,
			'pg_dump SIGKILLed mid-dump: the caller gets the error');
	},
	history => qr/^pg_dump of database "app" failed: child process was terminated by signal 9/,
	recover => sub { $node->safe_psql('app', 'DROP TABLE big') });

#
# The server crashes mid-backup: kill -9 of the backend pg_dump reads
# through.  After the crash restart the stale partial is removed and the
# run marked failed.
#
fault(
	$node,
	'server crash mid-backup',
	sub {
		my $locker = lock_table($node, 'app', 'locked_tbl');
		my ($bg, $worker, $pg_dump, $backend) = start_blocked_backup($node);
		ok(scalar(partial_files($node)), 'server crash mid-backup: a partial file is being written');
		my $offset = -s $node->logfile;
		kill 'KILL', $backend;
		$node->wait_for_log(qr/all server processes terminated; reinitializing/, $offset);
		eval { $locker->quit };
		eval { $bg->quit };
		wait_until(sub { !process_alive($pg_dump) }, 'pg_dump to die with its worker');
		ok( $node->poll_query_until('app',
				"SELECT count(*) = 0 FROM protech_backup_history WHERE status = 'running'"),
			'server crash mid-backup: no run is left running');
		wait_until(sub { !partial_files($node) }, 'the stale partial to be removed');
	},
	history => qr/^server restarted or failed over while the backup was running$/);


# pg_dump_path naming a directory, or another program than pg_dump.
for my $case (
	[
		'pg_dump_path names a directory', '/usr/bin',
		qr/ERROR:  38000: "\/usr\/bin" is not a usable pg_dump\nDETAIL:  .*Permission denied.*\nHINT:  Set protech_backup.pg_dump_path/s,
		'pg_dump_path a directory: says so'
	],
	[
		'pg_dump_path names another program', '/bin/true',
		qr/ERROR:  38000: "\/bin\/true" is not a usable pg_dump\nDETAIL:  "\/bin\/true --version" printed ".*" \(child process exited with exit code 0\)\./,
		'another program: says so'
	])
{
	my ($name, $path, $error, $says) = @$case;
	fault(
		$node, $name,
		sub {
			reload_and_wait($node, 'protech_backup.pg_dump_path' => $path);
			like(backup_error($node), $error, $says);
		},
		history => qr/is not a usable pg_dump/,
		recover => sub { reload_and_wait($node, 'protech_backup.pg_dump_path' => '') });
}

fault(
	$node,
	'pg_hba.conf rejects the role',
	sub {
		$node->safe_psql('postgres', 'CREATE ROLE pb_rejected LOGIN SUPERUSER');
		prepend_hba($node, 'local all pb_rejected reject');
		reload_and_wait($node, 'protech_backup.role' => 'pb_rejected');
		like(
			backup_error($node),
			qr/ERROR:  38000: pg_dump of database "app" failed: child process exited with exit code 1\nDETAIL:  pg_dump printed:\n.*pg_hba\.conf rejects connection for host "\[local\]", user "pb_rejected", database "app".*\nHINT:  Let role "pb_rejected" connect to database "app" over the server's Unix socket/s,
			'pg_hba.conf rejects: pg_dump says so, the hint says what to change');
	},
	history => qr/pg_hba\.conf rejects connection/,
	recover => sub { reload_and_wait($node, 'protech_backup.role' => '') });

# The database dropped (WITH (FORCE)) while its backup waits for a lock:
# the worker is terminated, pg_dump killed, the partial removed; the
# launcher then says once that the database is gone.
fault(
	$node,
	'database dropped during its backup',
	sub {
		$node->safe_psql('postgres', 'CREATE DATABASE victim');
		$node->safe_psql('victim',
			'CREATE EXTENSION protech_backup; CREATE TABLE locked_tbl (id int)');
		reload_and_wait($node, 'protech_backup.database' => 'victim');
		my $locker = lock_table($node, 'victim', 'locked_tbl');
		my ($bg, $worker, $pg_dump) = start_blocked_backup($node);
		my $offset = -s $node->logfile;
		$node->safe_psql('postgres', 'DROP DATABASE victim WITH (FORCE)');
		eval { $locker->quit };
		like(finish_background($bg),
			qr/ERROR:  57P01: backup interrupted: the server is shutting down or the backup process was terminated/,
			'database dropped: the caller learns the backup was interrupted');
		ok(!process_alive($pg_dump), 'database dropped: pg_dump was killed');
		$node->wait_for_log(qr/protech_backup: database "victim" does not exist, no backups are scheduled/,
			$offset);
	},
	recover => sub { reload_and_wait($node, 'protech_backup.database' => 'app') });

#
# A lock held too long; a pg_dump that runs too long.
#
fault(
	$node,
	'a table locked past protech_backup.lock_wait_timeout',
	sub {
		reload_and_wait($node, 'protech_backup.lock_wait_timeout' => '2s');
		my $locker = lock_table($node, 'app', 'locked_tbl');
		my $started = time;
		like(
			backup_error($node),
			qr/ERROR:  38000: pg_dump of database "app" failed: table public\.locked_tbl stayed locked by another session for longer than protech_backup\.lock_wait_timeout \(2000 ms\)\nDETAIL:  pg_dump printed:\n.*LOCK TABLE public\.locked_tbl IN ACCESS SHARE MODE\nHINT:  Find the session holding the lock in pg_locks/s,
			'lock wait timeout: the message names the table');
		my $waited = time - $started;
		ok($waited >= 2 && $waited < 30, "lock wait timeout: failed after ${waited}s, not hanging");
		$locker->query_safe('COMMIT');
		$locker->quit;
	},
	history => qr/table public\.locked_tbl stayed locked/,
	recover => sub { reload_and_wait($node, 'protech_backup.lock_wait_timeout' => '5min') });

fault(
	$node,
	'pg_dump running past protech_backup.timeout',
	sub {
		reload_and_wait($node,
			'protech_backup.lock_wait_timeout' => 0,
			'protech_backup.timeout' => '2s');
		my $locker = lock_table($node, 'app', 'locked_tbl');
		like(
			backup_error($node),
			qr/ERROR:  57014: pg_dump did not finish within protech_backup\.timeout \(2 s\) and was killed/,
			'timeout: pg_dump is killed');
		ok( $node->poll_query_until('postgres',
				"SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name = 'protech_backup'"),
			"timeout: pg_dump's connection is gone");
		$locker->query_safe('COMMIT');
		$locker->quit;
	},
	history => qr/did not finish within protech_backup\.timeout/,
	recover => sub {
		reload_and_wait($node,
			'protech_backup.lock_wait_timeout' => '5min',
			'protech_backup.timeout' => 0);
	});

faults_summary();

done_testing();
