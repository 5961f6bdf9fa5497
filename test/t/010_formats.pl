# Every format and compression: a backup of the many-object-kinds database
# is stored under its suffix, listed, reads back as its manifest says
# (protech_backup_verify), restores, with the command documented for it,
# into an equal database, and downloads over SQL with
# bin/protech_backup_download (its SHA-256 checked).  Also: combinations that cannot work are
# refused before anything is written, extra pg_dump options reach pg_dump,
# damaged backups are reported by the stored-backup check, and a failed or
# crashed directory-format backup leaves no folder behind.
use strict;
use warnings;

use lib 'test/lib';
use Cwd;
use Digest::SHA;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use ProtechBackupTest;
use Test::More;

my $node = new_backup_node('formats', fixture => 1);
my $dir = $node->{protech_backup_dir};


# SHA-256 of a directory-format backup as README documents it:
# (cd <folder> && export LC_ALL=C && sha256sum -- * | sha256sum)
sub folder_sha256
{
	my ($folder) = @_;
	opendir(my $dh, $folder) or die "could not open $folder: $!";
	my @names = sort grep { !/^\.\.?$/ } readdir($dh);
	closedir($dh);
	my $listing = join('', map { sha256_of("$folder/$_") . "  $_\n" } @names);
	return Digest::SHA::sha256_hex($listing);
}

sub folder_size
{
	my ($folder) = @_;
	opendir(my $dh, $folder) or die "could not open $folder: $!";
	my $size = 0;
	$size += -s "$folder/$_" for grep { !/^\.\.?$/ } readdir($dh);
	closedir($dh);
	return $size;
}

my $src_schema = schema_of($node, 'app');
my $src_contents = contents($node, 'app');

# format, compression, jobs, name suffix, compression as recorded, restore
# command (FILE and DB stand for the backup and the target connection)
my @combinations = (
	[ 'plain', 'none', 1, '.sql', 'none', [ [qw(psql -X -q -v ON_ERROR_STOP=1 -d DB -f FILE)] ] ],
	[ 'plain', 'gzip', 1, '.sql.gz', 'gzip:6', [ [qw(gzip -dc FILE)], [qw(psql -X -q -v ON_ERROR_STOP=1 -d DB)] ] ],
	[ 'plain', 'zstd:5', 1, '.sql.zst', 'zstd:5', [ [qw(zstd -qdc FILE)], [qw(psql -X -q -v ON_ERROR_STOP=1 -d DB)] ] ],
	[ 'custom', 'none', 1, '.dump', 'none', [ [qw(pg_restore --exit-on-error -d DB FILE)] ] ],
	[ 'custom', 'gzip:1', 1, '.dump', 'gzip:1', [ [qw(pg_restore --exit-on-error -j 2 -d DB FILE)] ] ],
	[ 'custom', 'zstd', 1, '.dump.zst', 'zstd:3', [ [qw(zstd -qdc FILE)], [qw(pg_restore --exit-on-error -d DB)] ] ],
	[ 'directory', 'none', 2, '.dir', 'none', [ [qw(pg_restore --exit-on-error -j 2 -d DB FILE)] ] ],
	[ 'directory', 'gzip', 1, '.dir', 'gzip:6', [ [qw(pg_restore --exit-on-error -d DB FILE)] ] ],
);

