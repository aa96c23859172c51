# The runtime: scheduled runs, uso_run_now/uso_wait, failures with context,
# captured NOTICE lines, timeouts, cancel, procedures that COMMIT, session
# reset between runs, runs as the owner, the 'missing' status.
use strict;
use warnings;
use lib 't/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use UsoNode;

my $node = uso_node('runtime');
my $q = sub { $node->safe_psql('postgres', shift) };

$q->(q{CREATE TABLE hits (at timestamptz DEFAULT clock_timestamp(), src text)});

# --- a task every second inserts rows
uso_task($node, name => 'every_second', schedule => '1 seconds',
	command => q{INSERT INTO hits (src) VALUES ('sec')});
uso_wait_for($node,
	q{SELECT count(*) >= 3 FROM uso_task_runs WHERE task = 'every_second' AND status = 'succeeded'},
	'a 1-second task ran at least 3 times');
is($q->(q{SELECT count(*) FROM uso_task_runs WHERE task = 'every_second' AND status = 'succeeded'
	AND (started_at IS NULL OR finished_at IS NULL OR queued_at IS NULL OR return_message <> 'INSERT 0 1')}),
	'0', 'each run has its times and the command tag');
$q->(q{UPDATE uso_task SET enabled = false WHERE name = 'every_second'});

# --- run now, wait, and the interval anchor moves
uso_task($node, name => 'hourly', schedule => 'every 1 hour',
	command => q{SELECT 'did the hourly thing'});
uso_wait_for($node, q{SELECT count(*) = 1 FROM uso_task_run r JOIN uso_task t ON t.id = r.task_id
	WHERE t.name = 'hourly' AND r.finished_at IS NOT NULL}, 'a never-run interval task runs at once');
my $run = $q->(q{SELECT uso_run_now('hourly')});
like($run, qr/^\d+$/, 'uso_run_now returns a run id');
is($q->("SELECT uso_wait($run, '30 seconds')"), 'succeeded', 'uso_wait sees succeeded');
is($q->("SELECT return_message FROM uso_task_run WHERE id = $run"), 'did the hourly thing',
	'a single returned value is the run message');
# The scheduler anchors at dispatch, within milliseconds of the start.
uso_wait_for($node, qq{SELECT abs(extract(epoch FROM t.next_run_at - (r.started_at + interval '1 hour'))) < 1
	FROM uso_task t, uso_task_run r WHERE t.name = 'hourly' AND r.id = $run},
	'next_run_at = manual run start + interval');

# --- bad calls
my ($rc, $out, $err) = $node->psql('postgres', q{SELECT uso_run_now('no_such_task')});
like($err, qr/task "no_such_task" does not exist/, 'unknown task name is a clear error');
$q->(q{INSERT INTO uso_task (name, schedule, command, enabled) VALUES ('off', '@manual', 'SELECT 1', false)});
($rc, $out, $err) = $node->psql('postgres', q{SELECT uso_run_now('off')});
like($err, qr/task "off" is disabled/, 'disabled task cannot run now');

# --- a failing task records sqlstate and the PL/pgSQL context
$q->(q{CREATE FUNCTION divide_badly() RETURNS int LANGUAGE plpgsql AS $$
	BEGIN RETURN 1 / 0; END $$});
uso_task($node, name => 'failing', schedule => '@manual', command => 'SELECT divide_badly()');
$run = $q->(q{SELECT uso_run_now('failing')});
is($q->("SELECT uso_wait($run)"), 'failed', 'division by zero fails the run');
is($q->("SELECT sqlstate FROM uso_task_run WHERE id = $run"), '22012', 'sqlstate 22012 recorded');
like($q->("SELECT error_context FROM uso_task_run WHERE id = $run"), qr/divide_badly/,
	'context names the function');
is($q->(q{SELECT status FROM uso_background_tasks WHERE name = 'failing'}), 'failing',
	'the view shows failing');
$run = $q->(q{SELECT uso_run_now('hourly')});
is($q->("SELECT uso_wait($run)"), 'succeeded', 'other tasks keep running');

