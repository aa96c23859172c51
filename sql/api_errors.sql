-- Errors of the task API say what the caller passed and what to fix, and
-- carry no CONTEXT quoting our internal statements or PL/pgSQL lines
-- (issue 15.1).  SHOW_CONTEXT always: any context line would show here.
\set SHOW_CONTEXT always
SET timezone = 'UTC';
SET client_min_messages = warning;

-- uso_schedule: errors from the validating trigger (the internal INSERT),
-- from the C grammar and from uso_schedule itself
SELECT uso_schedule('ctx_a', 'every fortnight', 'SELECT 1');
SELECT uso_schedule('ctx_a', '0 0 30 2 *', 'SELECT 1');
SELECT uso_schedule('ctx_a', 'every 1 hour', 'SELECT 1', overlap => 'sometimes');
SELECT uso_schedule('ctx_a', 'every 1 hour', 'BEGIN; SELECT 1; COMMIT');
SELECT uso_schedule('ctx_a', 'every 1 hour', 'SELECT 1', username => 'no_such_role_ctx');
SELECT uso_schedule('ctx_a', 'every 1 hour', 'SELECT 1', config => '[1]');
SELECT uso_schedule(NULL, 'every 1 hour', 'SELECT 1');
-- warnings lose our context too
SELECT uso_schedule('ctx_a', 'every 1 hour', 'SELECT 1', timezone => 'CET+1') > 0 AS created;
SELECT count(*) AS tasks FROM uso_task WHERE name = 'ctx_a';

-- uso_alter_task, uso_unschedule, uso_enable, uso_disable
SELECT uso_alter_task('ctx_a', timeout => '-1 second');
SELECT uso_alter_task('ctx_a', schedule => '* * 31 2 *');
SELECT uso_alter_task('ctx_nope', enabled => false);
SELECT uso_unschedule('ctx_nope');
SELECT uso_enable('ctx_nope');
SELECT uso_disable('ctx_nope');
SELECT uso_schedule('ctx_b', 'every 1 hour', 'SELECT 1') > 0 AS created;
SELECT uso_alter_task('ctx_b', new_name => 'ctx_a');

-- the pg_cron layer: pg_cron's messages, no context of ours; its warning for
-- a schedule that never fires has none either
SELECT cron.schedule('ctx_c', 'every fortnight', 'SELECT 1');
SELECT cron.schedule('ctx_c', '0 0 30 2 *', 'SELECT 1') > 0 AS created;
SELECT cron.unschedule(987654321);
SELECT cron.unschedule('ctx_nope');
SELECT cron.alter_job(987654321, schedule => '@daily');
SELECT cron.schedule(NULL, NULL);

-- the caller's own frames stay: the error names the caller's statement
DO $$
BEGIN
    PERFORM uso_schedule('ctx_d', 'every fortnight', 'SELECT 1');
END
$$;
DO $$
BEGIN
    PERFORM cron.schedule('ctx_d', 'every fortnight', 'SELECT 1');
END
$$;
-- and a caller can still catch the error with its fields
DO $$
DECLARE
    st text; msg text; hint text; ctx text;
BEGIN
    PERFORM uso_schedule('ctx_d', '0 0 30 2 *', 'SELECT 1');
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT,
                            ctx = PG_EXCEPTION_CONTEXT;
    RAISE WARNING 'caught % "%" hint "%" context "%"', st, msg, hint, ctx;
END
$$;

-- a failure that is not about the input keeps its context (a bug must be
-- findable): here a trigger of a DBA's that fails with an internal error
CREATE FUNCTION ctx_broken() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'something internal broke' USING ERRCODE = 'internal_error';
END
$$;
CREATE TRIGGER ctx_broken BEFORE UPDATE ON uso_task FOR EACH ROW EXECUTE FUNCTION ctx_broken();
SELECT uso_disable('ctx_a');
DROP TRIGGER ctx_broken ON uso_task;
DROP FUNCTION ctx_broken();

SELECT uso_unschedule(n) FROM unnest(ARRAY['ctx_a', 'ctx_b']) n;
SELECT cron.unschedule('ctx_c');
