-- uso_tasks: catalog (tasks, runs, log lines).
\echo Use "CREATE EXTENSION uso_tasks" to load this file. \quit

CREATE FUNCTION @extschema@.uso_assert_preloaded() RETURNS void
    LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'uso_assert_preloaded';
COMMENT ON FUNCTION @extschema@.uso_assert_preloaded() IS
    'Errors with a hint when uso_tasks is not in shared_preload_libraries.';
SELECT @extschema@.uso_assert_preloaded();

-- Members see and manage every task and run (row-level security below).
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'uso_admin') THEN
        CREATE ROLE uso_admin NOLOGIN;
    END IF;
END
$$;

CREATE TABLE @extschema@.uso_task (
    id            bigserial PRIMARY KEY,
    name          text NOT NULL,
    description   text,
    category      text,
    schedule      text NOT NULL,
    command       text NOT NULL,
    config        jsonb NOT NULL DEFAULT '{}',
    database      name NOT NULL DEFAULT pg_catalog.current_database(),
    username      name NOT NULL DEFAULT CURRENT_USER,
    enabled       boolean NOT NULL DEFAULT true,
    timezone      text,
    timeout       interval,
    max_retries   integer NOT NULL DEFAULT 0,
    retry_delay   interval NOT NULL DEFAULT '1 minute',
    retry_after   interval NOT NULL DEFAULT '1 day',
    keep_runs     integer NOT NULL DEFAULT 100,
    overlap       text NOT NULL DEFAULT 'skip',
    misfire       text NOT NULL DEFAULT 'run_once',
    created_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    builtin       boolean NOT NULL DEFAULT false,
    last_run_at   timestamptz,
    next_run_at   timestamptz,
    CONSTRAINT uso_task_name_key UNIQUE (name),
    CONSTRAINT uso_task_name_check CHECK (name <> '' AND pg_catalog.length(name) <= 200),
    CONSTRAINT uso_task_command_check CHECK (command <> ''),
    CONSTRAINT uso_task_config_check CHECK (pg_catalog.jsonb_typeof(config) = 'object'),
    CONSTRAINT uso_task_timeout_check CHECK (timeout >= '0'::interval),
    CONSTRAINT uso_task_max_retries_check CHECK (max_retries BETWEEN 0 AND 100),
    CONSTRAINT uso_task_retry_delay_check CHECK (retry_delay >= '0'::interval),
    CONSTRAINT uso_task_retry_after_check CHECK (retry_after > '0'::interval),
    CONSTRAINT uso_task_keep_runs_check CHECK (keep_runs BETWEEN 1 AND 1000000),
    CONSTRAINT uso_task_overlap_check CHECK (overlap IN ('skip', 'queue', 'parallel')),
    CONSTRAINT uso_task_misfire_check CHECK (misfire IN ('run_once', 'skip'))
);
-- No index on next_run_at: the scheduler keeps due times in memory, and its
-- per-run writes of next_run_at/last_run_at stay HOT updates (fillfactor).
ALTER TABLE @extschema@.uso_task SET (fillfactor = 80);
CREATE INDEX uso_task_username_idx ON @extschema@.uso_task (username);

COMMENT ON TABLE @extschema@.uso_task IS 'One row per named background task: what runs, when, as whom.';
COMMENT ON COLUMN @extschema@.uso_task.id IS 'Task id (also the jobid of the pg_cron compatibility layer).';
COMMENT ON COLUMN @extschema@.uso_task.name IS 'Unique task name, e.g. CreateCycles.';
COMMENT ON COLUMN @extschema@.uso_task.description IS 'What the task does, for the admin page.';
COMMENT ON COLUMN @extschema@.uso_task.category IS 'Group on the admin page (the app: proposals, projects, ...).';
COMMENT ON COLUMN @extschema@.uso_task.schedule IS 'When it runs: cron, every <interval>, ISO 8601 (PT15M, T02:00), N seconds, @macros.';
COMMENT ON COLUMN @extschema@.uso_task.command IS 'SQL run as top-level statements, as a client''s query would be, in a worker connected as username; may CALL procedures that COMMIT.';
COMMENT ON COLUMN @extschema@.uso_task.config IS 'Task settings (a JSON object), read inside the task with uso_task_config().';
COMMENT ON COLUMN @extschema@.uso_task.database IS 'Database the command runs in.';
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
COMMENT ON COLUMN @extschema@.uso_task.last_run_at IS 'Start of the most recent run (interval schedules count from it).';
COMMENT ON COLUMN @extschema@.uso_task.next_run_at IS 'When the scheduler will start it next; NULL when never (disabled, @reboot).';

CREATE TABLE @extschema@.uso_task_run (
    id              bigserial PRIMARY KEY,
    task_id         bigint NOT NULL REFERENCES @extschema@.uso_task (id) ON DELETE CASCADE,
    trigger         text NOT NULL,
    scheduled_for   timestamptz,
    queued_at       timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    started_at      timestamptz,
    finished_at     timestamptz,
    status          text NOT NULL DEFAULT 'queued',
    attempt         integer NOT NULL DEFAULT 1,
    pid             integer,
    return_message  text,
    sqlstate        text,
    error_detail    text,
    error_hint      text,
    error_context   text,
    progress        real,
    command_tag     text,
    CONSTRAINT uso_task_run_trigger_check
        CHECK (trigger IN ('schedule', 'manual', 'retry', 'catchup', 'once', 'startup')),
    CONSTRAINT uso_task_run_status_check
        CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'timed_out', 'cancelled', 'skipped')),
    CONSTRAINT uso_task_run_attempt_check CHECK (attempt >= 1),
    CONSTRAINT uso_task_run_progress_check CHECK (progress BETWEEN 0 AND 1),
    CONSTRAINT uso_task_run_finished_check
        CHECK ((status IN ('queued', 'running')) = (finished_at IS NULL))
);
-- A scheduled slot is run at most once, even across crashes and restarts.
CREATE UNIQUE INDEX uso_task_run_slot_key ON @extschema@.uso_task_run (task_id, scheduled_for)
    WHERE trigger IN ('schedule', 'catchup');
CREATE INDEX uso_task_run_task_idx ON @extschema@.uso_task_run (task_id, id DESC);
CREATE INDEX uso_task_run_open_idx ON @extschema@.uso_task_run (status) WHERE finished_at IS NULL;
CREATE INDEX uso_task_run_finished_idx ON @extschema@.uso_task_run (finished_at);

COMMENT ON TABLE @extschema@.uso_task_run IS 'One row per run of a task: trigger, timing, outcome, error.';
COMMENT ON COLUMN @extschema@.uso_task_run.id IS 'Run id, as returned by uso_run_now().';
COMMENT ON COLUMN @extschema@.uso_task_run.task_id IS 'The task that ran.';
COMMENT ON COLUMN @extschema@.uso_task_run.trigger IS 'Why it ran: schedule, manual, retry, catchup, once (uso_run_at), startup (@reboot).';
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
COMMENT ON COLUMN @extschema@.uso_task_run.command_tag IS 'Command tag of the last statement of a successful run, e.g. INSERT 0 1 or SELECT 1.';

CREATE TABLE @extschema@.uso_task_log (
    run_id     bigint NOT NULL REFERENCES @extschema@.uso_task_run (id) ON DELETE CASCADE,
    seq        integer NOT NULL,
    logged_at  timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    level      text NOT NULL,
    message    text NOT NULL,
    PRIMARY KEY (run_id, seq),
    CONSTRAINT uso_task_log_level_check
        CHECK (level IN ('DEBUG', 'LOG', 'INFO', 'NOTICE', 'WARNING', 'ERROR'))
);
COMMENT ON TABLE @extschema@.uso_task_log IS 'Lines a run emitted (RAISE NOTICE/INFO/WARNING) and the engine''s own.';
COMMENT ON COLUMN @extschema@.uso_task_log.run_id IS 'The run that emitted the line.';
COMMENT ON COLUMN @extschema@.uso_task_log.seq IS 'Order of the line within its run, from 1.';
COMMENT ON COLUMN @extschema@.uso_task_log.logged_at IS 'When it was emitted.';
COMMENT ON COLUMN @extschema@.uso_task_log.level IS 'NOTICE, INFO, WARNING, ... as raised.';
COMMENT ON COLUMN @extschema@.uso_task_log.message IS 'The text of the line.';

-- pg_dump keeps user tasks and their history.  Built-in tasks are left out:
-- CREATE EXTENSION on restore registers them again (with new ids).
SELECT pg_catalog.pg_extension_config_dump('@extschema@.uso_task', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.uso_task_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.uso_task_run',
    'WHERE task_id IN (SELECT t.id FROM @extschema@.uso_task t WHERE NOT t.builtin)');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.uso_task_run_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.uso_task_log',
    'WHERE run_id IN (SELECT r.id FROM @extschema@.uso_task_run r '
    'JOIN @extschema@.uso_task t ON t.id = r.task_id WHERE NOT t.builtin)');

-- Row-level security: a role sees its own tasks and runs; uso_admin sees all.
-- Writes, through the uso_* functions or directly, are checked by the
-- uso_task_validate trigger (10_api.sql) and limited by these policies.
CREATE FUNCTION @extschema@.uso_is_admin() RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT pg_has_role(current_user, 'uso_admin', 'MEMBER')
             OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) $$;
COMMENT ON FUNCTION @extschema@.uso_is_admin() IS
    'True when the current role is a superuser or a member of uso_admin (sees and manages every task).';

ALTER TABLE @extschema@.uso_task ENABLE ROW LEVEL SECURITY;
CREATE POLICY uso_task_visible ON @extschema@.uso_task
    USING (username = CURRENT_USER OR @extschema@.uso_is_admin());
ALTER TABLE @extschema@.uso_task_run ENABLE ROW LEVEL SECURITY;
CREATE POLICY uso_task_run_visible ON @extschema@.uso_task_run
    USING (EXISTS (SELECT FROM @extschema@.uso_task t WHERE t.id = task_id));
ALTER TABLE @extschema@.uso_task_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY uso_task_log_visible ON @extschema@.uso_task_log
    USING (EXISTS (SELECT FROM @extschema@.uso_task_run r WHERE r.id = run_id));

GRANT SELECT ON @extschema@.uso_task, @extschema@.uso_task_run, @extschema@.uso_task_log TO PUBLIC;
-- The schedule grammar from SQL (docs/schedule.md): preview, describe,
-- validate, and the next fire time the management API stores.

CREATE FUNCTION @extschema@.uso_next_runs(schedule text,
                                          after timestamptz DEFAULT now(),
                                          n int DEFAULT 5,
                                          timezone text DEFAULT NULL)
    RETURNS SETOF timestamptz
    LANGUAGE c STABLE PARALLEL SAFE ROWS 5 AS 'MODULE_PATHNAME', 'uso_next_runs';
COMMENT ON FUNCTION @extschema@.uso_next_runs(text, timestamptz, int, text) IS
'The next n (1-1000) fire times of a schedule strictly after "after", in time zone "timezone" '
'(NULL = uso_tasks.timezone). Interval schedules count from "after" as if the task had just '
'started. No rows for @reboot, @manual or a date that never comes.';

