# Migration from the real pg_cron (Debian's postgresql-15-cron) in the same
# cluster: jobs created with pg_cron, CREATE EXTENSION uso_tasks leaves schema
# cron alone (NOTICE), uso_import_pg_cron() copies jobs and history, pg_cron
# is dropped, uso_install_cron_compat() installs the layer, and cron.job shows
# the same jobids and names.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('cronmig');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_cron,uso_tasks'
cron.database_name = 'postgres'
timezone = 'Europe/Berlin'
});
$node->start;

sub sql { return $node->safe_psql('postgres', $_[0]); }

# (A Berlin server: pg_cron still runs its schedules in GMT, cron.timezone's
# default, and so must the imported jobs.)
# -- jobs created with pg_cron, by two roles
sql(q{
CREATE EXTENSION pg_cron;
CREATE ROLE alice LOGIN;
GRANT USAGE ON SCHEMA cron TO alice;
CREATE DATABASE other;
});
my $named = sql("SELECT cron.schedule('nightly-vacuum', '0 3 * * *', 'VACUUM')");
my $unnamed = sql("SELECT cron.schedule('15 2 1 * *', 'SELECT 2')");
my $paused = sql("SELECT cron.schedule('paused', '0 4 * * *', 'SELECT 3')");
sql("SELECT cron.alter_job($paused, active := false)");
my $indb = sql("SELECT cron.schedule_in_database('elsewhere', '30 1 * * *', 'SELECT 4', 'other')");
my $alice = $node->safe_psql('postgres',
	"SELECT cron.schedule('alice-job', '0 5 * * *', 'SELECT 5')",
	extra_params => [ '-U', 'alice' ]);
# pg_cron takes trailing garbage; uso_tasks will not
my $garbage = sql("SELECT cron.schedule('garbage', '0 6 * * * rubbish', 'SELECT 6')");
# jobs pg_cron ran on other nodes (its libpq mode): another host, and another
# cluster on this host (localhost, another port); they must not run here
my $remote = sql(q{INSERT INTO cron.job (schedule, command, nodename, nodeport, database, username, jobname)
                   VALUES ('0 7 1 1 *', 'SELECT 7', 'db2.example.org', 5432, 'postgres', 'postgres', 'on-db2')
                   RETURNING jobid});
my $otherport = sql(sprintf(q{INSERT INTO cron.job (schedule, command, nodename, nodeport, database, username,
                                                    jobname)
                              VALUES ('0 8 1 1 *', 'SELECT 8', 'localhost', %d, 'postgres', 'postgres',
                                      'other-cluster')
                              RETURNING jobid}, $node->port + 1));
# history, as pg_cron's worker writes it
sql(qq{
INSERT INTO cron.job_run_details (jobid, runid, job_pid, database, username, command, status,
                                  return_message, start_time, end_time)
VALUES ($named, 100101, 4242, 'postgres', 'postgres', 'VACUUM', 'succeeded', 'VACUUM',
        '2026-01-01 03:00+00', '2026-01-01 03:00:02+00'),
       ($named, 100102, 4243, 'postgres', 'postgres', 'VACUUM', 'failed', 'ERROR:  boom',
        '2026-01-02 03:00+00', '2026-01-02 03:00:01+00'),
       ($alice, 100103, 4244, 'postgres', 'alice', 'SELECT 5', 'running', NULL,
        '2026-01-03 05:00+00', NULL);
SELECT setval('cron.runid_seq', 100103);
});
my @jobs = ($named, $unnamed, $paused, $indb, $alice);
ok(scalar(grep { /^\d+$/ } @jobs) == 5, 'pg_cron accepted the jobs');
my $jobs = join(',', @jobs);

# -- CREATE EXTENSION uso_tasks next to pg_cron
my ($ret, $out, $err) = $node->psql('postgres', 'CREATE EXTENSION uso_tasks; CREATE EXTENSION uso_office');
is($ret, 0, 'CREATE EXTENSION uso_tasks (and uso_office) works while pg_cron is installed');
like($err, qr/WARNING:  schema "cron" already exists .*compatibility layer of uso_tasks was not installed/,
	'a warning says the cron layer was skipped');
like($err, qr/uso_import_pg_cron\(\).*DROP EXTENSION pg_cron.*uso_install_cron_compat\(\)/s,
	'the warning says how to move over');
