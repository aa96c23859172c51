-- Task management API: uso_schedule (create, upsert), uso_alter_task,
-- uso_enable/uso_disable, uso_unschedule, and bad input: every failed call
-- is a clear error with an errcode, and the catalog is unchanged after it.
\set VERBOSITY terse
\set SHOW_CONTEXT never
SET client_min_messages = warning;

-- A digest of every task row (as the superuser sees them): equal before and
-- after a failed call means nothing changed.  The scheduler's own columns are
-- left out: it may advance them at any time (the tasks really run).
CREATE FUNCTION pg_temp.digest(except_task text DEFAULT NULL) RETURNS text LANGUAGE sql AS
$$ SELECT md5(coalesce(string_agg((to_jsonb(t) - 'next_run_at' - 'last_run_at')::text, '|' ORDER BY t.id), ''))
   FROM uso_task t WHERE t.name IS DISTINCT FROM except_task $$;
-- Errors raised by the schedule grammar: checked by SQLSTATE only (their
-- wording belongs to the grammar's own test).
CREATE FUNCTION pg_temp.sqlstate_of(stmt text) RETURNS text LANGUAGE plpgsql AS
$$ BEGIN EXECUTE stmt; RETURN 'no error'; EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE; END $$;
CREATE FUNCTION pg_temp.show(task text) RETURNS TABLE (
    name text, schedule text, command text, description text, category text, config jsonb,
    same_db boolean, username name, enabled boolean, timezone text, timeout interval,
    max_retries int, retry_delay interval, retry_after interval, keep_runs int,
    overlap text, misfire text, has_next boolean)
LANGUAGE sql AS
$$ SELECT t.name, t.schedule, t.command, t.description, t.category, t.config,
          coalesce(t.database, current_database()) = current_database(), t.username, t.enabled, t.timezone, t.timeout,
          t.max_retries, t.retry_delay, t.retry_after, t.keep_runs, t.overlap, t.misfire,
          t.next_run_at IS NOT NULL
   FROM uso_task t WHERE t.name = task $$;

-- next_run_at is what the grammar says, computed in the writing transaction.
CREATE FUNCTION pg_temp.next_is_right(task text) RETURNS boolean LANGUAGE sql AS
$$ SELECT CASE WHEN t.enabled
               THEN t.next_run_at IS NOT DISTINCT FROM uso_schedule_next(t.schedule, now(), t.last_run_at, t.timezone)
               ELSE t.next_run_at IS NULL END
   FROM uso_task t WHERE t.name = task $$;

------------------------------------------------------------------------------
-- create
BEGIN;
SELECT uso_schedule('ApiDaily', '0 2 * * *', 'SELECT 1') > 0 AS created;
SELECT pg_temp.next_is_right('ApiDaily');
COMMIT;
SELECT * FROM pg_temp.show('ApiDaily');

-- all arguments, by name
BEGIN;
SELECT uso_schedule(name => 'ApiFull', schedule => 'every 15 minutes', command => 'SELECT 2',
    description => 'Full task', category => 'proposals', config => '{"lead_days": 3, "x": null}',
    database => current_database(), username => current_user, enabled => true,
    timezone => 'Europe/Berlin', timeout => '10 minutes', max_retries => 3,
    retry_delay => '30 seconds', retry_after => '2 hours', keep_runs => 50,
    overlap => 'queue', misfire => 'skip') > 0 AS created;
SELECT pg_temp.next_is_right('ApiFull');
COMMIT;
SELECT * FROM pg_temp.show('ApiFull');

-- upsert: same name, same id; schedule and command replaced, NULL keeps the rest
SELECT id AS full_id FROM uso_task WHERE name = 'ApiFull' \gset
BEGIN;
SELECT uso_schedule('ApiFull', '*/5 * * * *', 'SELECT 3', description => 'Changed') = :full_id AS same_id;
SELECT pg_temp.next_is_right('ApiFull');
COMMIT;
SELECT * FROM pg_temp.show('ApiFull');
SELECT count(*) FROM uso_task WHERE name LIKE 'Api%';

-- database: not given, or naming this database, is stored as NULL, "the
-- database the task is stored in" (so a restore under another name runs it
-- there); another database is stored by name; cron.job shows the name
BEGIN;
SELECT uso_schedule('ApiHere', '@daily', 'SELECT 1', database => current_database()) > 0 AS scheduled,
       uso_schedule('ApiElsewhere', '@daily', 'SELECT 1', database => 'postgres') > 0 AS scheduled_elsewhere;