CREATE FUNCTION @extschema@.uso_describe_schedule(schedule text)
    RETURNS text
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'uso_describe_schedule';
COMMENT ON FUNCTION @extschema@.uso_describe_schedule(text) IS
'A schedule in plain English as an admin page shows it: ''every 15 minutes'', '
'''at 02:00 every day'', ''at 09:00 on Monday to Friday''.';

CREATE FUNCTION @extschema@.uso_validate_schedule(schedule text)
    RETURNS void
    LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'uso_validate_schedule';
COMMENT ON FUNCTION @extschema@.uso_validate_schedule(text) IS
'Raises 22023 naming the bad part unless the text is a valid schedule (22004 for NULL).';

CREATE FUNCTION @extschema@.uso_schedule_next(schedule text, after timestamptz,
                                              anchor timestamptz, timezone text)
    RETURNS timestamptz
    LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'uso_schedule_next';
COMMENT ON FUNCTION @extschema@.uso_schedule_next(text, timestamptz, timestamptz, text) IS
'The first fire time strictly after "after" (the stored next_run_at of a task). "anchor" is the '
'start of the last run, which interval schedules count from; NULL = never ran, so an interval '
'task is due at "after" itself. NULL time zone = uso_tasks.timezone. Returns NULL when there is '
'no next time (@reboot, @manual, a date that never comes).';

CREATE FUNCTION @extschema@.uso_validate_timezone(tz text)
    RETURNS text
    LANGUAGE c STABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'uso_validate_timezone';
COMMENT ON FUNCTION @extschema@.uso_validate_timezone(text) IS
'The canonical name of a time zone (''europe/berlin'' gives ''Europe/Berlin''); raises 22023 '
'for a name the server does not know.';

CREATE FUNCTION @extschema@.uso_bench_schedule(schedule text, n int,
                                               timezone text DEFAULT NULL)
    RETURNS double precision
    LANGUAGE c VOLATILE PARALLEL SAFE AS 'MODULE_PATHNAME', 'uso_bench_schedule';
COMMENT ON FUNCTION @extschema@.uso_bench_schedule(text, int, text) IS
'Benchmark: seconds spent on n next-fire-time computations of a schedule (from instants 59 s '
'apart starting 2026-01-01 UTC). Used by test/bench/schedule_bench.sh.';
-- uso_tasks: task management API (uso_schedule, uso_alter_task, uso_unschedule,
-- uso_enable, uso_disable) and the trigger that validates every write to
-- uso_task, so that a direct INSERT or UPDATE is exactly as safe as the API.
--
-- Rules (docs/api.md explains them for users):
--   * every check runs in the BEFORE trigger, as the calling role (SECURITY
--     INVOKER: current_user is whoever writes the row);
--   * row-level security (00_catalog.sql) limits every read and write to the
--     owner's rows, or all rows for uso_admin members and superusers;
--   * only a superuser may make a task run as a role other than itself;
--   * an error leaves nothing changed (it aborts the statement).

CREATE FUNCTION @extschema@.uso_task_check() RETURNS trigger
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ins        constant boolean := TG_OP = 'INSERT';
    is_super   boolean;
    can_login  boolean;
    allow_conn boolean;
BEGIN
    -- Columns named in an UPDATE but not changed (uso_alter_task sets them
    -- all): nothing to check.
    IF NOT ins AND
       (NEW.name, NEW.description, NEW.category, NEW.schedule, NEW.command,
        NEW.config, NEW.database, NEW.username, NEW.enabled, NEW.timezone,
        NEW.timeout, NEW.max_retries, NEW.retry_delay, NEW.retry_after,
        NEW.keep_runs, NEW.overlap, NEW.misfire)
       IS NOT DISTINCT FROM
       (OLD.name, OLD.description, OLD.category, OLD.schedule, OLD.command,
        OLD.config, OLD.database, OLD.username, OLD.enabled, OLD.timezone,
        OLD.timeout, OLD.max_retries, OLD.retry_delay, OLD.retry_after,
        OLD.keep_runs, OLD.overlap, OLD.misfire) THEN
        RETURN NEW;
    END IF;

    -- name: shown on admin pages and used as a key by every function.
    IF NEW.name IS NULL THEN
        RAISE EXCEPTION 'task name must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    ELSIF NEW.name = '' THEN
        RAISE EXCEPTION 'task name must not be empty' USING ERRCODE = 'invalid_parameter_value';
    ELSIF length(NEW.name) > 200 THEN
        RAISE EXCEPTION 'task name is too long'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('It has %s characters; at most 200 are allowed.', length(NEW.name));
    ELSIF NEW.name ~ '[[:cntrl:]]' THEN
        RAISE EXCEPTION 'task name must not contain control characters'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    IF NEW.description IS NOT NULL AND length(NEW.description) > 10000 THEN
        RAISE EXCEPTION 'description is too long'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'At most 10000 characters are allowed.';
    END IF;
    IF NEW.category IS NOT NULL AND (length(NEW.category) > 200 OR NEW.category ~ '[[:cntrl:]]') THEN
        RAISE EXCEPTION 'category must be at most 200 characters without control characters'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- schedule: the grammar lives in C (05_schedule.sql); only re-parse on change.
    IF NEW.schedule IS NULL THEN
        RAISE EXCEPTION 'schedule must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    ELSIF ins OR NEW.schedule IS DISTINCT FROM OLD.schedule THEN
        PERFORM @extschema@.uso_validate_schedule(NEW.schedule);
    END IF;

    IF NEW.command IS NULL THEN
        RAISE EXCEPTION 'command must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    ELSIF btrim(NEW.command, E' \t\r\n\f\v') = '' THEN
        RAISE EXCEPTION 'command must not be empty' USING ERRCODE = 'invalid_parameter_value';
    ELSIF octet_length(NEW.command) > 1048576 THEN
        RAISE EXCEPTION 'command is too long'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'At most 1 MB is allowed; put long code into a function and call it.';
    END IF;

    IF NEW.config IS NULL THEN
        RAISE EXCEPTION 'config must not be NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Use ''{}'' for a task without settings.';
    ELSIF jsonb_typeof(NEW.config) <> 'object' THEN
        RAISE EXCEPTION 'config must be a JSON object, not %', jsonb_typeof(NEW.config)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    IF NEW.enabled IS NULL THEN
        RAISE EXCEPTION 'enabled must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;

    -- '' means "the default" (uso_tasks.timezone), as NULL does; names are
    -- stored canonical so the scheduler never has to guess.
    IF NEW.timezone = '' THEN
        NEW.timezone := NULL;
    ELSIF NEW.timezone IS NOT NULL AND (ins OR NEW.timezone IS DISTINCT FROM OLD.timezone) THEN
        NEW.timezone := @extschema@.uso_validate_timezone(NEW.timezone);
    END IF;

    -- Intervals: bounds a DBA would still call sane (docs/api.md).
    IF NEW.timeout < interval '0' THEN
        RAISE EXCEPTION 'timeout must not be negative' USING ERRCODE = 'invalid_parameter_value';
    ELSIF NEW.timeout > interval '7 days' THEN
        RAISE EXCEPTION 'timeout must be at most 7 days'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Use 0 for no limit.';
    END IF;
    IF NEW.max_retries IS NULL THEN
        RAISE EXCEPTION 'max_retries must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    ELSIF NEW.max_retries NOT BETWEEN 0 AND 100 THEN
        RAISE EXCEPTION 'max_retries must be between 0 and 100' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NEW.retry_delay IS NULL THEN
        RAISE EXCEPTION 'retry_delay must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    ELSIF NEW.retry_delay < interval '0' OR NEW.retry_delay > interval '1 day' THEN
        RAISE EXCEPTION 'retry_delay must be between 0 and 1 day' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NEW.retry_after IS NULL THEN
        RAISE EXCEPTION 'retry_after must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    ELSIF NEW.retry_after <= interval '0' OR NEW.retry_after > interval '366 days' THEN
        RAISE EXCEPTION 'retry_after must be positive and at most 366 days' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NEW.keep_runs IS NULL THEN
        RAISE EXCEPTION 'keep_runs must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    ELSIF NEW.keep_runs NOT BETWEEN 1 AND 1000000 THEN
        RAISE EXCEPTION 'keep_runs must be between 1 and 1000000' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NEW.overlap IS NULL THEN
        RAISE EXCEPTION 'overlap must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    ELSIF NEW.overlap NOT IN ('skip', 'queue', 'parallel') THEN
        RAISE EXCEPTION 'overlap must be skip, queue or parallel, not "%"', left(NEW.overlap, 40)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NEW.misfire IS NULL THEN
        RAISE EXCEPTION 'misfire must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    ELSIF NEW.misfire NOT IN ('run_once', 'skip') THEN
        RAISE EXCEPTION 'misfire must be run_once or skip, not "%"', left(NEW.misfire, 40)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- Owner and database: who the worker connects as, and where.
    IF NEW.username IS NULL THEN
        RAISE EXCEPTION 'username must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NEW.database IS NULL THEN
        RAISE EXCEPTION 'database must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF ins OR NEW.username IS DISTINCT FROM OLD.username OR NEW.database IS DISTINCT FROM OLD.database THEN
        SELECT r.rolsuper INTO is_super FROM pg_roles r WHERE r.rolname = current_user;
        IF NEW.username <> current_user AND NOT coalesce(is_super, false)
           AND (ins OR NEW.username IS DISTINCT FROM OLD.username) THEN
            IF ins THEN
                RAISE EXCEPTION 'must be superuser to create a task for another role'
                    USING ERRCODE = 'insufficient_privilege',
                          DETAIL = format('The task would run as role "%s"; you are "%s".', NEW.username, current_user);
            ELSE
                RAISE EXCEPTION 'must be superuser to change the role a task runs as'
                    USING ERRCODE = 'insufficient_privilege',
                          DETAIL = format('The task would run as role "%s"; you are "%s".', NEW.username, current_user);
            END IF;
        END IF;

        SELECT r.rolcanlogin INTO can_login FROM pg_roles r WHERE r.rolname = NEW.username;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'role "%" does not exist', NEW.username USING ERRCODE = 'undefined_object';
        ELSIF NOT can_login THEN
            RAISE EXCEPTION 'role "%" cannot log in', NEW.username
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'A task runs in a background worker connected as its role, and on PostgreSQL 15 '
                               'a background worker can only connect as a role with LOGIN.',
                      HINT = format('ALTER ROLE %I LOGIN, or schedule the task for a role that has LOGIN.', NEW.username);
        END IF;

        SELECT d.datallowconn INTO allow_conn FROM pg_database d WHERE d.datname = NEW.database;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'database "%" does not exist', NEW.database USING ERRCODE = 'invalid_catalog_name';
        ELSIF NOT allow_conn THEN
            RAISE EXCEPTION 'database "%" does not allow connections', NEW.database
                USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
        -- Both the caller and the role the task runs as must be able to connect.
        IF NOT has_database_privilege(current_user, NEW.database, 'CONNECT') THEN
            RAISE EXCEPTION 'permission denied for database "%"', NEW.database
                USING ERRCODE = 'insufficient_privilege',
                      DETAIL = format('Role "%s" does not have CONNECT privilege on it.', current_user);
        ELSIF NOT has_database_privilege(NEW.username, NEW.database, 'CONNECT') THEN
            RAISE EXCEPTION 'permission denied for database "%"', NEW.database
                USING ERRCODE = 'insufficient_privilege',
                      DETAIL = format('Role "%s", which the task runs as, does not have CONNECT privilege on it.', NEW.username);
        END IF;
    END IF;

    -- When it runs next: stored so views and the scheduler agree.
    IF ins OR NEW.schedule IS DISTINCT FROM OLD.schedule OR NEW.timezone IS DISTINCT FROM OLD.timezone
       OR NEW.enabled IS DISTINCT FROM OLD.enabled THEN
        IF NEW.enabled THEN
            -- A NULL time zone is resolved by the grammar (uso_tasks.timezone
            -- or the default), the same way the scheduler resolves it.
            NEW.next_run_at := @extschema@.uso_schedule_next(NEW.schedule, now(), NEW.last_run_at,
                                                             NEW.timezone);
        ELSE
            NEW.next_run_at := NULL;
        END IF;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION @extschema@.uso_task_check() IS
    'Trigger: validates a new or changed uso_task row (schedule, time zone, role, database, limits) and computes next_run_at.';

-- Row triggers fire in name order: this one must come after uso_task_cron_name
-- (60_cron.sql), which fills in the generated name of unnamed pg_cron jobs.
-- UPDATE OF: the scheduler's own writes (next_run_at, last_run_at) do not fire it.
CREATE TRIGGER uso_task_validate
    BEFORE INSERT OR UPDATE OF name, description, category, schedule, command, config, database,
        username, enabled, timezone, timeout, max_retries, retry_delay, retry_after, keep_runs,
        overlap, misfire
    ON @extschema@.uso_task
    FOR EACH ROW EXECUTE FUNCTION @extschema@.uso_task_check();

-- Writes are open to every role: the trigger and row-level security decide.
-- Scheduler state (id, created_at, last_run_at, next_run_at) is not writable.
GRANT INSERT (name, description, category, schedule, command, config, database, username,
              enabled, timezone, timeout, max_retries, retry_delay, retry_after, keep_runs,
              overlap, misfire),
      UPDATE (name, description, category, schedule, command, config, database, username,
              enabled, timezone, timeout, max_retries, retry_delay, retry_after, keep_runs,
              overlap, misfire),
      DELETE
    ON @extschema@.uso_task TO PUBLIC;
GRANT USAGE ON SEQUENCE @extschema@.uso_task_id_seq TO PUBLIC;

-- uso_schedule: create a task, or replace the schedule and command of the
-- caller's task of that name (other arguments: NULL keeps what is there).
CREATE FUNCTION @extschema@.uso_schedule(
    name text, schedule text, command text,
    description text DEFAULT NULL, category text DEFAULT NULL, config jsonb DEFAULT NULL,
    database text DEFAULT NULL, username text DEFAULT NULL, enabled boolean DEFAULT true,
    timezone text DEFAULT NULL, timeout interval DEFAULT NULL, max_retries integer DEFAULT NULL,
    retry_delay interval DEFAULT NULL, retry_after interval DEFAULT NULL,
    keep_runs integer DEFAULT NULL, overlap text DEFAULT NULL, misfire text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    task_id  bigint;
    fields   jsonb;
    cols     text;
    conname  text;
BEGIN
    IF uso_schedule.name IS NULL THEN
        RAISE EXCEPTION 'task name must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    ELSIF uso_schedule.schedule IS NULL THEN
        RAISE EXCEPTION 'schedule must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    ELSIF uso_schedule.command IS NULL THEN
        RAISE EXCEPTION 'command must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;

    FOR attempt IN 1..2 LOOP
        SELECT t.id INTO task_id FROM @extschema@.uso_task t
        WHERE t.name = uso_schedule.name FOR UPDATE;
        IF FOUND THEN
            UPDATE @extschema@.uso_task t SET
                schedule    = uso_schedule.schedule,
                command     = uso_schedule.command,
                description = coalesce(uso_schedule.description, t.description),
                category    = coalesce(uso_schedule.category, t.category),
                config      = coalesce(uso_schedule.config, t.config),
                database    = coalesce(uso_schedule.database::name, t.database),
                username    = coalesce(uso_schedule.username::name, t.username),
                enabled     = coalesce(uso_schedule.enabled, t.enabled),
                timezone    = coalesce(uso_schedule.timezone, t.timezone),
                timeout     = coalesce(uso_schedule.timeout, t.timeout),
                max_retries = coalesce(uso_schedule.max_retries, t.max_retries),
                retry_delay = coalesce(uso_schedule.retry_delay, t.retry_delay),
                retry_after = coalesce(uso_schedule.retry_after, t.retry_after),
                keep_runs   = coalesce(uso_schedule.keep_runs, t.keep_runs),
                overlap     = coalesce(uso_schedule.overlap, t.overlap),
                misfire     = coalesce(uso_schedule.misfire, t.misfire)
            WHERE t.id = task_id;
            RETURN task_id;
        END IF;

        -- Insert only the columns given, so the others take the table's defaults.
        fields := jsonb_build_object(
            'name', uso_schedule.name, 'schedule', uso_schedule.schedule,
            'command', uso_schedule.command, 'description', uso_schedule.description,
            'category', uso_schedule.category, 'config', uso_schedule.config,
            'database', uso_schedule.database, 'username', uso_schedule.username,
            'enabled', uso_schedule.enabled, 'timezone', uso_schedule.timezone,
            'timeout', uso_schedule.timeout, 'max_retries', uso_schedule.max_retries,
            'retry_delay', uso_schedule.retry_delay, 'retry_after', uso_schedule.retry_after,
            'keep_runs', uso_schedule.keep_runs, 'overlap', uso_schedule.overlap,
            'misfire', uso_schedule.misfire);
        SELECT string_agg(quote_ident(f.key), ', ') INTO cols
        FROM jsonb_each(fields) f WHERE jsonb_typeof(f.value) <> 'null';
        BEGIN
            EXECUTE format('INSERT INTO @extschema@.uso_task AS t (%1$s) '
                           'SELECT %1$s FROM pg_catalog.jsonb_populate_record(NULL::@extschema@.uso_task, $1) '
                           'RETURNING t.id', cols)
                INTO task_id USING fields;
            RETURN task_id;
        EXCEPTION WHEN unique_violation THEN
            GET STACKED DIAGNOSTICS conname = CONSTRAINT_NAME;
            IF conname IS DISTINCT FROM 'uso_task_name_key' THEN
                RAISE;
            END IF;
            -- A row we can see appeared meanwhile: go round and update it.
            -- A row we cannot see belongs to someone else.
            IF NOT EXISTS (SELECT FROM @extschema@.uso_task t WHERE t.name = uso_schedule.name) THEN
                RAISE EXCEPTION 'task "%" belongs to another role', uso_schedule.name
                    USING ERRCODE = 'insufficient_privilege',
                          DETAIL = 'Task names are unique across all roles.',
                          HINT = 'Choose another name.';
            END IF;
        END;
    END LOOP;
    RAISE EXCEPTION 'task "%" is being changed concurrently', uso_schedule.name
        USING ERRCODE = 'lock_not_available';
END
$$;
COMMENT ON FUNCTION @extschema@.uso_schedule(text, text, text, text, text, jsonb, text, text, boolean,
    text, interval, integer, interval, interval, integer, text, text) IS
    'Creates the task, or updates the caller''s task of that name (NULL arguments keep the current value); returns the task id.';

-- uso_task_id_by_name: the id of a task the caller can see, or a clear error.
CREATE FUNCTION @extschema@.uso_task_id_by_name(name text, for_update boolean DEFAULT false)
RETURNS bigint
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    task_id bigint;
BEGIN
    IF uso_task_id_by_name.name IS NULL THEN
        RAISE EXCEPTION 'task name must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF for_update THEN
        SELECT t.id INTO task_id FROM @extschema@.uso_task t WHERE t.name = uso_task_id_by_name.name FOR UPDATE;
    ELSE
        SELECT t.id INTO task_id FROM @extschema@.uso_task t WHERE t.name = uso_task_id_by_name.name;
    END IF;
    IF task_id IS NULL THEN
        RAISE EXCEPTION 'task "%" does not exist', uso_task_id_by_name.name USING ERRCODE = 'undefined_object';
    END IF;
    RETURN task_id;
END
$$;
COMMENT ON FUNCTION @extschema@.uso_task_id_by_name(text, boolean) IS
    'The id of the named task, if the caller may see it; error 42704 otherwise.';

CREATE FUNCTION @extschema@.uso_alter_task(
    name text, schedule text DEFAULT NULL, command text DEFAULT NULL,
    description text DEFAULT NULL, category text DEFAULT NULL, config jsonb DEFAULT NULL,
    database text DEFAULT NULL, username text DEFAULT NULL, enabled boolean DEFAULT NULL,
    timezone text DEFAULT NULL, timeout interval DEFAULT NULL, max_retries integer DEFAULT NULL,
    retry_delay interval DEFAULT NULL, retry_after interval DEFAULT NULL,
    keep_runs integer DEFAULT NULL, overlap text DEFAULT NULL, misfire text DEFAULT NULL,
    new_name text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    task_id bigint := @extschema@.uso_task_id_by_name(uso_alter_task.name, true);
BEGIN
    UPDATE @extschema@.uso_task t SET
        name        = coalesce(uso_alter_task.new_name, t.name),
        schedule    = coalesce(uso_alter_task.schedule, t.schedule),
        command     = coalesce(uso_alter_task.command, t.command),
        description = coalesce(uso_alter_task.description, t.description),
        category    = coalesce(uso_alter_task.category, t.category),
        config      = coalesce(uso_alter_task.config, t.config),
        database    = coalesce(uso_alter_task.database::name, t.database),
        username    = coalesce(uso_alter_task.username::name, t.username),
        enabled     = coalesce(uso_alter_task.enabled, t.enabled),
        timezone    = coalesce(uso_alter_task.timezone, t.timezone),
        timeout     = coalesce(uso_alter_task.timeout, t.timeout),
        max_retries = coalesce(uso_alter_task.max_retries, t.max_retries),
        retry_delay = coalesce(uso_alter_task.retry_delay, t.retry_delay),
        retry_after = coalesce(uso_alter_task.retry_after, t.retry_after),
        keep_runs   = coalesce(uso_alter_task.keep_runs, t.keep_runs),
        overlap     = coalesce(uso_alter_task.overlap, t.overlap),
        misfire     = coalesce(uso_alter_task.misfire, t.misfire)
    WHERE t.id = task_id;
EXCEPTION WHEN unique_violation THEN
    RAISE EXCEPTION 'task "%" already exists', uso_alter_task.new_name
        USING ERRCODE = 'unique_violation',
              DETAIL = 'Task names are unique across all roles.';
END
$$;
COMMENT ON FUNCTION @extschema@.uso_alter_task(text, text, text, text, text, jsonb, text, text, boolean,
    text, interval, integer, interval, interval, integer, text, text, text) IS
    'Changes the given settings of a task (NULL keeps the current value; new_name renames it).';

CREATE FUNCTION @extschema@.uso_unschedule(name text) RETURNS boolean
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    task_id constant bigint := @extschema@.uso_task_id_by_name(uso_unschedule.name, true);
BEGIN
    DELETE FROM @extschema@.uso_task t WHERE t.id = task_id;
    RETURN true;
END
$$;
COMMENT ON FUNCTION @extschema@.uso_unschedule(text) IS
    'Deletes a task and its run history; error 42704 when there is no such task.';

CREATE FUNCTION @extschema@.uso_enable(name text) RETURNS void
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    task_id constant bigint := @extschema@.uso_task_id_by_name(uso_enable.name, true);
BEGIN
    UPDATE @extschema@.uso_task t SET enabled = true WHERE t.id = task_id;
END
$$;
COMMENT ON FUNCTION @extschema@.uso_enable(text) IS
    'Lets the scheduler run the task again; next_run_at is recomputed.';

CREATE FUNCTION @extschema@.uso_disable(name text) RETURNS void
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    task_id constant bigint := @extschema@.uso_task_id_by_name(uso_disable.name, true);
BEGIN
    UPDATE @extschema@.uso_task t SET enabled = false WHERE t.id = task_id;
END
$$;
COMMENT ON FUNCTION @extschema@.uso_disable(text) IS
    'Stops scheduling the task (next_run_at becomes NULL); its history is kept.';
-- uso_tasks: runtime functions (run now, one-off runs, wait, cancel, in-task helpers).

CREATE FUNCTION @extschema@.uso_run_now(task text) RETURNS bigint
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'uso_run_now';
COMMENT ON FUNCTION @extschema@.uso_run_now(text) IS
    'Queues a run of the task now and returns its run id at once; the run starts within milliseconds of commit.';

CREATE FUNCTION @extschema@.uso_run_at(task text, "at" timestamptz) RETURNS bigint
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'uso_run_at';
COMMENT ON FUNCTION @extschema@.uso_run_at(text, timestamptz) IS
    'Queues a one-off run (trigger once) of the task at the given time; returns the run id.';

CREATE FUNCTION @extschema@.uso_wait(run_id bigint, timeout interval DEFAULT '1 minute')
    RETURNS text
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'uso_wait';
COMMENT ON FUNCTION @extschema@.uso_wait(bigint, interval) IS
    'Blocks until the run ends and returns its final status; ERROR when the timeout passes first.';

CREATE FUNCTION @extschema@.uso_cancel(run_id bigint) RETURNS boolean
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'uso_cancel';
COMMENT ON FUNCTION @extschema@.uso_cancel(bigint) IS
    'Cancels a queued or running run (it ends as cancelled); false when it had already ended.';

CREATE FUNCTION @extschema@.uso_current_run() RETURNS bigint
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'uso_current_run';
COMMENT ON FUNCTION @extschema@.uso_current_run() IS
    'Inside a task: the id of the run executing it; NULL elsewhere.';

CREATE FUNCTION @extschema@.uso_task_config() RETURNS jsonb
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'uso_task_config';
COMMENT ON FUNCTION @extschema@.uso_task_config() IS
    'Inside a task: the task''s config object; NULL elsewhere.';

CREATE FUNCTION @extschema@.uso_progress(done bigint, total bigint) RETURNS void
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'uso_progress';
COMMENT ON FUNCTION @extschema@.uso_progress(bigint, bigint) IS
    'Inside a task: reports live progress (done of total), shown in uso_task_runs.progress.';

CREATE FUNCTION @extschema@.uso_live_progress(run_id bigint) RETURNS real
    LANGUAGE c STABLE STRICT AS 'MODULE_PATHNAME', 'uso_live_progress';
COMMENT ON FUNCTION @extschema@.uso_live_progress(bigint) IS
    'Progress (0..1) a running run reported with uso_progress(), or NULL.';

CREATE FUNCTION @extschema@.uso_command_missing(command text) RETURNS text
    LANGUAGE c STABLE STRICT AS 'MODULE_PATHNAME', 'uso_command_missing';
COMMENT ON FUNCTION @extschema@.uso_command_missing(text) IS
    'The first function or procedure the command calls that does not exist in this database, or NULL.';

CREATE FUNCTION @extschema@.uso_scheduler_start() RETURNS void
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'uso_scheduler_start';
COMMENT ON FUNCTION @extschema@.uso_scheduler_start() IS
    'Starts this database''s scheduler at commit (CREATE EXTENSION calls it).';
REVOKE EXECUTE ON FUNCTION @extschema@.uso_scheduler_start() FROM PUBLIC;

CREATE FUNCTION @extschema@.uso_task_changed() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'uso_task_changed';
COMMENT ON FUNCTION @extschema@.uso_task_changed() IS
    'Trigger: wakes the scheduler after commit so it reloads the tasks.';

-- The scheduler's own writes (next_run_at, last_run_at) do not wake it.
CREATE TRIGGER uso_task_changed
    AFTER INSERT OR DELETE OR TRUNCATE OR UPDATE OF name, schedule, command, config,
        database, username, enabled, timezone, timeout, max_retries, retry_delay,
        retry_after, keep_runs, overlap, misfire
    ON @extschema@.uso_task
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.uso_task_changed();

SELECT @extschema@.uso_scheduler_start();
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
           WHEN t.database = pg_catalog.current_database()
                AND @extschema@.uso_command_missing(t.command) IS NOT NULL THEN 'missing'
           WHEN last.status IN ('failed', 'timed_out') THEN 'failing'
           ELSE 'idle'
       END AS status,
       t.last_run_at,
       last.status AS last_status,
       last.finished_at - last.started_at AS last_duration,
       CASE WHEN last.id IS NOT NULL THEN
           pg_catalog.concat_ws(E'\n', last.return_message,
               (SELECT pg_catalog.string_agg(l.level || ': ' || l.message, E'\n' ORDER BY l.seq)
                FROM @extschema@.uso_task_log l WHERE l.run_id = last.id))
       END AS last_log,
       nxt.next_run_at,
       COALESCE(nxt.next_run_at <= pg_catalog.now(), false) AS is_due,
       t.enabled,
       t.username AS owner
FROM @extschema@.uso_task t
LEFT JOIN LATERAL (
    SELECT r.id FROM @extschema@.uso_task_run r
    WHERE r.task_id = t.id AND r.status = 'running' LIMIT 1) cur ON true
LEFT JOIN LATERAL (
    SELECT r.id, r.status, r.started_at, r.finished_at, r.return_message
    FROM @extschema@.uso_task_run r
    WHERE r.task_id = t.id AND r.status NOT IN ('queued', 'running', 'skipped')
    ORDER BY r.id DESC LIMIT 1) last ON true
LEFT JOIN LATERAL (
    SELECT CASE WHEN t.enabled THEN
               LEAST(t.next_run_at,
                   (SELECT pg_catalog.min(COALESCE(r.scheduled_for, r.queued_at))
                    FROM @extschema@.uso_task_run r
                    WHERE r.task_id = t.id AND r.status = 'queued'))
           END AS next_run_at) nxt ON true;
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
COMMENT ON COLUMN @extschema@.uso_background_tasks.last_status IS 'Outcome of the last finished run.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.last_duration IS 'How long the last finished run took.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.last_log IS 'The last run''s message followed by its log lines.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.next_run_at IS 'When it runs next (scheduled or one-off).';
COMMENT ON COLUMN @extschema@.uso_background_tasks.is_due IS 'True when the next run time has come.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.enabled IS 'Whether it is scheduled.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.owner IS 'The role it runs as.';

GRANT SELECT ON @extschema@.uso_task_runs, @extschema@.uso_background_tasks TO PUBLIC;
-- uso_tasks: HTTP and mail through libcurl (src/http.c, src/mail.c).
--
-- Reaching the network from SQL is a privilege: EXECUTE is revoked from
-- PUBLIC and granted to the role uso_http only (superusers can always call).
-- Where requests may go is the superuser setting uso_tasks.http_allowed_hosts.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'uso_http') THEN
        CREATE ROLE uso_http NOLOGIN;
    END IF;
END
$$;

CREATE TYPE @extschema@.uso_http_response AS (
    status  integer,
    headers jsonb,
    body    text
);
COMMENT ON TYPE @extschema@.uso_http_response IS
    'Result of uso_http_get / uso_http_post: the final response after redirects.';
COMMENT ON COLUMN @extschema@.uso_http_response.status IS
    'HTTP status code (200, 404, 500, ...); any status is returned, none is an error.';
COMMENT ON COLUMN @extschema@.uso_http_response.headers IS
    'Response headers as a JSON object: lower-case names, string values, repeated headers joined with ", ".';
COMMENT ON COLUMN @extschema@.uso_http_response.body IS
    'Response body as text in the database encoding (converted from the declared charset).';

CREATE FUNCTION @extschema@.uso_http_get(
    url     text,
    headers jsonb DEFAULT NULL,
    timeout interval DEFAULT NULL)
RETURNS @extschema@.uso_http_response
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'uso_http_get';
COMMENT ON FUNCTION @extschema@.uso_http_get(text, jsonb, interval) IS
    'HTTP GET url (http/https, host in uso_tasks.http_allowed_hosts, up to 5 redirects). '
    'headers: JSON object of string values. timeout: default uso_tasks.http_timeout. '
    'Returns status, headers and body; NULL url gives NULL. Callable by superusers and members of uso_http.';

CREATE FUNCTION @extschema@.uso_http_post(
    url          text,
    body         text,
    content_type text DEFAULT 'application/json',
    headers      jsonb DEFAULT NULL,
    timeout      interval DEFAULT NULL)
RETURNS @extschema@.uso_http_response
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'uso_http_post';
COMMENT ON FUNCTION @extschema@.uso_http_post(text, text, text, jsonb, interval) IS
    'HTTP POST body to url with Content-Type content_type (a Content-Type in headers wins; NULL sends none). '
    'Same rules as uso_http_get. Callable by superusers and members of uso_http.';

CREATE FUNCTION @extschema@.uso_http_get_json(
    url     text,
    headers jsonb DEFAULT NULL,
    timeout interval DEFAULT NULL)
RETURNS jsonb
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'uso_http_get_json';
COMMENT ON FUNCTION @extschema@.uso_http_get_json(text, jsonb, interval) IS
    'HTTP GET url and parse the body as JSON (NULL for 204). A non-2xx status is an error (38000), '
    'so is a body that is not JSON (22P02). Callable by superusers and members of uso_http.';

CREATE FUNCTION @extschema@.uso_send_mail(
    recipient text,
    subject   text,
    body      text,
    sender    text DEFAULT NULL)
RETURNS text
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'uso_send_mail';
COMMENT ON FUNCTION @extschema@.uso_send_mail(text, text, text, text) IS
    'Sends a plain-text UTF-8 e-mail through uso_tasks.smtp_url to a comma-separated recipient list; '
    'sender defaults to uso_tasks.smtp_from. Returns the Message-ID. Callable by superusers and members of uso_http.';

REVOKE EXECUTE ON FUNCTION
    @extschema@.uso_http_get(text, jsonb, interval),
    @extschema@.uso_http_post(text, text, text, jsonb, interval),
    @extschema@.uso_http_get_json(text, jsonb, interval),
    @extschema@.uso_send_mail(text, text, text, text)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    @extschema@.uso_http_get(text, jsonb, interval),
    @extschema@.uso_http_post(text, text, text, jsonb, interval),
    @extschema@.uso_http_get_json(text, jsonb, interval),
    @extschema@.uso_send_mail(text, text, text, text)
TO uso_http;
-- uso_tasks: the USO task pack, part 1: the user-office data model (schema uso).
--
-- A small but real reference model of the user-office application of seed 000
-- (see docs/uso.md for the diagram): who the users are, how cycles derive from
-- their cycle type, how submissions walk the review stages of their track, the
-- projects and beamtime that follow, publications and their metrics, and the
-- notification outbox that DeliverNotifications empties.

CREATE SCHEMA uso;
COMMENT ON SCHEMA uso IS 'USO user-office domain: data model and the background task functions of seed 000.';

-- ---------------------------------------------------------------- people
CREATE TABLE uso.institution (
    id             bigserial PRIMARY KEY,
    name           text NOT NULL,
    country        text,
    state          text NOT NULL DEFAULT 'new',
    created_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    pending_since  timestamptz,
    notified_at    timestamptz,
    CONSTRAINT institution_name_key UNIQUE (name),
    CONSTRAINT institution_name_check CHECK (name <> ''),
    CONSTRAINT institution_state_check CHECK (state IN ('new', 'pending', 'approved', 'rejected')),
    CONSTRAINT institution_pending_check CHECK (state <> 'pending' OR pending_since IS NOT NULL)
);
CREATE INDEX institution_pending_idx ON uso.institution (pending_since)
    WHERE state = 'pending' AND notified_at IS NULL;
COMMENT ON TABLE uso.institution IS 'Institutions users belong to; new ones wait for approval by contracts administrators.';
COMMENT ON COLUMN uso.institution.id IS 'Institution id.';
COMMENT ON COLUMN uso.institution.name IS 'Unique name.';
COMMENT ON COLUMN uso.institution.country IS 'Country, free text.';
COMMENT ON COLUMN uso.institution.state IS 'new, pending (awaiting approval), approved, rejected.';
COMMENT ON COLUMN uso.institution.created_at IS 'When it was entered.';
COMMENT ON COLUMN uso.institution.pending_since IS 'When it became pending approval.';
COMMENT ON COLUMN uso.institution.notified_at IS 'When NotifyNewInstitutions told the administrators (once per institution).';

CREATE TABLE uso.app_user (
    id              bigserial PRIMARY KEY,
    external_id     text,
    username        text NOT NULL,
    first_name      text NOT NULL DEFAULT '',
    last_name       text NOT NULL DEFAULT '',
    email           text NOT NULL,
    institution_id  bigint REFERENCES uso.institution (id) ON DELETE SET NULL,
    roles           text[] NOT NULL DEFAULT '{}',
    active          boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT app_user_username_key UNIQUE (username),
    CONSTRAINT app_user_external_id_key UNIQUE (external_id),
    CONSTRAINT app_user_username_check CHECK (username ~ '^[A-Za-z0-9_.@+-]{1,150}$'),
    CONSTRAINT app_user_email_check CHECK (email ~ '^[^@\s]+@[^@\s]+$')
);
CREATE INDEX app_user_roles_idx ON uso.app_user USING gin (roles);
CREATE INDEX app_user_institution_idx ON uso.app_user (institution_id);
COMMENT ON TABLE uso.app_user IS 'Users of the user office; those with an external_id are kept in step with the external user system by SyncUsers.';
COMMENT ON COLUMN uso.app_user.id IS 'User id.';
COMMENT ON COLUMN uso.app_user.external_id IS 'Id in the external user system; NULL for local accounts, which SyncUsers never touches.';
COMMENT ON COLUMN uso.app_user.username IS 'Unique login name.';
COMMENT ON COLUMN uso.app_user.first_name IS 'Given name.';
COMMENT ON COLUMN uso.app_user.last_name IS 'Family name.';
COMMENT ON COLUMN uso.app_user.email IS 'Where notifications go.';
COMMENT ON COLUMN uso.app_user.institution_id IS 'Home institution.';
COMMENT ON COLUMN uso.app_user.roles IS 'Roles such as admin, contracts-admin; a notification to a role goes to every active holder.';
COMMENT ON COLUMN uso.app_user.active IS 'False once removed from the external system (or disabled); inactive users get no mail and no reviews.';
COMMENT ON COLUMN uso.app_user.created_at IS 'When the account was created.';
COMMENT ON COLUMN uso.app_user.updated_at IS 'Last change by SyncUsers or an administrator.';

CREATE TABLE uso.registration (
    id            bigserial PRIMARY KEY,
    email         text NOT NULL,
    username      text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    activated_at  timestamptz,
    CONSTRAINT registration_email_check CHECK (email ~ '^[^@\s]+@[^@\s]+$'),
    CONSTRAINT registration_activated_check CHECK (activated_at IS NULL OR activated_at >= created_at)
);
CREATE INDEX registration_unverified_idx ON uso.registration (created_at) WHERE activated_at IS NULL;
COMMENT ON TABLE uso.registration IS 'Sign-ups waiting for e-mail verification; CleanRegistrations deletes the stale ones.';
COMMENT ON COLUMN uso.registration.id IS 'Registration id.';
COMMENT ON COLUMN uso.registration.email IS 'Address the verification mail went to.';
COMMENT ON COLUMN uso.registration.username IS 'Requested login name.';
COMMENT ON COLUMN uso.registration.created_at IS 'When the user signed up.';
COMMENT ON COLUMN uso.registration.activated_at IS 'When the e-mail was verified; NULL while unverified.';

-- ---------------------------------------------------------------- cycles
CREATE TABLE uso.cycle_type (
    id                  bigserial PRIMARY KEY,
    code                text NOT NULL,
    name                text NOT NULL,
    start_month         integer NOT NULL,
    start_day           integer NOT NULL DEFAULT 1,
    duration_months     integer NOT NULL DEFAULT 6,
    call_offset_weeks   integer NOT NULL DEFAULT 21,
    call_period_weeks   integer NOT NULL DEFAULT 4,
    review_weeks        integer NOT NULL DEFAULT 6,
    alloc_offset_weeks  integer NOT NULL DEFAULT 2,
    open_weekday        integer NOT NULL DEFAULT 3,
    close_weekday       integer NOT NULL DEFAULT 3,
    active              boolean NOT NULL DEFAULT true,
    CONSTRAINT cycle_type_code_key UNIQUE (code),
    CONSTRAINT cycle_type_code_check CHECK (code ~ '^[A-Za-z0-9_-]{1,20}$'),
    CONSTRAINT cycle_type_start_check CHECK (start_month BETWEEN 1 AND 12 AND start_day BETWEEN 1 AND 28),
    CONSTRAINT cycle_type_duration_check CHECK (duration_months BETWEEN 1 AND 12),
    CONSTRAINT cycle_type_weeks_check CHECK (call_offset_weeks >= 0 AND call_period_weeks >= 1
                                             AND review_weeks >= 0 AND alloc_offset_weeks >= 0),
    CONSTRAINT cycle_type_weekday_check CHECK (open_weekday BETWEEN 1 AND 7 AND close_weekday BETWEEN 1 AND 7)
);
COMMENT ON TABLE uso.cycle_type IS 'How the cycles of one kind derive their dates from their start; one cycle per type and year.';
COMMENT ON COLUMN uso.cycle_type.id IS 'Cycle type id.';
COMMENT ON COLUMN uso.cycle_type.code IS 'Short code, part of the cycle names (2026-A).';
COMMENT ON COLUMN uso.cycle_type.name IS 'Display name.';
COMMENT ON COLUMN uso.cycle_type.start_month IS 'Month the cycle starts (1-12).';
COMMENT ON COLUMN uso.cycle_type.start_day IS 'Day of month the cycle starts (1-28).';
COMMENT ON COLUMN uso.cycle_type.duration_months IS 'Length of the cycle: end = start + this many months.';
COMMENT ON COLUMN uso.cycle_type.call_offset_weeks IS 'The call opens in the ISO week containing start minus this many weeks.';
COMMENT ON COLUMN uso.cycle_type.call_period_weeks IS 'The call closes in the ISO week containing open plus this many weeks.';
COMMENT ON COLUMN uso.cycle_type.review_weeks IS 'Reviews are due this many weeks after the call closes.';
COMMENT ON COLUMN uso.cycle_type.alloc_offset_weeks IS 'Allocation date: this many weeks after reviews are due.';
COMMENT ON COLUMN uso.cycle_type.open_weekday IS 'ISO weekday the call opens (1 = Monday, 3 = Wednesday).';
COMMENT ON COLUMN uso.cycle_type.close_weekday IS 'ISO weekday the call closes.';
COMMENT ON COLUMN uso.cycle_type.active IS 'CreateCycles keeps cycles ahead only for active types.';

CREATE TABLE uso.cycle (
    id             bigserial PRIMARY KEY,
    cycle_type_id  bigint NOT NULL REFERENCES uso.cycle_type (id) ON DELETE RESTRICT,
    year           integer NOT NULL,
    name           text NOT NULL,
    open_date      date NOT NULL,
    close_date     date NOT NULL,
    due_date       date NOT NULL,
    alloc_date     date NOT NULL,
    start_date     date NOT NULL,
    end_date       date NOT NULL,
    state          text NOT NULL DEFAULT 'pending',
    state_changed_at timestamptz,
    CONSTRAINT cycle_type_year_key UNIQUE (cycle_type_id, year),
    CONSTRAINT cycle_name_key UNIQUE (name),
    CONSTRAINT cycle_year_check CHECK (year BETWEEN 2000 AND 2200),
    CONSTRAINT cycle_state_check CHECK (state IN ('pending', 'open', 'assign', 'review', 'evaluation',
                                                  'schedule', 'active', 'archive')),
    CONSTRAINT cycle_dates_check CHECK (open_date <= close_date AND close_date <= due_date
                                        AND due_date <= alloc_date AND alloc_date <= start_date
                                        AND start_date < end_date)
);
CREATE INDEX cycle_alloc_idx ON uso.cycle (alloc_date);
CREATE INDEX cycle_current_idx ON uso.cycle (state) WHERE state <> 'archive';
COMMENT ON TABLE uso.cycle IS 'A cycle (one per type and year): its call, review and allocation dates and where it is in its life.';
COMMENT ON COLUMN uso.cycle.id IS 'Cycle id.';
COMMENT ON COLUMN uso.cycle.cycle_type_id IS 'The type its dates derive from.';
COMMENT ON COLUMN uso.cycle.year IS 'Year of the start date.';
COMMENT ON COLUMN uso.cycle.name IS 'year-code, e.g. 2026-A.';
COMMENT ON COLUMN uso.cycle.open_date IS 'The call for proposals opens on this day.';
COMMENT ON COLUMN uso.cycle.close_date IS 'Last day of the call (it closes at the end of this day).';
COMMENT ON COLUMN uso.cycle.due_date IS 'Reviews are due on this day.';
COMMENT ON COLUMN uso.cycle.alloc_date IS 'Allocation date: CreateCallProjects runs at 00:15, NotifyProjects at 00:30 the day after.';
COMMENT ON COLUMN uso.cycle.start_date IS 'First day of beamtime.';
COMMENT ON COLUMN uso.cycle.end_date IS 'Day after the last day of beamtime (start + duration months).';
COMMENT ON COLUMN uso.cycle.state IS 'pending, open, assign, review, evaluation, schedule, active, archive; only ever moves forward.';
COMMENT ON COLUMN uso.cycle.state_changed_at IS 'When CycleStateManager last moved it.';

-- ---------------------------------------------------------------- review tracks
CREATE TABLE uso.review_track (
    id               bigserial PRIMARY KEY,
    acronym          text NOT NULL,
    name             text NOT NULL,
    require_call     boolean NOT NULL DEFAULT true,
    duration_cycles  integer NOT NULL DEFAULT 1,
    CONSTRAINT review_track_acronym_key UNIQUE (acronym),
    CONSTRAINT review_track_acronym_check CHECK (acronym ~ '^[A-Za-z0-9_-]{1,20}$'),
    CONSTRAINT review_track_duration_check CHECK (duration_cycles BETWEEN 1 AND 12)
);
COMMENT ON TABLE uso.review_track IS 'A way proposals are reviewed: call-based (general user) or rapid access.';
COMMENT ON COLUMN uso.review_track.id IS 'Track id.';
COMMENT ON COLUMN uso.review_track.acronym IS 'Short unique name (GU, RA, ...).';
COMMENT ON COLUMN uso.review_track.name IS 'Display name.';
COMMENT ON COLUMN uso.review_track.require_call IS 'True: submissions wait for the call to close; false: rapid access, reviewed any time.';
COMMENT ON COLUMN uso.review_track.duration_cycles IS 'How many cycles a project from this track lasts.';

CREATE TABLE uso.review_stage (
    id           bigserial PRIMARY KEY,
    track_id     bigint NOT NULL REFERENCES uso.review_track (id) ON DELETE CASCADE,
    position     integer NOT NULL,
    kind         text NOT NULL,
    min_reviews  integer NOT NULL DEFAULT 1,
    blocks       boolean NOT NULL DEFAULT true,
    pass_score   numeric NOT NULL,
    low_better   boolean NOT NULL DEFAULT false,
    auto_create  boolean NOT NULL DEFAULT true,
    auto_start   boolean NOT NULL DEFAULT true,
    CONSTRAINT review_stage_position_key UNIQUE (track_id, position),
    CONSTRAINT review_stage_position_check CHECK (position >= 1),
    CONSTRAINT review_stage_min_reviews_check CHECK (min_reviews BETWEEN 1 AND 20)
);
COMMENT ON TABLE uso.review_stage IS 'The stages a submission of a track walks through, in position order.';
COMMENT ON COLUMN uso.review_stage.id IS 'Stage id.';
COMMENT ON COLUMN uso.review_stage.track_id IS 'The track it belongs to.';
COMMENT ON COLUMN uso.review_stage.position IS 'Order within the track, from 1.';
COMMENT ON COLUMN uso.review_stage.kind IS 'Review type (technical, safety, scientific, ...).';
COMMENT ON COLUMN uso.review_stage.min_reviews IS 'Reviews needed to decide the stage.';
COMMENT ON COLUMN uso.review_stage.blocks IS 'A failed blocking stage rejects the submission; a failed non-blocking one is noted and passed.';
COMMENT ON COLUMN uso.review_stage.pass_score IS 'Average score needed to pass.';
COMMENT ON COLUMN uso.review_stage.low_better IS 'True when lower scores are better (average <= pass_score passes).';
COMMENT ON COLUMN uso.review_stage.auto_create IS 'AdvanceReviewWorkflow creates and assigns this stage''s reviews.';
COMMENT ON COLUMN uso.review_stage.auto_start IS 'StartReviews opens this stage''s pending reviews.';

CREATE TABLE uso.reviewer (
    id       bigserial PRIMARY KEY,
    user_id  bigint NOT NULL REFERENCES uso.app_user (id) ON DELETE CASCADE,
    active   boolean NOT NULL DEFAULT true,
    CONSTRAINT reviewer_user_key UNIQUE (user_id)
);
COMMENT ON TABLE uso.reviewer IS 'Users who review proposals.';
COMMENT ON COLUMN uso.reviewer.id IS 'Reviewer id.';
COMMENT ON COLUMN uso.reviewer.user_id IS 'The reviewing user.';
COMMENT ON COLUMN uso.reviewer.active IS 'Only active reviewers get new assignments.';

CREATE TABLE uso.reviewer_track (
    reviewer_id  bigint NOT NULL REFERENCES uso.reviewer (id) ON DELETE CASCADE,
    track_id     bigint NOT NULL REFERENCES uso.review_track (id) ON DELETE CASCADE,
    PRIMARY KEY (reviewer_id, track_id)
);
CREATE INDEX reviewer_track_track_idx ON uso.reviewer_track (track_id);
COMMENT ON TABLE uso.reviewer_track IS 'Which tracks a reviewer reviews for.';
COMMENT ON COLUMN uso.reviewer_track.reviewer_id IS 'The reviewer.';
COMMENT ON COLUMN uso.reviewer_track.track_id IS 'A track they review.';

-- ---------------------------------------------------------------- facility
CREATE TABLE uso.beamline (
    id       bigserial PRIMARY KEY,
    acronym  text NOT NULL,
    name     text NOT NULL,
    CONSTRAINT beamline_acronym_key UNIQUE (acronym),
    CONSTRAINT beamline_acronym_check CHECK (acronym ~ '^[A-Za-z0-9_-]{1,20}$')
);
COMMENT ON TABLE uso.beamline IS 'Beamlines (experimental stations) beamtime is allocated on.';
COMMENT ON COLUMN uso.beamline.id IS 'Beamline id.';
COMMENT ON COLUMN uso.beamline.acronym IS 'Short name; also the BioSync listing key.';
COMMENT ON COLUMN uso.beamline.name IS 'Display name.';

CREATE TABLE uso.beamline_staff (
    beamline_id  bigint NOT NULL REFERENCES uso.beamline (id) ON DELETE CASCADE,
    user_id      bigint NOT NULL REFERENCES uso.app_user (id) ON DELETE CASCADE,
    role         text NOT NULL DEFAULT 'staff',
    PRIMARY KEY (beamline_id, user_id),
    CONSTRAINT beamline_staff_role_check CHECK (role IN ('admin', 'staff'))
);
COMMENT ON TABLE uso.beamline_staff IS 'Beamline administrators and staff (told about automatic sign-offs).';
COMMENT ON COLUMN uso.beamline_staff.beamline_id IS 'The beamline.';
COMMENT ON COLUMN uso.beamline_staff.user_id IS 'The staff member.';
COMMENT ON COLUMN uso.beamline_staff.role IS 'admin or staff.';

-- ---------------------------------------------------------------- proposals
CREATE TABLE uso.proposal (
    id               bigserial PRIMARY KEY,
    code             text NOT NULL,
    title            text NOT NULL,
    spokesperson_id  bigint NOT NULL REFERENCES uso.app_user (id) ON DELETE RESTRICT,
    created_at       timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT proposal_code_key UNIQUE (code)
);
CREATE INDEX proposal_spokesperson_idx ON uso.proposal (spokesperson_id);
COMMENT ON TABLE uso.proposal IS 'A research proposal written by a team.';
COMMENT ON COLUMN uso.proposal.id IS 'Proposal id.';
COMMENT ON COLUMN uso.proposal.code IS 'Unique code shown to users.';
COMMENT ON COLUMN uso.proposal.title IS 'Title.';
COMMENT ON COLUMN uso.proposal.spokesperson_id IS 'The team''s contact; receives the result.';
COMMENT ON COLUMN uso.proposal.created_at IS 'When it was written.';

CREATE TABLE uso.proposal_member (
    proposal_id  bigint NOT NULL REFERENCES uso.proposal (id) ON DELETE CASCADE,
    user_id      bigint NOT NULL REFERENCES uso.app_user (id) ON DELETE CASCADE,
    PRIMARY KEY (proposal_id, user_id)
);
CREATE INDEX proposal_member_user_idx ON uso.proposal_member (user_id);
COMMENT ON TABLE uso.proposal_member IS 'The proposal team (never assigned to review their own proposal).';
COMMENT ON COLUMN uso.proposal_member.proposal_id IS 'The proposal.';
COMMENT ON COLUMN uso.proposal_member.user_id IS 'A team member.';

CREATE TABLE uso.proposal_request (
    proposal_id  bigint NOT NULL REFERENCES uso.proposal (id) ON DELETE CASCADE,
    beamline_id  bigint NOT NULL REFERENCES uso.beamline (id) ON DELETE RESTRICT,
    shifts       integer NOT NULL,
    PRIMARY KEY (proposal_id, beamline_id),
    CONSTRAINT proposal_request_shifts_check CHECK (shifts BETWEEN 1 AND 1000)
);
COMMENT ON TABLE uso.proposal_request IS 'Beamtime a proposal asks for, per beamline (becomes the first cycle''s allocations).';
COMMENT ON COLUMN uso.proposal_request.proposal_id IS 'The proposal.';
COMMENT ON COLUMN uso.proposal_request.beamline_id IS 'The beamline asked for.';
COMMENT ON COLUMN uso.proposal_request.shifts IS 'Shifts requested.';

CREATE TABLE uso.submission (
    id           bigserial PRIMARY KEY,
    proposal_id  bigint NOT NULL REFERENCES uso.proposal (id) ON DELETE CASCADE,
    track_id     bigint NOT NULL REFERENCES uso.review_track (id) ON DELETE RESTRICT,
    cycle_id     bigint NOT NULL REFERENCES uso.cycle (id) ON DELETE RESTRICT,
    state        text NOT NULL DEFAULT 'pending',
    approved     boolean,
    score        numeric,
    created_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    decided_at   timestamptz,
    notified_at  timestamptz,
    CONSTRAINT submission_key UNIQUE (proposal_id, track_id, cycle_id),
    CONSTRAINT submission_state_check CHECK (state IN ('pending', 'started', 'reviewed', 'complete')),
    CONSTRAINT submission_decision_check CHECK ((state IN ('reviewed', 'complete')) = (approved IS NOT NULL))
);
CREATE INDEX submission_open_idx ON uso.submission (cycle_id) WHERE state IN ('pending', 'started');
CREATE INDEX submission_reviewed_idx ON uso.submission (cycle_id) WHERE state = 'reviewed';
COMMENT ON TABLE uso.submission IS 'A proposal submitted to a review track in a cycle.';
COMMENT ON COLUMN uso.submission.id IS 'Submission id.';
COMMENT ON COLUMN uso.submission.proposal_id IS 'The proposal.';
COMMENT ON COLUMN uso.submission.track_id IS 'The review track.';
COMMENT ON COLUMN uso.submission.cycle_id IS 'The cycle it asks beamtime in.';
COMMENT ON COLUMN uso.submission.state IS 'pending, started (a review is open), reviewed (decided), complete (result sent).';
COMMENT ON COLUMN uso.submission.approved IS 'NULL while undecided, then true or false.';
COMMENT ON COLUMN uso.submission.score IS 'Average score of the deciding stage.';
COMMENT ON COLUMN uso.submission.created_at IS 'When it was submitted.';
COMMENT ON COLUMN uso.submission.decided_at IS 'When AdvanceReviewWorkflow decided it.';
COMMENT ON COLUMN uso.submission.notified_at IS 'When NotifyProjects sent the result.';

CREATE TABLE uso.review (
    id             bigserial PRIMARY KEY,
    submission_id  bigint NOT NULL REFERENCES uso.submission (id) ON DELETE CASCADE,
    stage_id       bigint NOT NULL REFERENCES uso.review_stage (id) ON DELETE RESTRICT,
    reviewer_id    bigint NOT NULL REFERENCES uso.reviewer (id) ON DELETE RESTRICT,
    state          text NOT NULL DEFAULT 'pending',
    due_date       date,
    score          numeric,
    created_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    opened_at      timestamptz,
    submitted_at   timestamptz,
    reminded_at    timestamptz,
    reminded_due   date,
    CONSTRAINT review_key UNIQUE (submission_id, stage_id, reviewer_id),
    CONSTRAINT review_state_check CHECK (state IN ('pending', 'open', 'submitted', 'closed')),
    CONSTRAINT review_score_check CHECK (state NOT IN ('submitted') OR score IS NOT NULL)
);
CREATE INDEX review_reviewer_open_idx ON uso.review (reviewer_id) WHERE state IN ('pending', 'open');
CREATE INDEX review_submission_idx ON uso.review (submission_id, stage_id);
CREATE INDEX review_stage_idx ON uso.review (stage_id);
CREATE INDEX review_due_idx ON uso.review (due_date) WHERE state = 'open';
COMMENT ON TABLE uso.review IS 'One reviewer''s review of a submission at one stage.';
COMMENT ON COLUMN uso.review.id IS 'Review id.';
COMMENT ON COLUMN uso.review.submission_id IS 'The submission reviewed.';
COMMENT ON COLUMN uso.review.stage_id IS 'The stage it belongs to.';
COMMENT ON COLUMN uso.review.reviewer_id IS 'Who reviews.';
COMMENT ON COLUMN uso.review.state IS 'pending (created), open (reviewer asked), submitted (scored), closed (stage decided).';
COMMENT ON COLUMN uso.review.due_date IS 'When the review is due.';
COMMENT ON COLUMN uso.review.score IS 'The reviewer''s score.';
COMMENT ON COLUMN uso.review.created_at IS 'When it was created.';
COMMENT ON COLUMN uso.review.opened_at IS 'When StartReviews opened it.';
COMMENT ON COLUMN uso.review.submitted_at IS 'When the reviewer submitted it.';
COMMENT ON COLUMN uso.review.reminded_at IS 'When RemindReviewers last reminded the reviewer of it.';
COMMENT ON COLUMN uso.review.reminded_due IS 'The due date that reminder was about (never reminded twice for one due date).';

-- ---------------------------------------------------------------- projects and beamtime
CREATE TABLE uso.project (
    id               bigserial PRIMARY KEY,
    submission_id    bigint NOT NULL REFERENCES uso.submission (id) ON DELETE RESTRICT,
    proposal_id      bigint NOT NULL REFERENCES uso.proposal (id) ON DELETE RESTRICT,
    cycle_id         bigint NOT NULL REFERENCES uso.cycle (id) ON DELETE RESTRICT,
    spokesperson_id  bigint NOT NULL REFERENCES uso.app_user (id) ON DELETE RESTRICT,
    start_date       date NOT NULL,
    end_date         date NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT project_submission_key UNIQUE (submission_id),
    CONSTRAINT project_dates_check CHECK (start_date < end_date)
);
CREATE INDEX project_cycle_idx ON uso.project (cycle_id);
COMMENT ON TABLE uso.project IS 'Beamtime project created from an approved submission.';
COMMENT ON COLUMN uso.project.id IS 'Project id.';
COMMENT ON COLUMN uso.project.submission_id IS 'The approved submission (one project each).';
COMMENT ON COLUMN uso.project.proposal_id IS 'Its proposal.';
COMMENT ON COLUMN uso.project.cycle_id IS 'The first cycle of the project.';
COMMENT ON COLUMN uso.project.spokesperson_id IS 'The proposal''s spokesperson when the project was made.';
COMMENT ON COLUMN uso.project.start_date IS 'First day (start of the first cycle).';
COMMENT ON COLUMN uso.project.end_date IS 'Day after the last day (track duration in cycles).';
COMMENT ON COLUMN uso.project.created_at IS 'When it was created.';

CREATE TABLE uso.allocation_request (
    project_id   bigint NOT NULL REFERENCES uso.project (id) ON DELETE CASCADE,
    cycle_id     bigint NOT NULL REFERENCES uso.cycle (id) ON DELETE RESTRICT,
    beamline_id  bigint NOT NULL REFERENCES uso.beamline (id) ON DELETE RESTRICT,
    shifts       integer NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (project_id, cycle_id, beamline_id),
    CONSTRAINT allocation_request_shifts_check CHECK (shifts BETWEEN 1 AND 1000)
);
CREATE INDEX allocation_request_cycle_idx ON uso.allocation_request (cycle_id);
COMMENT ON TABLE uso.allocation_request IS 'Renewal: a running project asks beamtime in a later cycle.';
COMMENT ON COLUMN uso.allocation_request.project_id IS 'The project.';
COMMENT ON COLUMN uso.allocation_request.cycle_id IS 'The cycle asked for.';
COMMENT ON COLUMN uso.allocation_request.beamline_id IS 'The beamline.';
COMMENT ON COLUMN uso.allocation_request.shifts IS 'Shifts requested.';
COMMENT ON COLUMN uso.allocation_request.created_at IS 'When it was asked.';

CREATE TABLE uso.allocation (
    project_id        bigint NOT NULL REFERENCES uso.project (id) ON DELETE CASCADE,
    cycle_id          bigint NOT NULL REFERENCES uso.cycle (id) ON DELETE RESTRICT,
    beamline_id       bigint NOT NULL REFERENCES uso.beamline (id) ON DELETE RESTRICT,
    requested_shifts  integer NOT NULL,
    allocated_shifts  integer,
    created_at        timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (project_id, cycle_id, beamline_id),
    CONSTRAINT allocation_shifts_check CHECK (requested_shifts >= 0 AND (allocated_shifts IS NULL OR allocated_shifts >= 0))
);
CREATE INDEX allocation_cycle_idx ON uso.allocation (cycle_id, beamline_id);
COMMENT ON TABLE uso.allocation IS 'Beamtime of a project on a beamline in a cycle: requested, then allocated by the committee.';
COMMENT ON COLUMN uso.allocation.project_id IS 'The project.';
COMMENT ON COLUMN uso.allocation.cycle_id IS 'The cycle.';
COMMENT ON COLUMN uso.allocation.beamline_id IS 'The beamline.';
COMMENT ON COLUMN uso.allocation.requested_shifts IS 'Shifts requested.';
COMMENT ON COLUMN uso.allocation.allocated_shifts IS 'Shifts allocated; NULL until the committee decides.';
COMMENT ON COLUMN uso.allocation.created_at IS 'When it was created.';

CREATE TABLE uso.beamtime_session (
    id             bigserial PRIMARY KEY,
    project_id     bigint NOT NULL REFERENCES uso.project (id) ON DELETE CASCADE,
    beamline_id    bigint NOT NULL REFERENCES uso.beamline (id) ON DELETE RESTRICT,
    staff_id       bigint REFERENCES uso.app_user (id) ON DELETE SET NULL,
    starts_at      timestamptz NOT NULL,
    ends_at        timestamptz NOT NULL,
    state          text NOT NULL DEFAULT 'ready',
    signed_on_at   timestamptz,
    signed_off_at  timestamptz,
    signed_off_by  text,
    signed_off     boolean GENERATED ALWAYS AS (signed_off_at IS NOT NULL) STORED,
    CONSTRAINT beamtime_session_times_check CHECK (starts_at < ends_at),
    CONSTRAINT beamtime_session_state_check CHECK (state IN ('ready', 'live', 'complete', 'cancelled', 'terminated')),
    CONSTRAINT beamtime_session_signoff_check CHECK ((signed_off_at IS NULL) = (signed_off_by IS NULL))
);
CREATE INDEX beamtime_session_unsigned_idx ON uso.beamtime_session (ends_at) WHERE state IN ('ready', 'live');
CREATE INDEX beamtime_session_project_idx ON uso.beamtime_session (project_id);
COMMENT ON TABLE uso.beamtime_session IS 'A slot of beamtime: signed on when it starts (live), signed off when done (complete).';
COMMENT ON COLUMN uso.beamtime_session.id IS 'Session id.';
COMMENT ON COLUMN uso.beamtime_session.project_id IS 'The project the beamtime belongs to.';
COMMENT ON COLUMN uso.beamtime_session.beamline_id IS 'Where.';
COMMENT ON COLUMN uso.beamtime_session.staff_id IS 'Local contact on duty.';
COMMENT ON COLUMN uso.beamtime_session.starts_at IS 'Start of the slot.';
COMMENT ON COLUMN uso.beamtime_session.ends_at IS 'End of the slot.';
COMMENT ON COLUMN uso.beamtime_session.state IS 'ready, live (signed on), complete (signed off), cancelled, terminated.';
COMMENT ON COLUMN uso.beamtime_session.signed_on_at IS 'When the team signed on.';
COMMENT ON COLUMN uso.beamtime_session.signed_off_at IS 'When it was signed off.';
COMMENT ON COLUMN uso.beamtime_session.signed_off_by IS 'Who signed it off: a username, or ''auto'' for AutoSignOff.';
COMMENT ON COLUMN uso.beamtime_session.signed_off IS 'True once signed off (by anyone).';

CREATE TABLE uso.session_history (
    id          bigserial PRIMARY KEY,
    session_id  bigint NOT NULL REFERENCES uso.beamtime_session (id) ON DELETE CASCADE,
    at          timestamptz NOT NULL,
    line        text NOT NULL
);
CREATE INDEX session_history_session_idx ON uso.session_history (session_id, at);
COMMENT ON TABLE uso.session_history IS 'What happened to a beamtime session, line by line.';
COMMENT ON COLUMN uso.session_history.id IS 'Line id.';
COMMENT ON COLUMN uso.session_history.session_id IS 'The session.';
COMMENT ON COLUMN uso.session_history.at IS 'When.';
COMMENT ON COLUMN uso.session_history.line IS 'What.';

-- ---------------------------------------------------------------- publications
CREATE TABLE uso.journal (
    id     bigserial PRIMARY KEY,
    issn   text NOT NULL,
    title  text NOT NULL,
    CONSTRAINT journal_issn_key UNIQUE (issn),
    CONSTRAINT journal_issn_check CHECK (issn ~ '^[0-9]{7}[0-9X]$')
);
COMMENT ON TABLE uso.journal IS 'Journals publications appear in.';
COMMENT ON COLUMN uso.journal.id IS 'Journal id.';
COMMENT ON COLUMN uso.journal.issn IS 'ISSN as 8 characters without the hyphen (SCImago''s form).';
COMMENT ON COLUMN uso.journal.title IS 'Title.';

CREATE TABLE uso.journal_metric (
    journal_id     bigint NOT NULL REFERENCES uso.journal (id) ON DELETE CASCADE,
    year           integer NOT NULL,
    sjr            numeric,
    h_index        integer,
    impact_factor  numeric,
    updated_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (journal_id, year)
);
COMMENT ON TABLE uso.journal_metric IS 'Journal metrics per year from the SCImago journal-rank export (UpdateMetrics).';
COMMENT ON COLUMN uso.journal_metric.journal_id IS 'The journal.';
COMMENT ON COLUMN uso.journal_metric.year IS 'Year the metrics describe.';
COMMENT ON COLUMN uso.journal_metric.sjr IS 'SCImago Journal Rank.';
COMMENT ON COLUMN uso.journal_metric.h_index IS 'H index.';
COMMENT ON COLUMN uso.journal_metric.impact_factor IS 'Citations per document over two years (impact factor).';
COMMENT ON COLUMN uso.journal_metric.updated_at IS 'When UpdateMetrics last changed it.';

CREATE TABLE uso.publication (
    id                    bigserial PRIMARY KEY,
    doi                   text NOT NULL,
    title                 text NOT NULL DEFAULT '',
    journal_id            bigint REFERENCES uso.journal (id) ON DELETE SET NULL,
    authors               text,
    subjects              text[],
    volume                text,
    issue                 text,
    pages                 text,
    published             date,
    citations             integer,
    citations_checked_at  timestamptz,
    metadata_updated_at   timestamptz,
    created_at            timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT publication_doi_key UNIQUE (doi),
    CONSTRAINT publication_doi_check CHECK (doi = pg_catalog.lower(doi) AND doi ~ '^10\.[0-9]{4,9}/\S+$'),
    CONSTRAINT publication_citations_check CHECK (citations >= 0)
);
CREATE INDEX publication_published_idx ON uso.publication (published);
COMMENT ON TABLE uso.publication IS 'Articles from facility beamtime, identified by DOI.';
COMMENT ON COLUMN uso.publication.id IS 'Publication id.';
COMMENT ON COLUMN uso.publication.doi IS 'DOI, lower case (10.xxxx/...).';
COMMENT ON COLUMN uso.publication.title IS 'Title (from CrossRef).';
COMMENT ON COLUMN uso.publication.journal_id IS 'Journal it appeared in.';
COMMENT ON COLUMN uso.publication.authors IS 'Authors, "Given Family" joined by "; ".';
COMMENT ON COLUMN uso.publication.subjects IS 'CrossRef subjects.';
COMMENT ON COLUMN uso.publication.volume IS 'Volume.';
COMMENT ON COLUMN uso.publication.issue IS 'Issue.';
COMMENT ON COLUMN uso.publication.pages IS 'Pages.';
COMMENT ON COLUMN uso.publication.published IS 'Issued date.';
COMMENT ON COLUMN uso.publication.citations IS 'Citation count (CrossRef is-referenced-by-count).';
COMMENT ON COLUMN uso.publication.citations_checked_at IS 'When FetchCitations last asked CrossRef.';
COMMENT ON COLUMN uso.publication.metadata_updated_at IS 'When UpdatePublications last changed the metadata.';
COMMENT ON COLUMN uso.publication.created_at IS 'When it was entered.';

CREATE TABLE uso.publication_history (
    id              bigserial PRIMARY KEY,
    publication_id  bigint NOT NULL REFERENCES uso.publication (id) ON DELETE CASCADE,
    at              timestamptz NOT NULL,
    line            text NOT NULL
);
CREATE INDEX publication_history_publication_idx ON uso.publication_history (publication_id, at);
COMMENT ON TABLE uso.publication_history IS 'Changes to a publication (citation counts, metadata), line by line.';
COMMENT ON COLUMN uso.publication_history.id IS 'Line id.';
COMMENT ON COLUMN uso.publication_history.publication_id IS 'The publication.';
COMMENT ON COLUMN uso.publication_history.at IS 'When.';
COMMENT ON COLUMN uso.publication_history.line IS 'What changed.';

CREATE TABLE uso.pdb_deposit (
    id              bigserial PRIMARY KEY,
    pdb_code        text NOT NULL,
    beamline_id     bigint REFERENCES uso.beamline (id) ON DELETE SET NULL,
    title           text,
    deposited       date,
    released        date,
    doi             text,
    publication_id  bigint REFERENCES uso.publication (id) ON DELETE SET NULL,
    fetched_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT pdb_deposit_code_key UNIQUE (pdb_code),
    CONSTRAINT pdb_deposit_code_check CHECK (pdb_code ~ '^[0-9][A-Z0-9]{3}$')
);
CREATE INDEX pdb_deposit_doi_idx ON uso.pdb_deposit (doi);
COMMENT ON TABLE uso.pdb_deposit IS 'PDB depositions from facility beamlines (FetchBioSync), linked to articles by DOI.';
COMMENT ON COLUMN uso.pdb_deposit.id IS 'Deposit id.';
COMMENT ON COLUMN uso.pdb_deposit.pdb_code IS 'PDB id, upper case (1ABC).';
COMMENT ON COLUMN uso.pdb_deposit.beamline_id IS 'Beamline the data was collected on.';
COMMENT ON COLUMN uso.pdb_deposit.title IS 'Structure title from the entry header.';
COMMENT ON COLUMN uso.pdb_deposit.deposited IS 'Deposition date.';
COMMENT ON COLUMN uso.pdb_deposit.released IS 'Release date; NULL while on hold.';
COMMENT ON COLUMN uso.pdb_deposit.doi IS 'DOI of the primary citation, lower case.';
COMMENT ON COLUMN uso.pdb_deposit.publication_id IS 'The publication with that DOI, when known.';
COMMENT ON COLUMN uso.pdb_deposit.fetched_at IS 'When FetchBioSync last changed it.';

-- ---------------------------------------------------------------- notifications
CREATE TABLE uso.notification (
    id          bigserial PRIMARY KEY,
    kind        text NOT NULL,
    user_id     bigint REFERENCES uso.app_user (id) ON DELETE SET NULL,
    recipient   text NOT NULL,
    subject     text NOT NULL,
    body        text NOT NULL,
    context     jsonb NOT NULL DEFAULT '{}',
    status      text NOT NULL DEFAULT 'pending',
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    send_after  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    sent_at     timestamptz,
    attempts    integer NOT NULL DEFAULT 0,
    last_error  text,
    CONSTRAINT notification_kind_check CHECK (kind IN ('review-request', 'review-reminder', 'auto-sign-off',
                                                       'submission-success', 'submission-fail',
                                                       'new-institutions')),
    CONSTRAINT notification_recipient_check CHECK (recipient ~ '^[^@\s]+@[^@\s]+$'),
    CONSTRAINT notification_status_check CHECK (status IN ('pending', 'sent', 'failed')),
    CONSTRAINT notification_sent_check CHECK ((status = 'sent') = (sent_at IS NOT NULL)),
    CONSTRAINT notification_attempts_check CHECK (attempts >= 0)
);
CREATE INDEX notification_due_idx ON uso.notification (send_after, id) WHERE status = 'pending';
COMMENT ON TABLE uso.notification IS 'Outbox: mail the tasks want sent; DeliverNotifications sends it through SMTP.';
COMMENT ON COLUMN uso.notification.id IS 'Notification id (also the send order).';
COMMENT ON COLUMN uso.notification.kind IS 'Template: review-request, review-reminder, auto-sign-off, submission-success, submission-fail, new-institutions.';
COMMENT ON COLUMN uso.notification.user_id IS 'The user it is for, when it is for a user.';
COMMENT ON COLUMN uso.notification.recipient IS 'E-mail address.';
COMMENT ON COLUMN uso.notification.subject IS 'Subject line.';
COMMENT ON COLUMN uso.notification.body IS 'Plain-text body.';
COMMENT ON COLUMN uso.notification.context IS 'What the message is about (ids), for the web app.';
COMMENT ON COLUMN uso.notification.status IS 'pending, sent, failed (gave up after the configured attempts).';
COMMENT ON COLUMN uso.notification.created_at IS 'When it was queued.';
COMMENT ON COLUMN uso.notification.send_after IS 'Not sent before this (backoff after a failed attempt).';
COMMENT ON COLUMN uso.notification.sent_at IS 'When the SMTP server accepted it.';
COMMENT ON COLUMN uso.notification.attempts IS 'Delivery attempts so far.';
COMMENT ON COLUMN uso.notification.last_error IS 'Error of the last failed attempt.';

-- pg_dump keeps the domain data (the extension creates no rows in these
-- tables). One call per statement: each call updates pg_extension's row.
DO $$
DECLARE
    rel pg_catalog.regclass;
BEGIN
    FOR rel IN SELECT c.oid FROM pg_catalog.pg_class c
               WHERE c.relnamespace = 'uso'::pg_catalog.regnamespace AND c.relkind IN ('r', 'S')
               ORDER BY c.relname
    LOOP
        PERFORM pg_catalog.pg_extension_config_dump(rel, '');
    END LOOP;
END
$$;
-- uso_tasks: the USO task pack, part 2: helpers, cycles and the review workflow.
--
-- Every task is a function uso.<name>(as_of timestamptz, config jsonb) returning
-- the run's message. as_of NULL means now(); config NULL means the registered
-- task's config (uso_task.config), otherwise it is laid over it, so tests can
-- call the functions directly with fixed instants and their own settings.
-- "Today" is the local date in the facility time zone (uso_tasks.timezone, else
-- the session's TimeZone). Progress goes out as NOTICE lines (the run log);
-- an item that fails is a WARNING and counted as skipped, the rest commits.

-- ---------------------------------------------------------------- helpers

CREATE FUNCTION uso.local_zone() RETURNS text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT coalesce(nullif(current_setting('uso_tasks.timezone', true), ''),
                          current_setting('TimeZone')) $$;
COMMENT ON FUNCTION uso.local_zone() IS
    'The facility time zone: uso_tasks.timezone, or the session TimeZone when that is empty.';

CREATE FUNCTION uso.local_date(as_of timestamptz DEFAULT NULL) RETURNS date
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT (coalesce(as_of, now()) AT TIME ZONE uso.local_zone())::date $$;
COMMENT ON FUNCTION uso.local_date(timestamptz) IS
    'The local date (facility time zone) at as_of (NULL = now): the tasks'' "today".';

CREATE FUNCTION uso.local_instant(d date, t time) RETURNS timestamptz
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT (d + t) AT TIME ZONE uso.local_zone() $$;
COMMENT ON FUNCTION uso.local_instant(date, time) IS
    'The instant of local time t on local date d in the facility time zone.';

-- The registered task's config with the caller's settings laid over it.
CREATE FUNCTION uso.task_config(task text, config jsonb) RETURNS jsonb
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT coalesce((SELECT t.config FROM @extschema@.uso_task t WHERE t.name = task), '{}')
               || coalesce(config, '{}')
    $$;
COMMENT ON FUNCTION uso.task_config(text, jsonb) IS
    'Settings of a USO task: its registered config (uso_task.config) overlaid with the config argument.';

-- Reads an interval setting, with a clear error naming the key when it is bad.
CREATE FUNCTION uso.config_interval(cfg jsonb, key text, dflt interval) RETURNS interval
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF cfg->>key IS NULL THEN
        RETURN dflt;
    END IF;
    RETURN (cfg->>key)::interval;
EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow THEN
    RAISE EXCEPTION 'config key "%" is not an interval: %', key, cfg->>key
        USING ERRCODE = 'invalid_parameter_value';
END
$$;
COMMENT ON FUNCTION uso.config_interval(jsonb, text, interval) IS
    'Interval setting key of a task config (PostgreSQL or ISO 8601 syntax), dflt when absent.';

CREATE FUNCTION uso.config_int(cfg jsonb, key text, dflt integer) RETURNS integer
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF cfg->>key IS NULL THEN
        RETURN dflt;
    END IF;
    RETURN (cfg->>key)::integer;
EXCEPTION WHEN invalid_text_representation OR numeric_value_out_of_range THEN
    RAISE EXCEPTION 'config key "%" is not an integer: %', key, cfg->>key
        USING ERRCODE = 'invalid_parameter_value';
END
$$;
COMMENT ON FUNCTION uso.config_int(jsonb, text, integer) IS
    'Integer setting key of a task config, dflt when absent.';

-- A run message with the skipped count appended when there is one.
CREATE FUNCTION uso.with_skipped(msg text, skipped integer, what text DEFAULT 'item(s)') RETURNS text
    LANGUAGE sql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT CASE WHEN skipped > 0 THEN msg || format(', %s %s skipped (see warnings)', skipped, what)
                      ELSE msg END $$;
COMMENT ON FUNCTION uso.with_skipped(text, integer, text) IS
    'Appends ", N <what> skipped (see warnings)" to a run message when N > 0.';

-- ---------------------------------------------------------------- cycles

-- The weekday wd (ISO, 1 = Monday) of the ISO week that contains d.
CREATE FUNCTION uso.weekday_of_week(d date, wd integer) RETURNS date
    LANGUAGE sql IMMUTABLE STRICT
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT d - (extract(isodow FROM d)::integer - 1) + (wd - 1) $$;
COMMENT ON FUNCTION uso.weekday_of_week(date, integer) IS
    'The given ISO weekday (1 = Monday) of the ISO week containing d.';

CREATE FUNCTION uso.cycle_dates(ct uso.cycle_type, yr integer,
        OUT open_date date, OUT close_date date, OUT due_date date,
        OUT alloc_date date, OUT start_date date, OUT end_date date)
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT o.d, c.d, c.d + 7 * ct.review_weeks,
               c.d + 7 * (ct.review_weeks + ct.alloc_offset_weeks),
               s.d, (s.d + make_interval(months => ct.duration_months))::date
        FROM (SELECT make_date(yr, ct.start_month, ct.start_day) AS d) s,
             LATERAL (SELECT uso.weekday_of_week(s.d - 7 * ct.call_offset_weeks, ct.open_weekday) AS d) o,
             LATERAL (SELECT uso.weekday_of_week(o.d + 7 * ct.call_period_weeks, ct.close_weekday) AS d) c
    $$;
COMMENT ON FUNCTION uso.cycle_dates(uso.cycle_type, integer) IS
    'Dates of the cycle of type ct in year yr: start = yr-month-day; open = open weekday of the ISO week of start - call offset; close = close weekday of the ISO week of open + call period; due = close + review weeks; alloc = due + allocation offset; end = start + duration months.';

/*
 * CreateCycles: every active cycle type has its cycles for this year and the
 * next two, plus last year's while it is still running (a cycle type crossing
 * the new year), so there is never a gap between the running cycle and the
 * ones ahead. Existing cycles are never touched (ON CONFLICT DO NOTHING).
 */
CREATE FUNCTION uso.create_cycles(as_of timestamptz DEFAULT NULL, config jsonb DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cfg       jsonb := uso.task_config('CreateCycles', config);
    today     date := uso.local_date(as_of);
    years     integer := uso.config_int(cfg, 'years_ahead', 2);
    ct        uso.cycle_type;
    n         integer;
    created   integer := 0;
    skipped   integer := 0;
BEGIN
    FOR ct IN SELECT * FROM uso.cycle_type WHERE active ORDER BY code LOOP
        BEGIN
            INSERT INTO uso.cycle (cycle_type_id, year, name, open_date, close_date, due_date,
                                   alloc_date, start_date, end_date)
            SELECT ct.id, y, format('%s-%s', y, ct.code), d.open_date, d.close_date, d.due_date,
                   d.alloc_date, d.start_date, d.end_date
            FROM generate_series(extract(year FROM today)::integer - 1,
                                 extract(year FROM today)::integer + years) AS y,
                 LATERAL uso.cycle_dates(ct, y) AS d
            WHERE y >= extract(year FROM today) OR d.end_date > today
            ORDER BY y
            ON CONFLICT (cycle_type_id, year) DO NOTHING;
            GET DIAGNOSTICS n = ROW_COUNT;
            IF n > 0 THEN
                RAISE NOTICE 'created % cycle(s) for cycle type %', n, ct.code;
            END IF;
            created := created + n;
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'cycle type % skipped: %', ct.code, SQLERRM;
            skipped := skipped + 1;
        END;
    END LOOP;
    RETURN uso.with_skipped(format('%s cycle(s) created', created), skipped, 'cycle type(s)');
END
$$;
COMMENT ON FUNCTION uso.create_cycles(timestamptz, jsonb) IS
    'CreateCycles task: cycles of every active cycle type for this year and the next two (config years_ahead), no gap, no duplicate.';

/*
 * CycleStateManager: the state each cycle's dates call for, applied only when
 * it is further along than the current one, so a cycle never moves back (USO
 * flips cycles between evaluation and schedule on the allocation date).
 * "review" needs a started review; a cycle whose due date passed moves on anyway.
 */
CREATE FUNCTION uso.cycle_state_manager(as_of timestamptz DEFAULT NULL, config jsonb DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    states  text[] := ARRAY['pending', 'open', 'assign', 'review', 'evaluation', 'schedule', 'active', 'archive'];
    today   date := uso.local_date(as_of);
    r       record;
    moved   integer := 0;
BEGIN
    FOR r IN
        WITH target AS (
            SELECT c.id, c.state AS old_state,
                   CASE WHEN today >= c.end_date THEN 8
                        WHEN today >= c.start_date THEN 7
                        WHEN today >= c.alloc_date THEN 6
                        WHEN today >= c.due_date THEN 5
                        WHEN today > c.close_date AND EXISTS (
                            SELECT FROM uso.submission s JOIN uso.review rv ON rv.submission_id = s.id
                            WHERE s.cycle_id = c.id AND rv.state <> 'pending') THEN 4
                        WHEN today > c.close_date THEN 3
                        WHEN today >= c.open_date THEN 2
                        ELSE 1 END AS rank
            FROM uso.cycle c
            WHERE c.state <> 'archive'
            FOR UPDATE OF c
        ), moved AS (
            UPDATE uso.cycle c
            SET state = states[t.rank], state_changed_at = coalesce(as_of, now())
            FROM target t
            WHERE c.id = t.id AND t.rank > array_position(states, t.old_state)
            RETURNING c.name, t.old_state, c.state
        )
        SELECT * FROM moved ORDER BY name
    LOOP
        RAISE NOTICE 'cycle %: % -> %', r.name, r.old_state, r.state;
        moved := moved + 1;
    END LOOP;
    RETURN format('%s cycle(s) moved forward', moved);
END
$$;
COMMENT ON FUNCTION uso.cycle_state_manager(timestamptz, jsonb) IS
    'CycleStateManager task: moves cycles forward (never back) through pending, open, assign, review, evaluation, schedule, active, archive by their dates.';

-- ---------------------------------------------------------------- review workflow

/*
 * Assigns up to need reviewers to one stage of one submission: active
 * reviewers of the track, not on the proposal's team, not yet reviewing this
 * stage of it, fewest open (pending or open) assignments first. Returns how
 * many reviews it created (fewer than need when too few reviewers qualify).
 */
CREATE FUNCTION uso.assign_reviews(submission_id bigint, stage_id bigint, need integer,
                                   due date, created timestamptz)
    RETURNS integer
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    n integer;
BEGIN
    INSERT INTO uso.review (submission_id, stage_id, reviewer_id, state, due_date, created_at)
    SELECT s.id, assign_reviews.stage_id, rv.id, 'pending', due, created
    FROM uso.submission s
    JOIN uso.proposal p ON p.id = s.proposal_id
    JOIN uso.reviewer_track rt ON rt.track_id = s.track_id
    JOIN uso.reviewer rv ON rv.id = rt.reviewer_id AND rv.active
    JOIN uso.app_user u ON u.id = rv.user_id AND u.active
    WHERE s.id = assign_reviews.submission_id
      AND u.id <> p.spokesperson_id
      AND NOT EXISTS (SELECT FROM uso.proposal_member m
                      WHERE m.proposal_id = p.id AND m.user_id = u.id)
      AND NOT EXISTS (SELECT FROM uso.review x
                      WHERE x.submission_id = s.id AND x.stage_id = assign_reviews.stage_id
                        AND x.reviewer_id = rv.id)
    ORDER BY (SELECT count(*) FROM uso.review o
              WHERE o.reviewer_id = rv.id AND o.state IN ('pending', 'open')), rv.id
    LIMIT need;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
COMMENT ON FUNCTION uso.assign_reviews(bigint, bigint, integer, date, timestamptz) IS
    'Creates up to need pending reviews for a stage of a submission, fairest reviewers first (fewest open assignments, never the proposal team).';

/*
 * Walks one submission's stages in order and does the next step: create the
 * missing reviews of the first undecided stage, wait while reviews are out,
 * or decide a stage whose reviews are all in (close them; a failed blocking
 * stage rejects the submission; after the last stage it is approved).
 * Returns 'created:<n>', 'approved', 'rejected' or 'waiting'.
 */
CREATE FUNCTION uso.advance_submission(sub_id bigint, today date, review_days integer, at timestamptz)
    RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    sub       record;
    st        uso.review_stage;
    rv        record;
    passed    boolean;
    last_avg  numeric;
    stages    integer := 0;
    due       date;
    n         integer;
BEGIN
    SELECT s.id, p.code, c.due_date, t.acronym, t.id AS track_id
    INTO sub
    FROM uso.submission s
    JOIN uso.proposal p ON p.id = s.proposal_id
    JOIN uso.cycle c ON c.id = s.cycle_id
    JOIN uso.review_track t ON t.id = s.track_id
    WHERE s.id = sub_id
    FOR UPDATE OF s;

    FOR st IN SELECT * FROM uso.review_stage WHERE track_id = sub.track_id ORDER BY position LOOP
        stages := stages + 1;
        SELECT count(*) AS total,
               count(*) FILTER (WHERE state IN ('pending', 'open')) AS outstanding,
               count(*) FILTER (WHERE state = 'closed') AS closed,
               avg(score) FILTER (WHERE state IN ('submitted', 'closed')) AS avg_score
        INTO rv
        FROM uso.review WHERE submission_id = sub.id AND stage_id = st.id;

        IF rv.outstanding > 0 THEN
            RETURN 'waiting';
        END IF;
        IF rv.total > 0 AND rv.closed = rv.total AND rv.total >= st.min_reviews THEN
            last_avg := rv.avg_score;       -- decided (and passed) in an earlier run
            CONTINUE;
        END IF;
        IF rv.total < st.min_reviews THEN
            IF NOT st.auto_create THEN
                RETURN 'waiting';           -- an administrator assigns this stage
            END IF;
            due := CASE WHEN sub.due_date > today THEN least(sub.due_date, today + review_days)
                        ELSE today + review_days END;
            n := uso.assign_reviews(sub.id, st.id, (st.min_reviews - rv.total)::integer, due, at);
            IF n > 0 THEN
                RAISE NOTICE 'submission % (%): % review(s) created for stage % (%)',
                    sub.id, sub.code, n, st.position, st.kind;
            END IF;
            IF n < st.min_reviews - rv.total THEN
                RAISE WARNING 'submission % (%): stage % (%) needs % more reviewer(s) than track % has available',
                    sub.id, sub.code, st.position, st.kind, st.min_reviews - rv.total - n, sub.acronym;
            END IF;
            RETURN 'created:' || n;
        END IF;

        -- every review of the stage is in: decide it
        passed := CASE WHEN st.low_better THEN rv.avg_score <= st.pass_score
                       ELSE rv.avg_score >= st.pass_score END;
        UPDATE uso.review SET state = 'closed'
        WHERE submission_id = sub.id AND stage_id = st.id AND state = 'submitted';
        RAISE NOTICE 'submission % (%): stage % (%) % with average score %',
            sub.id, sub.code, st.position, st.kind,
            CASE WHEN passed THEN 'passed' ELSE 'failed' END, round(rv.avg_score, 2);
        IF NOT passed AND st.blocks THEN
            UPDATE uso.submission
            SET state = 'reviewed', approved = false, score = rv.avg_score, decided_at = at
            WHERE id = sub.id;
            RAISE NOTICE 'submission % (%) rejected', sub.id, sub.code;
            RETURN 'rejected';
        END IF;
        last_avg := rv.avg_score;
    END LOOP;

    IF stages = 0 THEN
        RAISE EXCEPTION 'review track % has no review stages', sub.acronym
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE uso.submission
    SET state = 'reviewed', approved = true, score = last_avg, decided_at = at
    WHERE id = sub.id;
    RAISE NOTICE 'submission % (%) approved', sub.id, sub.code;
    RETURN 'approved';
END
$$;
COMMENT ON FUNCTION uso.advance_submission(bigint, date, integer, timestamptz) IS
    'One AdvanceReviewWorkflow step for one submission: create reviews, wait, or decide a stage; returns what it did.';

/*
 * AdvanceReviewWorkflow: undecided submissions of call tracks whose cycle's
 * call has closed, and of rapid-access tracks in any current cycle, each in
 * its own subtransaction so one broken submission is a WARNING, not a failure.
 */
CREATE FUNCTION uso.advance_review_workflow(as_of timestamptz DEFAULT NULL, config jsonb DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cfg       jsonb := uso.task_config('AdvanceReviewWorkflow', config);
    today     date := uso.local_date(as_of);
    days      integer := uso.config_int(cfg, 'review_days', 14);
    at        timestamptz := coalesce(as_of, now());
    sub       record;
    outcome   text;
    created   integer := 0;
    approved  integer := 0;
    rejected  integer := 0;
    skipped   integer := 0;
BEGIN
    FOR sub IN
        SELECT s.id, p.code
        FROM uso.submission s
        JOIN uso.proposal p ON p.id = s.proposal_id
        JOIN uso.review_track t ON t.id = s.track_id
        JOIN uso.cycle c ON c.id = s.cycle_id
        WHERE s.state IN ('pending', 'started')
          AND CASE WHEN t.require_call THEN today > c.close_date
                   ELSE today >= c.open_date AND today < c.end_date END
        ORDER BY s.id
    LOOP
        BEGIN
            outcome := uso.advance_submission(sub.id, today, days, at);
            IF outcome LIKE 'created:%' THEN
                created := created + split_part(outcome, ':', 2)::integer;
            ELSIF outcome = 'approved' THEN
                approved := approved + 1;
            ELSIF outcome = 'rejected' THEN
                rejected := rejected + 1;
            END IF;
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'submission % (%) skipped: %', sub.id, sub.code, SQLERRM;
            skipped := skipped + 1;
        END;
    END LOOP;
    RETURN uso.with_skipped(format('%s review(s) created, %s submission(s) approved, %s rejected',
                                   created, approved, rejected), skipped, 'submission(s)');
END
$$;
COMMENT ON FUNCTION uso.advance_review_workflow(timestamptz, jsonb) IS
    'AdvanceReviewWorkflow task: walks each undecided submission through its track''s review stages (config review_days: longest review period).';

/*
 * StartReviews: opens the pending reviews of auto-start stages (due date set
 * if missing) and queues ONE 'review-request' per reviewer listing all the
 * reviews opened for them in this run; pending submissions with an open
 * review become started.
 */
CREATE FUNCTION uso.start_reviews(as_of timestamptz DEFAULT NULL, config jsonb DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cfg       jsonb := uso.task_config('StartReviews', config);
    today     date := uso.local_date(as_of);
    days      integer := uso.config_int(cfg, 'review_days', 14);
    at        timestamptz := coalesce(as_of, now());
    r         record;
    opened    integer := 0;
    notified  integer := 0;
    started   integer;
BEGIN
    FOR r IN
        WITH opened AS (
            UPDATE uso.review rv
            SET state = 'open', opened_at = at,
                due_date = coalesce(rv.due_date,
                                    CASE WHEN c.due_date > today THEN least(c.due_date, today + days)
                                         ELSE today + days END)
            FROM uso.review_stage st, uso.submission s, uso.cycle c
            WHERE st.id = rv.stage_id AND st.auto_start AND rv.state = 'pending'
              AND s.id = rv.submission_id AND c.id = s.cycle_id
            RETURNING rv.id, rv.reviewer_id, rv.submission_id, rv.due_date, st.kind
        ), per_reviewer AS (
            SELECT u.id AS user_id, u.username, u.email, u.first_name, count(*) AS n,
                   string_agg(format('  - %s "%s" (%s review), due %s', p.code, p.title, o.kind, o.due_date),
                              E'\n' ORDER BY o.due_date, p.code, o.id) AS lines,
                   jsonb_agg(o.id ORDER BY o.id) AS review_ids
            FROM opened o
            JOIN uso.reviewer rvr ON rvr.id = o.reviewer_id
            JOIN uso.app_user u ON u.id = rvr.user_id
            JOIN uso.submission s ON s.id = o.submission_id
            JOIN uso.proposal p ON p.id = s.proposal_id
            GROUP BY u.id
        ), queued AS (
            INSERT INTO uso.notification (kind, user_id, recipient, subject, body, context, created_at, send_after)
            SELECT 'review-request', pr.user_id, pr.email,
                   format('Review request: %s proposal(s) to review', pr.n),
                   format(E'Dear %s,\n\nyou have been assigned the following review(s):\n%s\n\n'
                          'Please submit them in the User Office before their due dates.\n',
                          coalesce(nullif(pr.first_name, ''), pr.username), pr.lines),
                   jsonb_build_object('reviews', pr.review_ids), at, at
            FROM per_reviewer pr
            RETURNING user_id, jsonb_array_length(context->'reviews') AS n
        )
        SELECT u.username, q.n FROM queued q JOIN uso.app_user u ON u.id = q.user_id ORDER BY u.username
    LOOP
        RAISE NOTICE 'reviewer % asked for % review(s)', r.username, r.n;
        opened := opened + r.n;
        notified := notified + 1;
    END LOOP;

    UPDATE uso.submission s SET state = 'started'
    WHERE s.state = 'pending'
      AND EXISTS (SELECT FROM uso.review rv WHERE rv.submission_id = s.id AND rv.state = 'open');
    GET DIAGNOSTICS started = ROW_COUNT;
    IF started > 0 THEN
        RAISE NOTICE '% submission(s) started', started;
    END IF;
    RETURN format('%s review(s) opened, %s reviewer(s) notified, %s submission(s) started',
                  opened, notified, started);
END
$$;
COMMENT ON FUNCTION uso.start_reviews(timestamptz, jsonb) IS
    'StartReviews task: opens pending reviews of auto-start stages and queues one combined review-request per reviewer.';

/*
 * RemindReviewers: one 'review-reminder' per reviewer for their open reviews
 * due between today and today + lead_days, never twice for the same review
 * and due date (reminded_due remembers which due date was reminded).
 */
CREATE FUNCTION uso.remind_reviewers(as_of timestamptz DEFAULT NULL, config jsonb DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cfg       jsonb := uso.task_config('RemindReviewers', config);
    today     date := uso.local_date(as_of);
    lead      integer := uso.config_int(cfg, 'lead_days', 1);
    at        timestamptz := coalesce(as_of, now());
    r         record;
    reviews   integer := 0;
    reviewers integer := 0;
BEGIN
    FOR r IN
        WITH marked AS (
            UPDATE uso.review rv
            SET reminded_at = at, reminded_due = rv.due_date
            WHERE rv.state = 'open' AND rv.due_date BETWEEN today AND today + lead
              AND rv.reminded_due IS DISTINCT FROM rv.due_date
            RETURNING rv.id, rv.reviewer_id, rv.submission_id, rv.stage_id, rv.due_date
        ), per_reviewer AS (
            SELECT u.id AS user_id, u.username, u.email, u.first_name, count(*) AS n,
                   string_agg(format('  - %s "%s" (%s review), due %s', p.code, p.title, st.kind, m.due_date),
                              E'\n' ORDER BY m.due_date, p.code, m.id) AS lines,
                   jsonb_agg(m.id ORDER BY m.id) AS review_ids
            FROM marked m
            JOIN uso.reviewer rvr ON rvr.id = m.reviewer_id
            JOIN uso.app_user u ON u.id = rvr.user_id
            JOIN uso.review_stage st ON st.id = m.stage_id
            JOIN uso.submission s ON s.id = m.submission_id
            JOIN uso.proposal p ON p.id = s.proposal_id
            GROUP BY u.id
        ), queued AS (
            INSERT INTO uso.notification (kind, user_id, recipient, subject, body, context, created_at, send_after)
            SELECT 'review-reminder', pr.user_id, pr.email,
                   format('Reminder: %s review(s) due soon', pr.n),
                   format(E'Dear %s,\n\nthe following review(s) are due soon:\n%s\n',
                          coalesce(nullif(pr.first_name, ''), pr.username), pr.lines),
                   jsonb_build_object('reviews', pr.review_ids), at, at
            FROM per_reviewer pr
            RETURNING user_id, jsonb_array_length(context->'reviews') AS n
        )
        SELECT u.username, q.n FROM queued q JOIN uso.app_user u ON u.id = q.user_id ORDER BY u.username
    LOOP
        RAISE NOTICE 'reminded % of % review(s)', r.username, r.n;
        reviews := reviews + r.n;
        reviewers := reviewers + 1;
    END LOOP;
    RETURN format('%s reviewer(s) reminded of %s review(s)', reviewers, reviews);
END
$$;
COMMENT ON FUNCTION uso.remind_reviewers(timestamptz, jsonb) IS
    'RemindReviewers task: one combined review-reminder per reviewer for open reviews due within config lead_days (default 1); never twice per due date.';
-- uso_tasks: the USO task pack, part 3: projects, beamtime sessions, users'
-- registrations and institutions, the notification outbox, and the cycle
-- trigger that schedules the date-driven tasks.

-- ---------------------------------------------------------------- projects

/*
 * Shared by CreateCallProjects and CreateNonCallProjects: a project (with
 * allocations from the proposal's beamline requests, none allocated yet) for
 * each approved submission of the given kind of track that has none. Call
 * tracks only from their cycle's allocation date on; both only while the
 * cycle has not ended. For call tracks, renewal requests of running projects
 * for cycles at their allocation date become allocations too.
 */
CREATE FUNCTION uso.create_projects(require_call boolean, as_of timestamptz, cfg jsonb)
    RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    today     date := uso.local_date(as_of);
    at        timestamptz := coalesce(as_of, now());
    sub       record;
    pid       bigint;
    n         integer;
    projects  integer := 0;
    allocs    integer := 0;
    renewals  integer := 0;
    skipped   integer := 0;
BEGIN
    FOR sub IN
        SELECT s.id, s.proposal_id, s.cycle_id, p.code, p.spokesperson_id, c.start_date,
               c.name AS cycle,
               -- the end of the duration_cycles-th cycle from this one (of any type), or
               -- an estimate from the cycle length while those cycles do not exist yet
               coalesce((SELECT c2.end_date FROM uso.cycle c2 WHERE c2.start_date >= c.start_date
                         ORDER BY c2.start_date, c2.id OFFSET t.duration_cycles - 1 LIMIT 1),
                        (c.start_date + make_interval(months => t.duration_cycles * ct.duration_months))::date) AS end_date
        FROM uso.submission s
        JOIN uso.review_track t ON t.id = s.track_id
        JOIN uso.proposal p ON p.id = s.proposal_id
        JOIN uso.cycle c ON c.id = s.cycle_id
        JOIN uso.cycle_type ct ON ct.id = c.cycle_type_id
        WHERE s.approved AND t.require_call = create_projects.require_call
          AND today < c.end_date
          AND (NOT t.require_call OR c.alloc_date <= today)
          AND NOT EXISTS (SELECT FROM uso.project pr WHERE pr.submission_id = s.id)
        ORDER BY s.id
    LOOP
        BEGIN
            INSERT INTO uso.project (submission_id, proposal_id, cycle_id, spokesperson_id,
                                     start_date, end_date, created_at)
            VALUES (sub.id, sub.proposal_id, sub.cycle_id, sub.spokesperson_id,
                    sub.start_date, sub.end_date, at)
            RETURNING id INTO pid;
            INSERT INTO uso.allocation (project_id, cycle_id, beamline_id, requested_shifts, created_at)
            SELECT pid, sub.cycle_id, rq.beamline_id, rq.shifts, at
            FROM uso.proposal_request rq WHERE rq.proposal_id = sub.proposal_id;
            GET DIAGNOSTICS n = ROW_COUNT;
            RAISE NOTICE 'project % created for submission % (%) in cycle % with % allocation(s)',
                pid, sub.id, sub.code, sub.cycle, n;
            projects := projects + 1;
            allocs := allocs + n;
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'submission % (%) skipped: %', sub.id, sub.code, SQLERRM;
            skipped := skipped + 1;
        END;
    END LOOP;

    IF require_call THEN
        INSERT INTO uso.allocation (project_id, cycle_id, beamline_id, requested_shifts, created_at)
        SELECT ar.project_id, ar.cycle_id, ar.beamline_id, ar.shifts, at
        FROM uso.allocation_request ar
        JOIN uso.cycle c ON c.id = ar.cycle_id
        JOIN uso.project pr ON pr.id = ar.project_id
        WHERE c.alloc_date <= today AND today < c.end_date AND c.start_date < pr.end_date
        ORDER BY ar.project_id, ar.beamline_id
        ON CONFLICT (project_id, cycle_id, beamline_id) DO NOTHING;
        GET DIAGNOSTICS renewals = ROW_COUNT;
        IF renewals > 0 THEN
            RAISE NOTICE '% renewal allocation(s) created', renewals;
        END IF;
        RETURN uso.with_skipped(format('%s project(s) created with %s allocation(s), %s renewal(s)',
                                       projects, allocs, renewals), skipped, 'submission(s)');
    END IF;
    RETURN uso.with_skipped(format('%s project(s) created with %s allocation(s)', projects, allocs),
                            skipped, 'submission(s)');
END
$$;
COMMENT ON FUNCTION uso.create_projects(boolean, timestamptz, jsonb) IS
    'Projects with requested allocations for approved submissions of call (true) or rapid-access (false) tracks.';

CREATE FUNCTION uso.create_call_projects(as_of timestamptz DEFAULT NULL, config jsonb DEFAULT NULL)
    RETURNS text
    LANGUAGE sql
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT uso.create_projects(true, as_of, uso.task_config('CreateCallProjects', config)) $$;
COMMENT ON FUNCTION uso.create_call_projects(timestamptz, jsonb) IS
    'CreateCallProjects task (00:15 on a cycle''s allocation date): projects and allocations for approved call-track submissions, plus renewals.';

CREATE FUNCTION uso.create_non_call_projects(as_of timestamptz DEFAULT NULL, config jsonb DEFAULT NULL)
    RETURNS text
    LANGUAGE sql
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT uso.create_projects(false, as_of, uso.task_config('CreateNonCallProjects', config)) $$;
COMMENT ON FUNCTION uso.create_non_call_projects(timestamptz, jsonb) IS
    'CreateNonCallProjects task: projects and allocations for approved rapid-access submissions.';

/*
 * NotifyProjects: once a cycle's allocation date has passed, every decided
 * submission in it gets its result: 'submission-success' to the project's
 * spokesperson (once the project exists), 'submission-fail' to the
 * proposal's; the submission becomes complete, so nobody is told twice.
 */
CREATE FUNCTION uso.notify_projects(as_of timestamptz DEFAULT NULL, config jsonb DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    today    date := uso.local_date(as_of);
    at       timestamptz := coalesce(as_of, now());
    r        record;
    success  integer := 0;
    fail     integer := 0;
BEGIN
    FOR r IN
        WITH cand AS (
            SELECT s.id, s.approved, p.code, p.title, c.name AS cycle, pr.id AS project_id,
                   u.id AS user_id, u.email, coalesce(nullif(u.first_name, ''), u.username) AS dear
            FROM uso.submission s
            JOIN uso.proposal p ON p.id = s.proposal_id
            JOIN uso.cycle c ON c.id = s.cycle_id
            LEFT JOIN uso.project pr ON pr.submission_id = s.id
            JOIN uso.app_user u ON u.id = coalesce(pr.spokesperson_id, p.spokesperson_id)
            WHERE s.state = 'reviewed' AND c.alloc_date < today
              AND (NOT s.approved OR pr.id IS NOT NULL)
            FOR UPDATE OF s
        ), queued AS (
            INSERT INTO uso.notification (kind, user_id, recipient, subject, body, context, created_at, send_after)
            SELECT CASE WHEN approved THEN 'submission-success' ELSE 'submission-fail' END,
                   user_id, email,
                   format('Proposal %s: %s', code, CASE WHEN approved THEN 'beamtime awarded' ELSE 'not successful' END),
                   CASE WHEN approved
                        THEN format(E'Dear %s,\n\nyour proposal %s "%s" was successful in cycle %s: project %s has been created.\n',
                                    dear, code, title, cycle, project_id)
                        ELSE format(E'Dear %s,\n\nwe regret that your proposal %s "%s" was not successful in cycle %s.\n',
                                    dear, code, title, cycle) END,
                   jsonb_build_object('submission', id, 'project', project_id), at, at
            FROM cand
        ), done AS (
            UPDATE uso.submission s SET state = 'complete', notified_at = at
            FROM cand WHERE s.id = cand.id
            RETURNING cand.cycle, cand.approved
        )
        SELECT cycle, count(*) FILTER (WHERE approved) AS ok, count(*) FILTER (WHERE NOT approved) AS ko
        FROM done GROUP BY cycle ORDER BY cycle
    LOOP
        RAISE NOTICE 'cycle %: % success and % fail notification(s)', r.cycle, r.ok, r.ko;
        success := success + r.ok;
        fail := fail + r.ko;
    END LOOP;
    RETURN format('%s submission(s) notified (%s successful, %s not)', success + fail, success, fail);
END
$$;
COMMENT ON FUNCTION uso.notify_projects(timestamptz, jsonb) IS
    'NotifyProjects task (00:30 the day after an allocation date): result notifications; reviewed submissions become complete.';

-- ---------------------------------------------------------------- beamtime

/*
 * AutoSignOff: live sessions that ended at least `after` (default 8 hours)
 * ago are signed off automatically (history line, notice to the beamline's
 * admins, the staff on duty and the spokesperson); sessions never signed on
 * that ended as long ago are cancelled.
 */
CREATE FUNCTION uso.auto_sign_off(as_of timestamptz DEFAULT NULL, config jsonb DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cfg        jsonb := uso.task_config('AutoSignOff', config);
    at         timestamptz := coalesce(as_of, now());
    cutoff     timestamptz := at - uso.config_interval(cfg, 'after', '8 hours');
    zone       text := uso.local_zone();
    r          record;
    signed     integer := 0;
    cancelled  integer;
BEGIN
    FOR r IN
        WITH signed AS (
            UPDATE uso.beamtime_session s
            SET state = 'complete', signed_off_at = at, signed_off_by = 'auto'
            WHERE s.state = 'live' AND s.ends_at <= cutoff
            RETURNING s.id, s.project_id, s.beamline_id, s.staff_id, s.ends_at
        ), history AS (
            INSERT INTO uso.session_history (session_id, at, line)
            SELECT id, at, format('Signed off automatically: the session ended at %s without a sign-off.',
                                  to_char(ends_at AT TIME ZONE zone, 'YYYY-MM-DD HH24:MI'))
            FROM signed
        ), recipients AS (
            SELECT DISTINCT sg.id, u.id AS user_id, u.email, u.username,
                   coalesce(nullif(u.first_name, ''), u.username) AS dear,
                   b.acronym, sg.ends_at, sg.project_id
            FROM signed sg
            JOIN uso.beamline b ON b.id = sg.beamline_id
            JOIN uso.project pr ON pr.id = sg.project_id
            JOIN uso.app_user u ON u.active AND (
                     u.id = sg.staff_id OR u.id = pr.spokesperson_id
                     OR u.id IN (SELECT bs.user_id FROM uso.beamline_staff bs
                                 WHERE bs.beamline_id = sg.beamline_id AND bs.role = 'admin'))
        ), queued AS (
            INSERT INTO uso.notification (kind, user_id, recipient, subject, body, context, created_at, send_after)
            SELECT 'auto-sign-off', user_id, email,
                   format('Session %s on %s signed off automatically', id, acronym),
                   format(E'Dear %s,\n\nbeamtime session %s of project %s on %s ended at %s and was not signed off; it has been signed off automatically.\n',
                          dear, id, project_id, acronym, to_char(ends_at AT TIME ZONE zone, 'YYYY-MM-DD HH24:MI')),
                   jsonb_build_object('session', id), at, at
            FROM recipients
            RETURNING (context->>'session')::bigint AS session_id
        )
        SELECT sg.id, b.acronym, sg.project_id,
               (SELECT count(*) FROM queued q WHERE q.session_id = sg.id) AS notices
        FROM signed sg JOIN uso.beamline b ON b.id = sg.beamline_id
        ORDER BY sg.id
    LOOP
        RAISE NOTICE 'session % (project %, %) signed off automatically, % notice(s) queued',
            r.id, r.project_id, r.acronym, r.notices;
        signed := signed + 1;
    END LOOP;

    WITH gone AS (
        UPDATE uso.beamtime_session s SET state = 'cancelled'
        WHERE s.state = 'ready' AND s.ends_at <= cutoff
        RETURNING s.id, s.ends_at
    )
    INSERT INTO uso.session_history (session_id, at, line)
    SELECT id, at, format('Cancelled automatically: the session ended at %s and was never signed on.',
                          to_char(ends_at AT TIME ZONE zone, 'YYYY-MM-DD HH24:MI'))
    FROM gone;
    GET DIAGNOSTICS cancelled = ROW_COUNT;
    IF cancelled > 0 THEN
        RAISE NOTICE '% session(s) never signed on cancelled', cancelled;
    END IF;
    RETURN format('%s session(s) signed off automatically, %s cancelled', signed, cancelled);
END
$$;
COMMENT ON FUNCTION uso.auto_sign_off(timestamptz, jsonb) IS
    'AutoSignOff task: signs off live sessions that ended config after (default 8 hours) ago and cancels ones never signed on.';

-- ---------------------------------------------------------------- registrations, institutions

CREATE FUNCTION uso.clean_registrations(as_of timestamptz DEFAULT NULL, config jsonb DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cfg   jsonb := uso.task_config('CleanRegistrations', config);
    age   interval := uso.config_interval(cfg, 'max_age', '7 days');
    n     integer;
BEGIN
    DELETE FROM uso.registration
    WHERE activated_at IS NULL AND created_at <= coalesce(as_of, now()) - age;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        RAISE NOTICE 'deleted % registration(s) unverified for %', n, age;
    END IF;
    RETURN format('%s registration(s) deleted', n);
END
$$;
COMMENT ON FUNCTION uso.clean_registrations(timestamptz, jsonb) IS
    'CleanRegistrations task: deletes registrations unverified for config max_age (default 7 days).';

/*
 * NotifyNewInstitutions: one 'new-institutions' notice per active holder of
 * the administrators' role listing every institution pending approval that
 * has not been reported yet; each institution is reported once. Nothing is
 * marked when nobody holds the role, so the next run tries again.
 */
CREATE FUNCTION uso.notify_new_institutions(as_of timestamptz DEFAULT NULL, config jsonb DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cfg     jsonb := uso.task_config('NotifyNewInstitutions', config);
    role    text := coalesce(cfg->>'admin_role', 'contracts-admin');
    at      timestamptz := coalesce(as_of, now());
    names   text;
    ids     jsonb;
    n       integer;
    admins  integer;
BEGIN
    SELECT count(*), string_agg('  - ' || name || coalesce(' (' || country || ')', ''), E'\n' ORDER BY name),
           jsonb_agg(id ORDER BY id)
    INTO n, names, ids
    FROM uso.institution
    WHERE state = 'pending' AND notified_at IS NULL AND pending_since <= at;
    IF n = 0 THEN
        RETURN 'no new institutions';
    END IF;

    INSERT INTO uso.notification (kind, user_id, recipient, subject, body, context, created_at, send_after)
    SELECT 'new-institutions', u.id, u.email,
           format('%s new institution(s) pending approval', n),
           format(E'Dear %s,\n\nthe following institution(s) are pending approval:\n%s\n',
                  coalesce(nullif(u.first_name, ''), u.username), names),
           jsonb_build_object('institutions', ids), at, at
    FROM uso.app_user u
    WHERE u.active AND u.roles @> ARRAY[role]
    ORDER BY u.id;
    GET DIAGNOSTICS admins = ROW_COUNT;
    IF admins = 0 THEN
        RAISE WARNING 'no active user holds role %: % institution(s) left unreported', role, n;
        RETURN format('0 new institution(s) reported (nobody holds role %s)', role);
    END IF;

    UPDATE uso.institution SET notified_at = at
    WHERE id IN (SELECT jsonb_array_elements_text(ids)::bigint);
    RAISE NOTICE 'reported % institution(s) to % %', n, admins, role;
    RETURN format('%s new institution(s) reported to %s administrator(s)', n, admins);
END
$$;
COMMENT ON FUNCTION uso.notify_new_institutions(timestamptz, jsonb) IS
    'NotifyNewInstitutions task: tells holders of config admin_role (default contracts-admin) about institutions pending approval, once per institution.';

-- ---------------------------------------------------------------- outbox

/*
 * DeliverNotifications: sends due pending notifications in id order through
 * uso_send_mail. Rows are locked (SKIP LOCKED) so concurrent runs never pick
 * the same message, and a message is marked sent in the same transaction as
 * its send: the one duplicate possible is a crash between the SMTP server's
 * acceptance and the commit (at-least-once, documented in docs/uso.md).
 * A failed send counts an attempt and waits backoff * 2^(attempts-1); after
 * max_attempts the message is given up ('failed').
 */
CREATE FUNCTION uso.deliver_notifications(as_of timestamptz DEFAULT NULL, config jsonb DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cfg       jsonb := uso.task_config('DeliverNotifications', config);
    at        timestamptz := coalesce(as_of, now());
    tries     integer := uso.config_int(cfg, 'max_attempts', 5);
    backoff   interval := uso.config_interval(cfg, 'backoff', '1 minute');
    batch     integer := uso.config_int(cfg, 'batch', 100);
    sender    text := cfg->>'sender';
    m         uso.notification;
    sent      integer := 0;
    failed    integer := 0;
    gaveup    integer := 0;
BEGIN
    FOR m IN
        SELECT * FROM uso.notification
        WHERE status = 'pending' AND send_after <= at
        ORDER BY send_after, id
        LIMIT batch
        FOR UPDATE SKIP LOCKED
    LOOP
        BEGIN
            PERFORM @extschema@.uso_send_mail(m.recipient, m.subject, m.body, sender);
            UPDATE uso.notification
            SET status = 'sent', sent_at = clock_timestamp(), attempts = attempts + 1, last_error = NULL
            WHERE id = m.id;
            RAISE NOTICE 'sent % #% to %', m.kind, m.id, m.recipient;
            sent := sent + 1;
        EXCEPTION WHEN OTHERS THEN
            UPDATE uso.notification
            SET attempts = attempts + 1, last_error = SQLERRM,
                status = CASE WHEN attempts + 1 >= tries THEN 'failed' ELSE 'pending' END,
                send_after = at + backoff * power(2, attempts)::integer
            WHERE id = m.id;
            IF m.attempts + 1 >= tries THEN
                RAISE WARNING '% #% to % given up after % attempt(s): %', m.kind, m.id, m.recipient, tries, SQLERRM;
                gaveup := gaveup + 1;
            ELSE
                RAISE WARNING '% #% to % not sent (attempt %): %', m.kind, m.id, m.recipient, m.attempts + 1, SQLERRM;
                failed := failed + 1;
            END IF;
        END;
    END LOOP;
    RETURN format('%s notification(s) sent', sent)
        || CASE WHEN failed > 0 THEN format(', %s failed (will retry)', failed) ELSE '' END
        || CASE WHEN gaveup > 0 THEN format(', %s given up', gaveup) ELSE '' END;
END
$$;
COMMENT ON FUNCTION uso.deliver_notifications(timestamptz, jsonb) IS
    'DeliverNotifications task: sends due outbox messages through SMTP (config max_attempts 5, backoff 1 minute doubling, batch 100, sender).';

-- ---------------------------------------------------------------- date-driven runs

/*
 * Queues a one-off run of task at instant at through uso_run_at, unless one
 * is queued for that instant already or the instant has passed. Does nothing
 * while the runtime's uso_run_at is not installed.
 */
CREATE FUNCTION uso.schedule_once(task text, at timestamptz) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF at <= now() OR to_regprocedure('@extschema@.uso_run_at(text, timestamp with time zone)') IS NULL THEN
        RETURN;
    END IF;
    IF EXISTS (SELECT FROM @extschema@.uso_task_run r JOIN @extschema@.uso_task t ON t.id = r.task_id
               WHERE t.name = task AND r.trigger = 'once' AND r.status = 'queued' AND r.scheduled_for = at) THEN
        RETURN;
    END IF;
    PERFORM @extschema@.uso_run_at(task, at);
EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'could not schedule % at %: %', task, at, SQLERRM;
END
$$;
COMMENT ON FUNCTION uso.schedule_once(text, timestamptz) IS
    'Queues a one-off run of a task at an instant (uso_run_at) unless already queued or past.';

CREATE FUNCTION uso.unschedule_once(task text, at timestamptz) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    rid bigint;
BEGIN
    IF to_regprocedure('@extschema@.uso_cancel(bigint)') IS NULL THEN
        RETURN;
    END IF;
    FOR rid IN SELECT r.id FROM @extschema@.uso_task_run r JOIN @extschema@.uso_task t ON t.id = r.task_id
               WHERE t.name = task AND r.trigger = 'once' AND r.status = 'queued' AND r.scheduled_for = at
    LOOP
        PERFORM @extschema@.uso_cancel(rid);
    END LOOP;
EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'could not cancel % at %: %', task, at, SQLERRM;
END
$$;
COMMENT ON FUNCTION uso.unschedule_once(text, timestamptz) IS
    'Cancels the queued one-off runs of a task at an instant (uso_cancel).';

/*
 * Keeps the one-off runs of CreateCallProjects (00:15 local on the allocation
 * date) and NotifyProjects (00:30 local the day after) in step with the
 * cycles: queued when a cycle appears, moved when its allocation date
 * changes, dropped when the last cycle with that date goes.
 */
CREATE FUNCTION uso.cycle_schedule_trigger() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE')
       AND NOT EXISTS (SELECT FROM uso.cycle c WHERE c.alloc_date = OLD.alloc_date AND c.id <> OLD.id) THEN
        PERFORM uso.unschedule_once('CreateCallProjects', uso.local_instant(OLD.alloc_date, '00:15'));
        PERFORM uso.unschedule_once('NotifyProjects', uso.local_instant(OLD.alloc_date + 1, '00:30'));
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM uso.schedule_once('CreateCallProjects', uso.local_instant(NEW.alloc_date, '00:15'));
        PERFORM uso.schedule_once('NotifyProjects', uso.local_instant(NEW.alloc_date + 1, '00:30'));
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION uso.cycle_schedule_trigger() IS
    'Trigger: queues/moves/cancels the one-off CreateCallProjects and NotifyProjects runs of a cycle''s allocation date.';

CREATE TRIGGER cycle_schedule_runs AFTER INSERT OR DELETE ON uso.cycle
    FOR EACH ROW EXECUTE FUNCTION uso.cycle_schedule_trigger();
CREATE TRIGGER cycle_schedule_moved AFTER UPDATE OF alloc_date ON uso.cycle
    FOR EACH ROW WHEN (OLD.alloc_date IS DISTINCT FROM NEW.alloc_date)
    EXECUTE FUNCTION uso.cycle_schedule_trigger();
-- uso_tasks: the USO task pack, part 4: the tasks that talk to other services
-- over HTTP (CrossRef, BioSync and the PDB, the SCImago journal-rank export,
-- the external user system), through the extension's libcurl functions.
-- Base URLs come from each task's config; hosts must be allowed in
-- uso_tasks.http_allowed_hosts. A failing item is a WARNING and skipped; a
-- failing listing (the one request the whole run depends on) fails the run.

-- ---------------------------------------------------------------- helpers

CREATE FUNCTION uso.config_url(cfg jsonb, key text, task text) RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF coalesce(cfg->>key, '') = '' THEN
        RAISE EXCEPTION '% needs config key "%" (the service''s base URL)', task, key
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = format('SELECT uso_alter_task(%L, config => ...) or pass config => ''{"%s": "https://..."}''', task, key);
    END IF;
    RETURN rtrim(cfg->>key, '/');
