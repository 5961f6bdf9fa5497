# I/O failures injected by the shim (test/iofault/iofault.c) at each step
# of a backup of each format: fsync, write, rename and open failing with
# EIO, ENOSPC or EACCES while the dump, the globals file and the manifest
# are written, synced and renamed, and while the verification after the
# backup reads the dump.  Each is checked to have been injected (the shim
# logs what it did) and to end as a clear error; fault() checks the rest.
#
# Each fault goes through fault() of test/lib/ProtechBackupTest.pm (its
# error checked here, the end state there); the file ends with its line
# "faults: N injected, N survived, 0 lost", which doc/tests.md sums.
use strict;
use warnings;

use lib 'test/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use ProtechBackupTest;
use Test::More;

my $node = new_fault_node('faults_io_backup');

my ($io_dir, $any) = use_io_directory($node);

# Which fsync of the backup directory, counted in the process that takes
# a backup (the shim counts per process), follows the rename of each file
# of a plain backup: dump, globals, database-level properties, manifest.
# Read from a traced backup rather than written down, so that a step added
# to a backup cannot move a fault below onto another step unnoticed.
sub directory_fsync_after_rename
{
	my $trace = $node->basedir . '/renames.trace';
	set_io_faults($node, "trace $trace $io_dir*");
	backup_now($node);
	set_io_faults($node);
	my (%after, %count, %renamed);
	for (shim_events($trace))
	{
		my ($pid, $call, $path, $new_path) = @$_;
		if ($call eq 'rename' && $path =~ /\.partial$/)
		{
			$renamed{$pid} = $new_path;
		}
		elsif ($call eq 'fsync' && $path eq $io_dir)
		{
			$count{$pid}++;
			my $file = delete $renamed{$pid} // next;
			my $kind =
			    $file =~ /\.json$/ ? 'manifest'
			  : $file =~ /\.globals\.sql$/ ? 'globals'
			  : $file =~ /\.database\.sql$/ ? 'properties'
			  : 'dump';
			# the first: the verification after the backup rewrites the manifest
			$after{$kind} //= $count{$pid};
		}
	}
	my @order = map { $after{$_} // 0 } qw(dump globals properties manifest);
	ok( $order[0] >= 1 && $order[0] < $order[1] && $order[1] < $order[2] && $order[2] < $order[3],
		'a backup syncs the directory after the rename of its dump, globals, properties and manifest, in this order'
	) or diag(explain(\%after));
	return %after;
}
my %dir_fsync = directory_fsync_after_rename();

# the steps of a plain backup, in the order they happen (dump, globals,
# properties, manifest, each written, synced, renamed, the directory synced)
my $dump = qr/"\Q$io_dir\E\/protech_backup_\d{8}_\d{6}(_\d+)?\.sql/;
my $dump_partial = "$any.sql.partial";
my $globals_partial = "$any.globals.sql.partial";
my $properties_partial = "$any.database.sql.partial";
my $manifest_partial = "$any.json.partial";
io_fault($node, 'dump: cannot be created (EACCES)', "open EACCES 1 $dump_partial postgres",
	qr/could not create file $dump\.partial": Permission denied/);
io_fault($node, 'dump: write fails (EIO)', "write EIO 1 $dump_partial postgres",
	qr/could not write to file $dump\.partial": Input\/output error/);
io_fault($node, 'dump: disk full from the second write on (ENOSPC)', "write ENOSPC 2+ $dump_partial postgres",
	qr/could not write to file $dump\.partial": No space left on device/);
io_fault($node, 'dump: fsync of the written file fails (EIO)', "fsync EIO 1 $dump_partial postgres",
	qr/could not fsync file $dump\.partial": Input\/output error/);
io_fault($node, 'dump: fsync before the rename fails (EIO)', "fsync EIO 2 $dump_partial postgres",
	qr/could not fsync $dump\.partial": Input\/output error/);
io_fault($node, 'dump: rename fails (EIO)', "rename EIO 1 $dump_partial postgres",
	qr/could not rename $dump\.partial" to $dump": Input\/output error/);
io_fault($node, 'dump: directory fsync after its rename fails (EIO)', "fsync EIO $dir_fsync{dump} $io_dir postgres",
	qr/could not fsync "\Q$io_dir\E": Input\/output error/);
io_fault($node, 'globals: cannot be created (EACCES)', "open EACCES 1 $globals_partial postgres",
	qr/could not create file $dump\.globals\.sql\.partial": Permission denied/);
io_fault($node, 'globals: disk full (ENOSPC)', "write ENOSPC 1 $globals_partial postgres",
	qr/could not write to file $dump\.globals\.sql\.partial": No space left on device/);
io_fault($node, 'globals: fsync fails (EIO)', "fsync EIO 1 $globals_partial postgres",
	qr/could not fsync file $dump\.globals\.sql\.partial": Input\/output error/);
io_fault($node, 'globals: rename fails (EIO)', "rename EIO 1 $globals_partial postgres",
	qr/could not rename $dump\.globals\.sql\.partial" to $dump\.globals\.sql": Input\/output error/);
io_fault($node, 'globals: directory fsync after its rename fails (EIO)', "fsync EIO $dir_fsync{globals} $io_dir postgres",
	qr/could not fsync "\Q$io_dir\E": Input\/output error/);
io_fault($node, 'properties: disk full (ENOSPC)', "write ENOSPC 1 $properties_partial postgres",
	qr/could not write to file $dump\.database\.sql\.partial": No space left on device/);
io_fault($node, 'properties: rename fails (EIO)', "rename EIO 1 $properties_partial postgres",
	qr/could not rename $dump\.database\.sql\.partial" to $dump\.database\.sql": Input\/output error/);
io_fault($node, 'properties: directory fsync after its rename fails (EIO)', "fsync EIO $dir_fsync{properties} $io_dir postgres",
	qr/could not fsync "\Q$io_dir\E": Input\/output error/);
io_fault($node, 'manifest: cannot be created (EACCES)', "open EACCES 1 $manifest_partial postgres",
	qr/could not create file $dump\.json\.partial": Permission denied/);
io_fault($node, 'manifest: disk full (ENOSPC)', "write ENOSPC 1 $manifest_partial postgres",
	qr/could not write to file $dump\.json\.partial": No space left on device/);
io_fault($node, 'manifest: fsync fails (EIO)', "fsync EIO 1 $manifest_partial postgres",
	qr/could not fsync $dump\.json\.partial": Input\/output error/);
io_fault($node, 'manifest: rename fails (EIO)', "rename EIO 1 $manifest_partial postgres",
	qr/could not rename $dump\.json\.partial" to $dump\.json": Input\/output error/);
# the manifest is in place when this fails: it must go with the dump
io_fault($node, 'manifest: directory fsync after its rename fails (EIO)', "fsync EIO $dir_fsync{manifest} $io_dir postgres",
	qr/could not fsync "\Q$io_dir\E": Input\/output error/);

# the verification after the backup (checksum) cannot read the new dump:
# the run fails, the backup is kept, its manifest saying why
io_fault($node, 'verification after the backup: the dump cannot be opened (EACCES)',
	"open EACCES 1 $any.sql postgres",
	qr/ERROR:  XX001: verification of backup "protech_backup_\S+" failed\nDETAIL:  could not open file $dump": Permission denied/,
	history => qr/^verification of backup "protech_backup_\S+" failed\ncould not open file $dump": Permission denied$/,
	no_errno => 1);
io_fault($node, 'verification after the backup: reading the dump fails (EIO)',
	"read EIO 1 $any.sql postgres",
	qr/ERROR:  XX001: verification of backup "protech_backup_\S+" failed\nDETAIL:  could not read file $dump": Input\/output error/,
	history => qr/^verification of backup "protech_backup_\S+" failed\ncould not read file $dump": Input\/output error$/,
	no_errno => 1);

# other formats: custom, plain compressed here, directory
reload_and_wait($node, 'protech_backup.format' => 'custom');
io_fault($node, 'custom format: dump write fails (EIO)', "write EIO 1 $any.dump.partial postgres",
	qr/could not write to file "\Q$io_dir\E\/protech_backup_\S+\.dump\.partial": Input\/output error/);
io_fault($node, 'custom format: dump rename fails (EIO)', "rename EIO 1 $any.dump.partial postgres",
	qr/could not rename "\Q$io_dir\E\/protech_backup_\S+\.dump\.partial" to "\S+\.dump": Input\/output error/);
reload_and_wait($node, 'protech_backup.format' => 'plain', 'protech_backup.compression' => 'zstd');
io_fault($node, 'zstd: disk full while the compressed dump is written (ENOSPC)',
	"write ENOSPC 1+ $any.sql.zst.partial postgres",
	qr/could not write to file "\Q$io_dir\E\/protech_backup_\S+\.sql\.zst\.partial": No space left on device/);
reload_and_wait($node, 'protech_backup.format' => 'directory', 'protech_backup.compression' => 'none');
my $folder = "$any.dir.partial";
io_fault($node, 'directory format: pg_dump cannot create its table of contents (EACCES)',
	"open EACCES 1 $folder/toc.dat pg_dump",
	qr/ERROR:  38000: pg_dump of database "app" failed: child process exited with exit code 1\nDETAIL:  pg_dump printed:\n.*could not open output file "\Q$io_dir\E\/\S+\.dir\.partial\/toc\.dat": Permission denied/s,
	history => qr/^pg_dump of database "app" failed: .*toc\.dat": Permission denied$/s,
	no_errno => 1);
io_fault($node, 'directory format: fsync of a file of the folder fails (EIO)',
	"fsync EIO 1 $folder/* postgres",
	qr/ERROR:  58030: could not seal directory-format dump: could not fsync file "\Q$io_dir\E\/\S+\.dir\.partial\/\S+": Input\/output error/,
	history => qr/^could not seal directory-format dump: could not fsync file "\S+": Input\/output error$/);
io_fault($node, 'directory format: fsync of the folder fails (EIO)',
	"fsync EIO 1 $folder postgres",
	qr/could not seal directory-format dump: could not fsync folder "\Q$io_dir\E\/\S+\.dir\.partial": Input\/output error/);
io_fault($node, 'directory format: rename of the folder fails (EIO)',
	"rename EIO 1 $folder postgres",
	qr/could not rename folder "\Q$io_dir\E\/\S+\.dir\.partial" to "\S+\.dir": Input\/output error/);
io_fault($node, 'directory format: directory fsync after the folder is renamed fails (EIO)',
	"fsync EIO 1 $io_dir postgres",
	qr/could not fsync "\Q$io_dir\E": Input\/output error/);
reload_and_wait($node, 'protech_backup.format' => 'plain');

faults_summary();

done_testing();
