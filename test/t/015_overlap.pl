# Overlap policies: skip records skipped slots, queue waits for the running
# run, parallel overlaps; a future one-off run does not block the schedule;
# a void result leaves the command tag as the message.
use strict;
use warnings;
use lib 't/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use UsoNode;

my $node = uso_node('overlap');
my $q = sub { $node->safe_psql('postgres', shift) };
$q->(q{UPDATE uso_task SET enabled = false WHERE category IS NOT NULL});

# Count pairs of runs of a task whose [started_at, finished_at] overlap.
sub overlaps
{
	my $task = shift;
	return $q->(qq{SELECT count(*) FROM uso_task_runs a JOIN uso_task_runs b
		ON a.task = b.task AND a.id < b.id AND a.started_at < b.finished_at AND b.started_at < a.finished_at
		WHERE a.task = '$task'});
}

uso_task($node, name => 'skipper', schedule => '1 seconds', command => 'SELECT pg_sleep(1.6)');
uso_task($node, name => 'queuer', schedule => '1 seconds', command => 'SELECT pg_sleep(1.6)',
	overlap => 'queue');
uso_task($node, name => 'parallel', schedule => '1 seconds', command => 'SELECT pg_sleep(1.6)',
	overlap => 'parallel');
uso_wait_for($node, q{SELECT count(*) >= 3 FROM uso_task_runs WHERE task = 'skipper' AND status = 'succeeded'},
	'skipper ran three times');
uso_wait_for($node, q{SELECT count(*) >= 3 FROM uso_task_runs WHERE task = 'queuer' AND status = 'succeeded'},
	'queuer ran three times');
$q->(q{UPDATE uso_task SET enabled = false WHERE name IN ('skipper', 'queuer', 'parallel')});
uso_wait_for($node, q{SELECT count(*) = 0 FROM uso_task_run WHERE finished_at IS NULL},
	'everything finished');

ok($q->(q{SELECT count(*) FROM uso_task_runs WHERE task = 'skipper' AND status = 'skipped'}) > 0,
	'skip: slots that came while a run was going are recorded as skipped');
like($q->(q{SELECT return_message FROM uso_task_runs WHERE task = 'skipper' AND status = 'skipped' LIMIT 1}),
	qr/^skipped: run \d+ of this task is still in progress$/, 'with a message naming the run');
is(overlaps('skipper'), '0', 'skip: runs never overlap');
is(overlaps('queuer'), '0', 'queue: runs never overlap');
ok($q->(q{SELECT count(*) FROM uso_task_runs WHERE task = 'queuer' AND status = 'skipped'}) > 0,
	'queue: at most one waits, further slots are skipped');
ok(overlaps('parallel') > 0, 'parallel: runs overlap');

# A one-off run in an hour does not make the schedule skip until then.
uso_task($node, name => 'later', schedule => '1 seconds', command => 'SELECT 1');
$q->(q{SELECT uso_run_at('later', now() + interval '1 hour')});
uso_wait_for($node, q{SELECT count(*) >= 2 FROM uso_task_runs WHERE task = 'later' AND status = 'succeeded'},
	'scheduled runs go on while a one-off waits');
is($q->(q{SELECT count(*) FROM uso_task_runs WHERE task = 'later' AND status = 'skipped'}), '0',
	'nothing skipped because of the future one-off');
ok($q->(q{SELECT next_run_at <= now() + interval '2 seconds' FROM uso_background_tasks WHERE name = 'later'}) eq 't',
	'the view shows the nearer scheduled time');
$q->(q{UPDATE uso_task SET enabled = false WHERE name = 'later'});

# A manual run of a task that is running waits for it (skip policy).
uso_task($node, name => 'busy', schedule => '@manual', command => 'SELECT pg_sleep(1)');
my $r1 = $q->(q{SELECT uso_run_now('busy')});
my $r2 = $q->(q{SELECT uso_run_now('busy')});
is($q->("SELECT uso_wait($r2)"), 'succeeded', 'the second manual run ran');
is(overlaps('busy'), '0', 'after the first, not alongside it');

# A late interval task stays on its grid: after a pause its slots are still
# first slot + k * interval (tasks late together do not fall into lockstep).
uso_task($node, name => 'grid', schedule => 'every 2 seconds', command => 'SELECT 1');
uso_wait_for($node, q{SELECT count(*) >= 2 FROM uso_task_runs WHERE task = 'grid' AND status = 'succeeded'},
	'grid ran twice');
$q->(q{ALTER SYSTEM SET uso_tasks.enabled = off; SELECT pg_reload_conf()});
my $paused = $q->(q{SELECT extract(epoch FROM clock_timestamp())});
# The pause must outlast a period; this waits for time, not for a run.
$node->poll_query_until('postgres', "SELECT extract(epoch FROM clock_timestamp()) > $paused + 4.5");
$q->(q{ALTER SYSTEM RESET uso_tasks.enabled; SELECT pg_reload_conf()});
uso_wait_for($node, qq{SELECT count(*) >= 2 FROM uso_task_runs WHERE task = 'grid' AND status = 'succeeded'
	AND queued_at > to_timestamp($paused + 4.5)}, 'grid runs again after the pause');
is($q->(q{SELECT count(*) FROM uso_task_runs r, (SELECT min(scheduled_for) s0 FROM uso_task_runs WHERE task = 'grid') f
	WHERE r.task = 'grid' AND r.trigger = 'schedule'
	AND (extract(epoch FROM r.scheduled_for - f.s0) * 1000000)::bigint % 2000000 <> 0}), '0',
	'every slot, before and after the pause, is first slot + k * 2 s');
$q->(q{UPDATE uso_task SET enabled = false WHERE name = 'grid'});

# A void result: the command tag is the message.
uso_task($node, name => 'void', schedule => '@manual', command => 'SELECT pg_sleep(0)');
my $r = $q->(q{SELECT uso_run_now('void')});
$q->("SELECT uso_wait($r)");
is($q->("SELECT return_message FROM uso_task_run WHERE id = $r"), 'SELECT 1', 'void result shows the tag');

$node->stop;
done_testing();
