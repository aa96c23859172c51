-- Hostile input: bad arguments to every SQL function of the extension. Each
-- must be a clear ERROR with a proper SQLSTATE (never XX000, never a crash)
-- and must leave the catalog byte-for-byte unchanged.
--
-- It runs in a database of its own whose catalog nothing else writes (no
-- task can fire), so a checksum of the tables taken before and after shows
-- any change the calls made.
\set VERBOSITY terse
CREATE DATABASE uso_hostile;
\c uso_hostile
BEGIN;
CREATE EXTENSION uso_tasks;
DELETE FROM uso_task;
COMMIT;
SET timezone = 'UTC';

-- fixtures: an enabled task that never fires by itself, a disabled one, and
-- a finished run
INSERT INTO uso_task (id, name, schedule, command, enabled, config) VALUES
    (1, 'Enabled', '@manual', 'SELECT 1', true, '{"a": 1}'),
    (2, 'Disabled', '@manual', 'SELECT 1', false, '{}');
INSERT INTO uso_task_run (id, task_id, trigger, status, queued_at, started_at, finished_at,
                          return_message)
VALUES (1, 1, 'manual', 'succeeded', '2026-01-01 00:00+00', '2026-01-01 00:00+00',
        '2026-01-01 00:00:01+00', '1');
INSERT INTO uso_task_log (run_id, seq, logged_at, level, message)
VALUES (1, 1, '2026-01-01 00:00:01+00', 'NOTICE', 'hello');
CREATE ROLE hostile_user LOGIN;

-- every row of every catalog table (and where the sequences stand)
CREATE FUNCTION catalog_md5() RETURNS text LANGUAGE sql AS $$
SELECT md5(concat_ws('|',
    (SELECT string_agg(t::text, E'\n' ORDER BY t.id) FROM uso_task t),
    (SELECT string_agg(r::text, E'\n' ORDER BY r.id) FROM uso_task_run r),
    (SELECT string_agg(l::text, E'\n' ORDER BY l.run_id, l.seq) FROM uso_task_log l),
    (SELECT last_value FROM uso_task_id_seq),
    (SELECT last_value FROM uso_task_run_id_seq)))
$$;
CREATE TABLE before AS SELECT catalog_md5() AS md5;

