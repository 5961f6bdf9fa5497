# Verifying, restoring and downloading backups over SQL:
# - protech_backup_verify() with and without restore, and
#   protech_backup_restore(), for every format and compression, on the
#   many-object-kinds database: equal schema-only dumps, rows and sequences,
#   the table count of the manifest, verified_at and verify_result listed;
# - damaged backups (a flipped byte, truncated, manifest edited) reported,
#   never raised; names that are not backups refused with 22023 before any
#   file is opened; a restore into an existing database refused with 42P04;
# - the scheduler drops scratch databases a crash left;
# - bin/protech_backup_download round trip, damage and permissions, and
#   protech_backup_read()'s arguments;
# - the README's runbook: restore into a new database, swap the names.
# Restores that fail or are interrupted, and verify_after_backup, are
# 032_restore_failures.pl's, so that a failure there cannot hide these.
use strict;
use warnings;

use lib 'test/lib';
use Cwd;
use File::Copy;
use IPC::Run;
use POSIX qw(mkfifo);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use ProtechBackupTest;
use Test::More;

my $node = new_backup_node('verify', fixture => 1);
my $dir = $node->{protech_backup_dir};
my $download = Cwd::abs_path('bin/protech_backup_download');

sub scalar_of
{
	my ($sql, $db) = @_;
	return $node->safe_psql($db // 'app', $sql);
}

# The user tables of the source and their rows, counted here independently.
my ($ntables, $rows) = user_tables_and_rows($node, 'app');
my $src_schema = schema_of($node, 'app');
my $src_contents = contents($node, 'app');

# Every format and compression: verify, verify with restore, restore.
my @combinations = (
	[ 'plain', 'none', 1 ], [ 'plain', 'gzip', 1 ], [ 'plain', 'zstd', 1 ],
	[ 'custom', 'none', 1 ], [ 'custom', 'gzip', 1 ], [ 'custom', 'zstd', 1 ],
	[ 'directory', 'none', 2 ], [ 'directory', 'gzip', 1 ]);
my %taken;
my $n = 0;
my $file;
for my $c (@combinations)
{
	my ($format, $compression, $jobs) = @$c;
	my $what = "$format/$compression";
	reload_and_wait($node,
		'protech_backup.format' => $format,
		'protech_backup.compression' => $compression,
		'protech_backup.jobs' => $jobs);
	$file = scalar_of('SELECT file_name FROM protech_backup_now()');
	$taken{$what} = $file;

	like(slurp_file("$dir/$file.json"), qr/"tables": $ntables,/,
		"$what: the manifest records the table count");
	is( scalar_of(
			"SELECT verified_at >= finished_at, verify_result FROM protech_backup_list() WHERE file_name = '$file'"
		),
		't|ok: checksum',
		"$what: verified by checksum after the backup (the default)");
	is( scalar_of(
			"SELECT checksum_ok, restored IS NULL, tables IS NULL, rows IS NULL, duration >= '0', detail IS NULL FROM protech_backup_verify('$file')"
		),
		't|t|t|t|t|t',
		"$what: verify reads it back");
	is( scalar_of(
			"SELECT file_name, checksum_ok, restored, tables, rows, detail IS NULL FROM protech_backup_verify('$file', restore => true)"
		),
		"$file|t|t|$ntables|$rows|t",
		"$what: verify restores it with every table and row");
	is( scalar_of(
			"SELECT verify_result FROM protech_backup_list() WHERE file_name = '$file'"),
		"ok: restored $ntables tables, $rows rows",
		"$what: the list shows the verification");
	is(scratch_databases($node), '0', "$what: the scratch database is dropped");

	my $db = 'restored_' . $n++;
	is( scalar_of(
			"SELECT database, tables, rows, duration >= '0' FROM protech_backup_restore('$file', '$db')"
		),
		"$db|$ntables|$rows|t",
		"$what: restore reports the database, tables and rows");
	is(schema_of($node, $db), $src_schema, "$what: restored schema equals the source");
	is_deeply(contents($node, $db), $src_contents,
		"$what: restored rows and sequences equal the source");
	scalar_of("DROP DATABASE $db", 'postgres');
}
reload_and_wait($node,
	'protech_backup.format' => 'plain',
	'protech_backup.compression' => 'none',
	'protech_backup.jobs' => 1);

# Names that are not backups: 22023, nothing opened.  A FIFO would block
# whoever opened it: '../fifo' names one as a dump and one as its manifest
# ("<dir>/../fifo.json"), so a call that opened either before it checked
# the name would hang past its timeout.
my $good = $taken{'custom/none'};
for my $fifo ('fifo', 'fifo.json')
{
	mkfifo($node->basedir . "/$fifo", 0600) or die "mkfifo: $!";
}
for my $f ("$good.partial", 'notes.txt', 'protech_backup_manual_copy.sql',
	'protech_backup_20000101_000000.sql')
{
	open(my $fh, '>', "$dir/$f") or die;
	print $fh "SELECT 1;\n";
	close($fh);
}
for my $bad ('../postgresql.conf', '/etc/passwd', 'a/b', '', "$good.partial",
	'notes.txt', 'protech_backup_manual_copy.sql',
	'protech_backup_20000101_000000.sql', "$good.json", '../fifo',
	'protech_backup_20000101_000000_' . ('9' x 5000) . '.sql')
{
	my $shown = length($bad) > 60 ? substr($bad, 0, 60) . '...' : $bad;
	for my $call ("protech_backup_verify('$bad')",
		"protech_backup_restore('$bad', 'never_created')",
		"protech_backup_read('$bad', 0, 10)",
		"protech_backup_read_size('$bad')")
	{
		my ($ret, $out, $err) = $node->psql('app',
			"\\set VERBOSITY verbose\nSELECT * FROM $call",
			timeout => 60);
		like($err, qr/ERROR:  22023: "\Q$bad\E" is not a backup/,
			(split /\(/, $call)[0] . "('$shown'): 22023");
	}
}
for my $call ('protech_backup_verify(NULL)',
	"protech_backup_restore(NULL, 'never_created')",
	'protech_backup_read(NULL, 0, 10)', 'protech_backup_read_size(NULL)')
{
	my ($ret, $out, $err) = $node->psql('app',
		"\\set VERBOSITY verbose\nSELECT * FROM $call");
	like($err, qr/ERROR:  22023: argument "file_name" must not be null/, "$call: 22023");
}
is(scalar_of("SELECT count(*) FROM pg_database WHERE datname = 'never_created'"),
	'0', 'no database was created for a bad name');

# A restore into a database that exists is refused; so are reserved names.
my ($ret, $out, $err) = $node->psql('app',
	"\\set VERBOSITY verbose\nSELECT * FROM protech_backup_restore('$good', 'app')");
like($err, qr/ERROR:  42P04: database "app" already exists/,
	'restore into an existing database: 42P04');
is_deeply(contents($node, 'app'), $src_contents, 'the existing database is untouched');
($ret, $out, $err) = $node->psql('app',
	"\\set VERBOSITY verbose\nSELECT * FROM protech_backup_restore('$good', 'protech_backup_verify_1_00000000')");
like($err, qr/ERROR:  22023: target_database "protech_backup_verify_1_00000000" starts with/,
	'restore into a scratch name: 22023');

# Damaged backups: reported, never raised, and recorded.
sub verify_row
{
	my ($file, $restore) = @_;
	return scalar_of(
		"SELECT checksum_ok, coalesce(restored::text, 'null'), detail FROM protech_backup_verify('$file', $restore)"
	);
}

my $sql = $taken{'plain/none'};
flip_byte("$dir/$sql", 100);
like(verify_row($sql, 'false'),
	qr/^f\|null\|".*\Q$sql\E" has SHA-256 [0-9a-f]{64}, its manifest records [0-9a-f]{64}$/,
	'a flipped byte: checksum_ok false, the SHA-256 differs');
like(verify_row($sql, 'true'), qr/^f\|false\|.* has SHA-256 .*; not restored$/,
	'a flipped byte: not restored');
like(scalar_of("SELECT verify_result FROM protech_backup_list() WHERE file_name = '$sql'"),
	qr/^failed: ".*" has SHA-256 /, 'a flipped byte: the list shows the failure');
($ret, $out, $err) = $node->psql('app',
	"\\set VERBOSITY verbose\nSELECT * FROM protech_backup_restore('$sql', 'from_damaged')");
like($err, qr/ERROR:  XX001: backup "\Q$sql\E" does not match its manifest\nDETAIL:  Reading it back: .* has SHA-256 /,
	'a damaged backup is not restored: XX001');

my $zst = $taken{'plain/zstd'};
flip_byte("$dir/$zst", int((-s "$dir/$zst") / 2));
like(verify_row($zst, 'false'), qr/^f\|null\|file ".*\Q$zst\E": zstd data is damaged: /,
	'a flipped byte in a zstd backup: the decompressor says so');

# A globals file of another size than its manifest records: the backup
# is no longer listed (as a truncated dump), until it is whole again.
my $globals = "$dir/$zst.globals.sql";
my $globals_size = -s $globals or die "no $globals";
append_to_file($globals, "-- more\n");
is(scalar_of("SELECT count(*) FROM protech_backup_list() WHERE file_name = '$zst'"),
	'0', 'a globals file of another size than recorded: the backup is not listed');
truncate($globals, $globals_size) or die;
is(scalar_of("SELECT count(*) FROM protech_backup_list() WHERE file_name = '$zst'"),
	'1', 'the globals file of its size again: listed again');

my $dump = $taken{'custom/gzip'};
truncate("$dir/$dump", (-s "$dir/$dump") - 10) or die;
is(scalar_of("SELECT count(*) FROM protech_backup_list() WHERE file_name = '$dump'"),
	'0', 'a truncated backup is no longer listed');
like(verify_row($dump, 'false'), qr/^f\|null\|".*\Q$dump\E" has \d+ bytes, its manifest records \d+$/,
	'a truncated backup: verify still answers, the size differs');

# A manifest describes the dump it is named after, its whole name: a copy
# of a .sql.gz backup's manifest under the name of a .sql dump (a prefix
# of the name it records) does not list that backup a second time.
{
	my $gz = $taken{'plain/gzip'};
	(my $prefix = $gz) =~ s/\.gz$// or die;
	copy("$dir/$gz.json", "$dir/$prefix.json") or die "could not copy: $!";
	is(scalar_of("SELECT count(*) FROM protech_backup_list() WHERE file_name = '$gz'"),
		'1', 'a manifest named after a prefix of the dump it records is not listed');
	unlink("$dir/$prefix.json") or die;
}

my $gz = $taken{'plain/gzip'};
my $manifest = slurp_file("$dir/$gz.json");
$manifest =~ s/"sha256": "[0-9a-f]{64}"/"sha256": "@{['0' x 64]}"/ or die;
open(my $mfh, '>', "$dir/$gz.json") or die;
print $mfh $manifest;
close($mfh);
like(verify_row($gz, 'false'), qr/^f\|null\|".*" has SHA-256 [0-9a-f]{64}, its manifest records 0{64}$/,
	'an edited manifest: the SHA-256 differs');

# Bytes after the end of a gzip stream: the decompressor says so, before
# the size or SHA-256 are compared.
append_to_file("$dir/$gz", 'trailing bytes');
like(verify_row($gz, 'false'),
	qr/^f\|null\|.*\Q$gz\E.*data is damaged: there is data after the end of the stream$/,
	'bytes after the end of a gzip stream: damaged');

# A directory-format folder holding anything but regular files (here a
# folder) is damaged, whatever the files in it hold.
my $folder_gz = $taken{'directory/gzip'};
mkdir("$dir/$folder_gz/extra") or die;
like(verify_row($folder_gz, 'false'),
	qr/^f\|null\|"[^"]*\Q$folder_gz\E\/extra" is not a regular file$/,
	'a folder inside a directory-format backup: not a regular file');
($ret, $out, $err) = $node->psql('app',
	"\\set VERBOSITY verbose\nSELECT protech_backup_read_size('$folder_gz')");
like($err, qr/ERROR:  22023: "\Q$folder_gz\E" is not a backup\nDETAIL:  Reading it: "[^"]*\/extra" is not a regular file\./,
	'a folder inside a directory-format backup: not read as a tar archive (22023)');
