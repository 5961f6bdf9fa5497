# The scheduler: a schedule due in the next minute produces exactly one
# 'schedule' backup and history row (the worker shows the running backup in
# pg_stat_activity meanwhile); a reload changes the schedule without a
# restart; a run due while a manual backup runs is 'skipped'; a slot missed
# while the server was down gives exactly one 'catch-up' backup, and none
# after another restart; SIGTERM (fast shutdown) during a backup records it
# as failed and leaves no partial; a crash marks the 'running' row failed;
# a missing database or extension is logged once and waited for.
use strict;
use warnings;

use lib 'test/lib';
use POSIX qw(strftime);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use ProtechBackupTest;
use Test::More;
use Time::HiRes qw(time);

my $node = new_backup_node('scheduler',
	conf => "max_prepared_transactions = 5\nrestart_after_crash = on\n");
my $dir = $node->{protech_backup_dir};
$node->safe_psql('app', 'CREATE TABLE t AS SELECT 1 AS x');

sub history
{
	my ($where) = @_;
	return $node->safe_psql('app',
		"SELECT count(*) FROM protech_backup_history WHERE $where");
}

# A schedule firing once a day, at the next minute (UTC) at least $margin
# seconds away; returns it and that instant.
sub next_minute_schedule
{
	my $t = int(time) + 8;
	my $next = $t - ($t % 60) + 60;
	return (strftime('%M %H * * *', gmtime($next)), $next);
}

