# Operations, issue 12 part 3: uso_scheduler_status shows each database's
# scheduler from shared memory, with a heartbeat that goes on while idle;
# a terminated scheduler comes back under a new pid; without the preload
# the view says why nothing runs and uso_schedule, uso_run_now and the
# admin view warn, saying what to do.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use lib 't/lib';
use UsoNode;

my $node = uso_node('status');
sub query { return $node->safe_psql('postgres', $_[0]); }

uso_wait_for($node, "SELECT state = 'running' FROM uso_scheduler_status WHERE database = 'postgres'",
	'the scheduler of postgres is running');
# The built-in tasks' first runs come at once (uso_deliver_alerts is due at
# creation): wait for them to end before looking at an idle scheduler.
$node->poll_query_until('postgres', "SELECT runs_queued = 0 AND runs_running = 0 FROM uso_scheduler_status WHERE database = 'postgres'");
my $row = query("SELECT pid IS NOT NULL, started_at <= now(), tasks_loaded >= 2, runs_queued, runs_running,
	next_wakeup > last_loop_at, heartbeat_age < 10 FROM uso_scheduler_status WHERE database = 'postgres'");
is($row, 't|t|t|0|0|t|t', 'pid, start, tasks loaded, no runs, next wake-up, fresh heartbeat');
is(query("SELECT pid FROM uso_scheduler_status WHERE database = 'postgres'"),
	query("SELECT pid FROM pg_stat_activity WHERE application_name = 'uso_tasks scheduler' AND datname = 'postgres'"),
	'the pid is the scheduler\'s');

# Idle (nothing due for an hour): the heartbeat still moves, within ~5 s.
my $beat = query("SELECT last_loop_at FROM uso_scheduler_status WHERE database = 'postgres'");
uso_wait_for($node, "SELECT last_loop_at > '$beat' AND next_wakeup - last_loop_at <= interval '5.1 s'
	FROM uso_scheduler_status WHERE database = 'postgres'", 'an idle scheduler beats at least every 5 seconds');

# A running task shows in the counts.
query(q{SELECT uso_schedule('slow', '@manual', 'SELECT pg_sleep(30)')});
my $run = query("SELECT uso_run_now('slow')");
uso_wait_for($node, "SELECT runs_running = 1 AND workers_busy = 1 FROM uso_scheduler_status WHERE database = 'postgres'",
	'a running task: runs_running 1, workers_busy 1');
query("SELECT uso_cancel($run)");
uso_wait_for($node, "SELECT runs_running = 0 AND workers_busy = 0 AND workers_idle >= 1 FROM uso_scheduler_status WHERE database = 'postgres'",
	'after it: an idle worker');

# Only the monitoring roles read it.
query("CREATE ROLE nosy LOGIN; CREATE ROLE watcher LOGIN IN ROLE pg_monitor");
my ($ret, $out, $err) = $node->psql('postgres', 'SELECT * FROM uso_scheduler_status', extra_params => ['-U', 'nosy']);
like($err, qr/permission denied/, 'a plain role may not read the status');
is($node->safe_psql('postgres', "SELECT state FROM uso_scheduler_status WHERE database = 'postgres'",
	extra_params => ['-U', 'watcher']), 'running', 'a pg_monitor member may');

# A terminated scheduler: the launcher starts a new one.
my $pid = query("SELECT pid FROM uso_scheduler_status WHERE database = 'postgres'");
query("SELECT pg_terminate_backend($pid)");
uso_wait_for($node, "SELECT state = 'running' AND pid <> $pid FROM uso_scheduler_status WHERE database = 'postgres'",
	'a terminated scheduler is restarted (new pid)');

# No warning while it runs.
($ret, $out, $err) = $node->psql('postgres', "SELECT uso_run_now('slow')");
unlike($err, qr/WARNING/, 'uso_run_now does not warn while the scheduler runs');
query("SELECT uso_cancel(id) FROM uso_task_run WHERE finished_at IS NULL");

# Between CREATE EXTENSION and the new scheduler in its slot the status is
# "starting" and nothing warns (it said "stopped: no scheduler was started"
# once the launcher had taken the start request, issue 23).  The postmaster,
# stopped, holds that moment open: the launcher registers the scheduler, but
# no process is started for it until the postmaster goes on.
$node->append_conf('postgresql.conf', 'log_min_messages = debug1');
$node->restart;
my $offset = -s $node->logfile;
$node->safe_psql('postgres', 'CREATE DATABASE fresh');
my $oid = query("SELECT oid FROM pg_database WHERE datname = 'fresh'");
# CREATE DATABASE starts a scheduler there, which exits at once (no
# extension yet): the start below must not meet it on its way out.
$offset = uso_log_after($node, qr/uso_tasks launcher registered a scheduler for database $oid\b/, $offset);
$offset = uso_log_after($node, qr/background worker "uso_tasks scheduler" \(PID \d+\) exited with exit code 0/,
	$offset);
my $fresh = $node->background_psql('fresh', on_error_stop => 1);
my $pm = (split /\n/, slurp_file($node->data_dir . '/postmaster.pid'))[0];
my ($registered, $state, $warned);
kill 'STOP', $pm;
# Whatever fails in here, the postmaster goes on afterwards.
eval {
	$fresh->query_safe('CREATE EXTENSION uso_tasks');
	$registered = uso_log_after($node, qr/uso_tasks launcher registered a scheduler for database $oid\b/,
		$offset);
	$state = $fresh->query_safe(q{SELECT state FROM uso_scheduler_status WHERE database = 'fresh'});
	$fresh->{stderr} = '';
	$fresh->query(q{SELECT uso_schedule('early', '@manual', 'SELECT 1')});
	$fresh->query(q{SELECT uso_run_now('early') > 0});
	$warned = $fresh->{stderr};
};
my $error = $@;
kill 'CONT', $pm;
is($error, '', 'no error while the postmaster was stopped');
ok($registered, 'the launcher registered the scheduler of the new database');
is($state, 'starting', 'until its scheduler is in its slot, the status says starting');
unlike($warned, qr/WARNING/, 'and uso_schedule, uso_run_now do not warn');
uso_wait_for($node, q{SELECT state = 'running' FROM uso_scheduler_status WHERE database = 'fresh'},
	'then the scheduler of the new database runs', 'fresh');
$fresh->quit;

# Without the preload: nothing runs, and everything says so.
$node->stop;
$node->adjust_conf('postgresql.conf', 'shared_preload_libraries', "''");
$node->start;
is(query("SELECT database || ' | ' || coalesce(pid::text, 'NULL') || ' | ' || state FROM uso_scheduler_status"),
	'postgres | NULL | stopped: uso_tasks is not in shared_preload_libraries', 'the view says why');
for my $call ("SELECT uso_schedule('another', '\@daily', 'SELECT 1')", "SELECT uso_run_now('slow')",
	'SELECT count(*) FROM uso_background_tasks')
{
	($ret, $out, $err) = $node->psql('postgres', $call);
	like($err, qr/WARNING:  uso_tasks is not loaded via shared_preload_libraries: no task will run\nHINT:  Add uso_tasks to shared_preload_libraries/,
		"$call warns, saying what to do");
	my @n = $err =~ /WARNING/g;
	is(scalar @n, 1, "$call warns once");
}

done_testing();
