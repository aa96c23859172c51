-- Security of the SQL surface: row-level security (a role sees and changes
-- only its own tasks and runs, uso_admin sees all), privileges (no direct
-- writes, HTTP and mail only for uso_http), SECURITY DEFINER hygiene, and
-- search_path shadowing: operators and functions planted in the caller's
-- search_path are never used by the extension's own SQL.
-- (Running tasks as their owner is tested in test/t/060_security.pl.)
\set VERBOSITY terse
SET timezone = 'UTC';
CREATE ROLE sec_alice LOGIN;
CREATE ROLE sec_bob LOGIN;
CREATE ROLE sec_admin IN ROLE uso_admin;

INSERT INTO uso_task (name, schedule, command, username) VALUES
    ('sec_alice_task', '@manual', 'SELECT 1', 'sec_alice'),
    ('sec_bob_task', '@manual', 'SELECT 1', 'sec_bob');
INSERT INTO uso_task_run (task_id, trigger, status, queued_at, started_at, finished_at, return_message)
SELECT id, 'manual', 'succeeded', '2026-01-01 00:00+00', '2026-01-01 00:00+00',
       '2026-01-01 00:00:01+00', name || ' ran'
FROM uso_task WHERE name LIKE 'sec\_%';
INSERT INTO uso_task_log (run_id, seq, level, message)
SELECT r.id, 1, 'NOTICE', t.name || ' says hi'
FROM uso_task_run r JOIN uso_task t ON t.id = r.task_id WHERE t.name LIKE 'sec\_%';
SELECT r.id AS alice_run FROM uso_task_run r JOIN uso_task t ON t.id = r.task_id
WHERE t.name = 'sec_alice_task' \gset
SELECT r.id AS bob_run FROM uso_task_run r JOIN uso_task t ON t.id = r.task_id
WHERE t.name = 'sec_bob_task' \gset

-- try(): the SQLSTATE and message of a statement (numbers masked)
CREATE FUNCTION sec_try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    st text;
    msg text;
BEGIN
    EXECUTE stmt;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
    RETURN st || ' ' || regexp_replace(msg, '[0-9]+', 'N', 'g');
END
$$;
GRANT EXECUTE ON FUNCTION sec_try(text) TO PUBLIC;

-- privileges: PUBLIC reads the catalog and the views, writes uso_task rows
-- (checked by the validation trigger) and deletes finished runs, all limited
-- to its own rows by row-level security; the log is never written directly
SELECT c.relname, p.priv, has_table_privilege('sec_alice', c.oid, p.priv) AS alice_may
FROM pg_class c
CROSS JOIN unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) p(priv)
WHERE c.relname IN ('uso_task', 'uso_task_run', 'uso_task_log', 'uso_task_runs', 'uso_background_tasks')
  AND c.relnamespace = 'public'::regnamespace
ORDER BY c.relname, p.priv;
SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class
WHERE relname IN ('uso_task', 'uso_task_run', 'uso_task_log') ORDER BY relname;
SELECT c.relname, c.reloptions FROM pg_class c
WHERE c.relname IN ('uso_task_runs', 'uso_background_tasks') ORDER BY c.relname;

-- functions PUBLIC may not execute, and who may
SELECT p.oid::regprocedure AS function,
       has_function_privilege('uso_http', p.oid, 'EXECUTE') AS uso_http_may
FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'uso_tasks'
WHERE NOT has_function_privilege('sec_alice', p.oid, 'EXECUTE')
ORDER BY p.oid::regprocedure::text COLLATE "C";
-- every SECURITY DEFINER function of the extension pins its search_path
SELECT p.oid::regprocedure AS unpinned_security_definer
FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'uso_tasks'
WHERE p.prosecdef
  AND NOT EXISTS (SELECT FROM unnest(p.proconfig) c WHERE c LIKE 'search\_path=%');
SELECT rolname, rolcanlogin, rolsuper FROM pg_roles
WHERE rolname IN ('uso_admin', 'uso_http') ORDER BY rolname;

