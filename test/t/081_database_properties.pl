# Database-level properties (what pg_dump writes only with --create): every
# backup saves them in "<name>.database.sql", a psql script listed in the
# manifest with its size and SHA-256, checked by verify and by the listing,
# deleted with its backup by retention; protech_backup_restore() gives them
# to the new database under its new name, and stock psql applies the same
# file by hand.
use strict;
use warnings;

use lib 'test/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use ProtechBackupTest;
use Test::More;

my $node = new_backup_node('dbprops',
	conf => "protech_backup.format = 'custom'\nprotech_backup.retention_count = 2\n");
my $dir = $node->{protech_backup_dir};
$node->safe_psql('postgres', q{
	CREATE ROLE "app Owner" LOGIN;
	CREATE ROLE refused LOGIN;
	CREATE ROLE granted LOGIN;
	ALTER DATABASE app OWNER TO "app Owner";
	COMMENT ON DATABASE app IS E'the app''s data \\\\ line one\nline two :"target"';
	REVOKE CONNECT, TEMPORARY ON DATABASE app FROM PUBLIC;
	GRANT CONNECT ON DATABASE app TO granted WITH GRANT OPTION;
	GRANT CREATE ON DATABASE app TO granted;
	ALTER DATABASE app CONNECTION LIMIT 50;
	ALTER DATABASE app SET work_mem = '7MB';
	ALTER DATABASE app SET search_path = "$user", public, "we""ird, one";
	ALTER ROLE granted IN DATABASE app SET statement_timeout = '42s';
});
$node->safe_psql('app', 'CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1), (2)');

my $source = database_properties_of($node, 'app');

my $file = backup_now($node);
my $props = "$dir/$file.database.sql";
ok(-f $props, 'the database-level properties are saved beside the dump');
is(sprintf('%04o', (stat($props))[2] & 07777), '0600', 'mode 0600');
my $sql = slurp_file($props);
like($sql, qr/^ALTER DATABASE :"target" OWNER TO "app Owner";$/m, 'they hold the owner');
like($sql, qr/^REVOKE ALL ON DATABASE :"target" FROM PUBLIC;$/m, 'the ACL');
like($sql, qr/^ALTER ROLE granted IN DATABASE :"target" SET statement_timeout TO '42s';$/m,
	'the settings of a role in the database');
unlike($sql, qr/DATABASE app\b/, 'and never the database\'s own name');
my $manifest = slurp_file("$dir/$file.json");
like($manifest, qr/"database_properties_file": "\Q$file\E\.database\.sql"/,
	'the manifest names the file');
like($manifest, qr/"database_properties_sha256": "${\ sha256_of($props)}"/,
	'and records its SHA-256');
like($manifest, qr/"database_properties_size_bytes": ${\ -s $props}/, 'and its size');

is($node->safe_psql('app', "SELECT checksum_ok FROM protech_backup_verify('$file')"), 't',
	'verify passes');
my $saved = slurp_file($props);
flip_byte($props, 10);
like($node->safe_psql('app', "SELECT checksum_ok || ' ' || coalesce(detail, '') FROM protech_backup_verify('$file')"),
	qr/^false .*\Q$file.database.sql\E" has SHA-256/, 'verify finds a changed properties file');
flip_byte($props, 10);
rename($props, "$props.away") or die;
is($node->safe_psql('app', 'SELECT count(*) FROM protech_backup_list()'),
	'0', 'a backup without its properties file is not listed');
rename("$props.away", $props) or die;

# protech_backup_restore gives them to the new database under its name
my ($ret, $out, $err);
my $target = 'app "restored"';
($ret, $out, $err) = $node->psql('app', qq{SELECT * FROM protech_backup_restore('$file', 'app "restored"')});
is($ret, 0, 'restore succeeds') or diag($err);
is(database_properties_of($node, $target), $source,
	'restore: owner, comment, ACL, connection limit and settings as the source has them');
($ret, $out, $err) = $node->psql($target, 'SELECT 1', extra_params => [ '-U', 'refused' ]);
isnt($ret, 0, 'restore: a role refused on the source is refused on the restored database');
like($err, qr/permission denied for database/, 'restore: for want of CONNECT');
is($node->safe_psql($target, 'SHOW statement_timeout', extra_params => [ '-U', 'granted' ]),
	'42s', 'restore: a role\'s setting in the database applies');

# by hand, with stock psql, to a database of any name
$node->safe_psql('postgres', 'CREATE DATABASE by_hand');
command_ok(
	[ 'psql', '-X', '-q', '-h', $node->host, '-p', $node->port, '-d', 'postgres',
		'-v', 'target=by_hand', '-f', $props ],
	'psql -v target=NAME -f FILE applies them');
is(database_properties_of($node, 'by_hand'), $source, 'by hand: the same properties');
command_fails_like(
	[ 'psql', '-X', '-q', '-h', $node->host, '-p', $node->port, '-d', 'postgres', '-f', $props ],
	qr/the psql variable target is not set/, 'without target the script stops, saying why');

# Template and connection properties come back too (last, so nothing
# after them is refused); on a template, ALLOW_CONNECTIONS false.
$node->safe_psql('postgres', q{ALTER DATABASE app IS_TEMPLATE true});
my $template_file = backup_now($node);
like(slurp_file("$dir/$template_file.database.sql"),
	qr/^ALTER DATABASE :"target" IS_TEMPLATE true;\n\z/m, 'IS_TEMPLATE comes last');
$node->safe_psql('app', qq{SELECT * FROM protech_backup_restore('$template_file', 'app_template')});
is($node->safe_psql('postgres', "SELECT datistemplate FROM pg_database WHERE datname = 'app_template'"),
	't', 'restore: IS_TEMPLATE');
$node->safe_psql('postgres', q{ALTER DATABASE app IS_TEMPLATE false});

# retention deletes the properties file with its backup
backup_now($node);
ok(!-e "$dir/$file" && !-e $props, 'retention deletes the properties file with its backup');

# a backup of 1.1 has no properties file: it restores as before
my $old = backup_now($node);
my $old_manifest = slurp_file("$dir/$old.json");
$old_manifest =~ s/,\n  "database_properties_(file|size_bytes|sha256)": [^,\n]+//g or die;
open(my $fh, '>', "$dir/$old.json") or die;
print $fh $old_manifest;
close($fh);
unlink("$dir/$old.database.sql");
is($node->safe_psql('app', "SELECT count(*) FROM protech_backup_list() WHERE file_name = '$old'"),
	'1', 'a manifest without a properties file is listed');
is($node->safe_psql('app', "SELECT tables, notes FROM protech_backup_restore('$old', 'app_from_old')"),
	'1|{"database-level properties: not recorded by this backup (taken before version 1.2), left as CREATE DATABASE made them"}',
	'and restores, without them, the notes say so');

done_testing();
