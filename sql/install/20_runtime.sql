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

CREATE FUNCTION @extschema@.uso_check_command(command text) RETURNS void
    LANGUAGE c STABLE STRICT AS 'MODULE_PATHNAME', 'uso_check_command';
COMMENT ON FUNCTION @extschema@.uso_check_command(text) IS
    'Raises 22023 when a task could not run this command: transaction control, or a statement that cannot run in a transaction block (VACUUM, CREATE DATABASE, ...) among others. A command that does not parse passes.';

CREATE FUNCTION @extschema@.uso_library_version() RETURNS text
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'uso_library_version';
COMMENT ON FUNCTION @extschema@.uso_library_version() IS
    'The catalog version the loaded uso_tasks library speaks; the scheduler and the API wait for pg_extension.extversion to equal it (ALTER EXTENSION uso_tasks UPDATE).';

-- STABLE so that the admin view's WHERE uso_warn_scheduler() is checked once
-- per query (a one-time filter), not once per row.
CREATE FUNCTION _uso_tasks.uso_warn_scheduler() RETURNS boolean
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'uso_warn_scheduler';
COMMENT ON FUNCTION _uso_tasks.uso_warn_scheduler() IS
    'Raises a WARNING saying what to do when the library is not preloaded or this database''s scheduler is not running; returns true.';

CREATE FUNCTION @extschema@.uso_scheduler_start() RETURNS void
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'uso_scheduler_start';
COMMENT ON FUNCTION @extschema@.uso_scheduler_start() IS
    'Starts this database''s scheduler at commit (CREATE EXTENSION calls it).';
REVOKE EXECUTE ON FUNCTION @extschema@.uso_scheduler_start() FROM PUBLIC;

CREATE FUNCTION _uso_tasks.uso_task_changed() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'uso_task_changed';
COMMENT ON FUNCTION _uso_tasks.uso_task_changed() IS
    'Trigger: wakes the scheduler after commit so it reloads the tasks.';

-- The scheduler's own writes (next_run_at, last_run_at) do not wake it.
CREATE TRIGGER uso_task_changed
    AFTER INSERT OR DELETE OR TRUNCATE OR UPDATE OF name, schedule, command, config,
        database, username, enabled, timezone, timeout, max_retries, retry_delay,
        retry_after, keep_runs, overlap, misfire
    ON @extschema@.uso_task
    FOR EACH STATEMENT EXECUTE FUNCTION _uso_tasks.uso_task_changed();

