# After a pause (uso_tasks.enabled = off) and after server downtime, an
# interval task's slots stay on the same grid: anchor + k * interval, the
# anchor being its first slot (docs/schedule.md, "After downtime").  Before
# issue 16 a restart's catchup moved the grid to restart + interval.  A manual
# run starts a new grid at its start.  The grid's origin is what the
# scheduler stores in uso_task.schedule_anchor.
use strict;
use warnings;
use lib 't/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use UsoNode;

my $node = uso_node('grid');
my $q = sub { $node->safe_psql('postgres', shift) };
$q->(q{UPDATE uso_task SET enabled = false WHERE builtin});

uso_task($node, name => 'grid', schedule => '2 seconds', command => 'SELECT 1', misfire => 'run_once');
uso_task($node, name => 'grid_skip', schedule => '2 seconds', command => 'SELECT 1', misfire => 'skip');

# Slots of a task (schedule and catchup rows) off the grid of its anchor.
my $off_grid = sub {
	my ($task, $anchor) = @_;
	return $q->(qq{SELECT count(*) FROM uso_task_runs
		WHERE task = '$task' AND trigger IN ('schedule', 'catchup') AND scheduled_for >= '$anchor'
		AND mod((extract(epoch FROM scheduled_for - '$anchor') * 1000000)::bigint, 2000000) <> 0});
};
# Slots more than one period apart: slots were missed (the gap this test needs).
my $gaps = sub {
	my ($task) = @_;
	return $q->(qq{SELECT count(*) FROM (SELECT scheduled_for - lag(scheduled_for)
		OVER (ORDER BY scheduled_for) AS d FROM uso_task_runs
		WHERE task = '$task' AND trigger IN ('schedule', 'catchup')) g WHERE d > interval '2 seconds'});
};
my $count = sub {
	my ($task, $trigger, $since) = @_;
	return qq{SELECT count(*) FROM uso_task_runs WHERE task = '$task' AND trigger = '$trigger'
		AND status = 'succeeded' AND queued_at > '$since'};
};

uso_wait_for($node, q{SELECT count(*) >= 2 FROM uso_task_runs WHERE task = 'grid' AND status = 'succeeded'},
	'the task runs every 2 seconds');
my $anchor = $q->(q{SELECT min(scheduled_for) FROM uso_task_runs WHERE task = 'grid'});
is($q->(q{SELECT schedule_anchor FROM uso_task WHERE name = 'grid'}), $anchor,
	'the scheduler stores its first slot as the anchor');
my $anchor_skip = $q->(q{SELECT min(scheduled_for) FROM uso_task_runs WHERE task = 'grid_skip'});

# -- a pause longer than two periods (producing it waits for no run)
my $t0 = $q->(q{SELECT clock_timestamp()});
$q->(q{ALTER SYSTEM SET uso_tasks.enabled = off; SELECT pg_reload_conf()});
usleep(5_000_000);
$q->(q{ALTER SYSTEM RESET uso_tasks.enabled; SELECT pg_reload_conf()});
my $resumed = $q->(q{SELECT clock_timestamp()});
uso_wait_for($node, 'SELECT (' . $count->('grid', 'schedule', $resumed) . ') >= 2',
	'pause: the task runs again after the resume');
ok($gaps->('grid') > 0, 'pause: slots were missed');
is($off_grid->('grid', $anchor), '0', 'pause: every slot is on the first grid');

# -- server downtime longer than two periods
$node->stop('fast');
usleep(5_000_000);
$node->start;
my $restarted = $q->(q{SELECT clock_timestamp()});
uso_wait_for($node, q{SELECT count(*) = 1 FROM uso_task_runs WHERE task = 'grid' AND trigger = 'catchup'
	AND status = 'succeeded'}, 'downtime: one catchup run (misfire run_once)');
uso_wait_for($node, 'SELECT (' . $count->('grid', 'schedule', $restarted) . ') >= 2 AND ('
	. $count->('grid_skip', 'schedule', $restarted) . ') >= 2',
	'downtime: both tasks run on schedule again');
is($off_grid->('grid', $anchor), '0', 'downtime: every slot, the catchup too, is on the first grid');
is($q->(q{SELECT count(*) FROM uso_task_runs WHERE task = 'grid_skip' AND trigger = 'catchup'}), '0',
	'downtime: misfire skip runs no catchup');
ok($gaps->('grid_skip') > 0, 'downtime: the skip task missed slots');
is($off_grid->('grid_skip', $anchor_skip), '0', 'downtime: its slots are on its first grid too');
is($q->(q{SELECT schedule_anchor FROM uso_task WHERE name = 'grid'}), $anchor,
	'the anchor survived the pause and the restart');

# -- a manual run starts a new grid at its start
my $run = $q->(q{SELECT uso_run_now('grid')});
uso_wait_for($node, qq{SELECT status = 'succeeded' FROM uso_task_run WHERE id = $run}, 'the manual run ran');
uso_wait_for($node, qq{SELECT schedule_anchor > '$anchor' FROM uso_task WHERE name = 'grid'},
	'the manual run moved the anchor');
my $manual = $q->(q{SELECT schedule_anchor FROM uso_task WHERE name = 'grid'});
is($q->(qq{SELECT '$manual' BETWEEN queued_at AND started_at FROM uso_task_run WHERE id = $run}), 't',
	'to when the scheduler took the manual run');
uso_wait_for($node, 'SELECT (' . $count->('grid', 'schedule', $manual) . ') >= 2',
	'scheduled runs follow the manual run');
is($off_grid->('grid', $manual), '0', 'on the manual run\'s grid');
is($q->(qq{SELECT count(*) FROM uso_task_run WHERE trigger IN ('schedule', 'catchup')
	GROUP BY task_id, scheduled_for HAVING count(*) > 1}), '', 'no slot ran twice');

$q->(q{UPDATE uso_task SET enabled = false});
uso_wait_for($node, q{SELECT count(*) = 0 FROM uso_task_run WHERE finished_at IS NULL}, 'nothing left open');
$node->stop;
done_testing();
