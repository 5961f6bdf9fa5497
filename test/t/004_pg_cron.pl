# pg_cron as an alternative scheduler: a cron job running
# SELECT protech_backup_now() produces backups and history rows (trigger
# 'manual', since the backup cannot tell who called it).  And pg_cron in
# the backed-up database itself (cron.database_name = 'app'), whose
# CREATE EXTENSION refuses every other database: in every format, the
# backup still verifies by restore, and restores into another name, pg_cron
# (its schema cron, its jobs) left out and said so, the user's tables all
# there; a data line that looks like pg_dump's header of pg_cron is data.
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
my $dir = $node->{protech_backup_dir};
$node->safe_psql('app', 'CREATE EXTENSION pg_cron');
$node->safe_psql('app',
	"SELECT cron.schedule('protech-nightly', '* * * * *', 'SELECT protech_backup_now()')"
);

ok( $node->poll_query_until('app',
		"SELECT count(*) >= 1 FROM cron.job_run_details WHERE status = 'succeeded'"
	),
	'the pg_cron job ran and succeeded')
  or diag($node->safe_psql('app',
	'SELECT status, return_message FROM cron.job_run_details'));
is( $node->safe_psql('app',
		"SELECT count(*) >= 1 FROM protech_backup_history WHERE trigger = 'manual' AND status = 'succeeded'"
	),
	't',
	'the run is in the history');
is( $node->safe_psql('app',
		"SELECT count(*) >= 1 FROM protech_backup_list() WHERE trigger = 'manual'"),
	't', 'and its backup is listed');
$node->safe_psql('app', "SELECT cron.unschedule('protech-nightly')");

# pg_cron's objects a dump holds: its extension and comment, a job (the
# data of its configuration table cron.job), its sequences, the ACL of its
# schema; and the user's tables, one of them with lines that look like the
# header of pg_cron's section and the end of a COPY's data
$node->safe_psql(
	'app', q{
SELECT cron.schedule('vacuum-nightly', '0 3 * * *', 'VACUUM');
COMMENT ON EXTENSION pg_cron IS 'the jobs of app';
GRANT USAGE ON SCHEMA cron TO PUBLIC;
CREATE TABLE orders AS SELECT g AS id, 'order ' || g AS label FROM generate_series(1, 50) g;
CREATE SCHEMA sales;
CREATE TABLE sales.lines (line text);
INSERT INTO sales.lines VALUES ('--'),
  ('-- Name: pg_cron; Type: EXTENSION; Schema: -; Owner: -'), ('--'),
  ('CREATE EXTENSION IF NOT EXISTS pg_cron WITH SCHEMA public;'), ('\.'),
  ('-- Data for Name: orders; Type: TABLE DATA; Schema: cron; Owner: x'),
  ('after');
});
# the user's tables: those of protech_backup and pg_cron are not counted
my $tables = $node->safe_psql('app',
	"SELECT count(*) FROM pg_tables WHERE tablename IN ('orders', 'lines')");

my @combinations = (
	[ 'plain', 'none' ], [ 'plain', 'gzip' ], [ 'plain', 'zstd' ],
	[ 'custom', 'zstd' ], [ 'custom', 'gzip' ], [ 'directory', 'none' ]);
