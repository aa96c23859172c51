-- What a task's command may contain (issue 9, item 6): no transaction
-- control, and a statement that cannot run inside a transaction block
-- (PostgreSQL 15's PreventInTransactionBlock callers) only as the whole
-- command.  Refused when the task is created or its command changed, with
-- 22023 and nothing changed; the runtime check is test/t/064_failed_run_atomic.pl.
\set VERBOSITY terse
CREATE TABLE cr_t (x int);
CREATE INDEX cr_t_x ON cr_t (x);
CREATE TABLE cr_parted (x int) PARTITION BY RANGE (x);
CREATE INDEX cr_parted_x ON cr_parted (x);

-- outcome of scheduling a task with this command: its SQLSTATE and message
CREATE FUNCTION pg_temp.schedule_outcome(command text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    st text;
    msg text;
BEGIN
    PERFORM uso_schedule('CrProbe', '@manual', command);
    DELETE FROM uso_task WHERE name = 'CrProbe';
    RETURN 'accepted';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
    RETURN st || ': ' || msg;
END $$;

-- the three commands of the issue, and every other kind, in a command of several statements
SELECT c AS command, pg_temp.schedule_outcome(c) AS outcome
FROM unnest(ARRAY[
    'DROP DATABASE zdb; SELECT 1/0',
    'CREATE DATABASE zdb2; SELECT 1/0',
    'INSERT INTO cr_t VALUES (1); VACUUM cr_t; SELECT 1/0',
    'VACUUM (ANALYZE) cr_t; SELECT 1',
    'SELECT 1; CLUSTER',
    'SELECT 1; CLUSTER public.cr_parted USING cr_parted_x',
    'SELECT 1; REINDEX DATABASE uso_regress',
    'SELECT 1; REINDEX SYSTEM uso_regress',
    'SELECT 1; REINDEX SCHEMA public',
    'SELECT 1; REINDEX TABLE CONCURRENTLY cr_t',
    'SELECT 1; REINDEX (CONCURRENTLY) INDEX cr_t_x',
    'SELECT 1; REINDEX TABLE public.cr_parted',
    'SELECT 1; CREATE INDEX CONCURRENTLY ON cr_t (x)',
    'SELECT 1; DROP INDEX CONCURRENTLY cr_t_x',
    'SELECT 1; ALTER TABLE cr_parted DETACH PARTITION p CONCURRENTLY',
    'SELECT 1; ALTER DATABASE uso_regress SET TABLESPACE pg_default',
    'SELECT 1; CREATE TABLESPACE ts LOCATION ''/tmp/ts''',
    'SELECT 1; DROP TABLESPACE ts',
    'SELECT 1; ALTER SYSTEM SET work_mem = ''8MB''',
    'SELECT 1; DISCARD ALL',
    'SELECT 1; CREATE SUBSCRIPTION s CONNECTION ''dbname=x'' PUBLICATION p',
    'SELECT 1; ALTER SUBSCRIPTION s SET PUBLICATION p',
    'SELECT 1; ALTER SUBSCRIPTION s REFRESH PUBLICATION']) AS c;

-- allowed: the same statements in a transaction-safe form, or as the whole command
SELECT c AS command, pg_temp.schedule_outcome(c) AS outcome
FROM unnest(ARRAY[
    'VACUUM cr_t',
    'CREATE DATABASE zdb2',
    'REINDEX DATABASE uso_regress',
    'ANALYZE cr_t; SELECT 1',
    'SELECT 1; CLUSTER public.cr_t USING cr_t_x',
    'SELECT 1; REINDEX TABLE cr_t',
    'SELECT 1; REINDEX (CONCURRENTLY false) TABLE cr_t',
    'SELECT 1; CREATE INDEX ON cr_t (x)',
    'SELECT 1; DROP INDEX IF EXISTS nothing_here',
    'SELECT 1; ALTER TABLE cr_parted DETACH PARTITION p',
    'SELECT 1; ALTER DATABASE uso_regress SET work_mem = ''8MB''',
    'SELECT 1; DISCARD TEMP',
    'SELECT 1; CREATE SUBSCRIPTION s CONNECTION ''dbname=x'' PUBLICATION p WITH (connect = false)',
    'SELECT 1; ALTER SUBSCRIPTION s SET PUBLICATION p WITH (refresh = false)',
    'SELECT 1; DROP SUBSCRIPTION IF EXISTS nothing_here',
    'INSERT INTO cr_t VALUES (1); CALL some_procedure_that_commits()',
    'SELECT 1;;',
    -- a command that does not parse is accepted, as before: its run fails with the syntax error
    'SELEC 1; VACUUM']) AS c;

-- transaction control, even as the whole command
SELECT c AS command, pg_temp.schedule_outcome(c) AS outcome
FROM unnest(ARRAY[
    'BEGIN; INSERT INTO cr_t VALUES (1); COMMIT',
    'INSERT INTO cr_t VALUES (1); COMMIT',
    'COMMIT',
    'START TRANSACTION',
    'SELECT 1; SAVEPOINT a; ROLLBACK TO a',
    'ROLLBACK',
    'PREPARE TRANSACTION ''x''',
    'COMMIT PREPARED ''x''']) AS c;

-- the error a user sees, with its hint
\set VERBOSITY default
\set SHOW_CONTEXT never
SELECT uso_schedule('CrVacuum', '@daily', 'INSERT INTO cr_t VALUES (1); VACUUM cr_t');
INSERT INTO uso_task (name, schedule, command) VALUES ('CrCommit', '@daily', 'COMMIT');
SELECT cron.schedule('cr-job', '0 3 * * *', 'VACUUM; ANALYZE');
\set VERBOSITY terse
\set SHOW_CONTEXT errors
SELECT count(*) AS created FROM uso_task WHERE name IN ('CrVacuum', 'CrCommit', 'cr-job');

-- changing the command is checked; changing anything else of a task is not
SELECT uso_schedule('CrTask', '@daily', 'VACUUM cr_t') > 0 AS created;
SELECT uso_alter_task('CrTask', command => 'VACUUM cr_t; SELECT 1');
UPDATE uso_task SET command = 'SELECT 1; DROP DATABASE zdb' WHERE name = 'CrTask';
SELECT cron.alter_job((SELECT id FROM uso_task WHERE name = 'CrTask'), command => 'COMMIT');
SELECT command FROM uso_task WHERE name = 'CrTask';
BEGIN;
ALTER TABLE uso_task DISABLE TRIGGER uso_task_validate;
UPDATE uso_task SET command = 'SELECT 1; VACUUM cr_t' WHERE name = 'CrTask';
ALTER TABLE uso_task ENABLE TRIGGER uso_task_validate;
-- a command already stored (written past the trigger) does not block other changes
UPDATE uso_task SET schedule = '@hourly' WHERE name = 'CrTask';
SELECT schedule, command FROM uso_task WHERE name = 'CrTask';
ROLLBACK;
SELECT uso_unschedule('CrTask');

-- DROP SUBSCRIPTION only when the subscription has a replication slot to drop
CREATE SUBSCRIPTION cr_sub CONNECTION 'dbname=nowhere' PUBLICATION p WITH (connect = false);
SELECT pg_temp.schedule_outcome('SELECT 1; DROP SUBSCRIPTION cr_sub') AS with_slot;
ALTER SUBSCRIPTION cr_sub SET (slot_name = NONE);
SELECT pg_temp.schedule_outcome('SELECT 1; DROP SUBSCRIPTION cr_sub') AS without_slot;
DROP SUBSCRIPTION cr_sub;

-- the check on its own
SELECT uso_check_command('SELECT 1; VACUUM');
SELECT uso_check_command('VACUUM');
SELECT uso_check_command(NULL);

DROP TABLE cr_t, cr_parted;
