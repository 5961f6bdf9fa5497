# Every database of the cluster (protech_backup.databases): the check hook;
# the single-database default keeps its names; a list backs up each
# database in turn with manifests of its own database (owner, encoding) and
# the globals dumped once; odd names (spaces, quotes, a slash, non-ASCII)
# get file names that tell them apart; a missing database fails alone;
# protech_backup_now(database) and its refusals; verify with restore of
# another database's backup; retention per database (33 backups of each
# of two); cleanup, status and metrics per database; '*' picks up a
# database created between two slots; a slot still running when the next
# falls records the late databases 'skipped'.
use strict;
use warnings;

use lib 'test/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use ProtechBackupTest;
use Test::More;
use Time::HiRes qw(time);

my $node = new_backup_node('many_databases',
	conf => "protech_backup.min_free_space = 0\n");
my $dir = $node->{protech_backup_dir};
$node->safe_psql('app', 'CREATE TABLE t AS SELECT 1 AS x');

# 1. The default: protech_backup.database alone, with the original names.
like(backup_now($node), qr/^protech_backup_\d{8}_\d{6}\.sql$/,
	'an empty protech_backup.databases keeps the original file names');
is($node->safe_psql('app', 'SELECT protech_backup_databases()'),
	'app', 'an empty protech_backup.databases means protech_backup.database');
is($node->safe_psql('app', 'SELECT database FROM protech_backup_status()'),
	'app', 'status has one row, of protech_backup.database');

# 2. The check hook refuses what is not a list of names, before any reload.
for my $bad ('app, app', '*, app', 'app,,sales', '"unfinished')
{
	my ($ret, $out, $err) = $node->psql('app',
		"ALTER SYSTEM SET protech_backup.databases = '$bad'");
	like($err, qr/invalid value for parameter "protech_backup.databases"/,
		"protech_backup.databases = '$bad' is refused");
}

