-- uso_tasks: the Background Tasks admin page (uso_background_tasks).  After the
-- operations part (95), whose columns (alert_mail_to) and checks
-- (uso_warn_scheduler) it shows, and the chains part (96).

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
           WHEN t.follows_on IS NOT NULL AND t.follows_task_id IS NULL THEN 'missing'
           WHEN t.database IS NOT NULL AND db.datname IS NULL THEN 'missing'
           WHEN (t.database IS NULL OR t.database = pg_catalog.current_database())
                AND @extschema@.uso_command_missing(t.command) IS NOT NULL THEN 'missing'
           WHEN last.status IN ('failed', 'timed_out') THEN 'failing'
           ELSE 'idle'
       END AS status,
       -- The scheduler counts a due run as started (its grid moves); while it
       -- waits for an executor that cannot start, the page shows the last
       -- run that did start.
       CASE WHEN waiting.since IS NULL THEN t.last_run_at
            ELSE (SELECT r.started_at FROM @extschema@.uso_task_run r
                  WHERE r.task_id = t.id AND r.started_at IS NOT NULL
                  ORDER BY r.id DESC LIMIT 1) END AS last_run_at,
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
       t.alert_mail_to,
       COALESCE(CASE
           WHEN t.follows_on IS NOT NULL AND t.follows_task_id IS NULL THEN
               pg_catalog.format('task "%s", which it follows, was deleted or moved to another database',
                                 @extschema@.uso_schedule_follows(t.schedule))
           WHEN t.database IS NOT NULL AND db.datname IS NULL THEN
               CASE WHEN EXISTS (SELECT FROM pg_catalog.pg_database d
                                  WHERE d.datname OPERATOR(pg_catalog.=) t.database) THEN
                   pg_catalog.format('database "%s", which it runs in, was dropped; the database of that '
                                     'name now is another one, and the task does not run in it', t.database::text)
               ELSE pg_catalog.format('database "%s", which it runs in, was dropped', t.database::text) END
           WHEN (t.database IS NULL OR t.database = pg_catalog.current_database()) THEN
               @extschema@.uso_command_missing(t.command)
       END,
       -- A starved pool looks idle otherwise: the run is queued and never starts.
       CASE WHEN waiting.since IS NOT NULL THEN
           pg_catalog.format('its run due at %s waits for a worker: no background worker slot is free '
                             '(raise max_worker_processes)', waiting.since)
       END) AS status_detail,
       CASE WHEN last.trigger = 'chain' AND last.caused_by_run_id IS NOT NULL
            THEN pg_catalog.format('after %s run %s', @extschema@.uso_schedule_follows(t.schedule),
                                   last.caused_by_run_id)
            ELSE last.trigger END AS last_trigger,
       -- The database it runs in by its name now: a rename is followed.
       CASE WHEN t.database IS NULL THEN pg_catalog.current_database() ELSE db.datname END::text AS database
FROM @extschema@.uso_task t
LEFT JOIN pg_catalog.pg_database db ON db.oid OPERATOR(pg_catalog.=) t.database_oid
LEFT JOIN LATERAL (
    SELECT r.id FROM @extschema@.uso_task_run r
    WHERE r.task_id = t.id AND r.status = 'running' LIMIT 1) cur ON true
LEFT JOIN LATERAL (
    SELECT r.id, r.status, r.started_at, r.finished_at, r.return_message, r.trigger, r.caused_by_run_id,
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
LEFT JOIN LATERAL (
    SELECT pg_catalog.min(COALESCE(r.scheduled_for, r.queued_at)) AS since
    FROM @extschema@.uso_task_run r
    WHERE r.task_id = t.id AND r.status = 'queued'
      AND COALESCE(r.scheduled_for, r.queued_at) <= pg_catalog.now()
      AND _uso_tasks.uso_pool_starved()) waiting ON true
-- Reading the page warns when no scheduler runs what it shows.
WHERE _uso_tasks.uso_warn_scheduler();
COMMENT ON VIEW @extschema@.uso_background_tasks IS
    'The Background Tasks admin page: one row per task with status, frequency, last run, log and next run.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.name IS 'Task name.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.category IS 'The app it belongs to.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.description IS 'What it does.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.schedule IS 'The schedule as written.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.frequency IS 'The schedule in plain English.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.retry_after IS 'After a failure the next run comes no later than this.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.status IS 'idle, running, disabled, failing (last run failed) or missing (its function, the task it follows, or the database it runs in does not exist: status_detail says which).';
COMMENT ON COLUMN @extschema@.uso_background_tasks.last_run_at IS 'Start of the last run (while a due run waits because no executor can start: of the last run that started).';
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
COMMENT ON COLUMN @extschema@.uso_background_tasks.status_detail IS 'Why the status is missing: the function the command calls, the task it follows, or the database it runs in, that no longer exists; or that a due run waits because no executor can start (max_worker_processes); NULL otherwise.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.database IS 'The database it runs in, by its name now (a renamed database shows its new name); NULL when that database was dropped.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.last_trigger IS 'Why the last finished run ran: schedule, manual, retry, catchup, once, startup, or for a follower "after <task> run <id>".';

GRANT SELECT ON @extschema@.uso_background_tasks TO PUBLIC;
