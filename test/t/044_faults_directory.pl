# Faults of the backup directory: a full disk (while the dump, a
# directory-format dump or the manifest is written), less free space than
# the last backup needs or than protech_backup.min_free_space, a missing
# parent, a directory that is not writable or was replaced by a file.
#
# The disk-full faults need a small file system: .ci/test and test/suite
# mount a 16 MB tmpfs and pass its path in PROTECH_BACKUP_TMPFS; without
# it they skip.
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

my $node = new_fault_node('faults_directory');
my $home_dir = $node->{protech_backup_dir};

#
# A full disk, on a small tmpfs; the free-space check.
#
SKIP:
{
	my $tmpfs = $ENV{PROTECH_BACKUP_TMPFS};
	skip 'PROTECH_BACKUP_TMPFS is not set (.ci/test mounts a 16 MB tmpfs there as root): the disk-full faults are not injected', 1
	  unless $tmpfs && -d $tmpfs && -w $tmpfs;

	my $small = "$tmpfs/backups";
	reload_and_wait($node,
		'protech_backup.directory' => $small,
		'protech_backup.min_free_space' => 0);
	$node->{protech_backup_dir} = $small;
	backup_now($node);

	my $filler =
	  'CREATE TABLE filler AS SELECT g AS id, md5(g::text) || md5((g + 1)::text) AS payload FROM generate_series(1, 300000) AS g';

	fault(
		$node,
		'disk full while the dump is written',
		sub {
			$node->safe_psql('app', $filler);
			like(
				backup_error($node),
				qr/ERROR:  53100: could not write to file "\Q$small\E\/protech_backup_\d{8}_\d{6}(_\d+)?\.sql\.partial": No space left on device/,
				'disk full: says which file could not be written, and why');
		},
		history => qr/No space left on device/,
		recover => sub { $node->safe_psql('app', 'DROP TABLE filler') });

	fault(
		$node,
		'disk full while pg_dump writes a directory-format dump',
		sub {
			$node->safe_psql('app', $filler);
			reload_and_wait($node, 'protech_backup.format' => 'directory');
			like(
				backup_error($node),
				qr/ERROR:  38000: pg_dump of database "app" failed: child process exited with exit code 1\nDETAIL:  pg_dump printed:\n.*No space left on device/s,
				'disk full, directory format: pg_dump says why');
		},
		history => qr/No space left on device/,
		recover => sub {
			$node->safe_psql('app', 'DROP TABLE filler');
			reload_and_wait($node, 'protech_backup.format' => 'plain');
		});

	# A dump that fills the disk exactly, leaving no room for the globals
	# file and the manifest written after it: the dump renamed into place
	# must go too.
	fault(
		$node,
		'disk full while the manifest is written',
		sub {
			my $free = $node->safe_psql('app',
				'SELECT directory_free_bytes FROM protech_backup_status()');
			my $exact = fake_pg_dump($node, 'exact_pg_dump', "head -c $free /dev/zero");
			reload_and_wait($node, 'protech_backup.pg_dump_path' => $exact);
			like(
				backup_error($node),
				qr/ERROR:  53100: could not write to file "\Q$small\E\/protech_backup_\d{8}_\d{6}(_\d+)?\.sql(\.globals\.sql|\.database\.sql|\.json)\.partial": No space left on device/,
				'disk full after the dump (at the globals, the properties or the manifest): says so');
			my $listed = listed_sha256($node);
			is( scalar(
					grep { !/\.json$/ && !exists $listed->{ s/\.(globals|database)\.sql$//r } }
					  backup_files($node)),
				0,
				'disk full after the dump: no dump without a manifest is left');
		},
		history => qr/(\.globals\.sql|\.database\.sql|\.json)\.partial": No space left on device/,
		recover => sub { reload_and_wait($node, 'protech_backup.pg_dump_path' => '') });

	fault(
		$node,
		'less free space than 1.2 times the last backup',
		sub {
			my $nine_mb = fake_pg_dump($node, 'nine_mb_pg_dump', 'head -c 9000000 /dev/zero');
			reload_and_wait($node,
				'protech_backup.pg_dump_path' => $nine_mb,
				'protech_backup.min_free_space' => '1MB');
			my $last = backup_now($node);
			reload_and_wait($node, 'protech_backup.pg_dump_path' => '');
			my @files = backup_files($node);
			like(
				backup_error($node),
				qr/ERROR:  53100: not enough free space in backup directory "\Q$small\E" to start a backup\nDETAIL:  Its file system has .* \(\d+ bytes\) free, less than 1\.2 times the size of the last backup "\Q$last\E", .* \(9000000 bytes\)\.\nHINT:  /,
				'refused up front: the numbers and the last backup');
			is_deeply([ backup_files($node) ], \@files, 'refused up front: nothing written');
			like(
				$node->safe_psql('app',
					"SELECT array_to_string(problems, ';') FROM protech_backup_status()"),
				qr/free space in \Q$small\E \(.*\) is less than the size of the last backup \(.*\)/,
				'and protech_backup_status() reports too little room for the next backup');
			unlink("$small/$last.json", "$small/$last.globals.sql", "$small/$last.database.sql",
				"$small/$last") == 4
			  or die "could not remove $last";
		},
		recover => sub { reload_and_wait($node, 'protech_backup.min_free_space' => 0) });

	reload_and_wait($node,
		'protech_backup.directory' => $home_dir,
		'protech_backup.min_free_space' => '1GB');
	$node->{protech_backup_dir} = $home_dir;
}

fault(
	$node,
	'less free space than protech_backup.min_free_space',
	sub {
		reload_and_wait($node, 'protech_backup.min_free_space' => '2000TB');
		like(
			backup_error($node),
			qr/ERROR:  53100: not enough free space in backup directory "\Q$home_dir\E" to start a backup\nDETAIL:  Its file system has .* free, less than protech_backup.min_free_space, 2000 TB \(2199023255552000 bytes\)\.\nHINT:  .*0 turns this check off/,
			'refused up front with the numbers');
	},
	recover => sub { reload_and_wait($node, 'protech_backup.min_free_space' => '1GB') });

#
# The directory missing, not writable, replaced by a file.
#
fault(
	$node,
	'backup directory whose parent is missing',
	sub {
		my $missing = $node->basedir . '/no_such_parent/backups';
		reload_and_wait($node, 'protech_backup.directory' => $missing);
		like(
			backup_error($node),
			qr/ERROR:  58P01: could not create backup directory "\Q$missing\E": No such file or directory\nHINT:  Create it/,
			'missing parent: says so');
		ok(!-e $missing, 'missing parent: nothing created');
	},
	recover => sub { reload_and_wait($node, 'protech_backup.directory' => $home_dir) });

fault(
	$node,
	'backup directory not writable',
	sub {
		chmod(0500, $home_dir) or die;
		like(
			backup_error($node),
			qr/ERROR:  42501: could not create file "\Q$home_dir\E\/protech_backup_\d{8}_\d{6}(_\d+)?\.sql\.partial": Permission denied/,
			'not writable: says so');
	},
	history => qr/Permission denied/,
	recover => sub { chmod(0700, $home_dir) or die });

fault(
	$node,
	'backup directory replaced by a file',
	sub {
		rename($home_dir, "$home_dir.moved") or die;
		open(my $fh, '>', $home_dir) or die;
		close($fh);
		like(
			backup_error($node),
			qr/ERROR:  42809: backup directory "\Q$home_dir\E" is not a directory\nHINT:  /,
			'replaced by a file: says so');
	},
	history => qr/is not a directory/,
	recover => sub {
		unlink($home_dir) or die;
		rename("$home_dir.moved", $home_dir) or die;
	});

faults_summary();

done_testing();