-- try(): runs one statement, records its SQLSTATE and (shortened) message
CREATE TABLE outcome (n serial, stmt text, sqlstate text, message text);
GRANT SELECT, INSERT ON outcome TO PUBLIC;
GRANT USAGE ON SEQUENCE outcome_n_seq TO PUBLIC;
CREATE FUNCTION try(stmt text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    st text;
    msg text;
BEGIN
    BEGIN
        EXECUTE stmt;
        st := NULL;
        msg := '(accepted)';
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
    END;
    msg := regexp_replace(msg, '[[:cntrl:]]', '<ctl>', 'g');
    msg := regexp_replace(msg, 'x{20,}', 'xxx...', 'g');
    msg := regexp_replace(msg, '[0-9]+-[0-9]+-[0-9]+ [0-9:.+]+', '<time>', 'g');
    INSERT INTO outcome (stmt, sqlstate, message)
    VALUES (stmt, st, left(msg, 110));
END
$$;
GRANT EXECUTE ON FUNCTION try(text) TO PUBLIC;

SELECT try(s) FROM unnest(ARRAY[
    -- uso_run_now
    $q$SELECT uso_run_now(NULL)$q$,
    $q$SELECT uso_run_now('')$q$,
    $q$SELECT uso_run_now('   ')$q$,
    $q$SELECT uso_run_now('NoSuchTask')$q$,
    $q$SELECT uso_run_now('enabled')$q$,
    $q$SELECT uso_run_now('Enabled ')$q$,
    $q$SELECT uso_run_now(E'Enabled\n')$q$,
    $q$SELECT uso_run_now(E'En\tabled')$q$,
    $q$SELECT uso_run_now('x''); DROP TABLE uso_task; --')$q$,
    $q$SELECT uso_run_now('Enabled'' OR ''1''=''1')$q$,
    $q$SELECT uso_run_now('%s%s%s%n')$q$,
    $q$SELECT uso_run_now(repeat('x', 10 * 1024 * 1024))$q$,
    $q$SELECT uso_run_now('Disabled')$q$,
    -- uso_run_at
    $q$SELECT uso_run_at(NULL, now())$q$,
    $q$SELECT uso_run_at('Enabled', NULL)$q$,
    $q$SELECT uso_run_at(NULL, NULL)$q$,
    $q$SELECT uso_run_at('Enabled', 'infinity')$q$,
    $q$SELECT uso_run_at('Enabled', '-infinity')$q$,
    $q$SELECT uso_run_at('', '2030-01-01')$q$,
    $q$SELECT uso_run_at('NoSuchTask', '2030-01-01')$q$,
    $q$SELECT uso_run_at('Disabled', '2030-01-01')$q$,
    $q$SELECT uso_run_at('x''); DROP TABLE uso_task; --', '2030-01-01')$q$,
    $q$SELECT uso_run_at(repeat('x', 10 * 1024 * 1024), '2030-01-01')$q$,
    $q$SELECT uso_run_at('Enabled', '2030-13-01')$q$,
    -- uso_wait
    $q$SELECT uso_wait(NULL)$q$,
    $q$SELECT uso_wait(NULL, NULL)$q$,
    $q$SELECT uso_wait(-1)$q$,
    $q$SELECT uso_wait(0)$q$,
    $q$SELECT uso_wait(9223372036854775807)$q$,
    $q$SELECT uso_wait(1, '-1 second')$q$,
    $q$SELECT uso_wait(1, '-1 month')$q$,
    $q$SELECT uso_wait(1, '13 months')$q$,
    $q$SELECT uso_wait(1, '1000 years')$q$,
    $q$SELECT uso_wait(1, '2147483647 days')$q$,
    $q$SELECT uso_wait(1, '2562047788 hours')$q$,
    $q$SELECT uso_wait(1, '12 months 2147483647 days')$q$,
    $q$SELECT uso_wait(1, '-2147483648 days 1 hour')$q$,
    $q$SELECT uso_wait(1, 'soon')$q$,
    -- uso_cancel
    $q$SELECT uso_cancel(NULL)$q$,
    $q$SELECT uso_cancel(-1)$q$,
    $q$SELECT uso_cancel(0)$q$,
    $q$SELECT uso_cancel(9223372036854775807)$q$,
    $q$SELECT uso_cancel('1; DROP TABLE uso_task')$q$,
    -- uso_progress
    $q$SELECT uso_progress(NULL, NULL)$q$,
    $q$SELECT uso_progress(-1, 10)$q$,
    $q$SELECT uso_progress(11, 10)$q$,
    $q$SELECT uso_progress(0, 0)$q$,
    $q$SELECT uso_progress(1, -1)$q$,
    $q$SELECT uso_progress(-9223372036854775808, 9223372036854775807)$q$,
    -- uso_next_runs
    $q$SELECT uso_next_runs('')$q$,
    $q$SELECT uso_next_runs(E'*/5 * * * *\n')$q$,
    $q$SELECT uso_next_runs(E'*/5\t* * * *\u0007')$q$,
    $q$SELECT uso_next_runs(E'every\u00a015 minutes')$q$,
    $q$SELECT uso_next_runs(repeat('x', 10 * 1024 * 1024))$q$,
    $q$SELECT uso_next_runs(repeat('1,', 5 * 1024 * 1024) || '1 * * * *')$q$,
    $q$SELECT uso_next_runs('x''); DROP TABLE uso_task; --')$q$,
    $q$SELECT uso_next_runs('* * * * *', now(), 0)$q$,
    $q$SELECT uso_next_runs('* * * * *', now(), -1)$q$,
    $q$SELECT uso_next_runs('* * * * *', now(), 1001)$q$,
    $q$SELECT uso_next_runs('* * * * *', now(), 2147483647)$q$,
    $q$SELECT uso_next_runs('* * * * *', 'infinity')$q$,
    $q$SELECT uso_next_runs('* * * * *', '-infinity')$q$,
    $q$SELECT uso_next_runs('* * * * *', now(), 5, 'Mars/Olympus')$q$,
    $q$SELECT uso_next_runs('* * * * *', now(), 5, '')$q$,
    $q$SELECT uso_next_runs('* * * * *', now(), 5, repeat('x', 10 * 1024 * 1024))$q$,
    $q$SELECT uso_next_runs('* * * * *', now(), 5, '../../../../etc/passwd')$q$,
    $q$SELECT uso_next_runs('* * * * *', now(), 5, E'UTC\n')$q$,
    $q$SELECT uso_next_runs('every 1000000 years')$q$,
    $q$SELECT uso_next_runs('every -1 hour')$q$,
    $q$SELECT uso_next_runs('every 2147483647 days')$q$,
    $q$SELECT uso_next_runs('P99999999999999999999D')$q$,
    $q$SELECT uso_next_runs('4294967297 seconds')$q$,
    -- uso_describe_schedule (NULL gives NULL: it is strict)
    $q$SELECT uso_describe_schedule('')$q$,
    $q$SELECT uso_describe_schedule(E'@daily\r\n')$q$,
    $q$SELECT uso_describe_schedule(repeat('x', 10 * 1024 * 1024))$q$,
    $q$SELECT uso_describe_schedule('61 * * * *')$q$,
    $q$SELECT uso_describe_schedule('x''); DROP TABLE uso_task; --')$q$,
    -- uso_validate_schedule
    $q$SELECT uso_validate_schedule(NULL)$q$,
    $q$SELECT uso_validate_schedule(E'\u0001')$q$,
    $q$SELECT uso_validate_schedule(E'* * * * *\u0000')$q$,
    $q$SELECT uso_validate_schedule(repeat('*', 10 * 1024 * 1024))$q$,
    $q$SELECT uso_validate_schedule(repeat(' ', 10 * 1024 * 1024))$q$,
    $q$SELECT uso_validate_schedule(repeat('(', 100000))$q$,
    $q$SELECT uso_validate_schedule('*/99999999999999999999 * * * *')$q$,
    $q$SELECT uso_validate_schedule('every 1 hour; DROP TABLE uso_task')$q$,
    $q$SELECT uso_validate_schedule('T25:61')$q$,
    $q$SELECT uso_validate_schedule('P-1D')$q$,
    -- uso_schedule_next
    $q$SELECT uso_schedule_next('', now(), NULL, NULL)$q$,
    $q$SELECT uso_schedule_next('* * * * *', 'infinity', NULL, NULL)$q$,
    $q$SELECT uso_schedule_next('every 1 hour', now(), '-infinity', NULL)$q$,
    $q$SELECT uso_schedule_next('* * * * *', now(), NULL, 'Nowhere/Else')$q$,
    $q$SELECT uso_schedule_next(repeat('x', 10 * 1024 * 1024), now(), NULL, NULL)$q$,
    -- uso_validate_timezone (NULL gives NULL: it is strict)
    $q$SELECT uso_validate_timezone('')$q$,
    $q$SELECT uso_validate_timezone('Mars/Olympus')$q$,
    $q$SELECT uso_validate_timezone('../../../../../etc/passwd')$q$,
    $q$SELECT uso_validate_timezone('/etc/passwd')$q$,
    $q$SELECT uso_validate_timezone(E'UTC\n')$q$,
    $q$SELECT uso_validate_timezone('UTC''; DROP TABLE uso_task; --')$q$,
    $q$SELECT uso_validate_timezone(repeat('x', 10 * 1024 * 1024))$q$,
    $q$SELECT uso_validate_timezone(repeat('A/', 1000))$q$,
    -- HTTP and mail (allow list empty: nothing leaves the machine)
    $q$SELECT uso_http_get('')$q$,
    $q$SELECT uso_http_get('not a url')$q$,
    $q$SELECT uso_http_get('file:///etc/passwd')$q$,
    $q$SELECT uso_http_get('http://169.254.169.254/latest/meta-data/')$q$,
    $q$SELECT uso_http_get(E'http://127.0.0.1/\r\nHost: evil')$q$,
    $q$SELECT uso_http_get('http://' || repeat('x', 10 * 1024 * 1024))$q$,
    $q$SELECT uso_http_get('http://127.0.0.1/', '[1]')$q$,
    $q$SELECT uso_http_get('http://127.0.0.1/', '{"X": "a\r\nB: c"}')$q$,
    $q$SELECT uso_http_get('http://127.0.0.1/', NULL, '-1 second')$q$,
    $q$SELECT uso_http_get('http://127.0.0.1/', NULL, '1000 years')$q$,
    $q$SELECT uso_http_post('', 'x')$q$,
    $q$SELECT uso_http_post('http://127.0.0.1/', repeat('x', 10 * 1024 * 1024))$q$,
    $q$SELECT uso_http_post('http://127.0.0.1/', 'x', E'text/plain\r\nX-Evil: 1')$q$,
    $q$SELECT uso_http_get_json('gopher://127.0.0.1/')$q$,
    $q$SELECT uso_http_get_json('http://127.0.0.1/', '"x"')$q$,
    $q$SELECT uso_send_mail(NULL, 'subject', 'body')$q$,
    $q$SELECT uso_send_mail('', 'subject', 'body')$q$,
    $q$SELECT uso_send_mail(E'a@example.org\r\nRCPT TO:<b@example.org>', 's', 'b')$q$,
    $q$SELECT uso_send_mail('a@example.org', E'hi\r\nBcc: b@example.org', 'b')$q$,
    $q$SELECT uso_send_mail('a@example.org', 's', 'b', E'x@example.org\r\nBcc: b@example.org')$q$,
    $q$SELECT uso_send_mail(repeat('x', 10 * 1024 * 1024), 's', 'b')$q$,
    $q$SELECT uso_send_mail('a@example.org', 's', repeat('x', 10 * 1024 * 1024))$q$,
    -- retention
    $q$SELECT uso_purge_runs('-1 day')$q$,
    $q$SELECT uso_purge_runs('-2147483648 days')$q$,
    $q$SELECT uso_purge_runs('300000 years')$q$,
    $q$SELECT uso_purge_runs('1 century; DROP TABLE uso_task')$q$,
    $q$SELECT uso_purge_runs_batch('0', 0)$q$,
    $q$SELECT uso_purge_runs_batch('0', NULL)$q$,
    $q$SELECT uso_purge_runs_batch('-1 year', 10)$q$,
    $q$CALL uso_purge_runs_batched('0', -1)$q$,
    -- in-task and internal functions called from outside
    $q$SELECT uso_bench_schedule('* * * * *', 0)$q$,
    $q$SELECT uso_bench_schedule('* * * * *', -1)$q$,
    $q$SELECT uso_bench_schedule('nonsense', 10)$q$,
    $q$SELECT _uso_tasks.uso_task_changed()$q$
]) s;

-- as an unprivileged role: privileges are checked before anything else
SET ROLE hostile_user;
SELECT try(s) FROM unnest(ARRAY[
    $q$SELECT uso_run_now('Enabled')$q$,
    $q$SELECT uso_run_at('Enabled', '2030-01-01')$q$,
    $q$SELECT uso_wait(1)$q$,
    $q$SELECT uso_cancel(1)$q$,
    $q$SELECT uso_scheduler_start()$q$,
    $q$SELECT uso_http_get('http://127.0.0.1/')$q$,
    $q$SELECT uso_http_post('http://127.0.0.1/', 'x')$q$,
    $q$SELECT uso_http_get_json('http://127.0.0.1/')$q$,
    $q$SELECT uso_send_mail('a@example.org', 's', 'b')$q$,
    $q$INSERT INTO uso_task (id, name, schedule, command, username) VALUES (1000, 'mine', '@daily', 'SELECT 1', 'postgres')$q$,
    $q$UPDATE uso_task SET next_run_at = now()$q$,
    $q$DELETE FROM uso_task_log$q$,
    $q$TRUNCATE uso_task_log$q$
]) s;
RESET ROLE;

SELECT n, stmt, sqlstate, message FROM outcome ORDER BY n;

-- documented NULL-in, NULL-out behaviour (docs/schedule.md, docs/http.md):
-- no error, no row, nothing changed
SELECT uso_next_runs(NULL) AS none;
SELECT uso_next_runs('* * * * *', now(), NULL) AS none;
SELECT uso_next_runs('* * * * *', NULL) AS none;
SELECT uso_schedule_next(NULL, now(), NULL, NULL) IS NULL AS is_null,
       uso_schedule_next('* * * * *', NULL, NULL, NULL) IS NULL AS is_null,
       uso_describe_schedule(NULL) IS NULL AS is_null,
       uso_validate_timezone(NULL) IS NULL AS is_null,
       uso_command_missing(NULL) IS NULL AS is_null,
       uso_live_progress(NULL) IS NULL AS is_null,
       uso_http_get(NULL) IS NULL AS is_null;

-- uso_command_missing() feeds the admin view's 'missing' status: for any
-- command text it answers, never errors (an error would break the view for
-- everyone)
SELECT left(c, 40) AS command, uso_command_missing(c) AS missing
FROM unnest(ARRAY[
    'SELECT a.b.c.d()',
    'CALL a.b.c.d.e()',
    'SELECT otherdb.public.f()',
    'SELECT uso_hostile.public.nothere()',
    'SELECT uso_hostile.pg_catalog.now()',
    'SELECT nosuchschema.f()',
    'SELECT 1; SELECT nothere()',
    'SELECT (' || repeat('(', 10000) || '1' || repeat(')', 10000) || ')',
    'SELECT ' || repeat('f(', 10000) || repeat(')', 10000),
    'SELECT ' || repeat('1+', 1000000) || '1',
    repeat('x ', 5 * 1024 * 1024),
    'SELECT $$ unterminated',
    E'SELECT 1 \\ '
]) c;
-- a schema the caller may not use is not searched (and not an error)
CREATE SCHEMA hidden;
CREATE FUNCTION hidden.f() RETURNS int LANGUAGE sql AS 'SELECT 1';
SET ROLE hostile_user;
SELECT uso_command_missing('SELECT hidden.f()') AS f_missing,
       uso_command_missing('SELECT hidden.nothere()') AS nothere_missing,
       uso_command_missing('SELECT nothere.f()') AS unknown_schema;
RESET ROLE;

-- names and categories that would look like something else, blank names,
-- timeouts that would silently mean "no limit", and values that must not be
-- echoed whole: each refused with 22023 (or its own SQLSTATE), saying what
-- and where, and quoting at most about 100 characters of the bad value.
-- echo(): like try(), but shows the message and DETAIL in full (with their
-- lengths), so that an unshortened echo would show here.
CREATE FUNCTION echo(stmt text, OUT code text, OUT message text, OUT detail text,
                     OUT message_chars int, OUT detail_chars int)
LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        EXECUTE stmt;
        message := '(accepted)';
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS code = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
                                detail = PG_EXCEPTION_DETAIL;
    END;
    message_chars := length(message);
    detail_chars := length(detail);
    INSERT INTO outcome (stmt, sqlstate, message) VALUES (left(stmt, 200), code, left(message, 110));
    -- nothing longer than this is shown (an unshortened 10 MB echo would be)
    message := left(message, 400);
    detail := left(detail, 400);
END
$$;
-- A failed INSERT has used up its id (sequences are not transactional):
-- where the id sequence stands is put back after these, so that the
-- checksum below still compares everything else.
SELECT last_value AS task_seq_last, is_called AS task_seq_called FROM uso_task_id_seq \gset
\x on
SELECT n, (echo(s)).* FROM unnest(ARRAY[
    $q$INSERT INTO uso_task (name, schedule, command) VALUES (E'Create\u202ECycles', '@manual', 'SELECT 1')$q$,
    $q$INSERT INTO uso_task (name, schedule, command) VALUES (E'Create\u202ACycles', '@manual', 'SELECT 1')$q$,
    $q$INSERT INTO uso_task (name, schedule, command) VALUES (E'\u2066CreateCycles\u2069', '@manual', 'SELECT 1')$q$,
    $q$INSERT INTO uso_task (name, schedule, command) VALUES (E'Create\u200FCycles', '@manual', 'SELECT 1')$q$,
    $q$INSERT INTO uso_task (name, schedule, command) VALUES (E'Create\u200BCycles', '@manual', 'SELECT 1')$q$,
    $q$INSERT INTO uso_task (name, schedule, command) VALUES (E'CreateCycles\u200D', '@manual', 'SELECT 1')$q$,
    $q$INSERT INTO uso_task (name, schedule, command) VALUES (E'\uFEFFCreateCycles', '@manual', 'SELECT 1')$q$,
    $q$INSERT INTO uso_task (name, schedule, command) VALUES (E'Create\u2060Cycles', '@manual', 'SELECT 1')$q$,
    $q$INSERT INTO uso_task (name, schedule, command) VALUES (E'Create\u0001Cycles', '@manual', 'SELECT 1')$q$,
    $q$INSERT INTO uso_task (name, schedule, command) VALUES (E'Create\u0085Cycles', '@manual', 'SELECT 1')$q$,
    $q$INSERT INTO uso_task (name, schedule, command) VALUES ('   ', '@manual', 'SELECT 1')$q$,
    $q$INSERT INTO uso_task (name, schedule, command) VALUES (E' \t\n ', '@manual', 'SELECT 1')$q$,
    $q$INSERT INTO uso_task (name, schedule, command) VALUES (E'\u00A0\u3000\u2003', '@manual', 'SELECT 1')$q$,
    $q$INSERT INTO uso_task (name, category, schedule, command) VALUES ('ok', E'pro\u202Eposals', '@manual', 'SELECT 1')$q$,
    $q$INSERT INTO uso_task (name, category, schedule, command) VALUES ('ok', E'pro\u200Bposals', '@manual', 'SELECT 1')$q$,
    $q$INSERT INTO uso_task (name, category, schedule, command) VALUES ('ok', E'pro\nposals', '@manual', 'SELECT 1')$q$,
    $q$INSERT INTO uso_task (name, category, schedule, command) VALUES ('ok', repeat('c', 201), '@manual', 'SELECT 1')$q$,
    $q$UPDATE uso_task SET name = E'Enabled\u202E' WHERE name = 'Enabled'$q$,
    $q$UPDATE uso_task SET category = E'\u2067x' WHERE name = 'Enabled'$q$,
    $q$SELECT uso_schedule(E'Sync\u200BUsers', '@manual', 'SELECT 1')$q$,
    $q$SELECT uso_schedule(' ', '@manual', 'SELECT 1')$q$,
    $q$SELECT uso_alter_task('Enabled', new_name => E'Enabled\u2069')$q$,
    $q$SELECT uso_alter_task('Enabled', category => E'a\u200Cb')$q$,
    $q$SELECT cron.schedule(E'job\u202E', '@daily', 'SELECT 1')$q$,
    -- timeouts: below 1 ms is refused (it would mean no limit)
    $q$SELECT uso_alter_task('Enabled', timeout => '1 microsecond')$q$,
    $q$SELECT uso_alter_task('Enabled', timeout => '999 microseconds')$q$,
    $q$UPDATE uso_task SET timeout = '0.0005 seconds' WHERE name = 'Enabled'$q$,
    $q$SELECT uso_schedule('t', '@manual', 'SELECT 1', timeout => '1 microsecond')$q$,
    -- long values are quoted shortened
    $q$SELECT uso_alter_task(repeat('ab', 5 * 1024 * 1024), schedule => '@daily')$q$,
    $q$SELECT uso_enable(repeat('ab', 5 * 1024 * 1024))$q$,
    $q$SELECT uso_run_now(repeat('ab', 5 * 1024 * 1024))$q$,
    $q$SELECT uso_run_at(repeat('é', 1000), '2030-01-01')$q$,
    $q$SELECT uso_unschedule(repeat('é', 1000))$q$,
    $q$SELECT uso_alter_task('Enabled', new_name => 'Disabled')$q$,
    $q$SELECT uso_validate_schedule(repeat('ab', 5 * 1024 * 1024))$q$,
    $q$SELECT uso_validate_schedule('every ' || repeat('é', 120))$q$,
    $q$SELECT uso_validate_schedule('* * * * ' || repeat('q', 240))$q$,
    $q$SELECT uso_validate_schedule('T' || repeat('q', 250))$q$,
    $q$SELECT uso_validate_schedule('*/' || repeat('q', 120) || ' * * * ' || repeat('q', 120))$q$,
    $q$SELECT uso_validate_timezone(repeat('ab', 5 * 1024 * 1024))$q$,
    $q$SELECT uso_schedule('t', repeat('ab', 5 * 1024 * 1024), 'SELECT 1')$q$,
    $q$SELECT uso_schedule('t', '@daily', 'SELECT 1', timezone => repeat('ab', 5 * 1024 * 1024))$q$,
    $q$SELECT uso_schedule('t', '@daily', 'SELECT 1', database => repeat('ab', 5 * 1024 * 1024))$q$,
    $q$SELECT uso_schedule('t', '@daily', 'SELECT 1', username => repeat('ab', 5 * 1024 * 1024))$q$,
    $q$SELECT uso_schedule('t', '@daily', 'SELECT 1', overlap => repeat('ab', 5 * 1024 * 1024))$q$,
    $q$SELECT cron.schedule('j', repeat('ab', 5 * 1024 * 1024), 'SELECT 1')$q$,
    $q$SELECT cron.schedule('j', '* * * * ' || repeat('é', 120), 'SELECT 1')$q$,
    $q$SELECT cron.unschedule(repeat('ab', 5 * 1024 * 1024))$q$,
    $q$SELECT cron.schedule(repeat('ab', 5 * 1024 * 1024), '@daily', 'SELECT 1')$q$,
    $q$SELECT cron.schedule_in_database('j', '@daily', 'SELECT 1', repeat('ab', 5 * 1024 * 1024))$q$,
    $q$SELECT cron.schedule_in_database('j', '@daily', 'SELECT 1', current_database(), repeat('ab', 5 * 1024 * 1024))$q$,
    $q$SELECT cron.alter_job(1, database => repeat('ab', 5 * 1024 * 1024))$q$,
    $q$SELECT cron.alter_job(1, username => repeat('ab', 5 * 1024 * 1024))$q$,
    $q$SELECT cron.alter_job(1, schedule => repeat('ab', 5 * 1024 * 1024))$q$
]) WITH ORDINALITY AS u(s, n);
\x off
SELECT setval('uso_task_id_seq', :task_seq_last, :'task_seq_called') IS NOT NULL AS put_back;
-- 1 ms and 0 (no limit) are accepted; a timeout of 0.5 ms was never stored
BEGIN;
SELECT uso_alter_task('Enabled', timeout => '1 millisecond');
SELECT uso_alter_task('Disabled', timeout => '0');
SELECT name, timeout FROM uso_task ORDER BY id;
ROLLBACK;

-- the verdict: at least 100 bad inputs, all refused, none with XX000 or
-- another internal-error class, the catalog unchanged
SELECT count(*) AS bad_inputs,
       count(*) FILTER (WHERE sqlstate IS NULL) AS accepted,
       count(*) FILTER (WHERE sqlstate LIKE 'XX%' OR sqlstate LIKE '58%') AS internal_errors
FROM outcome;
SELECT catalog_md5() = md5 AS catalog_unchanged FROM before;
-- the task list of the admin page still reads (nothing left it broken)
SELECT name, status FROM uso_background_tasks ORDER BY name;

\c uso_regress
DROP DATABASE uso_hostile WITH (FORCE);
DROP ROLE hostile_user;
