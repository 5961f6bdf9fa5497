# The README on a Debian-managed server, run as root after `make install`
# into the system PostgreSQL 15 (.ci/test runs it after make installcheck):
# two clusters made by pg_createcluster with default settings, on free
# ports, started by pg_ctlcluster, and the documentation's recipes run
# exactly as written.  Each recipe is the fenced block after a
# "<!-- recipe: NAME -->" line of README.md or doc/*.md; the only changes
# made to it are the cluster's name and port for "15 main" and "5432", the
# backup's file name for "F", and, in the pg_cron recipe, a schedule of
# every minute for "0 16 * * *".  Where sudo is not installed, "sudo -u
# postgres" is run by runuser.
#
# What it checks:
# - the quick start: conf, restart, createdb, CREATE EXTENSION, the SQL;
#   the backups go to /var/lib/postgresql/15/protech_backup_<cluster>,
#   which SHOW names;
# - neither cluster lists, plans to delete or deletes the other's backups;
# - the pg_cron recipe: a job run by pg_cron in database postgres takes a
#   backup of app;
# - the rclone recipe under pg_ctlcluster (no HOME, no PATH in the
#   server's environment): dump, globals and manifest copied, and the check
#   lines pass;
# - the download role recipe, run by root: the file arrives with mode 0600;
# - the restore runbook: verify, restore, swap (with pg_cron's and the
#   scheduler's sessions on the old database), a new server (its
#   postgresql.conf lines, a restart, restore_globals, then verify), by hand
#   (the database-level properties applied with psql);
# - a database holding pg_cron itself (cron.database_name = 'app') verifies
#   by restore and restores into another name, pg_cron left out.
# Every cluster made is dropped with pg_dropcluster --stop whatever happens.
use strict;
use warnings;

use File::Temp qw(tempdir);
use IO::Socket::INET;
use Test::More;

plan skip_all => 'needs root and pg_createcluster'
  unless $> == 0 && -x '/usr/bin/pg_createcluster';

my $version = 15;
my $socket = '/var/run/postgresql';
my $postgres_home = (getpwnam('postgres'))[7];
my $scratch = tempdir('/tmp/protech_backup_debian.XXXXXX', CLEANUP => 1);
chmod(0755, $scratch);
my %clusters;    # name => port

END
{
	for my $name (keys %clusters)
	{
		system("pg_dropcluster --stop $version $name >/dev/null 2>&1");
		system('rm', '-rf', "/var/lib/postgresql/$version/protech_backup_$name");
	}
}

# The text of the recipe NAME, its indentation removed.
sub recipe
{
	my ($name) = @_;
	for my $file ('README.md', glob('doc/*.md'))
	{
		open(my $fh, '<', $file) or die "could not read $file: $!";
		my @lines = <$fh>;
		close($fh);
		for my $i (0 .. $#lines)
		{
			next unless $lines[$i] =~ /^\s*<!-- recipe: \Q$name\E -->\s*$/;
			my ($indent) = $lines[ $i + 1 ] =~ /^(\s*)```/
			  or die "recipe $name in $file is not followed by a fenced block";
			my $text = '';
			for my $line (@lines[ $i + 2 .. $#lines ])
			{
				last if $line =~ /^\s*```\s*$/;
				$line =~ s/^\Q$indent\E//;
				$text .= $line;
			}
			return $text;
		}
	}
	die "no recipe $name in README.md or doc/*.md";
}

# A recipe for cluster $name: its name and port, the backup $file for F.
sub for_cluster
{
	my ($text, $name, $file) = @_;
	my $port = $clusters{$name};
	$text =~ s/\b15 main\b/15 $name/g;
	$text =~ s{/15/main/}{/15/$name/}g;
	$text =~ s/\b5432\b/$port/g;
	$text =~ s/\bF\b/$file/g if defined $file;
	return $text;
}

# Run shell text as root (or as postgres with its HOME when $as_postgres),
# in $scratch; returns (exit status, output).
sub run_sh
{
	my ($text, $as_postgres, %env) = @_;
	my $script = "$scratch/script.sh";
	open(my $fh, '>', $script) or die;
	print $fh "set -euo pipefail\n"
	  . "command -v sudo >/dev/null || sudo() { [ \"\$1\" = -u ] || return 1; local u=\$2; shift 2; runuser -u \"\$u\" -- \"\$@\"; }\n"
	  . "cd $scratch\n$text";
	close($fh);
	chmod(0755, $script);
	my @env = map { "$_=$env{$_}" } sort keys %env;
	my @cmd = $as_postgres
	  ? ('runuser', '-u', 'postgres', '--', 'env', "HOME=$postgres_home", @env, 'bash', $script)
	  : ('env', @env, 'bash', $script);
	my $out = `@{[ join ' ', map { "'$_'" } @cmd ]} 2>&1`;
	return ($? >> 8, $out);
}

