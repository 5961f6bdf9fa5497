# ProtechBackupTest: what the TAP tests of protech_backup share.
#
# A node with the extension preloaded and its backup directory under the
# node's base directory; the domain verbs the tests are written in
# (backup_now, backup_fails, listed_backups, background_call,
# start_blocked_backup); a fake pg_dump for fault tests, the stored-backup
# check, and small file and process helpers.  Tests run from the top of the
# source tree (prove is started there), so fixtures are found by relative
# path.
package ProtechBackupTest;

use strict;
use warnings;

use Cwd;
use Digest::SHA;
use Exporter 'import';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

our @EXPORT = qw(new_backup_node backup_now backup_fails listed_backups
  background_call start_blocked_backup scratch_databases user_tables_and_rows
  backup_files partial_files sha256_of
  fake_pg_dump reload_and_wait wait_until process_alive child_pids
  schema_of contents database_properties_of check_stored flip_byte lock_table prepend_hba extension_functions
  harmless_value set_io_faults fired_io_faults join_pipeline);

# A started node preloading protech_backup, with the extension created in
# database 'app' (protech_backup.database) and extra postgresql.conf lines;
# initdb gets the options of $opts{initdb} too, a primary that standbys
# stream from $opts{allows_streaming}, and $opts{directory} is the backup
# directory when it is not the node's own.  The node runs with
# fsync = on (PostgreSQL::Test::Cluster turns it off), so that the
# extension's fsyncs are real and the durability tests see them.  With
# $opts{io_faults} its server runs with the I/O fault shim (see
# set_io_faults) preloaded, in every process it starts.
sub new_backup_node
{
	my ($name, %opts) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	my $dir = $opts{directory} // $node->basedir . '/backups';

	$node->init(
		extra => $opts{initdb} // [],
		allows_streaming => $opts{allows_streaming} // 0);
	$node->append_conf('postgresql.conf',
		    "shared_preload_libraries = '"
		  . ($opts{preload} // 'protech_backup') . "'\n"
		  . "fsync = on\n"
		  . "protech_backup.database = 'app'\n"
		  . "protech_backup.directory = '$dir'\n"
		  . "protech_backup.schedule = ''\n"
		  . ($opts{conf} // ''));
	if ($opts{io_faults})
	{
		$node->{io_fault_control} = $node->basedir . '/io_faults';
		local $ENV{LD_PRELOAD} = io_fault_shim();
		local $ENV{PROTECH_BACKUP_IOFAULT} = $node->{io_fault_control};
		$node->start;
	}
	else
	{
		$node->start;
	}
	$node->safe_psql('postgres', 'CREATE DATABASE app');
	$node->safe_psql('app', slurp_file('test/fixtures/many_kinds.sql'))
	  if $opts{fixture};
	$node->safe_psql('app', 'CREATE EXTENSION protech_backup')
	  unless $opts{no_extension};
	$node->{protech_backup_dir} = $dir;
	return $node;
}

# Take a backup now in database $db ('app' unless given); returns its file
# name.
sub backup_now
{
	my ($node, $db) = @_;
	return $node->safe_psql($db // 'app',
		'SELECT file_name FROM protech_backup_now()');
}

# Expect a backup (the SQL of $opts{sql}, protech_backup_now() with
# verbose errors unless given) in database $opts{db} ('app') to fail with
# $sqlstate and a message matching $pattern, leaving the backup directory
# exactly as it was (or as the list $opts{before} of its files says).
# Returns what psql printed on standard error.
sub backup_fails
{
	my ($node, $sqlstate, $pattern, $name, %opts) = @_;
	my @before = $opts{before} ? @{ $opts{before} } : backup_files($node);
	my ($ret, $out, $err) = $node->psql($opts{db} // 'app',
		$opts{sql} // "\\set VERBOSITY verbose\nSELECT * FROM protech_backup_now()");
	isnt($ret, 0, "$name: fails");
	like($err, qr/ERROR:  $sqlstate: /, "$name: SQLSTATE $sqlstate");
	like($err, $pattern, "$name: says what failed");
	is_deeply([ backup_files($node) ], \@before,
		"$name: no file written, none touched");
	return $err;
}

# The file names protech_backup_list() shows in database $db ('app'),
# newest first.
sub listed_backups
{
	my ($node, $db) = @_;
	return split /\n/, $node->safe_psql($db // 'app',
		'SELECT file_name FROM protech_backup_list()');
}

# Start $sql in a session of its own on database $db, without waiting for
# it to end, and return the session: the idiom of every test that acts
# while a call runs.  The session goes on after an error unless
# $opts{on_error_stop} says otherwise (then an unexpected error ends it, and
# the test's next query on it fails).  $bg->query waits for the call's end;
# its error is then in $bg->{stderr}.
sub background_call
{
	my ($node, $db, $sql, %opts) = @_;
	my $bg = $node->background_psql($db,
		on_error_stop => $opts{on_error_stop} // 0);
	$bg->query_until(qr/started/, "\\echo started\n$sql;\n");
	return $bg;
}

# Start a manual backup (with verbose errors) in a background session while
# a table it dumps is locked, and wait until pg_dump waits for that lock.
# Returns the session, the backup worker's pid, pg_dump's pid and that of
# its backend.
sub start_blocked_backup
{
	my ($node) = @_;
	my $bg = background_call($node, 'app',
		"\\set VERBOSITY verbose\nSELECT file_name FROM protech_backup_now()");
	$node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'protech_backup' AND wait_event_type = 'Lock'"
	) or die 'pg_dump did not start waiting for the lock';
	my $backend = $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE application_name = 'protech_backup'");
	my $worker = $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'protech_backup backup'");
	my ($pg_dump) = child_pids($worker);
	return ($bg, $worker, $pg_dump, $backend);
}

# How many scratch databases of verifications exist on the node.
sub scratch_databases
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_database WHERE datname LIKE 'protech\\_backup\\_verify\\_%'"
	);
}

# The number of user tables of database $db (of the fixture's schemas
# public and sales) and of their rows, counted here independently of the
# extension.
sub user_tables_and_rows
{
	my ($node, $db) = @_;
	my @tables = split /\n/, $node->safe_psql($db, q{
	SELECT c.oid::regclass FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	WHERE c.relkind IN ('r', 'p') AND n.nspname IN ('public', 'sales')
	  AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
					  AND d.objid = c.oid AND d.deptype = 'e')});
	my $rows = 0;
	$rows += $node->safe_psql($db, "SELECT count(*) FROM ONLY $_") for @tables;
	return (scalar(@tables), $rows);
}

# Sorted names of the files in the node's backup directory, less its lock
# file (protech_backup.lock), which every writer opens and never removes.
sub backup_files
{
	my ($node) = @_;
	my $dir = $node->{protech_backup_dir};
	opendir(my $dh, $dir) or return ();
	my @files = sort grep { !/^\.\.?$/ && $_ ne 'protech_backup.lock' } readdir($dh);
	closedir($dh);
	return @files;
}

# The ".partial" files and folders in the node's backup directory.
sub partial_files
{
	my ($node) = @_;
	return grep { /\.partial$/ } backup_files($node);
}

sub sha256_of
{
	my ($path) = @_;
	return Digest::SHA->new(256)->addfile($path, 'b')->hexdigest;
}

# Write an executable script standing in for pg_dump: it answers --version
# like the real one, writes its pid to $path.pid, then runs $body (shell).
sub fake_pg_dump
{
	my ($node, $name, $body) = @_;
	my $path = $node->basedir . "/$name";
	open(my $fh, '>', $path) or die "could not write $path: $!";
	print $fh <<"EOS";
#!/bin/sh
if [ "\$1" = "--version" ]; then echo "pg_dump (PostgreSQL) 15.99 (fake)"; exit 0; fi
echo \$\$ > $path.pid
$body
EOS
	close($fh);
	chmod(0755, $path) or die "could not chmod $path: $!";
	return $path;
}

# Set postgresql.conf values, reload, and wait until new sessions see them.
# Single quotes in values are doubled, as both files and SQL want them.
sub reload_and_wait
{
	my ($node, %settings) = @_;
	my @checks;
	while (my ($k, $v) = each %settings)
	{
		(my $quoted = $v) =~ s/'/''/g;
		$node->append_conf('postgresql.conf', "$k = '$quoted'\n");
		push @checks, "current_setting('$k') = '$quoted'";
	}
	$node->reload;
	$node->poll_query_until('postgres', 'SELECT ' . join(' AND ', @checks))
	  or die "settings did not take effect";
	return;
}

# Poll $check (a sub) every 100 ms until it returns true; dies after the
# test suite's default timeout, naming $what.
sub wait_until
{
	my ($check, $what) = @_;
	my $tries = 10 * $PostgreSQL::Test::Utils::timeout_default;
	while ($tries-- > 0)
	{
		return 1 if $check->();
		usleep(100_000);
	}
	die "timed out waiting for $what";
}

# IPC::Run's arguments for a pipeline of commands.
sub join_pipeline
{
	my ($cmds) = @_;
	my @args = ($cmds->[0]);
	push @args, '|', $_ for @{$cmds}[ 1 .. $#$cmds ];
	return \@args;
}

# Whether the process with that pid still exists: running, or a zombie
# (state Z in /proc/PID/stat), which its parent has not reaped yet.  A
# process is gone only once reaped: a test that a child was killed must
# not pass while the process that started it leaves it a zombie.
sub process_alive
{
	my ($pid) = @_;
	return -e "/proc/$pid/stat";
}

# The pids of the children of process $pid, from /proc, zombies included
# (a child that exited and was not reaped is still its child).
sub child_pids
{
	my ($pid) = @_;
	my @children;
	opendir(my $dh, '/proc') or die "could not read /proc: $!";
	for my $p (grep { /^\d+$/ } readdir($dh))
	{
		open(my $fh, '<', "/proc/$p/stat") or next;
		my $stat = <$fh>;
		close($fh);
		push @children, $p if $stat =~ /^\d+ \(.*\) \S (\d+) / && $1 == $pid;
	}
	closedir($dh);
	return @children;
}

# The I/O fault shim (test/iofault/iofault.c), built on first use into the
# tests' tmp_check directory; returns the path of the library.
sub io_fault_shim
{
	my $shim = "$PostgreSQL::Test::Utils::tmp_check/iofault.so";
	return $shim if -f $shim;
	my ($ret, $out, $err) = (0, '', '');
	my @cc = ($ENV{CC} // 'cc', '-shared', '-fPIC', '-O2', '-Wall', '-Wextra', '-Werror',
		'-o', "$shim.tmp", 'test/iofault/iofault.c', '-ldl');
	system(@cc) == 0 or die "could not build the I/O fault shim: @cc";
	rename("$shim.tmp", $shim) or die "could not rename $shim.tmp: $!";
	return $shim;
}

# Give the I/O fault shim of a node started with io_faults its rules, one
# line each (see test/iofault/iofault.c: "fail CALL ERRNO N[+] PATTERN
# [PROGRAM]", "trace FILE PATTERN"); none removes every rule.  Forgets the
# faults fired so far.  Every process of the server sees the new rules at
# its next open, rename or unlink.
sub set_io_faults
{
	my ($node, @rules) = @_;
	my $control = $node->{io_fault_control} or die 'node was not started with io_faults';
	unlink("$control.fired");
	open(my $fh, '>', "$control.tmp") or die "could not write $control.tmp: $!";
	print $fh map { "$_\n" } @rules;
	close($fh);
	rename("$control.tmp", $control) or die "could not rename $control.tmp: $!";
	return;
}

# The faults the shim injected since set_io_faults, one line each: "pid
# program call errno path".
sub fired_io_faults
{
	my ($node) = @_;
	my $fired = "$node->{io_fault_control}.fired";
	return () unless -f $fired;
	return split /\n/, slurp_file($fired);
}

# A session of its own, returned, holding ACCESS EXCLUSIVE on $table in
# database $db until it commits: pg_dump then waits for the lock.
sub lock_table
{
	my ($node, $db, $table) = @_;
	my $locker = $node->background_psql($db);
	$locker->query_safe("BEGIN; LOCK TABLE $table IN ACCESS EXCLUSIVE MODE;");
	return $locker;
}

# Put $line first in the node's pg_hba.conf (takes effect on reload).
sub prepend_hba
{
	my ($node, $line) = @_;
	my $hba = $node->data_dir . '/pg_hba.conf';
	my $lines = slurp_file($hba);
	open(my $fh, '>', $hba) or die "could not write $hba: $!";
	print $fh "$line\n$lines";
	close($fh);
	return;
}

# Damage the file at $path: flip the bits of its byte at $offset.
sub flip_byte
{
	my ($path, $offset) = @_;
	open(my $fh, '+<:raw', $path) or die "could not open $path: $!";
	seek($fh, $offset, 0);
	read($fh, my $byte, 1);
	seek($fh, $offset, 0);
	print $fh chr(ord($byte) ^ 0x55);
	close($fh);
	return;
}

# 'ok' when protech_backup_verify() reads backup $file back as its
# manifest records, otherwise what differs.
sub check_stored
{
	my ($node, $file) = @_;
	return $node->safe_psql('app',
		"SELECT CASE WHEN checksum_ok THEN 'ok' ELSE detail END FROM protech_backup_verify('$file')"
	);
}

# The functions of the extension in database $db, each a hash: proc (its
# name, unqualified also when it is overloaded: a call resolves the
# overload by its arguments), retset and strict (booleans), types and names (array refs, of its
# input arguments, the names '' where there is none).
sub extension_functions
{
	my ($node, $db) = @_;
	my @functions;
	for (split /\n/, $node->safe_psql($db, q{
		SELECT p.proname, p.proretset, p.proisstrict,
			   array_to_string(p.proargtypes::regtype[], ','),
			   (SELECT string_agg(coalesce(a.name, ''), ',' ORDER BY a.i)
				FROM unnest(p.proargnames, p.proargmodes) WITH ORDINALITY AS a(name, mode, i)
				WHERE a.mode IS NULL OR a.mode IN ('i', 'b', 'v'))
		FROM pg_proc p
		JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
			AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
		JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'protech_backup'
		ORDER BY 1}))
	{
		my ($proc, $retset, $strict, $types, $names) = split /\|/, $_, -1;
		my @types = split /,/, $types;
		my @names = split /,/, $names, -1;
		push @functions, {
			proc => $proc,
			retset => $retset eq 't',
			strict => $strict eq 't',
			types => \@types,
			names => [ map { $names[$_] // '' } 0 .. $#types ],
		};
	}
	return @functions;
}

# A harmless value, as SQL, for an argument of type $type named $name;
# $file names an existing backup.
sub harmless_value
{
	my ($type, $name, $file) = @_;
	return
	    $type =~ /\[\]$/ ? "'{}'"
	  : $type eq 'boolean' ? 'true'
	  : $type =~ /^timestamp/ ? 'now()'
	  : $type =~ /int/ ? '0'
	  : $name =~ /schedule/ ? "'0 0 * * *'"
	  : $name =~ /zone/ ? "'UTC'"
	  : $type eq 'name' ? "'protech_backup_bad_input_target'"
	  : "'$file'";
}

# The schema of database $db as pg_dump --schema-only prints it, less the
# \restrict/\unrestrict lines that pg_dump 15.14 and later fence each dump
# with: they carry a random key, the only lines that differ between runs.
sub schema_of
{
	my ($node, $db) = @_;
	my ($schema) = run_command(
		[ 'pg_dump', '--schema-only', '-d', $node->connstr($db) ]);
	$schema =~ s/^\\(?:un)?restrict .*$//mg;
	return $schema;
}

# What database $db of $node carries at its own level (what pg_dump writes
# only with --create), as one comparable text: owner, comment, ACL,
# connection limit, ALLOW_CONNECTIONS, IS_TEMPLATE, and its ALTER DATABASE
# and ALTER ROLE ... IN DATABASE settings.
sub database_properties_of
{
	my ($node, $db) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT pg_get_userbyid(d.datdba), shobj_description(d.oid, 'pg_database'),
			d.datacl, d.datconnlimit, d.datallowconn, d.datistemplate,
			(SELECT string_agg(coalesce(pg_get_userbyid(nullif(s.setrole, 0)), '-')
				|| ':' || array_to_string(s.setconfig, '|'), ' '
				ORDER BY pg_get_userbyid(nullif(s.setrole, 0)) NULLS FIRST)
			 FROM pg_db_role_setting s WHERE s.setdatabase = d.oid)
		FROM pg_database d WHERE d.datname = '$db'});
}

# The rows of every table and materialized view and the positions of the
# sequences of database $db, by relation name (log_cnt, how far a sequence
# has WAL-logged ahead, is not its state); the extension's own tables (its
# run history) are not part of a dump.
sub contents
{
	my ($node, $db) = @_;
	my %contents;
	for (split /\n/, $node->safe_psql($db, q{
		SELECT c.relkind::text || ' ' || c.oid::regclass
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'm', 'S') AND n.nspname IN ('public', 'sales')
		  AND NOT EXISTS (SELECT FROM pg_depend d
			WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
			  AND d.deptype = 'e')}))
	{
		my ($kind, $rel) = split / /, $_, 2;
		$contents{$rel} = $node->safe_psql($db,
			$kind eq 'S'
			? "SELECT last_value, is_called FROM $rel"
			: "SELECT count(*), md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) FROM $rel t"
		);
	}
	return \%contents;
}

1;
