# Privileges and secrets: the backup directory is 0700 and every file in it
# 0600 even on a server whose umask lets the group read (a data directory
# initialized with group access); a warning when the directory is inside
# the data directory; pg_dump reads a password from protech_backup.passfile
# and the password shows nowhere; database and role names with spaces,
# quotes, a leading "-" and non-ASCII letters reach pg_dump intact; a role
# granted protech_backup_now() can back up but choose no directory, role or
# path, and a role granted nothing can run no function of the extension.
use strict;
use warnings;

use lib 'test/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use ProtechBackupTest;
use Test::More;

my $node = new_backup_node('privileges', initdb => ['--allow-group-access']);
my $dir = $node->{protech_backup_dir};
$node->safe_psql('app',
	'CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 1000) AS g; CREATE TABLE locked_tbl (id int)'
);

sub mode
{
	my ($path) = @_;
	return sprintf('%04o', (stat($path))[2] & 07777);
}

sub quote_ident
{
	my ($name) = @_;
	$name =~ s/"/""/g;
	return qq{"$name"};
}

sub quote_literal
{
	my ($value) = @_;
	$value =~ s/'/''/g;
	return qq{'$value'};
}

# Modes, whatever the umask: the server's is 0027 here.
is(mode($node->data_dir . '/postgresql.auto.conf'), '0640',
	'the server creates files readable by its group');
for my $format (qw(plain custom directory))
{
	reload_and_wait($node, 'protech_backup.format' => $format);
	my $file = backup_now($node);
	is(mode($dir), '0700', "$format: directory 0700");
	is(mode("$dir/$file.json"), '0600', "$format: manifest 0600");
	if ($format eq 'directory')
	{
		is(mode("$dir/$file"), '0700', "$format: dump folder 0700");
		opendir(my $dh, "$dir/$file") or die;
		my @modes = map { mode("$dir/$file/$_") } grep { !/^\.\.?$/ } readdir($dh);
		closedir($dh);
		is_deeply([ grep { $_ ne '0600' } @modes ], [], "$format: every file pg_dump wrote is 0600");
	}
	else
	{
		is(mode("$dir/$file"), '0600', "$format: dump 0600");
	}
}
reload_and_wait($node, 'protech_backup.format' => 'plain');

# A directory others may enter is tightened to 0700.
chmod(0755, $dir) or die;
my $offset = -s $node->logfile;
backup_now($node);
is(mode($dir), '0700', 'a directory of mode 0755 is tightened to 0700');
$node->wait_for_log(
	qr/LOG:  protech_backup: changed the mode of backup directory "\Q$dir\E" from 0755 to 0700/,
	$offset);

# Inside the data directory: allowed, with a warning.
my $inside = $node->data_dir . '/protech_backup_inside';
reload_and_wait($node, 'protech_backup.directory' => $inside);
$offset = -s $node->logfile;
backup_now($node);
$node->wait_for_log(
	qr/WARNING:  protech_backup: backup directory "\Q$inside\E" is inside the data directory\n.*DETAIL:  Base backups and copies of the data directory will contain every backup too\.\n.*HINT:  Set protech_backup\.directory to a directory outside the data directory\./,
	$offset);
ok(1, 'a directory inside the data directory gives a warning');
reload_and_wait($node, 'protech_backup.directory' => $dir);

# A role that logs in with a password, which pg_dump finds in
# protech_backup.passfile.  The password is set with logging off, so that
# any trace of it in the log is the extension's.
my $password = 'S3cret-pw-4711';
$node->safe_psql('postgres', "CREATE ROLE pb_pw LOGIN SUPERUSER");
$node->safe_psql('postgres',
	"SET log_statement = 'none';\nALTER ROLE pb_pw PASSWORD '$password';");
prepend_hba($node, 'local all pb_pw scram-sha-256');
reload_and_wait($node, 'protech_backup.role' => 'pb_pw');

