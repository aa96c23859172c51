-- pg_cron compatibility layer: the catalog's shape, every function form (also
-- in named notation), pg_cron's errors for NULLs, bad schedules, missing jobs,
-- and its permission rules and row-level security with a second role.
\set VERBOSITY terse
\set SHOW_CONTEXT never
SET client_min_messages = warning;

-- Error of a statement with run-dependent numbers (jobids) masked.
CREATE FUNCTION pg_temp.err(stmt text) RETURNS text LANGUAGE plpgsql AS
$$ BEGIN EXECUTE stmt; RETURN 'no error';
   EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, '[0-9]+', 'N', 'g'); END $$;
-- Jobs that exist before the test (the USO task pack's) are left alone.
CREATE TEMP TABLE preexisting_jobs AS SELECT jobid FROM cron.job;

------------------------------------------------------------------------------
-- pg_cron 1.6's columns, names, types and order, exactly
SELECT table_name, ordinal_position, column_name, data_type
FROM information_schema.columns WHERE table_schema = 'cron'
ORDER BY table_name, ordinal_position;
SELECT c.table_name, c.column_name, c.data_type
FROM information_schema.columns c WHERE c.table_schema = 'cron'
EXCEPT
SELECT * FROM (VALUES
    ('job', 'jobid', 'bigint'), ('job', 'schedule', 'text'), ('job', 'command', 'text'),
    ('job', 'nodename', 'text'), ('job', 'nodeport', 'integer'), ('job', 'database', 'text'),
    ('job', 'username', 'text'), ('job', 'active', 'boolean'), ('job', 'jobname', 'text'),
    ('job_run_details', 'jobid', 'bigint'), ('job_run_details', 'runid', 'bigint'),
    ('job_run_details', 'job_pid', 'integer'), ('job_run_details', 'database', 'text'),
    ('job_run_details', 'username', 'text'), ('job_run_details', 'command', 'text'),
    ('job_run_details', 'status', 'text'), ('job_run_details', 'return_message', 'text'),
    ('job_run_details', 'start_time', 'timestamp with time zone'),
    ('job_run_details', 'end_time', 'timestamp with time zone')) AS pg_cron(t, c, d);
-- the functions, with pg_cron's argument names and defaults
SELECT p.proname, pg_get_function_arguments(p.oid) AS arguments,
       pg_get_function_result(p.oid) AS result, p.proisstrict AS strict
FROM pg_proc p WHERE p.pronamespace = 'cron'::regnamespace
ORDER BY p.proname, pg_get_function_arguments(p.oid);
-- grants: pg_cron's (alter_job and schedule_in_database are for roles an admin grants)
SELECT p.oid::regprocedure AS function, has_function_privilege('public', p.oid, 'EXECUTE') AS public_execute
FROM pg_proc p WHERE p.pronamespace = 'cron'::regnamespace ORDER BY p.oid::regprocedure::text COLLATE "C";
SELECT c.relname, array_agg(a.privilege_type ORDER BY a.privilege_type) AS public_privileges
FROM pg_class c, aclexplode(c.relacl) a
WHERE c.relnamespace = 'cron'::regnamespace AND a.grantee = 0
GROUP BY c.relname ORDER BY 1;

------------------------------------------------------------------------------
-- cron.schedule(schedule, command): an unnamed job
SELECT cron.schedule('*/5 * * * *', 'SELECT 1') AS unnamed_id \gset
SELECT jobname IS NULL AS no_jobname, schedule, command, nodename, nodeport > 0 AS has_port,
       database = current_database() AS this_db, username, active
FROM cron.job WHERE jobid = :unnamed_id;
-- it is an ordinary task, under a generated name
SELECT name = 'cron_job_' || :unnamed_id AS generated_name, enabled, next_run_at IS NOT NULL AS has_next
FROM uso_task WHERE id = :unnamed_id;
-- two unnamed jobs are two jobs
SELECT cron.schedule('*/5 * * * *', 'SELECT 1') <> :unnamed_id AS new_job;
-- named notation
SELECT cron.schedule(schedule => '0 * * * *', command => 'SELECT 2') > :unnamed_id AS named_notation;

-- cron.schedule(job_name, schedule, command): upsert by name
SELECT cron.schedule('nightly-vacuum', '0 3 * * *', 'VACUUM') AS named_id \gset
SELECT cron.schedule('nightly-vacuum', '30 3 * * *', 'VACUUM ANALYZE') = :named_id AS same_jobid;
SELECT cron.schedule(job_name => 'nightly-vacuum', schedule => '45 3 * * *', command => 'VACUUM (ANALYZE)')
    = :named_id AS same_jobid_named_notation;
SELECT jobname, schedule, command, active FROM cron.job WHERE jobid = :named_id;
-- pg_cron's upsert leaves active alone
SELECT cron.alter_job(:named_id, active => false);
SELECT cron.schedule('nightly-vacuum', '0 4 * * *', 'VACUUM') = :named_id AS same_jobid;
SELECT jobname, schedule, active FROM cron.job WHERE jobid = :named_id;
-- pg_cron's own interval syntax, and uso_tasks' richer grammar
SELECT cron.schedule('every-ten-seconds', '10 seconds', 'SELECT 3') > 0 AS seconds_ok;
-- uso_tasks' own forms are not pg_cron's: the cron layer refuses them (docs/cron.md)
SELECT pg_temp.err($$ SELECT cron.schedule('quarterly', 'every 3 months', 'SELECT 4') $$);

-- cron.schedule_in_database, positional and named
SELECT cron.schedule_in_database('in-db', '0 5 * * *', 'SELECT 5', current_database()) AS indb_id \gset
SELECT jobname, database = current_database() AS this_db, username, active FROM cron.job WHERE jobid = :indb_id;
SELECT cron.schedule_in_database(job_name => 'in-db-named', schedule => '0 6 * * *', command => 'SELECT 6',
    database => current_database(), username => current_user, active => false) AS indb2_id \gset
SELECT jobname, username, active FROM cron.job WHERE jobid = :indb2_id;
SELECT enabled, next_run_at IS NULL AS no_next FROM uso_task WHERE id = :indb2_id;

-- cron.alter_job: each attribute, positional and named
SELECT cron.alter_job(:indb_id, '15 5 * * *');
SELECT cron.alter_job(job_id => :indb_id, command => 'SELECT 55');
SELECT cron.alter_job(job_id => :indb_id, database => current_database());
SELECT cron.alter_job(job_id => :indb_id, username => current_user);
SELECT cron.alter_job(job_id => :indb_id, active => false);
SELECT jobname, schedule, command, username, active FROM cron.job WHERE jobid = :indb_id;
SELECT cron.alter_job(:indb_id, NULL, NULL, NULL, NULL, true);
SELECT active FROM cron.job WHERE jobid = :indb_id;

-- a renamed unnamed job (through the uso_ API) shows its new name
SELECT uso_alter_task('cron_job_' || :unnamed_id, new_name => 'was-unnamed');
SELECT jobname FROM cron.job WHERE jobid = :unnamed_id;

-- cron.unschedule by id and by name, positional and named
SELECT cron.unschedule(:unnamed_id);
SELECT cron.unschedule(job_id => :indb_id);
SELECT cron.unschedule('in-db-named');
SELECT count(*) AS gone FROM cron.job WHERE jobid IN (:unnamed_id, :indb_id, :indb2_id)
    OR jobname = 'quarterly';

------------------------------------------------------------------------------
-- errors: pg_cron's messages, with SQLSTATEs, and nothing changes
SELECT md5(string_agg(j::text, '|' ORDER BY jobid)) AS before FROM cron.job j \gset
SELECT cron.schedule(NULL, 'SELECT 1');
SELECT cron.schedule('* * * * *', NULL);
SELECT cron.schedule(NULL, '* * * * *', 'SELECT 1');
SELECT cron.schedule('x', NULL, 'SELECT 1');
SELECT cron.schedule('x', '* * * * *', NULL);
SELECT cron.schedule_in_database(NULL, '* * * * *', 'SELECT 1', current_database());
SELECT cron.schedule_in_database('x', NULL, 'SELECT 1', current_database());
SELECT cron.schedule_in_database('x', '* * * * *', NULL, current_database());
SELECT cron.unschedule(NULL::bigint);
SELECT cron.unschedule(NULL::text);
SELECT cron.alter_job(NULL, schedule => '* * * * *');
SELECT pg_temp.err($$ SELECT cron.alter_job($$ || :named_id || $$) $$);
-- missing jobs
SELECT cron.unschedule(987654321);
SELECT cron.unschedule('no-such-job');
SELECT cron.alter_job(987654321, command => 'SELECT 1');
-- bad schedules (pg_cron accepts trailing garbage; uso_tasks does not)
SELECT cron.schedule('* * * *', 'SELECT 1');
SELECT cron.schedule('* * * * * garbage', 'SELECT 1');
SELECT cron.schedule('x', '61 * * * *', 'SELECT 1');
SELECT cron.schedule('x', '0 seconds', 'SELECT 1');
SELECT cron.schedule('x', '60 seconds', 'SELECT 1');
SELECT cron.schedule('x', '', 'SELECT 1');
SELECT cron.schedule_in_database('x', '*/0 * * * *', 'SELECT 1', current_database());
SELECT pg_temp.err($$ SELECT cron.alter_job($$ || :named_id || $$, schedule => 'sometimes') $$);
-- roles and databases
CREATE ROLE regress_uso_cron_alice LOGIN;
CREATE ROLE regress_uso_cron_nologin NOLOGIN;
CREATE DATABASE regress_uso_cron_noconn;
REVOKE CONNECT ON DATABASE regress_uso_cron_noconn FROM PUBLIC;
SELECT cron.schedule_in_database('x', '* * * * *', 'SELECT 1', 'regress_uso_no_such_db');
SELECT cron.schedule_in_database('x', '* * * * *', 'SELECT 1', current_database(), 'regress_uso_no_such_role');
SELECT cron.schedule_in_database('x', '* * * * *', 'SELECT 1', current_database(), 'regress_uso_cron_nologin');
SELECT cron.schedule_in_database('x', '* * * * *', 'SELECT 1', 'regress_uso_cron_noconn', 'regress_uso_cron_alice');
SELECT pg_temp.err($$ SELECT cron.alter_job($$ || :named_id || $$, username => 'regress_uso_cron_nologin') $$);
SELECT md5(string_agg(j::text, '|' ORDER BY jobid)) = :'before' AS unchanged FROM cron.job j;

------------------------------------------------------------------------------
-- a second role: pg_cron's privileges and row-level security
-- (29 February: it does not run during the test)
SELECT cron.schedule_in_database('alice-job', '0 1 29 2 *', 'SELECT 7', current_database(),
    'regress_uso_cron_alice') AS alice_id \gset
SELECT username FROM cron.job WHERE jobid = :alice_id;
-- runs of every kind, as the runtime records them
INSERT INTO uso_task_run (task_id, trigger, status, started_at, finished_at, pid, return_message)
VALUES (:alice_id, 'schedule', 'succeeded', '2026-01-01 01:00+00', '2026-01-01 01:00:01+00', 101, 'SELECT 1'),
       (:alice_id, 'schedule', 'failed', '2026-01-02 01:00+00', '2026-01-02 01:00:01+00', 102, 'division by zero'),
       (:alice_id, 'schedule', 'timed_out', '2026-01-03 01:00+00', '2026-01-03 01:00:01+00', 103, 'canceling statement due to statement timeout'),
       (:alice_id, 'manual', 'cancelled', '2026-01-04 01:00+00', '2026-01-04 01:00:01+00', 104, 'cancelled'),
       (:alice_id, 'schedule', 'skipped', NULL, '2026-01-05 01:00+00', NULL, 'previous run still going'),
       (:named_id, 'schedule', 'succeeded', '2026-01-01 04:00+00', '2026-01-01 04:00:01+00', 201, 'VACUUM');
-- Open runs (running, queued) are only ever written inside a transaction that
-- rolls back: a live scheduler would pick up a committed queued row and run it.
CREATE FUNCTION pg_temp.add_open_runs(task bigint) RETURNS void LANGUAGE sql AS $$
    INSERT INTO uso_task_run (task_id, trigger, status, started_at, finished_at, pid, return_message)
    VALUES (task, 'schedule', 'running', '2026-01-06 01:00+00', NULL, 106, NULL),
           (task, 'manual', 'queued', NULL, NULL, NULL, NULL)
$$;
BEGIN;
SELECT pg_temp.add_open_runs(:alice_id);
SELECT jobid = :alice_id AS alice, job_pid, database = current_database() AS this_db, username, command,
       status, return_message, start_time, end_time
FROM cron.job_run_details WHERE jobid IN (:alice_id, :named_id) ORDER BY runid;
ROLLBACK;

SET ROLE regress_uso_cron_alice;
-- no USAGE on schema cron until granted, as in pg_cron
SELECT count(*) FROM cron.job;
RESET ROLE;
GRANT USAGE ON SCHEMA cron TO regress_uso_cron_alice;
SET ROLE regress_uso_cron_alice;
-- sees only its own jobs and runs
SELECT jobname, username FROM cron.job ORDER BY jobid;
SELECT status, start_time FROM cron.job_run_details ORDER BY runid;
-- schedules its own
SELECT cron.schedule('alice-2', '0 2 * * *', 'SELECT 8') AS alice2_id \gset
SELECT jobname, username FROM cron.job ORDER BY jobid;
-- cannot touch another role's job
SELECT pg_temp.err($$ SELECT cron.unschedule($$ || :named_id || $$) $$);
SELECT cron.unschedule('nightly-vacuum');
-- names are per role, as in pg_cron: alice's nightly-vacuum is a job of her own
SELECT cron.schedule('nightly-vacuum', '* * * * *', 'SELECT 9') <> :named_id AS own_job;
-- alter_job and schedule_in_database need a grant, as in pg_cron
SELECT cron.alter_job(:alice2_id, command => 'SELECT 10');
RESET ROLE;
GRANT EXECUTE ON FUNCTION cron.alter_job(bigint, text, text, text, text, boolean),
    cron.schedule_in_database(text, text, text, text, text, boolean) TO regress_uso_cron_alice;
SET ROLE regress_uso_cron_alice;
SELECT cron.alter_job(:alice2_id, command => 'SELECT 10');
SELECT pg_temp.err($$ SELECT cron.alter_job($$ || :named_id || $$, command => 'SELECT 11') $$);
-- nor give a job to another role, nor use a database it cannot connect to
SELECT cron.alter_job(:alice2_id, username => 'postgres');
SELECT cron.alter_job(:alice2_id, database => 'regress_uso_cron_noconn');
SELECT cron.schedule_in_database('x', '* * * * *', 'SELECT 1', 'regress_uso_cron_noconn');
SELECT cron.schedule_in_database('x', '* * * * *', 'SELECT 1', current_database(), 'regress_uso_cron_alice');
SELECT cron.schedule_in_database('alice-3', '0 3 * * *', 'SELECT 12', current_database()) > 0 AS scheduled;
-- DELETE FROM cron.job_run_details works, for its own finished runs only
BEGIN;
RESET ROLE;
SELECT pg_temp.add_open_runs(:alice_id);
SET ROLE regress_uso_cron_alice;
DELETE FROM cron.job_run_details WHERE end_time < now() - interval '7 days';
SELECT status FROM cron.job_run_details ORDER BY runid;
ROLLBACK;
-- cannot write cron.job directly (pg_cron grants SELECT only)
UPDATE cron.job SET active = false;
SELECT cron.unschedule('alice-2'), cron.unschedule('alice-3');
RESET ROLE;
SELECT jobname, command FROM cron.job WHERE jobid = :named_id;
SELECT count(*) AS superuser_runs_kept FROM cron.job_run_details WHERE jobid = :named_id;
-- a superuser may write cron.job (the view is updatable; the same checks apply)
UPDATE cron.job SET active = false WHERE jobid = :alice_id;
UPDATE cron.job SET schedule = 'never ever' WHERE jobid = :alice_id;
SELECT active FROM cron.job WHERE jobid = :alice_id;

-- the layer is installed once; importing needs pg_cron
SET client_min_messages = notice;
SELECT uso_install_cron_compat();
SELECT uso_import_pg_cron();
SET client_min_messages = warning;

-- cleanup
SELECT cron.unschedule(jobid) FROM cron.job
WHERE jobid NOT IN (SELECT jobid FROM preexisting_jobs) ORDER BY jobid;
REVOKE USAGE ON SCHEMA cron FROM regress_uso_cron_alice;
REVOKE EXECUTE ON FUNCTION cron.alter_job(bigint, text, text, text, text, boolean),
    cron.schedule_in_database(text, text, text, text, text, boolean) FROM regress_uso_cron_alice;
DROP DATABASE regress_uso_cron_noconn;
DROP ROLE regress_uso_cron_alice, regress_uso_cron_nologin;
