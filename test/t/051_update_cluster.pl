# ALTER EXTENSION UPDATE to 1.1, then to 1.2, of an install of 1.0 that holds history and
# backups: this library serves the 1.0 protech_backup_info (12 columns)
# until the update, then the system_identifier and timeline columns, NULL
# for a manifest written by 1.0 (without them); the history is kept;
# protech_backup_status() (still granted to pg_monitor) and
# protech_backup_metrics() gain in_recovery; a
# backup of a 1.0 manifest counts as this cluster's for retention; a 1.1
# install serves protech_backup.databases through its old signatures, and
# 1.2 brings protech_backup_now(database), the database column of
# protech_backup_cleanup() and protech_backup_status(), one status row and
# one set of metrics per database.  The 1.1 form of
# protech_backup_restore() works until the update to 1.2, which brings its
# restore_globals, tables, schemas and jobs arguments and its notes column.
use strict;
use warnings;

use lib 'test/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use ProtechBackupTest;
use Test::More;

my $node = new_backup_node('update', no_extension => 1);
my $dir = $node->{protech_backup_dir};
$node->safe_psql('app', "CREATE EXTENSION protech_backup VERSION '1.0'");
$node->safe_psql('app',
	"CREATE TABLE t AS SELECT g AS x, repeat('x', 100) AS y FROM generate_series(1, 100) g"
);
my $sysid = $node->safe_psql('app',
	'SELECT system_identifier FROM pg_control_system()');

my $old = backup_now($node);
is( $node->safe_psql('app',
		"SELECT count(*) FROM pg_attribute WHERE attrelid = 'protech_backup_info'::regclass AND attnum > 0"
	),
	'12',
	'1.0: protech_backup_info has 12 columns');
is($node->safe_psql('app', 'SELECT count(*) FROM protech_backup_list()'),
	'1', '1.0: protech_backup_list() works with this library');

# the manifest as version 1.0 wrote it, without the cluster
my $manifest = slurp_file("$dir/$old.json");
ok($manifest =~ s/\n  "system_identifier": \d+,\n  "timeline": \d+,/\n/,
	'the manifest records the cluster');
open(my $fh, '>', "$dir/$old.json") or die "could not write $dir/$old.json: $!";
print $fh $manifest;
close($fh);
my $history = $node->safe_psql('app',
	'SELECT count(*) FROM protech_backup_history');

$node->safe_psql('app', "ALTER EXTENSION protech_backup UPDATE TO '1.1'");
is(extension_version($node), '1.1', 'updated to 1.1');
is($node->safe_psql('app', 'SELECT count(*) FROM protech_backup_history'),
	$history, 'the history is kept');
is( $node->safe_psql('app',
		"SELECT system_identifier IS NULL, timeline IS NULL FROM protech_backup_list() WHERE file_name = '$old'"
	),
	't|t',
	'a backup of a 1.0 manifest is listed, of no recorded cluster');

my $new = backup_now($node);
is(backup_cluster($node, $new),
	"$sysid|1",
	'a new backup records the cluster');
is(status_of($node, 'in_recovery, last_success_file'),
	"f|$new", 'protech_backup_status() has in_recovery');
is(metric_value($node, 'protech_backup_in_recovery'),
	'0', 'protech_backup_metrics() has protech_backup_in_recovery');
$node->safe_psql('app', 'CREATE ROLE watcher LOGIN IN ROLE pg_monitor');
is( $node->safe_psql('app', 'SELECT in_recovery FROM protech_backup_status()',
		extra_params => [ '-U', 'watcher' ]),
	'f',
	'protech_backup_status() is still granted to pg_monitor');

# a backup of no recorded cluster is this cluster's: retention deletes it
reload_and_wait($node, 'protech_backup.retention_count' => '1');
is( $node->safe_psql('app',
		"SELECT file_name, action FROM protech_backup_cleanup() ORDER BY file_name"),
	"$old|delete\n$new|keep",
	'retention counts the backup of a 1.0 manifest as this cluster\'s');

