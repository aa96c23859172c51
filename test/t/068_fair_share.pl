# Nobody starves the others of workers (issue 9, item 5): one role running
# many long tasks holds at most uso_tasks.max_workers_per_role workers, one
# database at most uso_tasks.max_workers_per_database, so another database's
# or another role's run starts at once while they wait.
use strict;
use warnings;
use lib 't/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use UsoNode;

# 4 workers: a role may hold 2 (half), a database 3 (all but a quarter).
my $node = uso_node('fair', 'uso_tasks.max_workers = 4');
my $q = sub { $node->safe_psql($_[1] // 'postgres', $_[0]) };
$q->(q{UPDATE uso_task SET enabled = false WHERE builtin});
$q->(q{CREATE ROLE alice LOGIN; CREATE ROLE bob LOGIN});
$q->(q{CREATE DATABASE other});
$q->(q{CREATE EXTENSION uso_tasks; UPDATE uso_task SET enabled = false WHERE builtin}, 'other');


uso_task($node, name => 'hog', schedule => '@manual', username => 'alice', overlap => 'parallel',
	command => 'SELECT pg_sleep(120)');
my @hogs = map { $q->(q{SELECT uso_run_now('hog')}) } 1 .. 6;
uso_wait_for($node, q{SELECT count(*) = 2 FROM uso_task_runs WHERE task = 'hog' AND status = 'running'},
	'alice holds two workers');
is($q->(q{SELECT count(*) FROM uso_task_runs WHERE task = 'hog' AND status = 'queued'}), '4',
	'her other runs wait for her own workers');

# Another database's run gets a worker at once.
uso_task($node, name => 'quick', schedule => '@manual', command => 'SELECT 42', _db => 'other');
my $run = $q->(q{SELECT uso_run_now('quick')}, 'other');
is($q->("SELECT uso_wait($run, '2 minutes')", 'other'), 'succeeded', "the other database's run succeeds");
# Her runs sleep 2 minutes: while all six are still running or queued, the
# run did not wait for one of her workers (no timed bound a loaded machine breaks).
my $hogs_q = q{SELECT string_agg(status || ':' || n, ',' ORDER BY status) FROM (SELECT status, count(*) n
	FROM uso_task_runs WHERE task = 'hog' GROUP BY status) s};
is($q->($hogs_q), 'queued:4,running:2', "and ran while alice's runs still wait");

# Another role of the same database too.
uso_task($node, name => 'bobs', schedule => '@manual', username => 'bob', command => 'SELECT 7');
$run = $q->(q{SELECT uso_run_now('bobs')});
is($q->("SELECT uso_wait($run, '2 minutes')"), 'succeeded', "bob's run succeeds");
is($q->($hogs_q), 'queued:4,running:2', "while alice's runs still wait: she still holds two");

# Alice's queue drains as her own runs end.
$q->("SELECT uso_cancel($hogs[0])");
uso_wait_for($node, q{SELECT count(*) = 2 FROM uso_task_runs WHERE task = 'hog' AND status = 'running'
	AND id <> } . $hogs[0], 'a waiting run of hers takes the freed worker');
$q->("SELECT uso_cancel(id) FROM uso_task_run WHERE finished_at IS NULL");
uso_wait_for($node, q{SELECT count(*) = 0 FROM uso_task_run WHERE finished_at IS NULL}, 'nothing left open');
my ($ret, $shown) = $node->psql('postgres', q{SHOW uso_tasks.max_workers_per_role});
is($shown, '0', 'the per-role cap is automatic by default');
$node->stop;
done_testing();
