# Revoking a right takes effect at the next run (issue 9, item 7): a warm
# worker stays connected as the task's owner, and a connected session keeps
# running after its role is dropped, made NOLOGIN or loses CONNECT.  The
# next run after such a change fails, saying why, even on a warm worker, and
# the worker leaves the pool.
use strict;
use warnings;
use lib 't/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use UsoNode;

my $node = uso_node('revoke');
my $q = sub { $node->safe_psql('postgres', shift) };
$q->(q{UPDATE uso_task SET enabled = false WHERE builtin});
$q->(q{CREATE DATABASE other});
$q->(q{REVOKE CONNECT ON DATABASE other FROM PUBLIC});

# "status|sqlstate|message" of a run of $task started now (as superuser).
sub run_task
{
	my ($task) = @_;
	my $run = $q->("SELECT uso_run_now('$task')");
	$q->("SELECT uso_wait($run, '60 seconds')");
	return $q->("SELECT status || '|' || coalesce(sqlstate, '') || '|' || coalesce(return_message, '')
		FROM uso_task_run WHERE id = $run");
}

# The pid of the idle worker connected as $role, or ''.
sub worker_of
{
	my ($role) = @_;
	return $q->("SELECT pid FROM pg_stat_activity WHERE backend_type = 'uso_tasks worker'
		AND usename = '$role'");
}

for my $case (
	# The change makes the scheduler reload (issue 21): the run fails there,
	# or, when the worker took it first, in the worker; both say why.
	[ 'dropped', q{DROP ROLE r_dropped},
		qr/^failed\|(42704\|.*owner role .* was dropped|\|role "r_dropped" does not exist)/ ],
	[ 'nologin', q{ALTER ROLE r_nologin NOLOGIN},
		qr/^failed\|(28000\|role "r_nologin" can no longer log in|\|role "r_nologin" cannot log in)/ ],
	[ 'noconnect', q{REVOKE CONNECT ON DATABASE postgres FROM PUBLIC, r_noconnect},
		qr/^failed\|(42501\|role "r_noconnect" no longer has CONNECT on database "postgres"|\|CONNECT on database "postgres" was revoked for role "r_noconnect")/ ])
{
	my ($name, $revoke, $expect) = @$case;
	$q->("CREATE ROLE r_$name LOGIN");
	uso_task($node, name => "t_$name", schedule => '@manual', username => "r_$name",
		command => 'SELECT 1');
	is(run_task("t_$name"), 'succeeded||1', "$name: the task runs");
	my $pid = worker_of("r_$name");
	isnt($pid, '', "$name: its worker stays warm");
	$q->($revoke);
	like(run_task("t_$name"), $expect, "$name: the next run fails, saying why");
	uso_wait_for($node, "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid",
		"$name: the warm worker left the pool");
	$q->("GRANT CONNECT ON DATABASE postgres TO PUBLIC") if $name eq 'noconnect';
}

# A task in another database: its worker is connected there.
$q->(q{CREATE ROLE r_remote LOGIN; GRANT CONNECT ON DATABASE other TO r_remote});
uso_task($node, name => 't_remote', schedule => '@manual', username => 'r_remote',
	database => 'other', command => 'SELECT 2');
is(run_task('t_remote'), 'succeeded||2', 'remote: the task runs in the other database');
$q->(q{REVOKE CONNECT ON DATABASE other FROM r_remote});
like(run_task('t_remote'),
	qr/^failed\|(42501\|role "r_remote" no longer has CONNECT on database "other"|\|CONNECT on database "other" was revoked for role "r_remote")/,
	'remote: the next run fails, saying why');

is($q->(q{SELECT count(*) FROM uso_task_run WHERE finished_at IS NULL}), '0', 'nothing left open');
$node->stop;
done_testing();