# 1.1's protech_backup_restore (two arguments, four columns) works with
# this library until the update
is( $node->safe_psql('app',
		"SELECT database, tables FROM protech_backup_restore('$new', 'restored_1_1')"),
	'restored_1_1|1',
	'1.1: protech_backup_restore() of two arguments returns its four columns');

# a 1.1 install with protech_backup.databases set: its signatures work
reload_and_wait($node, 'protech_backup.retention_count' => '30',
	'protech_backup.databases' => 'app, postgres');
is( $node->safe_psql('app',
		"SELECT string_agg(database, ',' ORDER BY database) FROM protech_backup_now()"),
	'app,postgres',
	'1.1: protech_backup_now() backs up every configured database');
is($node->safe_psql('app', 'SELECT count(*) FROM protech_backup_status()'),
	'1', '1.1: protech_backup_status() returns its one row');
reload_and_wait($node, 'protech_backup.databases' => '');

# and on to the default version, keeping the history and the backups
$node->safe_psql('app', 'ALTER EXTENSION protech_backup UPDATE');
is(extension_version($node), '1.2', 'updated to 1.2');
is($node->safe_psql('app', "SELECT count(*) FROM protech_backup_list() WHERE file_name = '$new'"),
	'1', '1.2: the backup is still listed');
is( $node->safe_psql('app',
		"SELECT database, tables, notes IS NULL FROM protech_backup_restore('$new', 'app_restored_1_2')"),
	'app_restored_1_2|1|t',
	'1.2: protech_backup_restore() has the notes column, NULL when nothing was left out');
is( $node->safe_psql('app',
		"SELECT pg_get_function_arguments('protech_backup_restore'::regproc)"),
	'file_name text, target_database name, restore_globals boolean DEFAULT false, tables text[] DEFAULT NULL::text[], schemas text[] DEFAULT NULL::text[], jobs integer DEFAULT 1',
	'1.2: protech_backup_restore() takes restore_globals, tables, schemas and jobs');
is( $node->safe_psql('app',
		"SELECT has_function_privilege('public', 'protech_backup_restore(text, name, boolean, text[], text[], integer)', 'EXECUTE')"),
	'f', '1.2: protech_backup_restore() is not granted to PUBLIC');
is( $node->safe_psql('app',
		"SELECT database, tables, array_length(notes, 1) > 0 FROM protech_backup_restore('$new', 'restored_1_2', restore_globals => true)"),
	'restored_1_2|1|t',
	'1.2: protech_backup_restore() returns notes (the roles that existed already)');

# 1.2: every database of the cluster
is($node->safe_psql('app', 'SELECT database FROM protech_backup_status()'),
	'app', '1.2: protech_backup_status() has the database column');
like( $node->safe_psql('app',
		"SELECT database || ' ' || file_name FROM protech_backup_now('app')"),
	qr/^app protech_backup_\d{8}_\d{6}\.sql$/,
	'1.2: protech_backup_now(database), with the original names by default');
is( $node->safe_psql('app',
		"SELECT string_agg(DISTINCT database, ',') FROM protech_backup_cleanup(true)"),
	'app,postgres', '1.2: protech_backup_cleanup() shows the database');
reload_and_wait($node, 'protech_backup.databases' => 'app, postgres');
is( $node->safe_psql('app',
		"SELECT string_agg(database, ',') FROM protech_backup_status()"),
	'app,postgres', '1.2: protech_backup_status() has a row per database');
is( $node->safe_psql('app',
		"SELECT string_agg(DISTINCT labels, ',') FROM protech_backup_metrics()"),
	'database="app",database="postgres"',
	'1.2: protech_backup_metrics() labels each database');
is( $node->safe_psql('app',
		"SELECT has_function_privilege('pg_monitor', 'protech_backup_status()', 'EXECUTE'), has_function_privilege('pg_monitor', 'protech_backup_now(name)', 'EXECUTE')"
	),
	't|f', '1.2: status is granted to pg_monitor, protech_backup_now(name) is not');

done_testing();
