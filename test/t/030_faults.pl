# Faults: an executor killed with SIGKILL or terminated mid-run, the
# scheduler terminated, an owner role or database dropped, retries with
# backoff.  No run is lost, doubled or left dangling.
use strict;
use warnings;
use lib 't/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use UsoNode;

# Settings the runs below depend on are in the configuration from the start:
# a pg_reload_conf() reaches a worker whenever it next wakes, possibly after
# it took the run that was meant to see the new value.
my $node = uso_node('faults', 'restart_after_crash = on', "uso_tasks.timeout_grace = '1s'",
	'uso_tasks.max_log_lines = 50');
my $q = sub { $node->safe_psql('postgres', shift) };
# Keep the USO pack's tasks out of the way of these checks.
$q->(q{UPDATE uso_task SET enabled = false WHERE category IS NOT NULL});
$q->(q{CREATE TABLE marks (task text, at timestamptz DEFAULT clock_timestamp())});
uso_task($node, name => 'quick', schedule => '@manual', command => q{INSERT INTO marks VALUES ('quick')});

sub open_runs { $q->(q{SELECT count(*) FROM uso_task_run WHERE finished_at IS NULL}) }

# --- SIGKILL of an executor mid-run: crash restart, the run is closed, not rerun
uso_task($node, name => 'victim', schedule => 'every 1 hour', command => q{SELECT pg_sleep(120)});
uso_wait_for($node, q{SELECT count(*) = 1 FROM uso_task_runs WHERE task = 'victim' AND status = 'running'},
	'the scheduled run started');
my ($victim_run, $victim_pid, $slot) = split /\|/, $q->(q{SELECT r.id, r.pid, r.scheduled_for
	FROM uso_task_run r JOIN uso_task t ON t.id = r.task_id WHERE t.name = 'victim'});
kill 'KILL', $victim_pid;
# The postmaster restarts every backend; wait for recovery and the new scheduler.
$node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_stat_activity
	WHERE backend_type = 'uso_tasks scheduler'}) or die 'no scheduler after crash';
uso_wait_for($node, "SELECT status = 'failed' AND finished_at IS NOT NULL FROM uso_task_run WHERE id = $victim_run",
	'the killed run is closed as failed');
like($q->("SELECT return_message FROM uso_task_run WHERE id = $victim_run"), qr/interrupted.*crash/,
	'its message names the crash');
is($q->(qq{SELECT count(*) FROM uso_task_run r JOIN uso_task t ON t.id = r.task_id
	WHERE t.name = 'victim' AND r.scheduled_for = '$slot'}), '1', 'the slot that was running is not run twice');
is($q->(q{SELECT count(*) FROM uso_task_run WHERE status = 'running'}), '0', 'no other run is left open');
my $run = $q->(q{SELECT uso_run_now('quick')});
is($q->("SELECT uso_wait($run)"), 'succeeded', 'the scheduler resumed');
$q->(q{UPDATE uso_task SET enabled = false WHERE name = 'victim'});


# --- pg_terminate_backend of an executor mid-run
uso_task($node, name => 'sleeper', schedule => '@manual', command => q{SELECT pg_sleep(120)});
$run = $q->(q{SELECT uso_run_now('sleeper')});
uso_wait_for($node, "SELECT status = 'running' FROM uso_task_run WHERE id = $run", 'sleeper running');
my $pid = $q->("SELECT pid FROM uso_task_run WHERE id = $run");
$q->("SELECT pg_terminate_backend($pid)");
is($q->("SELECT uso_wait($run)"), 'failed', 'a terminated run is closed as failed');
like($q->("SELECT return_message FROM uso_task_run WHERE id = $run"), qr/terminated/,
	'with the reason');
$run = $q->(q{SELECT uso_run_now('quick')});
is($q->("SELECT uso_wait($run)"), 'succeeded', 'the pool replaced the worker');
isnt($q->("SELECT pid FROM uso_task_run WHERE id = $run"), $pid, 'on another process');

# --- the scheduler terminated: back within its restart time, nothing lost or doubled
uso_task($node, name => 'ticker', schedule => '1 seconds', command => q{INSERT INTO marks VALUES ('ticker')});
uso_wait_for($node, q{SELECT count(*) >= 2 FROM uso_task_runs WHERE task = 'ticker' AND status = 'succeeded'},
	'ticker runs');
