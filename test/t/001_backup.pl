# The manual backup path end to end: a backup of a database with many kinds
# of objects is durable, described by its manifest, listed, and restores
# with psql into an equal database (the README's restore runbook).
use strict;
use warnings;

use lib 'test/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use ProtechBackupTest;
use Test::More;

my $node = new_backup_node('backup', fixture => 1);
my $dir = $node->{protech_backup_dir};

# the directory does not exist before the first backup
ok(!-e $dir, 'no backup directory before the first backup');
is($node->safe_psql('app', 'SELECT count(*) FROM protech_backup_list()'),
	'0', 'nothing listed before the first backup');

my ($file, $size, $sha, $database, $trigger) = split /\|/,
  $node->safe_psql('app',
	'SELECT file_name, size_bytes, sha256, database, trigger FROM protech_backup_now()');
like($file, qr/^protech_backup_\d{8}_\d{6}\.sql$/, 'file name as the original system named it');
is($database, 'app', 'backs up protech_backup.database');
is($trigger, 'manual', 'trigger is manual');

# what is on disk: the dump and its manifest, private to the server's user
is_deeply(
	[ backup_files($node) ],
	[ $file, "$file.database.sql", "$file.globals.sql", "$file.json" ],
	'the dump, its database-level properties, the cluster globals and the manifest, nothing else');
is((stat($dir))[2] & 07777, 0700, 'directory mode 0700');
is((stat("$dir/$file"))[2] & 07777, 0600, 'dump mode 0600');
is((stat("$dir/$file.json"))[2] & 07777, 0600, 'manifest mode 0600');
is((stat("$dir/$file.globals.sql"))[2] & 07777, 0600, 'globals mode 0600');
is((stat("$dir/$file.database.sql"))[2] & 07777, 0600, 'database-level properties mode 0600');
is(-s "$dir/$file", $size, 'size_bytes is the size of the file');
is(sha256_of("$dir/$file"), $sha, 'sha256 is the hash of the file as stored');

my $manifest = slurp_file("$dir/$file.json");
like($manifest, qr/"sha256": "$sha"/, 'manifest records the hash');
like($manifest, qr/"pg_dump_version": "pg_dump \(PostgreSQL\) 15/,
	'manifest records the pg_dump version');
like($manifest, qr/"server_version": "15/, 'manifest records the server version');

is($node->safe_psql('app', 'SELECT file_name, sha256 FROM protech_backup_list()'),
	"$file|$sha", 'the list shows the backup');

# The README's restore runbook: a new database, psql with ON_ERROR_STOP.
psql_restore($node, 'app_restored', "$dir/$file",
	'psql restores the backup without error');

is(schema_of($node, 'app_restored'), schema_of($node, 'app'),
	'restored schema equals the source schema');

my $src_contents = contents($node, 'app');
like($src_contents->{'sales.orders_2026'}, qr/^645\|/, 'content check covers the partitions');
like($src_contents->{'empty_table'}, qr/^0\|/, 'content check covers the empty table');
is($src_contents->{'sales.invoice_no'}, '1028|t', 'content check covers sequences');
is_deeply(contents($node, 'app_restored'), $src_contents,
	'restored rows and sequences equal the source');

done_testing();