-- alice sees her own task, run and log line, through tables and views
SET ROLE sec_alice;
SELECT name, username FROM uso_task ORDER BY name;
SELECT t.name, r.return_message FROM uso_task_run r JOIN uso_task t ON t.id = r.task_id;
SELECT message FROM uso_task_log;
SELECT task, status, return_message FROM uso_task_runs;
SELECT name, owner, last_status, last_log FROM uso_background_tasks;
SELECT _uso_tasks.uso_is_admin();
-- bob's task and run do not exist for her
SELECT sec_try($$SELECT uso_run_now('sec_bob_task')$$);
SELECT sec_try($$SELECT uso_run_at('sec_bob_task', '2030-01-01')$$);
SELECT sec_try(format('SELECT uso_wait(%s)', :bob_run));
SELECT sec_try(format('SELECT uso_cancel(%s)', :bob_run));
-- she may write her own task rows directly (the validation trigger checks
-- them as the API would), never another role's
SELECT sec_try($$INSERT INTO uso_task (name, schedule, command, username)
                 VALUES ('mine', '@daily', 'SELECT 1', 'sec_alice')$$);
SELECT sec_try($$INSERT INTO uso_task (name, schedule, command, username)
                 VALUES ('as_bob', '@daily', 'SELECT 1', 'sec_bob')$$);
SELECT sec_try($$INSERT INTO uso_task (name, schedule, command, username)
                 VALUES ('as_postgres', '@daily', 'SELECT 1', 'postgres')$$);
SELECT sec_try($$UPDATE uso_task SET username = 'postgres'$$);
SELECT sec_try($$UPDATE uso_task SET command = 'SELECT 2' WHERE name = 'sec_alice_task'$$);
SELECT sec_try($$DELETE FROM uso_task$$);
SELECT sec_try($$INSERT INTO uso_task_run (task_id, trigger) SELECT id, 'manual' FROM uso_task$$);
SELECT sec_try($$UPDATE uso_task_run SET status = 'failed'$$);
SELECT sec_try($$DELETE FROM uso_task_log$$);
SELECT sec_try($$TRUNCATE uso_task_run$$);
SELECT sec_try($$SELECT uso_scheduler_start()$$);
-- HTTP and mail are for members of uso_http only
SELECT sec_try($$SELECT uso_http_get('http://127.0.0.1:1/')$$);
SELECT sec_try($$SELECT uso_http_post('http://127.0.0.1:1/', 'x')$$);
SELECT sec_try($$SELECT uso_http_get_json('http://127.0.0.1:1/')$$);
SELECT sec_try($$SELECT uso_send_mail('a@example.org', 's', 'b')$$);
-- casts between built-in types cannot be redefined by her
SELECT sec_try($$CREATE CAST (text AS bigint) WITH INOUT$$);
SELECT sec_try($$CREATE CAST (bigint AS text) WITH INOUT AS IMPLICIT$$);
RESET ROLE;

-- a member of uso_http passes the privilege check (the allow list still refuses)
GRANT uso_http TO sec_alice;
SET ROLE sec_alice;
SELECT sec_try($$SELECT uso_http_get('http://127.0.0.1:1/')$$);
SELECT sec_try($$SELECT uso_send_mail('a@example.org', 's', 'b')$$);
RESET ROLE;
REVOKE uso_http FROM sec_alice;

-- bob purges only his own history
BEGIN;
SET ROLE sec_bob;
SELECT uso_purge_runs('0') AS bob_purged;
RESET ROLE;
SELECT t.name, count(r.id) AS runs FROM uso_task t LEFT JOIN uso_task_run r ON r.task_id = t.id
WHERE t.name LIKE 'sec\_%' GROUP BY t.name ORDER BY t.name;
ROLLBACK;

-- a member of uso_admin sees and manages every task and run
SET ROLE sec_admin;
SELECT _uso_tasks.uso_is_admin();
SELECT name, owner FROM uso_background_tasks WHERE name LIKE 'sec\_%' ORDER BY name;
SELECT task, return_message FROM uso_task_runs WHERE task LIKE 'sec\_%' ORDER BY task;
SELECT count(*) AS log_lines FROM uso_task_log l JOIN uso_task_run r ON r.id = l.run_id
JOIN uso_task t ON t.id = r.task_id WHERE t.name LIKE 'sec\_%';
SELECT uso_wait(:bob_run) AS bob_run_status, uso_cancel(:bob_run) AS cancelled_finished_run;
BEGIN;
SELECT uso_run_now('sec_bob_task') IS NOT NULL AS admin_queued_bobs_task;
ROLLBACK;
-- and an admin cannot give a task to another role (only a superuser can)
SELECT sec_try($$UPDATE uso_task SET username = 'postgres'$$);
RESET ROLE;

