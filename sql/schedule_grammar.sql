-- The schedule grammar: next fire times of valid schedules from fixed
-- instants, each cron one cross-checked by a brute-force search written in
-- SQL (independent of the C code), DST transitions, month ends, leap years.
SET timezone = 'UTC';

-- cron field values, parsed in SQL: '*', lists, ranges, steps, names, '$' (32)
CREATE FUNCTION pg_temp.field_values(f text, lo int, hi int, names text[])
RETURNS int[] LANGUAGE plpgsql AS $$
DECLARE
    item text;
    a int;
    b int;
    step int;
    r int[] := '{}';
BEGIN
    FOREACH item IN ARRAY string_to_array(lower(f), ',') LOOP
        IF item = '$' THEN r := r || 32; CONTINUE; END IF;
        step := 1;
        IF item LIKE '%/%' THEN
            step := split_part(item, '/', 2)::int;
            item := split_part(item, '/', 1);
        END IF;
        IF item = '*' THEN
            a := lo; b := hi;
        ELSE
            a := coalesce(array_position(names, split_part(item, '-', 1)) - 1 + lo,
                          split_part(item, '-', 1)::int);
            b := CASE WHEN item LIKE '%-%'
                      THEN coalesce(array_position(names, split_part(item, '-', 2)) - 1 + lo,
                                    split_part(item, '-', 2)::int)
                      ELSE a END;
        END IF;
        r := r || ARRAY(SELECT generate_series(a, b, step));
    END LOOP;
    RETURN r;
END $$;

CREATE TEMP TABLE brute_days (d date);

-- The first 5 fire times after 'start' by brute force: walk local days,
-- match the fields (Vixie day rule), then either take every real minute
-- whose local fields match (all 24 hours: elapsed time) or, per matching
-- local time L, the first instant whose local time is >= L (wall-clock
-- rule: a skipped time fires at the jump, a repeated one once).
CREATE FUNCTION pg_temp.brute(sched text, start timestamptz, tz text)
RETURNS SETOF timestamptz LANGUAGE plpgsql AS $$
DECLARE
    f text[];
    mins int[]; hrs int[]; doms int[]; mons int[]; dows int[];
    dstar bool; wstar bool;
    lstart timestamp := start AT TIME ZONE tz;
BEGIN
    sched := CASE lower(sched)
        WHEN '@hourly' THEN '0 * * * *' WHEN '@daily' THEN '0 0 * * *'
        WHEN '@midnight' THEN '0 0 * * *' WHEN '@weekly' THEN '0 0 * * 0'
        WHEN '@monthly' THEN '0 0 1 * *' WHEN '@yearly' THEN '0 0 1 1 *'
        WHEN '@annually' THEN '0 0 1 1 *' ELSE sched END;
    f := regexp_split_to_array(trim(sched), '\s+');
    mins := pg_temp.field_values(f[1], 0, 59, NULL);
    hrs := pg_temp.field_values(f[2], 0, 23, NULL);
    doms := pg_temp.field_values(f[3], 1, 31, NULL);
    mons := pg_temp.field_values(f[4], 1, 12,
        '{jan,feb,mar,apr,may,jun,jul,aug,sep,oct,nov,dec}');
    dows := ARRAY(SELECT v % 7 FROM unnest(pg_temp.field_values(f[5], 0, 6,
        '{sun,mon,tue,wed,thu,fri,sat}')) v);
    dstar := f[3] LIKE '*%';
    wstar := f[5] LIKE '*%';
    TRUNCATE brute_days;
    INSERT INTO brute_days
    SELECT d FROM (
        SELECT d::date AS d,
               extract(day FROM d)::int = ANY (doms)
                 OR (32 = ANY (doms) AND extract(day FROM d + interval '1 day') = 1) AS dom_ok,
               extract(dow FROM d)::int = ANY (dows) AS dow_ok
        FROM generate_series(lstart::date - 1, lstart::date + 7000, interval '1 day') d
        WHERE extract(month FROM d)::int = ANY (mons)) x
    WHERE CASE WHEN dstar OR wstar THEN dom_ok AND dow_ok ELSE dom_ok OR dow_ok END
    ORDER BY d LIMIT 8;
    IF (SELECT count(DISTINCT h) FROM unnest(hrs) h) = 24 THEN
        RETURN QUERY
        SELECT i FROM brute_days,
            generate_series((d::timestamp AT TIME ZONE tz) - interval '3 hours',
                            ((d + 1)::timestamp AT TIME ZONE tz) + interval '3 hours',
                            interval '1 minute') i
        WHERE (i AT TIME ZONE tz)::date = d
          AND extract(hour FROM i AT TIME ZONE tz)::int = ANY (hrs)
          AND extract(minute FROM i AT TIME ZONE tz)::int = ANY (mins)
          AND i > start
        GROUP BY i ORDER BY i LIMIT 5;
    ELSE
        RETURN QUERY
        SELECT DISTINCT fire FROM (
            SELECT (SELECT min(i) FROM generate_series(
                        date_trunc('minute', (l AT TIME ZONE 'UTC') - interval '15 hours'),
                        (l AT TIME ZONE 'UTC') + interval '15 hours', interval '1 minute') i
                    WHERE (i AT TIME ZONE tz) >= l) AS fire
            FROM (SELECT d + make_interval(hours => h, mins => m) AS l
                  FROM brute_days, unnest(hrs) h, unnest(mins) m
                  WHERE d + make_interval(hours => h, mins => m) > lstart
                  ORDER BY 1 LIMIT 100) ls) x
        WHERE fire > start ORDER BY fire LIMIT 5;
    END IF;