# psql as postgres on cluster $name, database $db; returns the output.
sub psql
{
	my ($name, $db, $sql) = @_;
	my ($status, $out) = run_sh(
		"psql -X -q -At -v ON_ERROR_STOP=1 -h $socket -p $clusters{$name} -d $db <<'PROTECH_SQL'\n$sql\nPROTECH_SQL\n",
		1);
	die "psql on $name/$db failed: $out" if $status;
	chomp $out;
	return $out;
}

# Poll $sql on $name/$db until it returns 't' (up to $seconds).
sub poll
{
	my ($name, $db, $sql, $seconds) = @_;
	for (1 .. $seconds * 2)
	{
		return 1 if (eval { psql($name, $db, $sql) } // '') eq 't';
		select(undef, undef, undef, 0.5);
	}
	return 0;
}

sub free_port
{
	my %used = map { (split)[2] => 1 } grep { /^\d/ } `pg_lsclusters -h`;
	for (1 .. 50)
	{
		my $port = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
			LocalPort => 0)->sockport;
		return $port if $port < 65000 && !$used{$port};
	}
	die 'no free port';
}

sub append_conf
{
	my ($name, $text) = @_;
	open(my $fh, '>>', "/etc/postgresql/$version/$name/postgresql.conf") or die;
	print $fh $text;
	close($fh);
}

# --- two clusters with default settings, the quick start on each ---------
my @names = map { "pbt${_}_$$" } ('a', 'b');
for my $name (@names)
{
	my $port = free_port();
	$clusters{$name} = $port;
	is(system("pg_createcluster -p $port $version $name >/dev/null"), 0,
		"pg_createcluster $version $name on port $port");
	system("pg_ctlcluster $version $name start");
	append_conf($name, recipe('quickstart-conf'));
	my ($status, $out) = run_sh(for_cluster(recipe('quickstart-sh'), $name));
	is($status, 0, "$name: the quick start's commands") or diag($out);
	ok(defined eval { psql($name, 'app', recipe('quickstart-sql')) },
		"$name: the quick start's SQL") or diag($@);
	my $dir = "/var/lib/postgresql/$version/protech_backup_$name";
	is(psql($name, 'app', 'SHOW protech_backup.directory'), $dir,
		"$name: SHOW protech_backup.directory names the per-cluster folder");
	my $file = psql($name, 'app',
		'SELECT file_name FROM protech_backup_list() ORDER BY started_at DESC LIMIT 1');
	ok(-f "$dir/$file", "$name: the backup is in it");
}
my ($a, $b) = @names;

# --- neither cluster sees or deletes the other's backups ------------------
psql($a, 'app', 'CREATE TABLE precious AS SELECT g FROM generate_series(1, 1000) g');
psql($a, 'app', 'SELECT protech_backup_now()') for 1 .. 2;
my $a_files = psql($a, 'app', 'SELECT string_agg(file_name, \',\' ORDER BY file_name) FROM protech_backup_list()');
my %a_files = map { $_ => 1 } split /,/, $a_files;
is(psql($b, 'app', 'SELECT count(*) FROM protech_backup_list()'),
	'1', "$b lists only its own backup");
# (the two clusters may have backups of the same names, taken in the same
# second: what b lists and plans is compared with what is in b's folder)
my $b_dir = psql($b, 'postgres', 'SHOW protech_backup.directory');
is( psql($b, 'app',
		'SELECT count(*) FROM protech_backup_cleanup(dry_run => true)'),
	scalar(grep { /\.json$/ } glob("$b_dir/*")),
	"$b plans only for the backups in its own folder");
psql($b, 'app', "ALTER SYSTEM SET protech_backup.retention_count = 1; SELECT pg_reload_conf()");
poll($b, 'app', "SELECT current_setting('protech_backup.retention_count') = '1'", 10);
psql($b, 'app', 'SELECT protech_backup_now()') for 1 .. 2;
is(psql($b, 'app', 'SELECT count(*) FROM protech_backup_list()'),
	'1', "$b rotated its own backups down to 1");