-- what a task executes (command, config, database) and as whom (username)
-- is changed only by its owner, a role that may SET ROLE to the owner, or a
-- superuser.  An admin who could rewrite a built-in task (owned by the
-- installing superuser) and run it would be superuser: every path is
-- refused, with 42501, and changes nothing.  An admin that can log in could
-- also take tasks over.
CREATE ROLE sec_admin_login LOGIN IN ROLE uso_admin;
GRANT USAGE ON SCHEMA cron TO sec_admin_login;
GRANT EXECUTE ON FUNCTION cron.alter_job(bigint, text, text, text, text, boolean),
    cron.schedule_in_database(text, text, text, text, text, boolean) TO sec_admin_login;
CREATE TABLE sec_exec_before AS SELECT id, command, config, database, username FROM uso_task;
SELECT id AS cc_id FROM uso_task WHERE name = 'CreateCycles' \gset
SELECT id AS bob_task_id FROM uso_task WHERE name = 'sec_bob_task' \gset
SELECT username AS cc_owner, builtin FROM uso_task WHERE name = 'CreateCycles';
SET ROLE sec_admin_login;
SELECT s AS attack, sec_try(s) AS outcome FROM unnest(ARRAY[
    $$UPDATE uso_task SET command = 'ALTER ROLE sec_admin_login SUPERUSER' WHERE name = 'CreateCycles'$$,
    $$UPDATE uso_task SET config = '{"url": "http://evil/"}' WHERE name = 'CreateCycles'$$,
    $$UPDATE uso_task SET database = 'postgres' WHERE name = 'CreateCycles'$$,
    $$UPDATE uso_task SET username = current_user WHERE name = 'SyncUsers'$$,
    $$UPDATE uso_task SET username = current_user WHERE name = 'sec_bob_task'$$,
    $$UPDATE uso_task SET command = 'SELECT 2' WHERE name = 'sec_bob_task'$$,
    $$UPDATE uso_task SET command = command || ' ' WHERE builtin AND name = 'AdvanceReviewWorkflow'$$,
    $$INSERT INTO uso_task (name, schedule, command) VALUES ('CreateCycles', 'P1D', 'ALTER ROLE sec_admin_login SUPERUSER')
      ON CONFLICT (name) DO UPDATE SET command = EXCLUDED.command$$,
    $$INSERT INTO uso_task (name, schedule, command) VALUES ('SyncUsers', 'P1D', 'SELECT 1')
      ON CONFLICT ON CONSTRAINT uso_task_name_key DO UPDATE SET username = EXCLUDED.username$$,
    $$SELECT uso_alter_task('CreateCycles', command => 'ALTER ROLE sec_admin_login SUPERUSER')$$,
    $$SELECT uso_alter_task('CreateCycles', config => '{"x": 1}')$$,
    $$SELECT uso_alter_task('CreateCycles', database => 'postgres')$$,
    $$SELECT uso_alter_task('SyncUsers', username => 'sec_admin_login')$$,
    $$SELECT uso_alter_task('sec_bob_task', command => 'SELECT 2')$$,
    $$SELECT uso_schedule('CreateCycles', 'P1D', 'ALTER ROLE sec_admin_login SUPERUSER')$$,
    $$SELECT uso_schedule('sec_bob_task', '@manual', 'SELECT 2')$$,
    $$SELECT cron.alter_job((SELECT id FROM uso_task WHERE name = 'CreateCycles'),
      command => 'ALTER ROLE sec_admin_login SUPERUSER')$$,
    $$SELECT cron.alter_job((SELECT id FROM uso_task WHERE name = 'CreateCycles'), database => 'postgres')$$,
    $$SELECT cron.alter_job((SELECT id FROM uso_task WHERE name = 'sec_bob_task'), command => 'SELECT 2')$$,
    $$SELECT cron.schedule_in_database('CreateCycles', '0 0 * * *', 'ALTER ROLE sec_admin_login SUPERUSER',
      current_database(), 'postgres')$$,
    $$SELECT uso_import_pg_cron()$$
]) s;
-- pg_cron's name upsert matches the caller's own jobs only: with another
-- role's job of that name it makes a job of the caller's own (names are per
-- role, as in pg_cron), never an update of the other's
SELECT sec_try($$SELECT cron.schedule('CreateCycles', '@daily', 'ALTER ROLE sec_admin_login SUPERUSER')$$);
SELECT sec_try($$SELECT cron.schedule_in_database('sec_bob_task', '@daily', 'SELECT 2', current_database())$$);
SELECT name, username FROM uso_task WHERE username = current_user ORDER BY name;
SELECT cron.unschedule('CreateCycles'), cron.unschedule('sec_bob_task');
-- the refusal says which rule, whose task and what to do
\set VERBOSITY default
\set SHOW_CONTEXT never
UPDATE uso_task SET command = 'ALTER ROLE sec_admin_login SUPERUSER' WHERE name = 'CreateCycles';
\set SHOW_CONTEXT errors
\set VERBOSITY terse
RESET ROLE;
SELECT count(*) AS changed FROM (SELECT id, command, config, database, username FROM uso_task
                                 EXCEPT SELECT * FROM sec_exec_before) c;