my %taken;
my $n = 0;
for my $c (@combinations)
{
	my ($format, $compression, $jobs, $suffix, $recorded, $restore) = @$c;
	my $what = "$format/$compression" . ($jobs > 1 ? "/jobs=$jobs" : '');
	reload_and_wait($node,
		'protech_backup.format' => $format,
		'protech_backup.compression' => $compression,
		'protech_backup.jobs' => $jobs);

	my ($file, $fmt, $comp, $size, $sha) = split /\|/,
	  $node->safe_psql('app',
		'SELECT file_name, format, compression, size_bytes, sha256 FROM protech_backup_now()');
	$taken{$what} = $file;
	my $path = "$dir/$file";
	like($file, qr/^protech_backup_\d{8}_\d{6}(_\d+)?\Q$suffix\E$/, "$what: named *$suffix");
	is("$fmt|$comp", "$format|$recorded", "$what: format and compression recorded");
	if ($format eq 'directory')
	{
		ok(-d $path, "$what: stored as a folder");
		is((stat($path))[2] & 07777, 0700, "$what: folder mode 0700");
		is(folder_size($path), $size, "$what: size_bytes is the total of its files");
		is(folder_sha256($path), $sha, "$what: sha256 follows the documented recipe");
	}
	else
	{
		ok(-f $path, "$what: stored as a file");
		is((stat($path))[2] & 07777, 0600, "$what: file mode 0600");
		is(-s $path, $size, "$what: size_bytes is the size of the file");
		is(sha256_of($path), $sha, "$what: sha256 is the hash of the file as stored");
	}
	is($node->safe_psql('app',
		"SELECT count(*) FROM protech_backup_list() WHERE file_name = '$file' AND sha256 = '$sha'"),
		'1', "$what: listed");
	is(check_stored($node, $file), 'ok', "$what: reads back and decompresses as recorded");

	my $db = 'restored_' . $n++;
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	my @cmds = map {
		[ map { $_ eq 'FILE' ? $path : $_ eq 'DB' ? $node->connstr($db) : $_ } @$_ ]
	} @$restore;
	my $stderr;
	my $ok = IPC::Run::run(@{ join_pipeline(\@cmds) }, '2>', \$stderr);
	ok($ok, "$what: restores with " . join(' | ', map { $_->[0] } @cmds))
	  or diag($stderr);
	is(schema_of($node, $db), $src_schema, "$what: restored schema equals the source");
	is_deeply(contents($node, $db), $src_contents,
		"$what: restored rows and sequences equal the source");
}

is($node->safe_psql('app', 'SELECT count(*) FROM protech_backup_list()'),
	scalar(@combinations), 'every backup is listed');

# Every combination downloads over SQL, the script checking the SHA-256
# the manifest records (for a folder, its listing hash).
my $download = Cwd::abs_path('bin/protech_backup_download');
for my $what (sort keys %taken)
{
	my $stderr;
	my $ok = IPC::Run::run(
		[ $download, '-h', $node->host, '-p', $node->port, '-d', 'app', $taken{$what} ],
		'>', $node->basedir . '/downloaded', '2>', \$stderr);
	ok($ok, "$what: downloads with its SHA-256 checked") or diag($stderr);
}

# Damaged backups: the stored-backup check says what is wrong.
my $zst = $taken{'plain/zstd:5'};
flip_byte("$dir/$zst", int((-s "$dir/$zst") / 2));
like(check_stored($node, $zst), qr/^file ".*\Q$zst\E": zstd data is damaged: /,
	'a damaged zstd backup is reported by the check');

my $gz = $taken{'plain/gzip'};
flip_byte("$dir/$gz", int((-s "$dir/$gz") / 2));
like(check_stored($node, $gz), qr/^file ".*\Q$gz\E": gzip data is damaged: /,
	'a damaged gzip backup is reported by the check');

my $sql = $taken{'plain/none'};
flip_byte("$dir/$sql", 100);
like(check_stored($node, $sql), qr/^".*\Q$sql\E" has SHA-256 [0-9a-f]{64}, its manifest records [0-9a-f]{64}$/,
	'a changed uncompressed backup is reported by its SHA-256');

my $folder = "$dir/$taken{'directory/gzip'}";
opendir(my $dh, $folder) or die;
my ($data) = sort grep { /\.dat\.gz$/ && -s "$folder/$_" > 100 } readdir($dh);
closedir($dh);
flip_byte("$folder/$data", 60);
like(check_stored($node, $taken{'directory/gzip'}), qr/^file ".*\Q$data\E": gzip data is damaged: /,
	'a damaged file of a directory-format backup is reported by the check');

