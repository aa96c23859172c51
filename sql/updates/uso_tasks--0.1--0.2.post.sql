
------------------------------------------------------------------------------
-- uso_tasks 0.1 -> 0.2: rows (after the code of 0.2, whose triggers check them).
-- What 0.1 stored as the default is "this database".
UPDATE @extschema@.uso_task SET database = NULL WHERE database OPERATOR(pg_catalog.=) pg_catalog.current_database();
-- A task naming another database is bound to the database of that name now
-- (issue 21 part 3); a name that names none stays unbound: status missing.
UPDATE @extschema@.uso_task t SET database_oid = d.oid
  FROM pg_catalog.pg_database d WHERE d.datname OPERATOR(pg_catalog.=) t.database;
-- Housekeeping is registered by uso_tasks (the pack's tasks: by uso_office).
UPDATE @extschema@.uso_task SET extension = 'uso_tasks'
 WHERE builtin AND name OPERATOR(pg_catalog.=) 'uso_housekeeping';
-- Housekeeping calls the private twin (a CALL of the public procedure can be
-- made ambiguous by an overload planted beside it), unless a DBA changed it.
UPDATE @extschema@.uso_task SET command = 'CALL _uso_tasks.uso_purge_runs_batched(NULL, 10000)'
 WHERE builtin AND name OPERATOR(pg_catalog.=) 'uso_housekeeping'
   AND command OPERATOR(pg_catalog.=) 'CALL @extschema@.uso_purge_runs_batched()';

-- A built-in task, as sql/builtin/uso_tasks.sql makes those of a fresh install: a
-- negative id, builtin, registered by uso_tasks.
INSERT INTO @extschema@.uso_task (id, builtin, extension, name, category, schedule, command, description, record_runs)
SELECT least(pg_catalog.min(t.id), 0) - 1, true, 'uso_tasks', 'uso_deliver_alerts', 'uso_tasks', '10 seconds',
       'CALL _uso_tasks.uso_deliver_alerts(100, NULL)',
 'Alert delivery: counts run ends into uso_task_stats, sends the mails and webhook calls of failed, missing and recovered tasks '
 '(uso_alerts), retrying a mail server that is down.', 'failures'
FROM @extschema@.uso_task t;

-- Counters start from the history 0.1 kept (what retention left of it).
INSERT INTO @extschema@.uso_task_stats (task_id, runs_succeeded, runs_failed, runs_timed_out,
    runs_cancelled, runs_skipped, last_finished_at, last_success_at, last_failure_at,
    duration_count, duration_sum)
SELECT r.task_id,
       pg_catalog.count(*) FILTER (WHERE r.status = 'succeeded'),
       pg_catalog.count(*) FILTER (WHERE r.status = 'failed'),
       pg_catalog.count(*) FILTER (WHERE r.status = 'timed_out'),
       pg_catalog.count(*) FILTER (WHERE r.status = 'cancelled'),
       pg_catalog.count(*) FILTER (WHERE r.status = 'skipped'),
       pg_catalog.max(r.finished_at),
       pg_catalog.max(r.finished_at) FILTER (WHERE r.status = 'succeeded'),
       pg_catalog.max(r.finished_at) FILTER (WHERE r.status IN ('failed', 'timed_out')),
       pg_catalog.count(r.started_at),
       coalesce(pg_catalog.sum(extract(epoch FROM r.finished_at - r.started_at)), 0)
FROM @extschema@.uso_task_run r
WHERE r.finished_at IS NOT NULL
GROUP BY r.task_id;
