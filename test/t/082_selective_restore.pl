# Selective restore: protech_backup_restore(..., tables => ..., schemas =>
# ...) restores only those tables (with their data, indexes, constraints,
# defaults, triggers, comments, ACLs, policies and the sequences they
# own, values set) or schemas (with everything in them) into the new
# database, with what they need (their schema, the types of their columns,
# their trigger functions), for custom backups (none and zstd, one
# encrypted) and directory ones; a foreign key to a table not restored is
# left out and named in notes.  Names follow SQL's identifier rules
# (quoted, with spaces, quotes, dots).  A plain backup, a name not in the
# backup, an ambiguous bare name and an empty array are refused before
# any database is created.  jobs => 2 with a selection, and the pg_cron
# leave-out of 004 through the same -L list, are in here too.
use strict;
use warnings;

use lib 'test/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use ProtechBackupTest;
use Test::More;

my $node = new_backup_node('selective_node');
my $base = $node->basedir;
$node->safe_psql('app', q{
	CREATE ROLE sel_reader;
	CREATE SCHEMA shop;
	CREATE SCHEMA "odd schema";
	CREATE TYPE shop.mood AS ENUM ('ok', 'bad');
	CREATE FUNCTION shop.touch() RETURNS trigger LANGUAGE plpgsql
		AS $$BEGIN NEW.note := NEW.note || '!'; RETURN NEW; END$$;
	CREATE TABLE shop.customers (id serial PRIMARY KEY, email text UNIQUE,
		age int CHECK (age > 0));
	CREATE TABLE shop.suppliers (id int PRIMARY KEY, name text);
	CREATE TABLE shop.orders (
		id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		customer int REFERENCES shop.customers,
		supplier int REFERENCES shop.suppliers,
		note text NOT NULL,
		mood shop.mood DEFAULT 'ok',
		qty int CHECK (qty > 0),
		UNIQUE (customer, note));
	CREATE INDEX orders_note ON shop.orders (lower(note));
	CREATE TRIGGER orders_touch BEFORE INSERT ON shop.orders
		FOR EACH ROW EXECUTE FUNCTION shop.touch();
	COMMENT ON TABLE shop.orders IS 'the orders';
	GRANT SELECT, INSERT ON shop.orders TO sel_reader;
	ALTER TABLE shop.orders ENABLE ROW LEVEL SECURITY;
	CREATE POLICY orders_positive ON shop.orders USING (customer > 0);
	CREATE TABLE "odd schema"."my ""t"" able" (id serial PRIMARY KEY, v text);
	CREATE TABLE shop.items (x int);
	CREATE TABLE public.items (x int);
	INSERT INTO shop.customers (email, age)
		SELECT 'c' || g, g FROM generate_series(1, 30) g;
	INSERT INTO shop.suppliers SELECT g, 's' || g FROM generate_series(1, 5) g;
	INSERT INTO shop.orders (customer, supplier, note, qty)
		SELECT g % 30 + 1, g % 5 + 1, 'order ' || g, g FROM generate_series(1, 200) g;
	INSERT INTO "odd schema"."my ""t"" able" (v) SELECT 'v' || g FROM generate_series(1, 7) g;
	INSERT INTO shop.items VALUES (1);
	INSERT INTO public.items VALUES (1), (2);
});

my $orders = 'shop.orders';
my $odd = q{"odd schema"."my ""t"" able"};

# What a test compares of table $table in database $db: rows, indexes,
# constraints (foreign keys only when $fk), defaults, triggers, comment,
# ACL, row security and policies.
sub facts
{
	my ($db, $table, $fk) = @_;
	my $f = $fk ? '' : "AND contype <> 'f'";
	return $node->safe_psql($db, qq{
		SELECT (SELECT count(*) FROM $table) || E'\\n'
		|| (SELECT string_agg(indexdef, E'\\n' ORDER BY indexdef) FROM pg_indexes
			WHERE format('%I.%I', schemaname, tablename)::regclass = '$table'::regclass) || E'\\n'
		|| (SELECT string_agg(conname || ' ' || pg_get_constraintdef(oid), E'\\n' ORDER BY conname)
			FROM pg_constraint WHERE conrelid = '$table'::regclass $f) || E'\\n'
		|| coalesce((SELECT string_agg(a.attname || ' ' || pg_get_expr(d.adbin, d.adrelid), E'\\n' ORDER BY a.attname)
			FROM pg_attrdef d JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
			WHERE d.adrelid = '$table'::regclass), '') || E'\\n'
		|| coalesce((SELECT string_agg(tgname, ',' ORDER BY tgname) FROM pg_trigger
			WHERE tgrelid = '$table'::regclass AND NOT tgisinternal), '') || E'\\n'
		|| coalesce(obj_description('$table'::regclass, 'pg_class'), '') || E'\\n'
		|| coalesce((SELECT relacl::text FROM pg_class WHERE oid = '$table'::regclass), '') || E'\\n'
		|| (SELECT relrowsecurity FROM pg_class WHERE oid = '$table'::regclass) || E'\\n'
		|| coalesce((SELECT string_agg(polname || ' ' || pg_get_expr(polqual, polrelid), ',' ORDER BY polname)
			FROM pg_policy WHERE polrelid = '$table'::regclass), '')});
}

