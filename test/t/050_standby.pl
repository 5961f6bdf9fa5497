# Replication and failover: a primary and a streaming standby with the same
# settings, sharing one backup directory.  Backups record the cluster's
# system identifier and timeline.  On the standby: the launcher logs once
# that it is a standby; protech_backup_now() (twice: no slot is left
# claimed), protech_backup_cleanup(), protech_backup_restore() and a
# restoring protech_backup_verify() fail at once with 25006; listing,
# reading, a dry-run cleanup and a checksum verification (which rewrites no
# manifest) work; protech_backup_status() is healthy, in_recovery, with the
# last success of the replicated history.  An immediate stop of the primary
# mid-backup, then promotion: the scheduler starts without a restart, marks
# the interrupted run failed (restarted or failed over), removes the stale
# partial and catches up exactly once.  Then the old primary is started
# again and both write the directory on an every-minute schedule: each run
# succeeds or is skipped naming the holder of the lock file, every listed
# backup verifies, nothing unlisted is left.  Last, a cluster of another
# system identifier shares the directory: a backup it holds makes the other
# server's calls fail at once with 55006 naming it, and with retention on
# neither deletes the other's backups.  A lock file replaced by a symbolic
# link is never followed.
use strict;
use warnings;

use lib 'test/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use ProtechBackupTest;
use Test::More;
use Time::HiRes qw(time);

# a schedule that does not fire during the test (monthly), so that only
# what the test starts runs until the every-minute part
my $primary = new_backup_node('primary',
	allows_streaming => 1,
	conf => "protech_backup.schedule = '0 0 1 * *'\n");
my $dir = $primary->{protech_backup_dir};
my $sysid = $primary->safe_psql('app',
	'SELECT system_identifier FROM pg_control_system()');
# big enough not to be a size anomaly (under 2 kB)
my $table = "CREATE TABLE t AS SELECT g AS x, repeat('x', 100) AS y FROM generate_series(1, 100) g";
$primary->safe_psql('app', $table);

# 1. Backups know their cluster.
my $first = backup_now($primary);
is(backup_cluster($primary, $first),
	"$sysid|1",
	'protech_backup_list() shows the system identifier and timeline');
like(
	slurp_file("$dir/$first.json"),
	qr/"system_identifier": $sysid,\n  "timeline": 1,/,
	'the manifest records them');

# A scheduled success 40 days ago in the history (kept: history_days is
# 90), which the standby replicates: its promotion must catch up (once the
# primary's own scheduler has looked for a missed run).
$primary->wait_for_log(qr/protech_backup: next backup of database "app" at /);
$primary->safe_psql('app',
	"INSERT INTO protech_backup_history (trigger, database, started_at, finished_at, status) "
	  . "VALUES ('schedule', 'app', now() - interval '40 days', now() - interval '40 days', 'succeeded')"
);

# 2. A streaming standby of the same settings, so of the same directory.
$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;
$standby->{protech_backup_dir} = $dir;
$primary->wait_for_catchup($standby);
my $standby_log =
  qr/protech_backup: this server is a standby, scheduled backups start after its promotion/;
$standby->wait_for_log($standby_log);
is( $standby->safe_psql('app',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type IN ('protech_backup scheduler', 'protech_backup backup')"
	),
	'0',
	'the standby runs no scheduler');

# Each call that would write fails at once with 25006; a statement_timeout
# makes a hang fail differently.
sub standby_refuses
{
	my ($sql, $what) = @_;
	my $started = time;
	my ($ret, $out, $err) = $standby->psql('app',
		"SET statement_timeout = '20s';\n\\set VERBOSITY verbose\n$sql");
	like(
		$err,
		qr/ERROR:  25006: cannot run \Q$what\E during recovery/,
		"standby: $what fails with 25006");
	like($err, qr/HINT:  Run it on the primary\./, "standby: $what: hint");
	cmp_ok(time - $started, '<', 10, "standby: $what fails at once");
	return;
}

my @files_before = backup_files($primary);
my $manifest_sha = sha256_of("$dir/$first.json");
standby_refuses('SELECT * FROM protech_backup_now()', 'protech_backup_now()');
standby_refuses('SELECT * FROM protech_backup_now()', 'protech_backup_now()');
standby_refuses('SELECT * FROM protech_backup_cleanup()',
	'protech_backup_cleanup()');
