# Attacks on the extension by a hostile non-superuser: role "app", which
# owns the backed-up database (so it owns its schema public, may create
# schemas and set the database's search_path), as most applications do.
# Each attack tries to get code of app's run with a superuser's rights, or
# a file outside the backup directory read or written, through the
# extension; after each, app must still not be a superuser (pg_roles) and
# the files outside the backup directory must be unchanged.
#
# - search_path: an operator in public, an operator in a schema named after
#   the superuser ("$user"), an aggregate and an operator in a schema put
#   first by ALTER DATABASE ... SET search_path: manual backups and the
#   scheduler's own queries never resolve to them;
# - restores: a table whose CHECK calls app's function, restored by
#   protech_backup_verify(restore => true), verify_after_backup = restore
#   and protech_backup_restore(): refused with 42501 without
#   protech_backup.restore_role, restored in full (rows, owners) through it,
#   and the restored database's row count calls none of app's operators;
#   a selective restore (schema public, custom format) through it too;
#   a database whose functions all belong to superusers restores without
#   a restore role, and a manifest that does not say so counts as untrusted;
# - symlinks planted under a backup's names (dump, folder, globals,
#   manifest, "<manifest>.partial") for every function that takes a file
#   name: never followed;
# - protech_backup.directory a symlink into pg_wal, and a directory so long
#   that paths would be truncated: refused by its check hook, and no backup
#   hangs.
use strict;
use warnings;

use lib 'test/lib';
use File::Copy;
use File::Path qw(make_path);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use ProtechBackupTest;
use Test::More;

my $node = new_backup_node('attacks');
my $dir = $node->{protech_backup_dir};
my $base = $node->basedir;
my $superuser =
  $node->safe_psql('postgres', 'SELECT rolname FROM pg_authid WHERE oid = 10');

# Files outside the backup directory that attacks aim at, and their hashes.
my $victim = "$base/victim.txt";
open(my $fh, '>', $victim) or die;
print $fh "not a backup\n" x 100;
close($fh);
my %outside = map { $_ => sha256_of($_) }
  ($victim, $node->data_dir . '/PG_VERSION');

$node->safe_psql('postgres', q{
	CREATE ROLE app LOGIN;
	ALTER DATABASE app OWNER TO app;
});

# What every attack runs: make app a superuser, which works only when run
# by one.  It never fails, so that it cannot break the query it hides in.
$node->safe_psql('app', q{
	CREATE TABLE public.op_calls (who name);
	CREATE FUNCTION public.take_over() RETURNS void LANGUAGE plpgsql AS $$
	BEGIN
		EXECUTE 'ALTER ROLE app SUPERUSER';
	EXCEPTION WHEN OTHERS THEN
		NULL;
	END $$;
	CREATE FUNCTION public.evil_not_match(name, name) RETURNS boolean
	LANGUAGE plpgsql AS $$
	BEGIN
		PERFORM public.take_over();
		INSERT INTO public.op_calls VALUES (current_user);
		RETURN $1::text OPERATOR(pg_catalog.!~) $2::text;
	END $$;
	CREATE FUNCTION public.evil_oid_eq(oid, regclass) RETURNS boolean
	LANGUAGE plpgsql AS $$
	BEGIN
		PERFORM public.take_over();
		RETURN $1 OPERATOR(pg_catalog.=) $2::oid;
	END $$;
	ALTER TABLE public.op_calls OWNER TO app;
	ALTER FUNCTION public.take_over() OWNER TO app;
	ALTER FUNCTION public.evil_not_match(name, name) OWNER TO app;
	ALTER FUNCTION public.evil_oid_eq(oid, regclass) OWNER TO app;
});

