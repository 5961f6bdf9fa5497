# protech_backup.expected_interval: with the built-in schedule off (pg_cron
# takes the backups), status still reports a backup older than 1.5 times
# the expected interval; and version 1.1, which brings it, is reached from
# 1.0 by ALTER EXTENSION ... UPDATE.
use strict;
use warnings;

use lib 'test/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use ProtechBackupTest;
use Test::More;

my $node = new_backup_node('expected_interval', no_extension => 1, fixture => 1);
$node->safe_psql('app', "CREATE EXTENSION protech_backup VERSION '1.0'");
$node->safe_psql('app', 'SELECT protech_backup_now()');
reload_and_wait($node, 'protech_backup.expected_interval' => '2s');

my $stale = q{SELECT EXISTS (SELECT FROM unnest((protech_backup_status()).problems) p
	WHERE p LIKE 'no successful backup since %')};
my $aged = q{SELECT max(started_at) < now() - interval '3 s' FROM protech_backup_list()};
# 1.0 knows only the schedule's period, which is none here
$node->poll_query_until('app', $aged) or die 'the backup did not age';
is($node->safe_psql('app', $stale), 'f', 'version 1.0: no staleness without a schedule');

$node->safe_psql('app', "ALTER EXTENSION protech_backup UPDATE TO '1.1'");
is($node->safe_psql('app',
		"SELECT extversion FROM pg_extension WHERE extname = 'protech_backup'"),
	'1.1', 'ALTER EXTENSION UPDATE TO 1.1 reaches 1.1');
is($node->safe_psql('app', $stale), 't', 'version 1.1: the backup is stale');
like(
	$node->safe_psql('app', 'SELECT array_to_string(problems, chr(10)) FROM protech_backup_status()'),
	qr/no successful backup since .* \(protech_backup.expected_interval expects one every 00:00:02\)/,
	'and the problem names the setting');

$node->safe_psql('app', 'SELECT protech_backup_now()');
is($node->safe_psql('app', $stale), 'f', 'a new backup is not stale');
is($node->safe_psql('app', 'SELECT array_to_string(problems, chr(10)) FROM protech_backup_status()'),
	'', 'and status has no problem');

reload_and_wait($node, 'protech_backup.expected_interval' => '0');
$node->poll_query_until('app', $aged) or die 'the backup did not age';
is($node->safe_psql('app', $stale), 'f', '0 turns the check off without a schedule');

# a fresh CREATE EXTENSION installs the default version (1.0 and the
# upgrade scripts)
$node->safe_psql('app', 'DROP EXTENSION protech_backup');
$node->safe_psql('app', 'CREATE EXTENSION protech_backup');
is($node->safe_psql('app',
		"SELECT extversion FROM pg_extension WHERE extname = 'protech_backup'"),
	'1.2', 'CREATE EXTENSION installs 1.2');

$node->stop;
done_testing();
