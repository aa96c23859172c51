-- pg_cron compatibility (issue 25, items 1-3): the cron layer's jobs run in
-- cron.timezone (GMT by default) as pg_cron's do; built-in tasks are not
-- cron jobs; job names are scoped per role.
\set VERBOSITY terse
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE FUNCTION pg_temp.err(stmt text) RETURNS text LANGUAGE plpgsql AS
$$ BEGIN EXECUTE stmt; RETURN 'no error';
   EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, '[0-9]+', 'N', 'g'); END $$;
-- The hour and minute a task next fires at, read in a given zone.
CREATE FUNCTION pg_temp.fires(task bigint, zone text) RETURNS text LANGUAGE sql AS
$$ SELECT to_char(t.next_run_at AT TIME ZONE zone, 'HH24:MI') FROM uso_task t WHERE t.id = task $$;

------------------------------------------------------------------------------
-- 1. Time zone (the session's is not the jobs')
SET timezone = 'Europe/Berlin';
-- cron.timezone is not set (pg_cron is not loaded): pg_cron's default, GMT
SELECT current_setting('cron.timezone', true) IS NULL AS cron_timezone_unset;
SELECT cron.schedule('tz-named', '0 10 * * *', 'SELECT 1') AS named_id \gset
SELECT cron.schedule('30 9 * * *', 'SELECT 2') AS unnamed_id \gset
SELECT cron.schedule_in_database('tz-indb', '0 8 * * *', 'SELECT 3', current_database()) AS indb_id \gset
SELECT CASE WHEN cron_unnamed THEN '(unnamed)' ELSE name END AS name, timezone, pg_temp.fires(id, 'GMT') AS fires_gmt
FROM uso_task
WHERE id IN (:named_id, :unnamed_id, :indb_id) ORDER BY id;
-- uso_schedule's tasks keep uso_tasks.timezone
SELECT uso_schedule('tz-uso', '0 10 * * *', 'SELECT 4') AS uso_id \gset
SELECT timezone IS NULL AS default_zone,
       (SELECT x FROM uso_next_runs('0 10 * * *', t.next_run_at - interval '1 second', 1) x) = t.next_run_at
           AS at_10_in_uso_tasks_timezone
FROM uso_task t WHERE id = :uso_id;
-- cron.timezone when it is set
SET cron.timezone = 'America/New_York';
SELECT cron.schedule('tz-ny', '0 10 * * *', 'SELECT 5') AS ny_id \gset
SELECT timezone, pg_temp.fires(id, 'America/New_York') AS fires_ny FROM uso_task WHERE id = :ny_id;
-- the upsert of a named job schedules it in cron.timezone again
SELECT cron.schedule('tz-named', '0 11 * * *', 'SELECT 1') = :named_id AS same_job;
SELECT timezone, pg_temp.fires(id, 'America/New_York') AS fires_ny FROM uso_task WHERE id = :named_id;
-- cron.alter_job keeps the job's time zone
SELECT cron.alter_job(:ny_id, schedule => '0 12 * * *');
SELECT timezone, pg_temp.fires(id, 'America/New_York') AS fires_ny FROM uso_task WHERE id = :ny_id;
RESET cron.timezone;
SELECT cron.unschedule(:named_id), cron.unschedule(:unnamed_id), cron.unschedule(:indb_id),
       cron.unschedule(:ny_id), uso_unschedule('tz-uso');
RESET timezone;

------------------------------------------------------------------------------
-- 2. Built-in tasks are not cron jobs
SELECT count(*) AS builtin_tasks FROM uso_task WHERE builtin \gset
SELECT :builtin_tasks > 0 AS has_builtin_tasks;
SELECT count(*) AS builtin_in_cron_job FROM cron.job j JOIN uso_task t ON t.id = j.jobid WHERE t.builtin;
-- nor a schedule pg_cron cannot parse
SELECT uso_schedule('not-cron', 'T00:15', 'SELECT 6') AS notcron_id \gset
SELECT cron.schedule('is-cron', '15 0 * * *', 'SELECT 7') AS iscron_id \gset
SELECT jobid = :iscron_id AS is_cron_job FROM cron.job WHERE jobid IN (:notcron_id, :iscron_id);
-- the runs of a built-in task are not in cron.job_run_details
SELECT id AS housekeeping_id FROM uso_task WHERE name = 'uso_housekeeping' AND builtin \gset
INSERT INTO uso_task_run (task_id, trigger, queued_at, started_at, finished_at, status)
VALUES (:housekeeping_id, 'manual', now(), now(), now(), 'succeeded');
SELECT count(*) AS builtin_runs FROM cron.job_run_details WHERE jobid = :housekeeping_id;
-- pg_cron's usual clean-up leaves them alone (rolled back: it would take
-- what other tests left) ...
BEGIN;
SELECT count(*) > 0 AS unscheduled FROM (SELECT cron.unschedule(jobid) FROM cron.job) u;
SELECT count(*) = :builtin_tasks AS builtin_kept FROM uso_task WHERE builtin;
SELECT count(*) AS not_cron_kept FROM uso_task WHERE id = :notcron_id;
ROLLBACK;
-- ... and deleting or changing one through the cron layer is refused
\set VERBOSITY default
SELECT cron.unschedule(:housekeeping_id);
SELECT cron.unschedule('uso_housekeeping');
SELECT cron.alter_job(:housekeeping_id, active => false);
\set VERBOSITY terse
SELECT enabled FROM uso_task WHERE id = :housekeeping_id;
SELECT uso_unschedule('not-cron');
-- uso_restore_builtin_tasks() registers the missing ones as a fresh install has them
CREATE TEMP TABLE fresh AS
SELECT name, category, schedule, command, description, record_runs, extension, enabled, timezone
FROM uso_task WHERE builtin AND extension = 'uso_tasks';
SELECT uso_restore_builtin_tasks();
DELETE FROM uso_task WHERE builtin AND extension = 'uso_tasks';
SELECT uso_restore_builtin_tasks() ORDER BY 1;
SELECT count(*) AS differences FROM (
    (SELECT name, category, schedule, command, description, record_runs, extension, enabled, timezone
     FROM uso_task WHERE builtin AND extension = 'uso_tasks' EXCEPT SELECT * FROM fresh)
    UNION ALL
    (SELECT * FROM fresh EXCEPT SELECT name, category, schedule, command, description, record_runs, extension,
            enabled, timezone FROM uso_task WHERE builtin AND extension = 'uso_tasks')) d;
