# bench/backup_path.pl: the path of one manual backup through the modules
# of src/, measured, for doc/architecture.md.  Run through test/suite with
# the extension built for call tracing:
#
#	SUITE_COPT="-O0 -finstrument-functions" bash test/suite \
#	    PROVE_TESTS=bench/backup_path.pl REGRESS=
#
# It prints (diag) two sets of figures:
#
# - of the code: the dependencies between the files of src/, from the
#   built objects (a file depends on another when it references a symbol,
#   function or variable, the other defines: nm -u against nm --defined),
#   and the files that lie on a cycle of that graph; and the same for the
#   #include graph of the sources (a file includes a module's header);
# - of one run: protech_backup_now() in a node with two backups and
#   retention keeping two, its calls traced in the calling backend and in
#   the backup worker by bench/calltrace.c (preloaded): the files touched
#   (that ran a function), the call edges between functions of different
#   files ("hops"), the distinct file-to-file edges among them and the
#   file pairs called both ways, and the opendirs of the backup directory
#   (strace, when it can attach).
#
# The same script measures an older tree: copy test/suite, bench/ and this
# file into it (the older tree needs no ProtechBackupTest verbs).
use strict;
use warnings;

use File::Basename;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

# --- the code: symbol and include dependencies between files of src/ ---

my %defined;	# symbol => file
my %needs;		# file => { symbol => 1 }
for my $o (glob 'src/*.o')
{
	my $file = basename($o, '.o');
	for (split /\n/, `nm --defined-only -g $o`)
	{
		$defined{$2} = $file if /^\S+ ([TDBRC]) (\S+)$/;
	}
	for (split /\n/, `nm -u $o`)
	{
		$needs{$file}{$1} = 1 if /^\s+U (\S+)$/;
	}
}
my %symbol_graph;
for my $file (keys %needs)
{
	for my $symbol (keys %{ $needs{$file} })
	{
		my $to = $defined{$symbol};
		$symbol_graph{$file}{$to} = 1 if defined $to && $to ne $file;
	}
}
$symbol_graph{$_} //= {} for values %defined;

# A module is a .c file and its header, but for protech_backup.h, the
# shared vocabulary every module includes, which is a module of its own
# apart from protech_backup.c (_PG_init).
sub module_of
{
	my ($name) = @_;
	return $name eq 'protech_backup.h' ? $name : $name =~ s/\.[ch]$//r;
}
my %include_graph;
for my $source (glob('src/*.c'), glob('src/*.h'))
{
	my $module = module_of(basename($source));
	$include_graph{$module} //= {};
	for (split /\n/, slurp_file($source))
	{
		next unless /^#include "(\w+\.h)"/;
		my $to = module_of($1);
		$include_graph{$module}{$to} = 1 if $to ne $module;
	}
}

