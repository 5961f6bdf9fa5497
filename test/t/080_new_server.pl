# A new server in one call: the README's runbook, run literally (its
# recipes, with this test's host, port and backup file for theirs), on a
# fresh cluster that has no role but the bootstrap one and holds nothing
# but copies of a backup's four files: the new-server postgresql.conf lines,
# a restart, then protech_backup_restore(..., restore_globals => true)
# (roles and tablespaces first, the existing bootstrap role left as it is
# and named in notes, then the database) and only then a verify with
# restore.  The result is compared with the source: schema, rows,
# sequences and the database-level properties.  Then the swap recipe
# works when no old database exists, and jobs => 2 restores a compressed
# custom backup in parallel through a temporary file the server removes.
use strict;
use warnings;

use lib 'test/lib';
use File::Copy;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use ProtechBackupTest;
use Test::More;

# The text of the recipe NAME of README.md or doc/*.md, its indentation
# removed, for node $node (host and port) and backup $file (F).
sub recipe
{
	my ($name, $node, $file) = @_;
	my @lines = map { split /\n/, slurp_file($_) } 'README.md', glob('doc/*.md');
	for my $i (0 .. $#lines)
	{
		next unless $lines[$i] =~ /^\s*<!-- recipe: \Q$name\E -->\s*$/;
		my ($indent) = $lines[ $i + 1 ] =~ /^(\s*)```/ or die "recipe $name: no fenced block";
		my $text = '';
		for my $line (@lines[ $i + 2 .. $#lines ])
		{
			last if $line =~ /^\s*```\s*$/;
			$text .= substr($line, length($indent)) . "\n";
		}
		my ($host, $port) = ($node->host, $node->port);
		$text =~ s{/var/run/postgresql}{$host}g;
		$text =~ s/\b5432\b/$port/g;
		$text =~ s/\bF\b/$file/g if defined $file;
		return $text;
	}
	die "no recipe $name in README.md or doc/*.md";
}

