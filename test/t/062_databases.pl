# Runs belong to a database: run ids are per-database sequences, so the same
# id names different runs in two databases.  Nothing keyed by run id may
# reach across: uso_cancel() and uso_live_progress() of database B never
# touch A's run, and within A a role sees and cancels only what row-level
# security lets it see.
use strict;
use warnings;
use lib 't/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use UsoNode;

# Scheduled runs paused: only the runs this test starts take run ids.
my $node = uso_node('databases', 'uso_tasks.enabled = off');
my $a = sub { $node->safe_psql('postgres', shift) };
my $b = sub { $node->safe_psql('dbb', shift) };

# psql as role mallory; returns (stdout, stderr) with SQLSTATEs in errors.
sub as_mallory
{
	my ($db, $sql) = @_;
	my ($out, $err) = ('', '');
	$node->psql($db, "\\set VERBOSITY verbose\n$sql", stdout => \$out, stderr => \$err,
		extra_params => [ '-U', 'mallory' ]);
	return ($out, $err);
}

$a->(q{CREATE ROLE mallory LOGIN; CREATE DATABASE dbb});
$b->(q{CREATE EXTENSION uso_tasks});
# A run waits, reporting progress 1 of 2, until its database's table go has a row.
my $waiter = q{DO $$ BEGIN PERFORM uso_progress(1, 2);
	WHILE NOT EXISTS (SELECT FROM go) LOOP PERFORM pg_sleep(0.02); END LOOP; END $$};
for my $db ('postgres', 'dbb')
{
	$node->safe_psql($db, q{CREATE TABLE go (); GRANT SELECT ON go TO PUBLIC});
}
uso_task($node, name => 'a_wait', schedule => '@manual', overlap => 'parallel', command => $waiter);
uso_task($node, _db => 'dbb', name => 'b_quick', schedule => '@manual', command => 'SELECT 1');
uso_task($node, _db => 'dbb', name => 'm_wait', schedule => '@manual', username => 'mallory',
	command => q{DO $$ BEGIN
	WHILE NOT EXISTS (SELECT FROM go) LOOP PERFORM pg_sleep(0.02); END LOOP; END $$});

# In B: r1, a finished superuser run; r2, mallory's own run, running.
my $r1 = $b->(q{SELECT uso_run_now('b_quick')});
is($b->("SELECT uso_wait($r1)"), 'succeeded', "B's run $r1 ran");
my $r2 = $b->(q{SELECT uso_run_now('m_wait')});
uso_wait_for($node, "SELECT status = 'running' FROM uso_task_run WHERE id = $r2",
	"mallory's run $r2 in B is running", 'dbb');

# In A: the superuser's runs with the same ids, running and reporting progress.
my $seq = q{pg_get_serial_sequence('uso_task_run', 'id')};
$a->("SELECT setval($seq, $r1, false)");
is($a->(q{SELECT uso_run_now('a_wait')}), $r1, "A has a run $r1 too");
$a->("SELECT setval($seq, $r2, false)");
is($a->(q{SELECT uso_run_now('a_wait')}), $r2, "A has a run $r2 too");
uso_wait_for($node, "SELECT uso_live_progress($r1) = 0.5 AND uso_live_progress($r2) = 0.5",
	"A's runs report progress in A");

# --- from B
my ($out, $err) = as_mallory('dbb', "SELECT uso_live_progress($r1) IS NULL");
is($out, 't', "from B, mallory does not see the progress of A's run $r1");
is($b->("SELECT uso_live_progress($r1) IS NULL"), 't',
	"from B, not even a superuser sees A's progress through B's run id");
($out, $err) = as_mallory('dbb', "SELECT uso_live_progress($r2) IS NULL");
is($out, 't', "mallory's own run in B reports no progress (A's run $r2 is not hers)");
($out, $err) = as_mallory('dbb', "SELECT uso_cancel($r1)");
like($err, qr/ERROR:  42704: run $r1 does not exist/, "from B, mallory's uso_cancel($r1) says 42704");
($out, $err) = as_mallory('dbb', "SELECT uso_cancel($r2)");
is($out, 't', "mallory cancels her own run $r2 in B");
is($b->("SELECT uso_wait($r2)"), 'cancelled', "B's run $r2 ends cancelled");

# --- within A, another role
($out, $err) = as_mallory('postgres', "SELECT uso_cancel($r1)");
like($err, qr/ERROR:  42704: run $r1 does not exist/, "in A, mallory's uso_cancel($r1) says 42704");
($out, $err) = as_mallory('postgres', "SELECT uso_live_progress($r1) IS NULL, count(*) FROM uso_task_runs");
is($out, 't|0', "in A, mallory sees neither the run nor its progress");
is($a->("SELECT status FROM uso_task_run WHERE id IN ($r1, $r2) ORDER BY id"), "running\nrunning",
	"A's runs are still running");
is($a->("SELECT count(*) FROM uso_task_runs WHERE id IN ($r1, $r2) AND progress = 0.5"), '2',
	"the views show A's live progress to A's superuser");

# A's runs were never asked to stop: they end succeeded.
$a->(q{INSERT INTO go DEFAULT VALUES});
is($a->("SELECT uso_wait($r1)"), 'succeeded', "A's run $r1 succeeds");
is($a->("SELECT uso_wait($r2)"), 'succeeded', "A's run $r2 succeeds (B's cancel did not reach it)");

$node->stop;
done_testing();
