# Immediate shutdown with runs in flight and slots due during the downtime:
# misfire run_once gives exactly one catchup run per task that missed slots,
# skip gives none, nothing runs twice, nothing is left open.
use strict;
use warnings;
use lib 't/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use UsoNode;

my $node = uso_node('restart');
my $q = sub { $node->safe_psql('postgres', shift) };
$q->(q{UPDATE uso_task SET enabled = false WHERE builtin});

uso_task($node, name => 'once', schedule => 'every 2 seconds', command => 'SELECT 1', misfire => 'run_once');
uso_task($node, name => 'skip', schedule => 'every 2 seconds', command => 'SELECT 1', misfire => 'skip');
uso_task($node, name => 'inflight', schedule => 'every 1 hour', command => 'SELECT pg_sleep(60)');
uso_wait_for($node, q{SELECT count(*) = 1 FROM uso_task_runs WHERE task = 'inflight' AND status = 'running'},
	'a run is in flight');
uso_wait_for($node, q{SELECT count(*) = 2 FROM uso_task_runs WHERE task IN ('once', 'skip') AND status = 'succeeded'},
	'both interval tasks ran once');

$node->stop('immediate');
# Downtime longer than the tasks' period, so slots are missed (this waits for
# no run: the server is down).
usleep(4_500_000);
$node->start;

uso_wait_for($node, q{SELECT count(*) = 1 FROM uso_task_runs WHERE task = 'once' AND trigger = 'catchup'},
	'run_once: a catchup run after the restart');
uso_wait_for($node, q{SELECT count(*) >= 1 FROM uso_task_runs WHERE task = 'skip' AND trigger = 'schedule'
	AND queued_at > (SELECT max(finished_at) FROM uso_task_runs WHERE task = 'inflight')},
	'skip: scheduled runs resume');
uso_wait_for($node, q{SELECT count(*) >= 2 FROM uso_task_runs WHERE task = 'once' AND trigger = 'schedule'
	AND status = 'succeeded'}, 'run_once: regular runs resume after the catchup');
is($q->(q{SELECT count(*) FROM uso_task_runs WHERE task = 'once' AND trigger = 'catchup'}), '1',
	'exactly one catchup run');
is($q->(q{SELECT count(*) FROM uso_task_runs WHERE task = 'skip' AND trigger = 'catchup'}), '0',
	'misfire skip: no catchup run');
is($q->(q{SELECT status FROM uso_task_runs WHERE task = 'inflight'}), 'failed',
	'the run in flight was closed as failed');
like($q->(q{SELECT return_message FROM uso_task_runs WHERE task = 'inflight'}), qr/interrupted/,
	'saying it was interrupted');
is($q->(q{SELECT count(*) FROM uso_task_runs WHERE task = 'inflight'}), '1', 'and was not run again');
is($q->(q{SELECT count(*) FROM (SELECT task_id, scheduled_for FROM uso_task_run
	WHERE trigger IN ('schedule', 'catchup') GROUP BY 1, 2 HAVING count(*) > 1) d}), '0',
	'no slot ran twice');
$q->(q{UPDATE uso_task SET enabled = false});
uso_wait_for($node, q{SELECT count(*) = 0 FROM uso_task_run WHERE finished_at IS NULL}, 'nothing left open');
$node->stop;
done_testing();