INSERT INTO uso_task (name, schedule, command, database)
VALUES ('ApiHereDirect', '@daily', 'SELECT 1', current_database());
SELECT t.name, t.database, j.database = current_database() AS job_shows_this_database
FROM uso_task t JOIN cron.job j ON j.jobid = t.id
WHERE t.name IN ('ApiDaily', 'ApiHere', 'ApiHereDirect', 'ApiElsewhere') ORDER BY t.name;
SELECT uso_alter_task('ApiElsewhere', database => current_database());
UPDATE uso_task SET database = NULL WHERE name = 'ApiElsewhere';
SELECT name, database FROM uso_task WHERE name = 'ApiElsewhere';
ROLLBACK;

-- alter each setting, one call at a time
SELECT uso_alter_task('ApiDaily', schedule => '30 3 * * *');
SELECT uso_alter_task('ApiDaily', command => 'SELECT 4');
SELECT uso_alter_task('ApiDaily', description => 'Nightly');
SELECT uso_alter_task('ApiDaily', category => 'projects');
SELECT uso_alter_task('ApiDaily', config => '{"a": [1, 2]}');
SELECT uso_alter_task('ApiDaily', database => current_database());
SELECT uso_alter_task('ApiDaily', username => current_user);
SELECT uso_alter_task('ApiDaily', timezone => 'America/New_York');
SELECT uso_alter_task('ApiDaily', timeout => '1 hour');
SELECT uso_alter_task('ApiDaily', max_retries => 5);
SELECT uso_alter_task('ApiDaily', retry_delay => '2 minutes');
SELECT uso_alter_task('ApiDaily', retry_after => '6 hours');
SELECT uso_alter_task('ApiDaily', keep_runs => 10);
SELECT uso_alter_task('ApiDaily', overlap => 'parallel');
SELECT uso_alter_task('ApiDaily', misfire => 'skip');
SELECT uso_alter_task('ApiDaily', enabled => false);
SELECT uso_alter_task('ApiDaily', new_name => 'ApiNightly');
SELECT * FROM pg_temp.show('ApiNightly');
SELECT count(*) AS old_name_left FROM uso_task WHERE name = 'ApiDaily';
-- NULL everywhere changes nothing
SELECT pg_temp.digest() AS before \gset
SELECT uso_alter_task('ApiNightly');
SELECT pg_temp.digest() = :'before' AS unchanged;
-- an empty time zone means the default again
SELECT uso_alter_task('ApiNightly', timezone => '');
SELECT timezone IS NULL AS default_timezone FROM uso_task WHERE name = 'ApiNightly';

-- enable / disable: next_run_at NULL while disabled, recomputed on enable
-- (checked inside the writing transaction: after commit the scheduler owns it)
BEGIN;
SELECT uso_enable('ApiNightly');
SELECT pg_temp.next_is_right('ApiNightly'), next_run_at IS NOT NULL AS has_next
FROM uso_task WHERE name = 'ApiNightly';
COMMIT;
SELECT uso_disable('ApiNightly');
SELECT enabled, next_run_at IS NULL AS no_next FROM uso_task WHERE name = 'ApiNightly';
BEGIN;
SELECT uso_enable('ApiNightly');
SELECT pg_temp.next_is_right('ApiNightly');
COMMIT;
-- a schedule or time zone change recomputes it too
BEGIN;
SELECT uso_alter_task('ApiNightly', schedule => '0 12 * * *', timezone => 'Asia/Tokyo');
SELECT pg_temp.next_is_right('ApiNightly');
COMMIT;
-- the scheduler's own bookkeeping is left alone by the trigger
BEGIN;
UPDATE uso_task SET next_run_at = '2030-01-01 00:00+00', last_run_at = '2029-12-31 00:00+00'
WHERE name = 'ApiNightly';
SELECT next_run_at = '2030-01-01 00:00+00' AS kept FROM uso_task WHERE name = 'ApiNightly';
ROLLBACK;
-- disabled tasks created disabled have no next run
SELECT uso_schedule('ApiOff', '@hourly', 'SELECT 5', enabled => false) > 0 AS created;
SELECT enabled, next_run_at IS NULL AS no_next FROM uso_task WHERE name = 'ApiOff';

