# pg_stat_activity.application_name is readable by every role of every
# database (issue 21, part 6): a worker shows "uso_tasks: run <id>", never the
# task's name; the superuser finds the task through the run views.
use strict;
use warnings;
use lib 't/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use UsoNode;

my $node = uso_node('appname');
my $q = sub { $node->safe_psql('postgres', shift) };
$q->(q{UPDATE uso_task SET enabled = false WHERE builtin});
$q->(q{CREATE ROLE r_payroll LOGIN; CREATE ROLE r_nosy LOGIN; CREATE DATABASE elsewhere});

uso_task($node, name => 'payroll_export_for_acme_merger', schedule => '@manual',
	username => 'r_payroll', command => 'SELECT pg_sleep(60)');
my $run = $q->(q{SELECT uso_run_now('payroll_export_for_acme_merger')});
uso_wait_for($node, "SELECT application_name LIKE 'uso_tasks: %' FROM pg_stat_activity
	WHERE pid = (SELECT pid FROM uso_task_run WHERE id = $run AND status = 'running')",
	'the run started and named its worker');

# (backend_type is NULL in rows of other roles' sessions; application_name is not.)
my $seen = $node->safe_psql('elsewhere', q{SET ROLE r_nosy;
	SELECT string_agg(application_name, ',') FROM pg_stat_activity
	WHERE application_name LIKE 'uso_tasks: %'});
is($seen, "uso_tasks: run $run", 'another role in another database sees the run id only');
unlike($seen, qr/payroll/, 'and not the task name');
is($q->("SELECT t.name FROM pg_stat_activity a
	JOIN uso_task_run r ON r.pid = a.pid AND r.status = 'running'
	JOIN uso_task t ON t.id = r.task_id
	WHERE a.application_name = 'uso_tasks: run $run'"), 'payroll_export_for_acme_merger',
	'the superuser finds the task of a worker through the run views');

$q->("SELECT uso_cancel($run)");
is($q->("SELECT uso_wait($run, '60 seconds')"), 'cancelled', 'the run is cancelled');
$node->stop;
done_testing();