rmdir("$dir/$folder_gz/extra") or die;

# A restore that gives another number of tables than the manifest records
# (here the manifest edited to one more) does not verify.
my $zstd_dump = $taken{'custom/zstd'};
$manifest = slurp_file("$dir/$zstd_dump.json");
my $more = $ntables + 1;
$manifest =~ s/"tables": $ntables,/"tables": $more,/ or die;
open($mfh, '>', "$dir/$zstd_dump.json") or die;
print $mfh $manifest;
close($mfh);
like(verify_row($zstd_dump, 'true'),
	qr/^t\|false\|restored $ntables tables, the manifest records $more \(counted when the backup started\)$/,
	'a restore with fewer tables than the manifest records: not verified');

# protech_backup_read() and bin/protech_backup_download.
$file = $taken{'custom/none'};
my $path = "$dir/$file";
my $sha = scalar_of("SELECT sha256 FROM protech_backup_list() WHERE file_name = '$file'");
is(scalar_of("SELECT encode(protech_backup_read('$file', 3, 20), 'hex')"),
	unpack('H*', substr(slurp_file($path), 3, 20)), 'read: the bytes at an offset');
is(scalar_of("SELECT length(protech_backup_read('$file', " . ((-s $path) - 5) . ", 100))"),
	'5', 'read: fewer bytes at the end');
