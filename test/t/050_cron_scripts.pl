# pg_cron-style scripts work unchanged on uso_tasks: schedule jobs with
# cron.schedule / cron.schedule_in_database, wait for runs by polling
# cron.job_run_details, read them (status words, command tags, errors), as a
# second role too, then clean up as pg_cron's README does.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('cronscripts');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'uso_tasks'");
$node->start;

sub sql { return $node->safe_psql('postgres', $_[0]); }
sub as_bob { return $node->safe_psql('postgres', $_[0], extra_params => [ '-U', 'bob' ]); }

sql(q{
CREATE EXTENSION uso_tasks;
CREATE TABLE ticks (at timestamptz DEFAULT now());
CREATE ROLE bob LOGIN;
GRANT USAGE ON SCHEMA cron TO bob;
CREATE TABLE bob_ticks (at timestamptz DEFAULT now());
ALTER TABLE bob_ticks OWNER TO bob;
CREATE DATABASE other;
});
$node->safe_psql('other', 'CREATE TABLE other_ticks (at timestamptz DEFAULT now())');
# tasks the extension brings along (the USO task pack) are jobs too
my $preexisting = sql('SELECT count(*) FROM cron.job');

# Waits until the job has at least $n finished runs (pg_cron's status words),
# polling as pg_cron users do; a failing job ends the wait as quickly.
sub wait_runs
{
	my ($jobid, $n) = @_;
	my $q = "SELECT count(*) >= $n FROM cron.job_run_details "
	  . "WHERE jobid = $jobid AND status IN ('succeeded', 'failed')";
	my $ok = $node->poll_query_until('postgres', $q);
	diag(sql("SELECT * FROM cron.job_run_details WHERE jobid = $jobid")) unless $ok;
	return $ok;
}

# Status of a job's finished runs, e.g. 'succeeded' when all of them succeeded.
sub statuses
{
	my ($jobid, $who) = @_;
	my $q = "SELECT string_agg(DISTINCT status, ',') FROM cron.job_run_details "
	  . "WHERE jobid = $jobid AND status IN ('succeeded', 'failed')";
	return $who ? as_bob($q) : sql($q);
}

# -- a named job every second
my $tick = sql(q{SELECT cron.schedule('tick', '1 seconds', 'INSERT INTO ticks DEFAULT VALUES')});
like($tick, qr/^\d+$/, 'cron.schedule returns a jobid');
ok(wait_runs($tick, 3), 'three runs finished');
is(statuses($tick), 'succeeded', 'they succeeded');
is(sql(qq{SELECT count(*) FROM cron.job_run_details
          WHERE jobid = $tick AND status = 'succeeded'
            AND (return_message <> 'INSERT 0 1' OR start_time IS NULL OR end_time < start_time
                 OR job_pid IS NULL OR database <> 'postgres' OR username <> 'postgres'
                 OR command <> 'INSERT INTO ticks DEFAULT VALUES')}),
	'0', 'each run has the command tag, times, pid, database, role and command');
cmp_ok(sql('SELECT count(*) FROM ticks'), '>=', 3, 'the command did its work');
is(sql(qq{SELECT count(DISTINCT runid) = count(*) FROM cron.job_run_details WHERE jobid = $tick}),
	't', 'run ids are unique');

# -- a failing job
my $boom = sql(q{SELECT cron.schedule('boom', '1 seconds', 'SELECT 1/0')});
ok(wait_runs($boom, 1), 'a failing job runs');
is(statuses($boom), 'failed', 'its runs are failed');
like(sql(qq{SELECT return_message FROM cron.job_run_details WHERE jobid = $boom AND status = 'failed' LIMIT 1}),
	qr/division by zero/, 'return_message is the error');
is(sql(qq{SELECT count(*) FROM cron.job_run_details WHERE jobid = $boom
          AND status NOT IN ('starting', 'running', 'succeeded', 'failed')}),
	'0', 'only pg_cron status words appear');

# -- an unnamed job, visible in uso_background_tasks under its generated name
my $anon = sql(q{SELECT cron.schedule('1 seconds', 'SELECT 42')});
ok(wait_runs($anon, 1), 'an unnamed job runs');
is(statuses($anon), 'succeeded', 'and succeeds');
is(sql("SELECT coalesce(jobname, '<null>') FROM cron.job WHERE jobid = $anon"), '<null>',
	'cron.job shows it without a name');
is(sql("SELECT count(*) FROM uso_background_tasks WHERE name = 'cron_job_$anon'"), '1',
	'uso_background_tasks lists it as cron_job_<jobid>');

# -- another database
my $other = sql(q{SELECT cron.schedule_in_database('elsewhere', '1 seconds',
                  'INSERT INTO other_ticks DEFAULT VALUES', 'other')});
ok(wait_runs($other, 1), 'a job in another database runs');
is(sql("SELECT database FROM cron.job_run_details WHERE jobid = $other LIMIT 1"), 'other',
	'its runs name that database');
is(statuses($other), 'succeeded', 'and succeeds');
cmp_ok($node->safe_psql('other', 'SELECT count(*) FROM other_ticks'), '>=', 1,
	'the command ran in that database');

# -- a second role schedules its own job and sees only its own runs
my $bob = as_bob(q{SELECT cron.schedule('bob-job', '1 seconds', 'INSERT INTO bob_ticks DEFAULT VALUES')});
ok(wait_runs($bob, 1), "bob's job runs");
is(statuses($bob, 'bob'), 'succeeded', 'and succeeds');
is(as_bob('SELECT string_agg(DISTINCT jobid::text, \',\') FROM cron.job_run_details'), $bob,
	'bob sees only his runs');
is(as_bob('SELECT string_agg(jobname, \',\') FROM cron.job'), 'bob-job', 'and only his jobs');
is(as_bob(q{SELECT DISTINCT username FROM cron.job_run_details}), 'bob', 'they ran as bob');

# -- pause, change, clean up as the README does
sql("SELECT cron.alter_job($tick, active := false)");
is(sql("SELECT active FROM cron.job WHERE jobid = $tick"), 'f', 'alter_job deactivates');
sql("SELECT cron.alter_job($boom, command := 'SELECT 2')");
my $since = sql('SELECT max(runid) FROM cron.job_run_details');
ok($node->poll_query_until('postgres',
	"SELECT count(*) > 0 FROM cron.job_run_details WHERE jobid = $boom AND runid > $since AND status = 'succeeded'"),
	'after alter_job the job runs the new command');
my $deleted = as_bob(q{DELETE FROM cron.job_run_details WHERE end_time < now() RETURNING 1});
ok(length($deleted) > 0, 'bob deletes his finished runs');
cmp_ok(sql("SELECT count(*) FROM cron.job_run_details WHERE jobid = $tick"), '>=', 3,
	"and only his: the superuser's runs are still there");
for my $name ('tick', 'boom', 'elsewhere')
{
	is(sql("SELECT cron.unschedule('$name')"), 't', "unschedule '$name'");
}
is(sql("SELECT cron.unschedule($anon)"), 't', 'unschedule by jobid');
is(as_bob(q{SELECT cron.unschedule('bob-job')}), 't', 'bob unschedules his job');
is(sql('SELECT count(*) FROM cron.job'), $preexisting, 'no jobs of the script left');
ok(!grep({ /TRAP:|PANIC|terminated by signal/ } slurp_file($node->logfile)), 'no crash in the server log');

$node->stop;
done_testing();
