-- The admin view tells the truth (issue 12 part 6): a run that succeeded but
-- skipped items (logged warnings) is not shown as a clean success, a waiting
-- one-off run shows when it is due, built-in tasks are marked, and log lines
-- can be read with their task's name.
SET timezone = 'UTC';
SET client_min_messages = warning;
CREATE FUNCTION bt_skips(n integer) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..n LOOP
        RAISE WARNING 'item % skipped', i;
    END LOOP;
    RAISE NOTICE 'done';
    RETURN format('%s item(s) skipped', n);
END
$$;
SELECT uso_schedule('bt_clean', '@manual', 'SELECT bt_skips(0)') > 0 AS created;
SELECT uso_schedule('bt_warns', '@manual', 'SELECT bt_skips(2)') > 0 AS created;
SELECT uso_schedule('bt_fails', '@manual', 'SELECT 1/0') > 0 AS created;

SELECT uso_run_now('bt_clean') AS r \gset
SELECT uso_wait(:r, '1 minute');
SELECT uso_run_now('bt_warns') AS r \gset
SELECT uso_wait(:r, '1 minute');
SELECT uso_run_now('bt_fails') AS r \gset
SELECT uso_wait(:r, '1 minute');

SELECT name, status, last_status, warnings, builtin, last_log
FROM uso_background_tasks WHERE name LIKE 'bt\_%' ORDER BY name;

-- a one-off run next week: its due time, not just "queued"
SELECT uso_run_at('bt_clean', date_trunc('day', now()) + interval '7 days 09:30') > 0 AS queued;
SELECT name, next_once_at = date_trunc('day', now()) + interval '7 days 09:30' AS due_shown,
       next_run_at = next_once_at AS next_run_is_it
FROM uso_background_tasks WHERE name = 'bt_clean';
SELECT count(*) AS without_one_off FROM uso_background_tasks
WHERE name LIKE 'bt\_%' AND next_once_at IS NULL;

-- built-in tasks are marked
SELECT bool_and(builtin) FILTER (WHERE name = 'uso_housekeeping') AS housekeeping_builtin,
       bool_or(builtin) FILTER (WHERE name LIKE 'bt\_%') AS ours_builtin
FROM uso_background_tasks;

-- log lines with their task
SELECT task, run_status, seq, level, message
FROM uso_task_log_lines WHERE task LIKE 'bt\_%' ORDER BY task, seq;

-- new columns come last (CREATE OR REPLACE VIEW appends only)
SELECT attname FROM pg_attribute
WHERE attrelid = 'uso_background_tasks'::regclass AND attnum > 0 ORDER BY attnum;

SELECT uso_unschedule(n) FROM unnest(ARRAY['bt_clean', 'bt_warns', 'bt_fails']) n;
DROP FUNCTION bt_skips(integer);
