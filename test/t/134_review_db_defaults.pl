# Review of issue 21's trust boundary (h7): the scheduler runs in a session
# of its database, and the database's owner sets that session's defaults
# (ALTER DATABASE ... SET needs no superuser for these).  With
# default_transaction_read_only = on (or statement_timeout = 1ms) every
# statement of the scheduler failed: it exited and was restarted, with
# backoff, forever, and closed nothing -- a run whose worker was gone stayed
# "running".  Its session pins these as it pins search_path: its writes are
# its job, and they are short by design.
use strict;
use warnings;
use lib 't/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use UsoNode;

my $node = uso_node('review_db_defaults');
$node->safe_psql('postgres', q{CREATE ROLE dbowner LOGIN});
$node->safe_psql('postgres', q{CREATE DATABASE owned OWNER dbowner});
$node->safe_psql('owned', 'CREATE EXTENSION uso_tasks');
# The test's own sessions keep working whatever the database's defaults are:
# a role's settings come before the database's (not the scheduler's role).
$node->safe_psql('postgres', q{CREATE ROLE checker SUPERUSER LOGIN;
	ALTER ROLE checker SET default_transaction_read_only = off;
	ALTER ROLE checker SET statement_timeout = 0;
	ALTER ROLE checker SET search_path = pg_catalog, public});
my $su = sub { $node->safe_psql('owned', shift, extra_params => ['-U', 'checker']) };
$su->(q{SELECT uso_schedule('long', '@manual', 'SELECT pg_sleep(600)', username => 'dbowner')});
my $run = $su->(q{SELECT uso_run_now('long')});
ok($node->poll_query_until('owned', "SELECT status = 'running' FROM public.uso_task_run WHERE id = $run"),
	'a run is running');

$node->safe_psql('owned', q{ALTER DATABASE owned SET default_transaction_read_only = on;
	ALTER DATABASE owned SET statement_timeout = '1ms'}, extra_params => ['-U', 'dbowner']);
# The scheduler and the worker go (a restart of the database's uso processes).
$su->(q{SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
	WHERE datname = 'owned' AND backend_type IN ('uso_tasks scheduler', 'uso_tasks worker')});

my $closed = 0;
my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
while (!$closed && time < $deadline)
{
	$closed = $su->("SELECT finished_at IS NOT NULL FROM uso_task_run WHERE id = $run") eq 't';
	select(undef, undef, undef, 0.1) unless $closed;
}
ok($closed, 'the new scheduler closes the run its worker left, under the owner\'s read-only default');
like($su->("SELECT status || ': ' || return_message FROM uso_task_run WHERE id = $run"), qr/^failed: (interrupted|the executor worker running this run exited before it finished)/,
	# Which of the two closes it first (the restarted scheduler's adoption, or
	# the worker's own exit report) depends on timing; both say the worker left it.
	'as interrupted');
$node->stop;
done_testing();