is(scalar_of("SELECT length(protech_backup_read('$file', 1000000000, 100))"),
	'0', 'read: none past the end');
for my $bad ([ "'$file', -1, 10", 'argument "offset" must not be null or negative' ],
	[ "'$file', 0, -1", 'argument "length" must not be null or negative' ],
	[ "'$file', NULL, 10", 'argument "offset" must not be null or negative' ],
	[ "'$file', 0, 1073741823", 'argument "length" must be at most 1073741819, the largest bytea' ])
{
	($ret, $out, $err) = $node->psql('app',
		"\\set VERBOSITY verbose\nSELECT protech_backup_read($bad->[0])");
	like($err, qr/ERROR:  22023: \Q$bad->[1]\E/, "read($bad->[0]): 22023");
}
is(scalar_of("SELECT protech_backup_read_size('$file')"), -s $path,
	'read_size of a backup stored as a file: its size');

scalar_of(q{
	CREATE ROLE dba LOGIN;
	GRANT EXECUTE ON FUNCTION protech_backup_list(), protech_backup_read(text, bigint, integer),
		protech_backup_read_size(text) TO dba});
my @conn = ('-h', $node->host, '-p', $node->port, '-d', 'app', '-U', 'dba');
my $local = $node->basedir . '/downloaded';