# The operators that the extension's queries would pick over pg_catalog's
# (an exact match of their argument types), in schema $schema, as app.
sub plant_operators
{
	my ($schema) = @_;
	$node->safe_psql('app', qq{
		SET ROLE app;
		CREATE OPERATOR $schema.!~ (LEFTARG = name, RIGHTARG = name,
			FUNCTION = public.evil_not_match);
		CREATE OPERATOR $schema.= (LEFTARG = oid, RIGHTARG = regclass,
			FUNCTION = public.evil_oid_eq);
	});
	return;
}

sub remove_operators
{
	my ($schema) = @_;
	$node->safe_psql('app', qq{
		SET ROLE app;
		DROP OPERATOR $schema.!~ (name, name);
		DROP OPERATOR $schema.= (oid, regclass);
	});
	return;
}

# Assert that app is still no superuser (and make it none again, so that
# the next attack is judged on its own).
sub still_no_superuser
{
	my ($what) = @_;
	is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'app'}),
		'f', "$what: app is still no superuser");
	$node->safe_psql('postgres', 'ALTER ROLE app NOSUPERUSER');
	return;
}

sub outside_unchanged
{
	my ($what) = @_;
	is_deeply({ map { $_ => sha256_of($_) } keys %outside },
		\%outside, "$what: no file outside the backup directory changed");
	return;
}

# A backup as the superuser, naming the function by its schema: the
# attacker's search_path must not decide what the test itself calls.
sub qualified_backup_now
{
	return $node->safe_psql('app',
		'SELECT file_name FROM public.protech_backup_now()');
}

# psql as the superuser in app: (exit code, stdout, stderr with SQLSTATEs).
sub try_sql
{
	my ($sql, %opts) = @_;
	my ($ret, $out, $err) = $node->psql($opts{db} // 'app', $sql,
		extra_params => [ '-v', 'VERBOSITY=verbose' ], %opts);
	$err =~ s/^(?:WARNING|NOTICE):.*\n(?:(?:DETAIL|HINT|LOCATION|CONTEXT):.*\n)*//mg;
	return ($ret, $out, $err);
}

# 1. An operator in public, which app owns: a manual backup.
plant_operators('public');
qualified_backup_now();
still_no_superuser('an operator in public during a backup');
remove_operators('public');

# 2. An operator in a schema named after the superuser, first in its
# default search_path "$user", public.
$node->safe_psql('app', qq{SET ROLE app; CREATE SCHEMA "$superuser"});
plant_operators(qq{"$superuser"});
qualified_backup_now();
still_no_superuser('an operator in a "$user" schema during a backup');
$node->safe_psql('app', qq{SET ROLE app; DROP SCHEMA "$superuser" CASCADE});

# 3. ALTER DATABASE app SET search_path = evil, pg_catalog, public: an
# aggregate max(timestamptz), which the scheduler's catch-up query uses,
# and an operator = for bigint, which the run history's updates use.
$node->safe_psql('app', q{
	SET ROLE app;
	CREATE SCHEMA evil;
	CREATE FUNCTION evil.max_step(timestamptz, timestamptz) RETURNS timestamptz
	LANGUAGE sql AS 'SELECT GREATEST($1, $2)';
	CREATE FUNCTION evil.max_final(timestamptz) RETURNS timestamptz
	LANGUAGE plpgsql AS $$ BEGIN PERFORM public.take_over(); RETURN $1; END $$;
	CREATE AGGREGATE evil.max(timestamptz) (SFUNC = evil.max_step,
		STYPE = timestamptz, FINALFUNC = evil.max_final);
	CREATE FUNCTION evil.int8_eq(bigint, bigint) RETURNS boolean
	LANGUAGE plpgsql AS $$
	BEGIN PERFORM public.take_over(); RETURN $1 OPERATOR(pg_catalog.=) $2; END $$;
	CREATE OPERATOR evil.= (LEFTARG = bigint, RIGHTARG = bigint,
		FUNCTION = evil.int8_eq);
	ALTER DATABASE app SET search_path = evil, pg_catalog, public;
});
qualified_backup_now();
still_no_superuser('ALTER DATABASE SET search_path during a manual backup');
$node->append_conf('postgresql.conf', "protech_backup.schedule = '0 0 1 1 *'\n");
my $offset = -s $node->logfile;
$node->restart;
$node->wait_for_log(qr/protech_backup: next backup of database "app" at/, $offset);
still_no_superuser('ALTER DATABASE SET search_path in the scheduler');
$node->safe_psql('app', q{
	SET ROLE app;
	ALTER DATABASE app RESET search_path;
	DROP SCHEMA evil CASCADE;
});
reload_and_wait($node, 'protech_backup.schedule' => '');