# run shell text; returns (exit status, output)
sub run_sh
{
	my ($text) = @_;
	my ($stdout, $stderr);
	IPC::Run::run([ 'bash', '-euo', 'pipefail', '-c', $text ], '>', \$stdout, '2>', \$stderr);
	return ($? >> 8, ($stdout // '') . ($stderr // ''));
}

# the roles of a cluster, with their attributes and memberships
sub roles_of
{
	my ($node) = @_;
	return $node->safe_psql('postgres', q{
		SELECT string_agg(r.rolname || ' ' || r.rolcanlogin || ' ' || r.rolcreatedb || ' '
			|| coalesce((SELECT string_agg(g.rolname, ',' ORDER BY g.rolname)
				FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
				WHERE m.member = r.oid), ''), E'\n' ORDER BY r.rolname)
		FROM pg_roles r WHERE r.rolname !~ '^pg_'});
}

my $source = new_backup_node('dr_source', fixture => 1,
	conf => "protech_backup.format = 'custom'\nprotech_backup.compression = 'zstd'\n");
$source->safe_psql('postgres', q{
	CREATE ROLE "app Owner" CREATEDB;
	CREATE ROLE app_reader LOGIN PASSWORD 'reader secret';
	CREATE ROLE app_readers;
	GRANT app_readers TO app_reader;
	CREATE ROLE shut_out LOGIN;
	COMMENT ON ROLE app_reader IS E'reads\nCREATE ROLE intruder;';
	ALTER DATABASE app OWNER TO "app Owner";
	COMMENT ON DATABASE app IS 'the application';
	REVOKE CONNECT, TEMPORARY ON DATABASE app FROM PUBLIC;
	GRANT CONNECT ON DATABASE app TO app_reader;
	ALTER DATABASE app SET work_mem = '6MB';
	ALTER ROLE app_reader IN DATABASE app SET statement_timeout = '5s';
	ALTER DATABASE app CONNECTION LIMIT 40;
});
$source->safe_psql('app', q{
	CREATE TABLE owned (id serial PRIMARY KEY, v text);
	INSERT INTO owned (v) SELECT 'v' || g FROM generate_series(1, 500) g;
	ALTER TABLE owned OWNER TO "app Owner";
	GRANT SELECT ON owned TO app_readers;
});
my $file = backup_now($source);
my $src_dir = $source->{protech_backup_dir};
my $src_schema = schema_of($source, 'app');
my $src_contents = contents($source, 'app');
my $src_properties = database_properties_of($source, 'app');
my $src_roles = roles_of($source);

# the fresh server: initdb, the runbook's postgresql.conf lines, a restart
my $fresh = PostgreSQL::Test::Cluster->new('dr_fresh');
$fresh->init;
$fresh->append_conf('postgresql.conf', recipe('runbook-new-server-conf', $fresh));
$fresh->start;
is($fresh->safe_psql('postgres', q{SELECT string_agg(rolname, ',') FROM pg_roles WHERE rolname !~ '^pg_'}),
	'postgres', 'the fresh server has no role but the bootstrap one');
ok(!$fresh->safe_psql('postgres', q{SELECT count(*) FROM pg_database WHERE datname = 'app'}),
	'and no database app');

# the four files, copied into its backup directory
my $dir = $fresh->safe_psql('postgres', 'SHOW protech_backup.directory');
mkdir($dir, 0700) unless -d $dir;
for my $f ($file, "$file.json", "$file.globals.sql", "$file.database.sql")
{
	copy("$src_dir/$f", "$dir/$f") or die "copy $f: $!";
	chmod(0600, "$dir/$f");
}

my ($status, $out) = run_sh(recipe('runbook-new-server', $fresh, $file));
is($status, 0, 'the new-server step of the runbook runs') or diag($out);
like($out, qr/role \\"postgres\\" existed already: left as it is/,
	'its notes name the bootstrap role, left as it is');
like($out, qr/\Q$file\E \| t +\| t /, 'and the verify after it restores the backup');
is($fresh->safe_psql('postgres', q{SELECT count(*) FROM pg_roles WHERE rolname = 'intruder'}),
	'0', 'a role comment that looks like a statement stays a comment');

is(roles_of($fresh), $src_roles, 'the roles, their attributes and memberships are the source\'s');
is(schema_of($fresh, 'app'), $src_schema, 'the schema is the source\'s');
is_deeply(contents($fresh, 'app'), $src_contents, 'the rows and sequences are the source\'s');
is(database_properties_of($fresh, 'app'), $src_properties,
	'the database-level properties are the source\'s (owner, comment, ACL, settings, connection limit)');
my ($ret, $o, $err) = $fresh->psql('app', 'SELECT 1', extra_params => [ '-U', 'shut_out' ]);
like($err, qr/permission denied for database "app"/, 'a role refused on the source is refused');
is($fresh->safe_psql('app', 'SHOW statement_timeout', extra_params => [ '-U', 'app_reader' ]),
	'5s', 'a role\'s setting in the database is back');

# restore_globals again: every role exists, all are left and named
is( $fresh->safe_psql('postgres',
		"SELECT array_to_string(notes, ';') FROM protech_backup_restore('$file', 'app_restored', restore_globals => true)"
	),
	join(';', map { "role \"$_\" existed already: left as it is" }
		  ('app Owner', 'app_reader', 'app_readers', 'postgres', 'shut_out')),
	'restore_globals on a server that has them: every role named in notes, none changed');

# the swap recipe, when no old database exists
$fresh->safe_psql('postgres', 'DROP DATABASE app');
($status, $out) = run_sh(recipe('runbook-swap', $fresh));
is($status, 0, 'the swap step works when no old database exists') or diag($out);
is(schema_of($fresh, 'app'), $src_schema, 'and the restored database is app');

# jobs => 2: a zstd-compressed custom backup, through a temporary file
my $tmp = $fresh->data_dir . '/base/pgsql_tmp';
($ret, $o, $err) = $fresh->psql('postgres',
	"SELECT database, tables FROM protech_backup_restore('$file', 'app_parallel', jobs => 2)");
like($o, qr/^app_parallel\|[1-9]\d*$/, 'jobs => 2 restores a compressed custom backup') or diag($err);
is_deeply(contents($fresh, 'app_parallel'), $src_contents, 'with the rows');
is(scalar(grep { !/^\./ } (-d $tmp ? slurp_dir($tmp) : ())), 0,
	'and its decompressed temporary file is gone');
like($fresh->safe_psql('postgres', "SELECT file_name FROM protech_backup_list()"),
	qr/^\Q$file\E$/, 'nothing else is listed');
($ret, $o, $err) = $fresh->psql('postgres',
	"\\set VERBOSITY verbose\nSELECT * FROM protech_backup_restore('$file', 'app_jobs', jobs => 0)");
like($err, qr/ERROR:  22023: argument "jobs" must be between 1 and 64/, 'jobs => 0: 22023');

# a selective restore (082) of the fixture's schema on the new server, in
# parallel: its tables, partitions, views, materialized view, domain, enum,
# functions and sequence, nothing of public
my $sales_relations = q{SELECT string_agg(c.relname || ':' || c.relkind::text, ',' ORDER BY c.relname COLLATE "C")
	FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'sales'};
($ret, $o, $err) = $fresh->psql('postgres',
	"SELECT tables FROM protech_backup_restore('$file', 'app_some', schemas => '{sales}', jobs => 2)");
is($ret, 0, 'schemas => {sales}, jobs => 2: restored') or diag($err);
is($fresh->safe_psql('app_some', $sales_relations), $source->safe_psql('app', $sales_relations),
	'schemas => {sales}: every relation of the schema, as in the source');
is($fresh->safe_psql('app_some', 'SELECT count(*) FROM sales.orders'),
	$source->safe_psql('app', 'SELECT count(*) FROM sales.orders'), 'schemas => {sales}: with the rows');
is($fresh->safe_psql('app_some',
	q{SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'}),
	'0', 'schemas => {sales}: nothing of public');

# a partitioned table comes with its partitions, its foreign key to a
# table not restored left out and named
($ret, $o, $err) = $fresh->psql('postgres',
	"SELECT tables, rows, array_to_string(notes, E'\\n') FROM protech_backup_restore('$file', 'app_part', tables => '{sales.orders}')");
is($ret, 0, 'tables => {sales.orders}: restored') or diag($err);
like($o, qr/^3\|\Q@{[ $source->safe_psql('app', 'SELECT count(*) FROM sales.orders') ]}\E\|/,
	'tables => {sales.orders}: the partitioned table and its two partitions, their rows');
like($o, qr/^partitions restored with their tables: sales\.orders_2025, sales\.orders_2026$/m,
	'tables => {sales.orders}: notes name the partitions');
like($o, qr/^foreign key \S+ of table sales\.orders left out: it references table sales\.customers, which is not restored$/m,
	'tables => {sales.orders}: and the foreign key left out');
is($fresh->safe_psql('app_part', q{SELECT string_agg(inhrelid::regclass::text, ',' ORDER BY inhrelid::regclass::text) FROM pg_inherits WHERE inhparent = 'sales.orders'::regclass}),
	'sales.orders_2025,sales.orders_2026', 'tables => {sales.orders}: the partitions attached');

# the selective-restore recipe: a table dropped from the live database is
# restored alone into a new one and copied back, as it was in the source
$fresh->safe_psql('app', 'DROP TABLE sales.audit_log');
($status, $out) = run_sh(recipe('restore-one-table', $fresh, $file));
is($status, 0, 'the one-table recipe runs') or diag($out);
like($out, qr/selective restore: tables sales\.audit_log/, 'its restore says what it restored');
is_deeply(contents($fresh, 'app'), $src_contents,
	'the dropped table is back with its rows and its sequence, the rest untouched');
is(schema_of($fresh, 'app'), $src_schema, 'and with its indexes, constraints, defaults and grants');
is($fresh->safe_psql('postgres', q{SELECT count(*) FROM pg_database WHERE datname = 'app_one_table'}),
	'0', 'and the database it was restored into is gone');

done_testing();
