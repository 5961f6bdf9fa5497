# Encrypted backups with age (protech_backup.encryption_recipients): every
# file format and compression is stored encrypted under a name ending in
# .age, checksum-verified without the private key, restored with it (by
# the extension and by hand with the stock age binary) into a database
# equal to the source; no cleartext of a marker ever reaches the backup
# directory, not even while the dump is written; a missing or wrong
# identity is a clear error; age killed in the middle of a backup leaves
# nothing behind; directory format is refused; the rclone recipe copies
# only ciphertext; it downloads over SQL as stored.  The globals and
# database-level properties files are encrypted too, named .age, and read
# through age by a restore (restore_globals included).
use strict;
use warnings;

use lib 'test/lib';
use Cwd;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use ProtechBackupTest;
use Test::More;

my $node = new_backup_node('crypt_node', fixture => 1);
my $dir = $node->{protech_backup_dir};
my $base = $node->basedir;

# two key pairs: the backups' and a wrong one
sub keygen
{
	my ($path) = @_;
	my ($out, $err);
	IPC::Run::run([ 'age-keygen', '-o', $path ], '>', \$out, '2>', \$err)
	  or die "age-keygen failed: $err";
	my ($public) = $err =~ /(age1[0-9a-z]{58})/ or die "no public key in: $err";
	return $public;
}
my $public = keygen("$base/key.txt");
my $other = keygen("$base/other.txt");
append_to_file("$base/recipients.txt",
	"# the backup keys\n$public\n\n  $other  \n");

# a marker whose cleartext must never be in the backup directory
my $marker = 'PROTECH-CLEARTEXT-MARKER-7f3a';
$node->safe_psql('app',
	"CREATE TABLE secrets(id int, v text); INSERT INTO secrets SELECT g, '$marker' || g FROM generate_series(1, 20000) g"
);
# and in the database-level properties: a comment, a role granted CONNECT
$node->safe_psql('app',
	"COMMENT ON DATABASE app IS '$marker in the comment'; CREATE ROLE crypt_reader LOGIN; GRANT CONNECT ON DATABASE app TO crypt_reader"
);

my $src_schema = schema_of($node, 'app');
my $src_contents = contents($node, 'app');
my ($ntables, $nrows) = split /\|/, $node->safe_psql('app',
	q{SELECT tables, rows FROM protech_backup_verify((SELECT file_name FROM protech_backup_now()), restore => true)});

# Every file in the backup directory, whole, must not hold the marker in
# clear; returns the names of those that do.
sub cleartext_files
{
	my @found;
	opendir(my $dh, $dir) or return ();
	for my $f (grep { !/^\.\.?$/ } readdir($dh))
	{
		next unless -f "$dir/$f";
		open(my $fh, '<', "$dir/$f") or next;
		binmode $fh;
		local $/;
		my $data = <$fh> // '';
		close($fh);
		push @found, $f if index($data, $marker) >= 0;
	}
	closedir($dh);
	return @found;
}

# the directory's clear backup from above holds the marker: keep it apart
my @clear = listed_backups($node);
mkdir "$base/clear" or die;
for my $f (backup_files($node))
{
	rename("$dir/$f", "$base/clear/$f") or die "could not move $f: $!";
}

# format, compression, suffix, by-hand restore pipeline (FILE, DB, KEY)
my @combinations = (
	[ 'plain', 'none', '.sql.age', [ [qw(age -d -i KEY FILE)], [qw(psql -X -q -v ON_ERROR_STOP=1 -d DB)] ] ],
	[ 'plain', 'gzip', '.sql.gz.age', [ [qw(age -d -i KEY FILE)], [qw(gzip -dc)], [qw(psql -X -q -v ON_ERROR_STOP=1 -d DB)] ] ],
	[ 'plain', 'zstd', '.sql.zst.age', [ [qw(age -d -i KEY FILE)], [qw(zstd -qdc)], [qw(psql -X -q -v ON_ERROR_STOP=1 -d DB)] ] ],
	[ 'custom', 'none', '.dump.age', [ [qw(age -d -i KEY FILE)], [qw(pg_restore --exit-on-error -d DB)] ] ],
	[ 'custom', 'gzip', '.dump.age', [ [qw(age -d -i KEY FILE)], [qw(pg_restore --exit-on-error -d DB)] ] ],
	[ 'custom', 'zstd', '.dump.zst.age', [ [qw(age -d -i KEY FILE)], [qw(zstd -qdc)], [qw(pg_restore --exit-on-error -d DB)] ] ],
);

