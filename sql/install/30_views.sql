-- uso_tasks: views for psql users and the admin page.

CREATE VIEW @extschema@.uso_task_runs WITH (security_invoker = true) AS
SELECT r.id,
       t.name AS task,
       r.trigger,
       r.status,
       r.attempt,
       r.scheduled_for,
       r.queued_at,
       r.started_at,
       r.finished_at,
       r.finished_at - r.started_at AS duration,
       r.pid,
       r.return_message,
       r.sqlstate,
       r.error_detail,
       r.error_hint,
       r.error_context,
       COALESCE(@extschema@.uso_live_progress(r.id), r.progress) AS progress
FROM @extschema@.uso_task_run r
JOIN @extschema@.uso_task t ON t.id = r.task_id
ORDER BY r.id DESC;
COMMENT ON VIEW @extschema@.uso_task_runs IS 'Runs with their task name and duration, newest first.';
COMMENT ON COLUMN @extschema@.uso_task_runs.id IS 'Run id.';
COMMENT ON COLUMN @extschema@.uso_task_runs.task IS 'Task name.';
COMMENT ON COLUMN @extschema@.uso_task_runs.trigger IS 'schedule, manual, retry, catchup, once or startup.';
COMMENT ON COLUMN @extschema@.uso_task_runs.status IS 'queued, running, succeeded, failed, timed_out, cancelled or skipped.';
COMMENT ON COLUMN @extschema@.uso_task_runs.attempt IS '1 for the first try, 2.. for retries.';
COMMENT ON COLUMN @extschema@.uso_task_runs.scheduled_for IS 'The slot it was due at.';
COMMENT ON COLUMN @extschema@.uso_task_runs.queued_at IS 'When it was queued.';
COMMENT ON COLUMN @extschema@.uso_task_runs.started_at IS 'When a worker began it.';
COMMENT ON COLUMN @extschema@.uso_task_runs.finished_at IS 'When it ended.';
COMMENT ON COLUMN @extschema@.uso_task_runs.duration IS 'finished_at - started_at.';
COMMENT ON COLUMN @extschema@.uso_task_runs.pid IS 'Worker process id.';
COMMENT ON COLUMN @extschema@.uso_task_runs.return_message IS 'What the run returned, or its error.';
COMMENT ON COLUMN @extschema@.uso_task_runs.sqlstate IS 'SQLSTATE of the error.';
COMMENT ON COLUMN @extschema@.uso_task_runs.error_detail IS 'DETAIL of the error.';
COMMENT ON COLUMN @extschema@.uso_task_runs.error_hint IS 'HINT of the error.';
COMMENT ON COLUMN @extschema@.uso_task_runs.error_context IS 'Traceback of the error.';
COMMENT ON COLUMN @extschema@.uso_task_runs.progress IS 'Fraction done, live while running.';

CREATE VIEW @extschema@.uso_background_tasks WITH (security_invoker = true) AS
SELECT t.name,
       t.category,
       t.description,
       t.schedule,
       COALESCE(t.config ->> 'frequency', @extschema@.uso_describe_schedule(t.schedule)) AS frequency,
       t.retry_after,
       CASE
           WHEN NOT t.enabled THEN 'disabled'
           WHEN cur.id IS NOT NULL THEN 'running'
           WHEN (t.database IS NULL OR t.database = pg_catalog.current_database())
                AND @extschema@.uso_command_missing(t.command) IS NOT NULL THEN 'missing'
           WHEN last.status IN ('failed', 'timed_out') THEN 'failing'
           ELSE 'idle'
       END AS status,
       t.last_run_at,
       CASE WHEN last.status = 'succeeded' AND last.warnings > 0 THEN 'succeeded with warnings'
            ELSE last.status END AS last_status,
       last.finished_at - last.started_at AS last_duration,
       CASE WHEN last.id IS NOT NULL THEN
           pg_catalog.concat_ws(E'\n', last.return_message,
               (SELECT pg_catalog.string_agg(l.level || ': ' || l.message, E'\n' ORDER BY l.seq)
                FROM @extschema@.uso_task_log l WHERE l.run_id = last.id))
       END AS last_log,
       nxt.next_run_at,
       COALESCE(nxt.next_run_at <= pg_catalog.now(), false) AS is_due,
       t.enabled,
       t.username AS owner,
       -- 0.2: appended, as CREATE OR REPLACE VIEW requires.
       last.warnings,
       nxt.once_at AS next_once_at,
       t.builtin,
       t.alert_mail_to
FROM @extschema@.uso_task t
LEFT JOIN LATERAL (
    SELECT r.id FROM @extschema@.uso_task_run r
    WHERE r.task_id = t.id AND r.status = 'running' LIMIT 1) cur ON true
