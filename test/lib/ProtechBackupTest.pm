# ProtechBackupTest: what the TAP tests of protech_backup share.
#
# A node with the extension preloaded and its backup directory under the
# node's base directory; the domain verbs the tests are written in
# (backup_now, backup_fails, listed_backups, background_call,
# start_blocked_backup); a fake pg_dump for fault tests, the stored-backup
# check, and small file and process helpers.  Tests run from the top of the
# source tree (prove is started there), so fixtures are found by relative
# path.  The fault tests (04x_faults_*.pl) share the fault() verb and its
# count, which each file prints at its end (faults_summary).
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
  fake_pg_dump fake_pg_dump_pid reload_and_wait wait_until
  process_alive track_process child_pids server_processes_left
  schema_of contents database_properties_of check_stored flip_byte lock_table prepend_hba extension_functions
  harmless_value set_io_faults fired_io_faults shim_events join_pipeline
  new_fault_node fault io_fault backup_error finish_background listed_sha256
  leftover_files faults_summary use_io_directory
  status_of metric_value backup_cluster extension_version psql_restore);

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

# The columns $columns (SQL) of protech_backup_status() in database 'app',
# as psql prints them ("a|b").
sub status_of
{
	my ($node, $columns) = @_;
	return $node->safe_psql('app', "SELECT $columns FROM protech_backup_status()");
}

# The value of metric $name of protech_backup_metrics() in database 'app'.
sub metric_value
{
	my ($node, $name) = @_;
	return $node->safe_psql('app',
		"SELECT value FROM protech_backup_metrics() WHERE name = '$name'");
}

# The cluster listed backup $file records: "system_identifier|timeline".
sub backup_cluster
{
	my ($node, $file) = @_;
	return $node->safe_psql('app',
		"SELECT system_identifier, timeline FROM protech_backup_list() WHERE file_name = '$file'"
	);
}

# The version of the extension installed in database 'app'.
sub extension_version
{
	my ($node) = @_;
	return $node->safe_psql('app',
		"SELECT extversion FROM pg_extension WHERE extname = 'protech_backup'");
}

