# Bad input to every function of the extension that takes arguments, each
# function a fault.
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

my $node = new_fault_node('faults_bad_input');

#
# Bad input to every function of the extension that takes arguments:
# NULLs, empty and 10 kB strings, traversal and partial or manifest file
# names, negative and extreme numbers, infinite timestamps.  Each call
# gives a clear error with a SQLSTATE (never an internal error, a timeout
# or a crash), or a NULL result from a STRICT function that returns no
# set; a non-NULL bad value may also simply work.
#
my $good = $node->safe_psql('app', 'SELECT file_name FROM protech_backup_list() LIMIT 1');
my %bad_values = (
	'text' => [
		'NULL', "''", "repeat('x', 10240)", "'../../../../etc/passwd'",
		"'/etc/passwd'", "'$good/../../../../etc/passwd'",
		"'protech_backup_20260101_000000.sql.partial'", "'$good.json'",
		"'$good.partial'", "E'x\\n'"
	],
	'integer' => [ 'NULL', '-1', '-2147483648', '2147483647' ],
	'bigint' => [ 'NULL', '-1', '-9223372036854775808', '9223372036854775807' ],
	'boolean' => ['NULL'],
	# a database that exists already, or no name at all
	'name' => [ 'NULL', "''", "'app'", "'postgres'" ],
	'timestamp with time zone' => [ 'NULL', "'infinity'", "'-infinity'" ],
	'timestamp with time zone[]' => [ 'NULL', "'{NULL}'" ],
	'bigint[]' => [ 'NULL', "'{NULL}'", "'{-1}'" ],
	'boolean[]' => [ 'NULL', "'{NULL}'" ],
	'text[]' => [ 'NULL', "'{NULL}'", "'{}'", "'{\"\"}'" ],
);

my $calls = 0;
my $log_offset = -s $node->logfile;
for my $function (grep { @{ $_->{types} } } extension_functions($node, 'app'))
{
	my ($proc, $types, $names) = @$function{qw(proc types names)};
	fault(
		$node,
		"bad input to $proc",
		sub {
			for my $i (0 .. $#$types)
			{
				my $bad = $bad_values{ $types->[$i] }
				  or die "no bad values for type $types->[$i] of $proc";
				for my $value (@$bad)
				{
					my @args = map { harmless_value($types->[$_], $names->[$_], $good) } 0 .. $#$types;
					$args[$i] = "${value}::$types->[$i]";
					my $call = "$proc(" . join(', ', @args) . ')';
					my ($ret, $out, $err) = $node->psql('app',
						"\\set VERBOSITY verbose\nSET statement_timeout = '30s';\nSELECT * FROM $call");
					$calls++;
					(my $shown = $call) =~ s/repeat\('x', 10240\)/<10 kB>/;
					if ($ret != 0)
					{
						like($err,
							qr/ERROR:  (?!XX|57014)[0-9A-Z]{5}: \S/,
							"$shown: a clear error with its SQLSTATE");
					}
					elsif ($value eq 'NULL')
					{
						ok($function->{strict} && !$function->{retset} && $out eq '',
							"$shown: NULL from a STRICT function, not a silent result");
					}
					else
					{
						pass("$shown: accepted");
					}
				}
			}
		});
}
unlike(slurp_file($node->logfile, $log_offset), qr/terminated by signal/,
	"bad input: $calls calls, no server process crashed");

faults_summary();

done_testing();