# the user tables of database $db, qualified, one a line
sub tables_of
{
	my ($db) = @_;
	return $node->safe_psql($db, q{
		SELECT string_agg(format('%I.%I', n.nspname, c.relname), E'\n'
			ORDER BY format('%I.%I', n.nspname, c.relname) COLLATE "C")
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
		  AND n.nspname !~ '^pg_toast'});
}

# the last value of sequence $seq in database $db
sub last_value
{
	my ($db, $seq) = @_;
	return $node->safe_psql($db, "SELECT last_value || ' ' || is_called FROM $seq");
}

# Restore backup $file into $target with the named arguments $args
# (SQL text); returns tables, rows and notes as psql prints them.
sub restore
{
	my ($file, $target, $args) = @_;
	return $node->safe_psql('app',
		"SELECT tables, rows, array_to_string(notes, E'\\n') FROM protech_backup_restore('$file', '$target', $args)");
}

# Expect restoring $file with $args to fail with $sqlstate and a message
# matching $pattern, creating no database.
sub restore_fails
{
	my ($file, $args, $sqlstate, $pattern, $name) = @_;
	my $before = $node->safe_psql('postgres', 'SELECT count(*) FROM pg_database');
	my ($ret, $out, $err) = $node->psql('app',
		"\\set VERBOSITY verbose\nSELECT * FROM protech_backup_restore('$file', 'sel_refused', $args)");
	isnt($ret, 0, "$name: fails");
	like($err, qr/ERROR:  $sqlstate: /, "$name: SQLSTATE $sqlstate");
	like($err, $pattern, "$name: says what is wrong");
	is($node->safe_psql('postgres', 'SELECT count(*) FROM pg_database'), $before,
		"$name: no database created");
	return $err;
}

my $src_orders = facts('app', $orders, 0);
my $src_orders_fk = facts('app', $orders, 1);
my $src_customers = facts('app', 'shop.customers', 1);
my $src_odd = facts('app', $odd, 1);
my $next_order = $node->safe_psql('app', 'SELECT max(id) + 1 FROM shop.orders');

# age keys for the encrypted case
my ($out, $err);
IPC::Run::run([ 'age-keygen', '-o', "$base/key.txt" ], '>', \$out, '2>', \$err)
  or die "age-keygen failed: $err";
my ($public) = $err =~ /(age1[0-9a-z]{58})/ or die "no public key in: $err";

