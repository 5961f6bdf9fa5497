# A file name given to the SQL functions is checked against the backup
# name pattern before any path is made of it: no file outside the backup
# directory is opened, not even to find out that it is not a backup (a
# later check refusing the name with the same 22023 would hide an open
# made before it; a FIFO there would hang the call, another file's
# contents could be read).  The I/O fault shim traces every open the
# server's processes make of a path with "outside" in it.
use strict;
use warnings;

use lib 'test/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use ProtechBackupTest;
use Test::More;

my $node = new_backup_node('name_checks', io_faults => 1);
my $base = $node->basedir;
# a file and its would-be manifest beside the backup directory, named by
# '../outside' from inside it
append_to_file("$base/outside", "not a backup\n");
append_to_file("$base/outside.json", "{}\n");

# the trace sees an open of such a path (a superuser's pg_read_file)
set_io_faults($node, "trace $base/seen.trace *outside*");
$node->safe_psql('app', "SELECT pg_read_file('$base/outside')");
like(slurp_file("$base/seen.trace"), qr/ open \S*outside /,
	'the trace records an open of a file outside the directory');

set_io_faults($node, "trace $base/names.trace *outside*");
for my $call ("protech_backup_verify('../outside')",
	"protech_backup_verify('../outside', true)",
	"protech_backup_read('../outside', 0, 10)",
	"protech_backup_read_size('../outside')")
{
	my ($ret, $out, $err) = $node->psql('app',
		"\\set VERBOSITY verbose\nSELECT * FROM $call");
	like($err, qr/ERROR:  22023: "\.\.\/outside" is not a backup/, "$call: 22023");
}
my $opened = -e "$base/names.trace" ? slurp_file("$base/names.trace") : '';
is($opened, '', 'no file outside the backup directory was opened');

$node->stop;
done_testing();
