-- uso_tasks: catalog (tasks, runs, log lines).

CREATE FUNCTION _uso_tasks.uso_assert_preloaded() RETURNS void
    LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'uso_assert_preloaded';
COMMENT ON FUNCTION _uso_tasks.uso_assert_preloaded() IS
    'Errors with a hint when uso_tasks is not in shared_preload_libraries.';
SELECT _uso_tasks.uso_assert_preloaded();

-- Members see and manage every task and run (row-level security below).
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'uso_admin') THEN
        CREATE ROLE uso_admin NOLOGIN;
    END IF;
END
$$;


COMMENT ON TABLE @extschema@.uso_task IS 'One row per named background task: what runs, when, as whom.';
COMMENT ON COLUMN @extschema@.uso_task.id IS 'Task id (also the jobid of the pg_cron compatibility layer).';
COMMENT ON COLUMN @extschema@.uso_task.name IS 'Unique task name, e.g. CreateCycles.';
COMMENT ON COLUMN @extschema@.uso_task.description IS 'What the task does, for the admin page.';
COMMENT ON COLUMN @extschema@.uso_task.category IS 'Group on the admin page (the app: proposals, projects, ...).';
COMMENT ON COLUMN @extschema@.uso_task.schedule IS 'When it runs: cron, every <interval>, ISO 8601 (PT15M, T02:00), N seconds, @macros.';
COMMENT ON COLUMN @extschema@.uso_task.command IS 'SQL run as top-level statements, as a client''s query would be, in a worker connected as username; may CALL procedures that COMMIT.';
COMMENT ON COLUMN @extschema@.uso_task.config IS 'Task settings (a JSON object), read inside the task with uso_task_config().';
COMMENT ON COLUMN @extschema@.uso_task.database IS 'Database the command runs in; NULL (the default, and what naming this database stores) means the database the task is stored in, also after a restore under another name.';
COMMENT ON COLUMN @extschema@.uso_task.username IS 'Owner role: the worker connects as this role (it needs LOGIN).';
COMMENT ON COLUMN @extschema@.uso_task.enabled IS 'Disabled tasks are not scheduled and cannot be run now.';
COMMENT ON COLUMN @extschema@.uso_task.timezone IS 'Time zone of cron and time-of-day schedules; NULL means uso_tasks.timezone.';
COMMENT ON COLUMN @extschema@.uso_task.timeout IS 'statement_timeout of a run; NULL means uso_tasks.default_timeout, 0 no limit.';
COMMENT ON COLUMN @extschema@.uso_task.max_retries IS 'Retries after a failed run (trigger retry), with capped exponential backoff.';
COMMENT ON COLUMN @extschema@.uso_task.retry_delay IS 'First retry delay; doubles per attempt, with jitter.';
COMMENT ON COLUMN @extschema@.uso_task.retry_after IS 'After a failure the next run comes no later than this (USO retry_after).';
COMMENT ON COLUMN @extschema@.uso_task.keep_runs IS 'Finished runs kept for this task (USO keep_logs); older ones are purged.';
COMMENT ON COLUMN @extschema@.uso_task.overlap IS 'When the previous run is still going: skip (record skipped), queue (one waits), parallel.';
COMMENT ON COLUMN @extschema@.uso_task.misfire IS 'After downtime with missed slots: run_once (one catchup run) or skip.';
COMMENT ON COLUMN @extschema@.uso_task.created_at IS 'When the task was first scheduled.';
COMMENT ON COLUMN @extschema@.uso_task.builtin IS 'Registered by CREATE EXTENSION (task pack, housekeeping); left out of pg_dump, since restoring recreates it.';
COMMENT ON COLUMN @extschema@.uso_task.last_run_at IS 'Start of the most recent run (interval schedules count from schedule_anchor, or from this when it is NULL).';
COMMENT ON COLUMN @extschema@.uso_task.next_run_at IS 'When the scheduler will start it next; NULL when never (disabled, @reboot).';



COMMENT ON TABLE @extschema@.uso_task_run IS 'One row per run of a task: trigger, timing, outcome, error.';
COMMENT ON COLUMN @extschema@.uso_task_run.id IS 'Run id, as returned by uso_run_now().';
COMMENT ON COLUMN @extschema@.uso_task_run.task_id IS 'The task that ran.';
COMMENT ON COLUMN @extschema@.uso_task_run.trigger IS 'Why it ran: schedule, manual, retry, catchup, once (uso_run_at), startup (@reboot), chain (the task it follows ended: caused_by_run_id).';
COMMENT ON COLUMN @extschema@.uso_task_run.scheduled_for IS 'The slot it was due at (NULL for manual runs).';
COMMENT ON COLUMN @extschema@.uso_task_run.queued_at IS 'When the scheduler queued it.';
COMMENT ON COLUMN @extschema@.uso_task_run.started_at IS 'When a worker began the command.';
COMMENT ON COLUMN @extschema@.uso_task_run.finished_at IS 'When it ended, whatever the outcome; NULL while queued or running.';
COMMENT ON COLUMN @extschema@.uso_task_run.status IS 'queued, running, succeeded, failed, timed_out, cancelled, skipped.';
COMMENT ON COLUMN @extschema@.uso_task_run.attempt IS '1 for the first try, 2.. for retries.';
COMMENT ON COLUMN @extschema@.uso_task_run.pid IS 'Process id of the worker that ran it.';
COMMENT ON COLUMN @extschema@.uso_task_run.return_message IS 'On success the value the last statement returned, or its command tag; the error message on failure.';
COMMENT ON COLUMN @extschema@.uso_task_run.sqlstate IS 'SQLSTATE of the error that ended the run.';
COMMENT ON COLUMN @extschema@.uso_task_run.error_detail IS 'DETAIL of the error.';
COMMENT ON COLUMN @extschema@.uso_task_run.error_hint IS 'HINT of the error.';
COMMENT ON COLUMN @extschema@.uso_task_run.error_context IS 'CONTEXT of the error: the traceback through functions.';
COMMENT ON COLUMN @extschema@.uso_task_run.progress IS 'Fraction done (0..1) reported by uso_progress().';
COMMENT ON COLUMN @extschema@.uso_task_run.caused_by_run_id IS 'For trigger chain: the run of the followed task whose end queued this one (it may have been purged since).';
COMMENT ON COLUMN @extschema@.uso_task_run.command_tag IS 'Command tag of the last statement of a successful run, e.g. INSERT 0 1 or SELECT 1.';

