# The scheduler wakes for what it has just decided, and a restart keeps what
# was queued (issue 10, defects 1, 2, 3 and 11).  Nothing else here wakes
# the scheduler: the USO pack's tasks are disabled and idle workers stay for
# ten minutes, so a run that waits for an unrelated wake-up waits too long.
use strict;
use warnings;
use lib 't/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use UsoNode;

my $node = uso_node('wakeups', "uso_tasks.timeout_grace = '1s'", 'uso_tasks.max_workers = 1');
my $q = sub { $node->safe_psql('postgres', shift) };
$q->(q{UPDATE uso_task SET enabled = false WHERE category IS NOT NULL});

# --- 1: a retry starts at its retry_delay after the failure
uso_task($node, name => 'flaky', schedule => '@manual', command => q{SELECT 1/0},
	max_retries => '1', retry_delay => '2 seconds');
my $run = $q->(q{SELECT uso_run_now('flaky')});
is($q->("SELECT uso_wait($run)"), 'failed', 'the first attempt fails');
uso_wait_for($node, q{SELECT count(*) = 1 FROM uso_task_run r JOIN uso_task t ON t.id = r.task_id
	WHERE t.name = 'flaky' AND r.attempt = 2 AND r.finished_at IS NOT NULL}, 'the retry ran');
my $gap = $q->(q{SELECT extract(epoch FROM b.started_at - a.finished_at)
	FROM uso_task_run a JOIN uso_task_run b ON b.task_id = a.task_id AND b.attempt = 2
	JOIN uso_task t ON t.id = a.task_id WHERE t.name = 'flaky' AND a.attempt = 1});
cmp_ok($gap, '>=', 1.5, 'not before its retry_delay (2 s, jitter 20%)');
cmp_ok($gap, '<', 15, "but soon after it (${gap} s), not at an unrelated wake-up");

# --- 3: the timeout backstop is armed when the scheduler sleeps right after dispatching
uso_task($node, name => 'stubborn', schedule => '@manual', timeout => '2 seconds',
	command => q{DO $d$ BEGIN LOOP BEGIN PERFORM pg_sleep(100);
		EXCEPTION WHEN query_canceled THEN NULL; END; END LOOP; END $d$});
$run = $q->(q{SELECT uso_run_now('stubborn')});
uso_wait_for($node, "SELECT finished_at IS NOT NULL FROM uso_task_run WHERE id = $run",
	'the run that ignores its timeout ends');
is($q->("SELECT status FROM uso_task_run WHERE id = $run"), 'timed_out', 'as timed_out');
cmp_ok($q->("SELECT extract(epoch FROM finished_at - started_at) FROM uso_task_run WHERE id = $run"),
	'<', 20, 'at its timeout + grace (2 s + 1 s), not at an unrelated wake-up');

# --- 11: uso_run_now of a task whose owner cannot log in is closed at once
$q->(q{CREATE ROLE nologin_owner LOGIN});
uso_task($node, name => 'orphan', schedule => '@manual', username => 'nologin_owner',
	command => q{SELECT 1});
$q->(q{ALTER ROLE nologin_owner NOLOGIN});
# The scheduler learns of it at a reload: a schedule change makes the task due
# at once, and its slot is recorded as failed with the reason.
$q->(q{UPDATE uso_task SET schedule = 'every 1 hour' WHERE name = 'orphan'});
uso_wait_for($node, q{SELECT count(*) = 1 FROM uso_task_run r JOIN uso_task t ON t.id = r.task_id
	WHERE t.name = 'orphan' AND r.status = 'failed' AND r.return_message LIKE '%cannot log in%'},
	'the scheduler knows the owner cannot log in');
$run = $q->(q{SELECT uso_run_now('orphan')});
uso_wait_for($node, "SELECT finished_at IS NOT NULL FROM uso_task_run WHERE id = $run",
	'a run_now of it is closed, not left queued');
like($q->("SELECT status || ': ' || return_message FROM uso_task_run WHERE id = $run"),
	qr/^failed: .*cannot log in/, 'as failed, with the reason');

# --- 2: a scheduler restart keeps scheduled runs that wait for a worker
uso_task($node, name => 'hog', schedule => '@manual', command => q{SELECT pg_sleep(300)});
my $hog = $q->("SELECT uso_run_now('hog')");
uso_wait_for($node, "SELECT status = 'running' FROM uso_task_run WHERE id = $hog",
	'the only worker is busy');
# Interval tasks that never ran are due at once; they wait for a worker.
for my $i (1 .. 3)
{
	uso_task($node, name => "waiter$i", schedule => 'every 1 hour',
		command => q{SELECT 1});
}
uso_wait_for($node, q{SELECT count(*) = 3 FROM uso_task_run r JOIN uso_task t ON t.id = r.task_id
	WHERE t.name LIKE 'waiter%' AND r.status = 'queued' AND r.trigger = 'schedule'},
	'three scheduled runs are queued behind them');
my $queued = $q->(q{SELECT string_agg(r.id::text, ',' ORDER BY r.id) FROM uso_task_run r
	JOIN uso_task t ON t.id = r.task_id WHERE t.name LIKE 'waiter%'});
my $sched = $q->(q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'uso_tasks scheduler'});
$q->("SELECT pg_terminate_backend($sched)");
$node->poll_query_until('postgres', qq{SELECT count(*) = 1 FROM pg_stat_activity
	WHERE backend_type = 'uso_tasks scheduler' AND pid <> $sched}) or die 'no new scheduler';
# Free the worker: the queued runs go next.
$q->("SELECT uso_cancel($hog)");
uso_wait_for($node, "SELECT count(*) = 3 FROM uso_task_run WHERE id IN ($queued)
	AND finished_at IS NOT NULL", 'the queued runs end');
is($q->("SELECT string_agg(status, ',') FROM uso_task_run WHERE id IN ($queued)"),
	'succeeded,succeeded,succeeded', 'they ran after the restart: no slot was lost');

ok(!$node->log_contains('TRAP:|PANIC'), 'no assertion failure or panic');
$node->stop;
done_testing();
