# I/O failures injected by the shim (test/iofault/iofault.c) on stored
# backups: protech_backup_verify() rewriting a manifest, a restore that
# cannot open or read its dump, a retention delete that cannot remove a
# backup.  Each is checked to have been injected and to end as a clear
# error (a WARNING for retention); fault() checks the rest.
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

my $node = new_fault_node('faults_io_stored');

my ($io_dir, $any) = use_io_directory($node);
my $dump = qr/"\Q$io_dir\E\/protech_backup_\d{8}_\d{6}(_\d+)?\.sql/;
my $manifest_partial = "$any.json.partial";

# the newest backup, which the verifications and the first restore below
# read, a plain one
$node->safe_psql('app', 'SELECT count(*) FROM protech_backup_now()');

# protech_backup_verify() rewriting the manifest: each failure is an
# error, and the manifest stays as it was, or (once renamed) as rewritten
sub verify_error
{
	my $file = $node->safe_psql('app',
		'SELECT file_name FROM protech_backup_list() ORDER BY started_at DESC LIMIT 1');
	my ($ret, $out, $err) = $node->psql('app',
		"\\set VERBOSITY verbose\nSELECT * FROM protech_backup_verify('$file')");
	isnt($ret, 0, 'the verification fails');
	return $err;
}
io_fault($node, 'verification rewrite: manifest cannot be created (EACCES)',
	"open EACCES 1 $manifest_partial postgres",
	qr/could not create file $dump\.json\.partial": Permission denied/, action => \&verify_error);
io_fault($node, 'verification rewrite: disk full (ENOSPC)', "write ENOSPC 1 $manifest_partial postgres",
	qr/could not write to file $dump\.json\.partial": No space left on device/,
	action => \&verify_error);
io_fault($node, 'verification rewrite: fsync fails (EIO)', "fsync EIO 1 $manifest_partial postgres",
	qr/could not fsync $dump\.json\.partial": Input\/output error/, action => \&verify_error);
io_fault($node, 'verification rewrite: rename fails (EIO)', "rename EIO 1 $manifest_partial postgres",
	qr/could not rename $dump\.json\.partial" to $dump\.json": Input\/output error/,
	action => \&verify_error);
io_fault($node, 'verification rewrite: directory fsync after the rename fails (EIO)',
	"fsync EIO 1 $io_dir postgres",
	qr/could not fsync "\Q$io_dir\E": Input\/output error/, action => \&verify_error);

# A restore: the program or the server cannot read the dump.  Each fails
# with the error, and the database it created is dropped.
sub restore_error
{
	my ($file) = @_;
	my ($ret, $out, $err) = $node->psql('app',
		"\\set VERBOSITY verbose\nSELECT * FROM protech_backup_restore('$file', 'io_restored')");
	isnt($ret, 0, 'the restore fails');
	is($node->safe_psql('app', "SELECT count(*) FROM pg_database WHERE datname = 'io_restored'"),
		'0', 'the database it created is dropped');
	return $err;
}
my $plain_file = $node->safe_psql('app',
	'SELECT file_name FROM protech_backup_list() ORDER BY started_at DESC LIMIT 1');
io_fault($node, 'restore: psql cannot open the dump (EACCES)', "open EACCES 1 $any.sql psql",
	qr/ERROR:  38000: could not restore backup "\Q$plain_file\E" into database "io_restored"\nDETAIL:  psql failed \(child process exited with exit code 1\) and printed:\n.*Permission denied\nThe half-restored database "io_restored" was dropped\./s,
	action => sub { restore_error($plain_file) }, no_errno => 1);
reload_and_wait($node, 'protech_backup.compression' => 'zstd');
my ($zstd_file, $zstd_size) = split /\|/,
  $node->safe_psql('app', 'SELECT file_name, size_bytes FROM protech_backup_now()');
reload_and_wait($node, 'protech_backup.compression' => 'none');
# its check reads it first, in reads of 256 kB and one at its end
my $check_reads = int($zstd_size / 262144) + 2;
io_fault($node, 'restore: the server cannot open the compressed dump (EACCES)',
	"open EACCES 2 $any.sql.zst postgres",
	qr/ERROR:  42501: could not open file "\Q$io_dir\/$zstd_file\E": Permission denied/,
	action => sub { restore_error($zstd_file) });
io_fault($node, 'restore: reading the compressed dump fails (EIO)',
	"read EIO " . ($check_reads + 1) . " $any.sql.zst postgres",
	qr/ERROR:  58030: could not read file "\Q$io_dir\/$zstd_file\E": Input\/output error/,
	action => sub { restore_error($zstd_file) });

# Retention cannot delete the oldest backup: it is kept (its manifest
# could not be removed), or its removal stops before its dump goes (the
# directory could not be synced after the manifest went, or the dump could
# not be removed).  A WARNING says so and protech_backup_cleanup() reports
# 'delete failed'; the dump left without its manifest is never listed, and
# is for the DBA to remove, as the WARNING's hint says (here: recover).
sub retention_fault
{
	my ($name, $rule, $message, %opts) = @_;
	reload_and_wait($node, 'protech_backup.retention_count' => 1);
	my @doomed = split /\n/, $node->safe_psql('app',
		"SELECT file_name FROM protech_backup_cleanup(true) WHERE action = 'delete' ORDER BY file_name"
	);
	my $oldest = $doomed[0] // die 'nothing for retention to delete';
	my @left = map { "$oldest$_" } @{ $opts{left} };
	io_fault(
		$node,
		$name, $rule, $message,
		action => sub {
			my ($ret, $out, $err) = $node->psql('app',
				"\\set VERBOSITY verbose\nSELECT file_name, action FROM protech_backup_cleanup()");
			is($ret, 0, "$name: retention runs to its end");
			like($out, qr/^\Q$oldest\E\|delete failed$/m,
				"$name: protech_backup_cleanup() reports 'delete failed'");
			return $err;
		},
		deleted => [ @left ? @doomed : @doomed[ 1 .. $#doomed ] ],
		recover => sub {
			is_deeply([ leftover_files($node) ], [ sort @left ],
				"$name: what is left of the backup is no backup: @left");
			unlink(map { "$io_dir/$_" } @left) == @left or die "could not remove @left";
			reload_and_wait($node, 'protech_backup.retention_count' => 2);
		});
	return;
}
retention_fault('retention: the manifest cannot be removed (EACCES)',
	"unlink EACCES 1 $any.json postgres",
	qr/WARNING:  42501: could not delete backup "protech_backup_\S+": Permission denied\nDETAIL:  Removing its manifest "\S+" failed, so the backup is kept/,
	left => []);
retention_fault('retention: directory fsync after the manifest is removed fails (EIO)',
	"fsync EIO 1 $io_dir postgres",
	qr/WARNING:  58030: could not fsync "\Q$io_dir\E": Input\/output error\n.*WARNING:  01000: could not delete backup "protech_backup_\S+"\nDETAIL:  Its manifest is removed, but the removal could not be made durable, so its dump "\S+" is left in place\./s,
	left => [ '', '.database.sql', '.globals.sql' ]);
retention_fault('retention: the dump cannot be removed (EIO)',
	"unlink EIO 1 $any.sql postgres",
	qr/WARNING:  58030: could not remove file "\S+": Input\/output error\n.*WARNING:  01000: could not delete backup "protech_backup_\S+"\nDETAIL:  Its manifest is removed, so the dump "\S+" is no longer a backup, but the dump, its globals file or its database-level properties file could not be removed\./s,
	left => ['']);

faults_summary();

done_testing();
