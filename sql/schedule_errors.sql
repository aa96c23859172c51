-- Bad schedules: each is refused with SQLSTATE 22023 and a message naming
-- the bad part (22004 for NULL); bad time zones and arguments likewise.
SET timezone = 'UTC';

CREATE FUNCTION pg_temp.try(s text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM uso_validate_schedule(s);
    RETURN 'accepted';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ' ' || SQLERRM;
END $$;

SELECT n, CASE WHEN length(s) > 30 THEN left(s, 12) || '... (' || length(s) || ' chars)'
               ELSE regexp_replace(s, '[[:cntrl:]]', '<ctl>', 'g') END AS input,
       pg_temp.try(s) AS error
FROM unnest(ARRAY[
    -- empty
    '', '   ',
    -- field count, trailing garbage
    '* * * *', '* * * * * *', '* * * * * garbage', '0 2 * * * 2026', '*',
    -- out of range
    '60 * * * *', '* 24 * * *', '* * 0 * *', '* * 32 * *', '* * * 13 *', '* * * 0 *',
    '* * * * 8', '1-60 * * * *', '-1 * * * *',
    -- steps
    '*/0 * * * *', '5/10 * * * *', '*/61 * * * *', '*/ * * * *', '* * * * 1-7/0',
    '*/5/2 * * * *',
    -- lists and ranges
    '1,,2 * * * *', ',1 * * * *', '1, * * * *', '5-1 * * * *', '1-2-3 * * * *',
    '* 1-  * * *',
    -- names and '$'
    '* * * FOO *', '* * * * MOX', '* * * * JAN', '* * * JANUARY *', 'abc * * * *',
    '* $ * * *', '* * $5 * *', '* * 1-$ * *',
    -- macros
    '@foo', '@daily extra', '@', '@ yearly',
    -- N seconds
    '0 seconds', '60 seconds', '-5 seconds', '1.5 seconds', '15 minutes',
    -- every <interval>
    'every', 'every 0 minutes', 'every 15', 'every 15 fortnights', 'every -1 hour',
    'every 1.5 hours', 'every 1000 years', 'every 0 days 0 hours', 'every 15 minutes!',
    -- ISO 8601 durations
    'P', 'PT', 'P0D', 'PT0M', 'P1.5D', 'P1H', 'PT1D', 'P1D1Y', 'P15', 'P1DT', 'PXD',
    'P1000Y',
    -- time of day
    'T25:00', 'T12:60', 'T12', 'T12:00:60', 'T1200', 'T12:5', 'T', 'T-1:00',
    'T02:00 daily',
    -- duration with a time of day
    'PT5H T12:00', 'P1DT12H T02:00', 'P7D T12:00 x', 'P7D T25:00',
    -- not a schedule at all
    'hello', 'every day at noon', repeat('* ', 1000),
    -- control and non-ASCII characters
    E'*/5 * * * *\n', E'0\x01 2 * * *', E'0 2 * * \x7f', '0 2 * * Mön',
    -- a unit without its number after the first part; 'and' doubled or last
    'every 1 hour hour', 'every 1 hour and and 30 minutes', 'every 1 hour and',
    'every 1 hour and ', 'every 1 hour, minutes', 'every hour 30 minutes'
]) WITH ORDINALITY AS t(s, n);

-- the message in full, with the hint listing the accepted forms
SELECT uso_validate_schedule('* * * * * garbage');
-- long input is echoed cut short, control characters escaped
SELECT uso_validate_schedule(repeat('1,', 1000) || '2 * * * *');
SELECT uso_validate_schedule(E'0 2 * * *\r\n');
SELECT uso_validate_schedule(NULL);
SELECT uso_describe_schedule('*/0 * * * *');
SELECT * FROM uso_next_runs('5/10 * * * *', '2026-01-01', 5, 'UTC');
SELECT uso_schedule_next('T25:00', '2026-01-01', NULL, 'UTC');

-- time zones and other arguments, with their SQLSTATEs
CREATE FUNCTION pg_temp.try_sql(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ' ' || SQLERRM;
END $$;

SELECT q AS call, pg_temp.try_sql('SELECT ' || q) AS error
FROM unnest(ARRAY[
    $q$uso_validate_schedule(NULL)$q$,
    $q$uso_next_runs('*/5 * * * *', '2026-01-01', 5, 'Mars/Olympus_Mons')$q$,
    $q$uso_next_runs('*/5 * * * *', '2026-01-01', 5, '')$q$,
    $q$uso_schedule_next('*/5 * * * *', '2026-01-01', NULL, 'Europe/Atlantis')$q$,
    $q$uso_validate_timezone('not a zone')$q$,
    $q$uso_validate_timezone(repeat('x', 300))$q$,
    $q$uso_next_runs('*/5 * * * *', '2026-01-01', 0, 'UTC')$q$,
    $q$uso_next_runs('*/5 * * * *', '2026-01-01', 1001, 'UTC')$q$,
    $q$uso_next_runs('*/5 * * * *', '2026-01-01', -1, 'UTC')$q$,
    $q$uso_next_runs('*/5 * * * *', 'infinity', 5, 'UTC')$q$,
    $q$uso_schedule_next('every 1 hour', '2026-01-01', '-infinity', 'UTC')$q$,
    $q$uso_bench_schedule('*/5 * * * *', 0)$q$,
    $q$uso_describe_schedule('every 0 seconds')$q$
]) q;
SELECT * FROM uso_next_runs('*/5 * * * *', '2026-01-01', 5, 'Mars/Olympus_Mons');