LEFT JOIN LATERAL (
    SELECT r.id, r.status, r.started_at, r.finished_at, r.return_message,
           -- skipped items are logged as warnings (USO's per-item rule)
           (SELECT pg_catalog.count(*)::integer FROM @extschema@.uso_task_log l
            WHERE l.run_id = r.id AND l.level = 'WARNING') AS warnings
    FROM @extschema@.uso_task_run r
    WHERE r.task_id = t.id AND r.status NOT IN ('queued', 'running', 'skipped')
    ORDER BY r.id DESC LIMIT 1) last ON true
LEFT JOIN LATERAL (
    SELECT CASE WHEN t.enabled THEN
               LEAST(t.next_run_at,
                   (SELECT pg_catalog.min(COALESCE(r.scheduled_for, r.queued_at))
                    FROM @extschema@.uso_task_run r
                    WHERE r.task_id = t.id AND r.status = 'queued'))
           END AS next_run_at,
           (SELECT pg_catalog.min(r.scheduled_for) FROM @extschema@.uso_task_run r
            WHERE r.task_id = t.id AND r.status = 'queued' AND r.trigger = 'once') AS once_at) nxt ON true
-- Reading the page warns when no scheduler runs what it shows.
WHERE @extschema@.uso_warn_scheduler();
COMMENT ON VIEW @extschema@.uso_background_tasks IS
    'The Background Tasks admin page: one row per task with status, frequency, last run, log and next run.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.name IS 'Task name.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.category IS 'The app it belongs to.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.description IS 'What it does.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.schedule IS 'The schedule as written.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.frequency IS 'The schedule in plain English.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.retry_after IS 'After a failure the next run comes no later than this.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.status IS 'idle, running, disabled, failing (last run failed) or missing (its function does not exist).';
COMMENT ON COLUMN @extschema@.uso_background_tasks.last_run_at IS 'Start of the last run.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.last_status IS 'Outcome of the last finished run: succeeded, succeeded with warnings (it logged warnings, e.g. skipped items), failed, timed_out or cancelled.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.last_duration IS 'How long the last finished run took.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.last_log IS 'The last run''s message followed by its log lines.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.next_run_at IS 'When it runs next (scheduled or one-off).';
COMMENT ON COLUMN @extschema@.uso_background_tasks.is_due IS 'True when the next run time has come.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.enabled IS 'Whether it is scheduled.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.owner IS 'The role it runs as.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.warnings IS 'How many warnings the last finished run logged (items it skipped); 0 for a clean run.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.next_once_at IS 'When the next one-off run (uso_run_at) is due, if one is waiting.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.builtin IS 'Registered by CREATE EXTENSION (the task pack, housekeeping).';
COMMENT ON COLUMN @extschema@.uso_background_tasks.alert_mail_to IS 'Who this task''s failure alerts go to, besides uso_tasks.alert_mail_to.';

-- The lines of uso_task_log with the task they belong to, so an admin page or
-- psql user need not join through uso_task_run.
CREATE VIEW @extschema@.uso_task_log_lines WITH (security_invoker = true) AS
SELECT t.name AS task,
       l.run_id,
       r.status AS run_status,
       l.seq,
       l.logged_at,
       l.level,
       l.message
FROM @extschema@.uso_task_log l
JOIN @extschema@.uso_task_run r ON r.id = l.run_id
JOIN @extschema@.uso_task t ON t.id = r.task_id
ORDER BY l.run_id DESC, l.seq;
COMMENT ON VIEW @extschema@.uso_task_log_lines IS 'Log lines of runs with their task name, newest run first.';
COMMENT ON COLUMN @extschema@.uso_task_log_lines.task IS 'Task name.';
COMMENT ON COLUMN @extschema@.uso_task_log_lines.run_id IS 'The run that emitted the line.';
COMMENT ON COLUMN @extschema@.uso_task_log_lines.run_status IS 'Status of that run.';
COMMENT ON COLUMN @extschema@.uso_task_log_lines.seq IS 'Order of the line within its run, from 1.';
COMMENT ON COLUMN @extschema@.uso_task_log_lines.logged_at IS 'When it was emitted.';
COMMENT ON COLUMN @extschema@.uso_task_log_lines.level IS 'NOTICE, INFO, WARNING, ... as raised.';
COMMENT ON COLUMN @extschema@.uso_task_log_lines.message IS 'The text of the line.';

GRANT SELECT ON @extschema@.uso_task_runs, @extschema@.uso_background_tasks, @extschema@.uso_task_log_lines
    TO PUBLIC;
