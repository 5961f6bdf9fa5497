# CREATE and DROP EXTENSION while the server runs, as the README's install
# and uninstall sections do them:
# - right after CREATE EXTENSION, protech_backup_status() knows the next run
#   and the scheduler's pid (the scheduler computes it while it waits);
# - DROP EXTENSION is noticed by the scheduler within a few seconds: it goes
#   back to waiting for the extension, logging it as before CREATE
#   EXTENSION, and a new CREATE EXTENSION makes it schedule again.
use strict;
use warnings;

use lib 'test/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use ProtechBackupTest;
use Test::More;
use Time::HiRes qw(time);

my $node = new_backup_node('lifecycle',
	no_extension => 1,
	conf => "protech_backup.schedule = '0 0 1 1 *'\n");
my $missing = qr/extension "protech_backup" is not installed in database "app"/;
ok($node->wait_for_log($missing), 'the scheduler waits for the extension');

for my $round (1, 2)
{
	my $offset = -s $node->logfile;
	$node->safe_psql('app', 'CREATE EXTENSION protech_backup');
	is( $node->safe_psql('app',
			'SELECT next_run_at IS NOT NULL, worker_pid IS NOT NULL FROM protech_backup_status()'
		),
		't|t',
		"round $round: next_run_at and the scheduler are known as soon as the extension exists");
	ok($node->wait_for_log(qr/extension found in database "app", scheduling backups/, $offset),
		"round $round: the scheduler notices the extension");
	ok( $node->wait_for_log(qr/next backup of database "app" at \d{4}-01-01 00:00:00/, $offset),
		"round $round: and announces the next run");

	$offset = -s $node->logfile;
	my $dropped = time;
	$node->safe_psql('app', 'DROP EXTENSION protech_backup');
	ok($node->wait_for_log($missing, $offset),
		"round $round: after DROP EXTENSION the scheduler waits for it again");
	cmp_ok(time - $dropped, '<', 10, "round $round: within a few seconds");
}

$node->safe_psql('app', 'CREATE EXTENSION protech_backup');
is($node->safe_psql('app', 'SELECT count(*) FROM protech_backup_now()'),
	'1', 'and backups work again');

$node->stop;
done_testing();
