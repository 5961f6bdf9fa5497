# Restores that fail or are interrupted, and verification after each
# backup (split from 030_verify.pl, so that one failing cannot hide the
# other's findings):
# - a restore failing half-way (psql and pg_restore) quotes the failed
#   statement and drops its database;
# - cancel, statement_timeout and termination during a restore drop the
#   scratch or target database before the error returns;
# - protech_backup.verify_after_backup: restore, a failed verification
#   failing the run (history, status) with the backup kept, off.
use strict;
use warnings;

use lib 'test/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use ProtechBackupTest;
use Test::More;

my $node = new_backup_node('restore_failures', fixture => 1);
my $dir = $node->{protech_backup_dir};
my ($ret, $out, $err);
my $file;

sub scalar_of
{
	my ($sql, $db) = @_;
	return $node->safe_psql($db // 'app', $sql);
}

# The user tables of the source and their rows, counted here independently.
my ($ntables, $rows) = user_tables_and_rows($node, 'app');

sub verify_row
{
	my ($file, $restore) = @_;
	return scalar_of(
		"SELECT checksum_ok, coalesce(restored::text, 'null'), detail FROM protech_backup_verify('$file', $restore)"
	);
}

# A restore that fails half-way: a table owned by a role that is gone.
scalar_of(q{
	CREATE ROLE gone_owner;
	CREATE TABLE owned (id int);
	INSERT INTO owned VALUES (1), (2);
	ALTER TABLE owned OWNER TO gone_owner});
reload_and_wait($node, 'protech_backup.compression' => 'zstd');
my $plain_bad = scalar_of('SELECT file_name FROM protech_backup_now()');
reload_and_wait($node,
	'protech_backup.format' => 'custom',
	'protech_backup.compression' => 'none');
my $custom_bad = scalar_of('SELECT file_name FROM protech_backup_now()');
scalar_of('DROP TABLE owned; DROP ROLE gone_owner');

like(verify_row($plain_bad, 'true'),
	qr/^t\|false\|psql failed \(child process exited with exit code 3\) and printed:\npsql:<stdin>:\d+: ERROR:  role "gone_owner" does not exist$/,
	'plain restore failing half-way: the psql line that failed is quoted');
like(verify_row($custom_bad, 'true'),
	qr/^t\|false\|pg_restore failed \(child process exited with exit code 1\) and printed:\npg_restore: error: could not execute query: ERROR:  role "gone_owner" does not exist\nCommand was: ALTER TABLE public\.owned OWNER TO gone_owner;$/,
	'custom restore failing half-way: pg_restore\'s statement is quoted');
is(scratch_databases($node), '0', 'failed restores leave no scratch database');
($ret, $out, $err) = $node->psql('app',
	"\\set VERBOSITY verbose\nSELECT * FROM protech_backup_restore('$plain_bad', 'half_restored')");
like($err,
	qr/ERROR:  38000: could not restore backup "\Q$plain_bad\E" into database "half_restored"\nDETAIL:  psql failed .*\npsql:<stdin>:\d+: ERROR:  role "gone_owner" does not exist\nThe half-restored database "half_restored" was dropped\./,
	'protech_backup_restore failing half-way: 38000, the statement quoted');
is(scalar_of("SELECT count(*) FROM pg_database WHERE datname = 'half_restored'"),
	'0', 'the half-restored database is dropped');

# Cancel, statement_timeout and termination during a restore: a dump that
# sleeps in the middle.
my $sleepy_dump = fake_pg_dump($node, 'sleepy_pg_dump',
	'echo "CREATE TABLE before_sleep (i int);"; echo "SELECT pg_sleep(600);"');
reload_and_wait($node,
	'protech_backup.format' => 'plain',
	'protech_backup.pg_dump_path' => $sleepy_dump);
my $sleepy = scalar_of('SELECT file_name FROM protech_backup_now()');
reload_and_wait($node, 'protech_backup.pg_dump_path' => '');

sub sleeping
{
	return scalar_of(
		"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'protech_backup' AND query LIKE '%pg_sleep(600)%'"
	);
}

# Start $call in a session of its own; wait until the restore sleeps.
sub start_sleeping_restore
{
	my ($call) = @_;
	my $bg = $node->background_psql('app', on_error_stop => 0);
	my $pid = $bg->query('SELECT pg_backend_pid()');
	$bg->query_until(qr/started/, "\\echo started\nSELECT * FROM $call;\n");
	wait_until(sub { sleeping() eq '1' }, 'the restore to reach pg_sleep');
	return ($bg, $pid);
}

my ($bg, $pid) = start_sleeping_restore("protech_backup_verify('$sleepy', true)");
is(scratch_databases($node), '1', 'a verification restores into a scratch database');
scalar_of("SELECT pg_cancel_backend($pid)");
$bg->query('SELECT 1');
like($bg->{stderr}, qr/canceling statement due to user request/, 'cancel: the call is canceled');
is(scratch_databases($node), '0', 'cancel: the scratch database is gone when the error returns');
is(sleeping(), '0', 'cancel: the restore is stopped');
$bg->quit;

($ret, $out, $err) = $node->psql('app',
	"SET statement_timeout = '3s';\nSELECT * FROM protech_backup_verify('$sleepy', true)");
like($err, qr/canceling statement due to statement timeout/, 'statement_timeout: the call is canceled');
is(scratch_databases($node), '0', 'statement_timeout: the scratch database is gone');

($bg, $pid) = start_sleeping_restore("protech_backup_restore('$sleepy', 'canceled_target')");
scalar_of("SELECT pg_cancel_backend($pid)");
$bg->query('SELECT 1');
is(scalar_of("SELECT count(*) FROM pg_database WHERE datname = 'canceled_target'"),
	'0', 'cancel: a restore\'s target database is gone when the error returns');
$bg->quit;

($bg, $pid) = start_sleeping_restore("protech_backup_verify('$sleepy', true)");
scalar_of("SELECT pg_terminate_backend($pid)");
wait_until(sub { !process_alive($pid) }, 'the terminated backend to exit');
is(scratch_databases($node), '0', 'termination: the scratch database is gone when the backend has exited');
is(sleeping(), '0', 'termination: the restore is stopped');
eval { $bg->quit };
is(scalar_of("SELECT verify_result FROM protech_backup_list() WHERE file_name = '$sleepy'"),
	'ok: checksum', 'an interrupted verification records nothing');

# verify_after_backup: restore, a failed one, off.
reload_and_wait($node,
	'protech_backup.verify_after_backup' => 'restore',
	'protech_backup.format' => 'custom');
$file = scalar_of('SELECT file_name FROM protech_backup_now()');
is(scalar_of("SELECT verify_result FROM protech_backup_list() WHERE file_name = '$file'"),
	"ok: restored $ntables tables, $rows rows",
	'verify_after_backup = restore: the new backup is restored and recorded');

my $bad_dump = fake_pg_dump($node, 'bad_pg_dump',
	'echo "CREATE TABLE t (i int);"; echo "SELECT 1/0;"');
reload_and_wait($node,
	'protech_backup.format' => 'plain',
	'protech_backup.pg_dump_path' => $bad_dump);
my @before = backup_files($node);
($ret, $out, $err) = $node->psql('app', "\\set VERBOSITY verbose\nSELECT * FROM protech_backup_now()");
like($err,
	qr/ERROR:  38000: verification of backup "(protech_backup_\d{8}_\d{6}(_\d+)?\.sql)" failed\nDETAIL:  psql failed .*\npsql:.*:2: ERROR:  division by zero\n.*HINT:  The backup is kept/s,
	'a failed verification fails protech_backup_now()');
my ($failed) = $err =~ /verification of backup "([^"]+)"/;
ok(-f "$dir/$failed" && -f "$dir/$failed.json", 'the backup that failed verification is kept');
like(scalar_of("SELECT verify_result FROM protech_backup_list() WHERE file_name = '$failed'"),
	qr/^failed: psql failed .*division by zero/s, 'its manifest records the failure');
like(scalar_of("SELECT status || ': ' || message FROM protech_backup_history ORDER BY run_id DESC LIMIT 1"),
	qr/^failed: verification of backup "\Q$failed\E" failed\npsql failed /,
	'the run is recorded as failed');
like(scalar_of("SELECT last_success_file <> '$failed', array_to_string(problems, ';') FROM protech_backup_status()"),
	qr/^t\|.*last backup failed: verification of backup "\Q$failed\E" failed/,
	'the status reports the failed run, and does not count the backup as a success');
is(scratch_databases($node), '0', 'the failed verification left no scratch database');

reload_and_wait($node,
	'protech_backup.verify_after_backup' => 'off',
	'protech_backup.pg_dump_path' => '');
$file = scalar_of('SELECT file_name FROM protech_backup_now()');
is( scalar_of(
		"SELECT verified_at IS NULL, verify_result IS NULL FROM protech_backup_list() WHERE file_name = '$file'"
	),
	't|t',
	'verify_after_backup = off: the backup is not verified');
like(slurp_file("$dir/$file.json"),
	qr/"verified_at": null,\n  "verify_result": null\n/, 'the manifest says so');

done_testing();
