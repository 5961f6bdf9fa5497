# pg_cron as an alternative scheduler: a cron job running
# SELECT protech_backup_now() produces backups and history rows (trigger
# 'manual', since the backup cannot tell who called it).
use strict;
use warnings;

use lib 'test/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use ProtechBackupTest;
use Test::More;

my $node = new_backup_node(
	'pg_cron',
	preload => 'pg_cron,protech_backup',
	conf => "cron.database_name = 'app'\ncron.use_background_workers = on\n"
	  . "max_worker_processes = 16\n");
$node->safe_psql('app', 'CREATE EXTENSION pg_cron');
$node->safe_psql('app',
	"SELECT cron.schedule('protech-nightly', '* * * * *', 'SELECT protech_backup_now()')"
);

ok( $node->poll_query_until('app',
		"SELECT count(*) >= 1 FROM cron.job_run_details WHERE status = 'succeeded'"
	),
	'the pg_cron job ran and succeeded');
is( $node->safe_psql('app',
		"SELECT count(*) >= 1 FROM protech_backup_history WHERE trigger = 'manual' AND status = 'succeeded'"
	),
	't',
	'the run is in the history');
is( $node->safe_psql('app',
		"SELECT count(*) >= 1 FROM protech_backup_list() WHERE trigger = 'manual'"),
	't', 'and its backup is listed');
$node->safe_psql('app', "SELECT cron.unschedule('protech-nightly')");

done_testing();
