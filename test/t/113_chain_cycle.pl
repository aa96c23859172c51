# Issue 21 part 6: a chain's identity travels on its runs (chain_root_run_id,
# chain_tasks), not in the history the tasks can delete, and a chain has at
# most uso_tasks.max_chain_length runs.  Before the fix, two transactions
# closing the cycle "a after b" / "b after a" at once, with each task
# deleting the other's finished runs, made the chain go round for ever.
use strict;
use warnings;
use lib 't/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use UsoNode;

my $node = uso_node('chain_cycle', 'uso_tasks.enabled = off', 'uso_tasks.max_chain_length = 3');
my $q = sub { $node->safe_psql('postgres', shift) };
$q->(q{UPDATE uso_task SET enabled = false WHERE builtin});

sub runs_of
{
	my ($task) = @_;
	# the first 10 (a chain that never stops has thousands)
	return $q->(qq{SELECT string_agg(x.trigger || ':' || x.status, ',' ORDER BY x.id)
		FROM (SELECT r.id, r.trigger, r.status FROM uso_task_run r JOIN uso_task t ON t.id = r.task_id
		WHERE t.name = '$task' ORDER BY r.id LIMIT 10) x});
}

# --- the cap: c1 -> c2 -> c3 run, c4 would be the fourth run of the chain
$q->(q{SELECT uso_schedule('c1', '@manual', 'SELECT 1');
	SELECT uso_schedule('c2', 'after c1', 'SELECT 2');
	SELECT uso_schedule('c3', 'after c2', 'SELECT 3');
	SELECT uso_schedule('c4', 'after c3', 'SELECT 4');});
my $root = $q->(q{SELECT uso_run_now('c1')});
uso_wait_for($node, q{SELECT count(*) = 3 FROM uso_task_run r JOIN uso_task t ON t.id = r.task_id
	WHERE t.name IN ('c2', 'c3', 'c4') AND r.finished_at IS NOT NULL}, 'the chain c1 -> c4 ended');
is(runs_of('c3'), 'chain:succeeded', 'c3, the third run of the chain, ran');
is(runs_of('c4'), 'chain:skipped', 'c4, the fourth, was skipped');
is($q->(q{SELECT r.return_message FROM uso_task_run r JOIN uso_task t ON t.id = r.task_id WHERE t.name = 'c4'}),
	"skipped: the chain of runs from run $root already has 3 runs, the most uso_tasks.max_chain_length allows",
	'with a message that says why');
$node->psql('postgres', q{SELECT r.chain_root_run_id || ' ' || cardinality(r.chain_tasks) FROM uso_task_run r
	JOIN uso_task t ON t.id = r.task_id WHERE t.name = 'c3'}, stdout => \my $chain);
is($chain, "$root 2", 'c3\'s run carries its chain');

# --- a cycle closed by two transactions at once, each task deleting the
# other's finished runs: it goes round once
$q->(q{SELECT uso_schedule('a', '@manual', 'SELECT 1'); SELECT uso_schedule('b', '@manual', 'SELECT 1')});
my ($ida, $idb) = split /\|/, $q->(q{SELECT (SELECT id FROM uso_task WHERE name = 'a') || '|' ||
	(SELECT id FROM uso_task WHERE name = 'b')});
$q->(qq{UPDATE uso_task SET command = 'DELETE FROM uso_task_run WHERE task_id = $idb AND finished_at IS NOT NULL'
	WHERE id = $ida; UPDATE uso_task SET command = 'DELETE FROM uso_task_run WHERE task_id = $ida AND
	finished_at IS NOT NULL' WHERE id = $idb});
my $s1 = $node->background_psql('postgres');
my $s2 = $node->background_psql('postgres');
$s1->query_safe(q{BEGIN; SELECT uso_alter_task('a', schedule => 'after b')});
$s2->query_safe(q{BEGIN; SELECT uso_alter_task('b', schedule => 'after a')});
$s1->query_safe('COMMIT');
$s2->query_safe('COMMIT');
$s1->quit;
$s2->quit;
is($q->(q{SELECT string_agg(name || ' ' || schedule, ', ' ORDER BY name) FROM uso_task WHERE name IN ('a', 'b')}),
	'a after b, b after a', 'the cycle is closed');
$q->(q{SELECT uso_run_now('a')});
uso_wait_for($node, q{SELECT count(*) >= 1 FROM uso_task_run r JOIN uso_task t ON t.id = r.task_id
	WHERE t.name IN ('a', 'b') AND r.trigger = 'chain' AND r.status = 'skipped'},
	'the chain stops: a run is skipped');
is($q->(q{SELECT count(*) FROM uso_task_run r JOIN uso_task t ON t.id = r.task_id
	WHERE t.name IN ('a', 'b') AND r.finished_at IS NULL}), '0', 'nothing of the chain is left queued');
is(runs_of('b'), 'chain:succeeded', 'b ran once');
is(runs_of('a'), 'chain:skipped', 'a\'s second run (its first was deleted by b) was skipped');
like($q->(q{SELECT r.return_message FROM uso_task_run r JOIN uso_task t ON t.id = r.task_id
	WHERE t.name = 'a' AND r.trigger = 'chain'}), qr/already ran in the chain/, 'as a cycle');

# --- a cycle of failure followers with retries: a retry stays in its
# chain, so this one goes round once too (each retry started it over)
$q->(q{SELECT uso_schedule('fx', '@manual', 'SELECT 1/0', max_retries => 1, retry_delay => '10 ms');
	SELECT uso_schedule('fy', '@manual', 'SELECT 1/0', max_retries => 1, retry_delay => '10 ms')});
$s1 = $node->background_psql('postgres');
$s2 = $node->background_psql('postgres');
$s1->query_safe(q{BEGIN; SELECT uso_alter_task('fx', schedule => 'after fy fails')});
$s2->query_safe(q{BEGIN; SELECT uso_alter_task('fy', schedule => 'after fx fails')});
$s1->query_safe('COMMIT');
$s2->query_safe('COMMIT');
$s1->quit;
$s2->quit;
$q->(q{SELECT uso_run_now('fx')});
uso_wait_for($node, q{SELECT count(*) >= 1 FROM uso_task_run r JOIN uso_task t ON t.id = r.task_id
	WHERE t.name IN ('fx', 'fy') AND r.trigger = 'chain' AND r.status = 'skipped'},
	'the failure cycle stops: a run is skipped');
is($q->(q{SELECT count(*) FROM uso_task_run r JOIN uso_task t ON t.id = r.task_id
	WHERE t.name IN ('fx', 'fy') AND r.finished_at IS NULL}), '0', 'nothing of it is left queued');
is(runs_of('fx'), 'manual:failed,retry:failed,chain:skipped', 'fx: its run, its retry, then skipped');
is(runs_of('fy'), 'chain:failed,retry:failed', 'fy: once, with its retry');

done_testing();