sub scalar_of
{
	my ($sql, $db) = @_;
	return $node->safe_psql($db // 'app', $sql);
}

my $n = 0;
my %taken;
for my $c (@combinations)
{
	my ($format, $compression, $suffix, $by_hand) = @$c;
	my $what = "$format/$compression";
	# the recipients file for one combination, the key itself for the others
	reload_and_wait($node,
		'protech_backup.format' => $format,
		'protech_backup.compression' => $compression,
		'protech_backup.encryption_recipients' =>
		  ($n == 2 ? "\@$base/recipients.txt" : $public),
		'protech_backup.encryption_identity_file' => '');
	my ($file, $size, $sha, $globals) = split /\|/,
	  scalar_of('SELECT file_name, size_bytes, sha256, globals_file FROM protech_backup_now()');
	$taken{$what} = $file;
	like($file, qr/^protech_backup_\d{8}_\d{6}(_\d+)?\Q$suffix\E$/, "$what: named *$suffix");
	is($globals, "$file.globals.sql.age", "$what: the globals file is encrypted too");
	my ($properties) =
	  slurp_file("$dir/$file.json") =~ /"database_properties_file": "([^"]*)"/;
	is($properties, "$file.database.sql.age",
		"$what: the database-level properties file is encrypted too");
	for my $f ($file, $globals, $properties)
	{
		is(substr(slurp_file("$dir/$f"), 0, 21), 'age-encryption.org/v1',
			"$what: $f is an age file");
	}
	is(-s "$dir/$file", $size, "$what: size_bytes is that of the encrypted file");
	is(sha256_of("$dir/$file"), $sha, "$what: sha256 is that of the encrypted file");
	my $manifest = slurp_file("$dir/$file.json");
	like($manifest, qr/"encryption": "age"/, "$what: the manifest says age");
	like($manifest,
		$n == 2 ? qr/"recipients": \["\Q$public\E", "\Q$other\E"\]/ : qr/"recipients": \["\Q$public\E"\]/,
		"$what: the manifest records the public keys");
	unlike($manifest, qr/AGE-SECRET-KEY/, "$what: and no secret");
	is(scalar_of("SELECT verify_result FROM protech_backup_list() WHERE file_name = '$file'"),
		'ok: checksum', "$what: checksum-verified after the backup, without the key");
	is(scalar_of("SELECT checksum_ok, detail IS NULL FROM protech_backup_verify('$file')"),
		't|t', "$what: verify by checksum needs no key");
	is(join(',', cleartext_files()), '', "$what: no cleartext marker in the directory");

	# restore through the extension, with the identity
	reload_and_wait($node,
		'protech_backup.encryption_identity_file' => "$base/key.txt");
	is(scalar_of("SELECT checksum_ok, restored, tables, rows FROM protech_backup_verify('$file', restore => true)"),
		"t|t|$ntables|$nrows", "$what: verify restores it with the identity");
	my $db = 'crypt_restored_' . $n;
	is(scalar_of("SELECT tables, rows FROM protech_backup_restore('$file', '$db')"),
		"$ntables|$nrows", "$what: restores with the identity");
	is(schema_of($node, $db), $src_schema, "$what: restored schema equals the source");
	is_deeply(contents($node, $db), $src_contents,
		"$what: restored rows and sequences equal the source");
	is( scalar_of(
			"SELECT shobj_description(oid, 'pg_database'), has_database_privilege('crypt_reader', oid, 'CONNECT') FROM pg_database WHERE datname = '$db'"
		),
		"$marker in the comment|t",
		"$what: restored with its database-level properties, decrypted");
	scalar_of("DROP DATABASE $db", 'postgres');

	# by hand, with the stock binaries
	$db = 'crypt_by_hand_' . $n++;
	scalar_of("CREATE DATABASE $db", 'postgres');
	my @cmds = map {
		[ map {
				$_ eq 'FILE' ? "$dir/$file"
			  : $_ eq 'DB' ? $node->connstr($db)
			  : $_ eq 'KEY' ? "$base/key.txt"
			  : $_
		} @$_ ]
	} @$by_hand;
	my $stderr;
	ok(IPC::Run::run(@{ join_pipeline(\@cmds) }, '2>', \$stderr),
		"$what: restores by hand with " . join(' | ', map { $_->[0] } @cmds))
	  or diag($stderr);
	is_deeply(contents($node, $db), $src_contents, "$what: by hand, rows equal the source");
	scalar_of("DROP DATABASE $db", 'postgres');
}