# 4. A table whose CHECK constraint calls app's function, restored by the
# extension: without protech_backup.restore_role, refused at once.
$node->safe_psql('app', q{
	SET ROLE app;
	CREATE FUNCTION public.chk(x integer) RETURNS boolean LANGUAGE plpgsql AS $$
	BEGIN PERFORM public.take_over(); RETURN x > 0; END $$;
	CREATE TABLE public.guarded (x integer CHECK (public.chk(x)));
	INSERT INTO public.guarded VALUES (1), (2), (3);
});
my $file = qualified_backup_now();
my $manifest = slurp_file("$dir/$file.json");
like($manifest, qr/"non_superuser_functions": true/,
	'the manifest records that functions belong to a non-superuser');
like($manifest, qr/"extensions": \[.*\{"name": "protech_backup", "schema": "public"\}/s,
	'the manifest records the extensions of the database');
like($manifest, qr/"database_owner": "app"/, 'and its owner');
my $refused = qr/ERROR:  42501: .*restore.*\n(?:DETAIL:.*\n)?HINT:  .*protech_backup\.restore_role/;

my ($ret, $out, $err) =
  try_sql("SELECT * FROM protech_backup_verify('$file', restore => true)");
like($err, $refused, 'verify with restore is refused without a restore role');
still_no_superuser('a CHECK function during protech_backup_verify(restore)');

reload_and_wait($node, 'protech_backup.verify_after_backup' => 'restore');
($ret, $out, $err) = try_sql('SELECT * FROM protech_backup_now()');
like($err, $refused,
	'verify_after_backup = restore fails the run without a restore role');
like($node->safe_psql('app',
		'SELECT status || $$: $$ || message FROM protech_backup_history ORDER BY run_id DESC LIMIT 1'),
	qr/^failed: .*restore/, 'the run is recorded as failed, saying why');
still_no_superuser('a CHECK function during verify_after_backup = restore');
reload_and_wait($node, 'protech_backup.verify_after_backup' => 'checksum');

($ret, $out, $err) =
  try_sql("SELECT * FROM protech_backup_restore('$file', 'app_copy')");
like($err, $refused, 'protech_backup_restore is refused without a restore role');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_database WHERE datname = 'app_copy'}),
	'0', 'no database was created');
still_no_superuser('a CHECK function during protech_backup_restore');

# 5. Through protech_backup.restore_role, a member of app: everything is
# restored, app's functions run with the restore role's rights only, and
# the row count of the restored database calls none of app's operators.
$node->safe_psql('postgres', 'CREATE ROLE restorer LOGIN; GRANT app TO restorer');
reload_and_wait($node, 'protech_backup.restore_role' => 'restorer');
plant_operators('public');
$file = qualified_backup_now();
is($node->safe_psql('app',
		"SELECT checksum_ok, restored, detail FROM protech_backup_verify('$file', restore => true)"),
	't|t|', 'verify with restore through the restore role');
still_no_superuser('a CHECK function during verify(restore) as restore role');

reload_and_wait($node, 'protech_backup.verify_after_backup' => 'restore');
$file = qualified_backup_now();
like($node->safe_psql('app',
		"SELECT verify_result FROM protech_backup_list() WHERE file_name = '$file'"),
	qr/^ok: restored \d+ tables, \d+ rows$/,
	'verify_after_backup = restore through the restore role');
