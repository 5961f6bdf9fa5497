# Cluster globals: every backup saves the roles and tablespaces
# (pg_dumpall --globals-only) beside the dump, recorded in the manifest,
# checked by the listing; on a fresh cluster the dump alone fails on its
# missing roles, and restoring the globals first (the README's runbook)
# makes it restore cleanly.  A role that cannot read pg_authid dumps roles
# without passwords.
use strict;
use warnings;

use lib 'test/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use ProtechBackupTest;
use Test::More;

my $node = new_backup_node('globals');
my $dir = $node->{protech_backup_dir};
$node->safe_psql('postgres',
	"CREATE ROLE app_owner; CREATE ROLE app_reader LOGIN PASSWORD 'reader secret'");
$node->safe_psql('app',
	'CREATE TABLE owned (id int); INSERT INTO owned SELECT generate_series(1, 100); '
	  . 'ALTER TABLE owned OWNER TO app_owner; GRANT SELECT ON owned TO app_reader');

my $file = backup_now($node);
my $globals = "$dir/$file.globals.sql";
ok(-f $globals, 'the globals are saved beside the dump');
my $sql = slurp_file($globals);
like($sql, qr/^CREATE ROLE app_owner;$/m, 'they hold the roles');
like($sql, qr/^ALTER ROLE app_reader .*PASSWORD 'SCRAM-SHA-256/m,
	'with their passwords when the role can read pg_authid');
my $manifest = slurp_file("$dir/$file.json");
like($manifest, qr/"globals_file": "\Q$file\E\.globals\.sql"/,
	'the manifest names the globals file');
like($manifest, qr/"globals_sha256": "${\ sha256_of($globals)}"/,
	'and records its SHA-256');
like($manifest, qr/"globals_size_bytes": ${\ -s $globals}/,
	'and its size');

# A backup whose globals file is gone is not a complete backup.
rename($globals, "$globals.away") or die;
is($node->safe_psql('app', 'SELECT count(*) FROM protech_backup_list()'),
	'0', 'a backup without its globals file is not listed');
rename("$globals.away", $globals) or die;
is($node->safe_psql('app', 'SELECT count(*) FROM protech_backup_list()'),
	'1', 'and is listed again with it');

# A fresh cluster, as after losing the server.
my $fresh = PostgreSQL::Test::Cluster->new('fresh');
$fresh->init;
$fresh->start;
sub restore_dump
{
	$fresh->safe_psql('postgres',
		'DROP DATABASE IF EXISTS app_restored; CREATE DATABASE app_restored');
	return run_command(
		[
			'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1',
			'-d', $fresh->connstr('app_restored'),
			'-f', "$dir/$file"
		]);
}
my ($out, $err) = restore_dump();
like($err, qr/role "app_owner" does not exist/,
	'without the globals, the dump fails on its missing roles');

# The runbook: globals first (an error for the role that exists already is
# expected), then the dump.
$fresh->command_ok(
	[ 'psql', '-X', '-q', '-d', $fresh->connstr('postgres'), '-f', $globals ],
	'the globals restore');
($out, $err) = restore_dump();
is($err, '', 'after the globals, the dump restores without an error');
is( $fresh->safe_psql('app_restored',
		"SELECT tableowner || ':' || (SELECT count(*) FROM owned) FROM pg_tables WHERE tablename = 'owned'"
	),
	'app_owner:100',
	'with its owner and rows');
ok( $fresh->safe_psql('app_restored',
		"SELECT has_table_privilege('app_reader', 'owned', 'SELECT')"),
	'and its grants');
$fresh->stop;

# A backup role that is not a superuser cannot read pg_authid: roles are
# dumped without their passwords.
$node->safe_psql('postgres',
	'CREATE ROLE backup_role LOGIN IN ROLE pg_read_all_data');
reload_and_wait($node, 'protech_backup.role' => 'backup_role');
$file = backup_now($node);
$sql = slurp_file("$dir/$file.globals.sql");
like($sql, qr/^CREATE ROLE app_reader;$/m,
	'a non-superuser backup role still saves the roles');
unlike($sql, qr/PASSWORD/, 'without their passwords');

done_testing();
