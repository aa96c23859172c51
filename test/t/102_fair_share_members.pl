# Fair share cannot be got around (issue 21, part 4).
# - One login that is a member of m1..m4 makes each run long tasks: the roles
#   one login may act as share one role cap, so other roles still get workers.
# - Runs stored in one database but run in another count against the one they
#   run in, and runs that wait on their role's cap do not count as waiting for
#   room (which made the other databases halve their share).
use strict;
use warnings;
use lib 't/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use UsoNode;

# 8 workers: a role (or a login with all the roles it may act as) holds 4,
# a database 6.
my $node = uso_node('fair_members', 'uso_tasks.max_workers = 8');
my $q = sub { $node->safe_psql($_[1] // 'postgres', $_[0]) };
$q->(q{UPDATE uso_task SET enabled = false WHERE builtin});
$q->(q{CREATE DATABASE app2});
$q->(q{CREATE EXTENSION uso_tasks; UPDATE uso_task SET enabled = false WHERE builtin}, 'app2');

sub running
{
	my ($like, $db) = @_;
	return $q->("SELECT count(*) FROM uso_task_runs WHERE task LIKE '$like' AND status = 'running'", $db);
}

# 1. Four roles, one login.
$q->(q{CREATE ROLE mallory LOGIN; CREATE ROLE bob LOGIN});
for my $i (1 .. 4)
{
	$q->("CREATE ROLE m$i LOGIN; GRANT m$i TO mallory");
	uso_task($node, name => "hog_m$i", schedule => '@manual', username => "m$i",
		overlap => 'parallel', command => 'SELECT pg_sleep(300)');
}
my @hogs;
for my $i (1 .. 4)
{
	push @hogs, $q->("SELECT uso_run_now('hog_m$i')") for 1 .. 2;
}
uso_wait_for($node, q{SELECT count(*) >= 4 FROM uso_task_runs WHERE task LIKE 'hog_m%' AND status = 'running'},
	'the hogs start');
uso_task($node, name => 'bobs', schedule => '@manual', username => 'bob', command => 'SELECT 7');
my $run = $q->(q{SELECT uso_run_now('bobs')});
# (psql, not safe_psql: on a timeout uso_wait raises, and the test goes on.)
my (undef, $status) = $node->psql('postgres', "SELECT uso_wait($run, '30 seconds')");
is($status, 'succeeded', "another role's run gets a worker");
is(running('hog_m%'), '4', "the roles mallory may act as hold one role's cap together");
is($q->(q{SELECT count(*) FROM uso_task_runs WHERE task LIKE 'hog_m%' AND status = 'queued'}), '4',
	'the rest of their runs wait');
$q->("SELECT uso_cancel($_)") for @hogs;
uso_wait_for($node, q{SELECT count(*) = 0 FROM uso_task_run WHERE finished_at IS NULL}, 'the hogs are gone');

# 2. carol: 3 runs stored here but run in app2, 3 stored in app2 (1 runs, 2
# wait on her cap of 4).
$q->(q{CREATE ROLE carol LOGIN; CREATE ROLE dave LOGIN});
uso_task($node, name => 'remote_hog', schedule => '@manual', username => 'carol', database => 'app2',
	overlap => 'parallel', command => 'SELECT pg_sleep(300)');
my @remote = map { $q->(q{SELECT uso_run_now('remote_hog')}) } 1 .. 3;
uso_wait_for($node, q{SELECT count(*) = 3 FROM uso_task_runs WHERE task = 'remote_hog' AND status = 'running'},
	"carol's remote runs start");
uso_task($node, name => 'local_hog', schedule => '@manual', username => 'carol', overlap => 'parallel',
	command => 'SELECT pg_sleep(300)', _db => 'app2');
my @local = map { $q->(q{SELECT uso_run_now('local_hog')}, 'app2') } 1 .. 3;
uso_wait_for($node, q{SELECT count(*) = 1 FROM uso_task_runs WHERE task = 'local_hog' AND status = 'running'},
	"one of carol's app2 runs starts", 'app2');
is($q->(q{SELECT count(*) FROM uso_task_runs WHERE task = 'local_hog' AND status = 'queued'}, 'app2'), '2',
	'two wait on her role cap');

# dave's runs here: 4 of 8 workers are busy, none of them with a run of this
# database; all three of his start.
uso_task($node, name => 'daves', schedule => '@manual', username => 'dave', overlap => 'parallel',
	command => 'SELECT pg_sleep(300)');
my @daves = map { $q->(q{SELECT uso_run_now('daves')}) } 1 .. 3;
uso_wait_for($node, q{SELECT count(*) = 3 FROM uso_task_runs WHERE task = 'daves' AND status = 'running'},
	"dave's three runs start: carol's runs in app2 and her waiting ones leave this database its share");

$q->("SELECT uso_cancel($_)") for @remote, @daves;
$q->("SELECT uso_cancel($_)", 'app2') for @local;
uso_wait_for($node, q{SELECT count(*) = 0 FROM uso_task_run WHERE finished_at IS NULL}, 'nothing left open');
uso_wait_for($node, q{SELECT count(*) = 0 FROM uso_task_run WHERE finished_at IS NULL}, 'nothing left open in app2',
	'app2');
$node->stop;
done_testing();
