# A short soak (the long one is test/bench/soak.sh): 500 tasks on a
# '1 seconds' schedule for 10 seconds.  Every slot is recorded as a run or a
# skipped run, nothing dangles, memory stays bounded, no ERROR in the log.
use strict;
use warnings;
use lib 't/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use UsoNode;

my $ntasks = 500;
my $seconds = 10;
my $node = uso_node('load');
my $q = sub { $node->safe_psql('postgres', shift) };
$q->(q{UPDATE uso_task SET enabled = false WHERE builtin; CREATE TABLE hits (n int)});

# Private memory of a process in kB (RSS would also count the shared
# buffers it touched, which is not growth of its own).
sub private_kb
{
	my $pid = shift;
	my $kb = 0;
	open(my $fh, '<', "/proc/$pid/smaps_rollup") or return 0;
	while (<$fh>) { $kb += $1 if /^Private_(?:Clean|Dirty):\s+(\d+)/; }
	return $kb;
}

my $sched = $q->(q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'uso_tasks scheduler'});
$q->("INSERT INTO uso_task (name, schedule, command)
	SELECT 'load_' || i, '1 seconds', 'INSERT INTO hits VALUES (' || i || ')' FROM generate_series(1, $ntasks) i");
uso_wait_for($node, "SELECT count(DISTINCT task_id) = $ntasks FROM uso_task_run r JOIN uso_task t ON t.id = r.task_id
	WHERE t.name LIKE 'load_%' AND r.finished_at IS NOT NULL", 'every task ran');
my $start = time;
# Warm-up (caches, the run hash at its working size), then a steady stretch.
$node->poll_query_until('postgres', "SELECT extract(epoch FROM now()) > $start + $seconds / 2");
my $rss_start = private_kb($sched);
$node->poll_query_until('postgres', "SELECT extract(epoch FROM now()) > $start + $seconds");
my $rss_end = private_kb($sched);
$q->(q{UPDATE uso_task SET enabled = false WHERE name LIKE 'load_%'});
uso_wait_for($node, q{SELECT count(*) = 0 FROM uso_task_run WHERE finished_at IS NULL},
	'after disabling, no run is left queued or running');

my ($runs, $skipped, $failed) = split /\|/, $q->(q{SELECT count(*) FILTER (WHERE status = 'succeeded'),
	count(*) FILTER (WHERE status = 'skipped'), count(*) FILTER (WHERE status NOT IN ('succeeded', 'skipped'))
	FROM uso_task_run r JOIN uso_task t ON t.id = r.task_id WHERE t.name LIKE 'load_%'});
diag("$runs runs, $skipped skipped in about $seconds s with $ntasks tasks; scheduler private memory $rss_start kB -> $rss_end kB over the second half");
is($failed, '0', 'no run failed');
is($q->('SELECT count(*) FROM hits'), $runs, 'every succeeded run did its work once');
ok($runs + $skipped >= $ntasks * $seconds / 2, 'slots were served (runs + skipped)');
is($q->(q{SELECT count(*) FROM (SELECT task_id, scheduled_for FROM uso_task_run WHERE trigger = 'schedule'
	GROUP BY 1, 2 HAVING count(*) > 1) d}), '0', 'no slot recorded twice');
ok($rss_end - $rss_start < 2_000, 'scheduler memory does not grow in steady state');
my $log = slurp_file($node->logfile);
my @errors = grep { /\b(ERROR|PANIC|FATAL)\b/ && !/terminating background worker/ } split /\n/, $log;
is(scalar(@errors), 0, 'no ERROR in the server log') or diag(join("\n", @errors[0 .. ($#errors < 5 ? $#errors : 5)]));
$node->stop;
done_testing();
