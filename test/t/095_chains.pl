# Tasks that follow tasks (issue 13 part 3), with the live scheduler:
# success and failure followers (after the last retry), each running as its
# own owner with trigger chain and the run that caused it; uso_run_now of a
# follower runs it alone; a rename keeps the chain, a delete leaves the
# follower missing and the scheduler running; and a predecessor that
# succeeds while no scheduler runs has its follower run once when the
# scheduler is back, and never again after a restart of the server.
use strict;
use warnings;
use lib 't/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use UsoNode;

my $node = uso_node('chains');
my $q = sub { $node->safe_psql('postgres', shift) };
$q->(q{UPDATE uso_task SET enabled = false WHERE builtin;
	CREATE TABLE log (task text, who name, at timestamptz DEFAULT clock_timestamp());
	GRANT INSERT ON log TO PUBLIC;
	CREATE ROLE bob LOGIN;});

uso_task($node, name => 'fetch', schedule => '@manual',
	command => q{INSERT INTO log VALUES ('fetch', current_user)});
uso_task($node, name => 'transform', schedule => 'after fetch',
	command => q{INSERT INTO log VALUES ('transform', current_user)});
uso_task($node, name => 'bob_follows', schedule => 'after fetch', username => 'bob',
	command => q{INSERT INTO log VALUES ('bob_follows', current_user)});
uso_task($node, name => 'alarm', schedule => 'after fetch fails',
	command => q{INSERT INTO log VALUES ('alarm', current_user)});
uso_task($node, name => 'load', schedule => 'after transform',
	command => q{INSERT INTO log VALUES ('load', current_user)});

sub chain_runs
{
	my ($task, $status) = @_;
	return $q->(qq{SELECT count(*) FROM uso_task_run r JOIN uso_task t ON t.id = r.task_id
		WHERE t.name = '$task' AND r.trigger = 'chain'} . ($status ? " AND r.status = '$status'" : ''));
}

# --- a success runs the success followers, each as its owner, then theirs
my $run = $q->(q{SELECT uso_run_now('fetch')});
is($q->("SELECT uso_wait($run)"), 'succeeded', 'fetch succeeded');
uso_wait_for($node, q{SELECT count(*) = 3 FROM uso_task_run r JOIN uso_task t ON t.id = r.task_id
	WHERE t.name IN ('transform', 'bob_follows', 'load') AND r.status = 'succeeded'},
	'transform, bob_follows and then load ran');
is($q->(qq{SELECT string_agg(t.name || ':' || r.trigger, ',' ORDER BY t.name) FROM uso_task_run r
	JOIN uso_task t ON t.id = r.task_id WHERE r.caused_by_run_id = $run}),
	'bob_follows:chain,transform:chain', 'the followers of fetch record trigger chain and run ' . $run);
is($q->(q{SELECT who FROM log WHERE task = 'bob_follows'}), 'bob', 'a follower runs as its own owner');
is($q->(q{SELECT r.caused_by_run_id = (SELECT x.id FROM uso_task_run x JOIN uso_task p ON p.id = x.task_id
	WHERE p.name = 'transform') FROM uso_task_run r JOIN uso_task t ON t.id = r.task_id WHERE t.name = 'load'}),
	't', 'load ran after the run of transform');
is(chain_runs('alarm'), '0', 'the failure follower did not run');
is($q->(q{SELECT last_trigger FROM uso_background_tasks WHERE name = 'transform'}), "after fetch run $run",
	'the admin page says what caused the last run');
ok($q->(q{SELECT last_run_at IS NOT NULL FROM uso_task WHERE name = 'transform'}) eq 't',
	'the follower\'s last_run_at is written');

# --- a failure runs the failure followers once, after the last retry
$q->(q{UPDATE uso_task SET command = 'SELECT 1/0', max_retries = 1, retry_delay = '10 ms' WHERE name = 'fetch'});
$run = $q->(q{SELECT uso_run_now('fetch')});
is($q->("SELECT uso_wait($run)"), 'failed', 'fetch failed');
uso_wait_for($node, q{SELECT count(*) = 1 FROM uso_task_run r JOIN uso_task t ON t.id = r.task_id
	WHERE t.name = 'fetch' AND r.trigger = 'retry' AND r.finished_at IS NOT NULL},
	'its retry ran and failed');
uso_wait_for($node, q{SELECT count(*) = 1 FROM uso_task_run r JOIN uso_task t ON t.id = r.task_id
	WHERE t.name = 'alarm' AND r.status = 'succeeded'}, 'the failure follower ran');
is($q->(q{SELECT r.caused_by_run_id = (SELECT x.id FROM uso_task_run x JOIN uso_task p ON p.id = x.task_id
	WHERE p.name = 'fetch' AND x.trigger = 'retry') FROM uso_task_run r JOIN uso_task t ON t.id = r.task_id
	WHERE t.name = 'alarm'}), 't', 'after the last retry, not the first failure');
is(chain_runs('alarm'), '1', 'once');
is(chain_runs('transform'), '1', 'the success follower did not run again');

# --- run now of a follower runs it alone
my $fetches = $q->(q{SELECT count(*) FROM uso_task_run r JOIN uso_task t ON t.id = r.task_id
	WHERE t.name = 'fetch'});