# run bin/protech_backup_download; returns its exit status and stderr
sub download
{
	my ($name, $chunk) = @_;
	my $stderr;
	local $ENV{PROTECH_BACKUP_DOWNLOAD_CHUNK} = $chunk if $chunk;
	IPC::Run::run([ $download, @conn, $name ], '>', $local, '2>', \$stderr);
	return ($? >> 8, $stderr);
}

my ($status, $stderr) = download($file);
isnt($status, 0, 'download without pg_read_server_files fails');
like($stderr, qr/permission denied to read backups/, 'and says why');
($ret, $out, $err) = $node->psql('app',
	"\\set VERBOSITY verbose\nSELECT protech_backup_read('$file', 0, 10)",
	extra_params => [ '-U', 'dba' ]);
like($err, qr/ERROR:  42501: permission denied to read backups/, 'read without pg_read_server_files: 42501');
($ret, $out, $err) = $node->psql('app',
	"\\set VERBOSITY verbose\nSELECT protech_backup_read_size('$file')",
	extra_params => [ '-U', 'dba' ]);
like($err, qr/ERROR:  42501: permission denied to read backups/,
	'read_size without pg_read_server_files: 42501');

scalar_of('GRANT pg_read_server_files TO dba');
($status, $stderr) = download($file, 30000);
is($status, 0, 'download in many slices succeeds') or diag($stderr);
is(sha256_of($local), $sha, 'the downloaded bytes have the manifest\'s SHA-256');
is(-s $local, -s $path, 'and its size');
($status, $stderr) = download($sql);
isnt($status, 0, 'download of a damaged backup fails');
like($stderr, qr/arrived with SHA-256 [0-9a-f]{64}, its manifest records [0-9a-f]{64}/,
	'and says the SHA-256 differs');
