# The scheduler's memory does not grow with task churn (issue 10, defect 9:
# every deleted task used to leave its strings in the scheduler's context).
# Tasks are created and deleted in rounds; after each round a run_now of a
# marker task ends, which means the scheduler has reloaded its tasks since
# the delete.  The "uso_tasks scheduler" memory context, as
# pg_log_backend_memory_contexts reports it, must stay where it was after
# the warm-up rounds.
use strict;
use warnings;
use lib 't/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use UsoNode;

my $node = uso_node('memory');
my $q = sub { $node->safe_psql('postgres', shift) };
$q->(q{UPDATE uso_task SET enabled = false WHERE category IS NOT NULL});
uso_task($node, name => 'marker', schedule => '@manual', command => q{SELECT 1});

sub churn
{
	my ($rounds) = @_;
	for my $r (1 .. $rounds)
	{
		$q->(q{INSERT INTO uso_task (name, schedule, command, timezone)
			SELECT 'churn_' || g || '_' || md5(random()::text), '0 0 1 1 *',
			'SELECT ' || g, 'Europe/Vienna' FROM generate_series(1, 1000) g});
		my $run = $q->(q{SELECT uso_run_now('marker')});
		$q->("SELECT uso_wait($run)");
		$q->(q{DELETE FROM uso_task WHERE name LIKE 'churn%'});
		$run = $q->(q{SELECT uso_run_now('marker')});
		die 'marker failed' unless $q->("SELECT uso_wait($run)") eq 'succeeded';
	}
}

# Bytes of the scheduler's own context, from its memory context dump.
sub scheduler_bytes
{
	my $pid = $q->(q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'uso_tasks scheduler'});
	my $offset = -s $node->logfile;
	$q->("SELECT pg_log_backend_memory_contexts($pid)");
	my $bytes;
	for (1 .. 600)
	{
		my $log = slurp_file($node->logfile, $offset);
		if ($log =~ /uso_tasks scheduler: (\d+) total in \d+ blocks/)
		{
			$bytes = $1;
			last;
		}
		# the dump is written when the scheduler wakes for the signal
		$q->('SELECT pg_sleep(0.05)');
	}
	die 'no memory context dump' unless defined $bytes;
	return $bytes;
}

churn(2);
my $before = scheduler_bytes();
churn(5);
my $after = scheduler_bytes();
note("scheduler context: $before bytes after warm-up, $after after 5,000 more tasks came and went");
cmp_ok($after - $before, '<', 100_000, 'the scheduler\'s memory does not grow with task churn');

$node->stop;
done_testing();
