# Status, metrics, NOTIFY and the post-backup command: protech_backup_status()
# in each state (never run, running, succeeded, failed, scheduler stopped),
# healthy = false for each problem it can see here, metric names and
# values, a LISTEN client receiving the payload, post_backup_command
# success, failure and timeout, the rclone recipe round trip, and a
# retention run that could not delete an old backup.
use strict;
use warnings;

use lib 'test/lib';
use File::Path qw(rmtree);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use ProtechBackupTest;
use Test::More;

my $node = new_backup_node('status');
my $dir = $node->{protech_backup_dir};
$node->safe_psql('app',
	'CREATE TABLE t AS SELECT g AS id, md5(g::text) AS payload FROM generate_series(1, 20000) AS g; '
	  . 'CREATE TABLE keep AS SELECT g AS id, md5(g::text) AS payload FROM generate_series(1, 100) AS g'
);

sub status
{
	my ($columns) = @_;
	return $node->safe_psql('app', "SELECT $columns FROM protech_backup_status()");
}

# never run, nothing scheduled
ok( $node->poll_query_until('app',
		'SELECT worker_pid IS NOT NULL FROM protech_backup_status()'),
	'the scheduler has started');
is( status(
		'enabled, worker_pid > 0, running, last_success_at IS NULL, last_failure_at IS NULL, backups, backups_bytes, directory, healthy, problems'
	),
	"f|t|f|t|t|0|0|$dir|t|{}",
	'never run, nothing scheduled: healthy, nothing to report');

# never run, scheduled: no successful backup yet is a problem
reload_and_wait($node, 'protech_backup.schedule' => '0 16 * * *');
ok( $node->poll_query_until('app',
		"SELECT next_run_at IS NOT NULL FROM protech_backup_status()"),
	'the scheduler publishes its next run');
like(
	status("enabled, schedule, timezone, healthy, array_to_string(problems, ';')"),
	qr/^t\|0 16 \* \* \*\|UTC\|f\|no successful backup since the extension was installed \(the schedule expects one every 1 day\)$/,
	'scheduled but never run: unhealthy, and says why');
is(status('next_run_at = protech_backup_next_run(schedule, timezone, now())'),
	't', 'next_run_at is the next slot of the schedule');

# running: a backup waiting for a lock
my $locker = lock_table($node, 'app', 't');
my $listener = $node->background_psql('app');
$listener->query_safe('LISTEN protech_backup');
my $manual = background_call($node, 'app',
	'SELECT count(*) FROM protech_backup_now()', on_error_stop => 1);
ok( $node->poll_query_until('app',
		"SELECT running AND running_since IS NOT NULL AND running_bytes >= 0 FROM protech_backup_status()"
	),
	'a running backup shows as running, with its start and bytes');
$locker->query_safe('COMMIT');
$locker->quit;
$manual->quit;

# succeeded
ok( $node->poll_query_until('app',
		"SELECT NOT running AND backups = 1 FROM protech_backup_status()"),
	'the backup completes');
my ($file, $size) = split /\|/,
  $node->safe_psql('app', 'SELECT file_name, size_bytes FROM protech_backup_list()');
is( status(
		'last_success_file, last_success_bytes, last_success_duration >= interval \'0\', backups_bytes, healthy, problems'
	),
	"$file|$size|t|$size|t|{}",
	'after a success: healthy, describing the last backup');

# the LISTEN client got the payload
like(
	$listener->query('SELECT 1'),
	qr/Asynchronous notification "protech_backup" with payload "\{"run_id": \d+, "trigger": "manual", "status": "succeeded", "database": "app", "file": "\Q$file\E", "size_bytes": $size, "duration_seconds": [\d.]+\}" received/,
	'LISTEN protech_backup receives the finished run as JSON');

# one LOG line per run
like(
	slurp_file($node->logfile),
	qr/LOG:  protech_backup: backup "\Q$file\E" of database "app" succeeded: $size bytes in [\d.]+ s \([\d.]+ MB\/s\)/,
	'one LOG line says how the run went');

# metrics
my %metrics = map { my ($n, $l, $v) = split /\|/; ($n => [ $l, $v ]) } split /\n/,
  $node->safe_psql('app', 'SELECT name, labels, value FROM protech_backup_metrics()');
is_deeply(
	[ sort keys %metrics ],
	[
		qw(protech_backup_backups_total protech_backup_directory_free_bytes
		  protech_backup_failures_total protech_backup_healthy
		  protech_backup_in_recovery protech_backup_last_duration_seconds protech_backup_last_size_bytes
		  protech_backup_last_success_timestamp_seconds protech_backup_running)
	],
	'the metrics, in Prometheus naming');
is($metrics{protech_backup_backups_total}[1], 1, 'backups_total');
is($metrics{protech_backup_last_size_bytes}[1], $size, 'last_size_bytes');
is($metrics{protech_backup_healthy}[1], 1, 'healthy');
is($metrics{protech_backup_running}[1], 0, 'running');
is($metrics{protech_backup_failures_total}[1], 0, 'failures_total');
is($metrics{protech_backup_in_recovery}[1], 0, 'in_recovery');
is($metrics{protech_backup_healthy}[0], 'database="app"', 'labelled with the database');