my ($ret, $out, $err) = $node->psql('app',
	"\\set VERBOSITY verbose\nSELECT * FROM protech_backup_now()");
like($err,
	qr/ERROR:  38000: pg_dump of database "app" failed: .*\nDETAIL:  pg_dump printed:\n.*no password supplied.*\nHINT:  .*protech_backup\.passfile/s,
	'no password: the hint names protech_backup.passfile');

my $passfile = $node->basedir . '/pgpass';
reload_and_wait($node, 'protech_backup.passfile' => $passfile);
($ret, $out, $err) = $node->psql('app',
	"\\set VERBOSITY verbose\nSELECT * FROM protech_backup_now()");
like($err,
	qr/ERROR:  58P01: could not read password file "\Q$passfile\E": No such file or directory\nHINT:  /,
	'a missing password file: says so');

open(my $fh, '>', $passfile) or die;
print $fh "*:*:*:pb_pw:$password\n";
close($fh);
chmod(0600, $passfile) or die;

# While pg_dump waits for a lock, look at what pg_stat_activity shows.
my $locker = lock_table($node, 'app', 'locked_tbl');
my $bg = background_call($node, 'app',
	'SELECT file_name FROM protech_backup_now()', on_error_stop => 1);
ok( $node->poll_query_until('app',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'protech_backup' AND usename = 'pb_pw' AND wait_event_type = 'Lock'"
	),
	'pg_dump connects as the role, with the password from the file');
my $activity = $node->safe_psql('app', 'SELECT string_agg(a::text, E\'\n\') FROM pg_stat_activity a');
$locker->query_safe('COMMIT');
$locker->quit;
$bg->query('SELECT 1');
$bg->quit;
my $file = $node->safe_psql('app',
	'SELECT file_name FROM protech_backup_list() ORDER BY started_at DESC LIMIT 1');
my %seen_in = (
	'pg_stat_activity' => $activity,
	'the server log' => slurp_file($node->logfile),
	'the settings' => $node->safe_psql('app', 'SELECT string_agg(name || setting, E\'\n\') FROM pg_settings'),
	'the manifest' => slurp_file("$dir/$file.json"),
	'the run history' => $node->safe_psql('app', 'SELECT string_agg(h::text, E\'\n\') FROM protech_backup_history h'),
);
like($seen_in{'the manifest'}, qr/"file_name": "\Q$file\E"/, 'the backup made with the password file is complete');
for my $where (sort keys %seen_in)
{
	unlike($seen_in{$where}, qr/\Q$password\E/, "the password is not in $where");
}
reload_and_wait($node,
	'protech_backup.role' => '',
	'protech_backup.passfile' => '');

