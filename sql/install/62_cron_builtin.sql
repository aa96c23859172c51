-- uso_tasks: uso_restore_builtin_tasks(), registering again the built-in
-- tasks of uso_tasks that were deleted (before 0.2 the cron layer listed
-- them as cron jobs, and `SELECT cron.unschedule(jobid) FROM cron.job`
-- deleted retention and alert delivery; uso_unschedule still can).
--
-- The definitions are those of a fresh install (sql/builtin/uso_tasks.sql):
-- keep the two in step; the cron_tz regression test compares them.

CREATE FUNCTION _uso_tasks.uso_builtin_task_defs()
RETURNS TABLE (name text, schedule text, command text, description text, record_runs text)
LANGUAGE sql IMMUTABLE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
VALUES
('uso_housekeeping', '17 * * * *', 'CALL _uso_tasks.uso_purge_runs_batched(NULL, 10000)',
 'Log Cleanup: deletes finished runs and their log lines older than uso_tasks.run_retention '
 '(default 30 days) and beyond each task''s keep_runs, in batches that never hold up the scheduler.',
 'all'),
('uso_deliver_alerts', '10 seconds', 'CALL _uso_tasks.uso_deliver_alerts(100, NULL)',
 'Alert delivery: counts run ends into uso_task_stats, sends the mails and webhook calls of failed, missing and recovered tasks '
 '(uso_alerts), retrying a mail server that is down.',
 'failures')
$$;
COMMENT ON FUNCTION _uso_tasks.uso_builtin_task_defs() IS
    'Internal: the built-in tasks of uso_tasks as a fresh install registers them (sql/builtin/uso_tasks.sql).';

CREATE FUNCTION @extschema@.uso_restore_builtin_tasks() RETURNS SETOF text
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    taken text;
BEGIN
    IF NOT coalesce((SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user), false) THEN
        RAISE EXCEPTION 'must be superuser to register the built-in tasks'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    -- Two calls at once would both find a task missing.
    LOCK TABLE @extschema@.uso_task IN SHARE ROW EXCLUSIVE MODE;
    SELECT d.name INTO taken
    FROM _uso_tasks.uso_builtin_task_defs() d
    JOIN @extschema@.uso_task t ON t.name = d.name AND NOT t.builtin
    ORDER BY d.name LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'a task named "%" exists and is not built in', taken
            USING ERRCODE = 'duplicate_object',
                  HINT = format('Rename it (SELECT @extschema@.uso_alter_task(%L, name => ...)) and call this again.',
                                taken);
    END IF;
    -- As a fresh install registers them: built in, with negative ids.
    RETURN QUERY
    INSERT INTO @extschema@.uso_task AS t (id, builtin, extension, name, category, schedule, command,
                                           description, record_runs)
    SELECT (SELECT least(min(o.id), 0) FROM @extschema@.uso_task o) - row_number() OVER (ORDER BY d.name),
           true, 'uso_tasks', d.name, 'uso_tasks', d.schedule, d.command, d.description, d.record_runs
    FROM _uso_tasks.uso_builtin_task_defs() d
    WHERE NOT EXISTS (SELECT FROM @extschema@.uso_task o WHERE o.name = d.name)
    RETURNING t.name::text;
END
$$;
COMMENT ON FUNCTION @extschema@.uso_restore_builtin_tasks() IS
    'Registers again the built-in tasks of uso_tasks (uso_housekeeping, uso_deliver_alerts) that are missing, as a fresh install has them; returns their names. Superuser only.';
REVOKE ALL ON FUNCTION @extschema@.uso_restore_builtin_tasks() FROM PUBLIC;
