-- pg_cron's schedule grammar, rule by rule: what pg_cron 1.6 does with each
-- schedule (read from its parser, written down here in our words), what the
-- cron layer's check (uso_validate_cron_schedule) and uso_schedule() do with
-- it, and the next 3 fire times from a fixed instant.
--   pg_cron = 'accepts'  : both our paths must accept it, with one meaning
--   pg_cron = 'rejects'  : the cron path must refuse it
--   pg_cron = 'refused'  : pg_cron accepts it by accident (garbage it skips,
--                          numbers that wrap around, backward ranges); both
--                          our paths refuse it on purpose (docs/cron.md)
--   pg_cron = 'added'    : pg_cron has no such form (it rejects it); both our
--                          paths accept it on purpose ('after <task>',
--                          docs/cron.md)
SET timezone = 'UTC';

CREATE TEMP TABLE cases (id serial, rule text, sched text, label text, pg_cron text);
INSERT INTO cases (rule, sched, pg_cron) VALUES
    -- field ranges
    ('range', '0 0 * * *', 'accepts'),
    ('range', '59 23 31 12 7', 'accepts'),
    ('range', '0-59 0-23 1-31 1-12 0-7', 'accepts'),
    ('range', '00 002 01 001 00', 'accepts'),
    ('range', '60 * * * *', 'rejects'),
    ('range', '* 24 * * *', 'rejects'),
    ('range', '* * 0 * *', 'rejects'),
    ('range', '* * 32 * *', 'rejects'),
    ('range', '* * * 0 *', 'rejects'),
    ('range', '* * * 13 *', 'rejects'),
    ('range', '* * * * 8', 'rejects'),
    ('range', '-1 * * * *', 'rejects'),
    ('range', '30-10 * * * *', 'refused'),
    ('range', '0 0 * * 5-1', 'refused'),
    ('range', '4294967296 * * * *', 'refused'),
    -- steps: 1 up to the field's maximum
    ('step', '*/59 * * * *', 'accepts'),
    ('step', '0 */23 * * *', 'accepts'),
    ('step', '0 0 */31 * *', 'accepts'),
    ('step', '0 0 1 */12 *', 'accepts'),
    ('step', '0 0 * * */7', 'accepts'),
    ('step', '10-50/20 * * * *', 'accepts'),
    ('step', '1-5/2,30 * * * *', 'accepts'),
    ('step', '*/60 * * * *', 'rejects'),
    ('step', '0 */24 * * *', 'rejects'),
    ('step', '0 0 */32 * *', 'rejects'),
    ('step', '0 0 1 */13 *', 'rejects'),
    ('step', '0 0 * * */8', 'rejects'),
    ('step', '*/0 * * * *', 'rejects'),
    ('step', '5/10 * * * *', 'rejects'),
    ('step', '*/ * * * *', 'rejects'),
    ('step', '0 0 * */jan *', 'rejects'),
    ('step', '*/5.5 * * * *', 'refused'),
    -- lists
    ('list', '0,15,30,45 * * * *', 'accepts'),
    ('list', '1,,2 * * * *', 'rejects'),
    ('list', ',1 * * * *', 'rejects'),
    ('list', '1, * * * *', 'rejects'),
    -- names: 3 letters, any case, month and day of week only
    ('name', '0 0 1 jan *', 'accepts'),
    ('name', '0 0 1 JAN-MAR *', 'accepts'),
    ('name', '0 0 1 Jan,Jul *', 'accepts'),
    ('name', '0 0 1 jan-dec/3 *', 'accepts'),
    ('name', '0 0 * * mon-fri', 'accepts'),
    ('name', '0 0 * * SUN', 'accepts'),
    ('name', '0 0 * * sat,Sun', 'accepts'),
    ('name', '0 0 * 1-Mar *', 'accepts'),
    ('name', '0 0 1 January *', 'rejects'),
    ('name', '0 0 * * Monday', 'rejects'),
    ('name', '0 mon * * *', 'rejects'),
    ('name', '0 0 jan * *', 'rejects'),
    ('name', '0 0 * * mon5', 'rejects'),
    -- '$': the last day of the month, as the whole day-of-month field
    ('$', '0 0 $ * *', 'accepts'),
    ('$', '30 23 $ 2 *', 'accepts'),
    ('$', '0 0 1,$ * *', 'rejects'),
    ('$', '0 0 $,1 * *', 'rejects'),
    ('$', '0 0 $-5 * *', 'rejects'),
    ('$', '0 $ * * *', 'rejects'),
    -- the day rule (either when both days are restricted, both when one is '*...')
    ('days', '0 0 13 * 5', 'accepts'),
    ('days', '0 0 */2 * 1', 'accepts'),
    ('days', '0 0 30 2 *', 'accepts'),
    ('days', '0 0 31 4,6,9,11 *', 'accepts'),
    -- @ keywords: lower case only
    ('@', '@hourly', 'accepts'),
    ('@', '@daily', 'accepts'),
    ('@', '@midnight', 'accepts'),
    ('@', '@weekly', 'accepts'),
    ('@', '@monthly', 'accepts'),
    ('@', '@yearly', 'accepts'),
    ('@', '@annually', 'accepts'),
    ('@', '@reboot', 'accepts'),
    ('@', '@restart', 'accepts'),
    ('@', '  @daily', 'accepts'),
    ('@', '@DAILY', 'rejects'),
    ('@', '@Hourly', 'rejects'),
    ('@', '@manual', 'rejects'),
    ('@', '@minutely', 'rejects'),
    ('@', '@every 5m', 'rejects'),
    ('@', '@', 'rejects'),
    ('@', '@daily at noon', 'refused'),
    -- 'N seconds': 1-59, optional '+', blanks optional, any case
    ('seconds', '1 second', 'accepts'),
    ('seconds', '1 seconds', 'accepts'),
    ('seconds', '30 seconds', 'accepts'),
    ('seconds', '59 seconds', 'accepts'),
    ('seconds', '5seconds', 'accepts'),
    ('seconds', '5second', 'accepts'),
    ('seconds', '+5 seconds', 'accepts'),
    ('seconds', '5 SECONDS', 'accepts'),
    ('seconds', '  10 seconds  ', 'accepts'),
    ('seconds', E'10\tseconds', 'accepts'),
    ('seconds', '007 seconds', 'accepts'),
    ('seconds', '0 seconds', 'rejects'),
    ('seconds', '60 seconds', 'rejects'),
    ('seconds', '-5 seconds', 'rejects'),
    ('seconds', '5 secs', 'rejects'),
    ('seconds', '5 sec', 'rejects'),
    ('seconds', '5 seconds x', 'rejects'),
    ('seconds', '5 secondsx', 'rejects'),
    ('seconds', '1.5 seconds', 'rejects'),
    ('seconds', '5 second ', 'rejects'),
    ('seconds', '5 minutes', 'rejects'),
    ('seconds', '4294967301 seconds', 'refused'),
    -- fields, blanks, garbage, length
    ('fields', '* * * *', 'rejects'),
    ('fields', '', 'rejects'),
    ('fields', '   ', 'rejects'),
    ('fields', E'\t0\t0  *  * \t*\t', 'accepts'),
    ('fields', '* * * * * *', 'refused'),
    ('fields', '0 3 * * * rm -rf /', 'refused'),
    ('fields', '5% * * * *', 'refused'),
    ('fields', '*x * * * *', 'refused'),
    ('fields', '1-5-7 * * * *', 'refused'),
    ('fields', '12:00 * * * *', 'refused'),
    ('fields', E'* * * * *\n', 'refused'),
    ('fields', E'# nightly\n0 3 * * *', 'refused'),
    ('length', (SELECT string_agg(lpad(i::text, 2, '0'), ',') FROM generate_series(0, 59) i) || ' '
               || (SELECT string_agg(lpad(i::text, 2, '0'), ',') FROM generate_series(0, 23) i) || ' '
               || (SELECT string_agg(lpad(i::text, 2, '0'), ',') FROM generate_series(1, 31) i) || ' * *',
     'accepts'),
    ('length', '0 0 * * *' || repeat(' ', 990), 'accepts'),
    ('length', '0 0 * * *' || repeat(' ', 991), 'rejects'),
    -- uso_tasks' own forms: not pg_cron's
    ('ours', 'every 5 minutes', 'rejects'),
    ('ours', 'PT15M', 'rejects'),
    ('ours', 'T02:00', 'rejects'),
    ('ours', 'P7D T12:00', 'rejects'),
    ('ours', '12:00', 'rejects'),
    -- added on purpose (docs/cron.md): tasks that follow tasks, on both paths
    ('chain', 'after uso_housekeeping', 'added'),
    ('chain', 'after uso_housekeeping fails', 'added');
