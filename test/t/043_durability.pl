# Durability, seen from the outside: with fsync = on (new_backup_node sets
# it), the system calls of the server are traced while backups of each
# format are taken, verified and rotated, and the trace must show for every
# dump, globals file and manifest (the rewrite of a verification too) an
# fsync of its ".partial" before its rename, and an fsync of the backup
# directory after the rename, before the next file is renamed; for a
# directory-format dump an fsync of every file in its folder and of the
# folder before the folder is renamed; and for a retention delete the
# manifest removed, the directory synced, and only then the dump removed.
#
# The tracer is strace, attached to the postmaster and following its forks
# (the backup workers).  Where ptrace is not allowed (or with
# PROTECH_BACKUP_TRACER=shim), the I/O fault shim's trace of the same calls
# is read instead (the node runs with it preloaded).
use strict;
use warnings;

use lib 'test/lib';
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use ProtechBackupTest;
use Test::More;

my $node = new_backup_node('durability', io_faults => 1,
	conf => "protech_backup.retention_count = 0\n");
my $dir = $node->{protech_backup_dir};
is($node->safe_psql('app', 'SHOW fsync'), 'on', 'the server runs with fsync = on');
$node->safe_psql('app',
	'CREATE TABLE t AS SELECT g AS id, md5(g::text) AS payload FROM generate_series(1, 5000) AS g'
);
# the directory exists before tracing starts
$node->safe_psql('app', 'SELECT count(*) FROM protech_backup_now()');

# Run $action (a sub) with the server's calls traced; return them in order,
# each [pid, call, path, new path (rename only)], for paths in the backup
# directory.
sub traced
{
	my ($action) = @_;
	my $log = $node->basedir . '/trace.' . int(rand(1e9));
	my ($out, $err) = ('', 'PROTECH_BACKUP_TRACER=shim');
	my $strace;
	my $attached = ($ENV{PROTECH_BACKUP_TRACER} // '') ne 'shim' && eval {
		$err = '';
		$strace = IPC::Run::start(
			[
				'strace', '-f', '-y', '-o', $log, '-e',
				'trace=fsync,fdatasync,rename,renameat,renameat2,unlink,unlinkat',
				'-p', $node->{_pid}
			],
			'>', \$out, '2>', \$err);
		wait_until(sub { $strace->pump_nb; $err =~ /attached/ || !$strace->pumpable },
			'strace to attach');
		$err =~ /attached/;
	};
	my @events;
	if ($attached)
	{
		$action->();
		$strace->signal('INT');
		$strace->finish;
		@events = strace_events($log);
	}
	else
	{
		diag("no strace trace ($err): reading the I/O fault shim's trace instead");
		eval { $strace->kill_kill } if $strace;
		set_io_faults($node, "trace $log $dir*");
		$action->();
		set_io_faults($node);
		@events = shim_events($log);
	}
	return grep { index($_->[2], $dir) == 0 } @events;
}