my $zst = $taken{'plain/zstd'};

# restore_globals reads the encrypted globals and properties through age:
# without the identity, the dump's error before any role is created; with
# it, the dropped role back and granted CONNECT again.
$node->safe_psql('app',
	'REVOKE CONNECT ON DATABASE app FROM crypt_reader; DROP ROLE crypt_reader');
reload_and_wait($node, 'protech_backup.encryption_identity_file' => '');
{
	my ($ret, $out, $err) = $node->psql('app',
		"\\set VERBOSITY verbose\nSELECT * FROM protech_backup_restore('$zst', 'crypt_globals', restore_globals => true)");
	like($err, qr/ERROR:  22023: backup "\Q$zst\E" is encrypted and protech_backup.encryption_identity_file is not set/,
		'restore_globals without identity: 22023 naming the setting');
	is( scalar_of(
			"SELECT (SELECT count(*) FROM pg_roles WHERE rolname = 'crypt_reader') + (SELECT count(*) FROM pg_database WHERE datname = 'crypt_globals')"
		),
		'0', 'restore_globals without identity: no role, no database created');
}
reload_and_wait($node,
	'protech_backup.encryption_identity_file' => "$base/key.txt");
like( scalar_of(
		"SELECT tables, rows, array_to_string(notes, ';') FROM protech_backup_restore('$zst', 'crypt_globals', restore_globals => true)"
	),
	qr/^\Q$ntables|$nrows|\E.*role "[^"]+" existed already: left as it is/,
	'restore_globals of an encrypted backup with the identity');
is( scalar_of(
		"SELECT r.rolcanlogin, has_database_privilege('crypt_reader', d.oid, 'CONNECT'), shobj_description(d.oid, 'pg_database') FROM pg_roles r, pg_database d WHERE r.rolname = 'crypt_reader' AND d.datname = 'crypt_globals'"
	),
	"t|t|$marker in the comment",
	'restore_globals: the role created from the decrypted globals, the decrypted properties applied');
is_deeply(contents($node, 'crypt_globals'), $src_contents,
	'restore_globals: rows equal the source');
scalar_of('DROP DATABASE crypt_globals', 'postgres');

# The download over SQL checks the ciphertext's SHA-256: no key needed.
{
	my $stderr;
	ok( IPC::Run::run(
			[ Cwd::abs_path('bin/protech_backup_download'), '-h', $node->host, '-p', $node->port, '-d', 'app', $zst ],
			'>', "$base/downloaded", '2>', \$stderr),
		'an encrypted backup downloads with its SHA-256 checked') or diag($stderr);
	is(sha256_of("$base/downloaded"), sha256_of("$dir/$zst"), 'the download is the ciphertext as stored');
}