my $n = 0;
for my $c (@combinations)
{
	my ($format, $compression) = @$c;
	my $what = "$format/$compression";
	reload_and_wait($node,
		'protech_backup.format' => $format,
		'protech_backup.compression' => $compression);
	my $file = backup_now($node);
	my $manifest = slurp_file("$dir/$file.json");
	like($manifest, qr/"single_database_extensions": "pg_cron"/,
		"$what: the manifest records pg_cron as living in one database");
	like($manifest, qr/"single_database_schemas": "cron"/,
		"$what: and the schema it created");

	my $verify = $node->safe_psql('app',
		"SELECT checksum_ok, restored, tables, detail FROM protech_backup_verify('$file', restore => true)"
	);
	is( $verify,
		"t|t|$tables|extension pg_cron left out: it can live only in database app; "
		  . 'schema cron left out with its objects and their data: a left-out extension created it',
		"$what: verifies by restore, pg_cron left out and said so");
	like(
		$node->safe_psql('app',
			"SELECT verify_result FROM protech_backup_list() WHERE file_name = '$file'"),
		qr/^ok: restored $tables tables, \d+ rows; extension pg_cron left out: /,
		"$what: the verify_result says what was left out");

	my $target = 'app_restored_' . $n++;
	is( $node->safe_psql('app',
			"SELECT database, tables, array_to_string(notes, E'\\n') FROM protech_backup_restore('$file', '$target')"
		),
		"$target|$tables|extension pg_cron left out: it can live only in database app\n"
		  . 'schema cron left out with its objects and their data: a left-out extension created it',
		"$what: restores into another name, with the notes");
	is( $node->safe_psql($target,
			"SELECT (SELECT count(*) FROM orders), (SELECT string_agg(line, '|' ORDER BY line) FROM sales.lines)"
		),
		$node->safe_psql('app',
			"SELECT (SELECT count(*) FROM orders), (SELECT string_agg(line, '|' ORDER BY line) FROM sales.lines)"
		),
		"$what: the user's tables restored whole, the lines that look like headers among them"
	);
	is( $node->safe_psql($target,
			"SELECT (SELECT count(*) FROM pg_namespace WHERE nspname = 'cron'), (SELECT count(*) FROM pg_extension WHERE extname = 'pg_cron')"
		),
		'0|0',
		"$what: no pg_cron, no schema cron in the restored database");
	$node->safe_psql('app', "DROP DATABASE $target");
	next if $format eq 'plain';

	# a selective restore (082) into another name: the selection and the
	# leave-out act on one -L list, so pg_cron stays out even when its
	# schema is asked for
	is( $node->safe_psql('app',
			"SELECT tables, array_to_string(notes, E'\\n') FROM protech_backup_restore('$file', '${target}_sel', tables => '{orders}', schemas => '{cron}')"
		),
		"1|extension pg_cron left out: it can live only in database app\n"
		  . "schema cron left out with its objects and their data: a left-out extension created it\n"
		  . "selective restore: tables public.orders; schemas cron",
		"$what: a selective restore into another name, pg_cron left out, with the notes");
	is( $node->safe_psql("${target}_sel",
			"SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM pg_namespace WHERE nspname = 'cron'), (SELECT count(*) FROM pg_extension WHERE extname = 'pg_cron')"
		),
		$node->safe_psql('app', 'SELECT count(*) FROM orders') . '|0|0',
		"$what: the selected table restored, no pg_cron, no schema cron");
	$node->safe_psql('app', "DROP DATABASE ${target}_sel");
}

# a verification by restore after every backup passes too
reload_and_wait($node, 'protech_backup.verify_after_backup' => 'restore');
my ($ret, $file, $err) = $node->psql('app',
	'SELECT file_name FROM protech_backup_now()');
is($ret, 0, 'verify_after_backup = restore: the backup succeeds') or diag($err);
like(
	$node->safe_psql('app',
		"SELECT verify_result FROM protech_backup_list() WHERE file_name = '$file'"),
	qr/^ok: restored $tables tables, \d+ rows; extension pg_cron left out: /,
	'verify_after_backup = restore: the backup verifies, pg_cron left out');
is($node->safe_psql('app', "SELECT count(*) FROM pg_database WHERE datname LIKE 'protech_backup_verify_%'"),
	'0', 'no scratch database left');

# a manifest older than 1.2 does not say that pg_cron lives in one
# database: the restore into another name fails, saying why and what to do
my $manifest = slurp_file("$dir/$file.json");
ok( $manifest =~ s/,\n  "single_database_(extensions|schemas)": "[^"]*"//g,
	'the manifest as 1.1 wrote it');
open(my $fh, '>', "$dir/$file.json") or die "could not write $dir/$file.json: $!";
print $fh $manifest;
close($fh);
my ($status, $out, $stderr) = $node->psql('app',
	"SELECT * FROM protech_backup_restore('$file', 'app_from_old_manifest')");
isnt($status, 0, 'an old manifest: the restore into another name fails');
like(
	$stderr,
	qr/could not prepare database "app_from_old_manifest".*can only create extension in database app.*HINT:  An extension of the backup can live in one database only \(pg_cron\), and the backup's manifest, older than protech_backup 1.2, does not say so/s,
	'with pg_cron\'s error and a hint saying why and what to do');
is($node->safe_psql('app', "SELECT count(*) FROM pg_database WHERE datname = 'app_from_old_manifest'"),
	'0', 'and nothing is left of the database');

done_testing();
