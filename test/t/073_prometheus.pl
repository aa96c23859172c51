# Operations, issue 12 part 4: the real prometheus-postgres-exporter (Debian
# package) with contrib/prometheus/queries.yaml against a test cluster:
# /metrics has the uso_tasks_ series, with the values the views show.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use HTTP::Tiny;
use Cwd qw(abs_path);

use lib 't/lib';
use UsoNode;

# Tests install nothing: test/lib.sh (uso_install_deps) installs the exporter
# on CI; elsewhere the test is skipped and make test's last line says so.
my $exporter = '/usr/bin/prometheus-postgres-exporter';
plan skip_all => 'prometheus-postgres-exporter is not installed (CI=true make test installs it)'
  unless -x $exporter;
# test/run copies contrib/ next to t/.
my $queries = abs_path('contrib/prometheus/queries.yaml');
ok(-f $queries, "queries file $queries");

my $node = uso_node('prom');
sub query { return $node->safe_psql('postgres', $_[0]); }

# Two tasks: one that fails, one that succeeds twice.
query(q{SELECT uso_schedule('good', '@manual', 'SELECT 1'), uso_schedule('bad', '@manual', 'SELECT 1/0')});
for my $t (qw(good good bad))
{
	my $r = query("SELECT uso_run_now('$t')");
	query("SELECT uso_wait($r)");
}
uso_wait_for($node, "SELECT state = 'running' FROM uso_scheduler_status WHERE database = 'postgres'", 'scheduler running');

my $port = PostgreSQL::Test::Cluster::get_free_port();
my $user = query('SELECT current_user');
my $log = "$PostgreSQL::Test::Utils::tmp_check/exporter.log";
my $pid = fork();
die "fork: $!" unless defined $pid;
if ($pid == 0)
{
	open(STDOUT, '>', $log);
	open(STDERR, '>&', \*STDOUT);
	$ENV{DATA_SOURCE_NAME} = 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres user=' . $user . ' sslmode=disable';
	exec($exporter, "--extend.query-path=$queries", "--web.listen-address=127.0.0.1:$port",
		'--disable-default-metrics', '--disable-settings-metrics') or exit 127;
}

my $http = HTTP::Tiny->new(timeout => 10);
my $metrics = '';
my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
while (time < $deadline)
{
	my $res = $http->get("http://127.0.0.1:$port/metrics");
	$metrics = $res->{content} if $res->{success};
	last if $metrics =~ /^uso_tasks_scheduler_up/m && $metrics =~ /^uso_tasks_runs_total/m;
	select(undef, undef, undef, 0.2);
}
kill('TERM', $pid);
waitpid($pid, 0);
my @lines = grep { /^uso_tasks_/ } split /\n/, $metrics;
ok(@lines > 10, 'the exporter serves uso_tasks_ series') or diag(slurp_file($log));
note("scrape:\n" . join("\n", @lines));

# A series' value, by name and labels (in any order).
sub value
{
	my ($name, %labels) = @_;
	for my $l (@lines)
	{
		my ($n, $lab, $v) = $l =~ /^(\w+)(?:\{(.*)\})? (\S+)$/ or next;
		next unless $n eq $name;
		my %have = ($lab // '') =~ /(\w+)="([^"]*)"/g;
		next if grep { ($have{$_} // '') ne $labels{$_} } keys %labels;
		return $v + 0;
	}
	return undef;
}

is(value('uso_tasks_runs_total', database => 'postgres', task => 'good', status => 'succeeded'), 2, 'runs_total good succeeded');
is(value('uso_tasks_runs_total', database => 'postgres', task => 'bad', status => 'failed'), 1, 'runs_total bad failed');
is(value('uso_tasks_runs_total', database => 'postgres', task => 'bad', status => 'succeeded'), 0, 'runs_total bad succeeded');
is(value('uso_tasks_task_failing', database => 'postgres', task => 'bad'), 1, 'bad is failing');
is(value('uso_tasks_task_failing', database => 'postgres', task => 'good'), 0, 'good is not');
is(value('uso_tasks_run_duration_seconds_count', database => 'postgres', task => 'good'), 2, 'duration count');
my $dur = query("SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY d) FROM uso_metrics_tasks, unnest(recent_durations) d WHERE task = 'good'");
ok(abs(value('uso_tasks_run_duration_seconds', database => 'postgres', task => 'good', quantile => '0.5') - $dur) < 1e-6,
	'median duration matches uso_metrics_tasks');
ok(defined value('uso_tasks_start_lateness_seconds_count', database => 'postgres', task => 'good'), 'lateness count series');
is(value('uso_tasks_scheduler_up', database => 'postgres'), 1, 'scheduler up');
my $age = value('uso_tasks_scheduler_heartbeat_age_seconds', database => 'postgres');
ok(defined $age && $age >= 0 && $age < 10, 'heartbeat age is fresh');
for my $g (qw(runs_queued runs_running workers_busy workers_idle))
{
	is(value("uso_tasks_$g", database => 'postgres'), query("SELECT $g FROM uso_scheduler_status WHERE database = 'postgres'"),
		"uso_tasks_$g matches uso_scheduler_status");
}

done_testing();
