-- uso_tasks: the built-in tasks a fresh install registers (install only:
-- an update registers the ones its version adds in its .post.sql, and never
-- touches the rows a DBA may have changed since), and the scheduler's start.

INSERT INTO @extschema@.uso_task (name, category, schedule, command, description) VALUES
('uso_housekeeping', 'uso_tasks', '17 * * * *', 'CALL _uso_tasks.uso_purge_runs_batched(NULL, 10000)',
 'Log Cleanup: deletes finished runs and their log lines older than uso_tasks.run_retention '
 '(default 30 days) and beyond each task''s keep_runs, in batches that never hold up the scheduler.');

INSERT INTO @extschema@.uso_task (name, category, schedule, command, description, record_runs) VALUES
('uso_deliver_alerts', 'uso_tasks', '10 seconds', 'CALL _uso_tasks.uso_deliver_alerts(100, NULL)',
 'Alert delivery: counts run ends into uso_task_stats, sends the mails and webhook calls of failed, missing and recovered tasks '
 '(uso_alerts), retrying a mail server that is down.', 'failures');

-- Every task registered by this script is built in: left out of pg_dump and
-- given a negative id, so the ids of user tasks (and of jobs imported from
-- pg_cron, which keep their jobid) never collide with them, also when a dump
-- is restored into a database where CREATE EXTENSION registered them anew.
UPDATE @extschema@.uso_task SET builtin = true, extension = 'uso_tasks', id = -id;
SELECT pg_catalog.setval('@extschema@.uso_task_id_seq', 1, false);

-- Start this database's scheduler at commit.
SELECT @extschema@.uso_scheduler_start();
