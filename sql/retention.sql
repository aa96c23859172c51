-- Retention: uso_purge_runs() deletes finished runs (and their log lines)
-- older than the given age or beyond their task's keep_runs, never queued or
-- running ones, and only the caller's own unless the caller is an admin.
-- Runs are inserted directly with fixed timestamps (2020) or with
-- "an hour ago"; only counts are printed.
\set VERBOSITY terse
CREATE ROLE ret_alice LOGIN;
CREATE ROLE ret_bob LOGIN;
CREATE ROLE ret_admin IN ROLE uso_admin;

-- disabled, never-firing tasks, so the scheduler leaves their runs alone
INSERT INTO uso_task (name, schedule, command, username, enabled, keep_runs) VALUES
    ('ret_old', '@manual', 'SELECT 1', 'ret_alice', false, 100),
    ('ret_cap', '@manual', 'SELECT 1', 'ret_alice', false, 3),
    ('ret_bob', '@manual', 'SELECT 1', 'ret_bob', false, 100);

CREATE FUNCTION pg_temp.add_runs(task text, n int, finished timestamptz, status text DEFAULT 'succeeded')
RETURNS void LANGUAGE sql AS $$
    INSERT INTO uso_task_run (task_id, trigger, status, queued_at, started_at, finished_at)
    SELECT t.id, 'manual', status, finished - interval '1 minute' * (n - i + 1),
           finished - interval '1 minute' * (n - i + 1),
           CASE WHEN status IN ('queued', 'running') THEN NULL
                ELSE finished - interval '1 minute' * (n - i) END
    FROM uso_task t, generate_series(1, n) i WHERE t.name = task
$$;
CREATE VIEW ret_counts AS
SELECT t.name,
       count(r.id) FILTER (WHERE r.finished_at < now() - interval '30 days') AS old,
       count(r.id) FILTER (WHERE r.finished_at >= now() - interval '30 days') AS recent,
       count(r.id) FILTER (WHERE r.finished_at IS NULL) AS open,
       (SELECT count(*) FROM uso_task_log l JOIN uso_task_run r2 ON r2.id = l.run_id
        WHERE r2.task_id = t.id) AS log_lines
FROM uso_task t LEFT JOIN uso_task_run r ON r.task_id = t.id
WHERE t.name LIKE 'ret\_%'
GROUP BY t.id, t.name ORDER BY t.name;

SELECT pg_temp.add_runs('ret_old', 5, '2020-01-01 12:00+00');
SELECT pg_temp.add_runs('ret_old', 2, '2020-02-01 12:00+00', 'failed');
SELECT pg_temp.add_runs('ret_old', 2, now() - interval '1 hour');
SELECT pg_temp.add_runs('ret_cap', 6, now() - interval '1 hour');
SELECT pg_temp.add_runs('ret_bob', 4, '2020-01-01 12:00+00');
-- two log lines per run
INSERT INTO uso_task_log (run_id, seq, level, message)
SELECT r.id, s, 'NOTICE', 'line ' || s
FROM uso_task_run r JOIN uso_task t ON t.id = r.task_id, generate_series(1, 2) s
WHERE t.name LIKE 'ret\_%';
SELECT * FROM ret_counts;

-- the functions, the housekeeping task, the delete policy
SELECT p.oid::regprocedure AS function, p.prokind, p.prosecdef,
       obj_description(p.oid, 'pg_proc') IS NOT NULL AS has_comment
FROM pg_proc p WHERE p.proname LIKE 'uso\_purge\_runs%' ORDER BY 1::text COLLATE "C";
SELECT b.name, b.category, b.schedule, regexp_replace(t.command, '^CALL \w+\.', 'CALL ') AS command,
       b.frequency, b.enabled, b.owner = current_user AS owned_by_installer, b.description