my $n = 0;
for my $case (
	[ 'custom', 'none', 0 ],
	[ 'custom', 'zstd', 0 ],
	[ 'directory', 'none', 0 ],
	[ 'custom', 'zstd', 1 ])
{
	my ($format, $compression, $encrypted) = @$case;
	my $what = "$format $compression" . ($encrypted ? ' encrypted' : '');
	reload_and_wait($node,
		'protech_backup.format' => $format,
		'protech_backup.compression' => $compression,
		'protech_backup.encryption_recipients' => $encrypted ? $public : '',
		'protech_backup.encryption_identity_file' => $encrypted ? "$base/key.txt" : '');
	my $file = backup_now($node);
	like($file, $encrypted ? qr/\.age$/ : qr/./, "$what: backup taken");
	$n++;

	# one table: its own things, with what it needs; its foreign keys to
	# tables not restored left out and named
	my ($tables, $rows, @notes) = split /\||\n/,
	  restore($file, "one_$n", "tables => '{shop.orders}'");
	is("$tables $rows", '1 200', "$what, one table: one table, its rows");
	is(tables_of("one_$n"), 'shop.orders', "$what, one table: nothing else came");
	is(facts("one_$n", $orders, 0), $src_orders,
		"$what, one table: rows, indexes, constraints, defaults, trigger, comment, ACL, policy as in the source");
	is($node->safe_psql("one_$n", "SELECT count(*) FROM pg_constraint WHERE contype = 'f'"),
		'0', "$what, one table: no foreign key to the tables not restored");
	is(last_value("one_$n", 'shop.orders_id_seq'), last_value('app', 'shop.orders_id_seq'),
		"$what, one table: identity sequence value set");
	is($node->safe_psql("one_$n",
		"INSERT INTO shop.orders (customer, note, qty) VALUES (1, 'new', 1) RETURNING id || ' ' || note"),
		"$next_order new!", "$what, one table: the identity continues, the trigger fires");
	my $notes = join "\n", @notes;
	like($notes, qr/^selective restore: tables shop\.orders$/m, "$what, one table: notes say what was restored");
	like($notes, qr/^restored with them, as they need it: .*schema shop.*type shop\.mood.*function shop\.touch\(\)/m,
		"$what, one table: notes say what came with it");
	like($notes, qr/^foreign key orders_customer_fkey of table shop\.orders left out: it references table shop\.customers, which is not restored$/m,
		"$what, one table: the foreign key to customers named");
	like($notes, qr/^foreign key orders_supplier_fkey of table shop\.orders left out: it references table shop\.suppliers, which is not restored$/m,
		"$what, one table: the foreign key to suppliers named");

	# two tables (one by its bare name): the foreign key between them kept
	($tables, $rows, @notes) = split /\||\n/,
	  restore($file, "two_$n", "tables => ARRAY['shop.orders', 'customers']");
	is("$tables $rows", '2 230', "$what, two tables: both, their rows");
	is(tables_of("two_$n"), "shop.customers\nshop.orders", "$what, two tables: nothing else came");
	my $two = facts("two_$n", $orders, 1);
	my $expected = $src_orders_fk =~ s/^orders_supplier_fkey .*\n//mr;
	is($two, $expected, "$what, two tables: orders as in the source, its foreign key to customers kept");
	is(facts("two_$n", 'shop.customers', 1), $src_customers, "$what, two tables: customers as in the source");
	is(last_value("two_$n", 'shop.customers_id_seq'), last_value('app', 'shop.customers_id_seq'),
		"$what, two tables: serial sequence value set");
	is($node->safe_psql("two_$n", "INSERT INTO shop.customers (email, age) VALUES ('new', 1) RETURNING id"),
		'31', "$what, two tables: the serial continues");
	$notes = join "\n", @notes;
	unlike($notes, qr/orders_customer_fkey/, "$what, two tables: the foreign key between them is not in notes");
	like($notes, qr/^foreign key orders_supplier_fkey of table shop\.orders left out/m,
		"$what, two tables: the one to suppliers is");

	# a schema with a space, holding a table with a space and a quote
	($tables, $rows, @notes) = split /\||\n/,
	  restore($file, "schema_$n", q{schemas => ARRAY['"odd schema"']});
	is("$tables $rows", '1 7', "$what, a schema: its table, its rows");
	is(tables_of("schema_$n"), q{"odd schema"."my ""t"" able"}, "$what, a schema: nothing else came");
	is(facts("schema_$n", $odd, 1), $src_odd, "$what, a schema: its table as in the source");
	is(last_value("schema_$n", q{"odd schema"."my ""t"" able_id_seq"}),
		last_value('app', q{"odd schema"."my ""t"" able_id_seq"}), "$what, a schema: its sequence value set");
	like(join("\n", @notes), qr/^selective restore: schemas "odd schema"$/m, "$what, a schema: notes say so");
}
my $custom_zstd = $node->safe_psql('app',
	q{SELECT file_name FROM protech_backup_list() WHERE file_name LIKE '%.dump.zst' ORDER BY file_name LIMIT 1});
my $encrypted = $node->safe_psql('app',
	q{SELECT file_name FROM protech_backup_list() WHERE file_name LIKE '%.age' LIMIT 1});

# a table and a schema together (the union), the quoted name of a table
my ($tables, $rows) = split /\||\n/, restore($custom_zstd, 'union_sel',
	qq{tables => ARRAY['$odd'], schemas => '{shop}'});
is("$tables $rows", '5 243', 'a table and a schema: their union');
is(tables_of('union_sel'),
	join("\n", q{"odd schema"."my ""t"" able"}, qw(shop.customers shop.items shop.orders shop.suppliers)),
	'a table and a schema: nothing else came');
