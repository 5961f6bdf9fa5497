# How often one backup run reads the backup directory (opendir): once, at
# its start under the directory's lock, where it removes stale partials
# and lists the backups that the free-space check and retention then work
# from (retention reads their manifests again, by name, to see a
# verification recorded meanwhile), and once more in the size-anomaly
# check, the SQL function protech_backup_size_anomaly() status shares,
# which lists through protech_backup_list() after the directory is given
# back.  Counted with strace attached to the postmaster and following its
# forks (the manual backup's worker among them); skipped where strace
# cannot attach.  doc/architecture.md quotes the figures.
use strict;
use warnings;

use lib 'test/lib';
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use ProtechBackupTest;
use Test::More;

my $node = new_backup_node('listings',
	conf => "protech_backup.retention_count = 2\n");
my $dir = $node->{protech_backup_dir};
backup_now($node) for 1 .. 3;

# The opens of the backup directory itself (an opendir) by the server's
# processes while $action runs, by pid; undef where strace cannot attach.
sub directory_reads
{
	my ($action) = @_;
	my $log = $node->basedir . '/listings.trace';
	my ($out, $err) = ('', '');
	my $strace = eval {
		IPC::Run::start(
			[ 'strace', '-f', '-o', $log, '-e', 'trace=open,openat', '-p', $node->{_pid} ],
			'>', \$out, '2>', \$err);
	};
	return undef unless $strace;
	wait_until(sub { $strace->pump_nb; $err =~ /attached/ || !$strace->pumpable },
		'strace to attach');
	if ($err !~ /attached/)
	{
		eval { $strace->kill_kill };
		return undef;
	}
	$action->();
	$strace->signal('INT');
	$strace->finish;
	my %reads;
	for (split /\n/, slurp_file($log))
	{
		$reads{$1}++ if /^(\d+)\s+open(?:at)?\((?:AT_FDCWD, )?"\Q$dir\E\/?", [^)]*O_DIRECTORY/;
	}
	return \%reads;
}

my $reads = directory_reads(sub { backup_now($node) });
plan skip_all => 'strace cannot attach to the server here' unless defined $reads;

my $worker_reads = 0;
$worker_reads += $_ for values %$reads;
diag("one manual backup: the backup directory read $worker_reads times, by "
	  . scalar(keys %$reads) . ' process(es)');
is(scalar(keys %$reads), 1, 'one process reads the directory: the backup worker');
is($worker_reads, 2,
	'one run reads the directory twice: its listing under the lock and the size-anomaly check');
is(scalar(listed_backups($node)), 2, 'and retention worked from that listing');

done_testing();