my $sched = $q->(q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'uso_tasks scheduler'});
$q->("SELECT pg_terminate_backend($sched)");
uso_wait_for($node, qq{SELECT count(*) = 1 FROM pg_stat_activity
	WHERE backend_type = 'uso_tasks scheduler' AND pid <> $sched}, 'a new scheduler is back');
my $before = $q->(q{SELECT count(*) FROM uso_task_runs WHERE task = 'ticker'});
uso_wait_for($node, qq{SELECT count(*) >= $before + 2 FROM uso_task_runs WHERE task = 'ticker' AND status = 'succeeded'},
	'ticker keeps running under the new scheduler');
is($q->(q{SELECT count(*) FROM (SELECT scheduled_for FROM uso_task_run r JOIN uso_task t ON t.id = r.task_id
	WHERE t.name = 'ticker' AND r.trigger IN ('schedule', 'catchup') GROUP BY 1 HAVING count(*) > 1) d}),
	'0', 'no slot ran twice');
$run = $q->(q{SELECT uso_run_now('quick')});
is($q->("SELECT uso_wait($run)"), 'succeeded', 'manual runs work after the scheduler restart');
$q->(q{UPDATE uso_task SET enabled = false WHERE name = 'ticker'});

# --- the owner role is dropped: the task fails clearly, others keep running
$q->(q{CREATE ROLE bob LOGIN; GRANT INSERT ON marks TO bob});
uso_task($node, name => 'bobs', schedule => '@manual', username => 'bob',
	command => q{INSERT INTO marks VALUES ('bob')});
$run = $q->(q{SELECT uso_run_now('bobs')});
is($q->("SELECT uso_wait($run)"), 'succeeded', 'bob\'s task runs');
# Retire bob's idle worker so the next run needs a new connection.
$q->(q{SELECT pg_terminate_backend(pid) FROM uso_task_run WHERE id = } . $run);
$q->(q{REVOKE ALL ON marks FROM bob; DROP ROLE bob});
$run = $q->(q{SELECT uso_run_now('bobs')});
is($q->("SELECT uso_wait($run)"), 'failed', 'after DROP ROLE the task fails');
uso_wait_for($node, q{SELECT status = 'failing' FROM uso_background_tasks WHERE name = 'bobs'},
	'the view marks it failing');
$run = $q->(q{SELECT uso_run_now('bobs')});
is($q->("SELECT uso_wait($run)"), 'failed', 'later runs fail too');
like($q->("SELECT return_message FROM uso_task_run WHERE id = $run"), qr/role "bob" does not exist/,
	'with a message naming the role');
$run = $q->(q{SELECT uso_run_now('quick')});
is($q->("SELECT uso_wait($run)"), 'succeeded', 'every other task keeps running');

# --- the task's database is dropped
$q->(q{CREATE DATABASE doomed});
uso_task($node, name => 'in_doomed', schedule => '@manual', database => 'doomed', command => 'SELECT 1');
$run = $q->(q{SELECT uso_run_now('in_doomed')});
is($q->("SELECT uso_wait($run)"), 'succeeded', 'a task in another database runs');
$q->(q{DROP DATABASE doomed});
$run = $q->(q{SELECT uso_run_now('in_doomed')});
is($q->("SELECT uso_wait($run)"), 'failed', 'after DROP DATABASE it fails');
$run = $q->(q{SELECT uso_run_now('in_doomed')});
$q->("SELECT uso_wait($run)");
like($q->("SELECT return_message FROM uso_task_run WHERE id = $run"), qr/database "doomed" does not exist/,
	'naming the database');

# --- retries: capped exponential backoff, trigger retry, attempt numbers, then failing
uso_task($node, name => 'flaky', schedule => '@manual', command => q{SELECT 1 / 0},
	max_retries => '2', retry_delay => '1 second');
$run = $q->(q{SELECT uso_run_now('flaky')});
is($q->("SELECT uso_wait($run)"), 'failed', 'first attempt fails');
uso_wait_for($node, q{SELECT count(*) = 3 AND bool_and(finished_at IS NOT NULL)
	FROM uso_task_runs WHERE task = 'flaky'}, 'two retries follow');