# strace -f -y lines: "PID fsync(FD</path>" ..., "PID rename("old", "new"" ...
sub strace_events
{
	my ($log) = @_;
	my @events;
	for (split /\n/, slurp_file($log))
	{
		if (/^(\d+)\s+(fsync|fdatasync)\(\d+<([^>]*)>/)
		{
			push @events, [ $1, 'fsync', $3 ];
		}
		elsif (/^(\d+)\s+rename\("([^"]*)", "([^"]*)"/
			|| /^(\d+)\s+renameat2?\(AT_FDCWD, "([^"]*)", AT_FDCWD, "([^"]*)"/)
		{
			push @events, [ $1, 'rename', $2, $3 ];
		}
		elsif (/^(\d+)\s+unlink\("([^"]*)"/ || /^(\d+)\s+unlinkat\(AT_FDCWD, "([^"]*)"/)
		{
			push @events, [ $1, 'unlink', $2 ];
		}
	}
	return @events;
}

# The index of the first event from $from on that $match (a sub) accepts,
# or -1.
sub find_event
{
	my ($events, $from, $match) = @_;
	for my $i ($from .. $#$events)
	{
		return $i if $match->($events->[$i]);
	}
	return -1;
}

# Check that the file (or folder) $final was renamed from its ".partial"
# durably: synced before, the directory synced after, before the next
# rename.  Returns the index of its rename.
sub check_durable_rename
{
	my ($events, $final, $what) = @_;
	my $partial = "$final.partial";
	my $rename = find_event($events, 0,
		sub { $_[0][1] eq 'rename' && $_[0][2] eq $partial && $_[0][3] eq $final });
	ok($rename >= 0, "$what: renamed from its .partial") or return -1;
	my @before = grep { $events->[$_][1] eq 'fsync' && $events->[$_][2] eq $partial }
	  0 .. $rename - 1;
	ok(@before > 0, "$what: fsynced before its rename");
	my $next_rename = find_event($events, $rename + 1, sub { $_[0][1] eq 'rename' });
	$next_rename = scalar(@$events) if $next_rename < 0;
	my @after = grep { $events->[$_][1] eq 'fsync' && $events->[$_][2] eq $dir }
	  $rename + 1 .. $next_rename - 1;
	ok(@after > 0, "$what: the directory is fsynced after its rename, before the next one");
	return $rename;
}

for my $format ('plain', 'custom', 'directory')
{
	reload_and_wait($node, 'protech_backup.format' => $format);
	my $file;
	my @events = traced(
		sub { $file = $node->safe_psql('app', 'SELECT file_name FROM protech_backup_now()') });
	ok(@events > 0, "$format: the trace shows the backup's calls");
	if ($format eq 'directory')
	{
		my $rename = check_durable_rename(\@events, "$dir/$file", "$format: the dump folder");
		my @files = sort map { s{.*/}{}r } glob("$dir/$file/*");
		ok(@files > 1, "$format: the folder holds files");
		for my $name (@files)
		{
			my $synced = find_event(\@events, 0,
				sub { $_[0][1] eq 'fsync' && $_[0][2] eq "$dir/$file.partial/$name" });
			ok($synced >= 0 && $synced < $rename,
				"$format: $name is fsynced in the folder before it is renamed");
		}
		my $folder = find_event(\@events, 0,
			sub { $_[0][1] eq 'fsync' && $_[0][2] eq "$dir/$file.partial" });
		ok($folder >= 0 && $folder < $rename,
			"$format: the folder itself is fsynced before it is renamed");
	}
	else
	{
		check_durable_rename(\@events, "$dir/$file", "$format: the dump");
	}
	check_durable_rename(\@events, "$dir/$file.globals.sql", "$format: the globals file");
	check_durable_rename(\@events, "$dir/$file.database.sql",
		"$format: the database-level properties file");
	my $manifest = check_durable_rename(\@events, "$dir/$file.json", "$format: the manifest");

	# protech_backup.verify_after_backup (checksum) rewrites the manifest
	my @rewrite = @events[ $manifest + 1 .. $#events ];
	check_durable_rename(\@rewrite, "$dir/$file.json",
		"$format: the manifest rewritten by the verification after the backup");
}

# protech_backup_verify() rewrites the manifest the same way
my $newest = $node->safe_psql('app',
	'SELECT file_name FROM protech_backup_list() ORDER BY started_at DESC LIMIT 1');
my @events = traced(
	sub { $node->safe_psql('app', "SELECT count(*) FROM protech_backup_verify('$newest')") });
check_durable_rename(\@events, "$dir/$newest.json", 'protech_backup_verify(): the manifest');

# Retention: manifest first, the directory synced, then the dump; one
# plain backup is kept, so every older one is deleted
reload_and_wait($node,
	'protech_backup.format' => 'plain',
	'protech_backup.retention_count' => 1);
my @doomed = split /\n/, $node->safe_psql('app', 'SELECT file_name FROM protech_backup_list()');
@events = traced(
	sub { $node->safe_psql('app', 'SELECT count(*) FROM protech_backup_now()') });
is($node->safe_psql('app', 'SELECT count(*) FROM protech_backup_list()'), '1',
	'retention deleted the older backups');
for my $file (@doomed)
{
	my $manifest = find_event(\@events, 0,
		sub { $_[0][1] eq 'unlink' && $_[0][2] eq "$dir/$file.json" });
	ok($manifest >= 0, "retention of $file: its manifest is removed");
	my $synced = find_event(\@events, $manifest + 1,
		sub { $_[0][1] eq 'fsync' && $_[0][2] eq $dir });
	my $dump = find_event(\@events, 0,
		sub { $_[0][1] eq 'unlink' && ($_[0][2] eq "$dir/$file" || index($_[0][2], "$dir/$file/") == 0) });
	ok($synced > $manifest && $dump > $synced,
		"retention of $file: the directory is fsynced after the manifest goes, before the dump goes");
}

done_testing();
