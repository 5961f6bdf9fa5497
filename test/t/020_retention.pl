# Backup retention on real backups: 33 backups with retention_count = 30
# leave the newest 30; files the extension did not write are never touched;
# a dry run deletes nothing; stale .partial files go with the next backup;
# a deletion that fails is a WARNING and the others go on; a failed backup
# runs no retention; cleanup never races a running backup; a backup whose
# verification failed takes no place under the keep rules.
use strict;
use warnings;

use lib 'test/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use ProtechBackupTest;
use Test::More;

my $node = new_backup_node('retention',
	conf => "protech_backup.retention_count = 30\n");
my $dir = $node->{protech_backup_dir};
$node->safe_psql('app',
	"CREATE TABLE pets (id int PRIMARY KEY, name text); INSERT INTO pets VALUES (1, 'Bantay')"
);

# Files retention must never touch, there before the first backup: foreign
# files, a subdirectory, a dump without a manifest, a dump with a broken
# manifest, and a directory where a manifest would be.
mkdir $dir, 0700 or die "could not create $dir: $!";
my @foreign = (
	'notes.txt', 'other.sql',
	'protech_backup_manual_copy.sql', 'archive/',
	'protech_backup_20190101_000000.sql', 'protech_backup_20190101_000000.sql.json/',
	'protech_backup_20200101_000000.sql', 'protech_backup_20210101_000000.sql',
	'protech_backup_20210101_000000.sql.json');
for my $name (@foreign)
{
	if ($name =~ m{^(.*)/$})
	{
		mkdir "$dir/$1", 0700 or die "could not create $dir/$1: $!";
		append_to_file("$dir/$1/keep_me.txt", "mine\n");
	}
	else
	{
		append_to_file("$dir/$name",
			$name =~ /\.json$/ ? "{}\n" : "-- not a backup of ours\n");
	}
}
s{/$}{} for @foreign;

# What a crashed backup leaves behind.
my @partials = (
	'protech_backup_20250101_000000.sql.partial',
	'protech_backup_20250101_000000.sql.json.partial');
append_to_file("$dir/$_", "half a dump") for @partials;

# What the directory must hold: the foreign files and these backups.
sub expected_entries
{
	return join(' ',
		sort(@foreign, map { ($_, "$_.database.sql", "$_.globals.sql", "$_.json") } @_));
}

sub listed
{
	return $node->safe_psql('app',
		q{SELECT string_agg(file_name, ' ' ORDER BY started_at) FROM protech_backup_list()}
	);
}


#
# The first backup removes the stale partial files.
#
my $log_offset = -s $node->logfile;
my @names = (backup_now($node));
ok(!-e "$dir/$_", "stale $_ is removed by the next backup") for @partials;
my $log = slurp_file($node->logfile, $log_offset);
like(
	$log,
	qr/protech_backup: removed stale partial backup "\Q$dir\/$_\E"/,
	"removal of stale $_ is logged") for @partials;

#
# 33 backups with retention_count = 30: the newest 30 stay.
#
push @names, backup_now($node) for 2 .. 33;
is(scalar(keys %{ { map { $_ => 1 } @names } }), 33, '33 distinct backups taken');
is(listed(), join(' ', @names[ 3 .. 32 ]),
	'the list holds exactly the newest 30 backups');
is(join(' ', backup_files($node)), expected_entries(@names[ 3 .. 32 ]),
	'the directory holds the newest 30 backups and every foreign file');
$log = slurp_file($node->logfile, $log_offset);
for my $gone (@names[ 0 .. 2 ])
{
	like(
		$log,
		qr/LOG:  protech_backup: deleted backup "\Q$gone\E": not kept by any keep rule/,
		"deletion of $gone is logged with its reason");
}
my @deleted = $log =~ /protech_backup: deleted backup "([^"]+)"/g;
is(scalar @deleted, 3, 'nothing else was deleted');
is( $node->safe_psql(
		'app',
		"SELECT string_agg(message, E'\\n' ORDER BY run_id) FROM protech_backup_history WHERE message LIKE 'retention: %'"
	),
	join("\n",
		map { "retention: deleted \"$_\": not kept by any keep rule" }
		  @names[ 0 .. 2 ]),
	'each deletion is recorded in the run history of the backup that caused it');

#
# A dry run shows the plan and deletes nothing.
#
reload_and_wait($node, 'protech_backup.retention_count' => 28);
is( $node->safe_psql(
		'app',
		q{SELECT file_name, action, reason FROM protech_backup_cleanup(dry_run => true)}
	),
	join("\n",
		(map { "$_|keep|newest 28" } reverse @names[ 5 .. 32 ]),
		(map { "$_|delete|not kept by any keep rule" } reverse @names[ 3 .. 4 ])),
	'a dry run lists every backup, newest first, with its action and reason');
is(join(' ', backup_files($node)), expected_entries(@names[ 3 .. 32 ]),
	'a dry run deletes nothing');