($status, $stderr) = download('no_such_backup.sql');
isnt($status, 0, 'download of a name that is not listed fails');

# --output-file: the file is created 0600 whatever the umask, and only once
# the SHA-256 matched; a failed download leaves nothing
my $saved = $node->basedir . '/saved.sql';
my $old_umask = umask(022);
IPC::Run::run([ $download, "--output-file=$saved", @conn, $file ],
	'2>', \$stderr);
is($? >> 8, 0, 'download --output-file succeeds') or diag($stderr);
is(sha256_of($saved), $sha, 'the saved file has the manifest\'s SHA-256');
is(sprintf('%04o', (stat($saved))[2] & 07777), '0600',
	'and mode 0600 under umask 022');
unlink($saved);
IPC::Run::run([ $download, "--output-file=$saved", @conn, $sql ], '2>', \$stderr);
umask($old_umask);
isnt($? >> 8, 0, 'download --output-file of a damaged backup fails');
ok(!-e $saved && !-e "$saved.partial", 'and leaves no file behind');

# The output is written only through the descriptor it was given: a file
# opened for the download by someone else (here: opened, then made
# read-only, as "runuser -u postgres -- ... > f" from a root shell hands
# postgres a file it may not open by its path) receives the whole backup.
my $given = $node->basedir . '/given.out';
open(my $given_fh, '>', $given) or die "open: $!";
chmod(0444, $given) or die "chmod: $!";
my $pid = fork() // die "fork: $!";
if ($pid == 0)
{
	open(STDOUT, '>&', $given_fh) or die "dup: $!";
	open(STDERR, '>', "$given.err") or die "open: $!";
	exec($download, @conn, $file) or die "exec: $!";
}
close($given_fh);
waitpid($pid, 0);
is($? >> 8, 0, 'download to a descriptor of a file it may not open by path succeeds')
  or diag(slurp_file("$given.err"));
is(sha256_of($given), $sha, 'and the file holds the backup');
unlink($given, "$given.err");

# A directory-format backup arrives as a tar archive of its folder, in
# slices that do not fall on tar blocks; extracted, it is the folder, and
# pg_restore restores it.
my $folder = $taken{'directory/none'};
my $tar_size = scalar_of("SELECT protech_backup_read_size('$folder')");
($status, $stderr) = download($folder, 3 * 1001);
is($status, 0, 'download of a directory-format backup succeeds') or diag($stderr);
is(-s $local, $tar_size, 'it is as long as read_size says');
is(unpack('H*', slurp_file($local)),
	scalar_of("SELECT encode(protech_backup_read('$folder', 0, $tar_size), 'hex')"),
	'its slices join into the archive read at once');
my $extracted = $node->basedir . '/extracted';
mkdir $extracted or die "mkdir: $!";
system_or_bail('tar', '-x', '-f', $local, '-C', $extracted);
my @members = sort grep { !/^\./ } slurp_dir("$dir/$folder");
is_deeply([ sort grep { !/^\./ } slurp_dir("$extracted/$folder") ], \@members,
	'the archive holds the folder\'s files');
is_deeply([ map { sha256_of("$extracted/$folder/$_") } @members ],
	[ map { sha256_of("$dir/$folder/$_") } @members ], 'with their contents');
