# What a DBA sees (issue 25, items 8, 9, 11): a scripted install does not
# warn that the scheduler is not running while it is on its way; `ps` names
# the scheduler's database; a pool starved of background worker slots
# (max_worker_processes) says so in uso_scheduler_status, the admin view and
# the warning of uso_run_now, instead of looking healthy.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use lib 't/lib';
use UsoNode;

my $node = uso_node('dba', 'log_min_messages = debug1');
sub query { return $node->safe_psql('postgres', $_[0]); }

uso_wait_for($node, "SELECT state = 'running' FROM uso_scheduler_status WHERE database = 'postgres'",
	'the scheduler of postgres is running');

# Item 11: the process title names the database, not only its OID.
my $pid = query("SELECT pid FROM uso_scheduler_status WHERE database = 'postgres'");
my $cmdline = slurp_file("/proc/$pid/cmdline");
$cmdline =~ s/\0/ /g;
like($cmdline, qr/uso_tasks scheduler postgres\b/, "ps shows the scheduler's database by name ($cmdline)");

# Item 8: CREATE EXTENSION then uso_schedule in one psql -f, autocommit and
# in a single transaction (psql -1): no WARNING, and the scheduler runs.
my $script = $node->basedir . '/install.sql';
open(my $fh, '>', $script) or die "$script: $!";
print $fh "CREATE EXTENSION uso_tasks;\n",
	"SELECT uso_schedule('nightly', '\@daily', 'SELECT 1');\n",
	"SELECT uso_run_now('nightly') > 0;\n";
close($fh);
for my $case (['app', []], ['app1', ['-1']])
{
	my ($db, $opts) = @$case;
	my $offset = -s $node->logfile;
	query("CREATE DATABASE $db");
	my $oid = query("SELECT oid FROM pg_database WHERE datname = '$db'");
	# CREATE DATABASE starts a scheduler there, which exits at once (no
	# extension yet): the script runs when nothing is on its way any more,
	# as on a server where the database has been there a while.
	$offset = uso_log_after($node, qr/uso_tasks launcher registered a scheduler for database $oid\b/, $offset);
	uso_log_after($node, qr/background worker "uso_tasks scheduler" \(PID \d+\) exited with exit code 0/, $offset);
	my ($ret, $out, $err) = $node->psql($db, undef, extra_params => [@$opts, '-f', $script]);
	is($ret, 0, "psql @$opts -f install.sql succeeds in $db");
	unlike($err, qr/WARNING/, "and does not warn that the scheduler is not running ($db)");
	uso_wait_for($node, "SELECT state = 'running' FROM uso_scheduler_status WHERE database = '$db'",
		"then the scheduler of $db runs", $db);
}

$node->stop;

# Item 9: with max_worker_processes = 3 the launcher, the logical replication
# launcher and the scheduler take every slot: no executor can start.
my $small = uso_node('starved', 'max_worker_processes = 3');
sub squery { return $small->safe_psql('postgres', $_[0]); }
uso_wait_for($small, "SELECT pid IS NOT NULL FROM uso_scheduler_status WHERE database = 'postgres'",
	'the scheduler of postgres started');
squery(q{SELECT uso_schedule('waits', '@manual', 'SELECT 1')});
my $run = squery(q{SELECT uso_run_now('waits')});
uso_wait_for($small, "SELECT state LIKE 'starved: %max_worker_processes%' FROM uso_scheduler_status WHERE database = 'postgres'",
	'uso_scheduler_status says the pool is starved of worker slots');
like(squery("SELECT status_detail FROM uso_background_tasks WHERE name = 'waits'"),
	qr/waits for a worker.*max_worker_processes/, "the admin view's status_detail says why the run waits");
is(squery("SELECT status FROM uso_task_run WHERE id = $run"), 'queued', 'the run is still queued');
is(squery("SELECT coalesce(last_run_at::text, 'none') FROM uso_background_tasks WHERE name = 'waits'"), 'none',
	'and the admin view shows no last run for a task that never started one');
{
	my ($ret, $out, $err) = $small->psql('postgres', "SELECT uso_run_now('waits')");
	like($err, qr/WARNING:  .*no background worker slot is free.*\n(?:.*\n)*HINT:  .*max_worker_processes/,
		'uso_run_now warns that no worker can start, saying what to raise');
}
# The metric the exporter reads (contrib/prometheus/queries.yaml, uso_tasks_scheduler).
my $yaml = slurp_file('contrib/prometheus/queries.yaml');
my ($metric) = $yaml =~ /^uso_tasks_scheduler:\n  master: true\n  query: \|\n((?:    .*\n)+)/m;
ok(defined $metric, 'queries.yaml has the uso_tasks_scheduler query');
is(squery("SELECT up || ' ' || starved FROM ($metric) m WHERE database = 'postgres'"), '1 1',
	'its series say the scheduler is up and starved');

# Room again: the run starts, and the status is running.
$small->adjust_conf('postgresql.conf', 'max_worker_processes', '8');
$small->restart;
uso_wait_for($small, "SELECT count(*) = 0 FROM uso_task_run WHERE status IN ('queued', 'running')
	AND task_id = (SELECT id FROM uso_task WHERE name = 'waits')", 'with room the waiting runs run');
uso_wait_for($small, "SELECT state = 'running' FROM uso_scheduler_status WHERE database = 'postgres'",
	'and the status says running');
is(squery("SELECT status_detail FROM uso_background_tasks WHERE name = 'waits'"), '',
	'the status_detail is empty again');
is(squery("SELECT last_run_at IS NOT NULL FROM uso_background_tasks WHERE name = 'waits'"), 't',
	'and last_run_at shows the run that started');

done_testing();