# Set the schedule by reload and wait until the scheduler announces it.
sub set_schedule
{
	my ($schedule) = @_;
	my $offset = -s $node->logfile;
	reload_and_wait($node, 'protech_backup.schedule' => $schedule);
	$node->wait_for_log(qr/protech_backup: next backup of database "app" at .* \(schedule "\Q$schedule\E"/,
		$offset);
	return;
}

ok( $node->poll_query_until('app',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'protech_backup scheduler' AND datname = 'app' AND state = 'idle'"
	),
	'the scheduler shows in pg_stat_activity, idle');
is( $node->safe_psql('app',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'protech_backup launcher'"),
	'1', 'the launcher runs');

# 1. A schedule set by reload, due within the next minute, while pg_dump
# has to wait for a lock: the scheduler shows the running backup.
my $locker = lock_table($node, 'app', 't');
my ($schedule, $due) = next_minute_schedule();
set_schedule($schedule);
ok( $node->poll_query_until('app',
		"SELECT query = 'schedule backup of database \"app\"' FROM pg_stat_activity WHERE backend_type = 'protech_backup scheduler' AND state = 'active'"
	),
	'the running scheduled backup shows in pg_stat_activity');
ok(time >= $due, 'it did not start before it was due');
is(history("trigger = 'schedule' AND status = 'running'"), '1',
	'a running history row');
$locker->query_safe('COMMIT');
$locker->quit;
ok( $node->poll_query_until('app',
		"SELECT count(*) = 1 FROM protech_backup_history WHERE trigger = 'schedule' AND status = 'succeeded'"
	),
	'the scheduled backup succeeds');
is( $node->safe_psql('app',
		"SELECT count(*) FROM protech_backup_list() WHERE trigger = 'schedule'"),
	'1', 'exactly one scheduled backup is listed');
is(history('true'), '1', 'exactly one history row');
ok( $node->poll_query_until('app',
		"SELECT state = 'idle' FROM pg_stat_activity WHERE backend_type = 'protech_backup scheduler'"
	),
	'the scheduler is idle again');

# 2. A scheduled run due while a manual backup runs is skipped, not queued.
$locker = lock_table($node, 'app', 't');
my $manual = background_call($node, 'app',
	'SELECT count(*) FROM protech_backup_now()', on_error_stop => 1);
($schedule, $due) = next_minute_schedule();
set_schedule($schedule);
ok( $node->poll_query_until('app',
		"SELECT count(*) = 1 FROM protech_backup_history WHERE trigger = 'schedule' AND status = 'skipped' AND message LIKE 'another backup is already running%'"
	),
	'a scheduled run during a manual backup is recorded as skipped');
$locker->query_safe('COMMIT');
$locker->quit;
$manual->quit;
ok( $node->poll_query_until('app',
		"SELECT count(*) = 1 FROM protech_backup_history WHERE trigger = 'manual' AND status = 'succeeded'"
	),
	'the manual backup completes');

# 3. A slot missed while the server was down: one catch-up backup at
# start-up, none after a second restart.
($schedule, $due) = next_minute_schedule();
set_schedule($schedule);
$node->stop('fast');
wait_until(sub { time > $due + 1 }, 'the due time to pass');
my $offset = -s $node->logfile;
$node->start;
$node->wait_for_log(qr/protech_backup: a scheduled backup was missed since .*, running a catch-up backup/,
	$offset);
ok( $node->poll_query_until('app',
		"SELECT count(*) = 1 FROM protech_backup_history WHERE trigger = 'catch-up' AND status = 'succeeded'"
	),
	'exactly one catch-up backup after the missed slot');
is( $node->safe_psql('app',
		"SELECT count(*) FROM protech_backup_list() WHERE trigger = 'catch-up'"),
	'1', 'the catch-up backup is listed as such');
# (a history row older than protech_backup.history_days, to be purged)
$node->safe_psql('app',
	"INSERT INTO protech_backup_history (trigger, database, started_at, status) VALUES ('manual', 'app', now() - interval '91 days', 'succeeded')"
);
$offset = -s $node->logfile;
$node->restart;
$node->wait_for_log(qr/protech_backup: next backup of database "app" at/, $offset);
is(history("trigger = 'catch-up'"), '1', 'no second catch-up after a restart');
is(history("started_at < now() - interval '90 days'"), '0',
	'history older than protech_backup.history_days is purged');

# 4. Fast shutdown while a scheduled (here: catch-up) backup waits for a
# lock that survives restarts (a prepared transaction): pg_dump is killed,
# the run recorded as failed, no partial left, and shutdown is prompt.
$node->safe_psql('app',
	"BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE; PREPARE TRANSACTION 'hold_t'");
($schedule, $due) = next_minute_schedule();
set_schedule($schedule);
$node->stop('fast');
wait_until(sub { time > $due + 1 }, 'the due time to pass');
$node->start;
ok( $node->poll_query_until('app',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'protech_backup scheduler' AND query = 'catch-up backup of database \"app\"'"
	),
	'the catch-up backup runs, waiting for the lock');
wait_until(sub { grep { /\.partial$/ } backup_files($node) },
	'the partial file');
my $stop_started = time;
$node->stop('fast');
my $stop_seconds = time - $stop_started;
cmp_ok($stop_seconds, '<', 30, 'fast shutdown is prompt during a backup');
ok(!(grep { /\.partial$/ } backup_files($node)), 'no partial file is left');
$node->start;
# (the catch-up of this start is waiting for the lock again meanwhile)
is( $node->safe_psql('app',
		"SELECT status FROM protech_backup_history WHERE trigger = 'catch-up' AND status <> 'running' ORDER BY run_id DESC LIMIT 1"
	),
	'failed',
	'the interrupted run is recorded as failed');
$node->safe_psql('app', "ROLLBACK PREPARED 'hold_t'");
ok( $node->poll_query_until('app',
		"SELECT count(*) = 2 FROM protech_backup_history WHERE trigger = 'catch-up' AND status = 'succeeded'"
	),
	'the catch-up after that restart succeeds once the lock is gone');
is( $node->safe_psql('app',
		"SELECT string_agg(status, ',' ORDER BY run_id) FROM protech_backup_history WHERE trigger = 'catch-up'"),
	'succeeded,failed,succeeded',
	'catch-up history: the interrupted run is failed, not left running');
like( $node->safe_psql('app',
		"SELECT message FROM protech_backup_history WHERE trigger = 'catch-up' AND status = 'failed'"),
	qr/^backup interrupted: the server is shutting down/,
	'the failed run says why');
reload_and_wait($node, 'protech_backup.schedule' => '');

# 5. A crash (kill -9 of the backup worker) during a manual backup: after
# the crash restart the 'running' row is marked failed, the partial file
# removed, pg_dump gone, and the next backup succeeds.
$locker = lock_table($node, 'app', 't');
$manual = background_call($node, 'app',
	'SELECT count(*) FROM protech_backup_now()');
ok( $node->poll_query_until('app',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'protech_backup' AND wait_event_type = 'Lock'"
	),
	'pg_dump waits for the lock');
my $pg_dump_backend = $node->safe_psql('app',
	"SELECT pid FROM pg_stat_activity WHERE application_name = 'protech_backup'");
my $worker = $node->safe_psql('app',
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'protech_backup backup'");
my $running = $node->safe_psql('app',
	"SELECT run_id FROM protech_backup_history WHERE status = 'running'");
$offset = -s $node->logfile;
kill 'KILL', $worker;
$node->wait_for_log(qr/all server processes terminated; reinitializing/, $offset);
eval { $locker->quit };
eval { $manual->quit };
ok( $node->poll_query_until('app',
		"SELECT status = 'failed' AND message = 'server restarted or failed over while the backup was running' FROM protech_backup_history WHERE run_id = $running"
	),
	'after the crash the running row is marked failed');
wait_until(sub { !grep { /\.partial$/ } backup_files($node) },
	'the stale partial file to be removed');
ok(!(grep { /\.partial$/ } backup_files($node)), 'the stale partial is removed');
is($node->safe_psql('app', 'SELECT count(*) FROM protech_backup_now()'),
	'1', 'the next backup succeeds');

# 6. A database that does not exist, then exists without the extension:
# each logged once, waited for quietly, and scheduling starts when both are
# there.
$offset = -s $node->logfile;
reload_and_wait($node, 'protech_backup.database' => 'later');
$node->wait_for_log(qr/protech_backup: database "later" does not exist, no backups are scheduled/,
	$offset);
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'protech_backup scheduler'"
	),
	'no scheduler for a database that does not exist');
$node->safe_psql('postgres', 'CREATE DATABASE later');
$node->wait_for_log(qr/protech_backup: extension "protech_backup" is not installed in database "later", no backups are scheduled/,
	$offset);
$node->safe_psql('later', 'CREATE EXTENSION protech_backup');
$node->wait_for_log(qr/protech_backup: extension found in database "later", scheduling backups/,
	$offset);
my $log = slurp_file($node->logfile, $offset);
is(scalar(() = $log =~ /database "later" does not exist/g), 1,
	'the missing database was logged once');
is(scalar(() = $log =~ /is not installed in database "later"/g), 1,
	'the missing extension was logged once');
unlike($log, qr/background worker "protech_backup (launcher|scheduler)".*exited with exit code/,
	'no worker crash-looped');

# 7. A scheduled run whose pg_dump hangs (answers --version, then sleeps
# forever) past protech_backup.timeout: the run fails, and the scheduler,
# which lives on, has killed and reaped it: no pg_dump running, no zombie,
# no child at all; the scheduler keeps running and schedules the next run.
my $hung = fake_pg_dump($node, 'hung_pg_dump', 'exec sleep 3600');
reload_and_wait($node,
	'protech_backup.pg_dump_path' => $hung,
	'protech_backup.timeout' => '3s');
my $scheduler = track_process($node->safe_psql('later',
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'protech_backup scheduler'"));
($schedule, $due) = next_minute_schedule();
$offset = -s $node->logfile;
reload_and_wait($node, 'protech_backup.schedule' => $schedule);
$node->wait_for_log(qr/protech_backup: next backup of database "later" at .* \(schedule "\Q$schedule\E"/,
	$offset);
$offset = -s $node->logfile;
ok( $node->poll_query_until('later',
		"SELECT count(*) = 1 FROM protech_backup_history WHERE trigger = 'schedule' AND status = 'failed'"
	),
	'hung pg_dump: the scheduled run fails');
like( $node->safe_psql('later',
		"SELECT message FROM protech_backup_history WHERE trigger = 'schedule' AND status = 'failed'"),
	qr/^pg_dump did not finish within protech_backup\.timeout \(3 s\) and was killed$/,
	'hung pg_dump: the history says it was killed at the timeout');
my $hung_pid = fake_pg_dump_pid($hung);
ok(!process_alive($hung_pid), 'hung pg_dump: it was killed and reaped (neither running nor a zombie)');
is_deeply([ child_pids($scheduler) ], [], 'hung pg_dump: the scheduler has no child left');
ok(process_alive($scheduler), 'hung pg_dump: the scheduler keeps running');
is( $node->safe_psql('later',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'protech_backup scheduler'"),
	$scheduler, 'hung pg_dump: the same scheduler');
$node->wait_for_log(qr/protech_backup: next backup of database "later" at /, $offset);
ok(1, 'hung pg_dump: the scheduler schedules the next run');

done_testing();