# A manifest whose encryption fields are not as written describes no backup:
# not listed.
{
	my $manifest = "$dir/$zst.json";
	my $good = slurp_file($manifest);
	for my $edit (
		[ 'another encryption', sub { s/"encryption": "age"/"encryption": "rot13"/ } ],
		[ 'no recipients', sub { s/,\n  "recipients": \[[^\]]*\]// } ],
		[ 'a recipient that is no key', sub { s/"recipients": \["age1/"recipients": ["age2/ } ],
		[ 'no encryption field', sub { s/,\n  "encryption": "age"// } ])
	{
		my ($what, $change) = @$edit;
		local $_ = $good;
		$change->();
		isnt($_, $good, "manifest with $what: edited");
		open(my $fh, '>', $manifest) or die;
		print $fh $_;
		close($fh);
		ok(!grep({ $_ eq $zst } listed_backups($node)), "manifest with $what: not listed");
	}
	open(my $fh, '>', $manifest) or die;
	print $fh $good;
	close($fh);
	ok(grep({ $_ eq $zst } listed_backups($node)), 'the manifest as written: listed again');
}

# the globals file by hand
{
	my ($out, $err);
	ok(IPC::Run::run([ 'age', '-d', '-i', "$base/key.txt", "$dir/$zst.globals.sql.age" ],
			'>', \$out, '2>', \$err), 'the globals file decrypts by hand');
	like($out, qr/CREATE ROLE/, 'into the roles script');
}

# Missing identity: restore fails at once, naming the setting; the checksum
# part of a verification still runs.
reload_and_wait($node, 'protech_backup.encryption_identity_file' => '');
my ($ret, $out, $err) = $node->psql('app',
	"\\set VERBOSITY verbose\nSELECT * FROM protech_backup_restore('$zst', 'crypt_no_key')");
like($err, qr/ERROR:  22023: backup "\Q$zst\E" is encrypted and protech_backup.encryption_identity_file is not set/,
	'restore without identity: 22023 naming the setting');
is(scalar_of("SELECT count(*) FROM pg_database WHERE datname = 'crypt_no_key'", 'postgres'),
	'0', 'restore without identity: no database created');
($ret, $out, $err) = $node->psql('app',
	"\\set VERBOSITY verbose\nSELECT * FROM protech_backup_verify('$zst', restore => true)");
like($err, qr/ERROR:  22023: .*protech_backup.encryption_identity_file is not set/,
	'verify with restore without identity: 22023 naming the setting');
is(scratch_databases($node), '0', 'no scratch database left');
reload_and_wait($node, 'protech_backup.verify_after_backup' => 'restore');
backup_fails($node, '22023',
	qr/protech_backup.verify_after_backup "restore" needs protech_backup.encryption_identity_file/,
	'verify_after_backup = restore without identity');
reload_and_wait($node, 'protech_backup.verify_after_backup' => 'checksum');

# Wrong identity: a clear error, the target database dropped.
my $cz = $taken{'custom/zstd'};
reload_and_wait($node, 'protech_backup.encryption_identity_file' => "$base/other.txt");
($ret, $out, $err) = $node->psql('app',
	"\\set VERBOSITY verbose\nSELECT * FROM protech_backup_restore('$cz', 'crypt_wrong_key')");
like($err, qr/ERROR:  38000: could not decrypt file ".*\Q$cz\E" with age/,
	'wrong identity: a decryption error');
like($err, qr/no identity matched any of the recipients/, 'wrong identity: age says why');
is(scalar_of("SELECT count(*) FROM pg_database WHERE datname = 'crypt_wrong_key'", 'postgres'),
	'0', 'wrong identity: the target database is dropped');
reload_and_wait($node, 'protech_backup.encryption_identity_file' => "$base/nonexistent.txt");
($ret, $out, $err) = $node->psql('app',
	"\\set VERBOSITY verbose\nSELECT * FROM protech_backup_restore('$zst', 'crypt_no_file')");
like($err, qr/ERROR:  58P01: could not read protech_backup.encryption_identity_file/,
	'an identity file that does not exist: named');

# Directory format with encryption: refused before anything is written.
reload_and_wait($node, 'protech_backup.format' => 'directory',
	'protech_backup.compression' => 'none');
backup_fails($node, '22023',
	qr/protech_backup.encryption_recipients cannot be used with protech_backup.format "directory".*\n.*DETAIL:  .*pg_restore cannot read an encrypted folder.*\n.*HINT:  Set protech_backup.format to plain or custom/,
	'directory format with encryption');

# Bad recipients are refused when set, the old value kept.
for my $bad (
	[ 'age1notakey', qr/"age1notakey" is not an age public key/ ],
	[ substr($public, 0, -1) . ($public =~ /q$/ ? 'p' : 'q'), qr/checksum of the age public key .* does not match/ ],
	[ "\@$base/nonexistent", qr/Could not open the recipients file/ ],
	[ '@relative/path', qr/is not absolute/ ])
{
	my ($value, $pattern) = @$bad;
	($ret, $out, $err) = $node->psql('postgres',
		"ALTER SYSTEM SET protech_backup.encryption_recipients = '$value'");
	like($err, qr/invalid value for parameter "protech_backup.encryption_recipients".*\n.*DETAIL:  .*$pattern/,
		"recipients '$value' refused");
}

# No cleartext at any moment: scan the directory while an uncompressed
# plain backup is written (pg_dump first waits for a lock, then writes).
reload_and_wait($node, 'protech_backup.format' => 'plain',
	'protech_backup.compression' => 'none',
	'protech_backup.encryption_recipients' => $public);
$node->safe_psql('app',
	"INSERT INTO secrets SELECT g, '$marker' || repeat('x', 200) FROM generate_series(1, 200000) g");
my $locker = lock_table($node, 'app', 'secrets');
my ($bg, $worker) = start_blocked_backup($node);
my @leaks = cleartext_files();
$locker->query_safe('COMMIT');
my ($scans, $partial_seen) = (0, 0);
while (1)
{
	$partial_seen++ if partial_files($node);
	push @leaks, cleartext_files();
	$scans++;
	last unless $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'protech_backup backup'");
}
$bg->query_safe('SELECT 1');
push @leaks, cleartext_files();
is(join(',', @leaks), '', "no cleartext marker in any file at any of $scans scans");
ok($partial_seen > 0, 'the scans saw the partial file while it grew');
$locker->quit;

# age killed in the middle of a backup: the backup fails, nothing is
# listed, no partial is left, age is reaped.
my @before = listed_backups($node);
$locker = lock_table($node, 'app', 'secrets');
($bg, $worker) = start_blocked_backup($node);
my @children = child_pids($worker);
my ($age) = grep { slurp_file("/proc/$_/comm") =~ /^age/ } @children;
ok($age, 'age runs beside pg_dump as a child of the backup worker');
kill 'KILL', $age;
$locker->query_safe('COMMIT');
$bg->query('SELECT 1');
like($bg->{stderr}, qr/ERROR:  38000: age stopped before the end of the stream/,
	'age killed: the backup fails, saying so');
is_deeply([ listed_backups($node) ], \@before, 'age killed: nothing new listed');
is(join(',', partial_files($node)), '', 'age killed: no partial left');
ok(!process_alive($age), 'age killed: reaped');
$locker->quit;

# The backup worker terminated while age runs: age is killed too.
$locker = lock_table($node, 'app', 'secrets');
($bg, $worker) = start_blocked_backup($node);
($age) = grep { slurp_file("/proc/$_/comm") =~ /^age/ } child_pids($worker);
ok($age, 'age runs');
$node->safe_psql('postgres', "SELECT pg_terminate_backend($worker)");
$bg->query('SELECT 1');
wait_until(sub { !process_alive($age) }, 'age to be killed with its worker');
ok(!process_alive($age), 'terminated: age is killed and reaped');
is(join(',', partial_files($node)), '', 'terminated: no partial left');
$locker->quit;

# The rclone recipe for encrypted backups copies only ciphertext.
my $remote = "$base/remote";
mkdir $remote or die;
append_to_file("$base/rclone.conf", "[backup-remote]\ntype = alias\nremote = $remote\n");
my $rc = "rclone --config $base/rclone.conf";
reload_and_wait($node,
	'protech_backup.post_backup_command' =>
	  "$rc copyto %p backup-remote:protech/%f && $rc copyto %p.globals.sql.age backup-remote:protech/%f.globals.sql.age && $rc copyto %p.database.sql.age backup-remote:protech/%f.database.sql.age && $rc copyto %m backup-remote:protech/%f.json");
my ($copied, $sha) = split /\|/, scalar_of('SELECT file_name, sha256 FROM protech_backup_now()');
is(scalar_of("SELECT post_backup_status FROM protech_backup_history WHERE file_name = '$copied'"),
	'succeeded', 'rclone recipe: the copy succeeded');
is(sha256_of("$remote/protech/$copied"), $sha, 'rclone recipe: the copy has the manifest\'s SHA-256');
for my $f ($copied, "$copied.globals.sql.age", "$copied.database.sql.age")
{
	my $data = slurp_file("$remote/protech/$f");
	is(substr($data, 0, 21), 'age-encryption.org/v1', "rclone recipe: $f is copied encrypted");
	ok(index($data, $marker) < 0, "rclone recipe: $f holds no cleartext");
}

# Retention deletes encrypted backups whole, globals file included.
reload_and_wait($node, 'protech_backup.post_backup_command' => '',
	'protech_backup.retention_count' => 1);
my $last = backup_now($node);
is_deeply([ listed_backups($node) ], [$last], 'retention keeps the newest only');
is_deeply([ grep { !/^\Q$last\E/ } backup_files($node) ], [],
	'retention removed every file of the encrypted backups');

done_testing();
