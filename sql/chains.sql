-- Tasks that follow tasks (issue 13 part 3): 'after <task>' and
-- 'after <task> fails'.  What creating, describing, renaming and deleting
-- do, and which runs an outcome queues.  Runs are written by hand only inside
-- transactions that roll back, so no scheduler ever sees them.
SET client_min_messages = warning;
DELETE FROM uso_task WHERE NOT builtin;
CREATE TABLE chain_log (what text);

-- The grammar: the name is everything after "after", quoted when it must be.
SELECT s, uso_schedule_follows(s) AS task, uso_schedule_follows_failures(s) AS on_failure,
       uso_describe_schedule(s) AS described,
       (SELECT count(*) FROM uso_next_runs(s, '2026-01-01', 3)) AS next_runs
FROM (VALUES ('after fetch'), ('AFTER fetch'), ('after fetch fails'), ('after  Create Call Projects '),
             ('after Create Call Projects FAILS'), ('after "x fails"'), ('after "x fails" fails'),
             ('after "say ""hi"""'), ('after Zyklen erstellen'), ('after fails')) v(s);
-- Each of these is refused, saying what to write.
SELECT uso_validate_schedule('after');
SELECT uso_validate_schedule('after "unclosed');
SELECT uso_validate_schedule('after "x" soon');
SELECT uso_validate_schedule('after ""');
SELECT uso_after_schedule(n, f) FROM (VALUES ('fetch', false), ('fetch', true), ('x fails', false),
    (' padded', true), ('"quoted"', false), ('Create Call Projects', true)) v(n, f);

-- Creating: the task followed must exist and be visible, in the same database, no cycle.
SELECT uso_schedule('fetch', '@manual', $$INSERT INTO chain_log VALUES ('fetch')$$) > 0 AS created;
SELECT uso_schedule('transform', 'after fetch', $$INSERT INTO chain_log VALUES ('transform')$$) > 0 AS created;
SELECT uso_schedule('on_fetch_failure', 'after fetch fails', $$INSERT INTO chain_log VALUES ('alarm')$$) > 0 AS created;
SELECT uso_schedule('load', 'after transform', $$INSERT INTO chain_log VALUES ('load')$$) > 0 AS created;
SELECT name, schedule, (SELECT p.name FROM uso_task p WHERE p.id = t.follows_task_id) AS follows, follows_on,
       next_run_at
FROM uso_task t WHERE NOT builtin ORDER BY id;
SELECT uso_schedule('orphan', 'after no such task', 'SELECT 1');
SELECT uso_schedule('orphan', 'after ' || repeat('x', 201), 'SELECT 1');  -- longer than any task name
SELECT uso_alter_task('fetch', schedule => 'after load');          -- fetch -> transform -> load -> fetch
SELECT uso_alter_task('fetch', schedule => 'after fetch');         -- itself
SELECT uso_schedule('elsewhere', 'after fetch', 'SELECT 1', database => 'postgres');
-- Nothing changed.
SELECT name, schedule FROM uso_task WHERE NOT builtin ORDER BY id;

-- Another role sees only its own tasks: it cannot follow fetch.
CREATE ROLE chain_user LOGIN;
SET ROLE chain_user;
SELECT uso_schedule('mine', 'after fetch', 'SELECT 1');
SELECT uso_schedule('mine', '@manual', 'SELECT 1') > 0 AS created;
SELECT uso_schedule('mine_next', 'after mine', 'SELECT 1') > 0 AS created;
RESET ROLE;
-- An admin may make a task of its own follow anyone's; the follower runs as its own owner.
SELECT uso_schedule('admin_follows_mine', 'after mine fails', 'SELECT 1') > 0 AS created;
-- A cycle through a task the caller cannot see: an admin links chain_user's
-- task to its own, which follows another of chain_user's.  chain_user closes
-- the cycle without knowing; when it runs, it goes round once and stops.
SELECT uso_schedule('admin_link', 'after mine_next', 'SELECT 1') > 0 AS created;
SELECT uso_alter_task('mine', schedule => 'after admin_link');
SELECT uso_alter_task('mine_next', schedule => '@manual');
SELECT uso_alter_task('mine', schedule => 'after admin_link');   -- a superuser sees the cycle
SET ROLE chain_user;
SELECT uso_alter_task('mine_next', schedule => 'after mine');
RESET ROLE;
BEGIN;
-- mine_next runs (by hand), admin_link follows, then mine, then mine_next would again
INSERT INTO uso_task_run (task_id, trigger, status, started_at)
SELECT id, 'manual', 'running', now() FROM uso_task WHERE name = 'mine_next';
UPDATE uso_task_run SET status = 'succeeded', finished_at = clock_timestamp() WHERE finished_at IS NULL;
UPDATE uso_task_run SET status = 'running', started_at = now() WHERE status = 'queued';
UPDATE uso_task_run SET status = 'succeeded', finished_at = clock_timestamp() WHERE finished_at IS NULL;
UPDATE uso_task_run SET status = 'running', started_at = now() WHERE status = 'queued';
UPDATE uso_task_run SET status = 'succeeded', finished_at = clock_timestamp() WHERE finished_at IS NULL;
SELECT t.name, r.trigger, r.status, r.return_message,
       (SELECT c.name FROM uso_task_run x JOIN uso_task c ON c.id = x.task_id WHERE x.id = r.caused_by_run_id) AS after
