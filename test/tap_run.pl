# Runs TAP test files and prints "TAP totals: N passed, M failed", where a
# file that dies or exits non-zero counts as a failure even with no failed test.
use strict;
use warnings;
use TAP::Harness;

my $harness = TAP::Harness->new({ verbosity => 0, lib => [@INC], timer => 1 });
my $agg = $harness->runtests(@ARGV);
my ($passed, $failed) = (0, 0);
for my $file ($agg->descriptions)
{
	my ($parser) = $agg->parsers($file);
	$passed += scalar $parser->passed;
	$failed += scalar $parser->failed;
	$failed += 1
	  if ($parser->exit != 0 || $parser->has_problems) && !scalar $parser->failed;
}
print "TAP totals: $passed passed, $failed failed\n";