truncate("$dir/$zst", (-s "$dir/$zst") - 10) or die;
is($node->safe_psql('app', "SELECT count(*) FROM protech_backup_list() WHERE file_name = '$zst'"),
	'0', 'a truncated backup is no longer listed');
isnt(check_stored($node, $zst), 'ok', 'a truncated backup is reported by the check');
is($node->safe_psql('app', 'SELECT count(*) FROM protech_backup_list()'),
	scalar(@combinations) - 1, 'the list leaves out the truncated backup');

# Combinations that cannot work: refused at once, nothing written.
my @before = backup_files($node);
for my $bad (
	[
		{ 'protech_backup.format' => 'directory', 'protech_backup.compression' => 'zstd', 'protech_backup.jobs' => 1 },
		qr/ERROR:  22023: protech_backup.compression "zstd" cannot be used with protech_backup.format "directory"\nDETAIL:  pg_dump writes a directory-format dump itself, and the pg_dump of PostgreSQL 15 compresses it only with gzip\.\nHINT:  /,
		'directory with zstd'
	],
	[
		{ 'protech_backup.format' => 'plain', 'protech_backup.compression' => 'none', 'protech_backup.jobs' => 2 },
		qr/ERROR:  22023: protech_backup.jobs 2 cannot be used with protech_backup.format "plain"\nDETAIL:  Only a directory-format dump is written by parallel jobs\.\nHINT:  /,
		'jobs with plain'
	])
{
	my ($settings, $pattern, $what) = @$bad;
	reload_and_wait($node, %$settings);
	my ($ret, $out, $err) = $node->psql('app',
		"\\set VERBOSITY verbose\nSELECT * FROM protech_backup_now()");
	like($err, $pattern, "$what: refused with 22023 and why");
	is_deeply([ backup_files($node) ], \@before, "$what: nothing written");
}

# Extra pg_dump options, quoted as a shell would, reach pg_dump.
reload_and_wait($node,
	'protech_backup.format' => 'plain',
	'protech_backup.compression' => 'none',
	'protech_backup.jobs' => 1,
	'protech_backup.pg_dump_options' => q{"--exclude-table-data=sales.orders_2025" --no-comments});
my $partial = backup_now($node);
my $text = slurp_file("$dir/$partial");
unlike($text, qr/^COPY sales\.orders_2025 /m, 'pg_dump_options: the excluded table data is left out');
like($text, qr/^COPY sales\.orders_2026 /m, 'pg_dump_options: other table data is there');
unlike($text, qr/^COMMENT ON /m, 'pg_dump_options: the second option applies too');
reload_and_wait($node, 'protech_backup.pg_dump_options' => '');

# A directory-format pg_dump that fails after writing part of its folder,
# and a folder a crash left behind: neither stays.
@before = backup_files($node);
my $failing = fake_pg_dump($node, 'failing_dir_pg_dump', <<'EOS');
for a in "$@"; do case "$a" in --file=*) d="${a#--file=}"; mkdir "$d"; echo x > "$d/toc.dat";; esac; done
echo "pg_dump: error: simulated failure" >&2
exit 1
EOS
reload_and_wait($node,
	'protech_backup.format' => 'directory',
	'protech_backup.pg_dump_path' => $failing);
my ($ret, $out, $err) = $node->psql('app', 'SELECT * FROM protech_backup_now()');
like($err, qr/pg_dump of database "app" failed: child process exited with exit code 1/,
	'failing directory-format pg_dump: the error says so');
is_deeply([ backup_files($node) ], \@before, 'failing directory-format pg_dump: its folder is removed');

mkdir("$dir/protech_backup_20000101_000000.dir.partial") or die;
open(my $fh, '>', "$dir/protech_backup_20000101_000000.dir.partial/toc.dat") or die;
close($fh);
reload_and_wait($node, 'protech_backup.pg_dump_path' => '');
my $last = backup_now($node);
is_deeply([ backup_files($node) ], [ sort(@before, $last, "$last.database.sql", "$last.globals.sql", "$last.json") ],
	'a partial folder a crash left is removed by the next backup');

done_testing();
