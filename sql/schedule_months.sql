-- Month steps keep the anchor's day of month (issue 16): fire times come
-- from anchor + k * step (UsoScheduleNextFrom), the day clamped to the
-- month's length but never lost.  uso_next_runs is that function walked from
-- the anchor, and calling uso_schedule_next with the SAME anchor, chained,
-- gives the same times: the preview is what a scheduler keeping its anchor
-- does.  Chaining with the previous run as the anchor is what drifts.
SET timezone = 'UTC';

CREATE TEMP TABLE month_cases (id serial, sched text, anchor timestamptz, tz text);
INSERT INTO month_cases (sched, anchor, tz) VALUES
    ('P1M', '2026-01-31 12:00+00', 'UTC'),
    ('every 1 month', '2026-01-31 12:00+00', 'UTC'),
    ('every month', '2026-01-30 08:15+00', 'UTC'),
    ('P3M', '2025-11-30 12:00+00', 'UTC'),
    ('P3M', '2026-01-31 12:00+00', 'UTC'),
    ('every 3 months', '2026-01-31 12:00+00', 'UTC'),
    ('every 3 months', '2025-11-30 12:00+00', 'UTC'),
    ('P1M', '2027-12-31 23:30+00', 'UTC'),             -- into a leap February
    ('P1Y', '2028-02-29 06:00+00', 'UTC'),             -- 29 February, yearly
    ('P1M T00:15', '2026-01-31 00:15+00', 'UTC'),      -- with a time of day
    ('P1M', '2026-01-31 02:30 America/New_York', 'America/New_York'),   -- local day and time kept across DST
    ('P1MT12H', '2026-01-31 00:00+00', 'UTC'),         -- months on the date, hours elapsed
    ('every 1 day', '2026-03-07 02:30 America/New_York', 'America/New_York');  -- 02:30 skipped once, then back

-- The preview: uso_next_runs from the anchor.
SELECT id, sched, tz, to_char(anchor AT TIME ZONE tz, 'YYYY-MM-DD HH24:MI') AS anchor_local,
       (SELECT string_agg(to_char(t AT TIME ZONE tz, 'YYYY-MM-DD HH24:MI'), ', ' ORDER BY t)
        FROM uso_next_runs(sched, anchor, 6, tz) t) AS preview_local
FROM month_cases ORDER BY id;

-- The same anchor, chained one step at a time: equal to the preview.
CREATE FUNCTION pg_temp.chained(s text, anchor timestamptz, tz text, n int, keep_anchor bool)
RETURNS timestamptz[] LANGUAGE plpgsql AS $$
DECLARE
    t timestamptz := anchor;
    r timestamptz[] := '{}';
BEGIN
    FOR i IN 1..n LOOP
        t := uso_schedule_next(s, t, CASE WHEN keep_anchor THEN anchor ELSE t END, tz);
        r := r || t;
    END LOOP;
    RETURN r;
END $$;
SELECT id, sched FROM month_cases
WHERE pg_temp.chained(sched, anchor, tz, 6, true)
      IS DISTINCT FROM ARRAY(SELECT t FROM uso_next_runs(sched, anchor, 6, tz) t);

-- Restarting the grid at every run (anchor = the previous run) drifts after
-- a short month: the reason a scheduler must keep the anchor.
SELECT to_char(t, 'MM-DD') AS restarted_at_each_run
FROM unnest(pg_temp.chained('P1M', '2026-01-31 12:00+00', 'UTC', 4, false)) t;

-- From anywhere on the grid, the next time is the next grid slot: a scheduler
-- woken late (after 03-31, before 04-30) or restarted keeps the 31st.
SELECT after, uso_schedule_next('P1M', after, '2026-01-31 12:00+00', 'UTC') AS next
FROM (VALUES ('2026-02-28 12:00+00'::timestamptz), ('2026-03-15 00:00+00'),
             ('2026-03-31 12:00+00'), ('2026-04-29 23:59+00'), ('2031-01-31 11:00+00'),
             ('2026-01-01 00:00+00')) v(after);

-- A manual run makes a new anchor (the caller's rule): its day is the one kept.
SELECT string_agg(to_char(t, 'YYYY-MM-DD'), ', ' ORDER BY t) AS after_manual_run_on_03_15
FROM uso_next_runs('P1M', '2026-03-15 09:00+00', 4, 'UTC') t;

-- The scheduler keeps each interval task's anchor in uso_task.schedule_anchor
-- (its first slot, or the start of its latest manual run) and computes every
-- next slot as above from it; make simulate-grid checks that its slots are
-- uso_next_runs' across month ends, DST, restarts and pauses.  Here, the
-- catalog's side: as if the tasks had run at 01-31 and at 02-28 (what the
-- scheduler writes, written by hand: this test runs no task).
SELECT uso_schedule('MonthEnd', 'P1M', 'SELECT 1', timezone => 'UTC') > 0 AS scheduled,
       uso_schedule('MonthEndTz', 'P1M', 'SELECT 1', timezone => 'UTC') > 0 AS scheduled_too;
SELECT name, schedule_anchor IS NULL AS no_anchor_before_a_run FROM uso_task
WHERE name LIKE 'MonthEnd%' ORDER BY name;
UPDATE uso_task SET schedule_anchor = '2026-01-31 12:00+00', last_run_at = '2026-02-28 12:00+00'
WHERE name LIKE 'MonthEnd%';

-- Other changes keep it.
SELECT uso_alter_task('MonthEnd', description => 'Month end', max_retries => 1);
SELECT schedule_anchor = '2026-01-31 12:00+00' AS kept_by_other_changes
FROM uso_task WHERE name = 'MonthEnd';

-- Re-enabled, it is back on its grid: the 31st clamped (the last day of the
-- month, at 12:00), not the 28th that counting from the last run would give.
SELECT uso_disable('MonthEnd');
SELECT next_run_at IS NULL AS disabled_has_no_next FROM uso_task WHERE name = 'MonthEnd';
SELECT uso_enable('MonthEnd');
SELECT next_run_at = uso_schedule_next('P1M', now(), '2026-01-31 12:00+00', 'UTC') AS on_the_grid,
       to_char(next_run_at AT TIME ZONE 'UTC', 'HH24:MI') AS at,
       (next_run_at AT TIME ZONE 'UTC' + interval '1 day')::date
           = date_trunc('month', next_run_at AT TIME ZONE 'UTC' + interval '1 day')::date
           AS on_the_last_day_of_its_month,
       schedule_anchor = '2026-01-31 12:00+00' AS anchor_kept
FROM uso_task WHERE name = 'MonthEnd';

-- A new schedule or time zone starts a new grid from the last start, as
-- next_run_at is computed: the anchor is reset (NULL means last_run_at; the
-- scheduler may already have written that back).
SELECT uso_alter_task('MonthEnd', schedule => 'P3M');
SELECT uso_alter_task('MonthEndTz', timezone => 'Europe/Berlin');
SELECT name, COALESCE(schedule_anchor, last_run_at) = '2026-02-28 12:00+00' AS reset_to_last_run,
       next_run_at = uso_schedule_next(schedule, now(), '2026-02-28 12:00+00', timezone)
           AS next_from_last_run
FROM uso_task WHERE name LIKE 'MonthEnd%' ORDER BY name;

-- It is the scheduler's: no role may write it (superusers aside).
SELECT has_column_privilege('public', 'uso_task', 'schedule_anchor', 'UPDATE') AS public_may_update,
       has_column_privilege('public', 'uso_task', 'schedule_anchor', 'INSERT') AS public_may_insert;
SELECT uso_unschedule('MonthEnd'), uso_unschedule('MonthEndTz');
