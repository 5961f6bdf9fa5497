# ProtechBackupTest: what the TAP tests of protech_backup share.
#
# A node with the extension preloaded and its backup directory under the
# node's base directory, a fake pg_dump for fault tests, and small file
# helpers.  Tests run from the top of the source tree (prove is started
# there), so fixtures are found by relative path.
package ProtechBackupTest;

use strict;
use warnings;

use Digest::SHA;
use Exporter 'import';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

our @EXPORT = qw(new_backup_node backup_files sha256_of fake_pg_dump
  reload_and_wait wait_until process_alive schema_of contents);

# A started node preloading protech_backup, with the extension created in
# database 'app' (protech_backup.database) and extra postgresql.conf lines.
sub new_backup_node
{
	my ($name, %opts) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	my $dir = $node->basedir . '/backups';

	$node->init;
	$node->append_conf('postgresql.conf',
		    "shared_preload_libraries = '"
		  . ($opts{preload} // 'protech_backup') . "'\n"
		  . "protech_backup.database = 'app'\n"
		  . "protech_backup.directory = '$dir'\n"
		  . "protech_backup.schedule = ''\n"
		  . ($opts{conf} // ''));
	$node->start;
	$node->safe_psql('postgres', 'CREATE DATABASE app');
	$node->safe_psql('app', slurp_file('test/fixtures/many_kinds.sql'))
	  if $opts{fixture};
	$node->safe_psql('app', 'CREATE EXTENSION protech_backup')
	  unless $opts{no_extension};
	$node->{protech_backup_dir} = $dir;
	return $node;
}

# Sorted names of the files in the node's backup directory.
sub backup_files
{
	my ($node) = @_;
	my $dir = $node->{protech_backup_dir};
	opendir(my $dh, $dir) or return ();
	my @files = sort grep { !/^\.\.?$/ } readdir($dh);
	closedir($dh);
	return @files;
}

sub sha256_of
{
	my ($path) = @_;
	return Digest::SHA->new(256)->addfile($path, 'b')->hexdigest;
}

# Write an executable script standing in for pg_dump: it answers --version
# like the real one, writes its pid to $path.pid, then runs $body (shell).
sub fake_pg_dump
{
	my ($node, $name, $body) = @_;
	my $path = $node->basedir . "/$name";
	open(my $fh, '>', $path) or die "could not write $path: $!";
	print $fh <<"EOS";
#!/bin/sh
if [ "\$1" = "--version" ]; then echo "pg_dump (PostgreSQL) 15.99 (fake)"; exit 0; fi
echo \$\$ > $path.pid
$body
EOS
	close($fh);
	chmod(0755, $path) or die "could not chmod $path: $!";
	return $path;
}

# Set postgresql.conf values, reload, and wait until new sessions see them.
sub reload_and_wait
{
	my ($node, %settings) = @_;
	my @checks;
	while (my ($k, $v) = each %settings)
	{
		$node->append_conf('postgresql.conf', "$k = '$v'\n");
		push @checks, "current_setting('$k') = '$v'";
	}
	$node->reload;
	$node->poll_query_until('postgres', 'SELECT ' . join(' AND ', @checks))
	  or die "settings did not take effect";
	return;
}

# Poll $check (a sub) every 100 ms until it returns true; dies after the
# test suite's default timeout, naming $what.
sub wait_until
{
	my ($check, $what) = @_;
	my $tries = 10 * $PostgreSQL::Test::Utils::timeout_default;
	while ($tries-- > 0)
	{
		return 1 if $check->();
		usleep(100_000);
	}
	die "timed out waiting for $what";
}

# Whether a process with that pid exists (and is not a zombie).
sub process_alive
{
	my ($pid) = @_;
	return 0 unless kill(0, $pid);
	open(my $fh, '<', "/proc/$pid/stat") or return 0;
	my $stat = <$fh>;
	close($fh);
	return $stat !~ /^\d+ \(.*\) Z /;
}

# The schema of database $db as pg_dump --schema-only prints it, less the
# \restrict/\unrestrict lines that pg_dump 15.14 and later fence each dump
# with: they carry a random key, the only lines that differ between runs.
sub schema_of
{
	my ($node, $db) = @_;
	my ($schema) = run_command(
		[ 'pg_dump', '--schema-only', '-d', $node->connstr($db) ]);
	$schema =~ s/^\\(?:un)?restrict .*$//mg;
	return $schema;
}

# The rows of every table and materialized view and the positions of the
# sequences of database $db, by relation name (log_cnt, how far a sequence
# has WAL-logged ahead, is not its state); the extension's own tables (its
# run history) are not part of a dump.
sub contents
{
	my ($node, $db) = @_;
	my %contents;
	for (split /\n/, $node->safe_psql($db, q{
		SELECT c.relkind::text || ' ' || c.oid::regclass
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'm', 'S') AND n.nspname IN ('public', 'sales')
		  AND NOT EXISTS (SELECT FROM pg_depend d
			WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
			  AND d.deptype = 'e')}))
	{
		my ($kind, $rel) = split / /, $_, 2;
		$contents{$rel} = $node->safe_psql($db,
			$kind eq 'S'
			? "SELECT last_value, is_called FROM $rel"
			: "SELECT count(*), md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) FROM $rel t"
		);
	}
	return \%contents;
}

1;
