# The scheduler process and its slot (issue 10, defects 4, 8 and 10):
# pg_cancel_backend does not restart the scheduler, a database that takes
# over another database's scheduler slot still runs its @reboot tasks, and
# log capture works with log_min_messages = log.
use strict;
use warnings;
use lib 't/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use UsoNode;

my $node = uso_node('processes', 'log_min_messages = log');
my $q = sub { $node->safe_psql('postgres', shift) };
$q->(q{UPDATE uso_task SET enabled = false WHERE category IS NOT NULL});
uso_task($node, name => 'quick', schedule => '@manual', command => q{SELECT 1});

sub scheduler_pid
{
	my ($db) = @_;
	return $q->(qq{SELECT pid FROM pg_stat_activity
		WHERE backend_type = 'uso_tasks scheduler' AND datname = '$db'});
}

# --- 4: SIGINT (pg_cancel_backend) is ignored, as pg_cron's launcher does
my $pid = scheduler_pid('postgres');
ok($q->("SELECT pg_cancel_backend($pid)") eq 't', 'the scheduler was sent SIGINT');
my $run = $q->(q{SELECT uso_run_now('quick')});
is($q->("SELECT uso_wait($run)"), 'succeeded', 'runs still run');
is(scheduler_pid('postgres'), $pid, 'by the same scheduler process: it was not restarted');

# --- 10: log capture with log_min_messages = log
uso_task($node, name => 'chatty', schedule => '@manual',
	command => q{DO $d$ BEGIN RAISE NOTICE 'hello from a run'; END $d$});
$run = $q->(q{SELECT uso_run_now('chatty')});
is($q->("SELECT uso_wait($run)"), 'succeeded', 'the chatty run succeeded');
is($q->("SELECT string_agg(level || ' ' || message, '|') FROM uso_task_log WHERE run_id = $run"),
	'NOTICE hello from a run', 'its NOTICE is stored although log_min_messages = log');
ok(!$node->log_contains('NOTICE:  hello from a run'), 'and kept out of the server log, as the setting says');

# --- 8: a scheduler slot given back by one database and taken by another
$q->(q{CREATE DATABASE gone});
$node->safe_psql('gone', q{CREATE EXTENSION uso_tasks});
$node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_stat_activity
	WHERE backend_type = 'uso_tasks scheduler' AND datname = 'gone'})
	or die 'no scheduler in database gone';
# Its scheduler has run its start (reboot_done); dropping the extension gives the slot back.
$node->safe_psql('gone', q{DROP EXTENSION uso_tasks});
$node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM pg_stat_activity
	WHERE backend_type = 'uso_tasks scheduler' AND datname = 'gone'})
	or die 'the scheduler of gone did not exit';
$q->(q{CREATE DATABASE fresh});
$node->safe_psql('fresh', q{BEGIN;
	CREATE EXTENSION uso_tasks;
	UPDATE uso_task SET enabled = false WHERE category IS NOT NULL;
	INSERT INTO uso_task (name, schedule, command) VALUES ('boot', '@reboot', 'SELECT 1');
	COMMIT;});
uso_wait_for($node, q{SELECT count(*) = 1 FROM uso_task_run r JOIN uso_task t ON t.id = r.task_id
	WHERE t.name = 'boot' AND r.trigger = 'startup' AND r.status = 'succeeded'},
	'the new database runs its @reboot task although its slot served another database', 'fresh');

ok(!$node->log_contains('TRAP:|PANIC'), 'no assertion failure or panic');
$node->stop;
done_testing();