standby_refuses("SELECT * FROM protech_backup_restore('$first', 'copy')",
	'protech_backup_restore()');
standby_refuses("SELECT * FROM protech_backup_verify('$first', true)",
	'protech_backup_verify() with restore');
is(status_of($standby, 'running, running_since IS NULL'),
	'f|t',
	'standby: no backup slot is left claimed');

is( $standby->safe_psql('app',
		'SELECT string_agg(file_name, \',\') FROM protech_backup_list()'),
	$primary->safe_psql('app',
		'SELECT string_agg(file_name, \',\') FROM protech_backup_list()'),
	'standby: protech_backup_list() works');
is( $standby->safe_psql('app',
		"SELECT length(protech_backup_read('$first', 0, 100))"),
	'100', 'standby: protech_backup_read() works');
is( $standby->safe_psql('app',
		"SELECT string_agg(action, ',') FROM protech_backup_cleanup(dry_run => true)"
	),
	'keep',
	'standby: a dry-run cleanup works');
my ($ret, $out, $err) = $standby->psql('app',
	"SELECT checksum_ok, detail IS NULL FROM protech_backup_verify('$first')");
is($out, 't|t', 'standby: a checksum verification works');
is($err, '', 'standby: quietly');
is(sha256_of("$dir/$first.json"), $manifest_sha,
	'standby: the verification rewrites no manifest');
is_deeply([ backup_files($primary) ], \@files_before,
	'standby: nothing was written to the directory');

# Status: no scheduler is no problem on a standby, and the last success is
# the replicated history's newest.
is( status_of($standby,
		'in_recovery, healthy, problems, worker_pid IS NULL, last_success_file'),
	"t|t|{}|t|$first",
	'standby: status is healthy, in recovery, with the last success');
is( status_of($primary, 'in_recovery, healthy, problems, last_success_file'),
	"f|t|{}|$first",
	'primary: status is healthy, not in recovery');
is(metric_value($standby, 'protech_backup_in_recovery'),
	'1', 'standby: protech_backup_in_recovery is 1');
is(metric_value($primary, 'protech_backup_in_recovery'),
	'0', 'primary: protech_backup_in_recovery is 0');

# 3. An immediate stop of the primary in the middle of a backup: its history
# row stays 'running' (and replicated), its partial file stays.
my $locker = lock_table($primary, 'app', 't');
my ($bg) = start_blocked_backup($primary);
wait_until(sub { partial_files($primary) }, 'the partial file');
$primary->wait_for_catchup($standby);
is( $standby->safe_psql('app',
		"SELECT count(*) FROM protech_backup_history WHERE status = 'running'"),
	'1',
	'the running row is replicated');
$primary->stop('immediate');
eval { $bg->quit };
eval { $locker->quit };
ok(partial_files($primary), 'an immediate stop leaves the partial file');
my $logged = () = slurp_file($standby->logfile) =~ /$standby_log/g;
is($logged, 1, 'the standby logged once that it is a standby');

# 4. Promotion: the scheduler starts without a restart, marks the run
# failed, removes the partial, and catches up exactly once.
my $offset = -s $standby->logfile;
$standby->promote;
$standby->wait_for_log(
	qr/protech_backup: this server was promoted, scheduling backups/, $offset);
ok( $standby->poll_query_until('app',
		"SELECT count(*) = 1 FROM protech_backup_history WHERE trigger = 'catch-up' AND status = 'succeeded'"
	),
	'promotion: one catch-up backup');
is( $standby->safe_psql('app',
		"SELECT status, message FROM protech_backup_history WHERE file_name IS NULL AND trigger = 'manual'"
	),
	'failed|server restarted or failed over while the backup was running',
	'promotion: the old primary\'s interrupted run is marked failed');
$standby->wait_for_log(qr/protech_backup: removed stale partial backup/,
	$offset);
is(scalar(partial_files($primary)), 0,
	'promotion: the stale partial file is removed');
my $catch_up = $standby->safe_psql('app',
	"SELECT file_name FROM protech_backup_history WHERE trigger = 'catch-up'");
