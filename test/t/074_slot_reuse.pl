# A finished run's report survives another database's scheduler reusing the
# worker slot (issue 10, defect 5).  The report of a worker that exits right
# after its run stays in its slot until its scheduler collects it; a
# scheduler of another database that took the slot first cleared it, and
# the run never ended for its own scheduler: every later run of the task
# waited behind it.  The first scheduler is stopped (SIGSTOP) so the other
# one gets the chance.
use strict;
use warnings;
use lib 't/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use UsoNode;

my $node = uso_node('slot_reuse', 'uso_tasks.max_workers = 1',
	"uso_tasks.worker_idle_timeout = '1s'");
my $q = sub { $node->safe_psql('postgres', shift) };
$q->(q{UPDATE uso_task SET enabled = false WHERE category IS NOT NULL});
$q->(q{CREATE TABLE go (ok bool)});
uso_task($node, name => 'a_task', schedule => '@manual',
	command => q{DO $d$ BEGIN WHILE NOT EXISTS (SELECT 1 FROM go) LOOP
		PERFORM pg_sleep(0.05); END LOOP; END $d$});
$q->(q{CREATE DATABASE other});
$node->safe_psql('other', q{CREATE EXTENSION uso_tasks});
$node->safe_psql('other', q{UPDATE uso_task SET enabled = false WHERE category IS NOT NULL});
uso_task($node, _db => 'other', name => 'b_task', schedule => '@manual', command => q{SELECT 1});
$node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_stat_activity
	WHERE backend_type = 'uso_tasks scheduler' AND datname = 'other'}) or die 'no scheduler in other';

my $run = $q->(q{SELECT uso_run_now('a_task')});
uso_wait_for($node, "SELECT status = 'running' FROM uso_task_run WHERE id = $run", 'a_task runs');
my $sched = $q->(q{SELECT pid FROM pg_stat_activity
	WHERE backend_type = 'uso_tasks scheduler' AND datname = 'postgres'});
kill 'STOP', $sched;
$q->(q{INSERT INTO go VALUES (true)});
uso_wait_for($node, "SELECT status = 'succeeded' FROM uso_task_run WHERE id = $run",
	'the run ends while its scheduler is stopped');
uso_wait_for($node, q{SELECT count(*) = 0 FROM pg_stat_activity
	WHERE backend_type = 'uso_tasks worker'}, 'its worker exits (idle timeout), the report uncollected');
my $brun = $node->safe_psql('other', q{SELECT uso_run_now('b_task')});
# The other scheduler polls for room every 250 ms: give it 5 s to take the
# slot.  (It should not: the slot holds a report.  This bounded window is the
# chance the defect needs, not a wait for something that must happen.)
for (1 .. 50)
{
	last if $node->safe_psql('other', "SELECT finished_at IS NOT NULL FROM uso_task_run WHERE id = $brun") eq 't';
	usleep(100_000);
}
kill 'CONT', $sched;

$run = $q->(q{SELECT uso_run_now('a_task')});
uso_wait_for($node, "SELECT status = 'succeeded' FROM uso_task_run WHERE id = $run",
	'the next run of the task runs: the first one ended for its scheduler');
uso_wait_for($node, "SELECT status = 'succeeded' FROM uso_task_run WHERE id = $brun",
	'the other database\'s run ran too', 'other');
is($q->(q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'uso_tasks scheduler'
	AND datname = 'postgres'}), $sched, 'with the same scheduler process');

ok(!$node->log_contains('TRAP:|PANIC'), 'no assertion failure or panic');
$node->stop;
done_testing();