is(facts('union_sel', $orders, 1), $src_orders_fk, 'a schema: the foreign keys inside it kept');

# jobs => 2 with a selection, an encrypted compressed custom backup (the
# temporary file of pg_restore --jobs)
($tables, $rows) = split /\||\n/, restore($encrypted, 'jobs_sel',
	q{tables => '{shop.orders,shop.customers}', jobs => 2});
is("$tables $rows", '2 230', 'jobs => 2 with a selection');
is(facts('jobs_sel', 'shop.customers', 1), $src_customers, 'jobs => 2: customers as in the source');

# refused before any database is created
restore_fails($custom_zstd, q{tables => '{shop.nope}'}, '42P01',
	qr/table "shop\.nope" is not in backup/, 'an unknown table');
restore_fails($custom_zstd, q{tables => '{shop.orders}', schemas => ARRAY['"no such"']}, '3F000',
	qr/schema ""no such"" is not in backup/, 'an unknown schema');
my $amb = restore_fails($custom_zstd, q{tables => '{items}'}, '22023',
	qr/table name "items" is ambiguous/, 'an ambiguous bare name');
like($amb, qr/It matches (public\.items, shop\.items|shop\.items, public\.items)\./, 'an ambiguous bare name: the matches listed');
like($amb, qr/HINT:  Qualify the name with its schema\./, 'an ambiguous bare name: hint');
restore_fails($custom_zstd, q{tables => '{}'}, '22023',
	qr/argument "tables" must not be empty/, 'an empty array');
restore_fails($custom_zstd, q{schemas => '{shop.orders}'}, '22023',
	qr/schema name "shop\.orders" has too many dotted names/, 'a dotted schema name');
restore_fails($custom_zstd, q{schemas => ARRAY['odd schema']}, '42602',
	qr/schema name "odd schema" is not a valid SQL name/, 'a name with a space, unquoted');
restore_fails($custom_zstd, q{tables => ARRAY['"Shop"."Orders"']}, '42P01',
	qr/table ""Shop"\."Orders"" is not in backup/, 'a quoted name keeps its case');
($tables, $rows) = split /\||\n/, restore($custom_zstd, 'folded_sel', q{tables => '{SHOP.ORDERS}'});
is("$tables $rows", '1 200', 'an unquoted name folds to lower case, as in SQL');

# an archive version this extension does not read, and an archive cut
# short inside its table of contents (as pg_dump would write them: the
# manifest matches), are refused naming why, before anything is created
my $pg_dump = $node->config_data('--bindir') . '/pg_dump';
reload_and_wait($node,
	'protech_backup.format' => 'custom',
	'protech_backup.compression' => 'none',
	'protech_backup.encryption_recipients' => '',
	'protech_backup.encryption_identity_file' => '');
for my $bad (
	[ 'newer', q{perl -0777 -pe 'substr($_, 6, 1) = chr(15)'},
		qr/DETAIL:  its archive version 1\.15\.0 is not one this extension reads \(1\.12 to 1\.14, those of pg_dump 9.0 to 15\)\./ ],
	[ 'short', 'head -c 300', qr/DETAIL:  the archive ends inside its table of contents\./ ])
{
	my ($name, $filter, $detail) = @$bad;
	my $fake = fake_pg_dump($node, "pg_dump_$name", qq{"$pg_dump" "\$@" | $filter});
	reload_and_wait($node, 'protech_backup.pg_dump_path' => $fake);
	my $file = backup_now($node);
	my $e = restore_fails($file, q{tables => '{shop.orders}'}, 'XX001',
		qr/could not read the table of contents of backup "\Q$file\E"/, "a $name archive");
	like($e, $detail, "a $name archive: the detail says why");
}
reload_and_wait($node, 'protech_backup.pg_dump_path' => $pg_dump);

# a plain backup: refused with a hint, nothing created
reload_and_wait($node,
	'protech_backup.format' => 'plain',
	'protech_backup.compression' => 'none',
	'protech_backup.encryption_recipients' => '',
	'protech_backup.encryption_identity_file' => '');
my $plain = backup_now($node);
my $perr = restore_fails($plain, q{tables => '{shop.orders}'}, '22023',
	qr/backup "\Q$plain\E" is a plain-format dump, which restores whole/, 'a plain backup');
like($perr, qr/HINT:  Restore it whole/, 'a plain backup: the hint');

done_testing();
