# When pg_dump cannot run, fails, is killed, or the caller cancels or is
# terminated: a clear error with its SQLSTATE, pg_dump gone, no partial file
# left, older backups untouched, and the next backup succeeds.  Also the
# one-backup-at-a-time rule (55006) and a library that was not preloaded.
use strict;
use warnings;

use lib 'test/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use ProtechBackupTest;
use Test::More;

my $node = new_backup_node('failures');
my $dir = $node->{protech_backup_dir};
my $good = backup_now($node);
my @before = backup_files($node);
my $good_sha = sha256_of("$dir/$good");
my $now = "\\set VERBOSITY verbose\nSELECT * FROM protech_backup_now()";

# Expect protech_backup_now() ($now) to fail with $sqlstate and a message
# matching $pattern, leaving the directory exactly as it was after the
# first, good backup.
sub now_fails
{
	my ($sqlstate, $pattern, $name) = @_;
	return backup_fails($node, $sqlstate, $pattern, $name,
		sql => $now, before => \@before);
}

reload_and_wait($node, 'protech_backup.role' => 'no_such_role');
now_fails('38000',
	qr/pg_dump of database "app" failed: child process exited with exit code 1\nDETAIL:  pg_dump printed:\n.*role "no_such_role" does not exist.*\nHINT:  Set protech_backup.role to an existing role/s,
	'role missing');
reload_and_wait($node, 'protech_backup.role' => '');

reload_and_wait($node, 'protech_backup.database' => 'no_such_db');
now_fails('3D000',
	qr/database "no_such_db" does not exist\nDETAIL:  .*\nHINT:  Set protech_backup.database to an existing database/,
	'database missing');
reload_and_wait($node, 'protech_backup.database' => 'app');

reload_and_wait($node, 'protech_backup.pg_dump_path' => '/nonexistent/pg_dump');
now_fails('58P01',
	qr/could not execute pg_dump "\/nonexistent\/pg_dump": No such file or directory\n.*HINT:  Set protech_backup.pg_dump_path/s,
	'pg_dump missing');

my $failing = fake_pg_dump($node, 'failing_pg_dump',
	'echo "-- some output"; echo "pg_dump: error: simulated failure" >&2; exit 3');
reload_and_wait($node, 'protech_backup.pg_dump_path' => $failing);
now_fails('38000',
	qr/pg_dump of database "app" failed: child process exited with exit code 3\nDETAIL:  pg_dump printed:\npg_dump: error: simulated failure/,
	'pg_dump exits non-zero');

# The worker's error reaches the caller whole: a detail longer than the
# 4096 bytes the worker's report once had room for is not cut.
my $verbose = fake_pg_dump($node, 'verbose_pg_dump',
	'for i in 1 2 3 4 5 6 7; do printf "line $i %0990d\n" 0 >&2; done; exit 3');
reload_and_wait($node, 'protech_backup.pg_dump_path' => $verbose);
my $verbose_err = now_fails('38000',
	qr/pg_dump of database "app" failed: child process exited with exit code 3\nDETAIL:  pg_dump printed:\nline 1 0{990}\n/,
	'pg_dump prints a long error');
like($verbose_err, qr/line 7 0{990}\n/,
	'pg_dump prints a long error: the detail is whole, to its last line');

my $killed = fake_pg_dump($node, 'killed_pg_dump',
	'echo "-- some output"; kill -9 $$');
reload_and_wait($node, 'protech_backup.pg_dump_path' => $killed);
now_fails('38000',
	qr/pg_dump of database "app" failed: child process was terminated by signal 9/,
	'pg_dump killed by SIGKILL');

# A pg_dump that writes a little, then hangs.
my $slow = fake_pg_dump($node, 'slow_pg_dump',
	'echo "-- some output"; exec sleep 600');
reload_and_wait($node, 'protech_backup.pg_dump_path' => $slow);
$now = "SET statement_timeout = '1s';\n$now";
now_fails('57014', qr/canceling statement due to statement timeout/,
	'statement_timeout');
my $slow_pid = fake_pg_dump_pid($slow);
ok(!process_alive($slow_pid), 'statement_timeout: pg_dump was killed');