# the query of contrib/postgres_exporter.yml gives the same values
my ($exporter_query) =
  slurp_file('contrib/postgres_exporter.yml') =~ /^  query: \|\n((?:    .*\n)+)/m;
is( $node->safe_psql('app',
		"SELECT database, backups_total, last_size_bytes, healthy, running, in_recovery FROM ($exporter_query) AS q"
	),
	"app|1|$size|1|0|0",
	'the postgres_exporter queries file reads the metrics');

# failed
reload_and_wait($node, 'protech_backup.pg_dump_path' => '/nonexistent/pg_dump');
$node->psql('app', 'SELECT * FROM protech_backup_now()');
like(
	status("last_failure_at IS NOT NULL, last_failure_message, healthy, array_to_string(problems, ';')"),
	qr/^t\|could not execute pg_dump "\/nonexistent\/pg_dump": No such file or directory\|f\|last backup failed: could not execute pg_dump/,
	'after a failure: unhealthy, with the message');
is( $node->safe_psql('app',
		"SELECT value FROM protech_backup_metrics() WHERE name IN ('protech_backup_failures_total', 'protech_backup_healthy') ORDER BY name"
	),
	"1\n0",
	'failures_total counts it, healthy is 0');
reload_and_wait($node, 'protech_backup.pg_dump_path' => '');

# size anomaly: a backup far smaller than the previous ones
backup_now($node) for 1 .. 2;
is(status('healthy'), 't', 'healthy again after good backups');
my $offset = -s $node->logfile;
$node->safe_psql('app', 'TRUNCATE t');
my $small = backup_now($node);
like(
	status("array_to_string(problems, ';')"),
	qr/^size anomaly: backup \Q$small\E is \d+ bytes, less than 0\.5 of the median size \(\d+ bytes\) of the 3 previous backups$/,
	'a backup far smaller than the median is a size anomaly');
$node->wait_for_log(qr/WARNING:  protech_backup: size anomaly: backup \Q$small\E/, $offset);
ok(1, 'and a WARNING in the log');
$node->safe_psql('app', 'TRUNCATE keep');
my $tiny = backup_now($node);
like(
	status("array_to_string(problems, ';')"),
	qr/^size anomaly: backup \Q$tiny\E is only \d+ bytes$/,
	'a backup under 2 kB is a size anomaly whatever came before');
$node->safe_psql('app',
	'INSERT INTO keep SELECT g, md5(g::text) FROM generate_series(1, 100) AS g');
$node->safe_psql('app',
	'INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 20000) AS g');

# size anomaly, compared only with backups of the same compression:
# switching from uncompressed to zstd makes the next backup far smaller
# than the median of the uncompressed ones, and that is no anomaly.  Seven
# uncompressed backups of the big tables, so that the window of 7 previous
# backups holds only them: compared with backups of any compression, the
# zstd one would be an anomaly.  Taken with protech_backup.databases set,
# so that the run (its WARNING) and protech_backup_status() use the 1.2
# protech_backup_size_anomaly(name); the function without argument (what
# both use while protech_backup.databases is empty) is checked too.
$node->safe_psql('app',
	"CREATE TABLE compressible AS SELECT g AS id, repeat('abc', 300) AS filler FROM generate_series(1, 2000) AS g"
);
reload_and_wait($node, 'protech_backup.databases' => 'app');
my @plain_sizes =
  map { $node->safe_psql('app', 'SELECT size_bytes FROM protech_backup_now()') } 1 .. 7;
note("the 7 uncompressed backups: @plain_sizes bytes");
reload_and_wait($node, 'protech_backup.compression' => 'zstd');
$offset = -s $node->logfile;
my ($zstd, $zstd_size) = split /\|/,
  $node->safe_psql('app', 'SELECT file_name, size_bytes FROM protech_backup_now()');
note("the zstd backup: $zstd_size bytes");
my ($smallest_plain) = sort { $a <=> $b } @plain_sizes;
cmp_ok($zstd_size, '<', 0.5 * $smallest_plain,
	'the zstd backup is under 0.5 of each of the 7 uncompressed ones, so the ratio alone would flag it');
is($node->safe_psql('app', "SELECT protech_backup_size_anomaly('app') IS NULL"),
	't', 'switching from uncompressed to zstd is no size anomaly of the database');
is($node->safe_psql('app', 'SELECT protech_backup_size_anomaly() IS NULL'),
	't', 'nor of all backups of the directory');
is( status("database, healthy, array_to_string(problems, ';')"),
	'app|t|', 'and protech_backup_status() stays healthy');
unlike(slurp_file($node->logfile, $offset), qr/size anomaly/,
	'and no size-anomaly WARNING is logged');
reload_and_wait($node, 'protech_backup.databases' => '');
is( status("database, healthy, array_to_string(problems, ';')"),
	'app|t|',
	'and healthy too when protech_backup_status() judges all backups of the directory');
# (the table stays, so that later backups are no smaller than these)
reload_and_wait($node, 'protech_backup.compression' => 'none');