is(backup_cluster($standby, $catch_up),
	"$sysid|2",
	'promotion: the catch-up backup is of the same cluster, on timeline 2');
ok( $standby->poll_query_until('app',
		'SELECT worker_pid IS NOT NULL AND NOT in_recovery AND healthy FROM protech_backup_status()'
	),
	'promotion: status shows the scheduler, healthy');

# 5. The old primary started again without a rewind: both write the shared
# directory, every minute.  pg_dump waits 4 s before dumping, so that the
# two servers' runs of one minute overlap.
my $bindir = $standby->config_data('--bindir');
my $slow_pg_dump = fake_pg_dump($standby, 'slow_pg_dump',
	"sleep 4\nexec '$bindir/pg_dump' \"\$@\"");
my $since = $standby->safe_psql('app', 'SELECT now()');
reload_and_wait($standby,
	'protech_backup.pg_dump_path' => $slow_pg_dump,
	'protech_backup.schedule' => '* * * * *');
$primary->append_conf('postgresql.conf',
	"protech_backup.pg_dump_path = '$slow_pg_dump'\n"
	  . "protech_backup.schedule = '* * * * *'\n");
$primary->start;

sub finished_runs
{
	my ($node) = @_;
	return $node->safe_psql('app',
		"SELECT count(*) FROM protech_backup_history WHERE trigger = 'schedule' AND status <> 'running' AND started_at >= '$since'"
	);
}
for my $slots (1 .. 3)
{
	for my $node ($standby, $primary)
	{
		wait_until(sub { finished_runs($node) >= $slots },
			"scheduled run $slots of " . $node->name);
	}
}
for my $node ($standby, $primary)
{
	reload_and_wait($node, 'protech_backup.schedule' => '');
	$node->poll_query_until('app',
		"SELECT NOT running AND NOT EXISTS (SELECT FROM protech_backup_history WHERE status = 'running') FROM protech_backup_status()"
	) or die 'a backup still runs';
}

my $holder =
  qr/^backup directory "\Q$dir\E" is locked by another server\nIts lock file "protech_backup.lock" is held by process \d+ of the server on host "[^"]+" with system identifier $sysid, since /;
my $skipped = 0;
my %made;
for my $node ($standby, $primary)
{
	my $name = $node->name;
	is( $node->safe_psql('app',
			"SELECT count(*) FROM protech_backup_history WHERE started_at >= '$since' AND status NOT IN ('succeeded', 'skipped')"
		),
		'0',
		"$name: every run while both write succeeded or was skipped");
	for my $message (split /\n(?=backup directory)/,
		$node->safe_psql('app',
			"SELECT string_agg(message, E'\\n' ORDER BY run_id) FROM protech_backup_history WHERE started_at >= '$since' AND status = 'skipped'"
		))
	{
		like($message, $holder, "$name: a skipped run names the holder");
		$skipped++;
	}
	$made{$name} = [
		split /\n/,
		$node->safe_psql('app',
			"SELECT file_name FROM protech_backup_history WHERE started_at >= '$since' AND status = 'succeeded'"
		) ];
}
cmp_ok($skipped, '>=', 2, 'the loser of each overlapping minute skipped');

my @listed = listed_backups($standby);
my %listed_timeline = map { split /\|/ } split /\n/,
  $standby->safe_psql('app',
	'SELECT file_name, timeline FROM protech_backup_list()');
for my $file (@{ $made{standby} })
{
	is($listed_timeline{$file}, 2,
		"the new primary's backup $file is listed, of timeline 2");
}
for my $file (@{ $made{primary} })
{
	is($listed_timeline{$file}, 1,
		"the old primary's backup $file is listed, of timeline 1");
}
is_deeply(
	[ backup_files($standby) ],
	[ sort map { ($_, "$_.database.sql", "$_.globals.sql", "$_.json") } @listed ],
	'nothing unlisted is left in the directory');
ok(-f "$dir/protech_backup.lock", 'the lock file stays');
for my $file (@listed)
{
	is(check_stored($standby, $file), 'ok', "$file verifies");
}
is( $standby->safe_psql('app',
		"SELECT count(*) FROM protech_backup_history WHERE trigger = 'catch-up'"),
	'1',
	'the new primary caught up exactly once');
