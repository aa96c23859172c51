# Nobody stops another database's scheduler: DROP DATABASE stops a
# database's scheduler and workers only when the drop is going to proceed,
# a drop that fails after the stop brings the scheduler back at once, and
# the launcher never restarts a scheduler in a loop (a database closed to
# connections gets none, said once in the log) and never gives up on one
# that should run.
use strict;
use warnings;
use lib 't/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use UsoNode;

my $node = uso_node('dropdb', 'uso_tasks.enabled = off', 'max_prepared_transactions = 2');
my $q = sub { $node->safe_psql('postgres', shift) };
my $x = sub { $node->safe_psql('dbx', shift) };

$q->(q{CREATE ROLE mallory LOGIN; CREATE DATABASE dbx});
$x->(q{CREATE EXTENSION uso_tasks; CREATE TABLE go (); CREATE TABLE marks (n int)});
# A run that waits until table go has a row.
uso_task($node, _db => 'dbx', name => 'w', schedule => '@manual', command =>
	q{DO $$ BEGIN WHILE NOT EXISTS (SELECT FROM go) LOOP PERFORM pg_sleep(0.02); END LOOP; END $$});
uso_task($node, _db => 'dbx', name => 'quick', schedule => '@manual', command => 'SELECT 1');

my $sched_q = q{SELECT pid FROM pg_stat_activity
	WHERE backend_type = 'uso_tasks scheduler' AND datname = 'dbx'};
uso_wait_for($node, "SELECT count(*) = 1 FROM ($sched_q) s", 'dbx has a scheduler');
my $sched = $q->($sched_q);

sub start_waiting_run
{
	my $run = $x->(q{SELECT uso_run_now('w')});
	uso_wait_for($node, "SELECT status = 'running' FROM uso_task_run WHERE id = $run",
		"run $run is running", 'dbx');
	return $run;
}

# --- an unprivileged role's failing DROP DATABASE stops nothing
my $run = start_waiting_run();
for my $db ('dbx', 'postgres')
{
	my ($ret, $out, $err) = $node->psql('postgres', "DROP DATABASE $db",
		extra_params => [ '-U', 'mallory' ]);
	like($err, qr/must be owner of database $db/, "mallory's DROP DATABASE $db fails");
}
is($q->($sched_q), $sched, 'the scheduler of dbx kept running (same pid)');
is($q->(q{SELECT count(*) FROM pg_stat_activity
	WHERE backend_type = 'uso_tasks scheduler' AND datname = 'postgres'}), '1',
	'so did the scheduler of postgres');
# Nor does the owner's DROP DATABASE inside a transaction block.
my (undef, undef, $txerr) = $node->psql('postgres', "BEGIN; DROP DATABASE dbx; ROLLBACK");
like($txerr, qr/DROP DATABASE cannot run inside a transaction block/,
	"the owner's DROP DATABASE in a transaction block fails");
is($q->($sched_q), $sched, 'the scheduler of dbx kept running (same pid)');
$x->(q{INSERT INTO go DEFAULT VALUES});
is($x->("SELECT uso_wait($run, '30 seconds')"), 'succeeded', 'the run started before it succeeds');
$x->(q{DELETE FROM go});

# --- the owner's DROP DATABASE fails because another session is connected
my $bg = $node->background_psql('dbx');
$bg->query_safe('SELECT 1');
$run = start_waiting_run();
my ($ret, $out, $err) = $node->psql('postgres', 'DROP DATABASE dbx');
like($err, qr/database "dbx" is being accessed by other users/, 'DROP DATABASE fails: a session is connected');
uso_wait_for($node, "SELECT count(*) = 1 FROM ($sched_q) s", 'dbx has its scheduler');
is($q->($sched_q), $sched, 'it never left: the drop could not proceed');
is($x->("SELECT status FROM uso_task_run WHERE id = $run"), 'running', 'the run in progress kept running');
$x->(q{INSERT INTO go DEFAULT VALUES});
is($x->("SELECT uso_wait($run, '30 seconds')"), 'succeeded', 'and succeeds');
$x->(q{DELETE FROM go});
my $quick = $x->(q{SELECT uso_run_now('quick')});
is($x->("SELECT uso_wait($quick, '30 seconds')"), 'succeeded', 'runs resume');
$bg->quit;

# --- a drop that fails after the stop (a prepared transaction): the
# scheduler is back at once, closes the run its stop interrupted, and runs
# the manual run that was still queued
$x->(q{BEGIN; INSERT INTO marks VALUES (1); PREPARE TRANSACTION 'px'});
my $interrupted = start_waiting_run();
my $queued = $x->(q{SELECT uso_run_now('w')});    # waits for the running one (overlap skip)
is($x->("SELECT status FROM uso_task_run WHERE id = $queued"), 'queued', 'a second run waits, queued');
($ret, $out, $err) = $node->psql('postgres', 'DROP DATABASE dbx');
like($err, qr/database "dbx" is being accessed by other users.*\n.*prepared transaction/,
	'DROP DATABASE fails after the stop: a prepared transaction uses the database');