# 3. A list with odd names, a database of another owner and encoding, and a
# database that does not exist.
# bytes, as psql sends and prints them (UTF-8)
my $cafe = "caf\xc3\xa9";
my @odd = ('my db', q{it's "q"}, 'a/b', $cafe);
my %tag = (
	'my db' => 'my%20db',
	q{it's "q"} => 'it%27s%20%22q%22',
	'a/b' => 'a%2Fb',
	$cafe => 'caf%C3%A9');
$node->safe_psql('postgres',
	"CREATE ROLE sales_owner; CREATE DATABASE sales OWNER sales_owner ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
);
$node->safe_psql('sales',
	'CREATE TABLE orders AS SELECT g AS id FROM generate_series(1, 42) g; CREATE EXTENSION pg_trgm'
);
for my $name (@odd)
{
	(my $ident = $name) =~ s/"/""/g;
	$node->safe_psql('postgres', qq{CREATE DATABASE "$ident"});
}
my $list = join(', ', 'app', 'sales',
	(map { (my $i = $_) =~ s/"/""/g; qq{"$i"} } @odd), 'missing');
# each database's own settings, for its own database-level properties file
$node->safe_psql('postgres',
	"ALTER DATABASE app SET work_mem = '5MB'; ALTER DATABASE sales SET work_mem = '3MB'; COMMENT ON DATABASE sales IS 'the sales database'"
);
reload_and_wait($node, 'protech_backup.databases' => $list);
is( $node->safe_psql('app',
		"SELECT string_agg(d, '|') FROM protech_backup_databases() d"),
	join('|', 'app', 'sales', @odd, 'missing'),
	'protech_backup_databases() lists them in their order');

my ($ret, $out, $err) = $node->psql('app',
	"\\set VERBOSITY verbose\nSELECT database FROM protech_backup_now()");
isnt($ret, 0, 'protech_backup_now() fails when a listed database is missing');
like($err, qr/ERROR:  3D000: database "missing" does not exist/,
	'the error names the missing database');
like($err, qr/protech_backup\.databases lists it/,
	'the error says where it is listed');
is( $node->safe_psql('app',
		"SELECT string_agg(database || ':' || status, ',' ORDER BY run_id) FROM protech_backup_history WHERE run_id > 1"
	),
	join(',', (map { "$_:succeeded" } 'app', 'sales', @odd), 'missing:failed'),
	'one history row per database: the missing one failed alone');

my %by_db = map { split /\|/, $_, 2 } split /\n/,
  $node->safe_psql('app',
	"SELECT database, file_name FROM protech_backup_list() WHERE file_name NOT LIKE 'protech\\_backup\\_2%'");
is(scalar(keys %by_db), 6, 'a backup of each database that exists');
like($by_db{app}, qr/^protech_backup_app_\d{8}_\d{6}\.sql$/,
	'with a list, even the home database has its tag');
like($by_db{sales}, qr/^protech_backup_sales_\d{8}_\d{6}\.sql$/,
	'a plain name is its own tag');
for my $name (@odd)
{
	like($by_db{$name}, qr/^protech_backup_\Q$tag{$name}\E_\d{8}_\d{6}\.sql$/,
		"database \"$name\" is tagged $tag{$name}");
}

# the manifest describes the database backed up, not the home database
my $manifest = slurp_file("$dir/$by_db{sales}.json");
like($manifest, qr/"database_owner": "sales_owner"/,
	'the manifest records the owner of the database backed up');
like($manifest, qr/"encoding": "SQL_ASCII"/,
	'the manifest records the encoding of the database backed up');
like($manifest, qr/"pg_trgm"/,
	'the manifest records the extensions of the database backed up');

# the globals were dumped once: every backup of the call links that file
my @inodes = map { (stat("$dir/$_.globals.sql"))[1] } values %by_db;
is(scalar(keys %{ { map { $_ => 1 } @inodes } }), 1,
	'the globals are dumped once per run, each backup holding a link');

# but each backup has the database-level properties of its own database,
# a file of its own
my %properties =
  map { $_ => slurp_file("$dir/$by_db{$_}.database.sql") } keys %by_db;
like($manifest, qr/"database_properties_file": "\Q$by_db{sales}\E\.database\.sql"/,
	'the manifest of another database records its properties file');
like($properties{sales}, qr/^ALTER DATABASE :"target" SET work_mem TO '3MB';$/m,
	'the properties of another database name its own settings');
like($properties{sales}, qr/^COMMENT ON DATABASE :"target" IS 'the sales database';$/m,
	'and its own comment');
like($properties{sales}, qr/^ALTER DATABASE :"target" OWNER TO sales_owner;$/m,
	'and its own owner');
like($properties{app}, qr/^ALTER DATABASE :"target" SET work_mem TO '5MB';$/m,
	'the home database\'s properties name its own settings');
unlike($properties{app}, qr/3MB|the sales database|sales_owner/,
	'and nothing of another database');
my @property_inodes =
  map { (stat("$dir/$_.database.sql"))[1] } values %by_db;
is(scalar(keys %{ { map { $_ => 1 } @property_inodes } }), 6,
	'the properties files are never linked across the databases of a run');

is( $node->safe_psql('app',
		"SELECT restored, tables, rows, detail FROM protech_backup_verify('$by_db{sales}', true)"
	),
	't|1|42|', 'a backup of another database verifies with a restore');
is( $node->safe_psql('app',
		"SELECT database, tables FROM protech_backup_restore('$by_db{sales}', 'sales_copy')"
	),
	'sales_copy|1', 'a backup of another database restores');
is( $node->safe_psql('sales_copy',
		"SELECT count(*), pg_encoding_to_char((SELECT encoding FROM pg_database WHERE datname = 'sales_copy')) FROM orders"
	),
	'42|SQL_ASCII', 'with its rows and its encoding');
is( $node->safe_psql('postgres',
		"SELECT s.setconfig, shobj_description(d.oid, 'pg_database'), pg_get_userbyid(d.datdba) FROM pg_database d JOIN pg_db_role_setting s ON s.setdatabase = d.oid AND s.setrole = 0 WHERE d.datname = 'sales_copy'"
	),
	'{work_mem=3MB}|the sales database|sales_owner',
	'and with the database-level properties of its own database');

is( $node->safe_psql('app',
		"SELECT protech_backup_read_size('$by_db{'my db'}') = size_bytes AND length(protech_backup_read('$by_db{'my db'}', 0, 15)) = 15 FROM protech_backup_list() WHERE database = 'my db'"
	),
	't', 'a backup of another database is read like any other');

# 4. protech_backup_now(database).
is( $node->safe_psql('app',
		"SELECT database || ':' || (file_name LIKE 'protech\\_backup\\_a%2Fb\\_%') FROM protech_backup_now('a/b')"
	),
	'a/b:true', 'protech_backup_now(database) backs up that database alone');
for my $refused ('postgres', 'nonexistent')
{
	($ret, $out, $err) = $node->psql('app',
		"\\set VERBOSITY verbose\nSELECT protech_backup_now('$refused')");
	like($err, qr/ERROR:  22023: argument "database" names "$refused", a database that is not backed up/,
		"protech_backup_now('$refused') is refused");
}
($ret, $out, $err) = $node->psql('app',
	"\\set VERBOSITY verbose\nSELECT protech_backup_now(NULL)");
like($err, qr/ERROR:  22023: argument "database" must not be null/,
	'protech_backup_now(NULL) is refused');

# 5. Status and metrics: one row per configured database.
reload_and_wait($node, 'protech_backup.expected_interval' => '1h');
is( $node->safe_psql('app',
		"SELECT string_agg(database, ',') FROM protech_backup_status()"),
	join(',', 'app', 'sales', @odd, 'missing'),
	'status: one row per database, in their order');
my $problems = $node->safe_psql('app',
	"SELECT array_to_string(problems, ';') FROM protech_backup_status() WHERE database = 'missing'");
like($problems, qr/no successful backup since the extension was installed/,
	'a database never backed up is stale on its own row');
like($problems, qr/last backup failed: database "missing" does not exist/,
	'its failure is on its own row');
unlike( $node->safe_psql('app',
		"SELECT array_to_string(problems, ';') FROM protech_backup_status() WHERE database = 'sales'"),
	qr/missing|no successful/, 'another database\'s row does not carry them');
is( $node->safe_psql('app',
		"SELECT count(*) FILTER (WHERE position(last_success_file IN p) > 0), count(*) FROM protech_backup_status(), unnest(problems) p WHERE p LIKE 'size anomaly:%' AND database IN ('my db', 'a/b')"
	),
	'2|2', 'each row judges the size of its own database\'s newest backup');
is( $node->safe_psql('app',
		"SELECT count(DISTINCT (directory, worker_pid, enabled)) FROM protech_backup_status()"
	),
	'1', 'what concerns the whole cluster is the same on every row');
is( $node->safe_psql('app',
		"SELECT string_agg(l, ',' ORDER BY l) FROM (SELECT DISTINCT labels COLLATE \"C\" AS l FROM protech_backup_metrics() WHERE name = 'protech_backup_backups_total') m"
	),
	join(',', sort map { qq{database="$_"} } 'app', 'sales', 'a/b',
		$cafe, q{it's \"q\"}, 'missing', 'my db'),
	'metrics: every series labelled with its database');
is( $node->safe_psql('app',
		"SELECT value FROM protech_backup_metrics() WHERE name = 'protech_backup_failures_total' AND labels = 'database=\"missing\"'"
	),
	'1', 'failures are counted per database');

# 6. Retention per database: 33 backups of each of two databases keep the
# newest 30 of each, and never touch the backups of the others.
reload_and_wait($node, 'protech_backup.databases' => 'app, sales',
	'protech_backup.retention_count' => '30');
$node->safe_psql('app', 'SELECT count(*) FROM protech_backup_now()')
  for 1 .. 33;
is( $node->safe_psql('app',
		"SELECT string_agg(database || ':' || n, ',' ORDER BY database) FROM (SELECT database, count(*) AS n FROM protech_backup_list() GROUP BY database) c"
	),
	join(',', 'a/b:2', 'app:30', "$cafe:1", q{it's "q":1}, 'my db:1',
		'sales:30'),
	'retention keeps the newest 30 of each database, the others untouched');
is( $node->safe_psql('app',
		"SELECT count(*) FILTER (WHERE action = 'keep'), count(DISTINCT database) FROM protech_backup_cleanup(true)"
	),
	'65|6', 'cleanup shows the database of every row');

# 7. '*': every database that accepts connections, a new one at the next
# slot; a slot still running when the next falls skips the late databases.
$node->safe_psql('postgres', 'CREATE DATABASE "template_like" IS_TEMPLATE true');
reload_and_wait($node, 'protech_backup.databases' => '*',
	'protech_backup.schedule' => '* * * * *');
my $before = $node->safe_psql('app', 'SELECT max(run_id) FROM protech_backup_history');
my @all = ('a/b', 'app', $cafe, q{it's "q"}, 'my db', 'postgres',
	'sales', 'sales_copy');
ok( $node->poll_query_until('app',
		"SELECT count(DISTINCT database) = 8 FROM protech_backup_history WHERE run_id > $before AND trigger = 'schedule' AND status = 'succeeded'"
	),
	'a slot backs up every database that accepts connections');
is( $node->safe_psql('app',
		"SELECT string_agg(DISTINCT database, '|') FROM protech_backup_history WHERE run_id > $before"
	),
	join('|', sort @all), 'templates are left out');
$node->safe_psql('postgres', 'CREATE DATABASE late');
$before = $node->safe_psql('app', 'SELECT max(run_id) FROM protech_backup_history');
ok( $node->poll_query_until('app',
		"SELECT count(*) = 1 FROM protech_backup_history WHERE run_id > $before AND database = 'late' AND status = 'succeeded'"
	),
	'a database created between two slots is backed up at the next');

# the first database of the slot waits for a lock past the next slot
$node->safe_psql('a/b', 'CREATE TABLE t_locked AS SELECT 1 AS x');
my $locker = lock_table($node, 'a/b', 't_locked');
$before = $node->safe_psql('app', 'SELECT max(run_id) FROM protech_backup_history');
ok( $node->poll_query_until('app',
		"SELECT count(*) = 1 FROM protech_backup_history WHERE run_id > $before AND database = 'a/b' AND status = 'running'"
	),
	'the slot waits for the lock in its first database');
my $waiting = $node->safe_psql('app',
	"SELECT run_id FROM protech_backup_history WHERE run_id > $before AND database = 'a/b'");
my $next_minute = $node->safe_psql('app',
	"SELECT extract(epoch FROM date_trunc('minute', started_at) + interval '1 minute') FROM protech_backup_history WHERE run_id = $waiting");
wait_until(sub { time > $next_minute + 1 }, 'the next slot to fall');
$locker->quit;
ok( $node->poll_query_until('app',
		"SELECT count(*) = 8 FROM protech_backup_history WHERE run_id > $waiting AND status = 'skipped' AND message LIKE 'the next scheduled backup was due at %'"
	),
	'the late databases of the slot are recorded skipped');
ok( $node->poll_query_until('app',
		"SELECT count(*) = 9 FROM protech_backup_history h WHERE run_id > $waiting AND status = 'succeeded'"
	),
	'the next slot backs them up');
reload_and_wait($node, 'protech_backup.schedule' => '');

done_testing();