# Names with spaces, quotes, a leading "-" and non-ASCII letters: they
# travel to pg_dump in its environment, never as arguments.
my $db = q{-d "x'y" ñ=1 z};
my $role = q{-U r'ô "w"};
$node->safe_psql('postgres', 'CREATE DATABASE ' . quote_ident($db));
$node->safe_psql('postgres', 'CREATE ROLE ' . quote_ident($role) . ' LOGIN SUPERUSER');
$node->safe_psql($db,
	'CREATE EXTENSION protech_backup; CREATE TABLE only_in_this_database (id int); CREATE TABLE locked_tbl (id int)'
);
reload_and_wait($node,
	'protech_backup.database' => $db,
	'protech_backup.role' => $role);
$locker = lock_table($node, $db, 'locked_tbl');
$bg = background_call($node, 'app',
	'SELECT file_name FROM protech_backup_now()', on_error_stop => 1);
ok( $node->poll_query_until('app',
		'SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = \'protech_backup\' AND datname = '
		  . quote_literal($db) . ' AND usename = ' . quote_literal($role)),
	'pg_dump connects to the database and as the role named');
$locker->query_safe('COMMIT');
$locker->quit;
$bg->query('SELECT 1');
$bg->quit;
$file = $node->safe_psql('app',
	'SELECT file_name FROM protech_backup_list() WHERE database = ' . quote_literal($db));
like(slurp_file("$dir/$file"), qr/^CREATE TABLE public\.only_in_this_database /m,
	'the dump is of that database');

# parallel jobs reconnect with the same names
reload_and_wait($node,
	'protech_backup.format' => 'directory',
	'protech_backup.jobs' => 2);
is( $node->safe_psql('app',
		'SELECT database FROM protech_backup_now()'),
	$db, 'a directory-format dump with two jobs works with those names too');
reload_and_wait($node,
	'protech_backup.format' => 'plain',
	'protech_backup.jobs' => 1,
	'protech_backup.database' => 'app',
	'protech_backup.role' => '');

# A role granted protech_backup_now() backs up, but chooses nothing: the
# function takes no argument (protech_backup_now(database), which chooses
# the database, is granted apart), and the settings that name a directory, a
# role or a path can be neither changed nor, for paths, read by it.
$node->safe_psql('app',
	'CREATE ROLE alice LOGIN; GRANT EXECUTE ON FUNCTION protech_backup_now() TO alice');
sub as_alice
{
	my ($sql) = @_;
	return $node->psql('app', "\\set VERBOSITY verbose\n$sql",
		extra_params => [ '-U', 'alice' ]);
}
is( $node->safe_psql('app',
		"SELECT pronargs FROM pg_proc WHERE oid = 'protech_backup_now()'::regprocedure"),
	'0', 'protech_backup_now() takes no argument');
is( $node->safe_psql('app',
		"SELECT string_agg(oid::regprocedure::text, ',') FROM pg_proc WHERE proname = 'protech_backup_now' AND pronargs > 0"
	),
	'protech_backup_now(name)',
	'its only other form is protech_backup_now(database), a function of its own');
($ret, $out, $err) = as_alice("SELECT protech_backup_now('app')");
like($err, qr/ERROR:  42501: permission denied for function protech_backup_now/,
	'a role granted protech_backup_now() cannot run protech_backup_now(database)');
($ret, $out) = as_alice('SELECT count(*) FROM protech_backup_now()');
is($out, '1', 'a role granted protech_backup_now() takes a backup');
for my $setting (
	qw(directory role pg_dump_path passfile database pg_dump_options post_backup_command))
{
	($ret, $out, $err) = as_alice("SET protech_backup.$setting = '/tmp/elsewhere'");
	like($err, qr/ERROR:  55P02: parameter "protech_backup\.$setting" cannot be changed now/,
		"alice cannot SET protech_backup.$setting");
	($ret, $out, $err) = as_alice("ALTER SYSTEM SET protech_backup.$setting = '/tmp/elsewhere'");
	like($err, qr/ERROR:  42501: /, "alice cannot ALTER SYSTEM SET protech_backup.$setting");
}
for my $setting (qw(directory pg_dump_path passfile pg_dump_options post_backup_command))
{
	($ret, $out, $err) = as_alice("SHOW protech_backup.$setting");
	like($err, qr/ERROR:  42501: must be superuser or have privileges of pg_read_all_settings/,
		"alice cannot read protech_backup.$setting");
}

# A role granted nothing runs no function of the extension.
$node->safe_psql('app', 'CREATE ROLE bob LOGIN');
for my $function (extension_functions($node, 'app'))
{
	my ($proc, $types, $names) = @$function{qw(proc types names)};
	my $call = "$proc("
	  . join(', ', map { harmless_value($types->[$_], $names->[$_], $file) } 0 .. $#$types)
	  . ')';
	($ret, $out, $err) = $node->psql('app', "\\set VERBOSITY verbose\nSELECT * FROM $call",
		extra_params => [ '-U', 'bob' ]);
	like($err, qr/ERROR:  42501: permission denied for function \Q$proc\E/,
		"a role granted nothing cannot run $proc");
}

done_testing();