FROM uso_task_run r JOIN uso_task t ON t.id = r.task_id ORDER BY r.id;
ROLLBACK;
SELECT uso_alter_task('mine', schedule => '@manual');

-- Describing: the admin page says what it follows and shows no clock time.
SELECT name, frequency, next_run_at, status, status_detail
FROM uso_background_tasks WHERE NOT builtin ORDER BY name;

-- Outcomes queue the followers' runs (trigger chain, caused_by_run_id), in
-- the same transaction.
BEGIN;
INSERT INTO uso_task_run (task_id, trigger, status, started_at)
SELECT id, 'manual', 'running', now() FROM uso_task WHERE name = 'fetch';
UPDATE uso_task_run SET status = 'succeeded', finished_at = clock_timestamp()
WHERE task_id = (SELECT id FROM uso_task WHERE name = 'fetch');
SELECT t.name, r.trigger, r.status, r.caused_by_run_id = (SELECT max(x.id) FROM uso_task_run x
           JOIN uso_task p ON p.id = x.task_id WHERE p.name = 'fetch') AS caused_by_fetch
FROM uso_task_run r JOIN uso_task t ON t.id = r.task_id WHERE r.trigger = 'chain' ORDER BY t.name;
-- transform's run is still queued: a second success of fetch records a
-- skipped run for it (overlap skip), not a second queued one.
INSERT INTO uso_task_run (task_id, trigger, status, started_at)
SELECT id, 'manual', 'running', now() FROM uso_task WHERE name = 'fetch';
UPDATE uso_task_run SET status = 'succeeded', finished_at = clock_timestamp()
WHERE task_id = (SELECT id FROM uso_task WHERE name = 'fetch') AND finished_at IS NULL;
SELECT t.name, r.status, r.return_message ~ '^skipped: run \d+ of this task is still queued$' AS says_why
FROM uso_task_run r JOIN uso_task t ON t.id = r.task_id WHERE r.trigger = 'chain' ORDER BY r.id;
ROLLBACK;

-- A failure queues the failure followers only after the last retry.
UPDATE uso_task SET max_retries = 1 WHERE name = 'fetch';
BEGIN;
INSERT INTO uso_task_run (task_id, trigger, status, started_at, attempt)
SELECT id, 'manual', 'running', now(), 1 FROM uso_task WHERE name = 'fetch';
UPDATE uso_task_run SET status = 'failed', finished_at = clock_timestamp()
WHERE task_id = (SELECT id FROM uso_task WHERE name = 'fetch') AND finished_at IS NULL;
SELECT count(*) AS chain_runs_after_attempt_1 FROM uso_task_run WHERE trigger = 'chain';
INSERT INTO uso_task_run (task_id, trigger, status, started_at, attempt)
SELECT id, 'retry', 'running', now(), 2 FROM uso_task WHERE name = 'fetch';
UPDATE uso_task_run SET status = 'timed_out', finished_at = clock_timestamp()
WHERE task_id = (SELECT id FROM uso_task WHERE name = 'fetch') AND finished_at IS NULL;
SELECT t.name, r.trigger, r.status FROM uso_task_run r JOIN uso_task t ON t.id = r.task_id
WHERE r.trigger = 'chain' ORDER BY t.name;
-- A cancelled run queues nothing; nor does a disabled follower.
UPDATE uso_task SET enabled = false WHERE name = 'transform';
INSERT INTO uso_task_run (task_id, trigger, status, started_at, attempt)
SELECT id, 'manual', 'running', now(), 1 FROM uso_task WHERE name = 'fetch';
UPDATE uso_task_run SET status = 'cancelled', finished_at = clock_timestamp()
WHERE task_id = (SELECT id FROM uso_task WHERE name = 'fetch') AND finished_at IS NULL;
INSERT INTO uso_task_run (task_id, trigger, status, started_at, attempt)
SELECT id, 'manual', 'running', now(), 1 FROM uso_task WHERE name = 'fetch';
UPDATE uso_task_run SET status = 'succeeded', finished_at = clock_timestamp()
WHERE task_id = (SELECT id FROM uso_task WHERE name = 'fetch') AND finished_at IS NULL;
SELECT count(*) AS chain_runs FROM uso_task_run WHERE trigger = 'chain';
ROLLBACK;
UPDATE uso_task SET max_retries = 0 WHERE name = 'fetch';