still_no_superuser('a CHECK function during verify_after_backup as restore role');
reload_and_wait($node, 'protech_backup.verify_after_backup' => 'checksum');

my $op_calls = $node->safe_psql('app', 'SELECT count(*) FROM public.op_calls');
$node->safe_psql('app', "SELECT * FROM protech_backup_restore('$file', 'app_copy')");
is($node->safe_psql('app_copy', 'SELECT count(*) FROM public.guarded'),
	'3', 'the table whose CHECK calls its owner\'s function is restored with its rows');
is($node->safe_psql('app_copy', q{
		SELECT string_agg(DISTINCT tableowner, ',') FROM pg_tables
		WHERE schemaname = 'public' AND tablename <> 'protech_backup_history'}),
	'app', 'the restored tables belong to app, as in the backed-up database');
is($node->safe_psql('postgres',
		q{SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'app_copy'}),
	'app', 'and so does the restored database');
is($node->safe_psql('app_copy', 'SELECT count(*) FROM public.op_calls'),
	$op_calls, 'counting the restored rows called none of app\'s operators');
is($node->safe_psql('app_copy', q{
		SELECT r.rolname FROM pg_extension e JOIN pg_roles r ON r.oid = e.extowner
		WHERE e.extname = 'protech_backup'}),
	$superuser, 'the extension was created by the superuser');
still_no_superuser('a CHECK function during protech_backup_restore as restore role');

# A selective restore (custom format) goes through the restore role too:
# schema public (its functions with it: the CHECK's function calls another
# one, which no dependency of the archive names, so a restore of the table
# alone fails on it), the CHECK function run with the restore role's rights
# only, everything owned by app.
reload_and_wait($node, 'protech_backup.format' => 'custom');
$file = qualified_backup_now();
($ret, $out, $err) = $node->psql('app',
	"SELECT * FROM protech_backup_restore('$file', 'app_public', schemas => '{public}')");
is($ret, 0, 'a selective restore through the restore role runs') or diag($err);
# (queries free of the planted operators: public.= (oid, regclass) would
# take a superuser's session over)
is($node->safe_psql('app_public', 'SELECT count(*) FROM public.guarded'),
	'3', 'a selective restore through the restore role: the guarded table with its rows');
is($node->safe_psql('app_public', q{
		SELECT string_agg(DISTINCT tableowner, ',') FROM pg_tables WHERE schemaname = 'public'}),
	'app', 'owned by app, as every restored table');
still_no_superuser('a CHECK function during a selective restore as restore role');
reload_and_wait($node, 'protech_backup.format' => 'plain');
remove_operators('public');

# The utility hook of restore sessions (a COMMENT ON EXTENSION the restore
# role may not run passed over with a NOTICE) serves the extension's own
# restore programs only: any other session of the restore role is refused
# as it would be without the extension.
($ret, $out, $err) = $node->psql('app_copy',
	"COMMENT ON EXTENSION protech_backup IS 'defaced'",
	extra_params => [ '-U', 'restorer' ]);
like($err, qr/ERROR:  must be owner of extension protech_backup/,
	'a session of the restore role outside a restore is not let off its COMMENT ON EXTENSION');
is($node->safe_psql('app_copy',
		"SELECT obj_description(oid, 'pg_extension') IS DISTINCT FROM 'defaced' FROM pg_extension WHERE extname = 'protech_backup'"),
	't', 'and the comment is left as it was');

# A superuser as restore role is refused.
reload_and_wait($node, 'protech_backup.restore_role' => $superuser);
($ret, $out, $err) =
  try_sql("SELECT * FROM protech_backup_verify('$file', restore => true)");
like($err, qr/ERROR:  42501: protech_backup.restore_role "\Q$superuser\E" is a superuser/,
	'a superuser as restore role is refused');
reload_and_wait($node, 'protech_backup.restore_role' => '');