is($q->(q{SELECT string_agg(trigger || ':' || attempt, ',' ORDER BY id) FROM uso_task_runs WHERE task = 'flaky'}),
	'manual:1,retry:2,retry:3', 'retries carry trigger retry and their attempt number');
# A retry's slot is the scheduler's "now" at the failure + the delay (1 s,
# then 2 s, +-20%); its row is written right after, so scheduled_for -
# queued_at is that delay less the write's lag.  How late the runs started
# or how long they took (a loaded machine) does not enter: the second delay
# (at least 1.6 s) is longer than any first one can be (at most 1.2 s).
ok($q->(q{SELECT (r3.scheduled_for - r3.queued_at) > interval '1.2 s'
		AND (r2.scheduled_for - r2.queued_at) <= interval '1.2 s'
	FROM (SELECT scheduled_for, queued_at, row_number() OVER (ORDER BY id) n
		FROM uso_task_run WHERE task_id = (SELECT id FROM uso_task WHERE name = 'flaky')) r2,
	(SELECT scheduled_for, queued_at, row_number() OVER (ORDER BY id) n
		FROM uso_task_run WHERE task_id = (SELECT id FROM uso_task WHERE name = 'flaky')) r3
	WHERE r2.n = 2 AND r3.n = 3}) eq 't', 'the delay grows');
is($q->(q{SELECT status FROM uso_background_tasks WHERE name = 'flaky'}), 'failing',
	'after the last failure the task shows failing');

# --- a run that ignores cancel past its timeout: the scheduler terminates its worker
# The command takes its timeout's cancel and goes on sleeping, so
# the run cannot end by itself whenever that timeout fires: before or after
# the test stops the process, the only way out is the scheduler's backstop
# (timeout + uso_tasks.timeout_grace = 1 s).
uso_task($node, name => 'stuck', schedule => '@manual', timeout => '300 milliseconds',
	command => q{DO $d$ BEGIN LOOP BEGIN PERFORM pg_sleep(60);
		EXCEPTION WHEN query_canceled THEN NULL; END; END LOOP; END $d$});
# Before the run: the backstop's line can come as soon as 1.3 s after its start.
my $log_offset = -s $node->logfile;
$run = $q->(q{SELECT uso_run_now('stuck')});
uso_wait_for($node, "SELECT status = 'running' FROM uso_task_run WHERE id = $run", 'stuck run started');
my $stuck = $q->("SELECT pid FROM uso_task_run WHERE id = $run");
# A stopped process handles no signal, as with code that never checks for
# interrupts: the backstop's SIGTERM waits until SIGCONT.
kill 'STOP', $stuck;
# (wait_for_log dies at its deadline: the process goes on in any case.)
my $terminated = eval {
	$node->wait_for_log(qr/uso_tasks terminates executor $stuck: its run ignored its timeout/, $log_offset);
};
kill 'CONT', $stuck;
ok($terminated, 'the scheduler terminates the worker of the run past its timeout');
is($q->("SELECT uso_wait($run)"), 'timed_out', 'the run ends timed_out');
like($q->("SELECT return_message FROM uso_task_run WHERE id = $run"), qr/did not respond to cancel/,
	'saying its worker was terminated');

# --- a task that emits a million NOTICEs: its stored log is capped (max_log_lines = 50)
uso_task($node, name => 'loud', schedule => '@manual', command =>
	q{DO $$ BEGIN FOR i IN 1..1000000 LOOP RAISE NOTICE 'line %', i; END LOOP; END $$});
$run = $q->(q{SELECT uso_run_now('loud')});
is($q->("SELECT uso_wait($run, '5 minutes')"), 'succeeded', 'a million NOTICEs do not hurt');
is($q->("SELECT count(*) FROM uso_task_log WHERE run_id = $run"), '51', 'the stored log is capped (+1 line)');
like($q->("SELECT message FROM uso_task_log WHERE run_id = $run ORDER BY seq DESC LIMIT 1"),
	qr/^999950 more line\(s\) were not stored \(uso_tasks.max_log_lines = 50\)/,
	'a final line says how many were dropped');

is(open_runs(), '0', 'no run left open');
$node->stop;
done_testing();
