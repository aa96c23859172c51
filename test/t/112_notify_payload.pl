# Issue 21 part 5: every role of a database may LISTEN uso_task_events, so
# the payload carries only ids.  Before the fix bob, listening, got alice's
# failure message, which quoted a value of a table he cannot read.  The
# details are read through the views, under row-level security.
use strict;
use warnings;
use lib 't/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use UsoNode;

my $node = uso_node('notify_payload');
my $q = sub { $node->safe_psql('postgres', shift) };
my $as = sub { my ($role, $sql) = @_; $node->safe_psql('postgres', $sql, extra_params => [ '-U', $role ]) };
$q->(q{UPDATE uso_task SET enabled = false WHERE builtin;
	CREATE ROLE alice LOGIN; CREATE ROLE bob LOGIN;
	CREATE TABLE salary (v text); INSERT INTO salary VALUES ('salary-120000');
	ALTER TABLE salary OWNER TO alice;});

my $listener = $node->background_psql('postgres', extra_params => [ '-U', 'bob' ]);
$listener->query_safe('LISTEN uso_task_events');

$as->('alice', q{SELECT uso_schedule('payroll', '@manual', 'SELECT v::int FROM salary')});
my $task = $q->(q{SELECT id FROM uso_task WHERE name = 'payroll'});
my $run = $as->('alice', q{SELECT uso_run_now('payroll')});
is($as->('alice', "SELECT uso_wait($run)"), 'failed', 'alice\'s run fails');
like($as->('alice', "SELECT return_message FROM uso_task_runs WHERE id = $run"), qr/salary-120000/,
	'its message quotes her data');

my $out = '';
my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
while (time < $deadline && $out !~ /Asynchronous notification/)
{
	$out .= $listener->query('SELECT 1');
}
my ($payload) = $out =~ /Asynchronous notification "uso_task_events" with payload "(.*)" received/;
ok(defined $payload, 'bob, listening, is woken by the event');
$payload //= '';
unlike($payload, qr/salary|message|"task"/, 'the payload has neither her message nor her task\'s name');
is($payload, qq({"run_id": $run, "task_id": $task}), 'only the ids');
is($listener->query_safe("SELECT count(*) FROM uso_task_runs WHERE id = $run"), '0',
	'bob cannot read the run through the view');
$listener->quit;

done_testing();