# Restore the plain dump at $path into a new database $db with psql, as
# the README's runbook does (ON_ERROR_STOP), as test $name.
sub psql_restore
{
	my ($node, $db, $path, $name) = @_;
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->command_ok(
		[
			'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1',
			'-d', $node->connstr($db), '-f', $path
		],
		$name);
	return;
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
cut -d' ' -f22 /proc/\$\$/stat > $path.start
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

# The state, parent pid and start time (in clock ticks after boot) of
# process $pid, from /proc/PID/stat; an empty list when there is none.
sub process_stat
{
	my ($pid) = @_;
	open(my $fh, '<', "/proc/$pid/stat") or return ();
	my $stat = <$fh> // '';
	close($fh);
	# pid (comm) state ppid ... starttime (the 22nd field); comm may hold
	# spaces and parentheses, the last ")" ends it
	$stat =~ /^\d+ \(.*\) (.*)$/s or return ();
	my @fields = split / /, $1;
	return ($fields[0], $fields[1], $fields[19]);
}

# The start times of the processes the tests watch, by pid: the machine
# runs other tests at the same time (other checkouts, other nodes), and a
# pid that one of them gets once ours has exited must not pass for ours.
my %start_time;

# Remember who processes @pids are now (their start times), so that
# process_alive later tells them from a process that reuses their pid;
# returns @pids.  Call it as soon as a pid is learned, while it runs:
# a pid tracked before is from then on this process.
sub track_process
{
	my @pids = @_;
	for my $pid (@pids)
	{
		my (undef, undef, $started) = process_stat($pid);
		$start_time{$pid} = $started if defined $started;
	}
	return wantarray ? @pids : $pids[0];
}

# Whether the process with that pid still exists: running, or a zombie
# (state Z in /proc/PID/stat), which its parent has not reaped yet.  A
# process is gone only once reaped: a test that a child was killed must
# not pass while the process that started it leaves it a zombie.  A pid
# tracked (track_process, child_pids, fake_pg_dump_pid) is alive only
# while it is the same process: a later one with its pid is another
# test's.  An untracked pid is tracked from its first check on.
sub process_alive
{
	my ($pid) = @_;
	my (undef, undef, $started) = process_stat($pid);
	return 0 unless defined $started;
	$start_time{$pid} //= $started;
	return $start_time{$pid} == $started;
}

# The pid of the last process run from fake pg_dump $path (what it wrote
# to $path.pid), tracked with the start time it wrote to $path.start.
sub fake_pg_dump_pid
{
	my ($path) = @_;
	my $pid = slurp_file("$path.pid");
	chomp $pid;
	my $started = slurp_file("$path.start");
	chomp $started;
	$start_time{$pid} = $started;
	return $pid;
}

# The pids of the children of process $pid, from /proc, zombies included
# (a child that exited and was not reaped is still its child); tracked.
sub child_pids
{
	my ($pid) = @_;
	my @children;
	opendir(my $dh, '/proc') or die "could not read /proc: $!";
	for my $p (grep { /^\d+$/ } readdir($dh))
	{
		my (undef, $parent) = process_stat($p);
		push @children, $p if defined $parent && $parent == $pid;
	}
	closedir($dh);
	return track_process(@children);
}

# Whether any process of $node's server is left running: one whose
# working directory is the node's data directory (the postmaster and
# every process it forks, the programs they run included, work there),
# which tells them from the processes of any other node on the machine,
# whatever its name or port.  A zombie has no working directory left:
# check a postmaster's own pid with process_alive.
sub server_processes_left
{
	my ($node) = @_;
	my $data = Cwd::abs_path($node->data_dir);
	opendir(my $dh, '/proc') or die "could not read /proc: $!";
	my @left = grep { /^\d+$/ && (readlink("/proc/$_/cwd") // '') eq $data } readdir($dh);
	closedir($dh);
	return scalar(@left);
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

# The fsync (fdatasync counted as fsync), rename and unlink calls of an I/O
# fault shim's trace file (its "trace" rule), in the order they happened,
# failed ones too: each [pid, call, path, new path (rename only)].
sub shim_events
{
	my ($log) = @_;
	my @events;
	for (split /\n/, slurp_file($log))
	{
		my ($pid, $program, $call, @rest) = split / /;
		next unless $call =~ /^(fsync|fdatasync|rename|unlink)$/;
		$call = 'fsync' if $call eq 'fdatasync';
		pop @rest;
		push @events, [ $pid, $call, @rest ];
	}
	return @events;
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

# A node for fault tests, named $name: the I/O fault shim loaded, crash
# restarts on, no retention, tables t (20000 rows) and locked_tbl (for
# start_blocked_backup) in 'app', and two backups taken; %opts go to
# new_backup_node (conf is added to).
sub new_fault_node
{
	my ($name, %opts) = @_;
	my $node = new_backup_node(
		$name, %opts,
		io_faults => 1,
		conf => "restart_after_crash = on\nprotech_backup.retention_count = 0\n"
		  . ($opts{conf} // ''));
	$node->safe_psql('app', <<'EOS');
CREATE TABLE t AS SELECT g AS id, md5(g::text) AS payload FROM generate_series(1, 20000) AS g;
CREATE TABLE locked_tbl (id int);
EOS
	backup_now($node) for 1 .. 2;
	return $node;
}

# Point the node's backups at a directory of their own, io_backups, with
# retention keeping the newest two, and take two backups there: the I/O
# faults then each find older backups to keep intact without the checks
# reading ever more of them.  Returns the directory and the shim's name
# pattern for the files of a backup in it.
sub use_io_directory
{
	my ($node) = @_;
	my $io_dir = $node->basedir . '/io_backups';
	reload_and_wait($node,
		'protech_backup.directory' => $io_dir,
		'protech_backup.retention_count' => 2);
	$node->{protech_backup_dir} = $io_dir;
	backup_now($node) for 1 .. 2;
	return ($io_dir, "$io_dir/protech_backup_*");
}

# The complete backups of the node's configured directory: name => SHA-256.
sub listed_sha256
{
	my ($node) = @_;
	my %backups = map { split /\|/ }
	  split /\n/,
	  $node->safe_psql('app', 'SELECT file_name, sha256 FROM protech_backup_list()');
	return \%backups;
}

# The files of the backup directory that belong to no listed backup (its
# dump, manifest or globals file), partial files aside.
sub leftover_files
{
	my ($node) = @_;
	my $listed = listed_sha256($node);
	return grep {
		!/\.partial$/ && !exists $listed->{ s/(\.json|\.globals\.sql|\.database\.sql)$//r }
	} backup_files($node);
}

# The faults of this test file: injected, survived (every check of the
# fault passed), lost (an older backup went missing or bad, or a partial
# file or a file of no backup was left).
my ($faults_injected, $faults_survived, $faults_lost) = (0, 0, 0);

sub failed_tests
{
	return scalar grep { !$_ } Test::More->builder->summary;
}

# Inject a fault with $inject (which checks the error it gives), undo its
# cause with $opts{recover}, then check the end state: no partial file,
# no file that belongs to no backup, the backups listed before are all
# still listed with the same SHA-256 and read back as recorded (but those
# named in $opts{deleted}, which it deletes), the history's newest run
# matches $opts{history} (a pattern of its message, status 'failed') when
# given, and the next backup succeeds.
sub fault
{
	my ($node, $name, $inject, %opts) = @_;
	my $before = listed_sha256($node);
	my $failed_before = failed_tests();
	delete @$before{ @{ $opts{deleted} // [] } };

	$faults_injected++;
	$inject->();
	if ($opts{history})
	{
		my ($status, $message) = split /\|/,
		  $node->safe_psql('app',
			'SELECT status, message FROM protech_backup_history ORDER BY run_id DESC LIMIT 1'
		  ), 2;
		is($status, 'failed', "$name: the run is recorded as failed");
		like($message, $opts{history}, "$name: the history says why");
	}
	$opts{recover}->() if $opts{recover};

	my @partials = partial_files($node);
	my @leftovers = leftover_files($node);
	my $after = listed_sha256($node);
	my @gone = grep { ($after->{$_} // '') ne $before->{$_} } sort keys %$before;
	my @bad = grep { check_stored($node, $_) ne 'ok' } sort keys %$before;
	is_deeply(\@partials, [], "$name: no partial file is left");
	is_deeply(\@leftovers, [], "$name: no file that belongs to no backup is left");
	is_deeply([ @gone, @bad ], [], "$name: every older backup is intact");
	my ($ret, $out, $err) =
	  $node->psql('app', 'SELECT file_name FROM protech_backup_now()');
	is($ret, 0, "$name: the next backup succeeds") or diag($err);
	ok(exists listed_sha256($node)->{$out}, "$name: and is listed");

	$faults_lost++ if @partials || @leftovers || @gone || @bad;
	$faults_survived++ if failed_tests() == $failed_before;
	return;
}

# Run protech_backup_now() and return its error (verbose: with SQLSTATE).
sub backup_error
{
	my ($node) = @_;
	my ($ret, $out, $err) = $node->psql('app',
		"\\set VERBOSITY verbose\nSELECT file_name FROM protech_backup_now()");
	isnt($ret, 0, 'the backup fails');
	return $err;
}

# Wait for the statement of a background session to end, and return what
# it printed on standard error.
sub finish_background
{
	my ($bg) = @_;
	$bg->query('SELECT 1');
	my $err = $bg->{stderr};
	$bg->quit;
	return $err;
}

my %errno_text = (
	EIO => qr/58030: .*: Input\/output error/,
	ENOSPC => qr/53100: .*: No space left on device/,
	EACCES => qr/42501: .*: Permission denied/);

# A fault() of the I/O fault shim: its rule "fail $call $errno $nth
# $pattern [$program]" holds during $opts{action} (by default a backup,
# which must fail; it gets the node and returns the error), and the fault
# must have fired and the error match $message and name errno's SQLSTATE
# and words (unless $opts{no_errno}).  Other %opts go to fault().
sub io_fault
{
	my ($node, $name, $rule, $message, %opts) = @_;
	my ($call, $errno) = split / /, $rule;
	my $action = delete $opts{action};
	fault(
		$node, $name,
		sub {
			set_io_faults($node, "fail $rule");
			my $err = $action ? $action->($node) : backup_error($node);
			my @fired = fired_io_faults($node);
			set_io_faults($node);
			ok(scalar(grep { / \Q$call $errno\E / } @fired), "$name: the $call failure was injected")
			  or diag("rule: fail $rule");
			like($err, $message, "$name: the error says what failed");
			like($err, $errno_text{$errno}, "$name: with the SQLSTATE and words of $errno")
			  unless $opts{no_errno};
		},
		history => $opts{history} // ($action ? undef : $message),
		%opts);
	return;
}

# The end of a fault test file: prints "faults: N injected, N survived,
# 0 lost" (doc/tests.md sums the files' lines) and checks that no fault
# was lost and every one survived.
sub faults_summary
{
	diag("faults: $faults_injected injected, $faults_survived survived, $faults_lost lost");
	is($faults_lost, 0, 'no fault lost a backup or leaked a partial file');
	is($faults_survived, $faults_injected, 'every fault left the system in its known state');
	return;
}

1;