COMMENT ON TABLE @extschema@.uso_task_log IS 'Lines a run emitted (RAISE NOTICE/INFO/WARNING) and the engine''s own.';
COMMENT ON COLUMN @extschema@.uso_task_log.run_id IS 'The run that emitted the line.';
COMMENT ON COLUMN @extschema@.uso_task_log.seq IS 'Order of the line within its run, from 1.';
COMMENT ON COLUMN @extschema@.uso_task_log.logged_at IS 'When it was emitted.';
COMMENT ON COLUMN @extschema@.uso_task_log.level IS 'NOTICE, INFO, WARNING, ... as raised.';
COMMENT ON COLUMN @extschema@.uso_task_log.message IS 'The text of the line.';


-- Row-level security: a role sees its own tasks and runs; uso_admin sees all.
-- Writes, through the uso_* functions or directly, are checked by the
-- uso_task_validate trigger (10_api.sql) and limited by these policies.
CREATE FUNCTION _uso_tasks.uso_is_admin() RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT pg_has_role(current_user, 'uso_admin', 'MEMBER')
             OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) $$;
COMMENT ON FUNCTION _uso_tasks.uso_is_admin() IS
    'True when the current role is a superuser or a member of uso_admin (sees and manages every task).';

-- A value as error messages may quote it: a bad argument can be megabytes
-- long, and an error that echoes it whole floods logs and clients.
CREATE FUNCTION _uso_tasks.uso_shorten(value text, max_chars integer DEFAULT 100) RETURNS text
    LANGUAGE sql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT CASE WHEN length(value) <= max_chars THEN value
                      ELSE left(value, max_chars) || '...' END $$;
COMMENT ON FUNCTION _uso_tasks.uso_shorten(text, integer) IS
    'The value cut to max_chars characters with "..." added when longer: how error messages quote a value.';

-- Names and categories are shown on admin pages, in logs and in psql:
-- characters that are invisible or reorder the text around them would let
-- one name pass for another.
CREATE FUNCTION _uso_tasks.uso_check_label(what text, value text) RETURNS void
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    -- Outside UTF8 those code points cannot be stored at all.
    utf8 constant boolean := getdatabaseencoding() = 'UTF8';
    pos  integer;
    kind text;
BEGIN
    IF value IS NULL THEN
        RETURN;
    END IF;
    pos := regexp_instr(value, '[[:cntrl:]]');
    kind := 'control characters';
    IF pos = 0 AND utf8 THEN
        -- embeddings and overrides (U+202A-U+202E), isolates (U+2066-U+2069),
        -- and the invisible direction marks (U+200E, U+200F, U+061C)
        pos := regexp_instr(value, E'[\\u202A-\\u202E\\u2066-\\u2069\\u200E\\u200F\\u061C]');
        kind := 'bidirectional control characters';
        IF pos = 0 THEN
            pos := regexp_instr(value, E'[\\u200B-\\u200D\\u2060\\uFEFF]');
            kind := 'zero-width characters';
        END IF;
    END IF;
    IF pos > 0 THEN
        RAISE EXCEPTION '% must not contain %', what, kind
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('Character U+%s at position %s.',
                                  upper(lpad(to_hex(ascii(substr(value, pos, 1))), 4, '0')), pos),
                  HINT = 'Names and categories are shown on admin pages and in logs, where such characters '
                         'hide or reorder text.';
    END IF;
END
$$;
COMMENT ON FUNCTION _uso_tasks.uso_check_label(text, text) IS
    'Raises 22023 when a task name or category contains control, bidirectional control or zero-width characters (naming the first and its position).';

CREATE POLICY uso_task_visible ON @extschema@.uso_task
    USING (username = CURRENT_USER OR _uso_tasks.uso_is_admin());
CREATE POLICY uso_task_run_visible ON @extschema@.uso_task_run
    USING (EXISTS (SELECT FROM @extschema@.uso_task t WHERE t.id = task_id));
CREATE POLICY uso_task_log_visible ON @extschema@.uso_task_log
    USING (EXISTS (SELECT FROM @extschema@.uso_task_run r WHERE r.id = run_id));

