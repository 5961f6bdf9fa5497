# A backup remembers the encoding and locale of its database, and a restore
# (protech_backup_restore, and the scratch database of protech_backup_verify)
# creates its database with them, not with the cluster's defaults: a LATIN1
# database with the C locale, and an ICU database, in a UTF8 cluster whose
# default locale is C.  Also: the README's createdb command reads them from
# the manifest.
use strict;
use warnings;

use lib 'test/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use ProtechBackupTest;
use Test::More;

my $node = new_backup_node('encoding',
	initdb => [ '--encoding=UTF8', '--locale=C' ],
	no_extension => 1);
my $dir = $node->{protech_backup_dir};

# the encoding and locale of database $db, as pg_database has them
sub locale_of
{
	my ($db) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT pg_encoding_to_char(encoding), datlocprovider, datcollate, datctype,
			coalesce(daticulocale, '-')
		FROM pg_database WHERE datname = '$db'});
}

# rows that show the encoding (a LATIN1 letter) and the collation (ICU
# en-US sorts 'B' between 'a' and 'c', C sorts it first)
my $data = q{
	CREATE TABLE words (w text);
	INSERT INTO words VALUES ('a'), ('B'), ('c'), ('café');
	CREATE EXTENSION protech_backup};
my $sorted = q{SELECT string_agg(w, ',' ORDER BY w) FROM words};

my @cases = (
	[ 'latin', "ENCODING 'LATIN1' LOCALE 'C'", 'LATIN1|c|C|C|-', 'B,a,c,café' ],
	[ 'icu', "ENCODING 'UTF8' LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'",
		'UTF8|i|C|C|en-US', 'a,B,c,café' ]);
for my $case (@cases)
{
	my ($db, $options, $locale, $order) = @$case;
	$node->safe_psql('postgres', "CREATE DATABASE $db TEMPLATE template0 $options");
	$node->safe_psql($db, $data);
	is(locale_of($db), $locale, "$db: the source database");
	is($node->safe_psql($db, $sorted), $order, "$db: sorts as its collation says");
	reload_and_wait($node, 'protech_backup.database' => $db);

	my $file = backup_now($node, $db);
	my ($encoding, $provider, $collate, $ctype, $icu) = split /\|/, $locale;
	my $icu_json = $icu eq '-' ? 'null' : qq{"$icu"};
	like(slurp_file("$dir/$file.json"),
		qr/"encoding": "$encoding",\n  "locale_provider": "@{[ $provider eq 'i' ? 'icu' : 'libc' ]}",\n  "lc_collate": "$collate",\n  "lc_ctype": "$ctype",\n  "icu_locale": $icu_json,/,
		"$db: the manifest records the encoding and locale");

	is($node->safe_psql($db,
			"SELECT checksum_ok, restored, tables FROM protech_backup_verify('$file', restore => true)"),
		't|t|1', "$db: verify restores it");
	$node->safe_psql($db,
		"SELECT * FROM protech_backup_restore('$file', '${db}_restored')");
	is(locale_of("${db}_restored"), $locale,
		"$db: the restored database has the source's encoding and locale");
	is($node->safe_psql("${db}_restored", $sorted), $order,
		"$db: and its rows, sorted the same way");

	# the README's hand restore: createdb with the manifest's settings
	my $manifest = slurp_file("$dir/$file.json");
	my %m = map { $manifest =~ /"$_": "([^"]*)"/ ? ($_ => $1) : () }
	  qw(encoding locale_provider lc_collate lc_ctype icu_locale);
	command_ok(
		[
			'createdb', '-h', $node->host, '-p', $node->port,
			'-T', 'template0', '-E', $m{encoding},
			"--locale-provider=$m{locale_provider}",
			"--lc-collate=$m{lc_collate}", "--lc-ctype=$m{lc_ctype}",
			($m{icu_locale} ? ("--icu-locale=$m{icu_locale}") : ()),
			"${db}_by_hand"
		],
		"$db: createdb with the manifest's settings");
	is(locale_of("${db}_by_hand"), $locale, "$db: gives the source's encoding and locale");
}

done_testing();