is((stat("$extracted/$folder"))[2] & 07777, 0700, 'the folder extracts with mode 0700');
is((stat("$extracted/$folder/toc.dat"))[2] & 07777, 0600, 'its files with mode 0600');
scalar_of('CREATE DATABASE restored_download', 'postgres');
command_ok([ 'pg_restore', '--exit-on-error', '-j', '2', '-d',
		$node->connstr('restored_download'), "$extracted/$folder" ],
	'pg_restore restores the extracted folder');
is(schema_of($node, 'restored_download'), $src_schema, 'restored schema equals the source');
is_deeply(contents($node, 'restored_download'), $src_contents,
	'restored rows and sequences equal the source');
scalar_of('DROP DATABASE restored_download', 'postgres');

# a changed file of the folder is found by the listing's SHA-256
flip_byte("$dir/$folder/toc.dat", 100);
($status, $stderr) = download($folder);
isnt($status, 0, 'download of a damaged directory-format backup fails');
like($stderr, qr/arrived with SHA-256 [0-9a-f]{64}, its manifest records [0-9a-f]{64}/,
	'and says the SHA-256 differs');
flip_byte("$dir/$folder/toc.dat", 100);

scalar_of('REVOKE EXECUTE ON FUNCTION protech_backup_read(text, bigint, integer), protech_backup_read_size(text) FROM dba');
for my $call ("protech_backup_read('$file', 0, 10)", "protech_backup_read_size('$file')",
	"protech_backup_verify('$file')",
	"protech_backup_restore('$file', 'x')")
{
	($ret, $out, $err) = $node->psql('app', "\\set VERBOSITY verbose\nSELECT * FROM $call",
		extra_params => [ '-U', 'dba' ]);
	like($err, qr/ERROR:  42501: permission denied for function/, "$call: EXECUTE is not granted by default");
}

# A scratch database a crash left is dropped when the scheduler starts; a
# database that only looks alike is not.
scalar_of('CREATE DATABASE protech_backup_verify_999999999_deadbeef', 'postgres');
scalar_of('CREATE DATABASE protech_backup_verify_mine', 'postgres');
$node->restart;
wait_until(sub { scratch_databases($node) eq '1' }, 'the leftover scratch database to be dropped');
is(scalar_of("SELECT datname FROM pg_database WHERE datname LIKE 'protech\\_backup\\_verify\\_%'"),
	'protech_backup_verify_mine', 'only the leftover of the pattern is dropped');
like(slurp_file($node->logfile),
	qr/dropped scratch database "protech_backup_verify_999999999_deadbeef" left by an interrupted verification/,
	'and the log says so');

# The README's runbook: restore the newest good backup into a new
# database, move the scheduler away, swap the names, move it back.
my $newest = $taken{'custom/none'};
scalar_of("SELECT * FROM protech_backup_restore('$newest', 'app_restored')");
scalar_of("ALTER SYSTEM SET protech_backup.database = 'postgres'; SELECT pg_reload_conf()");
wait_until(
	sub {
		scalar_of("SELECT count(*) FROM pg_stat_activity WHERE datname = 'app'", 'postgres') eq '0';
	},
	'the scheduler to leave database app');
# autovacuum may visit database app for a moment: retry
for my $rename ('app RENAME TO app_broken', 'app_restored RENAME TO app')
{
	wait_until(sub { ($node->psql('postgres', "ALTER DATABASE $rename"))[0] == 0 },
		"ALTER DATABASE $rename");
}
scalar_of('ALTER SYSTEM RESET protech_backup.database; SELECT pg_reload_conf()', 'postgres');
is(schema_of($node, 'app'), $src_schema, 'runbook: the swapped-in database has the schema');
is_deeply(contents($node, 'app'), $src_contents, 'runbook: and the rows');
ok( $node->poll_query_until('app',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'protech_backup scheduler' AND datname = 'app'"
	),
	'runbook: the scheduler runs in the restored database');

done_testing();
