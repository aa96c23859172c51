# Issue 21 part 1: the engine's own code is never reachable from what other
# roles can write.  On PostgreSQL 15 the owner of a database may CREATE in
# its schema public, where uso_tasks' API lives.  The run-end trigger runs as
# the superuser; when it called public.uso_log_run(current_database(), ...)
# (current_database() is of type name, the function takes text), an overload
# planted in public with a name first parameter was the better match and ran
# as the superuser; a planted public.uso_window_push(float8[], float8) made
# every run record fail ("is not unique").  The engine's internals now live in
# schema _uso_tasks, which only the extension's owner can write, and every
# call of superuser or SECURITY DEFINER code names its schema.
use strict;
use warnings;
use lib 't/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use UsoNode;

my $node = uso_node('private_schema');
$node->safe_psql('postgres', q{CREATE ROLE dbowner LOGIN; CREATE DATABASE owned OWNER dbowner});
$node->safe_psql('owned', q{CREATE EXTENSION uso_tasks});
my $own = sub { $node->safe_psql('owned', shift, extra_params => ['-U', 'dbowner']) };
my $su = sub { $node->safe_psql('owned', shift) };

is($su->(q{SELECT n.nspowner::regrole FROM pg_namespace n WHERE n.nspname = '_uso_tasks'}), 'postgres',
	'schema _uso_tasks belongs to the extension\'s owner');
my ($ret, $out, $err) = $node->psql('owned', q{CREATE FUNCTION _uso_tasks.x() RETURNS int LANGUAGE sql AS 'SELECT 1'},
	extra_params => ['-U', 'dbowner']);
like($err, qr/permission denied for schema _uso_tasks/, 'the database owner cannot create in it');

# -- the exploit of the issue: an overload with a name first parameter
$own->(q{CREATE FUNCTION public.uso_log_run(database name, task text, run_id bigint, status text,
		sqlstate text, message text, duration float8) RETURNS void LANGUAGE plpgsql AS $f$
	BEGIN
		IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
			EXECUTE 'ALTER ROLE dbowner SUPERUSER';
		END IF;
	END $f$});
$own->(q{SELECT uso_schedule('boom', '@manual', 'SELECT 1/0')});
my $boom = $own->(q{SELECT uso_run_now('boom')});
is($own->("SELECT uso_wait($boom, '60 s')"), 'failed', 'the failing run is recorded as failed');
is($su->(q{SELECT rolsuper FROM pg_roles WHERE rolname = 'dbowner'}), 'f',
	'the planted uso_log_run never ran as the superuser: the database owner is no superuser');
ok(uso_poll_log($node, qr/task "boom".*failed/i), 'the engine\'s own uso_log_run wrote the LOG line');

# -- an overload that would make every run record fail
$own->(q{CREATE FUNCTION public.uso_window_push(a float8[], v float8) RETURNS float8[]
	LANGUAGE sql AS 'SELECT a'});
$own->(q{SELECT uso_schedule('fine', '@manual', 'SELECT 1')});
my $fine = $own->(q{SELECT uso_run_now('fine')});
is($own->("SELECT uso_wait($fine, '60 s')"), 'succeeded', 'a run still succeeds and is recorded');
# The counters are folded from the run ends by the scheduler, a moment later.
$node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM uso_task_stats s
	JOIN uso_task t ON t.id = s.task_id WHERE t.name = 'fine' AND s.runs_succeeded > 0});
is($own->(q{SELECT runs_succeeded || ' ' || cardinality(recent_durations) FROM uso_task_stats s
	JOIN uso_task t ON t.id = s.task_id WHERE t.name = 'fine'}), '1 1',
	'its counters and durations are written by the engine\'s uso_window_push');
my $again = $own->(q{SELECT uso_run_now('boom')});
is($own->("SELECT uso_wait($again, '60 s')"), 'failed', 'so is a failed one');
is($su->(q{SELECT rolsuper FROM pg_roles WHERE rolname = 'dbowner'}), 'f', 'and nobody became superuser');
unlike(slurp_file($node->logfile), qr/is not unique|PANIC|TRAP:|terminated by signal/,
	'no "is not unique" error, nothing crashed');
$node->stop;
done_testing();