is(psql($a, 'app', 'SELECT string_agg(file_name, \',\' ORDER BY file_name) FROM protech_backup_list()'),
	$a_files, "$a\'s backups are all still there");

# --- pg_cron, as the README says ----------------------------------------
append_conf($a, recipe('pg_cron-conf'));
system("pg_ctlcluster $version $a restart");
(my $cron = for_cluster(recipe('pg_cron-sql'), $a)) =~ s/'0 16 \* \* \*'/'* * * * *'/;
my ($status, $out) = run_sh($cron, 1);
is($status, 0, 'the pg_cron recipe runs') or diag($out);
ok( poll($a, 'postgres',
		"SELECT count(*) > 0 FROM cron.job_run_details WHERE status = 'succeeded'", 130),
	'pg_cron ran the job in app');
is( psql($a, 'app',
		"SELECT count(*) > 0 FROM protech_backup_history WHERE status = 'succeeded' AND started_at > now() - interval '3 minutes' AND trigger = 'manual'"),
	't', 'and it took a backup');
psql($a, 'postgres', "SELECT cron.unschedule('protech-nightly')");

# --- rclone under pg_ctlcluster ---------------------------------------------
my $rclone_conf = "$postgres_home/.config/rclone/rclone.conf";
my $saved_conf = -e $rclone_conf ? "$rclone_conf.protech_backup_test" : undef;
rename($rclone_conf, $saved_conf) if $saved_conf;
my $remote = "$scratch/remote";
system('install', '-d', '-o', 'postgres', '-m', '700', $remote, "$postgres_home/.config",
	"$postgres_home/.config/rclone");
open(my $fh, '>', $rclone_conf) or die;
print $fh "[backup-remote]\ntype = alias\nremote = $remote\n";
close($fh);
system('chown', 'postgres:', $rclone_conf);
append_conf($a, recipe('rclone-conf'));
system("pg_ctlcluster $version $a reload");
poll($a, 'app', "SELECT current_setting('protech_backup.post_backup_command') LIKE 'rclone%'", 10);
unlike(`cat /proc/\$(head -1 /var/lib/postgresql/$version/$a/postmaster.pid)/environ | tr '\\0' '\\n'`,
	qr/^(?:HOME|PATH)=/m, 'the server runs without HOME and PATH, as pg_ctlcluster starts it');
my $copied = psql($a, 'app', 'SELECT file_name FROM protech_backup_now()');
is( psql($a, 'app',
		'SELECT post_backup_status FROM protech_backup_history ORDER BY run_id DESC LIMIT 1'),
	'succeeded', 'the rclone command succeeded');
ok(-f "$remote/my-bucket/protech/$_", "the remote has $_")
  for ($copied, "$copied.globals.sql", "$copied.database.sql", "$copied.json");
($status, $out) = run_sh(for_cluster(recipe('rclone-check'), $a), 1);
is($status, 0, 'the rclone check lines pass') or diag($out);
like($out, qr/^= \Q$copied\E$/m, 'and name the copy as matching');
unlink($rclone_conf);
rename($saved_conf, $rclone_conf) if $saved_conf;

# --- download as root, with the download role ---------------------------
($status, $out) = run_sh(for_cluster(recipe('download-role'), $a), 1);
is($status, 0, 'the download role recipe') or diag($out);
my $hba = "/etc/postgresql/$version/$a/pg_hba.conf";
my $hba_text = `cat $hba`;
open($fh, '>', $hba) or die;
print $fh recipe('download-hba') . $hba_text;
close($fh);
system("pg_ctlcluster $version $a reload");
# libpq reads root's ~/.pgpass from the passwd entry, not $HOME: keep one
# that exists and put it back afterwards
my $pgpass = (getpwuid(0))[7] . '/.pgpass';
my $saved_pgpass = -e $pgpass ? "$pgpass.protech_backup_test" : undef;
rename($pgpass, $saved_pgpass) if $saved_pgpass;
($status, $out) = run_sh(for_cluster(recipe('download-run'), $a, $copied), 0,
	HOME => (getpwuid(0))[7]);
unlink($pgpass);
rename($saved_pgpass, $pgpass) if $saved_pgpass;
is($status, 0, 'root downloads with the recipe') or diag($out);
is(sprintf('%04o', (stat("$scratch/$copied"))[2] & 07777),
	'0600', 'the downloaded file has mode 0600');