UPDATE cases SET label = CASE
    WHEN length(sched) > 40 THEN left(sched, 18) || '... (' || length(sched) || ' chars)'
    WHEN sched ~ '[[:cntrl:]]' THEN 'E''' || replace(replace(sched, E'\t', '\t'), E'\n', '\n') || ''''
    ELSE '"' || sched || '"' END;

-- 'yes', or the SQLSTATE; uso_schedule runs in a subtransaction that is
-- always rolled back (the raise at its end), so no task is left behind.
CREATE FUNCTION pg_temp.by_cron(s text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM uso_validate_cron_schedule(s);
    RETURN 'yes';
EXCEPTION WHEN OTHERS THEN
    RETURN 'no ' || SQLSTATE;
END $$;
CREATE FUNCTION pg_temp.by_uso(s text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        PERFORM uso_schedule('cron_grammar_probe', s, 'SELECT 1');
        RAISE EXCEPTION 'probe done' USING ERRCODE = 'P0001';
    EXCEPTION WHEN raise_exception THEN
        RETURN 'yes';
    END;
EXCEPTION WHEN OTHERS THEN
    RETURN 'no ' || SQLSTATE;
END $$;
CREATE FUNCTION pg_temp.next3(s text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    RETURN coalesce((SELECT string_agg(to_char(t, 'YYYY-MM-DD HH24:MI:SS'), ', ' ORDER BY t)
                     FROM uso_next_runs(s, '2026-02-27 23:58:00+00', 3, 'UTC') t), '(none)');
EXCEPTION WHEN OTHERS THEN
    RETURN '';
END $$;

CREATE TEMP TABLE verdicts AS
SELECT id, rule, label, sched, pg_cron, pg_temp.by_cron(sched) AS cron,
       pg_temp.by_uso(sched) AS uso, pg_temp.next3(sched) AS next_3_after_2026_02_27_2358_utc
FROM cases;

SELECT rule, label AS schedule, pg_cron, cron, uso, next_3_after_2026_02_27_2358_utc
FROM verdicts ORDER BY id;

-- The rules, checked: every row must keep them (no rows = all kept).  One
-- exception is allowed: uso_schedule() may refuse a schedule that never
-- fires ('0 0 30 2 *', issue 15), which the cron layer accepts with a warning.
SELECT label, pg_cron, cron, uso FROM verdicts
WHERE (pg_cron = 'accepts' AND (cron <> 'yes' OR
                                (uso <> 'yes' AND uso_schedule_never_fires(sched) IS NULL)))
   OR (pg_cron = 'rejects' AND cron = 'yes')
   OR (pg_cron = 'refused' AND (cron = 'yes' OR uso = 'yes'))
   OR (pg_cron = 'added' AND (cron <> 'yes' OR uso <> 'yes'));

-- One meaning: whatever the cron path accepts parses to the very struct our
-- grammar gives (test/fuzz/schedule_fuzz.c checks that on random input), so
-- the next runs above hold for both paths.

-- The cron path's messages name the bad part (the cron layer wraps them in
-- pg_cron's own "invalid schedule: <text>", with pg_cron's hint).
CREATE FUNCTION pg_temp.cron_message(s text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM uso_validate_cron_schedule(s);
    RETURN NULL;
EXCEPTION WHEN OTHERS THEN
    RETURN regexp_replace(SQLERRM, '^invalid schedule "(\\.|[^"\\])*": ', '');
END $$;
SELECT rule, label AS schedule, pg_temp.cron_message(sched) AS why_the_cron_path_refuses
FROM verdicts WHERE cron <> 'yes' ORDER BY id;

-- the hint of the cron path lists pg_cron's forms
\set VERBOSITY default
SELECT uso_validate_cron_schedule('every 5 minutes');
SELECT uso_validate_cron_schedule(NULL);
\set VERBOSITY terse