-- unschedule removes the task and its runs
INSERT INTO uso_task_run (task_id, trigger, status, finished_at)
SELECT id, 'manual', 'succeeded', now() FROM uso_task WHERE name = 'ApiOff';
SELECT uso_unschedule('ApiOff');
SELECT count(*) AS tasks_left FROM uso_task WHERE name = 'ApiOff';
SELECT count(*) AS runs_left FROM uso_task_run r
WHERE NOT EXISTS (SELECT FROM uso_task t WHERE t.id = r.task_id);

------------------------------------------------------------------------------
-- bad input: each call fails with its errcode and changes nothing
CREATE ROLE regress_uso_api_nologin NOLOGIN;
CREATE ROLE regress_uso_api_alice LOGIN;
CREATE ROLE regress_uso_api_bob LOGIN;
CREATE DATABASE regress_uso_api_noconn;
REVOKE CONNECT ON DATABASE regress_uso_api_noconn FROM PUBLIC;
SELECT pg_temp.digest() AS before \gset
\set VERBOSITY default
-- unknown task
SELECT uso_alter_task('NoSuchTask', command => 'SELECT 1');
SELECT uso_enable('NoSuchTask');
SELECT uso_disable('NoSuchTask');
SELECT uso_unschedule('NoSuchTask');
-- duplicate name via rename
SELECT uso_alter_task('ApiFull', new_name => 'ApiNightly');
-- negative and absurd intervals
SELECT uso_alter_task('ApiFull', timeout => '-1 second');
SELECT uso_schedule('ApiBad', '@daily', 'SELECT 1', timeout => '8 days');
SELECT uso_alter_task('ApiFull', retry_delay => '-5 minutes');
SELECT uso_alter_task('ApiFull', retry_after => '0');
SELECT uso_alter_task('ApiFull', max_retries => 101);
SELECT uso_alter_task('ApiFull', keep_runs => 0);
SELECT uso_alter_task('ApiFull', overlap => 'sometimes');
SELECT uso_alter_task('ApiFull', misfire => 'always');
-- names, commands, config
SELECT uso_schedule('', '@daily', 'SELECT 1');
SELECT uso_schedule(repeat('x', 201), '@daily', 'SELECT 1');
SELECT uso_schedule(E'two\nlines', '@daily', 'SELECT 1');
SELECT uso_schedule('ApiBad', '@daily', E' \n\t ');
SELECT uso_schedule('ApiBad', '@daily', 'SELECT 1', config => '[1, 2]');
SELECT uso_alter_task('ApiFull', config => '"text"');
-- NULL where not allowed
SELECT uso_schedule(NULL, '@daily', 'SELECT 1');
SELECT uso_schedule('ApiBad', NULL, 'SELECT 1');
SELECT uso_schedule('ApiBad', '@daily', NULL);
SELECT uso_enable(NULL);
-- unknown role, role without LOGIN, unknown database, no connections, no CONNECT
SELECT uso_schedule('ApiBad', '@daily', 'SELECT 1', username => 'regress_uso_no_such_role');
SELECT uso_alter_task('ApiFull', username => 'regress_uso_api_nologin');
SELECT uso_schedule('ApiBad', '@daily', 'SELECT 1', database => 'regress_uso_no_such_db');
SELECT uso_alter_task('ApiFull', database => 'template0');
SELECT uso_schedule('ApiBad', '@daily', 'SELECT 1', username => 'regress_uso_api_alice',
    database => 'regress_uso_api_noconn');