# post_backup_command's placeholders: %p the dump, %f its name, %d the
# directory, %m the manifest, %% a percent sign; any other % sequence is
# kept as it is
my $expanded = $node->basedir . '/expanded';
reload_and_wait($node,
	'protech_backup.post_backup_command' => "echo '%p|%f|%d|%m|%%|%x|%' > $expanded");
my $hooked = $node->safe_psql('app', 'SELECT file_name FROM protech_backup_now()');
is(slurp_file($expanded), "$dir/$hooked|$hooked|$dir|$dir/$hooked.json|%|%x|%\n",
	'post_backup_command: every placeholder is expanded, other % sequences kept');

# post_backup_command: success, with the rclone recipe against a local
# remote (an alias of a folder)
my $remote = $node->basedir . '/remote';
mkdir $remote or die;
append_to_file($node->basedir . '/rclone.conf',
	"[backup-remote]\ntype = alias\nremote = $remote\n");
my $rclone = 'rclone --config ' . $node->basedir . '/rclone.conf copyto %p backup-remote:protech/%f';
reload_and_wait($node, 'protech_backup.post_backup_command' => $rclone);
my ($copied, $sha) = split /\|/,
  $node->safe_psql('app', 'SELECT file_name, sha256 FROM protech_backup_now()');
ok(-f "$remote/protech/$copied", 'rclone copied the backup to the remote');
is(sha256_of("$remote/protech/$copied"), $sha,
	'the copy has the manifest\'s SHA-256');
is( $node->safe_psql('app',
		"SELECT post_backup_status || ': ' || message FROM protech_backup_history WHERE file_name = '$copied'"
	),
	'succeeded: post_backup_command succeeded',
	'the history records the copy');
is(status('healthy'), 't', 'healthy with a working copy');

# failure: recorded, a status problem, the local backup kept
reload_and_wait($node,
	'protech_backup.post_backup_command' => 'echo copy went wrong >&2; exit 4');
my $kept = backup_now($node);
ok(-f "$dir/$kept", 'a failed copy never deletes the local backup');
is( $node->safe_psql('app',
		"SELECT post_backup_status || ': ' || message FROM protech_backup_history WHERE file_name = '$kept'"
	),
	"failed: post_backup_command failed: child process exited with exit code 4\ncopy went wrong",
	'the history records the failed copy with its output');
is( status("array_to_string(problems, ';')"),
	"post_backup_command failed for $kept",
	'a failed copy is a status problem');

# timeout: killed under protech_backup.timeout
reload_and_wait(
	$node,
	'protech_backup.post_backup_command' => 'exec sleep 600',
	'protech_backup.timeout' => '2s');
my $slow = backup_now($node);
is( $node->safe_psql('app',
		"SELECT post_backup_status || ': ' || message FROM protech_backup_history WHERE file_name = '$slow'"
	),
	'failed: post_backup_command failed: post_backup_command did not finish within protech_backup.timeout (2 s) and was killed',
	'a hanging post_backup_command is killed at protech_backup.timeout');
ok(-f "$dir/$slow", 'and the backup is kept');
reload_and_wait(
	$node,
	'protech_backup.post_backup_command' => '',
	'protech_backup.timeout' => '0');

# retention that could not delete: the folder of an old directory-format
# backup cannot be emptied, so it stays on disk; a status problem until a
# later backup's retention deletes what it must
reload_and_wait(
	$node,
	'protech_backup.format' => 'directory',
	'protech_backup.retention_count' => 1);
my $stuck = backup_now($node);
chmod 0500, "$dir/$stuck" or die "could not chmod $dir/$stuck: $!";
backup_now($node);
chmod 0700, "$dir/$stuck" or die "could not chmod $dir/$stuck: $!";
is( status("healthy, array_to_string(problems, ';')"),
	qq{f|retention: could not delete "$stuck": not kept by any keep rule},
	'an old backup retention could not delete is a status problem');
ok(-d "$dir/$stuck", 'and its folder is still there');
ok(!-e "$dir/$stuck.globals.sql", 'its globals file is removed all the same');
ok(!-e "$dir/$stuck.database.sql", 'and its database-level properties file');
rmtree("$dir/$stuck");
backup_now($node);
is(status('healthy'), 't', 'healthy again once a retention run deletes what it must');
reload_and_wait(
	$node,
	'protech_backup.format' => 'plain',
	'protech_backup.retention_count' => 30);

# scheduler stopped: protech_backup.database names a database that does
# not exist, so the launcher stops the scheduler
reload_and_wait($node, 'protech_backup.database' => 'no_such_db');
ok( $node->poll_query_until('app',
		"SELECT worker_pid IS NULL AND NOT healthy AND 'scheduler not running' = ANY (problems) FROM protech_backup_status()"
	),
	'scheduler stopped: worker_pid is NULL and it is a problem');

# a monitoring role needs only pg_monitor
$node->safe_psql('app', 'CREATE ROLE watcher LOGIN IN ROLE pg_monitor');
is( $node->safe_psql('app',
		'SET ROLE watcher; SELECT count(*) FROM protech_backup_metrics()'),
	'9', 'pg_monitor members can read status and metrics');

done_testing();