# A manual backup runs in a worker of its own ('protech_backup backup').
# Start one with the slow pg_dump; wait until pg_dump runs; return the
# background session, the worker's pid and pg_dump's pid.
sub start_slow_backup
{
	unlink("$slow.pid");
	my $bg = background_call($node, 'app', 'SELECT * FROM protech_backup_now()');
	wait_until(sub { -s "$slow.pid" }, 'the slow pg_dump to start');
	my $pg_dump_pid = fake_pg_dump_pid($slow);
	my $worker = track_process($node->safe_psql('app',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'protech_backup backup'"));
	return ($bg, $worker, $pg_dump_pid);
}

# While it runs, a second backup is refused at once with 55006, naming
# the running one; the partial file is not listed.
my ($bg, $worker, $pg_dump_pid) = start_slow_backup();
my ($ret, $out, $err) = $node->psql('app',
	"\\set VERBOSITY verbose\nSELECT * FROM protech_backup_now()");
like($err,
	qr/ERROR:  55006: another backup is already running\nDETAIL:  Process $worker started backup "protech_backup_\d{8}_\d{6}\.sql" at \d{4}-.*\nHINT:  Wait for it to finish, or cancel it with pg_cancel_backend\($worker\)\./,
	'a second backup is refused with 55006 naming the running one');
ok((grep { /\.sql\.partial$/ } backup_files($node)),
	'the running backup writes a .partial file');
is($node->safe_psql('app', 'SELECT count(*) FROM protech_backup_list()'),
	'1', 'the running backup is not listed');

# Canceling the worker as the hint says: the caller gets the cancel.
$node->safe_psql('app', "SELECT pg_cancel_backend($worker)");
like($bg->query('SELECT 1'), qr/^1$/m, 'the calling session survives');
like($bg->{stderr}, qr/canceling statement due to user request/,
	'canceling the worker cancels the backup');
ok(!process_alive($pg_dump_pid), 'canceled worker: pg_dump was killed');
is_deeply([ backup_files($node) ], \@before,
	'canceled worker: no file left, none touched');
$bg->quit;

# Terminating the calling backend: same end state.
($bg, $worker, $pg_dump_pid) = start_slow_backup();
my $caller = $node->safe_psql('app',
	"SELECT pid FROM pg_stat_activity WHERE query LIKE 'SELECT * FROM protech_backup_now()%' AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
);
$node->safe_psql('app', "SELECT pg_terminate_backend($caller)");
wait_until(sub { !process_alive($pg_dump_pid) },
	'pg_dump to die with the terminated backend');
eval { $bg->quit };
wait_until(sub { !process_alive($worker) }, 'the backup worker to exit');
is_deeply([ backup_files($node) ], \@before,
	'terminated backend: no file left, none touched');
is(sha256_of("$dir/$good"), $good_sha, 'the older backup is intact');

# every run is in the history, failed ones with their reason
is( $node->safe_psql(
		'app',
		"SELECT string_agg(status || ':' || trigger, ',' ORDER BY run_id) FROM protech_backup_history"
	),
	'succeeded:manual,' . join(',', ('failed:manual') x 8),
	'every run is recorded, the failed ones too');
like(
	$node->safe_psql(
		'app',
		"SELECT message FROM protech_backup_history ORDER BY run_id DESC LIMIT 1"),
	qr/^backup interrupted: the session that requested it was canceled or terminated$/,
	'the history says why the last run failed');

# Postmaster death during a backup: the worker exits and pg_dump dies with
# it; after a restart the next backup succeeds.
($bg, $worker, $pg_dump_pid) = start_slow_backup();
my $postmaster = track_process($node->{_pid});
ok(server_processes_left($node),
	'the process check sees the running server (by its data directory)');
$node->kill9;
wait_until(sub { !process_alive($pg_dump_pid) },
	'pg_dump to die after the postmaster');
wait_until(sub { !process_alive($worker) }, 'the worker to exit');
ok(1, 'postmaster death: the worker exits and pg_dump dies');
eval { $bg->quit };
# the other children exit too when they notice; then the node starts again
wait_until(sub { !process_alive($postmaster) && !server_processes_left($node) },
	'every process of the old server to exit');
$node->start;

# everything released: the next backup succeeds
reload_and_wait($node, 'protech_backup.pg_dump_path' => '');
is($node->safe_psql('app', 'SELECT count(*) FROM protech_backup_now()'),
	'1', 'the next backup succeeds');
is($node->safe_psql('app', 'SELECT count(*) FROM protech_backup_list()'),
	'2', 'and is listed');
# The backup directory may not be the data directory or inside the parts
# of it PostgreSQL manages.
my $datadir = $node->data_dir;
for my $bad ($datadir, "$datadir/pg_wal", "$datadir/base/backups")
{
	($ret, $out, $err) = $node->psql('app',
		"ALTER SYSTEM SET protech_backup.directory = '$bad'");
	like(
		$err,
		qr/invalid value for parameter "protech_backup\.directory".*\nDETAIL:  The backup directory must not be (the data directory itself|inside "\Q$datadir\E\/(pg_wal|base)", which PostgreSQL manages)\./s,
		"directory $bad is rejected");
}
$node->stop;

# Without shared_preload_libraries: CREATE EXTENSION works, the functions
# say what to add to postgresql.conf.
my $plain = new_backup_node('not_preloaded', preload => '');
($ret, $out, $err) = $plain->psql('app',
	"\\set VERBOSITY verbose\nSELECT * FROM protech_backup_now()");
like($err,
	qr/ERROR:  55000: protech_backup must be loaded via shared_preload_libraries\n.*HINT:  Add protech_backup to shared_preload_libraries in postgresql.conf and restart the server\./s,
	'not preloaded: a clear error saying what to add');
ok(!-e $plain->{protech_backup_dir}, 'not preloaded: nothing written');
$plain->stop;

done_testing();