# --- NOTICE lines captured in order
uso_task($node, name => 'chatty', schedule => '@manual', command => q{DO $$
	BEGIN RAISE NOTICE 'first line'; RAISE INFO 'second line'; RAISE WARNING 'third line'; END $$});
$run = $q->(q{SELECT uso_run_now('chatty')});
$q->("SELECT uso_wait($run)");
is($q->("SELECT string_agg(level || ' ' || message, '|' ORDER BY seq) FROM uso_task_log WHERE run_id = $run"),
	'NOTICE first line|INFO second line|WARNING third line', 'log lines stored in order');
like($q->(q{SELECT last_log FROM uso_background_tasks WHERE name = 'chatty'}),
	qr/NOTICE: first line\nINFO: second line\nWARNING: third line/, 'last_log shows them');

# --- timeout and cancel
uso_task($node, name => 'slow', schedule => '@manual', command => 'SELECT pg_sleep(30)',
	timeout => '300 milliseconds');
$run = $q->(q{SELECT uso_run_now('slow')});
is($q->("SELECT uso_wait($run)"), 'timed_out', 'a run over its timeout ends timed_out');
$q->(q{UPDATE uso_task SET timeout = '1 minute' WHERE name = 'slow'});
$run = $q->(q{SELECT uso_run_now('slow')});
uso_wait_for($node, "SELECT status = 'running' FROM uso_task_run WHERE id = $run", 'slow run started');
uso_wait_for($node, "SELECT application_name LIKE 'uso_tasks: %' FROM pg_stat_activity
	WHERE pid = (SELECT pid FROM uso_task_run WHERE id = $run)", 'slow run named its worker');
is($q->("SELECT backend_type || ' / ' || application_name FROM pg_stat_activity
	WHERE pid = (SELECT pid FROM uso_task_run WHERE id = $run)"), "uso_tasks worker / uso_tasks: run $run",
	'a running task shows in pg_stat_activity with its run id (not its name: issue 21)');
is($q->(q{SELECT string_agg(DISTINCT backend_type, ',' ORDER BY backend_type) FROM pg_stat_activity
	WHERE backend_type LIKE 'uso_tasks%'}), 'uso_tasks launcher,uso_tasks scheduler,uso_tasks worker',
	'launcher, scheduler and workers have their backend types');
is($q->("SELECT uso_cancel($run)"), 't', 'uso_cancel accepts a running run');
is($q->("SELECT uso_wait($run)"), 'cancelled', 'a cancelled run ends cancelled');
is($q->("SELECT uso_cancel($run)"), 'f', 'cancelling a finished run returns false');

# --- inside a task: its run id, its config, live progress
uso_task($node, name => 'introspect', schedule => '@manual', config => '{"batch": 7}',
	command => q{SELECT uso_current_run() || ' ' || (uso_task_config() ->> 'batch')});
$run = $q->(q{SELECT uso_run_now('introspect')});
$q->("SELECT uso_wait($run)");
is($q->("SELECT return_message FROM uso_task_run WHERE id = $run"), "$run 7",
	'uso_current_run() and uso_task_config() inside a task');
is($q->(q{SELECT coalesce(uso_current_run()::text, 'null') || ' ' || coalesce(uso_task_config()::text, 'null')}),
	'null null', 'outside a task they are NULL');
$q->(q{CREATE TABLE gate (open boolean); INSERT INTO gate VALUES (false)});
uso_task($node, name => 'progressing', schedule => '@manual', command => q{DO $$
	BEGIN
		PERFORM uso_progress(3, 10);
		WHILE NOT (SELECT open FROM gate) LOOP PERFORM pg_sleep(0.05); END LOOP;
	END $$});
$run = $q->(q{SELECT uso_run_now('progressing')});
uso_wait_for($node, "SELECT progress = 0.3::real FROM uso_task_runs WHERE id = $run",
	'live progress shows in uso_task_runs while it runs');
$q->(q{UPDATE gate SET open = true});
is($q->("SELECT uso_wait($run)"), 'succeeded', 'the progressing run succeeded');
is($q->("SELECT progress FROM uso_task_runs WHERE id = $run"), '1', 'and ends at progress 1');
uso_task($node, name => 'half', schedule => '@manual', command => q{DO $$
	BEGIN PERFORM uso_progress(2, 4); PERFORM 1 / 0; END $$});
$run = $q->(q{SELECT uso_run_now('half')});
is($q->("SELECT uso_wait($run)"), 'failed', 'a run failing half-way');
is($q->("SELECT progress FROM uso_task_runs WHERE id = $run"), '0.5', 'keeps the progress it reached');

# --- a procedure that COMMITs keeps its committed batches
$q->(q{CREATE TABLE batches (n int)});
$q->(q{CREATE PROCEDURE load_batches() LANGUAGE plpgsql AS $$
	BEGIN
		INSERT INTO batches VALUES (1); COMMIT;
		INSERT INTO batches VALUES (2); COMMIT;
		INSERT INTO batches VALUES (3 / 0);
	END $$});
uso_task($node, name => 'batches', schedule => '@manual', command => 'CALL load_batches()');
$run = $q->(q{SELECT uso_run_now('batches')});
is($q->("SELECT uso_wait($run)"), 'failed', 'the third batch fails the run');
is($q->(q{SELECT string_agg(n::text, ',' ORDER BY n) FROM batches}), '1,2', 'committed batches stay');

# --- session state does not leak from one run to the next
uso_task($node, name => 'dirty', schedule => '@manual', command =>
	q{SET work_mem = '77MB'; CREATE TEMP TABLE leftover (x int); SELECT pg_advisory_lock(42)});
uso_task($node, name => 'clean', schedule => '@manual', command =>
	q{SELECT current_setting('work_mem') || ' ' || (to_regclass('pg_temp.leftover') IS NULL)::text});
$run = $q->(q{SELECT uso_run_now('dirty')});
is($q->("SELECT uso_wait($run)"), 'succeeded', 'task A dirtied its session');
my $pid_a = $q->("SELECT pid FROM uso_task_run WHERE id = $run");
$run = $q->(q{SELECT uso_run_now('clean')});
is($q->("SELECT uso_wait($run)"), 'succeeded', 'task B ran');
is($q->("SELECT pid FROM uso_task_run WHERE id = $run"), $pid_a, 'on the same worker');
is($q->("SELECT return_message FROM uso_task_run WHERE id = $run"), '4MB true',
	'B sees the default work_mem and no temp table');
is($q->(q{SELECT pg_try_advisory_lock(42)}), 't', 'the advisory lock was released');

# --- runs as the owner role
$q->(q{CREATE ROLE alice LOGIN; CREATE TABLE secret (x int); REVOKE ALL ON secret FROM PUBLIC});
uso_task($node, name => 'whoami', schedule => '@manual', username => 'alice',
	command => q{SELECT current_user || ' ' || session_user});
uso_task($node, name => 'peek', schedule => '@manual', username => 'alice',
	command => q{SELECT count(*) FROM secret});
$run = $q->(q{SELECT uso_run_now('whoami')});
$q->("SELECT uso_wait($run)");
is($q->("SELECT return_message FROM uso_task_run WHERE id = $run"), 'alice alice',
	'current_user and session_user are the owner');
$run = $q->(q{SELECT uso_run_now('peek')});
is($q->("SELECT uso_wait($run)"), 'failed', 'the owner cannot read what it may not read');
is($q->("SELECT sqlstate FROM uso_task_run WHERE id = $run"), '42501', 'permission denied recorded');

# --- a missing function shows 'missing'; others still run
uso_task($node, name => 'ghost', schedule => 'every 1 hour', command => 'SELECT no_such_function(1)');
is($q->(q{SELECT status FROM uso_background_tasks WHERE name = 'ghost'}), 'missing',
	'a task whose function does not exist is missing');
$run = $q->(q{SELECT uso_run_now('hourly')});
is($q->("SELECT uso_wait($run)"), 'succeeded', 'other tasks still run');

# --- schedulers per database, started and stopped without a restart
$q->(q{CREATE DATABASE other});
$node->safe_psql('other', 'CREATE EXTENSION uso_tasks');
uso_wait_for($node, q{SELECT count(*) = 1 FROM pg_stat_activity
	WHERE backend_type = 'uso_tasks scheduler' AND datname = 'other'},
	'CREATE EXTENSION starts a scheduler in the new database');
$node->safe_psql('other', q{CREATE TABLE t (x int);
	INSERT INTO uso_task (name, schedule, command) VALUES ('o', '@manual', 'INSERT INTO t VALUES (1)')});
$run = $node->safe_psql('other', q{SELECT uso_run_now('o')});
is($node->safe_psql('other', "SELECT uso_wait($run)"), 'succeeded', 'tasks run in the other database');
$node->safe_psql('other', 'DROP EXTENSION uso_tasks');
uso_wait_for($node, q{SELECT count(*) = 0 FROM pg_stat_activity
	WHERE backend_type LIKE 'uso_tasks%' AND datname = 'other'},
	'DROP EXTENSION stops its scheduler and workers');
$q->(q{DROP DATABASE other});
pass('DROP DATABASE works with no uso_tasks process in the way');

# --- a task whose database is another one runs there (no extension needed there)
$q->(q{CREATE DATABASE elsewhere});
$node->safe_psql('elsewhere', q{CREATE TABLE landed (db text)});
uso_task($node, name => 'remote', schedule => '@manual', database => 'elsewhere',
	command => q{INSERT INTO landed SELECT current_database()});
uso_task($node, name => 'remote_bad', schedule => '@manual', database => 'elsewhere',
	command => q{SELECT 1 / 0});
$run = $q->(q{SELECT uso_run_now('remote')});
is($q->("SELECT uso_wait($run)"), 'succeeded', 'a cross-database run succeeds');
is($node->safe_psql('elsewhere', q{SELECT string_agg(db, ',') FROM landed}), 'elsewhere',
	'its work landed in the other database');
is($q->("SELECT return_message || ' ' || (started_at IS NOT NULL)::text FROM uso_task_run WHERE id = $run"),
	'INSERT 0 1 true', 'its message and start time are recorded');
$run = $q->(q{SELECT uso_run_now('remote_bad')});
is($q->("SELECT uso_wait($run)"), 'failed', 'a failing cross-database run fails');
is($q->("SELECT sqlstate || ' ' || return_message FROM uso_task_run WHERE id = $run"),
	'22012 division by zero', 'with its sqlstate and message');

# --- a template with the extension: no scheduler holds it, its copies get one
$node->safe_psql('template1', q{CREATE EXTENSION uso_tasks; UPDATE uso_task SET enabled = false WHERE builtin});
$q->(q{CREATE DATABASE fromtmpl});
pass('CREATE DATABASE from a template with the extension is not blocked');
uso_wait_for($node, q{SELECT count(*) = 1 FROM pg_stat_activity
	WHERE backend_type = 'uso_tasks scheduler' AND datname = 'fromtmpl'},
	'the new database gets its scheduler without a restart');
is($q->(q{SELECT count(*) FROM pg_stat_activity WHERE datname = 'template1' AND backend_type LIKE 'uso_tasks%'}),
	'0', 'no uso_tasks process is connected to the template');
$node->safe_psql('fromtmpl', q{SELECT uso_schedule('tmpl_task', '@manual', 'SELECT 7')});
$run = $node->safe_psql('fromtmpl', q{SELECT uso_run_now('tmpl_task')});
is($node->safe_psql('fromtmpl', "SELECT uso_wait($run)"), 'succeeded', 'and runs its tasks');
$node->safe_psql('template1', q{DROP EXTENSION uso_tasks});

is($q->(q{SELECT count(*) FROM uso_task_run WHERE finished_at IS NULL AND status <> 'queued'}), '0',
	'no run left dangling');
$node->stop;
done_testing();