# 6. A database whose functions all belong to superusers restores without a
# restore role; a manifest that does not say so (an older version's)
# counts as untrusted.
$node->safe_psql('app', q{
	SET ROLE app;
	DROP TABLE public.guarded;
	DROP FUNCTION public.chk(integer), public.evil_not_match(name, name),
		public.evil_oid_eq(oid, regclass), public.take_over();
});
$file = qualified_backup_now();
like(slurp_file("$dir/$file.json"), qr/"non_superuser_functions": false/,
	'the manifest records that every function belongs to a superuser');
is($node->safe_psql('app',
		"SELECT restored FROM protech_backup_verify('$file', restore => true)"),
	't', 'such a backup restores without a restore role');
($manifest = slurp_file("$dir/$file.json")) =~ s/\n  "non_superuser_functions": false,//;
open($fh, '>', "$dir/$file.json") or die;
print $fh $manifest;
close($fh);
($ret, $out, $err) =
  try_sql("SELECT * FROM protech_backup_verify('$file', restore => true)");
like($err, $refused, 'a manifest without non_superuser_functions is untrusted');

# 7. Symlinks under a backup's names are never followed.
sub swap_for_symlink
{
	my ($path, $target) = @_;
	rename($path, "$path.real") or die "rename $path: $!";
	symlink($target, $path) or die "symlink $path: $!";
	return;
}

sub swap_back
{
	my ($path) = @_;
	unlink($path) or die;
	rename("$path.real", $path) or die;
	return;
}

$file = qualified_backup_now();
my $not_a_backup = qr/ERROR:  22023: "\Q$file\E" is not a backup/;
for my $target ($victim, $node->data_dir . '/global/pg_control',
	$node->data_dir . '/PG_VERSION')
{
	swap_for_symlink("$dir/$file", $target);
	($ret, $out, $err) = try_sql("SELECT protech_backup_read_size('$file')");
	like($err, $not_a_backup, "read_size: a dump symlinked to $target is not a backup");
	($ret, $out, $err) =
	  try_sql("SELECT encode(protech_backup_read('$file', 0, 100000), 'escape')");
	like($err, $not_a_backup, "read: a dump symlinked to $target is not a backup");
	unlike($out, qr/not a backup/, 'and nothing of the target was served');
	swap_back("$dir/$file");
}

# a symlink to an exact copy outside the directory: damaged, not restored
copy("$dir/$file", "$base/copy_of_dump") or die;
swap_for_symlink("$dir/$file", "$base/copy_of_dump");
like($node->safe_psql('app',
		"SELECT checksum_ok || ' ' || detail FROM protech_backup_verify('$file')"),
	qr/^false .*symbolic link/, 'verify: a symlinked dump is a damaged backup');
($ret, $out, $err) =
  try_sql("SELECT * FROM protech_backup_restore('$file', 'via_symlink')");
like($err, qr/ERROR:  XX001: backup "\Q$file\E" does not match its manifest/,
	'restore: a symlinked dump is refused');
swap_back("$dir/$file");

copy("$dir/$file.globals.sql", "$base/copy_of_globals") or die;
swap_for_symlink("$dir/$file.globals.sql", "$base/copy_of_globals");
like($node->safe_psql('app',
		"SELECT checksum_ok || ' ' || detail FROM protech_backup_verify('$file')"),
	qr/^false .*symbolic link/, 'verify: a symlinked globals file is a damaged backup');
swap_back("$dir/$file.globals.sql");

copy("$dir/$file.json", "$base/copy_of_manifest") or die;
swap_for_symlink("$dir/$file.json", "$base/copy_of_manifest");
for my $call ("protech_backup_verify('$file')",
	"protech_backup_restore('$file', 'via_symlink')",
	"protech_backup_read_size('$file')")
{
	($ret, $out, $err) = try_sql("SELECT * FROM $call");
	like($err, $not_a_backup, "$call: a symlinked manifest is not a backup");
}
swap_back("$dir/$file.json");

