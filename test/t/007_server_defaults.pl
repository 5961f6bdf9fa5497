# A server started the way pg_ctlcluster and systemd start it, with an empty
# environment (no HOME, USER, LOGNAME or PATH) and no
# protech_backup.directory:
# - every child (pg_dump, psql of a test restore, the post-backup command)
#   gets HOME, USER and LOGNAME from the server user's passwd entry and the
#   standard PATH; a variable the server does have is passed on as it is;
# - the default directory is named after the data directory, beside it
#   (SHOW shows it, status agrees, the launcher logs it at start), and a
#   backup goes there.
use strict;
use warnings;

use lib 'test/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use ProtechBackupTest;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('server_defaults');
$node->init;
my $bindir = $node->config_data('--bindir');
my $record = $node->basedir . '/env';

# pg_dump (a wrapper recording its environment, then running the real one)
# and the post-backup command write their environment to $record.<kind>;
# psql and pg_restore get theirs from the same function as pg_dump, and a
# restore under the empty environment shows they run
my $pg_dump = fake_pg_dump($node, 'pg_dump-wrapper',
	"/usr/bin/env > $record.pg_dump\nexec $bindir/pg_dump \"\$@\"");
$node->append_conf('postgresql.conf', <<"CONF");
shared_preload_libraries = 'protech_backup'
protech_backup.database = 'app'
protech_backup.schedule = ''
protech_backup.pg_dump_path = '$pg_dump'
protech_backup.post_backup_command = '/usr/bin/env > $record.post_backup'
CONF

my $data = $node->data_dir;
my ($user, $home) = (getpwuid($>))[ 0, 7 ];

# Start the server from an empty environment (as pg_ctlcluster does, from
# the cluster's empty "environment" file), plus $extra.
sub start_bare
{
	my (%extra) = @_;
	my $logstart = -s $node->logfile // 0;
	local %ENV = %extra;
	system("$bindir/pg_ctl", '-w', '-D', $data, '-l', $node->logfile,
		'start') == 0
	  or die "pg_ctl start failed";
	$node->_update_pid(1);
	return $logstart;
}

# The environment the file at $path recorded, as a hash.
sub recorded
{
	my ($path) = @_;
	return map { /^([^=]*)=(.*)$/ ? ($1 => $2) : () } split /\n/,
	  slurp_file($path);
}

my $logstart = start_bare();
unlike(slurp_file("/proc/" . $node->{_pid} . "/environ"),
	qr/(?:^|\0)(?:HOME|PATH)=/, 'the server runs without HOME and PATH');

my $expected_dir = $node->basedir . '/protech_backup_pgdata';
is($node->safe_psql('postgres', 'SHOW protech_backup.directory'),
	$expected_dir,
	'SHOW protech_backup.directory: a folder beside the data directory named after it');
ok( $node->wait_for_log(
		qr/protech_backup: backups of database "app" are written to directory "\Q$expected_dir\E"/,
		$logstart),
	'the launcher logs the directory at start');

$node->safe_psql('postgres', 'CREATE DATABASE app');
$node->safe_psql('app', 'CREATE TABLE t AS SELECT 1 AS x');
$node->safe_psql('app', 'CREATE EXTENSION protech_backup');
is($node->safe_psql('app', 'SELECT directory FROM protech_backup_status()'),
	$expected_dir, 'status names the same directory');
my $file = backup_now($node);
ok(-f "$expected_dir/$file", 'the backup is written there');
is( $node->safe_psql('app',
		"SELECT post_backup_status FROM protech_backup_history ORDER BY run_id DESC LIMIT 1"
	),
	'succeeded',
	'the post-backup command ran');

is( $node->safe_psql('app',
		"SELECT restored FROM protech_backup_verify('$file', restore => true)"),
	't', 'psql restores it under the empty environment');

for my $kind ('pg_dump', 'post_backup')
{
	my %env = recorded("$record.$kind");
	is($env{HOME},    $home,                         "$kind: HOME from passwd");
	is($env{USER},    $user,                         "$kind: USER from passwd");
	is($env{LOGNAME}, $user,                         "$kind: LOGNAME from passwd");
	is($env{PATH},    '/usr/local/bin:/usr/bin:/bin', "$kind: the standard PATH");
}

# a variable the server has is passed on unchanged
$node->stop;
$logstart = start_bare(HOME => '/nonexistent-home', PATH => '/bin');
$node->safe_psql('app', 'SELECT protech_backup_now()');
my %env = recorded("$record.post_backup");
is($env{HOME}, '/nonexistent-home', "the server's own HOME is kept");
is($env{PATH}, '/bin',              "the server's own PATH is kept");
is($env{USER}, $user, 'USER is still filled in where the server lacks it');

$node->stop;
done_testing();
