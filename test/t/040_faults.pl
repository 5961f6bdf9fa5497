# Every fault a production server meets, injected one after another into
# one node, each followed by the same end-state checks: no partial file is
# left, every older backup is still listed and reads back as its manifest
# records, and the next backup succeeds.  The error each fault gives is
# checked where it is injected.  At the end the suite prints
#
#	faults: N injected, N survived, 0 lost
#
# where a fault "survived" when all its checks passed, and is "lost" when
# an older backup went missing or bad, or a partial file leaked.
#
# Covered elsewhere, not repeated here: a fake pg_dump that fails, kills
# itself or hangs, cancel, statement_timeout and pg_terminate_backend of
# the caller, a missing pg_dump, a missing role or database, a refused
# directory setting (002_failures.pl); SIGTERM of a scheduled backup, the
# scheduler's crash recovery after kill -9 of the backup worker, a
# scheduled run during a manual one recorded as 'skipped'
# (003_scheduler.pl); a failing directory-format pg_dump (010_formats.pl).
#
# The disk-full faults need a small file system: .ci/test mounts a 16 MB
# tmpfs and passes its path in PROTECH_BACKUP_TMPFS; without it they skip.
use strict;
use warnings;

use lib 'test/lib';
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use ProtechBackupTest;
use Test::More;
use Time::HiRes qw(time usleep);

my $node = new_backup_node('faults', io_faults => 1,
	conf => "restart_after_crash = on\nprotech_backup.retention_count = 0\n");
my $home_dir = $node->{protech_backup_dir};
$node->safe_psql('app', <<'EOS');
CREATE TABLE t AS SELECT g AS id, md5(g::text) AS payload FROM generate_series(1, 20000) AS g;
CREATE TABLE locked_tbl (id int);
EOS
backup_now($node) for 1 .. 2;

my ($injected, $survived, $lost) = (0, 0, 0);

# The complete backups of the configured directory: name => SHA-256.
sub listed_sha256
{
	my %backups = map { split /\|/ }
	  split /\n/,
	  $node->safe_psql('app', 'SELECT file_name, sha256 FROM protech_backup_list()');
	return \%backups;
}

sub failed_tests
{
	return scalar grep { !$_ } Test::More->builder->summary;
}