SELECT rolsuper FROM pg_roles WHERE rolname = 'sec_admin_login';
-- even with EXECUTE granted, the import is for superusers only
GRANT EXECUTE ON FUNCTION uso_import_pg_cron(boolean, boolean) TO sec_admin_login;
SET ROLE sec_admin_login;
SELECT sec_try($$SELECT uso_import_pg_cron()$$);
RESET ROLE;
REVOKE EXECUTE ON FUNCTION uso_import_pg_cron(boolean, boolean) FROM sec_admin_login;

-- everything else an admin may still do to any task; a write that leaves
-- command, config, database and username as they are passes
BEGIN;
SET ROLE sec_admin_login;
SELECT uso_alter_task('CreateCycles', schedule => 'P2D', description => 'd', category => 'c',
    timeout => '5 minutes', max_retries => 2, retry_delay => '2 minutes', retry_after => '2 days',
    keep_runs => 7, overlap => 'queue', misfire => 'skip', timezone => 'UTC');
SELECT uso_disable('CreateCycles'), uso_enable('CreateCycles');
SELECT uso_alter_task('CreateCycles', new_name => 'CreateCyclesRenamed');
SELECT uso_alter_task('CreateCyclesRenamed', new_name => 'CreateCycles');
UPDATE uso_task SET command = command, config = config, database = database, username = username
WHERE name IN ('CreateCycles', 'sec_bob_task');
SELECT cron.alter_job(:bob_task_id, schedule => '0 3 * * *', active => true);
SELECT uso_schedule('sec_bob_task', '@daily', 'SELECT 1') = :bob_task_id AS rescheduled;
SELECT uso_run_now('CreateCycles') IS NOT NULL AS admin_runs_it;
RESET ROLE;
SELECT name, schedule, timeout, max_retries, overlap, misfire FROM uso_task
WHERE name IN ('CreateCycles', 'sec_bob_task') ORDER BY name;
ROLLBACK;

-- a role that may SET ROLE to the owner may change what the task runs
BEGIN;
GRANT sec_bob TO sec_admin_login;
SET ROLE sec_admin_login;
SELECT sec_try($$UPDATE uso_task SET command = 'SELECT 3' WHERE name = 'sec_bob_task'$$);
SELECT sec_try($$SELECT uso_alter_task('sec_bob_task', config => '{"x": 1}')$$);
SELECT sec_try($$INSERT INTO uso_task (name, schedule, command, username)
                 VALUES ('sec_for_bob', '@manual', 'SELECT 1', 'sec_bob')$$);
-- and take it over (as she could by deleting it and creating her own)
SELECT sec_try($$UPDATE uso_task SET username = 'sec_admin_login' WHERE name = 'sec_bob_task'$$);
RESET ROLE;
SELECT name, command, config, username FROM uso_task WHERE name IN ('sec_bob_task', 'sec_for_bob') ORDER BY name;
ROLLBACK;
DROP TABLE sec_exec_before;