$primary->stop;

# 6. A cluster of another system identifier shares the directory, keeping 1
# backup.  While it takes a backup, the other server's calls that write fail
# at once with 55006 naming it; a verification is done but not recorded.
my $other = new_backup_node('other',
	directory => $dir,
	conf => "protech_backup.retention_count = 1\n");
my $other_sysid = $other->safe_psql('app',
	'SELECT system_identifier FROM pg_control_system()');
isnt($other_sysid, $sysid, 'the other cluster has its own system identifier');
$other->safe_psql('app', $table);
$locker = lock_table($other, 'app', 't');
my $worker;
($bg, $worker) = start_blocked_backup($other);
my $other_holder =
  qr/DETAIL:  Its lock file "protech_backup.lock" is held by process $worker of the server on host "[^"]+" with system identifier $other_sysid, since /;
for my $call ('protech_backup_now()', 'protech_backup_cleanup()')
{
	my $started = time;
	($ret, $out, $err) = $standby->psql('app',
		"\\set VERBOSITY verbose\nSELECT * FROM $call");
	like($err,
		qr/ERROR:  55006: backup directory "\Q$dir\E" is locked by another server/,
		"$call fails with 55006 while another server holds the directory");
	like($err, $other_holder, "$call: the detail names the holder");
	cmp_ok(time - $started, '<', 10, "$call: at once");
}
$manifest_sha = sha256_of("$dir/$first.json");
($ret, $out, $err) = $standby->psql('app',
	"SELECT checksum_ok FROM protech_backup_verify('$first')");
is($out, 't', 'a verification meanwhile is done');
like($err, qr/WARNING:  the verification of backup "\Q$first\E" was not recorded/,
	'but not recorded');
is(sha256_of("$dir/$first.json"), $manifest_sha, 'its manifest is unchanged');
$locker->query_safe('COMMIT');
$bg->query('SELECT 1');
$bg->quit;
$locker->quit;

# With retention on, neither deletes the other's backups.
my @own = split /\n/, $standby->safe_psql('app',
	"SELECT file_name FROM protech_backup_list() WHERE system_identifier = $sysid");
my $other_first = backup_now($other);
is( $other->safe_psql('app',
		"SELECT count(*) FROM protech_backup_list() WHERE system_identifier = $other_sysid"
	),
	'1',
	'the other cluster keeps its newest backup only');
is( $other->safe_psql('app',
		"SELECT count(*) FROM protech_backup_list() WHERE system_identifier = $sysid"
	),
	scalar(@own),
	'and deletes none of the first cluster\'s');
reload_and_wait($standby, 'protech_backup.retention_count' => '1');
is( $standby->safe_psql('app',
		"SELECT action, reason FROM protech_backup_cleanup() WHERE file_name = '$other_first'"
	),
	"keep|a backup of another cluster (system identifier $other_sysid)",
	'cleanup keeps the other cluster\'s backup, saying why');
is( $standby->safe_psql('app',
		'SELECT string_agg(system_identifier::text, \',\' ORDER BY system_identifier) FROM protech_backup_list()'
	),
	join(',', sort ($sysid, $other_sysid)),
	'each cluster kept its own newest backup');
ok(-f "$dir/$other_first", 'the other cluster\'s dump is still there');

# The lock file replaced by a symbolic link: nothing follows it.
my $victim = $standby->basedir . '/victim';
open(my $vf, '>', $victim) or die "could not write $victim: $!";
print $vf "precious\n";
close($vf);
unlink("$dir/protech_backup.lock") or die "could not remove the lock file: $!";
symlink($victim, "$dir/protech_backup.lock") or die "could not symlink: $!";
($ret, $out, $err) = $standby->psql('app',
	"\\set VERBOSITY verbose\nSELECT * FROM protech_backup_now()");
like(
	$err,
	qr/ERROR:  42809: "\Q$dir\E\/protech_backup.lock" is a symbolic link/,
	'a lock file that is a symbolic link is refused');
is(slurp_file($victim), "precious\n", 'and its target is untouched');

done_testing();