END $$;

CREATE TEMP TABLE cases (id serial, sched text, start timestamptz, tz text);
INSERT INTO cases (sched, start, tz) VALUES
    -- UTC, from Thursday 2026-02-26 13:37:21 (a non-leap February's end)
    ('* * * * *', '2026-02-26 13:37:21+00', 'UTC'),
    ('*/5 * * * *', '2026-02-26 13:37:21+00', 'UTC'),
    ('*/15 * * * *', '2026-02-26 13:37:21+00', 'UTC'),
    ('0 * * * *', '2026-02-26 13:37:21+00', 'UTC'),
    ('30 * * * *', '2026-02-26 13:37:21+00', 'UTC'),
    ('15,45 * * * *', '2026-02-26 13:37:21+00', 'UTC'),
    ('0-10/3 * * * *', '2026-02-26 13:37:21+00', 'UTC'),
    ('1-59/2 * * * *', '2026-02-26 13:37:21+00', 'UTC'),
    ('0 2 * * *', '2026-02-26 13:37:21+00', 'UTC'),
    ('0 0 * * *', '2026-02-26 13:37:21+00', 'UTC'),
    ('59 23 * * *', '2026-02-26 13:37:21+00', 'UTC'),
    ('5 4 * * *', '2026-02-26 13:37:21+00', 'UTC'),
    ('0 */6 * * *', '2026-02-26 13:37:21+00', 'UTC'),
    ('23 0-20/2 * * *', '2026-02-26 13:37:21+00', 'UTC'),
    ('0 9-17 * * 1-5', '2026-02-26 13:37:21+00', 'UTC'),
    ('*/10 9-17 * * mon-fri', '2026-02-26 13:37:21+00', 'UTC'),
    ('0 9 * * 1-5', '2026-02-26 13:37:21+00', 'UTC'),
    ('0 22 * * 1-5', '2026-02-26 13:37:21+00', 'UTC'),
    ('0 0 * * 0', '2026-02-26 13:37:21+00', 'UTC'),
    ('0 0 * * 7', '2026-02-26 13:37:21+00', 'UTC'),
    ('0 0 * * SUN', '2026-02-26 13:37:21+00', 'UTC'),
    ('0 12 * * sat,sun', '2026-02-26 13:37:21+00', 'UTC'),
    ('45 23 * * 6', '2026-02-26 13:37:21+00', 'UTC'),
    ('0 0 1 * *', '2026-02-26 13:37:21+00', 'UTC'),
    ('0 0 1 */3 *', '2026-02-26 13:37:21+00', 'UTC'),
    ('0 0,12 1 */2 *', '2026-02-26 13:37:21+00', 'UTC'),
    ('0 0 $ * *', '2026-02-26 13:37:21+00', 'UTC'),
    ('30 23 $ * *', '2026-02-26 13:37:21+00', 'UTC'),
    ('0 0 1,15,$ * *', '2026-02-26 13:37:21+00', 'UTC'),
    ('0 0 $ 2 *', '2026-02-26 13:37:21+00', 'UTC'),
    ('0 0 1,15 * *', '2026-02-26 13:37:21+00', 'UTC'),
    ('0 0 29 2 *', '2026-02-26 13:37:21+00', 'UTC'),
    ('0 0 31 * *', '2026-02-26 13:37:21+00', 'UTC'),
    ('0 0 30 * *', '2026-02-26 13:37:21+00', 'UTC'),
    ('0 0 13 * 5', '2026-02-26 13:37:21+00', 'UTC'),
    ('0 0 */2 * 1', '2026-02-26 13:37:21+00', 'UTC'),
    ('0 0 1-7 * 1', '2026-02-26 13:37:21+00', 'UTC'),
    ('0 0 29 2 1', '2026-02-26 13:37:21+00', 'UTC'),
    ('0 12 * JAN,JUL *', '2026-02-26 13:37:21+00', 'UTC'),
    ('0 12 * jan-mar *', '2026-02-26 13:37:21+00', 'UTC'),
    ('0 0 1 1 *', '2026-02-26 13:37:21+00', 'UTC'),
    ('@hourly', '2026-02-26 13:37:21+00', 'UTC'),
    ('@daily', '2026-02-26 13:37:21+00', 'UTC'),
    ('@midnight', '2026-02-26 13:37:21+00', 'UTC'),
    ('@weekly', '2026-02-26 13:37:21+00', 'UTC'),
    ('@monthly', '2026-02-26 13:37:21+00', 'UTC'),
    ('@yearly', '2026-02-26 13:37:21+00', 'UTC'),
    ('@annually', '2026-02-26 13:37:21+00', 'UTC'),
    -- exactly on a fire time: strictly after
    ('*/5 * * * *', '2026-02-26 13:40:00+00', 'UTC'),
    ('0 2 * * *', '2026-02-26 02:00:00+00', 'UTC'),
    -- leap year and year end
    ('0 0 $ * *', '2028-01-30 00:00:00+00', 'UTC'),
    ('59 23 31 12 *', '2026-12-31 23:59:00+00', 'UTC'),
    -- other zones
    ('0 0 $ * *', '2026-02-26 13:37:21+00', 'Asia/Kolkata'),
    ('0 9 * * 1-5', '2026-02-26 13:37:21+00', 'Asia/Tokyo'),
    ('*/45 * * * *', '2026-02-26 13:37:21+00', 'Asia/Kathmandu'),
    -- America/New_York spring forward: 2026-03-08 02:00 EST -> 03:00 EDT (07:00 UTC)
    ('0 2 * * *', '2026-03-06 12:00:00+00', 'America/New_York'),
    ('30 2 * * *', '2026-03-06 12:00:00+00', 'America/New_York'),
    ('*/15 2 * * *', '2026-03-07 12:00:00+00', 'America/New_York'),
    ('0 */2 * * *', '2026-03-08 03:30:00+00', 'America/New_York'),
    ('*/30 * * * *', '2026-03-08 06:10:00+00', 'America/New_York'),
    ('0 * * * *', '2026-03-08 05:10:00+00', 'America/New_York'),
    ('0 3 * * *', '2026-03-06 12:00:00+00', 'America/New_York'),
    -- America/New_York fall back: 2026-11-01 02:00 EDT -> 01:00 EST (06:00 UTC)
    ('30 1 * * *', '2026-10-30 12:00:00+00', 'America/New_York'),
    ('*/20 1 * * *', '2026-11-01 04:50:00+00', 'America/New_York'),
    ('*/20 1 * * *', '2026-11-01 06:10:00+00', 'America/New_York'),
    ('*/30 * * * *', '2026-11-01 04:40:00+00', 'America/New_York'),
    ('0 * * * *', '2026-11-01 04:10:00+00', 'America/New_York'),
    ('0 2 * * *', '2026-10-30 12:00:00+00', 'America/New_York'),
    -- Europe/Berlin: 2026-03-29 02:00 CET -> 03:00 CEST, 2026-10-25 03:00 CEST -> 02:00 CET
    ('0 2 * * *', '2026-03-27 12:00:00+00', 'Europe/Berlin'),
    ('30 2 * * *', '2026-03-27 12:00:00+00', 'Europe/Berlin'),
    ('30 2 * * *', '2026-10-23 12:00:00+00', 'Europe/Berlin'),
    ('0 3 * * *', '2026-10-23 12:00:00+00', 'Europe/Berlin'),
    ('*/30 * * * *', '2026-10-25 00:10:00+00', 'Europe/Berlin');

-- each cron schedule: its next 5 fire times, and whether brute force agrees
SELECT id, sched, tz,
       (SELECT string_agg(to_char(t, 'YYYY-MM-DD HH24:MI'), ', ')
          FROM uso_next_runs(sched, start, 5, tz) t) AS next_5_utc,
       ARRAY(SELECT uso_next_runs(sched, start, 5, tz))
         = ARRAY(SELECT pg_temp.brute(sched, start, tz)) AS brute_force_agrees
FROM cases ORDER BY id;

-- the summary the above must give
SELECT count(*) AS cron_cases,
       count(*) FILTER (WHERE ARRAY(SELECT uso_next_runs(sched, start, 5, tz))
                        = ARRAY(SELECT pg_temp.brute(sched, start, tz))) AS agree
FROM cases;

-- 60 random cron expressions (fixed seed) from random instants in five
-- zones, cross-checked the same way: no row may disagree
CREATE FUNCTION pg_temp.rnd_field(lo int, hi int) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    a int := lo + floor(random() * (hi - lo + 1))::int;
    b int := a + floor(random() * (hi - a + 1))::int;
BEGIN
    RETURN CASE floor(random() * 7)::int
        WHEN 0 THEN '*'
        WHEN 1 THEN '*/' || (1 + floor(random() * (hi - lo) / 2)::int)
        WHEN 2 THEN a::text
        WHEN 3 THEN a || '-' || b
        WHEN 4 THEN a || ',' || b
        WHEN 5 THEN a || '-' || b || '/' || (1 + floor(random() * 5)::int)
        ELSE '*' END;
END $$;
SELECT setseed(0.25);
CREATE TEMP TABLE random_cases AS
SELECT i, concat_ws(' ', pg_temp.rnd_field(0, 59), pg_temp.rnd_field(0, 23),
                    pg_temp.rnd_field(1, 31), pg_temp.rnd_field(1, 12),
                    pg_temp.rnd_field(0, 7)) AS sched,
       date_trunc('second', timestamptz '2026-01-01 00:00+00'
                            + random() * interval '800 days') AS start,
       (ARRAY['UTC', 'America/New_York', 'Europe/Berlin', 'Australia/Sydney',
              'Asia/Kolkata'])[1 + floor(random() * 5)::int] AS tz
FROM generate_series(1, 60) i;
SELECT count(*) AS random_cases,
       count(*) FILTER (WHERE ARRAY(SELECT uso_next_runs(sched, start, 5, tz))
                        = ARRAY(SELECT pg_temp.brute(sched, start, tz))) AS agree
FROM random_cases;
SELECT * FROM random_cases
WHERE ARRAY(SELECT uso_next_runs(sched, start, 5, tz))
      IS DISTINCT FROM ARRAY(SELECT pg_temp.brute(sched, start, tz));

-- daily jobs fire exactly once per local day on both transition days
SELECT tz, d, string_agg(sched || ': ' || fires, ', ' ORDER BY sched) AS fires_that_day
FROM (SELECT tz, d, sched, count(t) AS fires
      FROM (VALUES ('America/New_York', date '2026-03-08'), ('America/New_York', '2026-11-01'),
                   ('Europe/Berlin', '2026-03-29'), ('Europe/Berlin', '2026-10-25')) z(tz, d)
      CROSS JOIN (VALUES ('0 1 * * *'), ('30 1 * * *'), ('0 2 * * *'), ('30 2 * * *'),
                         ('59 2 * * *'), ('0 3 * * *'), ('T02:30')) s(sched)
      LEFT JOIN LATERAL uso_next_runs(sched, (d - 1)::timestamp AT TIME ZONE tz, 3, tz) t
             ON (t AT TIME ZONE tz)::date = d
      GROUP BY 1, 2, 3) x
GROUP BY 1, 2 ORDER BY 1, 2;

-- Interval kinds, USO's ISO 8601 forms and times of day: previews count
-- from 'after' (checked by hand).
SELECT sched, tz,
       (SELECT string_agg(to_char(t, 'YYYY-MM-DD HH24:MI:SS'), ', ')
          FROM uso_next_runs(sched, start, 5, tz) t) AS next_5_utc
FROM (VALUES
    ('every 15 minutes', timestamptz '2026-01-01 12:00+00', 'UTC'),
    ('PT15M', '2026-01-01 12:00+00', 'UTC'),
    ('pt15m', '2026-01-01 12:07:30+00', 'UTC'),
    ('30 seconds', '2026-01-01 12:00+00', 'UTC'),
    ('1 second', '2026-01-01 12:00+00', 'UTC'),
    ('59 seconds', '2026-01-01 12:00+00', 'UTC'),
    ('every 90 seconds', '2026-01-01 12:00+00', 'UTC'),
    ('every 6 hours', '2026-01-01 12:00+00', 'UTC'),
    ('PT4H', '2026-01-01 12:00+00', 'UTC'),
    ('PT1H30M', '2026-01-01 12:00+00', 'UTC'),
    ('every 1 hour 30 minutes', '2026-01-01 12:00+00', 'UTC'),
    ('every 2h', '2026-01-01 12:00+00', 'UTC'),
    ('every hour', '2026-01-01 12:00+00', 'UTC'),
    ('P1D', '2026-01-01 12:00+00', 'UTC'),
    ('every day', '2026-01-01 12:00+00', 'UTC'),
    ('P1DT12H', '2026-01-01 12:00+00', 'UTC'),
    ('P7D', '2026-01-01 12:00+00', 'UTC'),
    ('P1W', '2026-01-01 12:00+00', 'UTC'),
    ('every 2 weeks', '2026-01-01 12:00+00', 'UTC'),
    ('P1M', '2026-01-31 12:00+00', 'UTC'),
    ('P3M', '2026-01-31 12:00+00', 'UTC'),
    ('every 3 months', '2026-01-31 12:00+00', 'UTC'),
    ('every 1 mon', '2026-03-31 08:00+00', 'UTC'),
    ('P1Y', '2028-02-29 12:00+00', 'UTC'),
    -- a day keeps the wall-clock time across DST; hours are elapsed time
    ('every 1 day', '2026-03-06 17:00+00', 'America/New_York'),
    ('P1D', '2026-10-30 16:00+00', 'America/New_York'),
    ('every 24 hours', '2026-03-06 17:00+00', 'America/New_York'),
    ('every 1 day', '2026-03-07 07:30+00', 'America/New_York'),
    -- time of day
    ('T02:00', '2026-01-01 12:00+00', 'UTC'),
    ('T2:00', '2026-01-01 02:00+00', 'UTC'),
    ('T02:00:00', '2026-01-01 01:59:59+00', 'UTC'),
    ('T00:15', '2026-01-01 12:00+00', 'Europe/Berlin'),
    ('T02:30', '2026-03-06 12:00+00', 'America/New_York'),
    ('T01:30', '2026-10-30 12:00+00', 'America/New_York'),
    -- date from the duration, time from the time of day
    ('P7D T12:00', '2026-01-01 15:00+00', 'UTC'),
    ('P1D T06:30', '2026-01-01 15:00+00', 'UTC'),
    ('P1M T00:15', '2026-01-31 15:00+00', 'UTC'),
    ('p1w t12:00', '2026-01-01 15:00+00', 'Europe/Berlin'),
    -- never fire by themselves
    ('@reboot', '2026-01-01 12:00+00', 'UTC'),
    ('@manual', '2026-01-01 12:00+00', 'UTC'),
    ('0 0 30 2 *', '2026-01-01 12:00+00', 'UTC'),
    ('0 0 31 4,6,9,11 *', '2026-01-01 12:00+00', 'UTC'),
    -- surrounding and repeated blanks are fine
    ('  */20   *  * * *  ', '2026-01-01 12:00+00', 'UTC'),
    (E'0\t2 * * *', '2026-01-01 12:00+00', 'UTC')
) v(sched, start, tz);

-- uso_schedule_next: what the management API stores as next_run_at
SELECT sched, after, anchor, tz, uso_schedule_next(sched, after, anchor, tz) AS next
FROM (VALUES
    -- never ran: an interval task is due at 'after' itself
    ('every 1 hour', timestamptz '2026-01-01 15:00+00', NULL::timestamptz, 'UTC'),
    ('PT15M', '2026-01-01 15:00:07+00', NULL, 'UTC'),
    -- anchored on the last start, first slot strictly after 'after'
    ('every 1 hour', '2026-01-01 15:00+00', '2026-01-01 14:20+00', 'UTC'),
    ('every 1 hour', '2026-01-01 15:20+00', '2026-01-01 14:20+00', 'UTC'),
    ('every 1 hour', '2026-01-01 15:00+00', '2025-12-01 10:10+00', 'UTC'),
    ('P1M', '2026-03-15 00:00+00', '2026-01-31 09:00+00', 'UTC'),
    ('P3M', '2030-01-01 00:00+00', '2026-01-31 09:00+00', 'UTC'),
    ('30 seconds', '2026-01-01 15:00+00', '2026-01-01 14:59:50+00', 'UTC'),
    ('P7D T12:00', '2026-01-01 15:00+00', NULL, 'UTC'),
    ('P7D T12:00', '2026-01-01 15:00+00', '2026-01-01 12:00:03+00', 'UTC'),
    ('P7D T12:00', '2026-01-20 15:00+00', '2026-01-01 12:00:03+00', 'UTC'),
    -- a run in the future (clock skew) still gives one step after it
    ('every 1 hour', '2026-01-01 15:00+00', '2026-01-01 16:00+00', 'UTC'),
    -- cron and time of day ignore the anchor
    ('0 2 * * *', '2026-01-01 15:00+00', '2026-01-01 14:00+00', 'UTC'),
    ('T02:00', '2026-01-01 15:00+00', NULL, 'Europe/Berlin'),
    -- no next time
    ('@reboot', '2026-01-01 15:00+00', NULL, 'UTC'),
    ('@manual', '2026-01-01 15:00+00', NULL, 'UTC'),
    ('0 0 30 2 *', '2026-01-01 15:00+00', NULL, 'UTC')
) v(sched, after, anchor, tz);

-- NULL time zone = uso_tasks.timezone, which is empty here: the server's
-- configured TimeZone (pg_regress's database default, PST8PDT), not the
-- session's SET TimeZone, so a client and the scheduler agree; shown in JST
SET timezone = 'Asia/Tokyo';
SELECT * FROM uso_next_runs('0 9 * * *', '2026-01-01 12:00+00', 2);
SELECT uso_schedule_next('0 9 * * *', '2026-01-01 12:00+00', NULL, NULL);
SET timezone = 'UTC';

-- defaults, NULLs, the time zone canonical name
SELECT count(*) FROM uso_next_runs('*/5 * * * *');
SELECT count(*) FROM uso_next_runs(NULL);
SELECT uso_schedule_next(NULL, now(), NULL, NULL) IS NULL AS null_schedule;
SELECT uso_describe_schedule(NULL) IS NULL AS null_describe;
SELECT uso_validate_schedule('*/5 * * * *');
SELECT uso_validate_timezone('europe/berlin'), uso_validate_timezone('UTC'),
       uso_validate_timezone('America/New_York');
SELECT count(*) FROM uso_next_runs('* * * * *', '2026-01-01', 1000, 'UTC');