-- the internal functions behind the cron.* wrappers grant nothing more than
-- the wrappers do: each needs the right to the cron.* function it stands for
-- (USAGE on schema cron, and for alter_job / schedule_in_database an
-- explicit GRANT, as in pg_cron)
INSERT INTO uso_task (name, schedule, command, username)
VALUES ('sec_alice_cron', '@manual', 'SELECT 1', 'sec_alice');
SET ROLE sec_alice;
SELECT s AS direct_call, sec_try(s) AS outcome FROM unnest(ARRAY[
    $$SELECT _uso_tasks.uso_cron_schedule(NULL, '@daily', 'SELECT 1', NULL, NULL, true, false)$$,
    $$SELECT _uso_tasks.uso_cron_schedule('sec_c1', '@daily', 'SELECT 1', NULL, NULL, true, true)$$,
    $$SELECT _uso_tasks.uso_cron_schedule('sec_c2', '@daily', 'SELECT 1', current_database(), NULL, true, true)$$,
    $$SELECT _uso_tasks.uso_cron_schedule('sec_c3', '@daily', 'SELECT 1', NULL, NULL, false, true)$$,
    $$SELECT _uso_tasks.uso_cron_alter_job((SELECT id FROM uso_task WHERE name = 'sec_alice_cron'), '@weekly', NULL, NULL, NULL, NULL)$$
]) s;
RESET ROLE;
BEGIN;
GRANT USAGE ON SCHEMA cron TO sec_alice;
SET ROLE sec_alice;
SELECT s AS direct_call_with_usage, sec_try(s) AS outcome FROM unnest(ARRAY[
    $$SELECT _uso_tasks.uso_cron_schedule(NULL, '@daily', 'SELECT 1', NULL, NULL, true, false) > 0$$,
    $$SELECT _uso_tasks.uso_cron_schedule('sec_c1', '@daily', 'SELECT 1', NULL, NULL, true, true) > 0$$,
    $$SELECT _uso_tasks.uso_cron_schedule('sec_c2', '@daily', 'SELECT 1', current_database(), NULL, true, true)$$,
    $$SELECT _uso_tasks.uso_cron_schedule('sec_c3', '@daily', 'SELECT 1', NULL, NULL, false, true)$$,
    $$SELECT _uso_tasks.uso_cron_alter_job((SELECT id FROM uso_task WHERE name = 'sec_alice_cron'), '@weekly', NULL, NULL, NULL, NULL)$$
]) s;
RESET ROLE;
GRANT EXECUTE ON FUNCTION cron.alter_job(bigint, text, text, text, text, boolean),
    cron.schedule_in_database(text, text, text, text, text, boolean) TO sec_alice;
SET ROLE sec_alice;
SELECT s AS direct_call_with_grants, sec_try(s) AS outcome FROM unnest(ARRAY[
    $$SELECT _uso_tasks.uso_cron_schedule('sec_c2', '@daily', 'SELECT 1', current_database(), NULL, true, true) > 0$$,
    $$SELECT _uso_tasks.uso_cron_schedule('sec_c3', '@daily', 'SELECT 1', NULL, NULL, false, true) > 0$$,
    $$SELECT _uso_tasks.uso_cron_alter_job((SELECT id FROM uso_task WHERE name = 'sec_alice_cron'), '@weekly', NULL, NULL, NULL, NULL)$$
]) s;
RESET ROLE;
ROLLBACK;

-- search_path shadowing: alice plants operators and functions named like
-- the ones the extension's SQL uses, puts them first, and calls everything.
-- Nothing of hers may run inside the extension's code.
CREATE SCHEMA sec_evil AUTHORIZATION sec_alice;
SET ROLE sec_alice;
CREATE TABLE sec_evil.calls (what text);
CREATE FUNCTION sec_evil.note(what text) RETURNS void LANGUAGE sql
    AS $$ INSERT INTO sec_evil.calls VALUES (what) $$;
CREATE FUNCTION sec_evil.eq_t(a text, b text) RETURNS boolean LANGUAGE sql
    AS $$ SELECT sec_evil.note('text = text'); SELECT a OPERATOR(pg_catalog.=) b $$;
CREATE FUNCTION sec_evil.eq_b(a bigint, b bigint) RETURNS boolean LANGUAGE sql
    AS $$ SELECT sec_evil.note('bigint = bigint'); SELECT a OPERATOR(pg_catalog.=) b $$;
CREATE FUNCTION sec_evil.eq_x(a xid, b xid) RETURNS boolean LANGUAGE sql
    AS $$ SELECT sec_evil.note('xid = xid'); SELECT a OPERATOR(pg_catalog.=) b $$;
CREATE FUNCTION sec_evil.lt_ts(a timestamptz, b timestamptz) RETURNS boolean LANGUAGE sql
    AS $$ SELECT sec_evil.note('timestamptz < timestamptz'); SELECT a OPERATOR(pg_catalog.<) b $$;
CREATE FUNCTION sec_evil.plus_b(a bigint, b bigint) RETURNS bigint LANGUAGE sql
    AS $$ SELECT sec_evil.note('bigint + bigint'); SELECT a OPERATOR(pg_catalog.+) b $$;