END
$$;
COMMENT ON FUNCTION uso.config_url(jsonb, text, text) IS
    'A required base URL from a task config, without trailing slash; a clear error naming the key when missing.';

-- Percent-encodes everything but RFC 3986 unreserved characters and '/', so a
-- DOI such as 10.1002/(sici)1097 can be put in a URL path as it is.
CREATE FUNCTION uso.url_path_encode(s text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT coalesce(string_agg(CASE WHEN ch ~ '^[A-Za-z0-9._~/-]$' THEN ch
                                        ELSE upper(regexp_replace(encode(convert_to(ch, 'UTF8'), 'hex'),
                                                                  '(..)', '%\1', 'g')) END,
                                   '' ORDER BY i), '')
        FROM regexp_split_to_table(s, '') WITH ORDINALITY AS c(ch, i)
    $$;
COMMENT ON FUNCTION uso.url_path_encode(text) IS
    'Percent-encodes a string for a URL path, keeping unreserved characters and slashes.';

CREATE FUNCTION uso.http_json(url text, cfg jsonb) RETURNS jsonb
    LANGUAGE sql
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT @extschema@.uso_http_get_json(url, cfg->'headers', uso.config_interval(cfg, 'timeout', NULL)) $$;
COMMENT ON FUNCTION uso.http_json(text, jsonb) IS
    'GET a JSON document with the task config''s headers and timeout (errors on non-2xx and malformed JSON).';

CREATE FUNCTION uso.http_text(url text, cfg jsonb) RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r record;
BEGIN
    SELECT * INTO r FROM @extschema@.uso_http_get(url, cfg->'headers', uso.config_interval(cfg, 'timeout', NULL));
    IF r.status NOT BETWEEN 200 AND 299 THEN
        RAISE EXCEPTION 'GET % returned HTTP %', url, r.status
            USING ERRCODE = 'external_routine_exception';
    END IF;
    RETURN r.body;
END
$$;
COMMENT ON FUNCTION uso.http_text(text, jsonb) IS
    'GET a text document with the task config''s headers and timeout; errors on non-2xx.';

-- ---------------------------------------------------------------- CrossRef

/*
 * FetchCitations: each publication's citation count from CrossRef's works API
 * ({crossref_url}/works/{doi}, message."is-referenced-by-count"); a history
 * line when it changed. One DOI failing is a WARNING.
 */
CREATE FUNCTION uso.fetch_citations(as_of timestamptz DEFAULT NULL, config jsonb DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cfg      jsonb := uso.task_config('FetchCitations', config);
    base     text := uso.config_url(cfg, 'crossref_url', 'FetchCitations');
    at       timestamptz := coalesce(as_of, now());
    p        record;
    j        jsonb;
    n        integer;
    checked  integer := 0;
    changed  integer := 0;
    skipped  integer := 0;
BEGIN
    FOR p IN SELECT id, doi, citations FROM uso.publication ORDER BY id LOOP
        BEGIN
            j := uso.http_json(base || '/works/' || uso.url_path_encode(p.doi), cfg);
            IF jsonb_typeof(j #> '{message,is-referenced-by-count}') IS DISTINCT FROM 'number' THEN
                RAISE EXCEPTION 'the CrossRef reply has no message.is-referenced-by-count';
            END IF;
            n := (j #>> '{message,is-referenced-by-count}')::integer;
            UPDATE uso.publication SET citations = n, citations_checked_at = at WHERE id = p.id;
            IF n IS DISTINCT FROM p.citations THEN
                INSERT INTO uso.publication_history (publication_id, at, line)
                VALUES (p.id, at, format('citations: %s -> %s', coalesce(p.citations::text, 'unknown'), n));
                RAISE NOTICE '%: citations % -> %', p.doi, coalesce(p.citations::text, 'unknown'), n;
                changed := changed + 1;
            END IF;
            checked := checked + 1;
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'publication % skipped: %', p.doi, SQLERRM;
            skipped := skipped + 1;
        END;
    END LOOP;
    RETURN uso.with_skipped(format('%s publication(s) checked, %s citation count(s) changed', checked, changed),
                            skipped, 'publication(s)');
END
$$;
COMMENT ON FUNCTION uso.fetch_citations(timestamptz, jsonb) IS
    'FetchCitations task: citation counts from CrossRef (config crossref_url, headers, timeout).';

/*
 * UpdatePublications: CrossRef metadata (title, authors, subjects, volume,
 * issue, pages, issued date, journal by ISSN) for articles published in the
 * current month, and for those whose date is not known yet.
 */
CREATE FUNCTION uso.update_publications(as_of timestamptz DEFAULT NULL, config jsonb DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cfg       jsonb := uso.task_config('UpdatePublications', config);
    base      text := uso.config_url(cfg, 'crossref_url', 'UpdatePublications');
    month_start date := date_trunc('month', uso.local_date(as_of))::date;
    at        timestamptz := coalesce(as_of, now());
    p         uso.publication;
    m         jsonb;
    dp        jsonb;
    n         integer;
    checked   integer := 0;
    updated   integer := 0;
    skipped   integer := 0;
BEGIN
    FOR p IN SELECT * FROM uso.publication
             WHERE published IS NULL OR (published >= month_start AND published < month_start + interval '1 month')
             ORDER BY id
    LOOP
        BEGIN
            m := uso.http_json(base || '/works/' || uso.url_path_encode(p.doi), cfg) -> 'message';
            IF jsonb_typeof(m) IS DISTINCT FROM 'object' THEN
                RAISE EXCEPTION 'the CrossRef reply has no message object';
            END IF;
            dp := m #> '{issued,date-parts,0}';
            UPDATE uso.publication u
            SET title = coalesce(m #>> '{title,0}', u.title),
                authors = coalesce((SELECT string_agg(concat_ws(' ', a->>'given', a->>'family'), '; ' ORDER BY i)
                                    FROM jsonb_array_elements(coalesce(m->'author', '[]')) WITH ORDINALITY AS x(a, i)),
                                   u.authors),
                subjects = coalesce((SELECT array_agg(s ORDER BY i)
                                     FROM jsonb_array_elements_text(coalesce(m->'subject', '[]')) WITH ORDINALITY AS x(s, i)),
                                    u.subjects),
                volume = coalesce(m->>'volume', u.volume),
                issue = coalesce(m->>'issue', u.issue),
                pages = coalesce(m->>'page', u.pages),
                published = coalesce(CASE WHEN dp->>0 IS NOT NULL
                                          THEN make_date((dp->>0)::integer, coalesce((dp->>1)::integer, 1),
                                                         coalesce((dp->>2)::integer, 1)) END,
                                     u.published),
                journal_id = coalesce((SELECT j.id FROM uso.journal j
                                       WHERE j.issn IN (SELECT upper(replace(x, '-', ''))
                                                        FROM jsonb_array_elements_text(coalesce(m->'ISSN', '[]')) AS x)
                                       ORDER BY j.id LIMIT 1),
                                      u.journal_id),
                metadata_updated_at = at
            WHERE u.id = p.id;
            -- compare after the fact: the UPDATE above normalised everything
            SELECT count(*) INTO n FROM uso.publication u
            WHERE u.id = p.id
              AND (u.title, u.authors, u.subjects, u.volume, u.issue, u.pages, u.published, u.journal_id)
                  IS DISTINCT FROM (p.title, p.authors, p.subjects, p.volume, p.issue, p.pages, p.published, p.journal_id);
            IF n > 0 THEN
                INSERT INTO uso.publication_history (publication_id, at, line)
                VALUES (p.id, at, 'metadata updated from CrossRef');
                RAISE NOTICE '%: metadata updated', p.doi;
                updated := updated + 1;
            ELSE
                UPDATE uso.publication SET metadata_updated_at = p.metadata_updated_at WHERE id = p.id;
            END IF;
            checked := checked + 1;
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'publication % skipped: %', p.doi, SQLERRM;
            skipped := skipped + 1;
        END;
    END LOOP;
    RETURN uso.with_skipped(format('%s publication(s) checked, %s updated', checked, updated),
                            skipped, 'publication(s)');
END
$$;
COMMENT ON FUNCTION uso.update_publications(timestamptz, jsonb) IS
    'UpdatePublications task: CrossRef metadata for articles published this month (config crossref_url, headers, timeout).';

-- ---------------------------------------------------------------- BioSync / PDB

/*
 * FetchBioSync: for each beamline, the BioSync listing of its PDB entries
 * ({biosync_url}/{beamline}.json: an array, or {"results": [...]}, of PDB ids
 * or objects with "pdb_id"), then the header of every entry not known yet or
 * not released yet ({pdb_url}/core/entry/{id}, the RCSB data API shape);
 * deposits are linked to publications by DOI.
 */
CREATE FUNCTION uso.fetch_bio_sync(as_of timestamptz DEFAULT NULL, config jsonb DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cfg       jsonb := uso.task_config('FetchBioSync', config);
    biosync   text := uso.config_url(cfg, 'biosync_url', 'FetchBioSync');
    pdb       text := uso.config_url(cfg, 'pdb_url', 'FetchBioSync');
    at        timestamptz := coalesce(as_of, now());
    b         record;
    listing   jsonb;
    e         jsonb;
    h         jsonb;
    code      text;
    inserted  boolean;
    added     integer := 0;
    updated   integer := 0;
    linked    integer;
    skipped   integer := 0;
BEGIN
    FOR b IN SELECT id, acronym FROM uso.beamline ORDER BY acronym LOOP
        BEGIN
            listing := uso.http_json(biosync || '/' || uso.url_path_encode(b.acronym) || '.json', cfg);
            IF jsonb_typeof(listing) = 'object' THEN
                listing := listing->'results';
            END IF;
            IF jsonb_typeof(listing) IS DISTINCT FROM 'array' THEN
                RAISE EXCEPTION 'the BioSync listing is neither an array nor {"results": [...]}';
            END IF;
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'beamline % skipped: %', b.acronym, SQLERRM;
            skipped := skipped + 1;
            CONTINUE;
        END;
        FOR e IN SELECT value FROM jsonb_array_elements(listing) LOOP
            code := upper(CASE WHEN jsonb_typeof(e) = 'string' THEN e #>> '{}'
                               WHEN jsonb_typeof(e) = 'object' THEN coalesce(e->>'pdb_id', e->>'pdb_code') END);
            BEGIN
                IF code IS NULL OR code !~ '^[0-9][A-Z0-9]{3}$' THEN
                    RAISE EXCEPTION 'not a PDB id: %', left(e::text, 100);
                END IF;
                CONTINUE WHEN EXISTS (SELECT FROM uso.pdb_deposit d
                                      WHERE d.pdb_code = code AND d.released IS NOT NULL AND d.title IS NOT NULL);
                h := uso.http_json(pdb || '/core/entry/' || code, cfg);
                IF jsonb_typeof(h) IS DISTINCT FROM 'object' THEN
                    RAISE EXCEPTION 'the PDB entry header is not an object';
                END IF;
                INSERT INTO uso.pdb_deposit AS d (pdb_code, beamline_id, title, deposited, released, doi, fetched_at)
                VALUES (code, b.id, h #>> '{struct,title}',
                        left(h #>> '{rcsb_accession_info,deposit_date}', 10)::date,
                        left(h #>> '{rcsb_accession_info,initial_release_date}', 10)::date,
                        lower(h #>> '{rcsb_primary_citation,pdbx_database_id_doi}'), at)
                ON CONFLICT (pdb_code) DO UPDATE
                SET title = excluded.title, deposited = excluded.deposited, released = excluded.released,
                    doi = excluded.doi, fetched_at = excluded.fetched_at
                WHERE (d.title, d.deposited, d.released, d.doi)
                      IS DISTINCT FROM (excluded.title, excluded.deposited, excluded.released, excluded.doi)
                RETURNING (xmax = 0) INTO inserted;
                IF inserted THEN
                    RAISE NOTICE 'PDB % (%) added', code, b.acronym;
                    added := added + 1;
                ELSIF FOUND THEN
                    RAISE NOTICE 'PDB % (%) updated', code, b.acronym;
                    updated := updated + 1;
                END IF;
            EXCEPTION WHEN OTHERS THEN
                RAISE WARNING 'PDB entry % of beamline % skipped: %', coalesce(code, '?'), b.acronym, SQLERRM;
                skipped := skipped + 1;
            END;
        END LOOP;
    END LOOP;

    UPDATE uso.pdb_deposit d SET publication_id = p.id
    FROM uso.publication p
    WHERE p.doi = d.doi AND d.publication_id IS DISTINCT FROM p.id;
    GET DIAGNOSTICS linked = ROW_COUNT;
    IF linked > 0 THEN
        RAISE NOTICE '% PDB deposit(s) linked to publications', linked;
    END IF;
    RETURN uso.with_skipped(format('%s PDB deposit(s) added, %s updated, %s linked to publications',
                                   added, updated, linked), skipped, 'item(s)');
END
$$;
COMMENT ON FUNCTION uso.fetch_bio_sync(timestamptz, jsonb) IS
    'FetchBioSync task: PDB depositions per beamline from BioSync and the PDB entry headers (config biosync_url, pdb_url).';

-- ---------------------------------------------------------------- journal metrics

-- Splits one CSV line into fields (double-quoted fields may hold separators
-- and doubled quotes). sep is ';' (SCImago's export) or ','.
CREATE FUNCTION uso.csv_fields(line text, sep text DEFAULT ';') RETURNS text[]
    LANGUAGE sql IMMUTABLE STRICT
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT array_agg(CASE WHEN f LIKE '"%' THEN replace(substr(f, 2, length(f) - 2), '""', '"') ELSE f END
                         ORDER BY i)
        FROM regexp_matches(sep || line, format('\%s("(?:[^"]|"")*"|[^\%s"]*)', sep, sep), 'g')
             WITH ORDINALITY AS m(g, i),
             LATERAL (SELECT btrim(g[1], E' \r') AS f) x
    $$;
COMMENT ON FUNCTION uso.csv_fields(text, text) IS
    'Fields of one CSV line; quoted fields may contain the separator and doubled quotes.';

/*
 * UpdateMetrics: SJR, h-index and impact factor of our journals (matched by
 * ISSN) for last year, from the journal-rank export at metrics_url ({year} in
 * it is replaced): SCImago's CSV (';', decimal commas, columns Issn, SJR,
 * "H index", "Cites / Doc. (2years)") or JSON (an array or {"results": [...]}
 * of objects with issn, sjr, h_index, impact_factor). Only items naming one of
 * our journals are parsed; a bad one is a WARNING.
 */
CREATE FUNCTION uso.update_metrics(as_of timestamptz DEFAULT NULL, config jsonb DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cfg      jsonb := uso.task_config('UpdateMetrics', config);
    yr       integer := uso.config_int(cfg, 'year', extract(year FROM uso.local_date(as_of))::integer - 1);
    url      text := replace(uso.config_url(cfg, 'metrics_url', 'UpdateMetrics'), '{year}', yr::text);
    fmt      text := coalesce(cfg->>'format', CASE WHEN url ~* '\.csv($|\?)' THEN 'csv' ELSE 'json' END);
    sep      text := coalesce(cfg->>'csv_separator', ';');
    at       timestamptz := coalesce(as_of, now());
    items    jsonb;
    body     text;
    hdr      text[];
    total    integer;
    r        record;
    issns    text[];
    n        integer;
    changed  integer := 0;
    skipped  integer := 0;
BEGIN
    IF fmt NOT IN ('csv', 'json') OR sep NOT IN (';', ',') THEN
        RAISE EXCEPTION 'UpdateMetrics: format must be csv or json and csv_separator ; or , (got %, %)', fmt, sep
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF fmt = 'json' THEN
        items := uso.http_json(url, cfg);
        IF jsonb_typeof(items) = 'object' THEN
            items := items->'results';
        END IF;
        IF jsonb_typeof(items) IS DISTINCT FROM 'array' THEN
            RAISE EXCEPTION 'the metrics from % are neither an array nor {"results": [...]}', url
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    ELSE
        body := uso.http_text(url, cfg);
        -- header names normalised: 'H index' -> h_index, 'Cites / Doc. (2years)' -> cites_doc_2years
        SELECT array_agg(trim(BOTH '_' FROM regexp_replace(lower(f), '[^a-z0-9]+', '_', 'g')) ORDER BY i)
        INTO hdr
        FROM unnest(uso.csv_fields(split_part(body, E'\n', 1), sep)) WITH ORDINALITY AS h(f, i);
        IF hdr IS NULL OR NOT hdr @> ARRAY['issn'] THEN
            RAISE EXCEPTION 'the metrics CSV from % has no Issn column', url
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        SELECT coalesce(jsonb_agg(obj ORDER BY ln), '[]') INTO items
        FROM (SELECT ln, (SELECT jsonb_object_agg(hdr[i], v) FROM unnest(uso.csv_fields(line, sep))
                          WITH ORDINALITY AS f(v, i) WHERE i <= array_length(hdr, 1)) AS obj
              FROM regexp_split_to_table(body, E'\n') WITH ORDINALITY AS l(line, ln)
              WHERE ln > 1 AND btrim(line, E' \r') <> '') s;
    END IF;
    total := jsonb_array_length(items);

    FOR r IN
        SELECT x.rw, x.i
        FROM jsonb_array_elements(items) WITH ORDINALITY AS x(rw, i)
        WHERE EXISTS (SELECT FROM uso.journal j
                      WHERE strpos(upper(replace(coalesce(x.rw->>'issn', ''), '-', '')), j.issn) > 0)
        ORDER BY x.i
    LOOP
        BEGIN
            issns := ARRAY(SELECT upper(replace(btrim(s), '-', ''))
                           FROM regexp_split_to_table(
                                    CASE WHEN jsonb_typeof(r.rw->'issn') = 'array'
                                         THEN (SELECT string_agg(v, ',') FROM jsonb_array_elements_text(r.rw->'issn') v)
                                         ELSE r.rw->>'issn' END, '[,; ]+') AS s
                           WHERE btrim(s) <> '');
            INSERT INTO uso.journal_metric AS jm (journal_id, year, sjr, h_index, impact_factor, updated_at)
            SELECT j.id, yr,
                   replace(r.rw->>'sjr', ',', '.')::numeric,
                   (r.rw->>'h_index')::integer,
                   replace(coalesce(r.rw->>'impact_factor', r.rw->>'cites_doc_2years'), ',', '.')::numeric,
                   at
            FROM uso.journal j WHERE j.issn = ANY (issns)
            ON CONFLICT (journal_id, year) DO UPDATE
            SET sjr = excluded.sjr, h_index = excluded.h_index, impact_factor = excluded.impact_factor,
                updated_at = excluded.updated_at
            WHERE (jm.sjr, jm.h_index, jm.impact_factor)
                  IS DISTINCT FROM (excluded.sjr, excluded.h_index, excluded.impact_factor);
            GET DIAGNOSTICS n = ROW_COUNT;
            IF n > 0 THEN
                RAISE NOTICE 'metrics % for ISSN %', yr, array_to_string(issns, ', ');
            END IF;
            changed := changed + n;
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'metrics row % (ISSN %) skipped: %', r.i, r.rw->>'issn', SQLERRM;
            skipped := skipped + 1;
        END;
    END LOOP;
    RETURN uso.with_skipped(format('metrics of %s journal(s) updated for %s (%s row(s) read)', changed, yr, total),
                            skipped, 'row(s)');
END
$$;
COMMENT ON FUNCTION uso.update_metrics(timestamptz, jsonb) IS
    'UpdateMetrics task: last year''s SJR, h-index and impact factor by ISSN (config metrics_url with {year}, format csv|json, csv_separator, year).';

-- ---------------------------------------------------------------- users

/*
 * SyncUsers: the external user list (JSON {"results": [...]}, records with
 * id or external_id, username, email, first_name, last_name, institution) is
 * the truth for users with an external id: new ones are inserted, changed
 * ones updated (and reactivated), removed ones deactivated or deleted (config
 * removed = deactivate | delete | keep). A malformed record is a WARNING; its
 * user, when its id is readable, counts as present so it is not deactivated.
 * An empty list is refused while synced users exist, unless allow_empty.
 */
CREATE FUNCTION uso.sync_users(as_of timestamptz DEFAULT NULL, config jsonb DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cfg          jsonb := uso.task_config('SyncUsers', config);
    removed      text := coalesce(cfg->>'removed', 'deactivate');
    at           timestamptz := coalesce(as_of, now());
    url          text;
    j            jsonb;
    rec          record;
    ext          text;
    seen         text[] := '{}';
    inserted     boolean;
    u            record;
    created      integer := 0;
    updated      integer := 0;
    deactivated  integer := 0;
    deleted      integer := 0;
    skipped      integer := 0;
BEGIN
    IF coalesce(cfg->>'users_url', '') = '' THEN
        RETURN 'external user system not configured (config users_url)';
    END IF;
    IF removed NOT IN ('deactivate', 'delete', 'keep') THEN
        RAISE EXCEPTION 'SyncUsers: config removed must be deactivate, delete or keep, not %', removed
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    url := uso.config_url(cfg, 'users_url', 'SyncUsers');
    j := uso.http_json(url, cfg);
    IF jsonb_typeof(j->'results') IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION 'the user list from % has no "results" array', url
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF jsonb_array_length(j->'results') = 0 AND removed <> 'keep'
       AND NOT coalesce((cfg->>'allow_empty')::boolean, false)
       AND EXISTS (SELECT FROM uso.app_user WHERE external_id IS NOT NULL AND active) THEN
        RAISE EXCEPTION 'the user list from % is empty: refusing to remove every synced user', url
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Set config allow_empty to true if the external system really has no users.';
    END IF;

    FOR rec IN SELECT value AS r, ordinality AS i FROM jsonb_array_elements(j->'results') WITH ORDINALITY LOOP
        ext := CASE WHEN jsonb_typeof(rec.r) = 'object'
                    THEN nullif(btrim(coalesce(rec.r->>'external_id', rec.r->>'id')), '') END;
        BEGIN
            IF ext IS NULL THEN
                RAISE EXCEPTION 'no id: %', left(rec.r::text, 100);
            END IF;
            IF ext = ANY (seen) THEN
                RAISE EXCEPTION 'duplicate id %', ext;
            END IF;
            seen := seen || ext;
            IF coalesce(rec.r->>'username', '') = '' OR coalesce(rec.r->>'email', '') = '' THEN
                RAISE EXCEPTION 'username and email are required';
            END IF;
            INSERT INTO uso.app_user AS a (external_id, username, first_name, last_name, email, institution_id,
                                           active, created_at, updated_at)
            VALUES (ext, rec.r->>'username', coalesce(rec.r->>'first_name', ''), coalesce(rec.r->>'last_name', ''),
                    rec.r->>'email',
                    (SELECT i.id FROM uso.institution i WHERE i.name = rec.r->>'institution'),
                    true, at, at)
            ON CONFLICT (external_id) DO UPDATE
            SET username = excluded.username, first_name = excluded.first_name, last_name = excluded.last_name,
                email = excluded.email, institution_id = coalesce(excluded.institution_id, a.institution_id),
                active = true, updated_at = excluded.updated_at
            WHERE (a.username, a.first_name, a.last_name, a.email, a.active,
                   coalesce(excluded.institution_id, a.institution_id))
                  IS DISTINCT FROM (excluded.username, excluded.first_name, excluded.last_name, excluded.email,
                                    true, a.institution_id)
            RETURNING (xmax = 0) INTO inserted;
            IF inserted THEN
                RAISE NOTICE 'user % created', rec.r->>'username';
                created := created + 1;
            ELSIF FOUND THEN
                RAISE NOTICE 'user % updated', rec.r->>'username';
                updated := updated + 1;
            END IF;
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'user record % (id %) skipped: %', rec.i, coalesce(ext, '?'), SQLERRM;
            skipped := skipped + 1;
        END;
    END LOOP;

    IF removed = 'deactivate' THEN
        FOR u IN WITH d AS (
                     UPDATE uso.app_user SET active = false, updated_at = at
                     WHERE external_id IS NOT NULL AND active AND NOT (external_id = ANY (seen))
                     RETURNING username)
                 SELECT username FROM d ORDER BY username
        LOOP
            RAISE NOTICE 'user % deactivated (no longer in the external system)', u.username;
            deactivated := deactivated + 1;
        END LOOP;
    ELSIF removed = 'delete' THEN
        FOR u IN SELECT id, username, active FROM uso.app_user
                 WHERE external_id IS NOT NULL AND NOT (external_id = ANY (seen)) ORDER BY username
        LOOP
            BEGIN
                DELETE FROM uso.app_user WHERE id = u.id;
                RAISE NOTICE 'user % deleted (no longer in the external system)', u.username;
                deleted := deleted + 1;
            EXCEPTION WHEN foreign_key_violation THEN
                IF u.active THEN
                    UPDATE uso.app_user SET active = false, updated_at = at WHERE id = u.id;
                    RAISE WARNING 'user % is referenced by other records: deactivated instead of deleted', u.username;
                    deactivated := deactivated + 1;
                END IF;
            END;
        END LOOP;
    END IF;
    RETURN uso.with_skipped(format('%s user(s) created, %s updated, %s deactivated', created, updated, deactivated)
                            || CASE WHEN removed = 'delete' THEN format(', %s deleted', deleted) ELSE '' END,
                            skipped, 'record(s)');
END
$$;
COMMENT ON FUNCTION uso.sync_users(timestamptz, jsonb) IS
    'SyncUsers task: users from the external user list (config users_url, headers, timeout, removed deactivate|delete|keep, allow_empty).';
-- uso_tasks: the USO task pack, part 5: the 17 tasks registered under their
-- seed 000 names, with USO's own schedule strings (ISO 8601 durations and
-- times of day), the seed's descriptions and the app they belong to. The
-- owner is the role running CREATE EXTENSION (uso_task.username's default);
-- next_run_at is left to the scheduler. CreateCallProjects and NotifyProjects
-- never fire by themselves ('@manual'): uso.cycle's trigger queues their
-- one-off runs on the allocation dates, and config.frequency is what the
-- admin view shows for them.

INSERT INTO @extschema@.uso_task (name, category, schedule, command, config, description) VALUES
('AdvanceReviewWorkflow', 'proposals', 'PT15M', 'SELECT uso.advance_review_workflow()',
 '{"review_days": 14}',
 'Advances the review workflow for proposals and submissions based on the defined rules: creates the reviews of the next stage, decides stages, approves or rejects submissions.'),
('CreateCycles', 'proposals', 'P1D', 'SELECT uso.create_cycles()',
 '{"years_ahead": 2}',
 'Creates new cycles based on the defined cycle types: ensures cycles exist for each active cycle type for the next 2 years.'),
('CycleStateManager', 'proposals', 'PT1H', 'SELECT uso.cycle_state_manager()',
 '{}',
 'Manages the state transitions of cycles, moving them forward by their dates.'),
('RemindReviewers', 'proposals', 'T02:00', 'SELECT uso.remind_reviewers()',
 '{"lead_days": 1}',
 'Sends reminders to reviewers about pending reviews that are due soon, one combined message per reviewer.'),
('StartReviews', 'proposals', 'PT6H', 'SELECT uso.start_reviews()',
 '{"review_days": 14}',
 'Opens pending reviews and notifies reviewers about their assigned reviews; notifications of multiple reviews to a single reviewer are combined into a single e-mail message.'),
('AutoSignOff', 'projects', 'PT4H', 'SELECT uso.auto_sign_off()',
 '{"after": "8 hours"}',
 'Signs off project sessions automatically if users have not signed off after their session ends.'),
('CreateCallProjects', 'projects', '@manual', 'SELECT uso.create_call_projects()',
 '{"frequency": "at 00:15 on the allocation date"}',
 'Creates projects for submissions to review tracks that require a call. Runs only at 00:15 on the allocation date of the cycle.'),
('CreateNonCallProjects', 'projects', 'PT15M', 'SELECT uso.create_non_call_projects()',
 '{}',
 'Creates projects for submissions to review tracks that do not require a call.'),
('NotifyProjects', 'projects', '@manual', 'SELECT uso.notify_projects()',
 '{"frequency": "at 00:30 on the day after the allocation date"}',
 'Sends notifications to users about the result of their submissions and projects, after reviews are completed and allocations have been performed. Runs at 00:30 on the day after the allocation date.'),
('FetchBioSync', 'publications', 'P7D', 'SELECT uso.fetch_bio_sync()',
 '{"biosync_url": "https://biosync.rcsb.org/api/beamlines", "pdb_url": "https://data.rcsb.org/rest/v1", "timeout": "30 seconds"}',
 'Fetches PDB deposits data from the BioSync database.'),
('UpdateMetrics', 'publications', 'P3M', 'SELECT uso.update_metrics()',
 '{"metrics_url": "https://www.scimagojr.com/journalrank.php?out=xls&year={year}", "format": "csv", "timeout": "2 minutes"}',
 'Fetches journal metrics from SCImago and updates the metrics for publications. Runs once a quarter.'),
('FetchCitations', 'publications', 'P1M', 'SELECT uso.fetch_citations()',
 '{"crossref_url": "https://api.crossref.org", "timeout": "30 seconds"}',
 'Fetches citation data from the CrossRef database and updates the publication records.'),
('UpdatePublications', 'publications', 'P7D', 'SELECT uso.update_publications()',
 '{"crossref_url": "https://api.crossref.org", "timeout": "30 seconds"}',
 'Updates the metadata for all articles published in the current month.'),
('CleanRegistrations', 'users', 'P1D', 'SELECT uso.clean_registrations()',
 '{"max_age": "7 days"}',
 'Cleans up old user registrations that have not been activated.'),
('NotifyNewInstitutions', 'users', 'P1D', 'SELECT uso.notify_new_institutions()',
 '{"admin_role": "contracts-admin"}',
 'Sends notifications to administrators about new institutions that have been created and are pending approval.'),
('SyncUsers', 'users', 'PT1H', 'SELECT uso.sync_users()',
 '{"users_url": "", "removed": "deactivate", "timeout": "30 seconds"}',
 'Synchronizes user data with the external user management system (if configured).'),
('DeliverNotifications', 'notifications', 'every 1 minute', 'SELECT uso.deliver_notifications()',
 '{"max_attempts": 5, "backoff": "1 minute", "batch": 100}',
 'Sends the notification outbox by e-mail through SMTP, retrying failed messages with backoff, never sending one twice.');
-- uso_tasks: pg_cron compatibility layer.
--
-- Schema cron with pg_cron 1.6's catalog (cron.job, cron.job_run_details) as
-- views over uso_task / uso_task_run, and its functions (cron.schedule,
-- cron.schedule_in_database, cron.unschedule, cron.alter_job) with pg_cron's
-- argument names, defaults, permission rules and error messages (with proper
-- SQLSTATEs), so that pg_cron scripts and dashboards keep working.  One source
-- of truth: a cron job IS a uso_task (jobid = uso_task.id, jobname = name).
--
-- When schema cron already exists (pg_cron installed), the layer is skipped
-- with a WARNING; uso_import_pg_cron() copies pg_cron's jobs over and, once
-- pg_cron is dropped, uso_install_cron_compat() installs the layer.
-- docs/cron.md describes it for users.

-- Jobs created by cron.schedule(schedule, command) have no name in pg_cron.
-- They get one here (cron_job_<jobid>, so they show on admin pages) and this
-- flag makes cron.job show jobname NULL for them, as pg_cron does.
ALTER TABLE @extschema@.uso_task ADD COLUMN cron_unnamed boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN @extschema@.uso_task.cron_unnamed IS
    'Created by cron.schedule(schedule, command) without a name: cron.job shows jobname NULL; the name is generated (cron_job_<id>).';
GRANT INSERT (cron_unnamed) ON @extschema@.uso_task TO PUBLIC;

CREATE FUNCTION @extschema@.uso_task_cron_name() RETURNS trigger
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.cron_unnamed AND NEW.name IS NULL THEN
            NEW.name := 'cron_job_' || NEW.id;
        END IF;
    ELSIF NEW.name IS DISTINCT FROM OLD.name THEN
        -- Renamed (uso_alter_task): from now on it is a named job.
        NEW.cron_unnamed := false;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION @extschema@.uso_task_cron_name() IS
    'Trigger: names unnamed pg_cron jobs cron_job_<id>; a renamed task is no longer unnamed.';
-- Fires before uso_task_validate (row triggers fire in name order).
CREATE TRIGGER uso_task_cron_name
    BEFORE INSERT OR UPDATE OF name ON @extschema@.uso_task
    FOR EACH ROW EXECUTE FUNCTION @extschema@.uso_task_cron_name();

-- pg_cron lets every role delete its own run history
-- (DELETE FROM cron.job_run_details WHERE end_time < now() - interval '7 days').
-- The FOR ALL policy of 00_catalog.sql already limits DELETE to the runs of
-- tasks the role can see; this one keeps runs still in use by a worker.
GRANT DELETE ON @extschema@.uso_task_run TO PUBLIC;
CREATE POLICY uso_task_run_delete_finished ON @extschema@.uso_task_run
    AS RESTRICTIVE FOR DELETE USING (finished_at IS NOT NULL);

------------------------------------------------------------------------------
-- Checks shared by the cron functions, with pg_cron's messages.

CREATE FUNCTION @extschema@.uso_cron_check_schedule(schedule text) RETURNS void
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    why text;
BEGIN
    PERFORM @extschema@.uso_validate_schedule(schedule);
EXCEPTION WHEN invalid_parameter_value THEN
    GET STACKED DIAGNOSTICS why = MESSAGE_TEXT;
    RAISE EXCEPTION 'invalid schedule: %', schedule
        USING ERRCODE = 'invalid_parameter_value', DETAIL = why,
              HINT = 'Use cron format (e.g. 5 4 * * *), or interval format ''[1-59] seconds''';
END
$$;
COMMENT ON FUNCTION @extschema@.uso_cron_check_schedule(text) IS
    'Internal (pg_cron layer): raises pg_cron''s "invalid schedule" error for a schedule uso_tasks cannot parse.';

CREATE FUNCTION @extschema@.uso_cron_check_role(username text) RETURNS void
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    can_login boolean;
BEGIN
    SELECT r.rolcanlogin INTO can_login FROM pg_roles r WHERE r.rolname = username;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'role "%" does not exist', username USING ERRCODE = 'undefined_object';
    ELSIF NOT can_login THEN
        RAISE EXCEPTION 'role "%" can not log in', username
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Jobs may only be run by roles that have the LOGIN attribute.';
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.uso_cron_check_role(text) IS
    'Internal (pg_cron layer): the role must exist and have LOGIN, with pg_cron''s messages.';

CREATE FUNCTION @extschema@.uso_cron_check_database(database text, username text) RETURNS void
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_database d WHERE d.datname = database) THEN
        RAISE EXCEPTION 'database "%" does not exist', database USING ERRCODE = 'invalid_catalog_name';
    END IF;
    IF NOT has_database_privilege(username, database, 'CONNECT') THEN
        RAISE EXCEPTION 'User % does not have CONNECT privilege on %', username, database
            USING ERRCODE = 'insufficient_privilege';
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.uso_cron_check_database(text, text) IS
    'Internal (pg_cron layer): the database must exist and the job''s role must have CONNECT on it.';

-- Whether a job exists at all, whoever owns it: pg_cron answers "permission
-- denied" rather than "not found" for another role's job, and this is the only
-- way to tell the two apart under row-level security.  Reveals nothing more.
CREATE FUNCTION @extschema@.uso_cron_job_exists(job_id bigint) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT EXISTS (SELECT FROM @extschema@.uso_task t WHERE t.id = job_id) $$;
COMMENT ON FUNCTION @extschema@.uso_cron_job_exists(bigint) IS
    'Internal (pg_cron layer): true when a task with this id exists, visible or not.';

------------------------------------------------------------------------------
-- The work behind cron.schedule / cron.schedule_in_database.  job_name NULL
-- with named = false is the unnamed form; named jobs are upserted by (name,
-- role), updating schedule, command and database as pg_cron does.

CREATE FUNCTION @extschema@.uso_cron_schedule(job_name text, schedule text, command text,
    database text, username text, active boolean, named boolean)
RETURNS bigint
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    job_user  text := current_user;
    job_db    text := coalesce(uso_cron_schedule.database, current_database());
    job_id    bigint;
    owner     name;
    conname   text;
BEGIN
    IF named AND job_name IS NULL THEN
        RAISE EXCEPTION 'job_name can not be NULL' USING ERRCODE = 'null_value_not_allowed';
    ELSIF uso_cron_schedule.schedule IS NULL THEN
        RAISE EXCEPTION 'schedule can not be NULL' USING ERRCODE = 'null_value_not_allowed';
    ELSIF uso_cron_schedule.command IS NULL THEN
        RAISE EXCEPTION 'command can not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM @extschema@.uso_cron_check_schedule(uso_cron_schedule.schedule);
    IF uso_cron_schedule.username IS NOT NULL THEN
        IF NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user) THEN
            RAISE EXCEPTION 'must be superuser to create a job for another role'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        PERFORM @extschema@.uso_cron_check_role(uso_cron_schedule.username);
        job_user := uso_cron_schedule.username;
    END IF;
    PERFORM @extschema@.uso_cron_check_database(job_db, job_user);

    IF job_name IS NULL THEN
        INSERT INTO @extschema@.uso_task AS t
            (name, cron_unnamed, schedule, command, database, username, enabled)
        VALUES (NULL, true, uso_cron_schedule.schedule, uso_cron_schedule.command,
                job_db, job_user, coalesce(active, true))
        RETURNING t.id INTO job_id;
        RETURN job_id;
    END IF;

    FOR attempt IN 1..2 LOOP
        SELECT t.id, t.username INTO job_id, owner
        FROM @extschema@.uso_task t WHERE t.name = job_name FOR UPDATE;
        IF FOUND AND owner = job_user THEN
            UPDATE @extschema@.uso_task t
            SET schedule = uso_cron_schedule.schedule, command = uso_cron_schedule.command,
                database = job_db
            WHERE t.id = job_id;
            RETURN job_id;
        ELSIF FOUND THEN
            RAISE EXCEPTION 'job name "%" is already used by role "%"', job_name, owner
                USING ERRCODE = 'unique_violation',
                      DETAIL = 'In uso_tasks job names are unique across all roles.';
        END IF;
        BEGIN
            INSERT INTO @extschema@.uso_task AS t
                (name, schedule, command, database, username, enabled)
            VALUES (job_name, uso_cron_schedule.schedule, uso_cron_schedule.command,
                    job_db, job_user, coalesce(active, true))
            RETURNING t.id INTO job_id;
            RETURN job_id;
        EXCEPTION WHEN unique_violation THEN
            GET STACKED DIAGNOSTICS conname = CONSTRAINT_NAME;
            IF conname IS DISTINCT FROM 'uso_task_name_key' THEN
                RAISE;
            END IF;
            IF NOT EXISTS (SELECT FROM @extschema@.uso_task t WHERE t.name = job_name) THEN
                RAISE EXCEPTION 'job name "%" is already used by another role', job_name
                    USING ERRCODE = 'insufficient_privilege',
                          DETAIL = 'In uso_tasks job names are unique across all roles.';
            END IF;
        END;
    END LOOP;
    RAISE EXCEPTION 'job "%" is being changed concurrently', job_name USING ERRCODE = 'lock_not_available';
END
$$;
COMMENT ON FUNCTION @extschema@.uso_cron_schedule(text, text, text, text, text, boolean, boolean) IS
    'Internal (pg_cron layer): cron.schedule and cron.schedule_in_database.';

CREATE FUNCTION @extschema@.uso_cron_unschedule(job_id bigint, job_name text, by_name boolean)
RETURNS boolean
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF by_name THEN
        IF job_name IS NULL THEN
            RAISE EXCEPTION 'job_name can not be NULL' USING ERRCODE = 'null_value_not_allowed';
        END IF;
        -- pg_cron looks the name up among the caller's own jobs only.
        DELETE FROM @extschema@.uso_task t WHERE t.name = job_name AND t.username = current_user;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'could not find valid entry for job ''%''', job_name
                USING ERRCODE = 'undefined_object';
        END IF;
        RETURN true;
    END IF;
    IF job_id IS NULL THEN
        RAISE EXCEPTION 'job_id can not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    DELETE FROM @extschema@.uso_task t WHERE t.id = job_id;
    IF NOT FOUND THEN
        IF @extschema@.uso_cron_job_exists(job_id) THEN
            RAISE EXCEPTION 'permission denied for table job' USING ERRCODE = 'insufficient_privilege';
        END IF;
        RAISE EXCEPTION 'could not find valid entry for job %', job_id USING ERRCODE = 'undefined_object';
    END IF;
    RETURN true;
END
$$;
COMMENT ON FUNCTION @extschema@.uso_cron_unschedule(bigint, text, boolean) IS
    'Internal (pg_cron layer): cron.unschedule by id or by name.';

CREATE FUNCTION @extschema@.uso_cron_alter_job(job_id bigint, schedule text, command text,
    database text, username text, active boolean)
RETURNS void
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    job_user text := current_user;
BEGIN
    IF job_id IS NULL THEN
        RAISE EXCEPTION 'job_id can not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF uso_cron_alter_job.username IS NOT NULL THEN
        IF NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user) THEN
            RAISE EXCEPTION 'must be superuser to alter username' USING ERRCODE = 'insufficient_privilege';
        END IF;
        PERFORM @extschema@.uso_cron_check_role(uso_cron_alter_job.username);
        job_user := uso_cron_alter_job.username;
    END IF;
    IF uso_cron_alter_job.database IS NOT NULL THEN
        PERFORM @extschema@.uso_cron_check_database(uso_cron_alter_job.database, job_user);
    END IF;
    IF uso_cron_alter_job.schedule IS NOT NULL THEN
        PERFORM @extschema@.uso_cron_check_schedule(uso_cron_alter_job.schedule);
    END IF;
    IF num_nonnulls(uso_cron_alter_job.schedule, uso_cron_alter_job.command, uso_cron_alter_job.database,
                    uso_cron_alter_job.username, uso_cron_alter_job.active) = 0 THEN
        RAISE EXCEPTION 'no updates specified'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'You must specify at least one job attribute to change when calling alter_job';
    END IF;
    UPDATE @extschema@.uso_task t SET
        schedule = coalesce(uso_cron_alter_job.schedule, t.schedule),
        command  = coalesce(uso_cron_alter_job.command, t.command),
        database = coalesce(uso_cron_alter_job.database::name, t.database),
        username = coalesce(uso_cron_alter_job.username::name, t.username),
        enabled  = coalesce(uso_cron_alter_job.active, t.enabled)
    WHERE t.id = job_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'Job % does not exist or you don''t own it', job_id USING ERRCODE = 'undefined_object';
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.uso_cron_alter_job(bigint, text, text, text, text, boolean) IS
    'Internal (pg_cron layer): cron.alter_job.';

------------------------------------------------------------------------------
-- uso_install_cron_compat: creates schema cron.  Run by CREATE EXTENSION when
-- there is no schema cron; afterwards by hand once pg_cron is dropped.  Objects
-- created outside CREATE EXTENSION are added to the extension, so that
-- DROP EXTENSION uso_tasks removes them and pg_dump leaves them out.

CREATE FUNCTION @extschema@.uso_install_cron_compat() RETURNS void
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $install$
DECLARE
    obj record;
BEGIN
    IF NOT coalesce((SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user), false) THEN
        RAISE EXCEPTION 'must be superuser to install the pg_cron compatibility layer'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF EXISTS (SELECT FROM pg_extension e WHERE e.extname = 'pg_cron') THEN
        RAISE EXCEPTION 'pg_cron is installed in this database'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Copy its jobs with SELECT @extschema@.uso_import_pg_cron(); then DROP EXTENSION pg_cron; '
                         'and call this function again.';
    END IF;
    IF EXISTS (SELECT FROM pg_namespace n WHERE n.nspname = 'cron') THEN
        IF EXISTS (SELECT FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                   JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
                   JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'uso_tasks'
                   WHERE n.nspname = 'cron' AND p.proname = 'schedule') THEN
            RAISE NOTICE 'the pg_cron compatibility layer is already installed';
            RETURN;
        END IF;
        RAISE EXCEPTION 'schema "cron" already exists'
            USING ERRCODE = 'duplicate_schema',
                  HINT = 'Drop or rename it first; the pg_cron compatibility layer needs schema cron.';
    END IF;

    EXECUTE $ddl$
CREATE SCHEMA cron;
COMMENT ON SCHEMA cron IS 'pg_cron compatibility layer of uso_tasks: pg_cron''s tables and functions over uso_task.';

CREATE VIEW cron.job WITH (security_invoker = true) AS
SELECT t.id AS jobid,
       t.schedule,
       t.command,
       'localhost'::text AS nodename,
       coalesce(pg_catalog.inet_server_port(), pg_catalog.current_setting('port')::integer) AS nodeport,
       t.database::text AS database,
       t.username::text AS username,
       t.enabled AS active,
       CASE WHEN t.cron_unnamed THEN NULL ELSE t.name END AS jobname
FROM @extschema@.uso_task t;
COMMENT ON VIEW cron.job IS 'pg_cron 1.6''s job table: one row per uso_tasks task the current role may see.';
COMMENT ON COLUMN cron.job.jobid IS 'Job id (uso_task.id).';
COMMENT ON COLUMN cron.job.schedule IS 'When it runs (pg_cron syntax, or any uso_tasks schedule).';
COMMENT ON COLUMN cron.job.command IS 'SQL the job runs.';
COMMENT ON COLUMN cron.job.nodename IS 'Always localhost: jobs run in this server.';
COMMENT ON COLUMN cron.job.nodeport IS 'Port of this server.';
COMMENT ON COLUMN cron.job.database IS 'Database the command runs in.';
COMMENT ON COLUMN cron.job.username IS 'Role the command runs as.';
COMMENT ON COLUMN cron.job.active IS 'Whether it is scheduled (uso_task.enabled).';
COMMENT ON COLUMN cron.job.jobname IS 'Job name (uso_task.name); NULL for jobs created without a name.';

CREATE VIEW cron.job_run_details WITH (security_invoker = true) AS
SELECT r.task_id AS jobid,
       r.id AS runid,
       r.pid AS job_pid,
       (SELECT t.database::text FROM @extschema@.uso_task t WHERE t.id = r.task_id) AS database,
       (SELECT t.username::text FROM @extschema@.uso_task t WHERE t.id = r.task_id) AS username,
       (SELECT t.command FROM @extschema@.uso_task t WHERE t.id = r.task_id) AS command,
       CASE r.status WHEN 'queued' THEN 'starting'
                     WHEN 'running' THEN 'running'
                     WHEN 'succeeded' THEN 'succeeded'
                     ELSE 'failed' END AS status,
       r.return_message,
       r.started_at AS start_time,
       r.finished_at AS end_time
FROM @extschema@.uso_task_run r
WHERE r.status <> 'skipped';
COMMENT ON VIEW cron.job_run_details IS 'pg_cron 1.6''s run history: the runs of uso_tasks tasks the current role may see (skipped runs left out).';
COMMENT ON COLUMN cron.job_run_details.jobid IS 'The job that ran.';
COMMENT ON COLUMN cron.job_run_details.runid IS 'Run id (uso_task_run.id).';
COMMENT ON COLUMN cron.job_run_details.job_pid IS 'Process id of the worker that ran it.';
COMMENT ON COLUMN cron.job_run_details.database IS 'Database the job runs in.';
COMMENT ON COLUMN cron.job_run_details.username IS 'Role the job runs as.';
COMMENT ON COLUMN cron.job_run_details.command IS 'The job''s command (as it is now).';
COMMENT ON COLUMN cron.job_run_details.status IS 'starting, running, succeeded or failed (timed out and cancelled runs count as failed).';
COMMENT ON COLUMN cron.job_run_details.return_message IS 'Command tag or returned value on success, the error message on failure.';
COMMENT ON COLUMN cron.job_run_details.start_time IS 'When the run started.';
COMMENT ON COLUMN cron.job_run_details.end_time IS 'When it ended.';

GRANT SELECT ON cron.job TO PUBLIC;
GRANT SELECT, DELETE ON cron.job_run_details TO PUBLIC;

CREATE FUNCTION cron.schedule(schedule text, command text) RETURNS bigint
LANGUAGE sql SECURITY INVOKER SET search_path = pg_catalog, pg_temp
AS $f$ SELECT @extschema@.uso_cron_schedule(NULL, schedule, command, NULL, NULL, true, false) $f$;
COMMENT ON FUNCTION cron.schedule(text, text) IS 'schedule a pg_cron job';

CREATE FUNCTION cron.schedule(job_name text, schedule text, command text) RETURNS bigint
LANGUAGE sql SECURITY INVOKER SET search_path = pg_catalog, pg_temp
AS $f$ SELECT @extschema@.uso_cron_schedule(job_name, schedule, command, NULL, NULL, true, true) $f$;
COMMENT ON FUNCTION cron.schedule(text, text, text) IS 'schedule a pg_cron job';

CREATE FUNCTION cron.schedule_in_database(job_name text, schedule text, command text, database text,
    username text DEFAULT NULL, active boolean DEFAULT 'true') RETURNS bigint
LANGUAGE sql SECURITY INVOKER SET search_path = pg_catalog, pg_temp
AS $f$ SELECT @extschema@.uso_cron_schedule(job_name, schedule, command, database, username, active, true) $f$;
COMMENT ON FUNCTION cron.schedule_in_database(text, text, text, text, text, boolean) IS 'schedule a pg_cron job';
REVOKE ALL ON FUNCTION cron.schedule_in_database(text, text, text, text, text, boolean) FROM PUBLIC;

CREATE FUNCTION cron.unschedule(job_id bigint) RETURNS boolean
LANGUAGE sql SECURITY INVOKER SET search_path = pg_catalog, pg_temp
AS $f$ SELECT @extschema@.uso_cron_unschedule(job_id, NULL, false) $f$;
COMMENT ON FUNCTION cron.unschedule(bigint) IS 'unschedule a pg_cron job';

CREATE FUNCTION cron.unschedule(job_name text) RETURNS boolean
LANGUAGE sql SECURITY INVOKER SET search_path = pg_catalog, pg_temp
AS $f$ SELECT @extschema@.uso_cron_unschedule(NULL, job_name, true) $f$;
COMMENT ON FUNCTION cron.unschedule(text) IS 'unschedule a pg_cron job';

CREATE FUNCTION cron.alter_job(job_id bigint, schedule text DEFAULT NULL, command text DEFAULT NULL,
    database text DEFAULT NULL, username text DEFAULT NULL, active boolean DEFAULT NULL) RETURNS void
LANGUAGE sql SECURITY INVOKER SET search_path = pg_catalog, pg_temp
AS $f$ SELECT @extschema@.uso_cron_alter_job(job_id, schedule, command, database, username, active) $f$;
COMMENT ON FUNCTION cron.alter_job(bigint, text, text, text, text, boolean) IS
    'Alter the job identified by job_id. Any option left as NULL will not be modified.';
REVOKE ALL ON FUNCTION cron.alter_job(bigint, text, text, text, text, boolean) FROM PUBLIC;
$ddl$;

    -- Inside CREATE EXTENSION everything above already belongs to uso_tasks.
    IF NOT EXISTS (SELECT FROM pg_depend d
                   WHERE d.classid = 'pg_namespace'::regclass AND d.deptype = 'e'
                     AND d.objid = (SELECT n.oid FROM pg_namespace n WHERE n.nspname = 'cron')) THEN
        EXECUTE 'ALTER EXTENSION uso_tasks ADD SCHEMA cron';
        FOR obj IN SELECT c.oid::regclass AS v FROM pg_class c
                   WHERE c.relnamespace = 'cron'::regnamespace AND c.relkind = 'v' LOOP
            EXECUTE format('ALTER EXTENSION uso_tasks ADD VIEW %s', obj.v);
        END LOOP;
        FOR obj IN SELECT p.oid::regprocedure AS f FROM pg_proc p
                   WHERE p.pronamespace = 'cron'::regnamespace LOOP
            EXECUTE format('ALTER EXTENSION uso_tasks ADD FUNCTION %s', obj.f);
        END LOOP;
        RAISE NOTICE 'pg_cron compatibility layer installed in schema cron';
    END IF;
END
$install$;
COMMENT ON FUNCTION @extschema@.uso_install_cron_compat() IS
    'Installs the pg_cron compatibility layer (schema cron). Call it after DROP EXTENSION pg_cron; superuser only.';
REVOKE ALL ON FUNCTION @extschema@.uso_install_cron_compat() FROM PUBLIC;

-- Install it now, unless pg_cron (or anything else) already owns schema cron.
-- A WARNING, not a NOTICE: CREATE EXTENSION hides its script's notices.
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_namespace WHERE nspname = 'cron') THEN
        RAISE WARNING 'schema "cron" already exists (pg_cron?): the pg_cron compatibility layer of uso_tasks was not installed'
            USING HINT = 'To move over: SELECT @extschema@.uso_import_pg_cron(); then DROP EXTENSION pg_cron; '
                         'then SELECT @extschema@.uso_install_cron_compat();';
    ELSE
        PERFORM @extschema@.uso_install_cron_compat();
    END IF;
END
$$;
-- uso_tasks: uso_import_pg_cron(), moving pg_cron's jobs (and optionally
-- their history) into uso_tasks while pg_cron is still installed.
--
-- Each job keeps its jobid (as uso_task.id), name, role, database, active flag,
-- schedule and command.  A job that uso_tasks cannot take over (a schedule it
-- rejects, a role without LOGIN, a dropped database, another node) is skipped
-- and named in the report; everything else is imported.  By default the
-- imported jobs are then deactivated in pg_cron, so that each job keeps
-- running exactly once (by uso_tasks) until pg_cron is dropped.

CREATE FUNCTION @extschema@.uso_import_pg_cron(with_history boolean DEFAULT false,
                                               pause_pg_cron boolean DEFAULT true)
RETURNS text
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    job        record;
    task_name  text;
    existing   text;
    report     text[] := '{}';
    imported   bigint[] := '{}';
    already    bigint[] := '{}';
    skipped    int := 0;
    runs       bigint := 0;
    paused     bigint := 0;
    keep_ids   boolean;
    max_id     bigint;
    grants     text;
    moved_to   bigint;
BEGIN
    IF NOT coalesce((SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user), false) THEN
        RAISE EXCEPTION 'must be superuser to import pg_cron jobs'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF with_history IS NULL OR pause_pg_cron IS NULL THEN
        RAISE EXCEPTION 'with_history and pause_pg_cron must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT EXISTS (SELECT FROM pg_extension e WHERE e.extname = 'pg_cron') THEN
        RAISE EXCEPTION 'pg_cron is not installed in database "%"', current_database()
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Run this in the database named by cron.database_name, where pg_cron keeps its jobs.';
    END IF;

    -- Ids handed out from now on (to tasks moved out of the way below, and to
    -- new tasks) must not be ones pg_cron's jobs still need.
    EXECUTE 'SELECT max(jobid) FROM cron.job' INTO max_id;
    IF max_id IS NOT NULL THEN
        PERFORM setval('@extschema@.uso_task_id_seq',
                       greatest(max_id, (SELECT s.last_value FROM @extschema@.uso_task_id_seq s)));
    END IF;

    -- pg_cron 1.4 has jobname of type name, 1.5+ text: read it as text.
    FOR job IN EXECUTE
        'SELECT jobid, schedule, command, nodename, database, username, active, jobname::text AS jobname
         FROM cron.job ORDER BY jobid'
    LOOP
        task_name := coalesce(job.jobname, 'cron_job_' || job.jobid);
        SELECT t.name INTO existing FROM @extschema@.uso_task t WHERE t.id = job.jobid;
        IF existing = task_name OR existing = task_name || '@' || job.username THEN
            already := already || job.jobid;
            CONTINUE;
        END IF;
        IF job.nodename NOT IN ('localhost', '127.0.0.1', '::1', '') AND job.nodename !~ '^/' THEN
            skipped := skipped + 1;
            report := report || format('job %s skipped: it runs on node %s, uso_tasks runs jobs only in this server',
                                       job.jobid, job.nodename);
            CONTINUE;
        END IF;
        -- pg_cron names are unique per role, uso_tasks names across roles.
        IF EXISTS (SELECT FROM @extschema@.uso_task t WHERE t.name = task_name) THEN
            report := report || format('job %s renamed to "%s": the name "%s" is taken',
                                       job.jobid, task_name || '@' || job.username, task_name);
            task_name := task_name || '@' || job.username;
        END IF;
        BEGIN
            -- pg_cron's jobids are what its users' scripts hold on to; uso_tasks'
            -- own ids are not, so a task already using the jobid moves to a new
            -- id, with its runs (only if the job is then imported).
            IF existing IS NOT NULL THEN
                moved_to := nextval('@extschema@.uso_task_id_seq');
                UPDATE @extschema@.uso_task t SET name = 'uso_import_moving_' || job.jobid
                WHERE t.id = job.jobid;
                INSERT INTO @extschema@.uso_task
                SELECT (jsonb_populate_record(t, jsonb_build_object('id', moved_to, 'name', existing))).*
                FROM @extschema@.uso_task t WHERE t.id = job.jobid;
                UPDATE @extschema@.uso_task_run r SET task_id = moved_to WHERE r.task_id = job.jobid;
                DELETE FROM @extschema@.uso_task t WHERE t.id = job.jobid;
            END IF;
            INSERT INTO @extschema@.uso_task
                (id, name, cron_unnamed, description, schedule, command, database, username, enabled)
            VALUES (job.jobid, task_name, job.jobname IS NULL, 'imported from pg_cron',
                    job.schedule, job.command, job.database, job.username, job.active);
            imported := imported || job.jobid;
            IF existing IS NOT NULL THEN
                report := report || format('task "%s" moved from id %s to id %s to make room for pg_cron job %s',
                                           existing, job.jobid, moved_to, job.jobid);
            END IF;
        EXCEPTION WHEN OTHERS THEN
            skipped := skipped + 1;
            report := report || format('job %s skipped: %s', job.jobid, SQLERRM);
        END;
    END LOOP;

    -- New tasks and cron jobs must get ids after the imported ones.
    SELECT max(t.id) INTO max_id FROM @extschema@.uso_task t;
    IF max_id IS NOT NULL THEN
        PERFORM setval('@extschema@.uso_task_id_seq',
                       greatest(max_id, (SELECT s.last_value FROM @extschema@.uso_task_id_seq s)));
    END IF;

    IF with_history AND cardinality(imported || already) > 0 THEN
        -- Keep pg_cron's run ids unless one of them is taken by another run.
        EXECUTE 'SELECT NOT EXISTS (SELECT FROM cron.job_run_details d
                                    JOIN @extschema@.uso_task_run r ON r.id = d.runid
                                    WHERE d.jobid = ANY ($1) AND r.task_id <> d.jobid)'
            INTO keep_ids USING imported || already;
        EXECUTE 'INSERT INTO @extschema@.uso_task_run
                     (id, task_id, trigger, queued_at, started_at, finished_at, status, pid, return_message)
                 SELECT CASE WHEN $2 THEN d.runid
                             ELSE nextval(''@extschema@.uso_task_run_id_seq'') END,
                        d.jobid, ''schedule'', coalesce(d.start_time, d.end_time, now()), d.start_time,
                        coalesce(d.end_time, d.start_time, now()),
                        CASE d.status WHEN ''succeeded'' THEN ''succeeded'' ELSE ''failed'' END,
                        d.job_pid,
                        CASE WHEN d.status IN (''succeeded'', ''failed'') THEN d.return_message
                             ELSE concat_ws('' '', d.return_message,
                                            ''(still '' || d.status || '' in pg_cron when it was imported)'') END
                 FROM cron.job_run_details d
                 WHERE d.jobid = ANY ($1)
                   AND NOT EXISTS (SELECT FROM @extschema@.uso_task_run r
                                   WHERE r.id = d.runid AND r.task_id = d.jobid)
                 ORDER BY d.runid'
            USING imported || already, keep_ids;
        GET DIAGNOSTICS runs = ROW_COUNT;
        IF keep_ids THEN
            SELECT max(r.id) INTO max_id FROM @extschema@.uso_task_run r;
            IF max_id IS NOT NULL THEN
                PERFORM setval('@extschema@.uso_task_run_id_seq',
                               greatest(max_id, (SELECT s.last_value FROM @extschema@.uso_task_run_id_seq s)));
            END IF;
        END IF;
        report := report || format('imported %s runs from cron.job_run_details%s', runs,
                                   CASE WHEN keep_ids THEN '' ELSE ' (with new run ids: some were taken)' END);
    END IF;

    IF pause_pg_cron AND cardinality(imported) > 0 THEN
        EXECUTE 'UPDATE cron.job SET active = false WHERE jobid = ANY ($1) AND active' USING imported;
        GET DIAGNOSTICS paused = ROW_COUNT;
        IF paused > 0 THEN
            report := report || format('deactivated %s imported jobs in pg_cron (cron.job.active = false) '
                                       'so that uso_tasks alone runs them', paused);
        END IF;
    END IF;

    report := array_prepend(format('imported %s pg_cron jobs%s%s%s', cardinality(imported),
        CASE WHEN cardinality(imported) > 0 THEN ' (jobids ' || array_to_string(imported, ', ') || ')' END,
        CASE WHEN cardinality(already) > 0 THEN format(', %s already imported', cardinality(already)) END,
        CASE WHEN skipped > 0 THEN format(', skipped %s', skipped) END), report);
    -- pg_cron's grants go with its schema: say how to give them back.
    SELECT string_agg(g, ' ' ORDER BY g) INTO grants FROM (
        SELECT format('GRANT USAGE ON SCHEMA cron TO %s;',
                      CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END) AS g
        FROM pg_namespace n, aclexplode(n.nspacl) a
        WHERE n.nspname = 'cron' AND a.privilege_type = 'USAGE' AND a.grantee <> n.nspowner
        UNION ALL
        SELECT format('GRANT EXECUTE ON FUNCTION %s TO %s;', p.oid::regprocedure,
                      CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END)
        FROM pg_proc p, aclexplode(p.proacl) a
        WHERE p.pronamespace = 'cron'::regnamespace AND p.proname IN ('alter_job', 'schedule_in_database')
          AND a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner) grants;
    report := report || 'next: DROP EXTENSION pg_cron; then SELECT @extschema@.uso_install_cron_compat();'::text;
    IF grants IS NOT NULL THEN
        report := report || ('then restore pg_cron''s grants: ' || grants);
    END IF;
    RETURN array_to_string(report, E'\n');
END
$$;
COMMENT ON FUNCTION @extschema@.uso_import_pg_cron(boolean, boolean) IS
    'Copies every pg_cron job (same jobid, name, role, database, active flag) and optionally its run history into uso_tasks; reports what it did. Superuser only.';
REVOKE ALL ON FUNCTION @extschema@.uso_import_pg_cron(boolean, boolean) FROM PUBLIC;
-- uso_tasks: retention of run history (docs/retention.md).
--
-- Finished runs older than uso_tasks.run_retention, and those beyond their
-- task's keep_runs newest, are deleted with their log lines in bounded
-- batches that skip rows other transactions hold (src/retention.c). Queued
-- and running runs are never touched. A role purges the runs of its own
-- tasks; superusers and members of uso_admin purge every task's.

CREATE FUNCTION @extschema@.uso_purge_runs_batch(older_than interval, batch_size integer)
    RETURNS bigint
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'uso_purge_runs_batch';
COMMENT ON FUNCTION @extschema@.uso_purge_runs_batch(interval, integer) IS
'Deletes at most batch_size finished runs (with their log lines) that finished before '
'now() - older_than (NULL = uso_tasks.run_retention) or lie beyond their task''s keep_runs '
'newest; rows locked by others are skipped. Returns how many it deleted.';

CREATE FUNCTION @extschema@.uso_purge_runs(older_than interval DEFAULT NULL)
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    total bigint := 0;
    n bigint;
BEGIN
    LOOP
        n := @extschema@.uso_purge_runs_batch(older_than, 10000);
        total := total + n;
        EXIT WHEN n = 0;
    END LOOP;
    RETURN total;
END
$$;
COMMENT ON FUNCTION @extschema@.uso_purge_runs(interval) IS
'Purges finished runs and their log lines now, in one transaction: those finished before '
'now() - older_than (NULL = uso_tasks.run_retention) and those beyond their task''s keep_runs '
'newest. Never touches queued or running runs; a role purges only its own tasks'' runs. '
'Returns how many runs it deleted.';

-- A procedure without SET clauses, so it may COMMIT between batches (the
-- executor runs CALL in a non-atomic context): no long transaction, no
-- lock held for more than one batch. Without a pinned search_path, its
-- operators are spelled out so none of the caller's can stand in.
CREATE PROCEDURE @extschema@.uso_purge_runs_batched(older_than interval DEFAULT NULL,
                                                    batch_size integer DEFAULT 10000)
    LANGUAGE plpgsql
AS $$
DECLARE
    total bigint := 0;
    n bigint;
BEGIN
    LOOP
        n := @extschema@.uso_purge_runs_batch(older_than, batch_size);
        total := total OPERATOR(pg_catalog.+) n;
        COMMIT;
        EXIT WHEN n OPERATOR(pg_catalog.=) 0;
    END LOOP;
    RAISE NOTICE 'purged % runs', total;
END
$$;
COMMENT ON PROCEDURE @extschema@.uso_purge_runs_batched(interval, integer) IS
'The housekeeping task''s purge: as uso_purge_runs(), committing after each batch of '
'batch_size runs; reports the count as a NOTICE. Call it outside a transaction block.';

-- Whoever may DELETE from uso_task_run (PUBLIC, for the pg_cron layer's
-- job_run_details, limited to its own runs by row-level security) must not
-- delete a run that is still queued or running: the executor and the
-- scheduler still own it.
-- (The pg_cron layer, which grants DELETE for cron.job_run_details, may
-- already have created the same policy under its own name.)
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_policy
                   WHERE polrelid = '@extschema@.uso_task_run'::pg_catalog.regclass
                     AND NOT polpermissive AND polcmd = 'd') THEN
        CREATE POLICY uso_task_run_purge ON @extschema@.uso_task_run AS RESTRICTIVE FOR DELETE
            USING (finished_at IS NOT NULL);
    END IF;
END
$$;

INSERT INTO @extschema@.uso_task (name, category, schedule, command, description) VALUES
('uso_housekeeping', 'uso_tasks', '17 * * * *', 'CALL @extschema@.uso_purge_runs_batched()',
 'Log Cleanup: deletes finished runs and their log lines older than uso_tasks.run_retention '
 '(default 30 days) and beyond each task''s keep_runs, in batches that never hold up the scheduler.');
-- Every task registered by this script is built in: left out of pg_dump and
-- given a negative id, so the ids of user tasks (and of jobs imported from
-- pg_cron, which keep their jobid) never collide with them, also when a dump
-- is restored into a database where CREATE EXTENSION registered them anew.
UPDATE @extschema@.uso_task SET builtin = true, id = -id;
SELECT pg_catalog.setval('@extschema@.uso_task_id_seq', 1, false);
