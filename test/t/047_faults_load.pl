# Faults of load: pgbench at full speed during backups (no error, and a
# dump taken under load is consistent), twenty sessions calling
# protech_backup_now() at once (exactly one backup runs).
#
# Each fault goes through fault() of test/lib/ProtechBackupTest.pm (its
# error checked here, the end state there); the file ends with its line
# "faults: N injected, N survived, 0 lost", which doc/tests.md sums.
use strict;
use warnings;

use lib 'test/lib';
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use ProtechBackupTest;
use Test::More;
use Time::HiRes qw(time usleep);

my $node = new_fault_node('faults_load');
my $home_dir = $node->{protech_backup_dir};

#
# pgbench at full speed during backups: pgbench reports no error, and
# a dump taken under load is consistent.  pgbench's transactions keep
# sum(abalance) = sum(tbalance) = sum(bbalance) = sum(delta) at every
# commit, and pgbench_history grows by one row per transaction: a restore
# of a consistent snapshot satisfies the sums, with a history count
# between those seen just before and just after the dump.
#
my %tps;
fault(
	$node,
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

		psql_restore($node, 'bench_restored', "$home_dir/$file",
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
# Twenty sessions call protech_backup_now() at once: exactly one backup
# runs, the other calls get 55006 at once, without a worker or a history
# row of their own.  (A scheduled run during a manual one is 'skipped':
# 003_scheduler.pl.)
#
fault(
	$node,
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

faults_summary();

done_testing();