CREATE OPERATOR sec_evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = sec_evil.eq_t);
CREATE OPERATOR sec_evil.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = sec_evil.eq_b);
CREATE OPERATOR sec_evil.= (LEFTARG = xid, RIGHTARG = xid, FUNCTION = sec_evil.eq_x);
CREATE OPERATOR sec_evil.< (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = sec_evil.lt_ts);
CREATE OPERATOR sec_evil.+ (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = sec_evil.plus_b);
CREATE FUNCTION sec_evil.now() RETURNS timestamptz LANGUAGE sql
    AS $$ SELECT sec_evil.note('now()'); SELECT pg_catalog.now() $$;
CREATE FUNCTION sec_evil.clock_timestamp() RETURNS timestamptz LANGUAGE sql
    AS $$ SELECT sec_evil.note('clock_timestamp()'); SELECT pg_catalog.clock_timestamp() $$;
CREATE FUNCTION sec_evil.txid_current() RETURNS bigint LANGUAGE sql
    AS $$ SELECT sec_evil.note('txid_current()'); SELECT pg_catalog.txid_current() $$;
CREATE FUNCTION sec_evil.jsonb_typeof(jsonb) RETURNS text LANGUAGE sql
    AS $$ SELECT sec_evil.note('jsonb_typeof()'); SELECT pg_catalog.jsonb_typeof($1) $$;
CREATE FUNCTION sec_evil.pg_has_role(name, text, text) RETURNS boolean LANGUAGE sql
    AS $$ SELECT sec_evil.note('pg_has_role()'); SELECT true $$;
CREATE FUNCTION sec_evil.current_database() RETURNS name LANGUAGE sql
    AS $$ SELECT sec_evil.note('current_database()'); SELECT pg_catalog.current_database() $$;
CREATE FUNCTION sec_evil.concat_ws(text, VARIADIC text[]) RETURNS text LANGUAGE sql
    AS $$ SELECT sec_evil.note('concat_ws()'); SELECT $1 $$;
CREATE FUNCTION sec_evil.sfunc(text, text, text) RETURNS text LANGUAGE sql
    AS $$ SELECT sec_evil.note('string_agg()'); SELECT $2 $$;
CREATE AGGREGATE sec_evil.string_agg(text, text) (SFUNC = sec_evil.sfunc, STYPE = text);
-- the trap works when alice herself uses it
SET search_path = sec_evil, public, pg_catalog;
SELECT 'a'::text = 'a'::text AS trap_fires;
SELECT what FROM sec_evil.calls;
DELETE FROM sec_evil.calls;

-- now every function of the extension, with her search_path
SELECT _uso_tasks.uso_is_admin();
SELECT name FROM uso_background_tasks;
SELECT task FROM uso_task_runs;
SELECT sec_try(format('SELECT uso_wait(%s), uso_cancel(%s)', :alice_run, :alice_run));
SELECT sec_try($$SELECT uso_run_now('nothere')$$);
SELECT sec_try($$SELECT uso_wait(-1)$$);
BEGIN;
SELECT uso_run_now('sec_alice_task') IS NOT NULL AS queued,
       uso_run_at('sec_alice_task', '2030-01-01') IS NOT NULL AS queued_once;
SELECT uso_purge_runs('1000 days') AS purged;
ROLLBACK;
CALL uso_purge_runs_batched('1000 days', 1);
SELECT uso_next_runs('*/30 * * * *', '2026-01-01 00:00+00', 2, 'UTC');
SELECT uso_describe_schedule('every 15 minutes'), uso_validate_timezone('utc'),
       uso_schedule_next('0 2 * * *', '2026-01-01 00:00+00', NULL, 'UTC'),
       uso_command_missing('SELECT nothere()');
SELECT uso_validate_schedule('PT15M');
SELECT sec_try($$SELECT uso_http_get('http://127.0.0.1:1/')$$);
SELECT uso_current_run(), uso_task_config(), uso_progress(1, 2);
-- nothing of hers ran
SELECT what, count(*) FROM sec_evil.calls GROUP BY what ORDER BY what;
RESET search_path;
RESET ROLE;

DROP SCHEMA sec_evil CASCADE;
DELETE FROM uso_task WHERE name LIKE 'sec\_%';
DROP FUNCTION sec_try(text);
REVOKE EXECUTE ON FUNCTION cron.alter_job(bigint, text, text, text, text, boolean),
    cron.schedule_in_database(text, text, text, text, text, boolean) FROM sec_admin_login;
REVOKE USAGE ON SCHEMA cron FROM sec_admin_login;
DROP ROLE sec_alice, sec_bob, sec_admin, sec_admin_login;