$run = $q->(q{SELECT uso_run_now('transform')});
is($q->("SELECT uso_wait($run)"), 'succeeded', 'transform run by hand');
uso_wait_for($node, q{SELECT count(*) = 2 FROM uso_task_run r JOIN uso_task t ON t.id = r.task_id
	WHERE t.name = 'load' AND r.status = 'succeeded'}, 'its own follower ran after it');
is($q->(q{SELECT count(*) FROM uso_task_run r JOIN uso_task t ON t.id = r.task_id WHERE t.name = 'fetch'}),
	$fetches, 'the task it follows did not run');

# --- a rename keeps the chain; a delete leaves the followers missing
$q->(q{UPDATE uso_task SET command = $$INSERT INTO log VALUES ('fetch', current_user)$$, max_retries = 0
	WHERE name = 'fetch'});
$q->(q{SELECT uso_alter_task('fetch', new_name => 'fetch_renamed')});
is($q->(q{SELECT schedule FROM uso_task WHERE name = 'transform'}), 'after fetch_renamed',
	'the follower names the renamed task');
$run = $q->(q{SELECT uso_run_now('fetch_renamed')});
is($q->("SELECT uso_wait($run)"), 'succeeded', 'the renamed task ran');
uso_wait_for($node, qq{SELECT count(*) = 1 FROM uso_task_run WHERE caused_by_run_id = $run
	AND status = 'succeeded' AND task_id = (SELECT id FROM uso_task WHERE name = 'transform')},
	'and its follower after it');
$q->(q{SELECT uso_unschedule('fetch_renamed')});
is($q->(q{SELECT status || ': ' || status_detail FROM uso_background_tasks WHERE name = 'transform'}),
	'missing: task "fetch_renamed", which it follows, was deleted or moved to another database',
	'the follower is missing');
uso_task($node, name => 'probe', schedule => '@manual', command => 'SELECT 1');
$run = $q->(q{SELECT uso_run_now('probe')});
is($q->("SELECT uso_wait($run)"), 'succeeded', 'the scheduler still runs tasks');

# --- a follower's owner who holds its row locked stalls neither the run it
# follows nor the scheduler: the follower's run waits, queued when the lock goes
uso_task($node, name => 'lp', schedule => '@manual', command => 'SELECT 1');
uso_task($node, name => 'lf', schedule => 'after lp', username => 'bob',
	command => q{INSERT INTO log VALUES ('lf', current_user)});
my $bob = $node->background_psql('postgres', on_error_stop => 1, extra_params => [ '-U', 'bob' ]);
$bob->query_safe(q{BEGIN; SELECT id FROM uso_task WHERE name = 'lf' FOR UPDATE});
$run = $q->(q{SELECT uso_run_now('lp')});
is($q->("SELECT uso_wait($run, '20 s')"), 'succeeded', 'the run it follows ends while the follower is locked');
is($q->(qq{SELECT count(*) FROM uso_chain_pending WHERE caused_by_run_id = $run}), '1',
	'the follower\'s run waits for the lock');
my $probe = $q->(q{SELECT uso_run_now('probe')});
is($q->("SELECT uso_wait($probe, '20 s')"), 'succeeded', 'the scheduler runs other tasks meanwhile');
$bob->query_safe('COMMIT');
$bob->quit;
uso_wait_for($node, qq{SELECT count(*) = 1 FROM uso_task_run WHERE caused_by_run_id = $run
	AND status = 'succeeded' AND task_id = (SELECT id FROM uso_task WHERE name = 'lf')},
	'once the lock went, the follower ran, once');
is($q->(q{SELECT count(*) FROM uso_chain_pending}), '0', 'nothing is left pending');

# --- catchup: the predecessor succeeds while no scheduler runs
uso_task($node, name => 'slow', schedule => '@manual',
	command => q{SELECT pg_advisory_lock_shared(4711)});
uso_task($node, name => 'after_slow', schedule => 'after slow',
	command => q{INSERT INTO log VALUES ('after_slow', current_user)});
my $holder = $node->background_psql('postgres');
$holder->query_safe('SELECT pg_advisory_lock(4711)');
my $slow = $q->(q{SELECT uso_run_now('slow')});
uso_wait_for($node, qq{SELECT status = 'running' FROM uso_task_run WHERE id = $slow}, 'slow is running');
my $sched = $q->(q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'uso_tasks scheduler'
	AND datname = 'postgres'});
kill 'STOP', $sched;
$holder->quit;
uso_wait_for($node, qq{SELECT status = 'succeeded' FROM uso_task_run WHERE id = $slow},
	'slow succeeded while the scheduler was stopped');
is($q->(qq{SELECT string_agg(status, ',') FROM uso_task_run WHERE caused_by_run_id = $slow}), 'queued',
	'its follower\'s run is queued, in the same transaction');
kill 'TERM', $sched;
kill 'CONT', $sched;
uso_wait_for($node, qq{SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'uso_tasks scheduler'
	AND datname = 'postgres' AND pid <> $sched}, 'a new scheduler started');
uso_wait_for($node, qq{SELECT count(*) = 1 FROM uso_task_run WHERE caused_by_run_id = $slow
	AND status = 'succeeded'}, 'the follower ran once the scheduler was back');
$node->restart;
$run = $q->(q{SELECT uso_run_now('probe')});
is($q->("SELECT uso_wait($run)"), 'succeeded', 'after a restart of the server the scheduler runs again');
is(chain_runs('after_slow'), '1', 'and the follower did not run a second time');
is($q->(q{SELECT count(*) FROM log WHERE task = 'after_slow'}), '1', 'its command ran once');

done_testing();
