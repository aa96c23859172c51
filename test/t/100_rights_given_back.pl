# Giving back a right takes effect at the next run (issue 21, part 6): after
# ALTER ROLE r NOLOGIN then LOGIN, or REVOKE CONNECT then GRANT, the task
# kept failing "cannot log in" until its row was written, because whether a
# task can run is worked out when the scheduler loads it.  Changes to roles
# and database rights now make every scheduler reload.  And a task whose
# owner lost CONNECT says so, not "could not connect" (issue 21, messages).
use strict;
use warnings;
use lib 't/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use UsoNode;

my $node = uso_node('rights_back');
my $q = sub { $node->safe_psql('postgres', shift) };
$q->(q{UPDATE uso_task SET enabled = false WHERE builtin});

# "status|message" of a run of $task started now (as superuser).
sub run_task
{
	my ($task) = @_;
	my $run = $q->("SELECT uso_run_now('$task')");
	$q->("SELECT uso_wait($run, '60 seconds')");
	return $q->("SELECT status || '|' || coalesce(return_message, '')
		FROM uso_task_run WHERE id = $run");
}

# Another task written: the scheduler reloads every task, and works out again
# whether each can run (what the issue saw: the task kept failing after the
# right came back, until a write made the scheduler look again).
my $other = 0;
sub write_other
{
	$other++;
	uso_task($node, name => "t_other_$other", schedule => '@manual', command => 'SELECT 0');
}

# LOGIN taken and given back.
$q->(q{CREATE ROLE r_login LOGIN});
uso_task($node, name => 't_login', schedule => '@manual', username => 'r_login',
	command => 'SELECT 1');
is(run_task('t_login'), 'succeeded|1', 'login: the task runs');
$q->(q{ALTER ROLE r_login NOLOGIN});
like(run_task('t_login'), qr/^failed\|role "r_login" (can no longer|cannot) log in/,
	'login: the next run after NOLOGIN fails, saying why');
write_other();
like(run_task('t_login'), qr/^failed\|role "r_login" cannot log in/,
	'login: and the one after a reload');
$q->(q{ALTER ROLE r_login LOGIN});
is(run_task('t_login'), 'succeeded|1', 'login: the first run after LOGIN runs');

# CONNECT taken and given back.
$q->(q{CREATE ROLE r_conn LOGIN});
uso_task($node, name => 't_conn', schedule => '@manual', username => 'r_conn',
	command => 'SELECT 2');
is(run_task('t_conn'), 'succeeded|2', 'connect: the task runs');
$q->(q{REVOKE CONNECT ON DATABASE postgres FROM PUBLIC});
like(run_task('t_conn'),
	qr/^failed\|(role "r_conn" no longer has CONNECT on database "postgres"|CONNECT on database "postgres" was revoked for role "r_conn")/,
	'connect: the next run after REVOKE fails, saying why');
write_other();
like(run_task('t_conn'),
	qr/^failed\|CONNECT on database "postgres" was revoked for role "r_conn"/,
	'connect: a worker that cannot connect is not started: CONNECT was revoked for the role');
$q->(q{GRANT CONNECT ON DATABASE postgres TO r_conn});
is(run_task('t_conn'), 'succeeded|2', 'connect: the first run after GRANT runs');
$q->(q{GRANT CONNECT ON DATABASE postgres TO PUBLIC});

# A role dropped and created again under the task's owner name.
$q->(q{CREATE ROLE r_again LOGIN});
uso_task($node, name => 't_again', schedule => '@manual', username => 'r_again',
	command => 'SELECT 3');
$q->(q{DROP ROLE r_again});
like(run_task('t_again'), qr/^failed\|role "r_again" does not exist/,
	'again: the task of a dropped role fails, saying why');
$q->(q{CREATE ROLE r_again LOGIN});
is(run_task('t_again'), 'succeeded|3', 'again: the first run after CREATE ROLE runs');

is($q->(q{SELECT count(*) FROM uso_task_run WHERE finished_at IS NULL}), '0', 'nothing left open');
$node->stop;
done_testing();