# The files of the backup directory that belong to no listed backup (its
# dump, manifest, globals or properties file), partial files aside.
sub leftover_files
{
	my $listed = listed_sha256();
	return grep {
		!/\.partial$/ && !exists $listed->{ s/(\.json|\.globals\.sql|\.database\.sql)$//r }
	} backup_files($node);
}

# Inject a fault with $inject (which checks the error it gives), undo its
# cause with $opts{recover}, then check the end state: no partial file,
# no file that belongs to no backup, the backups listed before are all
# still listed with the same SHA-256 and read back as recorded (but those
# named in $opts{deleted}, which it deletes), the history's newest run
# matches $opts{history} (a pattern of its message, status 'failed') when
# given, and the next backup succeeds.
sub fault
{
	my ($name, $inject, %opts) = @_;
	my $before = listed_sha256();
	my $failed_before = failed_tests();
	delete @$before{ @{ $opts{deleted} // [] } };

	$injected++;
	$inject->();
	if ($opts{history})
	{
		my ($status, $message) = split /\|/,
		  $node->safe_psql('app',
			'SELECT status, message FROM protech_backup_history ORDER BY run_id DESC LIMIT 1'
		  ), 2;
		is($status, 'failed', "$name: the run is recorded as failed");
		like($message, $opts{history}, "$name: the history says why");
	}
	$opts{recover}->() if $opts{recover};

	my @partials = partial_files($node);
	my @leftovers = leftover_files();
	my $after = listed_sha256();
	my @gone = grep { ($after->{$_} // '') ne $before->{$_} } sort keys %$before;
	my @bad = grep { check_stored($node, $_) ne 'ok' } sort keys %$before;
	is_deeply(\@partials, [], "$name: no partial file is left");
	is_deeply(\@leftovers, [], "$name: no file that belongs to no backup is left");
	is_deeply([ @gone, @bad ], [], "$name: every older backup is intact");
	my ($ret, $out, $err) =
	  $node->psql('app', 'SELECT file_name FROM protech_backup_now()');
	is($ret, 0, "$name: the next backup succeeds") or diag($err);
	ok(exists listed_sha256()->{$out}, "$name: and is listed");

	$lost++ if @partials || @leftovers || @gone || @bad;
	$survived++ if failed_tests() == $failed_before;
	return;
}

# Run protech_backup_now() and return its error (verbose: with SQLSTATE).
sub backup_error
{
	my ($ret, $out, $err) = $node->psql('app',
		"\\set VERBOSITY verbose\nSELECT file_name FROM protech_backup_now()");
	isnt($ret, 0, 'the backup fails');
	return $err;
}

# Wait for the statement of a background session to end, and return what
# it printed on standard error.
sub finish_background
{
	my ($bg) = @_;
	$bg->query('SELECT 1');
	my $err = $bg->{stderr};
	$bg->quit;
	return $err;
}

#
# 1. pg_dump killed with SIGKILL mid-dump, with part of the dump written.
#
fault(
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
# 2. The server crashes mid-backup: kill -9 of the backend pg_dump reads
# through.  After the crash restart the stale partial is removed and the
# run marked failed.
#
fault(
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

#
# 3. and 4. A full disk, on a small tmpfs; the free-space check.
#
SKIP:
{
	my $tmpfs = $ENV{PROTECH_BACKUP_TMPFS};
	skip 'PROTECH_BACKUP_TMPFS is not set (.ci/test mounts a 16 MB tmpfs there as root): the disk-full faults are not injected', 1
	  unless $tmpfs && -d $tmpfs && -w $tmpfs;

	my $small = "$tmpfs/backups";
	reload_and_wait($node,
		'protech_backup.directory' => $small,
		'protech_backup.min_free_space' => 0);
	$node->{protech_backup_dir} = $small;
	backup_now($node);

	my $filler =
	  'CREATE TABLE filler AS SELECT g AS id, md5(g::text) || md5((g + 1)::text) AS payload FROM generate_series(1, 300000) AS g';

	fault(
		'disk full while the dump is written',
		sub {
			$node->safe_psql('app', $filler);
			like(
				backup_error(),
				qr/ERROR:  53100: could not write to file "\Q$small\E\/protech_backup_\d{8}_\d{6}(_\d+)?\.sql\.partial": No space left on device/,
				'disk full: says which file could not be written, and why');
		},
		history => qr/No space left on device/,
		recover => sub { $node->safe_psql('app', 'DROP TABLE filler') });

	fault(
		'disk full while pg_dump writes a directory-format dump',
		sub {
			$node->safe_psql('app', $filler);
			reload_and_wait($node, 'protech_backup.format' => 'directory');
			like(
				backup_error(),
				qr/ERROR:  38000: pg_dump of database "app" failed: child process exited with exit code 1\nDETAIL:  pg_dump printed:\n.*No space left on device/s,
				'disk full, directory format: pg_dump says why');
		},
		history => qr/No space left on device/,
		recover => sub {
			$node->safe_psql('app', 'DROP TABLE filler');
			reload_and_wait($node, 'protech_backup.format' => 'plain');
		});

	# A dump that fills the disk exactly, leaving no room for the globals
	# file and the manifest written after it: the dump renamed into place
	# must go too.
	fault(
		'disk full while the manifest is written',
		sub {
			my $free = $node->safe_psql('app',
				'SELECT directory_free_bytes FROM protech_backup_status()');
			my $exact = fake_pg_dump($node, 'exact_pg_dump', "head -c $free /dev/zero");
			reload_and_wait($node, 'protech_backup.pg_dump_path' => $exact);
			like(
				backup_error(),
				qr/ERROR:  53100: could not write to file "\Q$small\E\/protech_backup_\d{8}_\d{6}(_\d+)?\.sql(\.globals\.sql|\.database\.sql|\.json)\.partial": No space left on device/,
				'disk full after the dump (at the globals, the properties or the manifest): says so');
			my $listed = listed_sha256();
			is( scalar(
					grep { !/\.json$/ && !exists $listed->{ s/\.(globals|database)\.sql$//r } }
					  backup_files($node)),
				0,
				'disk full after the dump: no dump without a manifest is left');
		},
		history => qr/(\.globals\.sql|\.database\.sql|\.json)\.partial": No space left on device/,
		recover => sub { reload_and_wait($node, 'protech_backup.pg_dump_path' => '') });

	fault(
		'less free space than 1.2 times the last backup',
		sub {
			my $nine_mb = fake_pg_dump($node, 'nine_mb_pg_dump', 'head -c 9000000 /dev/zero');
			reload_and_wait($node,
				'protech_backup.pg_dump_path' => $nine_mb,
				'protech_backup.min_free_space' => '1MB');
			my $last = backup_now($node);
			reload_and_wait($node, 'protech_backup.pg_dump_path' => '');
			my @files = backup_files($node);
			like(
				backup_error(),
				qr/ERROR:  53100: not enough free space in backup directory "\Q$small\E" to start a backup\nDETAIL:  Its file system has .* \(\d+ bytes\) free, less than 1\.2 times the size of the last backup "\Q$last\E", .* \(9000000 bytes\)\.\nHINT:  /,
				'refused up front: the numbers and the last backup');
			is_deeply([ backup_files($node) ], \@files, 'refused up front: nothing written');
			like(
				$node->safe_psql('app',
					"SELECT array_to_string(problems, ';') FROM protech_backup_status()"),
				qr/free space in \Q$small\E \(.*\) is less than the size of the last backup \(.*\)/,
				'and protech_backup_status() reports too little room for the next backup');
			unlink("$small/$last.json", "$small/$last.globals.sql", "$small/$last.database.sql",
				"$small/$last") == 4
			  or die "could not remove $last";
		},
		recover => sub { reload_and_wait($node, 'protech_backup.min_free_space' => 0) });

	reload_and_wait($node,
		'protech_backup.directory' => $home_dir,
		'protech_backup.min_free_space' => '1GB');
	$node->{protech_backup_dir} = $home_dir;
}

fault(
	'less free space than protech_backup.min_free_space',
	sub {
		reload_and_wait($node, 'protech_backup.min_free_space' => '2000TB');
		like(
			backup_error(),
			qr/ERROR:  53100: not enough free space in backup directory "\Q$home_dir\E" to start a backup\nDETAIL:  Its file system has .* free, less than protech_backup.min_free_space, 2000 TB \(2199023255552000 bytes\)\.\nHINT:  .*0 turns this check off/,
			'refused up front with the numbers');
	},
	recover => sub { reload_and_wait($node, 'protech_backup.min_free_space' => '1GB') });

#
# 5. The directory, pg_dump, pg_hba.conf and the database.
#
fault(
	'backup directory whose parent is missing',
	sub {
		my $missing = $node->basedir . '/no_such_parent/backups';
		reload_and_wait($node, 'protech_backup.directory' => $missing);
		like(
			backup_error(),
			qr/ERROR:  58P01: could not create backup directory "\Q$missing\E": No such file or directory\nHINT:  Create it/,
			'missing parent: says so');
		ok(!-e $missing, 'missing parent: nothing created');
	},
	recover => sub { reload_and_wait($node, 'protech_backup.directory' => $home_dir) });

fault(
	'backup directory not writable',
	sub {
		chmod(0500, $home_dir) or die;
		like(
			backup_error(),
			qr/ERROR:  42501: could not create file "\Q$home_dir\E\/protech_backup_\d{8}_\d{6}(_\d+)?\.sql\.partial": Permission denied/,
			'not writable: says so');
	},
	history => qr/Permission denied/,
	recover => sub { chmod(0700, $home_dir) or die });

fault(
	'backup directory replaced by a file',
	sub {
		rename($home_dir, "$home_dir.moved") or die;
		open(my $fh, '>', $home_dir) or die;
		close($fh);
		like(
			backup_error(),
			qr/ERROR:  42809: backup directory "\Q$home_dir\E" is not a directory\nHINT:  /,
			'replaced by a file: says so');
	},
	history => qr/is not a directory/,
	recover => sub {
		unlink($home_dir) or die;
		rename("$home_dir.moved", $home_dir) or die;
	});

fault(
	'pg_dump_path names a directory',
	sub {
		reload_and_wait($node, 'protech_backup.pg_dump_path' => '/usr/bin');
		like(
			backup_error(),
			qr/ERROR:  38000: "\/usr\/bin" is not a usable pg_dump\nDETAIL:  .*Permission denied.*\nHINT:  Set protech_backup.pg_dump_path/s,
			'pg_dump_path a directory: says so');
	},
	history => qr/is not a usable pg_dump/,
	recover => sub { reload_and_wait($node, 'protech_backup.pg_dump_path' => '') });

fault(
	'pg_dump_path names another program',
	sub {
		reload_and_wait($node, 'protech_backup.pg_dump_path' => '/bin/true');
		like(
			backup_error(),
			qr/ERROR:  38000: "\/bin\/true" is not a usable pg_dump\nDETAIL:  "\/bin\/true --version" printed ".*" \(child process exited with exit code 0\)\./,
			'another program: says so');
	},
	history => qr/is not a usable pg_dump/,
	recover => sub { reload_and_wait($node, 'protech_backup.pg_dump_path' => '') });

fault(
	'pg_hba.conf rejects the role',
	sub {
		$node->safe_psql('postgres', 'CREATE ROLE pb_rejected LOGIN SUPERUSER');
		prepend_hba($node, 'local all pb_rejected reject');
		reload_and_wait($node, 'protech_backup.role' => 'pb_rejected');
		like(
			backup_error(),
			qr/ERROR:  38000: pg_dump of database "app" failed: child process exited with exit code 1\nDETAIL:  pg_dump printed:\n.*pg_hba\.conf rejects connection for host "\[local\]", user "pb_rejected", database "app".*\nHINT:  Let role "pb_rejected" connect to database "app" over the server's Unix socket/s,
			'pg_hba.conf rejects: pg_dump says so, the hint says what to change');
	},
	history => qr/pg_hba\.conf rejects connection/,
	recover => sub { reload_and_wait($node, 'protech_backup.role' => '') });

# The database dropped (WITH (FORCE)) while its backup waits for a lock:
# the worker is terminated, pg_dump killed, the partial removed; the
# launcher then says once that the database is gone.
fault(
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
# 6. A lock held too long; a pg_dump that runs too long.
#
fault(
	'a table locked past protech_backup.lock_wait_timeout',
	sub {
		reload_and_wait($node, 'protech_backup.lock_wait_timeout' => '2s');
		my $locker = lock_table($node, 'app', 'locked_tbl');
		my $started = time;
		like(
			backup_error(),
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
	'pg_dump running past protech_backup.timeout',
	sub {
		reload_and_wait($node,
			'protech_backup.lock_wait_timeout' => 0,
			'protech_backup.timeout' => '2s');
		my $locker = lock_table($node, 'app', 'locked_tbl');
		like(
			backup_error(),
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

#
# 7. pgbench at full speed during backups: pgbench reports no error, and
# a dump taken under load is consistent.  pgbench's transactions keep
# sum(abalance) = sum(tbalance) = sum(bbalance) = sum(delta) at every
# commit, and pgbench_history grows by one row per transaction: a restore
# of a consistent snapshot satisfies the sums, with a history count
# between those seen just before and just after the dump.
#
my %tps;
fault(
	'pgbench at full speed during backups',
	sub {
		$node->safe_psql('postgres', 'CREATE DATABASE bench');
		$node->command_ok([ 'pgbench', '-i', '-q', '-s', '3', $node->connstr('bench') ],
			'pgbench -i');
		$node->safe_psql('bench', 'CREATE EXTENSION protech_backup');
		# the test clusters log every statement: not pgbench's
		$node->safe_psql('bench', "ALTER DATABASE bench SET log_statement = 'none'");
		reload_and_wait($node, 'protech_backup.database' => 'bench');

		my @pgbench = ('pgbench', '-n', '-c', '4', '-j', '2', '-T', '8', $node->connstr('bench'));
		my ($out, $err);
		IPC::Run::run(\@pgbench, '>', \$out, '2>', \$err) or die "pgbench: $err";
		($tps{idle}) = $out =~ /^tps = ([\d.]+)/m;

		# back-to-back backups while pgbench runs; the last one during which
		# pgbench committed is restored
		my $h = IPC::Run::start(\@pgbench, '>', \$out, '2>', \$err);
		my ($file, $low, $high);
		my $backups = 0;
		while ($h->pumpable)
		{
			my $before = $node->safe_psql('bench', 'SELECT count(*) FROM pgbench_history');
			my $made = backup_now($node, 'bench');
			my $after = $node->safe_psql('bench', 'SELECT count(*) FROM pgbench_history');
			($file, $low, $high) = ($made, $before, $after) if $after > $before;
			$backups++;
			$h->pump_nb;
		}
		ok($h->finish, 'pgbench under backups exits cleanly') or diag($err);
		($tps{backup}) = $out =~ /^tps = ([\d.]+)/m;
		like($out, qr/^number of failed transactions: 0 /m, 'pgbench reports no failed transaction');
		unlike($err, qr/error|abort/i, 'pgbench prints no error');
		ok(defined $file, 'pgbench committed transactions while a dump ran');
		diag("pgbench -c 4 -j 2, scale 3: $tps{idle} TPS without a backup, $tps{backup} TPS with $backups backups running back to back");

		$node->safe_psql('postgres', 'CREATE DATABASE bench_restored');
		$node->command_ok(
			[
				'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1',
				'-d', $node->connstr('bench_restored'),
				'-f', "$home_dir/$file"
			],
			'the dump taken under load restores');
		my ($a, $t, $b, $d, $n) = split /\|/, $node->safe_psql('bench_restored', q{
			SELECT (SELECT sum(abalance) FROM pgbench_accounts),
				   (SELECT sum(tbalance) FROM pgbench_tellers),
				   (SELECT sum(bbalance) FROM pgbench_branches),
				   (SELECT coalesce(sum(delta), 0) FROM pgbench_history),
				   (SELECT count(*) FROM pgbench_history)});
		is_deeply([ $a, $t, $b ], [ $d, $d, $d ],
			'restored under load: every balance total equals the history total');
		ok($n >= $low && $n <= $high,
			"restored under load: $n history rows, a snapshot between $low and $high");
	},
	recover => sub {
		reload_and_wait($node, 'protech_backup.database' => 'app');
		# made during this fault; removed so later checks need not read them
		for my $file (split /\n/, $node->safe_psql('app',
			"SELECT file_name FROM protech_backup_list() WHERE database = 'bench'"))
		{
			unlink("$home_dir/$file.json", "$home_dir/$file", "$home_dir/$file.globals.sql",
				"$home_dir/$file.database.sql") == 4
			  or die "could not remove $file";
		}
	});

#
# 8. Twenty sessions call protech_backup_now() at once: exactly one backup
# runs, the other calls get 55006 at once, without a worker or a history
# row of their own.  (A scheduled run during a manual one is 'skipped':
# 003_scheduler.pl.)
#
fault(
	'20 sessions call protech_backup_now() at once',
	sub {
		my $runs_before = $node->safe_psql('app', 'SELECT count(*) FROM protech_backup_history');
		my $locker = lock_table($node, 'app', 'locked_tbl');
		my @calls = map {
			my $call = {};
			$call->{h} = IPC::Run::start(
				[
					'psql', '-X', '-qAt', '-v', 'VERBOSITY=verbose',
					'-d', $node->connstr('app'),
					'-c', 'SELECT file_name FROM protech_backup_now()'
				],
				'<', '/dev/null', '>', \$call->{out}, '2>', \$call->{err});
			$call
		} 1 .. 20;
		my @done;
		wait_until(
			sub {
				$_->{h}->pump_nb for grep { $_->{h}->pumpable } @calls;
				@done = grep { !$_->{h}->pumpable } @calls;
				return @done >= 19;
			},
			'19 calls to return');
		is(scalar(grep { $_->{err} =~ /ERROR:  55006: another backup is already running\nDETAIL:  Process \d+ started (a backup|backup "protech_backup_\S+") at / } @done),
			19, '19 calls get 55006');
		$locker->query_safe('COMMIT');
		$locker->quit;
		$_->{h}->finish for @calls;
		my @made = grep { $_->{out} =~ /^protech_backup_\d{8}_\d{6}(_\d+)?\.sql$/ } @calls;
		is(scalar(@made), 1, 'exactly one call made a backup');
		is($node->safe_psql('app', 'SELECT count(*) FROM protech_backup_history') - $runs_before,
			1, 'exactly one run is recorded');
	});

#
# 9. I/O failures injected by the shim (test/iofault/iofault.c) at each
# step of a backup of each format, of a verification's rewrite of a
# manifest, of a retention delete and of a restore: fsync, write, rename
# and open failing with EIO, ENOSPC or EACCES.  Each is checked to have
# been injected (the shim logs what it did) and to end as a clear error;
# fault() checks the rest.  They run in a directory of their own, with
# retention keeping the newest two, so that each fault finds older backups
# to keep intact without the checks reading ever more of them.
#
my $io_dir = $node->basedir . '/io_backups';
reload_and_wait($node,
	'protech_backup.directory' => $io_dir,
	'protech_backup.retention_count' => 2);
$node->{protech_backup_dir} = $io_dir;
$node->safe_psql('app', 'SELECT count(*) FROM protech_backup_now()') for 1 .. 2;

# A name pattern of the shim for the files of a backup in $io_dir.
my $any = "$io_dir/protech_backup_*";
my %errno_text = (
	EIO => qr/58030: .*: Input\/output error/,
	ENOSPC => qr/53100: .*: No space left on device/,
	EACCES => qr/42501: .*: Permission denied/);

# Inject the shim's rule "fail $call $errno $nth $pattern [$program]"
# during $opts{action} (by default a backup, which must fail), and check
# that the fault fired and that the error ($opts{action} returns it)
# matches $message and names errno's SQLSTATE and words.  Other %opts go
# to fault().
sub io_fault
{
	my ($name, $rule, $message, %opts) = @_;
	my ($call, $errno) = split / /, $rule;
	my $action = delete $opts{action} // \&backup_error;
	my $check = delete $opts{check};
	fault(
		$name,
		sub {
			set_io_faults($node, "fail $rule");
			my $err = $action->();
			my @fired = fired_io_faults($node);
			set_io_faults($node);
			ok(scalar(grep { / \Q$call $errno\E / } @fired), "$name: the $call failure was injected")
			  or diag("rule: fail $rule");
			like($err, $message, "$name: the error says what failed");
			like($err, $errno_text{$errno}, "$name: with the SQLSTATE and words of $errno")
			  unless $opts{no_errno};
			$check->() if $check;
		},
		history => $opts{history} // ($action == \&backup_error ? $message : undef),
		%opts);
	return;
}

# the steps of a plain backup, in the order they happen (dump, globals,
# manifest, each written, synced, renamed, the directory synced)
my $dump = qr/"\Q$io_dir\E\/protech_backup_\d{8}_\d{6}(_\d+)?\.sql/;
my $dump_partial = "$any.sql.partial";
my $globals_partial = "$any.globals.sql.partial";
my $manifest_partial = "$any.json.partial";
io_fault('dump: cannot be created (EACCES)', "open EACCES 1 $dump_partial postgres",
	qr/could not create file $dump\.partial": Permission denied/);
io_fault('dump: write fails (EIO)', "write EIO 1 $dump_partial postgres",
	qr/could not write to file $dump\.partial": Input\/output error/);
io_fault('dump: disk full from the second write on (ENOSPC)', "write ENOSPC 2+ $dump_partial postgres",
	qr/could not write to file $dump\.partial": No space left on device/);
io_fault('dump: fsync of the written file fails (EIO)', "fsync EIO 1 $dump_partial postgres",
	qr/could not fsync file $dump\.partial": Input\/output error/);
io_fault('dump: fsync before the rename fails (EIO)', "fsync EIO 2 $dump_partial postgres",
	qr/could not fsync $dump\.partial": Input\/output error/);
io_fault('dump: rename fails (EIO)', "rename EIO 1 $dump_partial postgres",
	qr/could not rename $dump\.partial" to $dump": Input\/output error/);
io_fault('dump: directory fsync after its rename fails (EIO)', "fsync EIO 1 $io_dir postgres",
	qr/could not fsync "\Q$io_dir\E": Input\/output error/);
io_fault('globals: cannot be created (EACCES)', "open EACCES 1 $globals_partial postgres",
	qr/could not create file $dump\.globals\.sql\.partial": Permission denied/);
io_fault('globals: disk full (ENOSPC)', "write ENOSPC 1 $globals_partial postgres",
	qr/could not write to file $dump\.globals\.sql\.partial": No space left on device/);
io_fault('globals: fsync fails (EIO)', "fsync EIO 1 $globals_partial postgres",
	qr/could not fsync file $dump\.globals\.sql\.partial": Input\/output error/);
io_fault('globals: rename fails (EIO)', "rename EIO 1 $globals_partial postgres",
	qr/could not rename $dump\.globals\.sql\.partial" to $dump\.globals\.sql": Input\/output error/);
io_fault('globals: directory fsync after its rename fails (EIO)', "fsync EIO 2 $io_dir postgres",
	qr/could not fsync "\Q$io_dir\E": Input\/output error/);
io_fault('manifest: cannot be created (EACCES)', "open EACCES 1 $manifest_partial postgres",
	qr/could not create file $dump\.json\.partial": Permission denied/);
io_fault('manifest: disk full (ENOSPC)', "write ENOSPC 1 $manifest_partial postgres",
	qr/could not write to file $dump\.json\.partial": No space left on device/);
io_fault('manifest: fsync fails (EIO)', "fsync EIO 1 $manifest_partial postgres",
	qr/could not fsync $dump\.json\.partial": Input\/output error/);
io_fault('manifest: rename fails (EIO)', "rename EIO 1 $manifest_partial postgres",
	qr/could not rename $dump\.json\.partial" to $dump\.json": Input\/output error/);
# the manifest is in place when this fails: it must go with the dump
io_fault('manifest: directory fsync after its rename fails (EIO)', "fsync EIO 3 $io_dir postgres",
	qr/could not fsync "\Q$io_dir\E": Input\/output error/);

# the verification after the backup (checksum) cannot read the new dump:
# the run fails, the backup is kept, its manifest saying why
io_fault('verification after the backup: the dump cannot be opened (EACCES)',
	"open EACCES 1 $any.sql postgres",
	qr/ERROR:  XX001: verification of backup "protech_backup_\S+" failed\nDETAIL:  could not open file $dump": Permission denied/,
	history => qr/^verification of backup "protech_backup_\S+" failed\ncould not open file $dump": Permission denied$/,
	no_errno => 1);
io_fault('verification after the backup: reading the dump fails (EIO)',
	"read EIO 1 $any.sql postgres",
	qr/ERROR:  XX001: verification of backup "protech_backup_\S+" failed\nDETAIL:  could not read file $dump": Input\/output error/,
	history => qr/^verification of backup "protech_backup_\S+" failed\ncould not read file $dump": Input\/output error$/,
	no_errno => 1);

# other formats: custom, plain compressed here, directory
reload_and_wait($node, 'protech_backup.format' => 'custom');
io_fault('custom format: dump write fails (EIO)', "write EIO 1 $any.dump.partial postgres",
	qr/could not write to file "\Q$io_dir\E\/protech_backup_\S+\.dump\.partial": Input\/output error/);
io_fault('custom format: dump rename fails (EIO)', "rename EIO 1 $any.dump.partial postgres",
	qr/could not rename "\Q$io_dir\E\/protech_backup_\S+\.dump\.partial" to "\S+\.dump": Input\/output error/);
reload_and_wait($node, 'protech_backup.format' => 'plain', 'protech_backup.compression' => 'zstd');
io_fault('zstd: disk full while the compressed dump is written (ENOSPC)',
	"write ENOSPC 1+ $any.sql.zst.partial postgres",
	qr/could not write to file "\Q$io_dir\E\/protech_backup_\S+\.sql\.zst\.partial": No space left on device/);
reload_and_wait($node, 'protech_backup.format' => 'directory', 'protech_backup.compression' => 'none');
my $folder = "$any.dir.partial";
io_fault('directory format: pg_dump cannot create its table of contents (EACCES)',
	"open EACCES 1 $folder/toc.dat pg_dump",
	qr/ERROR:  38000: pg_dump of database "app" failed: child process exited with exit code 1\nDETAIL:  pg_dump printed:\n.*could not open output file "\Q$io_dir\E\/\S+\.dir\.partial\/toc\.dat": Permission denied/s,
	history => qr/^pg_dump of database "app" failed: .*toc\.dat": Permission denied$/s,
	no_errno => 1);
io_fault('directory format: fsync of a file of the folder fails (EIO)',
	"fsync EIO 1 $folder/* postgres",
	qr/ERROR:  58030: could not seal directory-format dump: could not fsync file "\Q$io_dir\E\/\S+\.dir\.partial\/\S+": Input\/output error/,
	history => qr/^could not seal directory-format dump: could not fsync file "\S+": Input\/output error$/);
io_fault('directory format: fsync of the folder fails (EIO)',
	"fsync EIO 1 $folder postgres",
	qr/could not seal directory-format dump: could not fsync folder "\Q$io_dir\E\/\S+\.dir\.partial": Input\/output error/);
io_fault('directory format: rename of the folder fails (EIO)',
	"rename EIO 1 $folder postgres",
	qr/could not rename folder "\Q$io_dir\E\/\S+\.dir\.partial" to "\S+\.dir": Input\/output error/);
io_fault('directory format: directory fsync after the folder is renamed fails (EIO)',
	"fsync EIO 1 $io_dir postgres",
	qr/could not fsync "\Q$io_dir\E": Input\/output error/);
reload_and_wait($node, 'protech_backup.format' => 'plain');
# the newest backup, which the verifications and the first restore below
# read, a plain one
$node->safe_psql('app', 'SELECT count(*) FROM protech_backup_now()');

# protech_backup_verify() rewriting the manifest: each failure is an
# error, and the manifest stays as it was, or (once renamed) as rewritten
sub verify_error
{
	my $file = $node->safe_psql('app',
		'SELECT file_name FROM protech_backup_list() ORDER BY started_at DESC LIMIT 1');
	my ($ret, $out, $err) = $node->psql('app',
		"\\set VERBOSITY verbose\nSELECT * FROM protech_backup_verify('$file')");
	isnt($ret, 0, 'the verification fails');
	return $err;
}
io_fault('verification rewrite: manifest cannot be created (EACCES)',
	"open EACCES 1 $manifest_partial postgres",
	qr/could not create file $dump\.json\.partial": Permission denied/, action => \&verify_error);
io_fault('verification rewrite: disk full (ENOSPC)', "write ENOSPC 1 $manifest_partial postgres",
	qr/could not write to file $dump\.json\.partial": No space left on device/,
	action => \&verify_error);
io_fault('verification rewrite: fsync fails (EIO)', "fsync EIO 1 $manifest_partial postgres",
	qr/could not fsync $dump\.json\.partial": Input\/output error/, action => \&verify_error);
io_fault('verification rewrite: rename fails (EIO)', "rename EIO 1 $manifest_partial postgres",
	qr/could not rename $dump\.json\.partial" to $dump\.json": Input\/output error/,
	action => \&verify_error);
io_fault('verification rewrite: directory fsync after the rename fails (EIO)',
	"fsync EIO 1 $io_dir postgres",
	qr/could not fsync "\Q$io_dir\E": Input\/output error/, action => \&verify_error);

# A restore: the program or the server cannot read the dump.  Each fails
# with the error, and the database it created is dropped.
sub restore_error
{
	my ($file) = @_;
	my ($ret, $out, $err) = $node->psql('app',
		"\\set VERBOSITY verbose\nSELECT * FROM protech_backup_restore('$file', 'io_restored')");
	isnt($ret, 0, 'the restore fails');
	is($node->safe_psql('app', "SELECT count(*) FROM pg_database WHERE datname = 'io_restored'"),
		'0', 'the database it created is dropped');
	return $err;
}
my $plain_file = $node->safe_psql('app',
	'SELECT file_name FROM protech_backup_list() ORDER BY started_at DESC LIMIT 1');
io_fault('restore: psql cannot open the dump (EACCES)', "open EACCES 1 $any.sql psql",
	qr/ERROR:  38000: could not restore backup "\Q$plain_file\E" into database "io_restored"\nDETAIL:  psql failed \(child process exited with exit code 1\) and printed:\n.*Permission denied\nThe half-restored database "io_restored" was dropped\./s,
	action => sub { restore_error($plain_file) }, no_errno => 1);
reload_and_wait($node, 'protech_backup.compression' => 'zstd');
my ($zstd_file, $zstd_size) = split /\|/,
  $node->safe_psql('app', 'SELECT file_name, size_bytes FROM protech_backup_now()');
reload_and_wait($node, 'protech_backup.compression' => 'none');
# its check reads it first, in reads of 256 kB and one at its end
my $check_reads = int($zstd_size / 262144) + 2;
io_fault('restore: the server cannot open the compressed dump (EACCES)',
	"open EACCES 2 $any.sql.zst postgres",
	qr/ERROR:  42501: could not open file "\Q$io_dir\/$zstd_file\E": Permission denied/,
	action => sub { restore_error($zstd_file) });
io_fault('restore: reading the compressed dump fails (EIO)',
	"read EIO " . ($check_reads + 1) . " $any.sql.zst postgres",
	qr/ERROR:  58030: could not read file "\Q$io_dir\/$zstd_file\E": Input\/output error/,
	action => sub { restore_error($zstd_file) });

# Retention cannot delete the oldest backup: it is kept (its manifest
# could not be removed), or its removal stops before its dump goes (the
# directory could not be synced after the manifest went, or the dump could
# not be removed).  A WARNING says so and protech_backup_cleanup() reports
# 'delete failed'; the dump left without its manifest is never listed, and
# is for the DBA to remove, as the WARNING's hint says (here: recover).
sub retention_fault
{
	my ($name, $rule, $message, %opts) = @_;
	reload_and_wait($node, 'protech_backup.retention_count' => 1);
	my @doomed = split /\n/, $node->safe_psql('app',
		"SELECT file_name FROM protech_backup_cleanup(true) WHERE action = 'delete' ORDER BY file_name"
	);
	my $oldest = $doomed[0] // die 'nothing for retention to delete';
	my @left = map { "$oldest$_" } @{ $opts{left} };
	io_fault(
		$name, $rule, $message,
		action => sub {
			my ($ret, $out, $err) = $node->psql('app',
				"\\set VERBOSITY verbose\nSELECT file_name, action FROM protech_backup_cleanup()");
			is($ret, 0, "$name: retention runs to its end");
			like($out, qr/^\Q$oldest\E\|delete failed$/m,
				"$name: protech_backup_cleanup() reports 'delete failed'");
			return $err;
		},
		deleted => [ @left ? @doomed : @doomed[ 1 .. $#doomed ] ],
		recover => sub {
			is_deeply([ leftover_files() ], [ sort @left ],
				"$name: what is left of the backup is no backup: @left");
			unlink(map { "$io_dir/$_" } @left) == @left or die "could not remove @left";
			reload_and_wait($node, 'protech_backup.retention_count' => 2);
		});
	return;
}
retention_fault('retention: the manifest cannot be removed (EACCES)',
	"unlink EACCES 1 $any.json postgres",
	qr/WARNING:  42501: could not delete backup "protech_backup_\S+": Permission denied\nDETAIL:  Removing its manifest "\S+" failed, so the backup is kept/,
	left => []);
retention_fault('retention: directory fsync after the manifest is removed fails (EIO)',
	"fsync EIO 1 $io_dir postgres",
	qr/WARNING:  58030: could not fsync "\Q$io_dir\E": Input\/output error\n.*WARNING:  01000: could not delete backup "protech_backup_\S+"\nDETAIL:  Its manifest is removed, but the removal could not be made durable, so its dump "\S+" is left in place\./s,
	left => [ '', '.database.sql', '.globals.sql' ]);
retention_fault('retention: the dump cannot be removed (EIO)',
	"unlink EIO 1 $any.sql postgres",
	qr/WARNING:  58030: could not remove file "\S+": Input\/output error\n.*WARNING:  01000: could not delete backup "protech_backup_\S+"\nDETAIL:  Its manifest is removed, so the dump "\S+" is no longer a backup, but the dump, its globals file or its database-level properties file could not be removed\./s,
	left => ['']);

reload_and_wait($node,
	'protech_backup.directory' => $home_dir,
	'protech_backup.retention_count' => 0);
$node->{protech_backup_dir} = $home_dir;

#
# 10. Bad input to every function of the extension that takes arguments:
# NULLs, empty and 10 kB strings, traversal and partial or manifest file
# names, negative and extreme numbers, infinite timestamps.  Each call
# gives a clear error with a SQLSTATE (never an internal error, a timeout
# or a crash), or a NULL result from a STRICT function that returns no
# set; a non-NULL bad value may also simply work.
#
my $good = $node->safe_psql('app', 'SELECT file_name FROM protech_backup_list() LIMIT 1');
my %bad_values = (
	'text' => [
		'NULL', "''", "repeat('x', 10240)", "'../../../../etc/passwd'",
		"'/etc/passwd'", "'$good/../../../../etc/passwd'",
		"'protech_backup_20260101_000000.sql.partial'", "'$good.json'",
		"'$good.partial'", "E'x\\n'"
	],
	'integer' => [ 'NULL', '-1', '-2147483648', '2147483647' ],
	'bigint' => [ 'NULL', '-1', '-9223372036854775808', '9223372036854775807' ],
	'boolean' => ['NULL'],
	# a database that exists already, or no name at all
	'name' => [ 'NULL', "''", "'app'", "'postgres'" ],
	'timestamp with time zone' => [ 'NULL', "'infinity'", "'-infinity'" ],
	'timestamp with time zone[]' => [ 'NULL', "'{NULL}'" ],
	'bigint[]' => [ 'NULL', "'{NULL}'", "'{-1}'" ],
	'boolean[]' => [ 'NULL', "'{NULL}'" ],
	'text[]' => [ 'NULL', "'{NULL}'", "'{}'", "'{\"\"}'" ],
);

my $calls = 0;
my $log_offset = -s $node->logfile;
for my $function (grep { @{ $_->{types} } } extension_functions($node, 'app'))
{
	my ($proc, $types, $names) = @$function{qw(proc types names)};
	fault(
		"bad input to $proc",
		sub {
			for my $i (0 .. $#$types)
			{
				my $bad = $bad_values{ $types->[$i] }
				  or die "no bad values for type $types->[$i] of $proc";
				for my $value (@$bad)
				{
					my @args = map { harmless_value($types->[$_], $names->[$_], $good) } 0 .. $#$types;
					$args[$i] = "${value}::$types->[$i]";
					my $call = "$proc(" . join(', ', @args) . ')';
					my ($ret, $out, $err) = $node->psql('app',
						"\\set VERBOSITY verbose\nSET statement_timeout = '30s';\nSELECT * FROM $call");
					$calls++;
					(my $shown = $call) =~ s/repeat\('x', 10240\)/<10 kB>/;
					if ($ret != 0)
					{
						like($err,
							qr/ERROR:  (?!XX|57014)[0-9A-Z]{5}: \S/,
							"$shown: a clear error with its SQLSTATE");
					}
					elsif ($value eq 'NULL')
					{
						ok($function->{strict} && !$function->{retset} && $out eq '',
							"$shown: NULL from a STRICT function, not a silent result");
					}
					else
					{
						pass("$shown: accepted");
					}
				}
			}
		});
}
unlike(slurp_file($node->logfile, $log_offset), qr/terminated by signal/,
	"bad input: $calls calls, no server process crashed");

diag("faults: $injected injected, $survived survived, $lost lost");
is($lost, 0, 'no fault lost a backup or leaked a partial file');
is($survived, $injected, 'every fault left the system in its known state');

done_testing();