is(sql(q{SELECT count(*) FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
      WHERE e.extname = 'uso_tasks' AND d.deptype = 'e'
        AND d.classid = 'pg_proc'::regclass
        AND d.objid IN (SELECT oid FROM pg_proc WHERE pronamespace = 'cron'::regnamespace)}),
	'0', 'schema cron is left to pg_cron');
($ret, $out, $err) = $node->psql('postgres', 'SELECT uso_install_cron_compat()');
like($err, qr/pg_cron is installed in this database/, 'the layer refuses to install over pg_cron');

# -- import
my ($iret, $report, $iwarn) = $node->psql('postgres', 'SELECT uso_import_pg_cron(with_history => true)');
is($iret, 0, 'uso_import_pg_cron() succeeds with jobs of other nodes among them');
like($iwarn, qr/WARNING:  pg_cron job $remote \("on-db2"\) ran on node db2.example.org:5432, not on this server: imported disabled/,
	'a WARNING names the job on another host and its node');
like($iwarn, qr/WARNING:  pg_cron job $otherport \("other-cluster"\) ran on node localhost:\d+, not on this server/,
	'localhost on another port is another node too');
like($iwarn, qr/HINT:  Schedule it on db2.example.org with uso_tasks or pg_cron there, or, if that node is this server, SELECT public.uso_enable\('on-db2'\)/,
	'the hint says how to move it');
is(sql(qq{SELECT string_agg(format('%s|%s|%s', id, enabled, description), E'\\n' ORDER BY id)
          FROM uso_task WHERE id IN ($remote, $otherport)}),
	"$remote|f|imported from pg_cron, disabled: it ran on node db2.example.org:5432\n"
	. "$otherport|f|imported from pg_cron, disabled: it ran on node localhost:" . ($node->port + 1),
	'jobs of other nodes are imported disabled, saying where they ran');
like($report, qr/^job $remote \("on-db2"\) imported disabled: it ran on node db2.example.org:5432, not on this server$/m,
	'the report lists them');
note($report);
like($report, qr/^imported 7 pg_cron jobs \(jobids \Q$named, $unnamed, $paused, $indb, $alice, $remote, $otherport\E\), 2 of them disabled \(they ran on another node\), skipped 1$/m,
	'report: 7 imported (2 disabled), 1 skipped');
like($report, qr/job $garbage skipped: invalid schedule/, 'report names the job with a bad schedule');
like($report, qr/imported 3 runs from cron.job_run_details/, 'report counts the history');
# The USO task pack registered its tasks at CREATE EXTENSION uso_office under negative
# ids, so none stands in the way of pg_cron's jobids.
unlike($report, qr/moved from id/, 'no task had to move out of the way of a jobid');
is(sql(q{SELECT count(*) FROM uso_task WHERE builtin AND id > 0}), '0', 'built-in tasks hold negative ids');
is(sql(q{SELECT count(*) FROM uso_task WHERE name IN ('CreateCycles', 'AdvanceReviewWorkflow', 'SyncUsers')}),
	'3', 'the moved tasks still exist under their names');
like($report, qr/deactivated 4 imported jobs in pg_cron/, 'report says pg_cron no longer runs them');
# A job in the database the tasks are stored in keeps it as NULL, "this
# database" (so a restored copy runs it at home).
is(sql(qq{SELECT string_agg(format('%s|%s|%s|%s|%s|%s', id, name, cron_unnamed, username,
                                   coalesce(database, '(this)'), enabled),
                         E'\\n' ORDER BY id) FROM uso_task WHERE id IN ($jobs)}),
	join("\n",
		"$named|nightly-vacuum|f|postgres|(this)|t",
		"$unnamed|cron_job_$unnamed|t|postgres|(this)|t",
		"$paused|paused|f|postgres|(this)|f",
		"$indb|elsewhere|f|postgres|other|t",
		"$alice|alice-job|f|alice|(this)|t"),
	'tasks keep jobid, name, owner, database and active flag');
is(sql(qq{SELECT string_agg(format('%s|%s|%s', id, timezone, to_char(next_run_at AT TIME ZONE 'GMT', 'HH24:MI')),
                         E'\\n' ORDER BY id) FROM uso_task WHERE id IN ($named, $alice)}),
	"$named|GMT|03:00\n$alice|GMT|05:00",
	'imported jobs keep pg_cron\'s time: cron.timezone (GMT), not the server\'s Berlin time');
is(sql("SELECT string_agg(jobid::text, ',' ORDER BY jobid) FROM cron.job WHERE active"), "$garbage,$remote,$otherport",
	'imported jobs are deactivated in pg_cron; the skipped one and those of other nodes keep running there');