FROM uso_background_tasks b JOIN uso_task t USING (name) WHERE name = 'uso_housekeeping';
SELECT polpermissive, polcmd, pg_get_expr(polqual, polrelid) AS using
FROM pg_policy WHERE polrelid = 'uso_task_run'::regclass AND NOT polpermissive;

-- bad arguments: nothing deleted
SELECT uso_purge_runs('-1 day');
SELECT uso_purge_runs('-1 second');
SELECT uso_purge_runs_batch('1 day', 0);
SELECT uso_purge_runs_batch('1 day', NULL);
SELECT uso_purge_runs_batch('1 day', 2000000);
SELECT uso_purge_runs('300000 years');
CALL uso_purge_runs_batched('1 day', -5);
SELECT * FROM ret_counts;

-- alice purges by age and by cap: 7 old runs of ret_old and the 3 oldest of
-- ret_cap; bob's old runs are not hers to purge
SET ROLE ret_alice;
SELECT uso_purge_runs('30 days') AS purged;
SELECT uso_purge_runs('30 days') AS purged_again;
RESET ROLE;
SELECT * FROM ret_counts;

-- bob cannot see, and so cannot purge, alice's runs even with age 0
SET ROLE ret_bob;
SELECT count(*) AS bob_sees FROM uso_task_run;
SELECT uso_purge_runs('0') AS purged;
RESET ROLE;
SELECT * FROM ret_counts;

-- queued and running runs are never purged, however old; age 0 takes every
-- finished run, in batches of 2
BEGIN;
SELECT pg_temp.add_runs('ret_old', 2, '2019-01-01 12:00+00', 'queued');
SELECT pg_temp.add_runs('ret_old', 1, '2019-01-01 12:00+00', 'running');
SET ROLE ret_alice;
SELECT uso_purge_runs_batch('0', 2) AS batch1;
SELECT uso_purge_runs('0') AS rest;
RESET ROLE;
SELECT * FROM ret_counts;
-- a direct DELETE of an open run is refused by the restrictive policy too
-- (for whoever is granted DELETE, e.g. the pg_cron layer)
GRANT DELETE ON uso_task_run TO ret_alice;
SET ROLE ret_alice;
WITH d AS (DELETE FROM uso_task_run WHERE finished_at IS NULL RETURNING 1)
SELECT count(*) AS deleted_open FROM d;
RESET ROLE;
ROLLBACK;

-- the default age is uso_tasks.run_retention (30 days)
SHOW uso_tasks.run_retention;
SELECT pg_temp.add_runs('ret_old', 3, '2020-03-01 12:00+00');
SET ROLE ret_alice;
SELECT uso_purge_runs() AS purged_by_default;
RESET ROLE;
SELECT * FROM ret_counts;

-- a member of uso_admin purges every role's runs; the procedure commits
-- between batches
SELECT pg_temp.add_runs('ret_old', 3, '2020-03-01 12:00+00');
SELECT pg_temp.add_runs('ret_bob', 3, '2020-03-01 12:00+00');
SET ROLE ret_admin;
SET client_min_messages = warning;
CALL uso_purge_runs_batched('1000 days', 2);
RESET client_min_messages;
RESET ROLE;
SELECT * FROM ret_counts;
-- the procedure cannot run inside a transaction block (it commits)
BEGIN;
CALL uso_purge_runs_batched('1000 days');
ROLLBACK;

-- the housekeeping task runs the procedure through the executor
SELECT pg_temp.add_runs('ret_bob', 2, '2020-03-01 12:00+00');
SELECT uso_run_now('uso_housekeeping') AS run_id \gset
SELECT uso_wait(:run_id, '1 minute');
SELECT r.status, l.message ~ '^purged \d+ runs$' AS logged
FROM uso_task_run r JOIN uso_task_log l ON l.run_id = r.id WHERE r.id = :run_id;
SELECT * FROM ret_counts;

DELETE FROM uso_task WHERE name LIKE 'ret\_%';
DROP VIEW ret_counts;
DROP ROLE ret_alice, ret_bob, ret_admin;