# a "<manifest>.partial" symlink: the verification's rewrite of the
# manifest replaces it, never writes through it
symlink($victim, "$dir/$file.json.partial") or die;
is($node->safe_psql('app', "SELECT checksum_ok FROM protech_backup_verify('$file')"),
	't', 'verify with a planted manifest partial symlink');
ok(!-l "$dir/$file.json" && -f "$dir/$file.json",
	'the manifest is still a regular file');
ok(!-e "$dir/$file.json.partial", 'the planted partial is gone');
outside_unchanged('a planted manifest partial');

# a directory-format backup whose folder is a symlink to a copy of it
reload_and_wait($node, 'protech_backup.format' => 'directory');
$file = qualified_backup_now();
system('cp', '-a', "$dir/$file", "$base/copy_of_folder") == 0 or die;
swap_for_symlink("$dir/$file", "$base/copy_of_folder");
like($node->safe_psql('app',
		"SELECT checksum_ok || ' ' || detail FROM protech_backup_verify('$file')"),
	qr/^false .*symbolic link/, 'verify: a symlinked folder is a damaged backup');
($ret, $out, $err) = try_sql("SELECT protech_backup_read_size('$file')");
like($err, qr/ERROR:  22023: "\Q$file\E" is not a backup/,
	'read_size: a symlinked folder is not a backup');
swap_back("$dir/$file");
reload_and_wait($node, 'protech_backup.format' => 'plain');
outside_unchanged('symlinks under backup names');

# 8. protech_backup.directory through a symlink into pg_wal, existing or
# not yet: refused by the check hook.
my $wal = $node->data_dir . '/pg_wal';
symlink($wal, "$base/walsym") or die;
for my $path ("$base/walsym", "$base/walsym/backups")
{
	($ret, $out, $err) =
	  try_sql("ALTER SYSTEM SET protech_backup.directory = '$path'", db => 'postgres');
	like($err,
		qr/ERROR:  22023: invalid value for parameter "protech_backup.directory": "\Q$path\E"\nDETAIL:  .*pg_wal/,
		"a directory resolving into pg_wal is refused: $path");
	if ($ret == 0)
	{
		# today's code took it: show where the backup goes
		$node->reload;
		$node->poll_query_until('postgres',
			"SELECT current_setting('protech_backup.directory') = '$path'");
		qualified_backup_now();
	}
}
opendir(my $dh, $wal) or die;
is_deeply([ grep { /^protech_backup/ } readdir($dh) ], [],
	'nothing was written into pg_wal');
closedir($dh);
$node->safe_psql('postgres', 'ALTER SYSTEM RESET protech_backup.directory');
$node->reload;

# 9. A directory so long that the names of a backup's files would not fit
# in a path: refused by the check hook, and no backup hangs on it.
my $long = "$base/long";
$long .= '/' . ('d' x 200) while length($long) < 800;
make_path($long);
$long .= '/' . ('e' x (1022 - length($long) - 1));
($ret, $out, $err) =
  try_sql("ALTER SYSTEM SET protech_backup.directory = '$long'", db => 'postgres');
like($err, qr/ERROR:  22023: invalid value for parameter "protech_backup.directory".*\nDETAIL:  .*too long/s,
	'a directory too long for the names of backups is refused');
if ($ret == 0)
{
	$node->reload;
	$node->poll_query_until('postgres',
		"SELECT current_setting('protech_backup.directory') = '$long'");
}
my $timed_out = 0;
$node->psql('app', "SET statement_timeout = '20s'; SELECT count(*) FROM protech_backup_now()",
	timeout => 60, timed_out => \$timed_out);
ok(!$timed_out, 'a backup after that does not hang');
$node->safe_psql('postgres', 'ALTER SYSTEM RESET protech_backup.directory') unless $timed_out;
outside_unchanged('the end');
still_no_superuser('the end');

done_testing();