# A scheduler stopped for a drop is not restarted unless asked (its exit says
# "unwanted"): that a new one comes is the failed drop's start request.
my $t0 = time;
uso_wait_for($node, "SELECT count(*) = 1 FROM ($sched_q) s WHERE pid <> $sched",
	'a new scheduler runs dbx');
note(sprintf('back %.2f s after the failure', time - $t0));
uso_wait_for($node, "SELECT status = 'failed' FROM uso_task_run WHERE id = $interrupted",
	'the run whose worker the stop terminated is closed as failed', 'dbx');
like($x->("SELECT return_message FROM uso_task_run WHERE id = $interrupted"),
	qr/^interrupted: .*scheduler stopped while this run was in progress.*DROP DATABASE/,
	'with a message that says why');
uso_wait_for($node, "SELECT status = 'running' FROM uso_task_run WHERE id = $queued",
	'the queued manual run still runs', 'dbx');
$x->(q{INSERT INTO go DEFAULT VALUES});
is($x->("SELECT uso_wait($queued, '30 seconds')"), 'succeeded', 'and succeeds');
$x->(q{COMMIT PREPARED 'px'});

# --- the owner's DROP DATABASE that proceeds stops everything and leaves no scheduler behind
$q->(q{DROP DATABASE dbx});
is($q->(q{SELECT count(*) FROM pg_stat_activity WHERE datname = 'dbx'}), '0', 'dbx is gone');

# --- databases closed to connections: no scheduler, no restart loop.
# noconn is created closed; dbz has the extension and its scheduler, then
# is closed and its scheduler terminated.
my $offset = -s $node->logfile;
$q->(q{CREATE DATABASE noconn ALLOW_CONNECTIONS false; CREATE DATABASE dbz});
$node->safe_psql('dbz', 'CREATE EXTENSION uso_tasks');
my $dbz_q = q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'uso_tasks scheduler' AND datname = 'dbz'};
uso_wait_for($node, "SELECT count(*) = 1 FROM ($dbz_q) s", 'dbz has a scheduler');
my $dbz_sched = $q->($dbz_q);
$q->(q{ALTER DATABASE dbz ALLOW_CONNECTIONS false});
is($q->($dbz_q), $dbz_sched, 'closing dbz to new connections leaves its scheduler running');
$q->("SELECT pg_terminate_backend($dbz_sched)");
my %said;
for my $db ('noconn', 'dbz')
{
	$said{$db} = qr/uso_tasks starts no scheduler for database "$db": it does not allow connections/;
	$node->wait_for_log($said{$db}, $offset);
	ok(1, "the launcher says once why $db gets no scheduler");
}
# Longer than the old restart period (1 s) several times over: a run in
# another database that takes 3 s.
uso_task($node, name => 'three', schedule => '@manual', command => 'SELECT pg_sleep(3)');
$run = $q->(q{SELECT uso_run_now('three')});
is($q->("SELECT uso_wait($run)"), 'succeeded', 'a run elsewhere completes meanwhile');
my $log = slurp_file($node->logfile, $offset);
for my $db ('noconn', 'dbz')
{
	my @said = $log =~ /$said{$db}/g;
	is(scalar @said, 1, "the message about $db was logged once");
	unlike($log, qr/database "$db" is not currently accepting connections/,
		"no scheduler tried to connect to $db");
}
$q->(q{ALTER DATABASE dbz ALLOW_CONNECTIONS true});
uso_wait_for($node, "SELECT count(*) = 1 FROM ($dbz_q) s", 'dbz open again: its scheduler is back');

# --- a terminated launcher: the new one adopts the running schedulers, and
# a scheduler that dies after that still comes back
my $launcher_q = q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'uso_tasks launcher'};
my $launcher = $q->($launcher_q);
my $pg_q = q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'uso_tasks scheduler' AND datname = 'postgres'};
my $pg_sched = $q->($pg_q);
$q->("SELECT pg_terminate_backend($launcher)");
uso_wait_for($node, "SELECT count(*) = 1 FROM ($launcher_q) s WHERE pid <> $launcher", 'the launcher is back');
is($q->($pg_q), $pg_sched, 'the scheduler of postgres kept running, alone');
$q->("SELECT pg_terminate_backend($pg_sched)");
uso_wait_for($node, "SELECT count(*) = 1 FROM ($pg_q) s WHERE pid <> $pg_sched",
	'a scheduler terminated under the new launcher comes back');
uso_task($node, name => 'quick', schedule => '@manual', command => 'SELECT 1');
$run = $q->(q{SELECT uso_run_now('quick')});
is($q->("SELECT uso_wait($run)"), 'succeeded', 'and runs');
is($q->(q{SELECT count(*) FROM uso_task_run WHERE finished_at IS NULL}), '0', 'no run left open in postgres');

$node->stop;
done_testing();