#
# Deletions that fail are WARNINGs, and the others are still tried: with
# the directory read-only the first fails and the second is attempted too.
#
$log_offset = -s $node->logfile;
chmod 0500, $dir or die "could not chmod $dir: $!";
my ($ret, $out, $err) = $node->psql('app',
	q{SELECT file_name, action FROM protech_backup_cleanup() WHERE action <> 'keep'}
);
chmod 0700, $dir or die "could not chmod $dir: $!";
is($ret, 0, 'cleanup with undeletable backups succeeds');
is($out, "$names[4]|delete failed\n$names[3]|delete failed",
	'backups that could not be deleted are reported as such');
like(
	$err,
	qr/WARNING:  could not delete backup "\Q$names[3]\E": Permission denied.*WARNING:  could not delete backup "\Q$names[4]\E": Permission denied/s,
	'each failed deletion is a WARNING, and a failure does not stop the rest'
);
is(listed(), join(' ', @names[ 3 .. 32 ]),
	'backups that could not be deleted are still complete and listed');
unlike(slurp_file($node->logfile, $log_offset),
	qr/deleted backup/, 'no deletion is logged when none happened');

# Once the directory is writable again, the next backup catches up.
push @names, backup_now($node);
is(listed(), join(' ', @names[ 6 .. 33 ]),
	'the next backup rotates the backups retention could not delete before');
is(join(' ', backup_files($node)), expected_entries(@names[ 6 .. 33 ]),
	'their dumps and manifests are gone, the foreign files are not');

#
# A failed backup runs no retention, even when the rules would delete.
#
reload_and_wait(
	$node,
	'protech_backup.retention_count' => 1,
	'protech_backup.pg_dump_path' => '/nonexistent/pg_dump');
$log_offset = -s $node->logfile;
($ret, $out, $err) =
  $node->psql('app', 'SELECT file_name FROM protech_backup_now()');
isnt($ret, 0, 'a backup with a missing pg_dump fails');
like($err, qr/could not execute pg_dump/, 'it says why');
is(listed(), join(' ', @names[ 6 .. 33 ]),
	'a failed backup deletes no backup');
unlike(slurp_file($node->logfile, $log_offset),
	qr/deleted backup/, 'and logs no deletion');
reload_and_wait(
	$node,
	'protech_backup.retention_count' => 28,
	'protech_backup.pg_dump_path' => '');

#
# Cleanup never races a running backup: hold a lock pg_dump waits for, so
# that a backup stays in progress.
#
my $locker = lock_table($node, 'app', 'pets');
my $backer = background_call($node, 'app',
	'SELECT file_name FROM protech_backup_now()', on_error_stop => 1);
$node->poll_query_until('app',
	q{SELECT EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 'protech_backup' AND wait_event_type = 'Lock')}
) or die 'pg_dump never waited for the lock';

my @in_progress = glob("$dir/*.partial");
is(scalar @in_progress, 1, 'the running backup writes a .partial file');
($ret, $out, $err) =
  $node->psql('app', 'SELECT * FROM protech_backup_cleanup()');
isnt($ret, 0, 'cleanup fails while a backup runs');
like($err, qr/ERROR:  another backup is already running/,
	'because the backup holds the slot');
is( $node->safe_psql(
		'app',
		q{SELECT count(*), bool_and(action = 'keep') FROM protech_backup_cleanup(true)}
	),
	'28|t',
	'a dry run needs no slot and does not see the backup in progress');
ok(-e $in_progress[0], 'the backup in progress is untouched');

$log_offset = -s $node->logfile;
$locker->query_safe('COMMIT');
my $finished = $backer->query_safe('SELECT 1');
$locker->quit;
$backer->quit;
like($finished, qr/^(protech_backup_\d{8}_\d{6}(_\d+)?\.sql)\n1$/,
	'the backup finishes once the lock is gone');
push @names, $finished =~ /^(\S+)/;
is(listed(), join(' ', @names[ 7 .. 34 ]),
	'and its retention deletes the oldest backup');
like(
	slurp_file($node->logfile, $log_offset),
	qr/protech_backup: deleted backup "\Q$names[6]\E": not kept by any keep rule/,
	'which is logged');
ok(!-e $in_progress[0], 'no .partial file is left');

#
# A backup whose verification failed takes no place under the keep rules:
# with one of the 28 damaged, the next backup keeps 28 good ones, and the
# damaged one stays as long as it would anyway, for a DBA to inspect.
#
my $damaged = $names[33];
flip_byte("$dir/$damaged", 10);
is( $node->safe_psql('app',
		"SELECT checksum_ok FROM protech_backup_verify('$damaged')"),
	'f', 'a damaged backup fails its verification');
push @names, backup_now($node);
is(listed(), join(' ', @names[ 7 .. 35 ]),
	'the next backup keeps 28 good backups besides the damaged one');
is( $node->safe_psql('app',
		"SELECT file_name, reason FROM protech_backup_cleanup(dry_run => true) WHERE file_name IN ('$names[7]', '$damaged') ORDER BY file_name"
	),
	"$names[7]|newest 28, not counting backups that failed verification\n$damaged|newest 28",
	'the oldest is kept because the damaged one does not count');

$node->stop;
done_testing();