# The files on a cycle of graph (file => { file => 1 }): those of its
# strongly connected components of more than one file (Tarjan).
sub files_on_cycles
{
	my ($graph) = @_;
	my ($index, @stack, %on_stack, %idx, %low, @cyclic) = (0);
	my $visit;
	$visit = sub {
		my ($v) = @_;
		$idx{$v} = $low{$v} = $index++;
		push @stack, $v;
		$on_stack{$v} = 1;
		for my $w (sort keys %{ $graph->{$v} // {} })
		{
			if (!defined $idx{$w})
			{
				$visit->($w);
				$low{$v} = $low{$w} if $low{$w} < $low{$v};
			}
			elsif ($on_stack{$w})
			{
				$low{$v} = $idx{$w} if $idx{$w} < $low{$v};
			}
		}
		if ($low{$v} == $idx{$v})
		{
			my @component;
			my $w;
			do
			{
				$w = pop @stack;
				$on_stack{$w} = 0;
				push @component, $w;
			} while ($w ne $v);
			push @cyclic, @component if @component > 1;
		}
	};
	$visit->($_) for grep { !defined $idx{$_} } sort keys %$graph;
	return sort @cyclic;
}

my @objects = sort keys %symbol_graph;
my @symbol_cycles = files_on_cycles(\%symbol_graph);
diag(sprintf('code: %d files with code; %d on a cycle of their symbol dependencies: %s',
	scalar(@objects), scalar(@symbol_cycles), join(' ', @symbol_cycles) || '-'));
my @include_cycles = files_on_cycles(\%include_graph);
diag(sprintf('code: %d modules; %d on a cycle of their #includes: %s',
	scalar(keys %include_graph), scalar(@include_cycles), join(' ', @include_cycles) || '-'));

# --- one run, traced ---

my $shim = "$PostgreSQL::Test::Utils::tmp_check/calltrace.so";
system('cc', '-shared', '-fPIC', '-O2', '-o', $shim, 'bench/calltrace.c', '-ldl') == 0
  or die 'could not build bench/calltrace.c';
my $node = PostgreSQL::Test::Cluster->new('backup_path');
my $dir = $node->basedir . '/backups';
my $trace = $node->basedir . '/calltrace';
$node->init;
$node->append_conf('postgresql.conf', <<"EOS");
shared_preload_libraries = 'protech_backup'
protech_backup.database = 'app'
protech_backup.directory = '$dir'
protech_backup.schedule = ''
protech_backup.retention_count = 2
EOS
{
	local $ENV{LD_PRELOAD} = $shim;
	local $ENV{PROTECH_BACKUP_CALLTRACE} = $trace;
	$node->start;
}
$node->safe_psql('postgres', 'CREATE DATABASE app');
$node->safe_psql('app',
	'CREATE TABLE t AS SELECT g AS id, md5(g::text) AS payload FROM generate_series(1, 5000) AS g; CREATE EXTENSION protech_backup'
);
$node->safe_psql('app', 'SELECT file_name FROM protech_backup_now()') for 1 .. 2;
my %others = map { $_ => 1 } split /\n/, $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE backend_type LIKE 'protech_backup%'");

my ($out, $err) = ('', '');
my $strace_log = $node->basedir . '/opendir.trace';
my $strace = IPC::Run::start(
	[ 'strace', '-f', '-o', $strace_log, '-e', 'trace=open,openat', '-p', $node->{_pid} ],
	'>', \$out, '2>', \$err);
my $tries = 100;
$strace->pump_nb, usleep(100_000) while $tries-- > 0 && $err !~ /attached/ && $strace->pumpable;
mkdir($trace) or die "could not create $trace: $!";
my $file = $node->safe_psql('app', 'SELECT file_name FROM protech_backup_now()');
rename($trace, "$trace.done") or die "could not rename $trace: $!";
$strace->signal('INT');
$strace->finish;
ok($file =~ /^protech_backup_/, "one manual backup: $file");

# the library's functions, by address: [offset, name, file]
my $pkglibdir = `pg_config --pkglibdir`;
chomp $pkglibdir;
my @functions;
for (split /\n/, `nm -l --defined-only -n $pkglibdir/protech_backup.so`)
{
	push @functions, [ hex($1), $2, basename($3) ] if /^(\S+) [tT] (\S+)\s+(\S+?):\d+/;
}
sub function_at
{
	my ($offset) = @_;
	my ($lo, $hi) = (0, $#functions);
	return undef if !@functions || $offset < $functions[0][0];
	while ($lo < $hi)
	{
		my $mid = int(($lo + $hi + 1) / 2);
		if ($functions[$mid][0] <= $offset) { $lo = $mid } else { $hi = $mid - 1 }
	}
	return $functions[$lo];
}

my (%files, %hops, %file_edges);
for my $calls (glob "$trace.done/calls.*")
{
	my ($pid) = $calls =~ /calls\.(\d+)$/;
	next if $others{$pid};
	for (split /\n/, slurp_file($calls))
	{
		my ($callee, $caller) = map { hex } split / /;
		# the functions of src/, not those of PostgreSQL's headers (static
		# inline ones compiled into the library)
		my $to = function_at($callee) or next;
		next unless -f "src/$to->[2]";
		$files{ $to->[2] } = 1;
		next unless $caller;
		my $from = function_at($caller - 1) or next;
		next unless -f "src/$from->[2]";
		$files{ $from->[2] } = 1;
		next if $from->[2] eq $to->[2];
		$hops{"$from->[1] -> $to->[1]"} = 1;
		$file_edges{"$from->[2] -> $to->[2]"} = 1;
	}
}
my @both_ways = grep {
	my ($a, $b) = split / -> /;
	$a lt $b && $file_edges{"$b -> $a"}
} sort keys %file_edges;
my $opendirs = () = grep { /open(?:at)?\((?:AT_FDCWD, )?"\Q$dir\E\/?", [^)]*O_DIRECTORY/ }
  split /\n/, (-f $strace_log ? slurp_file($strace_log) : '');

diag(sprintf('run: %d files touched: %s', scalar(keys %files), join(' ', sort keys %files)));
diag(sprintf('run: %d hops (calls between functions of different files), %d file-to-file edges, %d file pairs called both ways: %s',
	scalar(keys %hops), scalar(keys %file_edges), scalar(@both_ways),
	join(', ', map { s/ -> / <-> /r } @both_ways) || '-'));
diag("run: edges: " . join(', ', sort keys %file_edges));
diag($err =~ /attached/
	? "run: the backup directory opened as a directory (opendir) $opendirs times"
	: 'run: strace could not attach: no opendir count');

done_testing();