SELECT count(*) AS negative_ids FROM uso_task WHERE builtin AND extension = 'uso_tasks' AND id < 0;
-- a name taken by a user's task is not overwritten
DELETE FROM uso_task WHERE builtin AND name = 'uso_deliver_alerts';
SELECT uso_schedule('uso_deliver_alerts', '@daily', 'SELECT 8') > 0 AS impostor;
SELECT pg_temp.err($$ SELECT uso_restore_builtin_tasks() $$);
SELECT uso_unschedule('uso_deliver_alerts');
SELECT uso_restore_builtin_tasks();
-- superuser only
CREATE ROLE regress_uso_tz_bob LOGIN;
CREATE ROLE regress_uso_tz_carol LOGIN;
GRANT USAGE ON SCHEMA cron TO regress_uso_tz_bob, regress_uso_tz_carol;
SET ROLE regress_uso_tz_bob;
SELECT pg_temp.err($$ SELECT uso_restore_builtin_tasks() $$);
-- a role that is not superuser cannot delete one either (it cannot see it:
-- pg_cron's answer for another role's job)
RESET ROLE;
SELECT id AS housekeeping_id FROM uso_task WHERE name = 'uso_housekeeping' AND builtin \gset
SET ROLE regress_uso_tz_bob;
SELECT pg_temp.err(format('SELECT cron.unschedule(%s)', :housekeeping_id));
RESET ROLE;

------------------------------------------------------------------------------
-- 3. Job names are per role, as in pg_cron
SET ROLE regress_uso_tz_bob;
SELECT cron.schedule('weekly-vacuum', '0 3 * * 0', 'SELECT 9') AS bob_id \gset
SET ROLE regress_uso_tz_carol;
-- the same name for another role: a job of its own, no error, nothing said about bob's
SELECT cron.schedule('weekly-vacuum', '0 4 * * 0', 'SELECT 10') AS carol_id \gset
SELECT :carol_id <> :bob_id AS another_job;
SELECT jobname, schedule, username FROM cron.job ORDER BY jobid;
-- the upsert finds carol's own job
SELECT cron.schedule('weekly-vacuum', '0 5 * * 0', 'SELECT 11') = :carol_id AS same_job;
SET ROLE regress_uso_tz_bob;
SELECT jobname, schedule, command FROM cron.job ORDER BY jobid;
SELECT cron.schedule('weekly-vacuum', '0 6 * * 0', 'SELECT 12') = :bob_id AS same_job;
RESET ROLE;
-- both, as the superuser sees them
SELECT jobid = :bob_id AS bobs, jobname, schedule, username FROM cron.job
WHERE jobid IN (:bob_id, :carol_id) ORDER BY jobid;
-- a superuser creating one for a role uses that role's scope
SELECT cron.schedule_in_database('weekly-vacuum', '0 7 * * 0', 'SELECT 13', current_database(),
                                 'regress_uso_tz_carol') = :carol_id AS carols_job;
-- unschedule by name takes the caller's own
SET ROLE regress_uso_tz_carol;
SELECT cron.unschedule('weekly-vacuum');
SELECT pg_temp.err($$ SELECT cron.unschedule('weekly-vacuum') $$);
RESET ROLE;
SELECT jobname, username FROM cron.job WHERE jobid IN (:bob_id, :carol_id);
-- when no name of its own can be made, the error names nobody else's job
SELECT uso_schedule('taken', '@daily', 'SELECT 14') > 0 AS a,
       uso_schedule('taken@regress_uso_tz_carol', '@daily', 'SELECT 15') > 0 AS b;
SET ROLE regress_uso_tz_carol;
\set VERBOSITY default
SELECT cron.schedule('taken', '0 1 * * *', 'SELECT 16');
\set VERBOSITY terse
RESET ROLE;

-- cleanup
SELECT uso_unschedule('taken'), uso_unschedule('taken@regress_uso_tz_carol');
SELECT cron.unschedule(:bob_id), cron.unschedule(:iscron_id);
REVOKE USAGE ON SCHEMA cron FROM regress_uso_tz_bob, regress_uso_tz_carol;
DROP ROLE regress_uso_tz_bob, regress_uso_tz_carol;
