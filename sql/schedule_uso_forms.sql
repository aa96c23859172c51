-- USO's own spellings (issue 16): the forms USO's definitions and tests use,
-- each accepted with one meaning (docs/schedule.md) or refused with a
-- message that says what to write instead.
SET timezone = 'UTC';

-- accepted: next 4 local times from a fixed instant, and the description
SELECT sched, tz,
       (SELECT string_agg(to_char(t AT TIME ZONE tz, 'MM-DD HH24:MI:SS'), ', ' ORDER BY t)
        FROM uso_next_runs(sched, start, 4, tz) t) AS next_local,
       uso_describe_schedule(sched) AS described
FROM (VALUES
    -- a duration under a day with a time: the grid of that step through
    -- that local time, the same times every day (a cron schedule)
    ('PT6H T12:00', timestamptz '2026-01-01 13:00+00', 'UTC'),
    ('PT6H T03:00', '2026-01-01 13:00+00', 'UTC'),
    ('PT8H T02:30', '2026-01-01 13:00+00', 'Europe/Berlin'),
    ('PT12H T06:00', '2026-03-28 12:00+00', 'Europe/Berlin'),
    ('PT4H T01:00', '2026-03-08 04:00+00', 'America/New_York'),
    ('PT15M T00:05', '2026-01-01 13:00+00', 'UTC'),
    ('PT30M T12:10', '2026-01-01 13:00+00', 'UTC'),
    ('PT1H T00:30', '2026-01-01 13:00+00', 'UTC'),
    ('PT24H T12:00', '2026-01-01 13:00+00', 'UTC'),
    -- seconds in a time of day
    ('T02:00:30', '2026-01-01 13:00+00', 'UTC'),
    ('T02:00:30', '2026-01-02 02:00:10+00', 'UTC'),
    ('T02:30:15', '2026-03-07 12:00+00', 'America/New_York'),
    ('P7D T12:00:30', '2026-01-01 13:00+00', 'UTC'),
    -- run_at without the T, alone and after a duration
    ('12:00', '2026-01-01 13:00+00', 'UTC'),
    ('2:05', '2026-01-01 13:00+00', 'Europe/Berlin'),
    ('00:15:30', '2026-01-01 13:00+00', 'UTC'),
    ('P7D 12:00', '2026-01-01 13:00+00', 'UTC'),
    ('P1M 00:15', '2026-01-31 13:00+00', 'UTC')
) v(sched, start, tz);

-- the same times as the equivalent cron schedule, over a DST month
SELECT a.sched, b.sched AS cron,
       ARRAY(SELECT t FROM uso_next_runs(a.sched, '2026-03-01', 200, 'Europe/Berlin') t)
       = ARRAY(SELECT t FROM uso_next_runs(b.sched, '2026-03-01', 200, 'Europe/Berlin') t) AS same
FROM (VALUES ('PT6H T12:00', '0 0,6,12,18 * * *'), ('PT15M T00:05', '5,20,35,50 * * * *'),
             ('PT8H T02:30', '30 2,10,18 * * *'), ('12:00', 'T12:00')) v(a, b),
     LATERAL (SELECT v.a AS sched) a, LATERAL (SELECT v.b AS sched) b;

-- the grid is fixed: it ignores the last run (unlike PT6H alone), and a task
-- that never ran waits for its next time
SELECT sched, uso_schedule_next(sched, '2026-01-01 13:00+00', anchor, 'UTC') AS next
FROM (VALUES ('PT6H T12:00', NULL::timestamptz), ('PT6H T12:00', '2026-01-01 12:47+00'),
             ('PT6H', NULL), ('PT6H', '2026-01-01 12:47+00'),
             ('T02:00:30', NULL), ('P7D 12:00', NULL)) v(sched, anchor);

-- refused, saying what to write instead
CREATE FUNCTION pg_temp.try(s text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM uso_validate_schedule(s);
    RETURN 'accepted';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ' ' || SQLERRM;
END $$;
SELECT s AS schedule, pg_temp.try(s) AS error
FROM unnest(ARRAY[
    'P1DT12H T02:00', 'P1DT12H T20:00', 'P1MT6H T00:15', 'P2DT30M 12:00',
    'PT90M T12:00', 'PT5H T12:00', 'PT7M T00:00', 'PT6H T12:00:30', 'PT30S T12:00',
    'PT6H30S T12:00', 'T02:00:60', 'T02:00:3', 'T02:00:30.5', '12:00:00:00', '24:00',
    '12:00 daily', 'P7D 12', '12:5'
]) s;