like($report, qr/then restore pg_cron's grants: GRANT USAGE ON SCHEMA cron TO alice;/,
	'report gives the grants to restore');
is(sql(qq{SELECT string_agg(format('%s|%s|%s|%s', id, task_id, status, finished_at IS NOT NULL), ',' ORDER BY id)
      FROM uso_task_run WHERE task_id IN ($jobs) AND id > 100000}),
	"100101|$named|succeeded|t,100102|$named|failed|t,100103|$alice|failed|t",
	'history imported with its run ids; a run in flight is closed');
like(sql('SELECT return_message FROM uso_task_run WHERE id = 100103'), qr/still running in pg_cron/,
	'the closed run says why');
like(sql('SELECT uso_import_pg_cron()'), qr/^imported 0 pg_cron jobs, 7 already imported, skipped 1$/m,
	'a second import changes nothing');

# -- drop pg_cron, install the layer
sql('DROP EXTENSION pg_cron');
($ret, $out, $err) = $node->psql('postgres', 'SELECT uso_install_cron_compat()');
is($ret, 0, 'uso_install_cron_compat() works once pg_cron is dropped');
like($err, qr/pg_cron compatibility layer installed in schema cron/, 'it says so');
is(sql(qq{SELECT string_agg(format('%s|%s|%s|%s|%s', jobid, coalesce(jobname, '<null>'), username, database, active),
                         E'\\n' ORDER BY jobid) FROM cron.job WHERE jobid IN ($jobs)}),
	join("\n",
		"$named|nightly-vacuum|postgres|postgres|t",
		"$unnamed|<null>|postgres|postgres|t",
		"$paused|paused|postgres|postgres|f",
		"$indb|elsewhere|postgres|other|t",
		"$alice|alice-job|alice|postgres|t"),
	'cron.job shows the same jobids, names, owners, databases and flags');
sql('GRANT USAGE ON SCHEMA cron TO alice');
is(sql("SELECT count(*) FROM cron.job_run_details WHERE jobid IN ($jobs) AND runid > 100000"), '3', 'cron.job_run_details shows the history');
is($node->safe_psql('postgres', 'SELECT jobname FROM cron.job', extra_params => [ '-U', 'alice' ]),
	'alice-job', 'alice sees only her job');
my $new = sql("SELECT cron.schedule('after-migration', '0 7 * * *', 'SELECT 7')");
cmp_ok($new, '>', $alice, 'new jobids continue after the imported ones');
is(sql('SELECT cron.unschedule(\'nightly-vacuum\')'), 't', 'an imported job is unscheduled by name');
is(sql(q{SELECT count(*) FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
      WHERE e.extname = 'uso_tasks' AND d.deptype = 'e' AND d.classid = 'pg_namespace'::regclass
        AND d.objid = 'cron'::regnamespace}), '1', 'schema cron now belongs to uso_tasks');

# -- the imported jobs run under uso_tasks (needs the runtime)
SKIP:
{
	skip 'runtime (uso_run_now) not available yet', 2
	  unless sql("SELECT count(*) FROM pg_proc WHERE proname = 'uso_run_now'") eq '1';
	sql(q{CREATE TABLE ran (jobid bigint, at timestamptz DEFAULT now());
	    GRANT INSERT ON ran TO alice;});
	sql("SELECT cron.alter_job($alice, command := 'INSERT INTO ran VALUES ($alice)')");
	my $run = sql("SELECT uso_run_now('alice-job')");
	$node->poll_query_until('postgres',
		"SELECT status = 'succeeded' FROM cron.job_run_details WHERE runid = $run")
	  or diag(sql("SELECT * FROM cron.job_run_details WHERE runid = $run"));
	is(sql("SELECT status || ' ' || return_message FROM cron.job_run_details WHERE runid = $run"),
		'succeeded INSERT 0 1', 'imported job ran under uso_tasks, recorded in cron.job_run_details');
	is(sql("SELECT count(*) FROM ran WHERE jobid = $alice"), '1', 'its command did its work');
}

# DROP EXTENSION uso_tasks CASCADE takes the layer (and uso_office) with it.
sql('DROP EXTENSION uso_tasks CASCADE');
is(sql("SELECT count(*) FROM pg_namespace WHERE nspname = 'cron'"), '0', 'DROP EXTENSION removes schema cron');

$node->stop;
done_testing();