my ($sha) = split / /, `sha256sum $scratch/$copied`;
is($sha, psql($a, 'app', "SELECT sha256 FROM protech_backup_list() WHERE file_name = '$copied'"),
	'and the manifest\'s SHA-256');

# --- the restore runbook --------------------------------------------------
for my $step ('runbook-choose', 'runbook-verify', 'runbook-restore')
{
	($status, $out) = run_sh(for_cluster(recipe($step), $a, $copied), 1);
	is($status, 0, "$step") or diag($out);
}
like($out, qr/app_restored/, 'the restore names the new database');
# a session of the application and a pg_cron job stay on app during the swap
my $cron_job = psql($a, 'postgres',
	"SELECT cron.schedule_in_database('busy', '* * * * *', 'SELECT pg_sleep(50)', 'app')");
system("runuser -u postgres -- psql -X -h $socket -p $clusters{$a} -d app -c 'SELECT pg_sleep(600)' >/dev/null 2>&1 &");
poll($a, 'postgres',
	"SELECT count(*) > 0 FROM pg_stat_activity WHERE datname = 'app' AND query LIKE '%pg_sleep(600)%'", 10);
($status, $out) = run_sh(for_cluster(recipe('runbook-swap'), $a), 1);
is($status, 0, 'the swap step, with the scheduler and other sessions on app') or diag($out);
psql($a, 'postgres', "SELECT cron.unschedule('busy')");
is(psql($a, 'app', 'SELECT count(*) FROM precious'), '1000', 'app is the restored database');
ok( poll($a, 'app',
		'SELECT worker_pid IS NOT NULL FROM protech_backup_status()', 30),
	'the scheduler is back on app');

# a new server: cluster b, without an app database nor a's roles, with the
# runbook's postgresql.conf lines, gets a's four backup files
psql($b, 'postgres', 'DROP DATABASE app WITH (FORCE)');
append_conf($b, recipe('runbook-new-server-conf'));
system("pg_ctlcluster $version $b restart");
my @four = ($copied, "$copied.json", "$copied.globals.sql", "$copied.database.sql");
for my $f (@four)
{
	system('install', '-o', 'postgres', '-m', '600',
		"/var/lib/postgresql/$version/protech_backup_$a/$f", "$b_dir/$f");
}
($status, $out) = run_sh(for_cluster(recipe('runbook-new-server'), $b, $copied), 1);
is($status, 0, 'the new-server step') or diag($out);
is(psql($b, 'app', 'SELECT count(*) FROM precious'), '1000', 'the new server has app');
like($out, qr/existed already: left as it is/, 'the roles b has are left as they are, and named');

# by hand, without the extension's functions, in a folder holding the files
system('cp', map({ "$b_dir/$_" } @four), $scratch);
system('chown', 'postgres:', map { "$scratch/$_" } @four);
($status, $out) = run_sh(for_cluster(recipe('runbook-by-hand'), $b, $copied), 1);
is($status, 0, 'the by-hand restore') or diag($out);
is(psql($b, 'app_restored', 'SELECT count(*) FROM precious'), '1000', 'restores the data');

# --- a database holding pg_cron itself verifies by restore ---------------
# cron.database_name = 'app': pg_cron created in app, a job in cron.job; the
# backup verifies by restore and restores into another name, pg_cron left
# out and said so, the data there
append_conf($a, "cron.database_name = 'app'\n");
system("pg_ctlcluster $version $a restart");
psql($a, 'app', 'CREATE EXTENSION pg_cron');
psql($a, 'app', "SELECT cron.schedule('nightly-vacuum', '0 3 * * *', 'VACUUM')");
my $with_cron = psql($a, 'app', 'SELECT file_name FROM protech_backup_now()');
is( psql($a, 'app',
		"SELECT checksum_ok, restored, detail FROM protech_backup_verify('$with_cron', restore => true)"),
	't|t|extension pg_cron left out: it can live only in database app; '
	  . 'schema cron left out with its objects and their data: a left-out extension created it',
	'a database holding pg_cron verifies by restore, pg_cron left out and said so');
is( psql($a, 'app',
		"SELECT notes[1] FROM protech_backup_restore('$with_cron', 'app_with_cron')"),
	'extension pg_cron left out: it can live only in database app',
	'and restores into another name, with the note');
is( psql($a, 'app_with_cron',
		"SELECT (SELECT count(*) FROM precious), (SELECT count(*) FROM pg_namespace WHERE nspname = 'cron')"),
	'1000|0', 'the restored database has the data, not pg_cron');

done_testing();
