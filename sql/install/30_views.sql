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
       COALESCE(@extschema@.uso_live_progress(r.id), r.progress) AS progress,
       r.caused_by_run_id
FROM @extschema@.uso_task_run r
JOIN @extschema@.uso_task t ON t.id = r.task_id
ORDER BY r.id DESC;
COMMENT ON VIEW @extschema@.uso_task_runs IS 'Runs with their task name and duration, newest first.';
COMMENT ON COLUMN @extschema@.uso_task_runs.id IS 'Run id.';
COMMENT ON COLUMN @extschema@.uso_task_runs.task IS 'Task name.';
COMMENT ON COLUMN @extschema@.uso_task_runs.trigger IS 'schedule, manual, retry, catchup, once, startup or chain.';
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
COMMENT ON COLUMN @extschema@.uso_task_runs.caused_by_run_id IS 'For trigger chain: the run of the followed task that queued this one.';

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

GRANT SELECT ON @extschema@.uso_task_runs, @extschema@.uso_task_log_lines
    TO PUBLIC;
