# Runs TAP test files and prints, for test/run:
#   "TAP failed: FILE"          for each file with a failure (its logs are shown)
#   "TAP skipped: FILE: WHY"    for each file or test skipped, with the reason
#   "TAP totals: N passed, M failed, K skipped"
# A file that dies or exits non-zero counts as a failure even with no failed
# test; a file skipped as a whole (skip_all) counts as one skipped test.
use strict;
use warnings;
use TAP::Harness;

# USO_TAP_JOBS=2 runs two test files at once (each has its own clusters).
my $harness = TAP::Harness->new({ verbosity => 0, lib => [@INC], timer => 1,
	jobs => $ENV{USO_TAP_JOBS} || 1 });
my $agg = $harness->runtests(@ARGV);
my ($passed, $failed, $skipped) = (0, 0, 0);
my (@failed, @skipped);
for my $file ($agg->descriptions)
{
	my ($parser) = $agg->parsers($file);
	my $bad = scalar $parser->failed;
	$bad += 1 if ($parser->exit != 0 || $parser->has_problems) && !$bad;
	$failed += $bad;
	push @failed, $file if $bad;
	if (defined $parser->skip_all)
	{
		$skipped += 1;
		push @skipped, "$file: " . $parser->skip_all;
		next;
	}
	# Tests skipped inside a file ran no check: they are not passed.
	my $n_skipped = scalar $parser->skipped;
	$passed += scalar($parser->passed) - $n_skipped;
	$skipped += $n_skipped;
	push @skipped, "$file: $n_skipped test(s) in a SKIP block" if $n_skipped;
}
print "TAP failed: $_\n" for @failed;
print "TAP skipped: $_\n" for @skipped;
print "TAP totals: $passed passed, $failed failed, $skipped skipped\n";