-- Renaming the task followed: followers follow the task, their text names it anew.
SELECT uso_alter_task('fetch', new_name => 'fetch it fails');
SELECT name, schedule, frequency FROM uso_background_tasks WHERE name IN ('transform', 'on_fetch_failure') ORDER BY name;
SELECT uso_schedule_follows(schedule) AS follows FROM uso_task WHERE name = 'transform';
-- A new task under the old name is not followed.
SELECT uso_schedule('fetch', '@manual', 'SELECT 1') > 0 AS created;
SELECT t.name, p.name AS follows FROM uso_task t JOIN uso_task p ON p.id = t.follows_task_id
WHERE t.name IN ('transform', 'on_fetch_failure') ORDER BY t.name;

-- Deleting it: followers show missing, naming it, and follow nothing.
SELECT uso_unschedule('fetch it fails');
SELECT name, status, status_detail, frequency FROM uso_background_tasks
WHERE name IN ('transform', 'on_fetch_failure', 'load') ORDER BY name;
-- Another setting of a missing follower changes, and it stays missing (no task has the name).
SELECT uso_alter_task('on_fetch_failure', description => 'pages the operator');
SELECT name, status, description FROM uso_background_tasks WHERE name = 'on_fetch_failure';
-- Setting the schedule again follows the task now of that name.
SELECT uso_alter_task('transform', schedule => 'after fetch');
SELECT name, status, status_detail FROM uso_background_tasks WHERE name = 'transform';

-- A followed task moved to another database leaves its followers there missing;
-- it can be renamed afterwards.
SELECT uso_schedule('mover', '@manual', 'SELECT 1') > 0 AS created;
SELECT uso_schedule('stays', 'after mover', 'SELECT 1') > 0 AS created;
UPDATE uso_task SET database = 'postgres' WHERE name = 'mover';
SELECT name, status, status_detail FROM uso_background_tasks WHERE name = 'stays';
SELECT uso_alter_task('mover', new_name => 'moved');
SELECT name, schedule FROM uso_task WHERE name IN ('moved', 'stays') ORDER BY name;

-- Through pg_cron's functions: the text is stored as given.
SELECT cron.schedule('cron_follower', 'after transform', 'SELECT 1') > 0 AS scheduled;
SELECT jobname, schedule FROM cron.job WHERE jobname = 'cron_follower';
SELECT cron.alter_job((SELECT jobid FROM cron.job WHERE jobname = 'cron_follower'),
                      schedule => 'after transform fails');
SELECT t.name, t.follows_on, p.name AS follows FROM uso_task t JOIN uso_task p ON p.id = t.follows_task_id
WHERE t.name = 'cron_follower';
SELECT cron.schedule('cron_orphan', 'after nothing here', 'SELECT 1');

-- The runs view and the admin view show the cause.
SELECT column_name FROM information_schema.columns
WHERE table_name IN ('uso_task_runs', 'uso_background_tasks')
  AND column_name IN ('caused_by_run_id', 'status_detail', 'last_trigger') ORDER BY 1;

DELETE FROM uso_task WHERE NOT builtin;
DROP ROLE chain_user;
DROP TABLE chain_log;