\set VERBOSITY terse
-- bad schedules and time zones (the grammar's errors: SQLSTATE only)
SELECT pg_temp.sqlstate_of($$ SELECT uso_schedule('ApiBad', '* * * *', 'SELECT 1') $$) AS too_few_fields,
       pg_temp.sqlstate_of($$ SELECT uso_schedule('ApiBad', '* * * * * garbage', 'SELECT 1') $$) AS trailing_garbage,
       pg_temp.sqlstate_of($$ SELECT uso_alter_task('ApiFull', schedule => '*/0 * * * *') $$) AS zero_step,
       pg_temp.sqlstate_of($$ SELECT uso_alter_task('ApiFull', schedule => '') $$) AS empty,
       pg_temp.sqlstate_of($$ SELECT uso_schedule('ApiBad', '@daily', 'SELECT 1', timezone => 'Mars/Olympus') $$) AS bad_zone,
       pg_temp.sqlstate_of($$ SELECT uso_alter_task('ApiFull', timezone => 'Nowhere') $$) AS bad_zone_alter;
-- direct writes to the table go through the same checks
INSERT INTO uso_task (name, schedule, command, timeout) VALUES ('ApiBad', '@daily', 'SELECT 1', '-1 hour');
INSERT INTO uso_task (name, schedule, command, username) VALUES ('ApiBad', '@daily', 'SELECT 1', 'regress_uso_api_nologin');
UPDATE uso_task SET max_retries = -1 WHERE name = 'ApiFull';
UPDATE uso_task SET command = '' WHERE name = 'ApiFull';
SELECT pg_temp.sqlstate_of($$ UPDATE uso_task SET schedule = 'not a schedule' WHERE name = 'ApiFull' $$) AS direct_bad_schedule;
SELECT pg_temp.digest() = :'before' AS unchanged;

------------------------------------------------------------------------------
-- a second role sees, changes and deletes only its own tasks
GRANT uso_admin TO regress_uso_api_bob;
SELECT pg_temp.digest() AS before \gset
SET ROLE regress_uso_api_alice;
SELECT count(*) AS visible FROM uso_task;
SELECT uso_schedule('AliceTask', '@hourly', 'SELECT 10') > 0 AS created;
SELECT name, username, next_run_at IS NOT NULL AS has_next FROM uso_task;
\set VERBOSITY default
SELECT uso_schedule('ApiFull', '@hourly', 'SELECT 11');
SELECT uso_alter_task('ApiFull', command => 'SELECT 12');
SELECT uso_disable('ApiFull');
SELECT uso_unschedule('ApiFull');
SELECT uso_schedule('AliceForBob', '@hourly', 'SELECT 13', username => 'regress_uso_api_bob');
SELECT uso_alter_task('AliceTask', username => 'postgres');
SELECT uso_alter_task('AliceTask', database => 'regress_uso_api_noconn');
\set VERBOSITY terse
INSERT INTO uso_task (name, schedule, command, username)
VALUES ('AliceForBob', '@daily', 'SELECT 1', 'regress_uso_api_bob');
UPDATE uso_task SET command = 'SELECT 14' WHERE name = 'ApiFull';
DELETE FROM uso_task WHERE name = 'ApiFull';
UPDATE uso_task SET next_run_at = now() WHERE name = 'AliceTask';
UPDATE uso_task SET id = 999 WHERE name = 'AliceTask';
RESET ROLE;
-- everything but AliceTask is as it was
SELECT pg_temp.digest(except_task => 'AliceTask') = :'before' AS others_unchanged;
SELECT name, command, username FROM uso_task WHERE name = 'AliceTask';

-- a superuser may create a task for another role, who then owns it
SELECT uso_schedule('BobTask', '@daily', 'SELECT 20', username => 'regress_uso_api_bob') > 0 AS created;
SELECT username FROM uso_task WHERE name = 'BobTask';

-- uso_admin members see and manage every task, but still cannot give one to another role
SET ROLE regress_uso_api_bob;
SELECT name FROM uso_task WHERE name ~ '^(Api|Alice|Bob)' ORDER BY name;
SELECT uso_alter_task('AliceTask', description => 'checked by bob');
SELECT uso_alter_task('AliceTask', username => 'regress_uso_api_nologin');
RESET ROLE;
SELECT name, description, username FROM uso_task WHERE name = 'AliceTask';

-- cleanup (tasks that existed before the test, e.g. the USO pack's, stay)
SELECT uso_unschedule(name) FROM uso_task WHERE name ~ '^(Api|Alice|Bob)' ORDER BY name;
DROP DATABASE regress_uso_api_noconn;
DROP ROLE regress_uso_api_nologin, regress_uso_api_alice, regress_uso_api_bob;
