-- uso_office 0.1 -> 0.2: what changed in the pack (sql/office/) since the
-- uso_tasks 0.1 release.  Every change to sql/office/ is made here too, in the
-- same commit (test/t/090_upgrade.pl compares an upgraded pack with a fresh
-- install, object by object).
\echo Use "ALTER EXTENSION uso_office UPDATE" to load this file. \quit

------------------------------------------------------------------------------
-- Issue 17: reviews by a role, withdrawn reviews of inactive reviewers.
ALTER TABLE uso.review ALTER COLUMN reviewer_id DROP NOT NULL;
ALTER TABLE uso.review ADD COLUMN role text;
ALTER TABLE uso.review ADD COLUMN withdrawn_at timestamptz;
ALTER TABLE uso.review DROP CONSTRAINT review_state_check;
ALTER TABLE uso.review ADD CONSTRAINT review_reviewer_check CHECK ((reviewer_id IS NULL) <> (role IS NULL));
ALTER TABLE uso.review ADD CONSTRAINT review_role_check CHECK (role <> '');
ALTER TABLE uso.review ADD CONSTRAINT review_state_check
    CHECK (state IN ('pending', 'open', 'submitted', 'closed', 'withdrawn'));
ALTER TABLE uso.review ADD CONSTRAINT review_withdrawn_check
    CHECK ((state = 'withdrawn') = (withdrawn_at IS NOT NULL));
CREATE UNIQUE INDEX review_role_key ON uso.review (submission_id, stage_id, role) WHERE role IS NOT NULL;
COMMENT ON TABLE uso.review IS 'One review of a submission at one stage, by a reviewer or by a role (a committee: every active holder may do it).';
COMMENT ON COLUMN uso.review.reviewer_id IS 'Who reviews; NULL when a role reviews.';
COMMENT ON COLUMN uso.review.role IS 'The role that reviews (app_user.roles, e.g. committee) instead of one reviewer: open to every active holder, counted once.';
COMMENT ON COLUMN uso.review.state IS 'pending (created), open (reviewer asked), submitted (scored), closed (stage decided), withdrawn (its reviewer became inactive; AdvanceReviewWorkflow assigns a replacement).';
COMMENT ON COLUMN uso.review.withdrawn_at IS 'When AdvanceReviewWorkflow withdrew it because its reviewer is no longer active.';

ALTER TABLE uso.review_stage ADD COLUMN reviewer_role text;
ALTER TABLE uso.review_stage ADD CONSTRAINT review_stage_role_check
    CHECK (reviewer_role IS NULL OR (reviewer_role <> '' AND min_reviews = 1));
COMMENT ON COLUMN uso.review_stage.reviewer_role IS 'When set, the stage is reviewed by this role (e.g. a committee): ONE review assigned to the role, open to every active holder (min_reviews must be 1).';

COMMENT ON COLUMN uso.cycle.alloc_date IS 'Allocation date: CreateCallProjects (daily at 00:15) creates its projects from this day on, NotifyProjects (daily at 00:30) tells the results the day after.';
COMMENT ON COLUMN uso.submission.notified_at IS 'When NotifyProjects sent the result (NULL when it had nobody to tell: the spokesperson was inactive).';

-- Issue 17: CreateCallProjects and NotifyProjects run daily and act on every
-- cycle whose date has come; the cycle trigger that queued one-off runs goes.
DROP TRIGGER cycle_schedule_moved ON uso.cycle;
DROP TRIGGER cycle_schedule_runs ON uso.cycle;
DROP FUNCTION uso.cycle_schedule_trigger();
DROP FUNCTION uso.schedule_once(text, timestamptz);
DROP FUNCTION uso.unschedule_once(text, timestamptz);

UPDATE @extschema@.uso_task SET schedule = 'T00:15', config = '{}',
    description = 'Creates projects for submissions to review tracks that require a call, at 00:15 on the allocation date of the cycle (checked daily, so a missed date is caught up).'
    WHERE builtin AND extension = 'uso_office' AND name = 'CreateCallProjects';
UPDATE @extschema@.uso_task SET schedule = 'T00:30', config = '{}',
    description = 'Sends notifications to users about the result of their submissions and projects, after reviews are completed and allocations have been performed: at 00:30 on the day after the allocation date, and the day after a rapid-access project is created.'
    WHERE builtin AND extension = 'uso_office' AND name = 'NotifyProjects';
UPDATE @extschema@.uso_task SET schedule = 'every 1 minute', config = '{"max_attempts": 5, "backoff": "1 minute", "batch": 100, "stop_after_failures": 3}',
    description = 'Sends the notification outbox by e-mail through SMTP, retrying failed messages with backoff, never sending one twice.'
    WHERE builtin AND extension = 'uso_office' AND name = 'DeliverNotifications';

------------------------------------------------------------------------------
-- The pack's functions, as they are now.
CREATE OR REPLACE FUNCTION uso.local_zone() RETURNS text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT coalesce(nullif(current_setting('uso.timezone', true), ''),
                          nullif(current_setting('uso_tasks.timezone', true), ''),
                          current_setting('TimeZone')) $$;

COMMENT ON FUNCTION uso.local_zone() IS
    'The facility time zone: uso_tasks.timezone, or the session TimeZone when that is empty; the session setting uso.timezone overrides both (uso_tasks.timezone is SIGHUP-level: tests SET uso.timezone).';

CREATE OR REPLACE FUNCTION uso.local_date(as_of timestamptz DEFAULT NULL) RETURNS date
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT (coalesce(as_of, now()) AT TIME ZONE uso.local_zone())::date $$;

COMMENT ON FUNCTION uso.local_date(timestamptz) IS
    'The local date (facility time zone) at as_of (NULL = now): the tasks'' "today".';

CREATE OR REPLACE FUNCTION uso.local_instant(d date, t time) RETURNS timestamptz
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT (d + t) AT TIME ZONE uso.local_zone() $$;

COMMENT ON FUNCTION uso.local_instant(date, time) IS
    'The instant of local time t on local date d in the facility time zone.';

-- The running task's own config (the engine hands it over by the run's task
-- id: a task renamed, and another one created under its old name, must not
-- feed that one's settings to the pack's code, which runs as the superuser).
-- Outside a run (tests, a DBA calling the function by hand) the pack's own
-- row of that name: rows only CREATE EXTENSION writes (builtin, extension).
CREATE OR REPLACE FUNCTION uso.task_config(task text, config jsonb) RETURNS jsonb
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT coalesce(CASE WHEN @extschema@.uso_current_run() IS NOT NULL
                             THEN @extschema@.uso_task_config()
                             ELSE (SELECT t.config FROM @extschema@.uso_task t
                                    WHERE t.name OPERATOR(pg_catalog.=) task AND t.builtin
                                      AND t.extension OPERATOR(pg_catalog.=) 'uso_office'::name) END,
                        '{}'::jsonb)
               OPERATOR(pg_catalog.||) coalesce(config, '{}'::jsonb)
    $$;

COMMENT ON FUNCTION uso.task_config(text, jsonb) IS
    'Settings of a USO task, overlaid with the config argument: inside a run the running task''s own config (uso_task_config(), by its id, never by name); outside a run the config of the pack''s own task of that name.';

CREATE OR REPLACE FUNCTION uso.config_interval(cfg jsonb, key text, dflt interval) RETURNS interval
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF cfg->>key IS NULL THEN
        RETURN dflt;
    END IF;
    RETURN (cfg->>key)::interval;
EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow THEN
    RAISE EXCEPTION 'config key "%" is not an interval: %', key, cfg->>key
        USING ERRCODE = 'invalid_parameter_value';
END
$$;

COMMENT ON FUNCTION uso.config_interval(jsonb, text, interval) IS
    'Interval setting key of a task config (PostgreSQL or ISO 8601 syntax), dflt when absent.';

CREATE OR REPLACE FUNCTION uso.config_int(cfg jsonb, key text, dflt integer) RETURNS integer
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF cfg->>key IS NULL THEN
        RETURN dflt;
    END IF;
    RETURN (cfg->>key)::integer;
EXCEPTION WHEN invalid_text_representation OR numeric_value_out_of_range THEN
    RAISE EXCEPTION 'config key "%" is not an integer: %', key, cfg->>key
        USING ERRCODE = 'invalid_parameter_value';
END
$$;

COMMENT ON FUNCTION uso.config_int(jsonb, text, integer) IS
    'Integer setting key of a task config, dflt when absent.';

CREATE OR REPLACE FUNCTION uso.with_skipped(msg text, skipped integer, what text DEFAULT 'item(s)') RETURNS text
    LANGUAGE sql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT CASE WHEN skipped > 0 THEN msg || format(', %s %s skipped (see warnings)', skipped, what)
                      ELSE msg END $$;

COMMENT ON FUNCTION uso.with_skipped(text, integer, text) IS
    'Appends ", N <what> skipped (see warnings)" to a run message when N > 0.';

CREATE OR REPLACE FUNCTION uso.weekday_of_week(d date, wd integer) RETURNS date
    LANGUAGE sql IMMUTABLE STRICT
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT d - (extract(isodow FROM d)::integer - 1) + (wd - 1) $$;

COMMENT ON FUNCTION uso.weekday_of_week(date, integer) IS
    'The given ISO weekday (1 = Monday) of the ISO week containing d.';

CREATE OR REPLACE FUNCTION uso.cycle_dates(ct uso.cycle_type, yr integer,
        OUT open_date date, OUT close_date date, OUT due_date date,
        OUT alloc_date date, OUT start_date date, OUT end_date date)
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT o.d, c.d, c.d + 7 * ct.review_weeks,
               c.d + 7 * (ct.review_weeks + ct.alloc_offset_weeks),
               s.d, (s.d + make_interval(months => ct.duration_months))::date
        FROM (SELECT make_date(yr, ct.start_month, ct.start_day) AS d) s,
             LATERAL (SELECT uso.weekday_of_week(s.d - 7 * ct.call_offset_weeks, ct.open_weekday) AS d) o,
             LATERAL (SELECT uso.weekday_of_week(o.d + 7 * ct.call_period_weeks, ct.close_weekday) AS d) c
    $$;

COMMENT ON FUNCTION uso.cycle_dates(uso.cycle_type, integer) IS
    'Dates of the cycle of type ct in year yr: start = yr-month-day; open = open weekday of the ISO week of start - call offset; close = close weekday of the ISO week of open + call period; due = close + review weeks; alloc = due + allocation offset; end = start + duration months.';

CREATE OR REPLACE FUNCTION uso.cycle_state_manager(as_of timestamptz DEFAULT NULL, config jsonb DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    states  text[] := ARRAY['pending', 'open', 'assign', 'review', 'evaluation', 'schedule', 'active', 'archive'];
    today   date := uso.local_date(as_of);
    r       record;
    moved   integer := 0;
BEGIN
    FOR r IN
        WITH target AS (
            SELECT c.id, c.state AS old_state,
                   CASE WHEN today >= c.end_date THEN 8
                        WHEN today >= c.start_date THEN 7
                        WHEN today >= c.alloc_date THEN 6
                        WHEN today >= c.due_date THEN 5
                        WHEN today > c.close_date AND EXISTS (
                            SELECT FROM uso.submission s JOIN uso.review rv ON rv.submission_id = s.id
                            WHERE s.cycle_id = c.id AND rv.state NOT IN ('pending', 'withdrawn')) THEN 4
                        WHEN today > c.close_date THEN 3
                        WHEN today >= c.open_date THEN 2
                        ELSE 1 END AS rank
            FROM uso.cycle c
            WHERE c.state <> 'archive'
            FOR UPDATE OF c
        ), moved AS (
            UPDATE uso.cycle c
            SET state = states[t.rank], state_changed_at = coalesce(as_of, now())
            FROM target t
            WHERE c.id = t.id AND t.rank > array_position(states, t.old_state)
            RETURNING c.name, t.old_state, c.state
        )
        SELECT * FROM moved ORDER BY name
    LOOP
        RAISE NOTICE 'cycle %: % -> %', r.name, r.old_state, r.state;
        moved := moved + 1;
    END LOOP;
    RETURN format('%s cycle(s) moved forward', moved);
END
$$;

COMMENT ON FUNCTION uso.cycle_state_manager(timestamptz, jsonb) IS
    'CycleStateManager task: moves cycles forward (never back) through pending, open, assign, review, evaluation, schedule, active, archive by their dates.';

CREATE OR REPLACE FUNCTION uso.withdraw_inactive_reviews(sub_id bigint, at timestamptz) RETURNS integer
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r  record;
    n  integer := 0;
BEGIN
    FOR r IN
        WITH w AS (
            UPDATE uso.review x SET state = 'withdrawn', withdrawn_at = at
            FROM uso.reviewer rv, uso.app_user u
            WHERE x.submission_id = sub_id AND x.state IN ('pending', 'open')
              AND rv.id = x.reviewer_id AND u.id = rv.user_id AND NOT u.active
            RETURNING x.stage_id, x.state, u.username)
        SELECT p.code, st.position, st.kind, w.username
        FROM w JOIN uso.review_stage st ON st.id = w.stage_id,
             uso.submission s JOIN uso.proposal p ON p.id = s.proposal_id
        WHERE s.id = sub_id
        ORDER BY st.position, w.username
    LOOP
        RAISE NOTICE 'submission % (%): review of stage % (%) by % withdrawn: the user is inactive',
            sub_id, r.code, r.position, r.kind, r.username;
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;

COMMENT ON FUNCTION uso.withdraw_inactive_reviews(bigint, timestamptz) IS
    'Withdraws the pending and open reviews of a submission whose reviewer''s user is inactive (a replacement is assigned next); returns how many.';

CREATE OR REPLACE FUNCTION uso.assign_reviews(submission_id bigint, stage_id bigint, need integer,
                                   due date, created timestamptz)
    RETURNS integer
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    n     integer;
    role  text := (SELECT st.reviewer_role FROM uso.review_stage st WHERE st.id = assign_reviews.stage_id);
BEGIN
    IF role IS NOT NULL THEN
        -- a committee: one review assigned to the role (need is 1)
        INSERT INTO uso.review (submission_id, stage_id, role, state, due_date, created_at)
        SELECT assign_reviews.submission_id, assign_reviews.stage_id, role, 'pending', due, created
        WHERE need > 0
        ON CONFLICT DO NOTHING;
        GET DIAGNOSTICS n = ROW_COUNT;
        RETURN n;
    END IF;
    INSERT INTO uso.review (submission_id, stage_id, reviewer_id, state, due_date, created_at)
    SELECT s.id, assign_reviews.stage_id, rv.id, 'pending', due, created
    FROM uso.submission s
    JOIN uso.proposal p ON p.id = s.proposal_id
    JOIN uso.reviewer_track rt ON rt.track_id = s.track_id
    JOIN uso.reviewer rv ON rv.id = rt.reviewer_id AND rv.active
    JOIN uso.app_user u ON u.id = rv.user_id AND u.active
    WHERE s.id = assign_reviews.submission_id
      AND u.id <> p.spokesperson_id
      AND NOT EXISTS (SELECT FROM uso.proposal_member m
                      WHERE m.proposal_id = p.id AND m.user_id = u.id)
      AND NOT EXISTS (SELECT FROM uso.review x
                      WHERE x.submission_id = s.id AND x.stage_id = assign_reviews.stage_id
                        AND x.reviewer_id = rv.id)
    ORDER BY (SELECT count(*) FROM uso.review o
              WHERE o.reviewer_id = rv.id AND o.state IN ('pending', 'open')), rv.id
    LIMIT need;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

COMMENT ON FUNCTION uso.assign_reviews(bigint, bigint, integer, date, timestamptz) IS
    'Creates up to need pending reviews for a stage of a submission, fairest reviewers first (fewest open assignments, never the proposal team); for a stage reviewed by a role, the one review of the role.';

CREATE OR REPLACE FUNCTION uso.advance_submission(sub_id bigint, today date, review_days integer, at timestamptz)
    RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    sub       record;
    st        uso.review_stage;
    rv        record;
    passed    boolean;
    last_avg  numeric;
    stages    integer := 0;
    due       date;
    n         integer;
BEGIN
    SELECT s.id, p.code, c.due_date, t.acronym, t.id AS track_id
    INTO sub
    FROM uso.submission s
    JOIN uso.proposal p ON p.id = s.proposal_id
    JOIN uso.cycle c ON c.id = s.cycle_id
    JOIN uso.review_track t ON t.id = s.track_id
    WHERE s.id = sub_id
    FOR UPDATE OF s;

    FOR st IN SELECT * FROM uso.review_stage WHERE track_id = sub.track_id ORDER BY position LOOP
        stages := stages + 1;
        SELECT count(*) FILTER (WHERE state <> 'withdrawn') AS total,
               count(*) FILTER (WHERE state IN ('pending', 'open')) AS outstanding,
               count(*) FILTER (WHERE state = 'closed') AS closed,
               avg(score) FILTER (WHERE state IN ('submitted', 'closed')) AS avg_score
        INTO rv
        FROM uso.review WHERE submission_id = sub.id AND stage_id = st.id;

        IF rv.outstanding > 0 THEN
            RETURN 'waiting';
        END IF;
        IF rv.total > 0 AND rv.closed = rv.total AND rv.total >= st.min_reviews THEN
            last_avg := rv.avg_score;       -- decided (and passed) in an earlier run
            CONTINUE;
        END IF;
        IF rv.total < st.min_reviews THEN
            IF NOT st.auto_create THEN
                RETURN 'waiting';           -- an administrator assigns this stage
            END IF;
            due := CASE WHEN sub.due_date >= today THEN least(sub.due_date, today + review_days)
                        ELSE today + review_days END;
            n := uso.assign_reviews(sub.id, st.id, (st.min_reviews - rv.total)::integer, due, at);
            IF n > 0 THEN
                RAISE NOTICE 'submission % (%): % review(s) created for stage % (%)',
                    sub.id, sub.code, n, st.position, st.kind;
            END IF;
            IF st.reviewer_role IS NOT NULL THEN
                IF NOT EXISTS (SELECT FROM uso.review x JOIN uso.review_recipient rr ON rr.review_id = x.id
                               WHERE x.submission_id = sub.id AND x.stage_id = st.id AND x.role IS NOT NULL) THEN
                    RAISE WARNING 'submission % (%): stage % (%) is reviewed by role %, which no active user outside the proposal team holds',
                        sub.id, sub.code, st.position, st.kind, st.reviewer_role;
                END IF;
            ELSIF n < st.min_reviews - rv.total THEN
                RAISE WARNING 'submission % (%): stage % (%) needs % more reviewer(s) than track % has available',
                    sub.id, sub.code, st.position, st.kind, st.min_reviews - rv.total - n, sub.acronym;
            END IF;
            RETURN 'created:' || n;
        END IF;

        -- every review of the stage is in: decide it
        passed := CASE WHEN st.low_better THEN rv.avg_score <= st.pass_score
                       ELSE rv.avg_score >= st.pass_score END;
        UPDATE uso.review SET state = 'closed'
        WHERE submission_id = sub.id AND stage_id = st.id AND state = 'submitted';
        RAISE NOTICE 'submission % (%): stage % (%) % with average score %',
            sub.id, sub.code, st.position, st.kind,
            CASE WHEN passed THEN 'passed' ELSE 'failed' END, round(rv.avg_score, 2);
        IF NOT passed AND st.blocks THEN
            UPDATE uso.submission
            SET state = 'reviewed', approved = false, score = rv.avg_score, decided_at = at
            WHERE id = sub.id;
            RAISE NOTICE 'submission % (%) rejected', sub.id, sub.code;
            RETURN 'rejected';
        END IF;
        last_avg := rv.avg_score;
    END LOOP;

    IF stages = 0 THEN
        RAISE EXCEPTION 'review track % has no review stages', sub.acronym
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE uso.submission
    SET state = 'reviewed', approved = true, score = last_avg, decided_at = at
    WHERE id = sub.id;
    RAISE NOTICE 'submission % (%) approved', sub.id, sub.code;
    RETURN 'approved';
END
$$;

COMMENT ON FUNCTION uso.advance_submission(bigint, date, integer, timestamptz) IS
    'One AdvanceReviewWorkflow step for one submission: create reviews, wait, or decide a stage; returns what it did.';

CREATE OR REPLACE FUNCTION uso.start_reviews(as_of timestamptz DEFAULT NULL, config jsonb DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cfg       jsonb := uso.task_config('StartReviews', config);
    today     date := uso.local_date(as_of);
    days      integer := uso.config_int(cfg, 'review_days', 14);
    at        timestamptz := coalesce(as_of, now());
    ids       bigint[];
    r         record;
    opened    integer;
    notified  integer := 0;
    started   integer;
BEGIN
    WITH opened AS (
        UPDATE uso.review rv
        SET state = 'open', opened_at = at,
            due_date = coalesce(rv.due_date,
                                CASE WHEN c.due_date >= today THEN least(c.due_date, today + days)
                                     ELSE today + days END)
        FROM uso.review_stage st, uso.submission s, uso.cycle c
        WHERE st.id = rv.stage_id AND st.auto_start AND rv.state = 'pending'
          AND s.id = rv.submission_id AND c.id = s.cycle_id
          AND (rv.role IS NOT NULL
               OR EXISTS (SELECT FROM uso.review_recipient rr WHERE rr.review_id = rv.id))
        RETURNING rv.id
    )
    SELECT coalesce(array_agg(id ORDER BY id), '{}') INTO ids FROM opened;
    opened := cardinality(ids);

    FOR r IN
        WITH per_user AS (
            SELECT u.id AS user_id, u.username, u.email, u.first_name, count(*) AS n,
                   string_agg(format('  - %s "%s" (%s review%s), due %s', p.code, p.title, st.kind,
                                     CASE WHEN rv.role IS NOT NULL THEN format(' for the %s', rv.role) ELSE '' END,
                                     rv.due_date),
                              E'\n' ORDER BY rv.due_date, p.code, rv.id) AS lines,
                   jsonb_agg(rv.id ORDER BY rv.id) AS review_ids
            FROM uso.review rv
            JOIN uso.review_recipient rr ON rr.review_id = rv.id
            JOIN uso.app_user u ON u.id = rr.user_id
            JOIN uso.review_stage st ON st.id = rv.stage_id
            JOIN uso.submission s ON s.id = rv.submission_id
            JOIN uso.proposal p ON p.id = s.proposal_id
            WHERE rv.id = ANY (ids)
            GROUP BY u.id
        ), queued AS (
            INSERT INTO uso.notification (kind, user_id, recipient, subject, body, context, created_at, send_after)
            SELECT 'review-request', pu.user_id, pu.email,
                   format('Review request: %s proposal(s) to review', pu.n),
                   format(E'Dear %s,\n\nyou have been assigned the following review(s):\n%s\n\n'
                          'Please submit them in the User Office before their due dates.\n',
                          coalesce(nullif(pu.first_name, ''), pu.username), pu.lines),
                   jsonb_build_object('reviews', pu.review_ids), at, at
            FROM per_user pu
            RETURNING user_id, jsonb_array_length(context->'reviews') AS n
        )
        SELECT u.username, q.n FROM queued q JOIN uso.app_user u ON u.id = q.user_id ORDER BY u.username
    LOOP
        RAISE NOTICE 'reviewer % asked for % review(s)', r.username, r.n;
        notified := notified + 1;
    END LOOP;
    FOR r IN
        SELECT p.code, st.kind, rv.role
        FROM uso.review rv JOIN uso.review_stage st ON st.id = rv.stage_id
        JOIN uso.submission s ON s.id = rv.submission_id JOIN uso.proposal p ON p.id = s.proposal_id
        WHERE rv.id = ANY (ids) AND rv.role IS NOT NULL
          AND NOT EXISTS (SELECT FROM uso.review_recipient rr WHERE rr.review_id = rv.id)
        ORDER BY p.code, rv.id
    LOOP
        RAISE WARNING 'proposal %: the % review for role % was opened, but no active user outside the proposal team holds the role',
            r.code, r.kind, r.role;
    END LOOP;

    UPDATE uso.submission s SET state = 'started'
    WHERE s.state = 'pending'
      AND EXISTS (SELECT FROM uso.review rv WHERE rv.submission_id = s.id AND rv.state = 'open');
    GET DIAGNOSTICS started = ROW_COUNT;
    IF started > 0 THEN
        RAISE NOTICE '% submission(s) started', started;
    END IF;
    RETURN format('%s review(s) opened, %s reviewer(s) notified, %s submission(s) started',
                  opened, notified, started);
END
$$;

COMMENT ON FUNCTION uso.start_reviews(timestamptz, jsonb) IS
    'StartReviews task: opens pending reviews of auto-start stages and queues one combined review-request per reviewer (every active holder for a review by a role).';

CREATE OR REPLACE FUNCTION uso.remind_reviewers(as_of timestamptz DEFAULT NULL, config jsonb DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cfg       jsonb := uso.task_config('RemindReviewers', config);
    today     date := uso.local_date(as_of);
    lead      integer := uso.config_int(cfg, 'lead_days', 1);
    at        timestamptz := coalesce(as_of, now());
    ids       bigint[];
    r         record;
    reviewers integer := 0;
BEGIN
    WITH marked AS (
        UPDATE uso.review rv
        SET reminded_at = at, reminded_due = rv.due_date
        WHERE rv.state = 'open' AND rv.due_date BETWEEN today AND today + lead
          AND rv.reminded_due IS DISTINCT FROM rv.due_date
          AND EXISTS (SELECT FROM uso.review_recipient rr WHERE rr.review_id = rv.id)
        RETURNING rv.id
    )
    SELECT coalesce(array_agg(id ORDER BY id), '{}') INTO ids FROM marked;

    FOR r IN
        WITH per_user AS (
            SELECT u.id AS user_id, u.username, u.email, u.first_name, count(*) AS n,
                   string_agg(format('  - %s "%s" (%s review%s), due %s', p.code, p.title, st.kind,
                                     CASE WHEN m.role IS NOT NULL THEN format(' for the %s', m.role) ELSE '' END,
                                     m.due_date),
                              E'\n' ORDER BY m.due_date, p.code, m.id) AS lines,
                   jsonb_agg(m.id ORDER BY m.id) AS review_ids
            FROM uso.review m
            JOIN uso.review_recipient rr ON rr.review_id = m.id
            JOIN uso.app_user u ON u.id = rr.user_id
            JOIN uso.review_stage st ON st.id = m.stage_id
            JOIN uso.submission s ON s.id = m.submission_id
            JOIN uso.proposal p ON p.id = s.proposal_id
            WHERE m.id = ANY (ids)
            GROUP BY u.id
        ), queued AS (
            INSERT INTO uso.notification (kind, user_id, recipient, subject, body, context, created_at, send_after)
            SELECT 'review-reminder', pu.user_id, pu.email,
                   format('Reminder: %s review(s) due soon', pu.n),
                   format(E'Dear %s,\n\nthe following review(s) are due soon:\n%s\n',
                          coalesce(nullif(pu.first_name, ''), pu.username), pu.lines),
                   jsonb_build_object('reviews', pu.review_ids), at, at
            FROM per_user pu
            RETURNING user_id, jsonb_array_length(context->'reviews') AS n
        )
        SELECT u.username, q.n FROM queued q JOIN uso.app_user u ON u.id = q.user_id ORDER BY u.username
    LOOP
        RAISE NOTICE 'reminded % of % review(s)', r.username, r.n;
        reviewers := reviewers + 1;
    END LOOP;
    RETURN format('%s reviewer(s) reminded of %s review(s)', reviewers, cardinality(ids));
END
$$;

COMMENT ON FUNCTION uso.remind_reviewers(timestamptz, jsonb) IS
    'RemindReviewers task: one combined review-reminder per reviewer (every active holder for a review by a role) for open reviews due within config lead_days (default 1); never twice per due date.';

CREATE OR REPLACE FUNCTION uso.create_call_projects(as_of timestamptz DEFAULT NULL, config jsonb DEFAULT NULL)
    RETURNS text
    LANGUAGE sql
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT uso.create_projects(true, as_of, uso.task_config('CreateCallProjects', config)) $$;

COMMENT ON FUNCTION uso.create_call_projects(timestamptz, jsonb) IS
    'CreateCallProjects task (daily at 00:15, acting on cycles whose allocation date has come): projects and allocations for approved call-track submissions, plus renewals.';

CREATE OR REPLACE FUNCTION uso.create_non_call_projects(as_of timestamptz DEFAULT NULL, config jsonb DEFAULT NULL)
    RETURNS text
    LANGUAGE sql
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT uso.create_projects(false, as_of, uso.task_config('CreateNonCallProjects', config)) $$;

COMMENT ON FUNCTION uso.create_non_call_projects(timestamptz, jsonb) IS
    'CreateNonCallProjects task: projects and allocations for approved rapid-access submissions.';

CREATE OR REPLACE FUNCTION uso.notify_projects(as_of timestamptz DEFAULT NULL, config jsonb DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    today    date := uso.local_date(as_of);
    zone     text := uso.local_zone();
    at       timestamptz := coalesce(as_of, now());
    r        record;
    success  integer := 0;
    fail     integer := 0;
    untold   integer := 0;
BEGIN
    FOR r IN
        WITH cand AS (
            SELECT s.id, s.approved, p.code, p.title, c.name AS cycle, pr.id AS project_id,
                   u.id AS user_id, u.username, u.active, u.email,
                   coalesce(nullif(u.first_name, ''), u.username) AS dear
            FROM uso.submission s
            JOIN uso.proposal p ON p.id = s.proposal_id
            JOIN uso.review_track t ON t.id = s.track_id
            JOIN uso.cycle c ON c.id = s.cycle_id
            LEFT JOIN uso.project pr ON pr.submission_id = s.id
            JOIN uso.app_user u ON u.id = coalesce(pr.spokesperson_id, p.spokesperson_id)
            WHERE s.state = 'reviewed'
              AND (NOT s.approved OR pr.id IS NOT NULL)
              AND CASE WHEN t.require_call THEN c.alloc_date < today
                       ELSE (coalesce(pr.created_at, s.decided_at, '-infinity') AT TIME ZONE zone)::date < today END
            FOR UPDATE OF s
        ), queued AS (
            INSERT INTO uso.notification (kind, user_id, recipient, subject, body, context, created_at, send_after)
            SELECT CASE WHEN approved THEN 'submission-success' ELSE 'submission-fail' END,
                   user_id, email,
                   format('Proposal %s: %s', code, CASE WHEN approved THEN 'beamtime awarded' ELSE 'not successful' END),
                   CASE WHEN approved
                        THEN format(E'Dear %s,\n\nyour proposal %s "%s" was successful in cycle %s: project %s has been created.\n',
                                    dear, code, title, cycle, project_id)
                        ELSE format(E'Dear %s,\n\nwe regret that your proposal %s "%s" was not successful in cycle %s.\n',
                                    dear, code, title, cycle) END,
                   jsonb_build_object('submission', id, 'project', project_id), at, at
            FROM cand WHERE active
        ), done AS (
            UPDATE uso.submission s SET state = 'complete', notified_at = CASE WHEN cand.active THEN at END
            FROM cand WHERE s.id = cand.id
            RETURNING cand.cycle, cand.approved, cand.active, cand.code, cand.username
        )
        SELECT cycle, count(*) FILTER (WHERE approved AND active) AS ok,
               count(*) FILTER (WHERE NOT approved AND active) AS ko,
               count(*) FILTER (WHERE NOT active) AS gone,
               string_agg(format('%s (%s)', code, username), ', ' ORDER BY code) FILTER (WHERE NOT active) AS gone_list
        FROM done GROUP BY cycle ORDER BY cycle
    LOOP
        RAISE NOTICE 'cycle %: % success and % fail notification(s)', r.cycle, r.ok, r.ko;
        IF r.gone > 0 THEN
            RAISE NOTICE 'cycle %: complete without a notification, the spokesperson is inactive: %', r.cycle, r.gone_list;
        END IF;
        success := success + r.ok;
        fail := fail + r.ko;
        untold := untold + r.gone;
    END LOOP;
    RETURN format('%s submission(s) notified (%s successful, %s not)', success + fail, success, fail)
        || CASE WHEN untold > 0 THEN format(', %s not told (spokesperson inactive)', untold) ELSE '' END;
END
$$;

COMMENT ON FUNCTION uso.notify_projects(timestamptz, jsonb) IS
    'NotifyProjects task (daily at 00:30): result notifications the day after the allocation date (call tracks) or the day after the project was created (rapid access); reviewed submissions become complete.';

CREATE OR REPLACE FUNCTION uso.auto_sign_off(as_of timestamptz DEFAULT NULL, config jsonb DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cfg        jsonb := uso.task_config('AutoSignOff', config);
    at         timestamptz := coalesce(as_of, now());
    cutoff     timestamptz := at - uso.config_interval(cfg, 'after', '8 hours');
    zone       text := uso.local_zone();
    r          record;
    signed     integer := 0;
    cancelled  integer;
BEGIN
    FOR r IN
        WITH signed AS (
            UPDATE uso.beamtime_session s
            SET state = 'complete', signed_off_at = at, signed_off_by = 'auto'
            WHERE s.state = 'live' AND s.ends_at <= cutoff
            RETURNING s.id, s.project_id, s.beamline_id, s.staff_id, s.ends_at
        ), history AS (
            INSERT INTO uso.session_history (session_id, at, line)
            SELECT id, at, format('Signed off automatically: the session ended at %s without a sign-off.',
                                  to_char(ends_at AT TIME ZONE zone, 'YYYY-MM-DD HH24:MI'))
            FROM signed
        ), recipients AS (
            SELECT DISTINCT sg.id, u.id AS user_id, u.email, u.username,
                   coalesce(nullif(u.first_name, ''), u.username) AS dear,
                   b.acronym, sg.ends_at, sg.project_id
            FROM signed sg
            JOIN uso.beamline b ON b.id = sg.beamline_id
            JOIN uso.project pr ON pr.id = sg.project_id
            JOIN uso.app_user u ON u.active AND (
                     u.id = sg.staff_id OR u.id = pr.spokesperson_id
                     OR u.id IN (SELECT bs.user_id FROM uso.beamline_staff bs
                                 WHERE bs.beamline_id = sg.beamline_id AND bs.role = 'admin'))
        ), queued AS (
            INSERT INTO uso.notification (kind, user_id, recipient, subject, body, context, created_at, send_after)
            SELECT 'auto-sign-off', user_id, email,
                   format('Session %s on %s signed off automatically', id, acronym),
                   format(E'Dear %s,\n\nbeamtime session %s of project %s on %s ended at %s and was not signed off; it has been signed off automatically.\n',
                          dear, id, project_id, acronym, to_char(ends_at AT TIME ZONE zone, 'YYYY-MM-DD HH24:MI')),
                   jsonb_build_object('session', id), at, at
            FROM recipients
            RETURNING (context->>'session')::bigint AS session_id
        )
        SELECT sg.id, b.acronym, sg.project_id,
               (SELECT count(*) FROM queued q WHERE q.session_id = sg.id) AS notices
        FROM signed sg JOIN uso.beamline b ON b.id = sg.beamline_id
        ORDER BY sg.id
    LOOP
        RAISE NOTICE 'session % (project %, %) signed off automatically, % notice(s) queued',
            r.id, r.project_id, r.acronym, r.notices;
        signed := signed + 1;
    END LOOP;

    WITH gone AS (
        UPDATE uso.beamtime_session s SET state = 'cancelled'
        WHERE s.state = 'ready' AND s.ends_at <= cutoff
        RETURNING s.id, s.ends_at
    )
    INSERT INTO uso.session_history (session_id, at, line)
    SELECT id, at, format('Cancelled automatically: the session ended at %s and was never signed on.',
                          to_char(ends_at AT TIME ZONE zone, 'YYYY-MM-DD HH24:MI'))
    FROM gone;
    GET DIAGNOSTICS cancelled = ROW_COUNT;
    IF cancelled > 0 THEN
        RAISE NOTICE '% session(s) never signed on cancelled', cancelled;
    END IF;
    RETURN format('%s session(s) signed off automatically, %s cancelled', signed, cancelled);
END
$$;

COMMENT ON FUNCTION uso.auto_sign_off(timestamptz, jsonb) IS
    'AutoSignOff task: signs off live sessions that ended config after (default 8 hours) ago and cancels ones never signed on.';

CREATE OR REPLACE FUNCTION uso.clean_registrations(as_of timestamptz DEFAULT NULL, config jsonb DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cfg   jsonb := uso.task_config('CleanRegistrations', config);
    age   interval := uso.config_interval(cfg, 'max_age', '7 days');
    zone  text := uso.local_zone();
    -- days of max_age are calendar days of the facility, not of the session
    -- (7 days across a DST change are 167 or 169 hours)
    cutoff timestamptz := ((coalesce(as_of, now()) AT TIME ZONE zone) - age) AT TIME ZONE zone;
    n     integer;
BEGIN
    DELETE FROM uso.registration
    WHERE activated_at IS NULL AND created_at <= cutoff;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        RAISE NOTICE 'deleted % registration(s) unverified for %', n, age;
    END IF;
    RETURN format('%s registration(s) deleted', n);
END
$$;

COMMENT ON FUNCTION uso.clean_registrations(timestamptz, jsonb) IS
    'CleanRegistrations task: deletes registrations unverified for config max_age (default 7 days, counted in the facility time zone).';

CREATE OR REPLACE FUNCTION uso.notify_new_institutions(as_of timestamptz DEFAULT NULL, config jsonb DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cfg     jsonb := uso.task_config('NotifyNewInstitutions', config);
    role    text := coalesce(cfg->>'admin_role', 'contracts-admin');
    at      timestamptz := coalesce(as_of, now());
    names   text;
    ids     jsonb;
    n       integer;
    admins  integer;
BEGIN
    SELECT count(*), string_agg('  - ' || name || coalesce(' (' || country || ')', ''), E'\n' ORDER BY name),
           jsonb_agg(id ORDER BY id)
    INTO n, names, ids
    FROM uso.institution
    WHERE state = 'pending' AND notified_at IS NULL AND pending_since <= at;
    IF n = 0 THEN
        RETURN 'no new institutions';
    END IF;

    INSERT INTO uso.notification (kind, user_id, recipient, subject, body, context, created_at, send_after)
    SELECT 'new-institutions', u.id, u.email,
           format('%s new institution(s) pending approval', n),
           format(E'Dear %s,\n\nthe following institution(s) are pending approval:\n%s\n',
                  coalesce(nullif(u.first_name, ''), u.username), names),
           jsonb_build_object('institutions', ids), at, at
    FROM uso.app_user u
    WHERE u.active AND u.roles @> ARRAY[role]
    ORDER BY u.id;
    GET DIAGNOSTICS admins = ROW_COUNT;
    IF admins = 0 THEN
        RAISE WARNING 'no active user holds role %: % institution(s) left unreported', role, n;
        RETURN format('0 new institution(s) reported (nobody holds role %s)', role);
    END IF;

    UPDATE uso.institution SET notified_at = at
    WHERE id IN (SELECT jsonb_array_elements_text(ids)::bigint);
    RAISE NOTICE 'reported % institution(s) to % %', n, admins, role;
    RETURN format('%s new institution(s) reported to %s administrator(s)', n, admins);
END
$$;

COMMENT ON FUNCTION uso.notify_new_institutions(timestamptz, jsonb) IS
    'NotifyNewInstitutions task: tells holders of config admin_role (default contracts-admin) about institutions pending approval, once per institution.';

CREATE OR REPLACE FUNCTION uso.deliver_notifications(as_of timestamptz DEFAULT NULL, config jsonb DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cfg       jsonb := uso.task_config('DeliverNotifications', config);
    at        timestamptz := coalesce(as_of, now());
    tries     integer := uso.config_int(cfg, 'max_attempts', 5);
    backoff   interval := uso.config_interval(cfg, 'backoff', '1 minute');
    batch     integer := uso.config_int(cfg, 'batch', 100);
    sender    text := cfg->>'sender';
    stop_at   integer := uso.config_int(cfg, 'stop_after_failures', 3);
    in_a_row  integer := 0;
    left_over integer := 0;
    m         uso.notification;
    sent      integer := 0;
    failed    integer := 0;
    gaveup    integer := 0;
BEGIN
    FOR m IN
        SELECT * FROM uso.notification
        WHERE status = 'pending' AND send_after <= at
        ORDER BY send_after, id
        LIMIT batch
        FOR UPDATE SKIP LOCKED
    LOOP
        IF stop_at > 0 AND in_a_row >= stop_at THEN
            left_over := left_over + 1;
            CONTINUE;
        END IF;
        BEGIN
            PERFORM @extschema@.uso_send_mail(m.recipient, m.subject, m.body, sender);
            UPDATE uso.notification
            SET status = 'sent', sent_at = clock_timestamp(), attempts = attempts + 1, last_error = NULL
            WHERE id = m.id;
            RAISE NOTICE 'sent % #% to %', m.kind, m.id, m.recipient;
            sent := sent + 1;
            in_a_row := 0;
        EXCEPTION WHEN OTHERS THEN
            in_a_row := in_a_row + 1;
            UPDATE uso.notification
            SET attempts = attempts + 1, last_error = SQLERRM,
                status = CASE WHEN attempts + 1 >= tries THEN 'failed' ELSE 'pending' END,
                send_after = at + backoff * power(2, attempts)::integer
            WHERE id = m.id;
            IF m.attempts + 1 >= tries THEN
                RAISE WARNING '% #% to % given up after % attempt(s): %', m.kind, m.id, m.recipient, tries, SQLERRM;
                gaveup := gaveup + 1;
            ELSE
                RAISE WARNING '% #% to % not sent (attempt %): %', m.kind, m.id, m.recipient, m.attempts + 1, SQLERRM;
                failed := failed + 1;
            END IF;
        END;
    END LOOP;
    IF left_over > 0 THEN
        RAISE WARNING 'stopped after % failed sends in a row (the SMTP server looks unavailable): % notification(s) left for the next run',
            in_a_row, left_over;
    END IF;
    RETURN format('%s notification(s) sent', sent)
        || CASE WHEN failed > 0 THEN format(', %s failed (will retry)', failed) ELSE '' END
        || CASE WHEN gaveup > 0 THEN format(', %s given up', gaveup) ELSE '' END
        || CASE WHEN left_over > 0 THEN format(', stopped after %s failures in a row (%s left for the next run)',
                                              in_a_row, left_over) ELSE '' END;
END
$$;

COMMENT ON FUNCTION uso.deliver_notifications(timestamptz, jsonb) IS
    'DeliverNotifications task: sends due outbox messages through SMTP (config max_attempts 5, backoff 1 minute doubling, batch 100, stop_after_failures 3, sender).';

CREATE OR REPLACE FUNCTION uso.config_url(cfg jsonb, key text, task text) RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF coalesce(cfg->>key, '') = '' THEN
        RAISE EXCEPTION '% needs config key "%" (the service''s base URL)', task, key
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = format('SELECT uso_alter_task(%L, config => ...) or pass config => ''{"%s": "https://..."}''', task, key);
    END IF;
    RETURN rtrim(cfg->>key, '/');
END
$$;

COMMENT ON FUNCTION uso.config_url(jsonb, text, text) IS
    'A required base URL from a task config, without trailing slash; a clear error naming the key when missing.';

CREATE OR REPLACE FUNCTION uso.url_path_encode(s text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT coalesce(string_agg(CASE WHEN ch ~ '^[A-Za-z0-9._~/-]$' THEN ch
                                        ELSE upper(regexp_replace(encode(convert_to(ch, 'UTF8'), 'hex'),
                                                                  '(..)', '%\1', 'g')) END,
                                   '' ORDER BY i), '')
        FROM regexp_split_to_table(s, '') WITH ORDINALITY AS c(ch, i)
    $$;

COMMENT ON FUNCTION uso.url_path_encode(text) IS
    'Percent-encodes a string for a URL path, keeping unreserved characters and slashes.';

CREATE OR REPLACE FUNCTION uso.http_json(url text, cfg jsonb) RETURNS jsonb
    LANGUAGE sql
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT @extschema@.uso_http_get_json(url, cfg->'headers', uso.config_interval(cfg, 'timeout', NULL)) $$;

COMMENT ON FUNCTION uso.http_json(text, jsonb) IS
    'GET a JSON document with the task config''s headers and timeout (errors on non-2xx and malformed JSON).';

CREATE OR REPLACE FUNCTION uso.http_text(url text, cfg jsonb) RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r record;
BEGIN
    SELECT * INTO r FROM @extschema@.uso_http_get(url, cfg->'headers', uso.config_interval(cfg, 'timeout', NULL));
    IF r.status NOT BETWEEN 200 AND 299 THEN
        RAISE EXCEPTION 'GET % returned HTTP %', url, r.status
            USING ERRCODE = 'external_routine_exception';
    END IF;
    RETURN r.body;
END
$$;

COMMENT ON FUNCTION uso.http_text(text, jsonb) IS
    'GET a text document with the task config''s headers and timeout; errors on non-2xx.';

CREATE OR REPLACE FUNCTION uso.reply_date(val text, field text) RETURNS date
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF val IS NULL THEN
        RETURN NULL;
    END IF;
    IF val !~ '^\d{4}-\d{2}-\d{2}' THEN
        RAISE EXCEPTION '% is not a date: "%"', field, left(val, 40)
            USING ERRCODE = 'invalid_datetime_format';
    END IF;
    RETURN left(val, 10)::date;
EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
    RAISE EXCEPTION '% is not a date: "%"', field, left(val, 40)
        USING ERRCODE = 'invalid_datetime_format';
END
$$;

COMMENT ON FUNCTION uso.reply_date(text, text) IS
    'The date of an ISO 8601 date or date-time from a reply; an error naming the field and the value otherwise.';

CREATE OR REPLACE FUNCTION uso.issued_date(dp jsonb) RETURNS date
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF dp IS NULL OR dp->>0 IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN make_date((dp->>0)::integer, coalesce((dp->>1)::integer, 1), coalesce((dp->>2)::integer, 1));
EXCEPTION WHEN OTHERS THEN
    RAISE EXCEPTION 'issued date-parts % is not a date', left(dp::text, 40)
        USING ERRCODE = 'invalid_datetime_format';
END
$$;

COMMENT ON FUNCTION uso.issued_date(jsonb) IS
    'CrossRef issued date-parts ([y], [y, m], [y, m, d]) as a date; an error naming the value otherwise.';

CREATE OR REPLACE FUNCTION uso.csv_fields(line text, sep text DEFAULT ';') RETURNS text[]
    LANGUAGE sql IMMUTABLE STRICT
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT array_agg(CASE WHEN f LIKE '"%' THEN replace(substr(f, 2, length(f) - 2), '""', '"') ELSE f END
                         ORDER BY i)
        FROM regexp_matches(sep || line, format('\%s("(?:[^"]|"")*"|[^\%s"]*)', sep, sep), 'g')
             WITH ORDINALITY AS m(g, i),
             LATERAL (SELECT btrim(g[1], E' \r') AS f) x
    $$;

COMMENT ON FUNCTION uso.csv_fields(text, text) IS
    'Fields of one CSV line; quoted fields may contain the separator and doubled quotes.';

CREATE VIEW uso.review_recipient AS
SELECT r.id AS review_id, u.id AS user_id
FROM uso.review r
JOIN uso.reviewer rv ON rv.id = r.reviewer_id
JOIN uso.app_user u ON u.id = rv.user_id AND u.active
UNION ALL
SELECT r.id, u.id
FROM uso.review r
JOIN uso.submission s ON s.id = r.submission_id
JOIN uso.proposal p ON p.id = s.proposal_id
JOIN uso.app_user u ON u.active AND u.roles @> ARRAY[r.role] AND u.id <> p.spokesperson_id
WHERE r.role IS NOT NULL
  AND NOT EXISTS (SELECT FROM uso.proposal_member m WHERE m.proposal_id = p.id AND m.user_id = u.id);
COMMENT ON VIEW uso.review_recipient IS
    'Who a review is open to and who is mailed about it: the reviewer''s user while active, or every active holder of the review''s role outside the proposal team.';
COMMENT ON COLUMN uso.review_recipient.review_id IS 'The review.';
COMMENT ON COLUMN uso.review_recipient.user_id IS 'A user it is open to.';

-- 0.2: per-item warnings in the admin's words, never a constraint name
-- (issue 15.3): uso.item_problem and the tasks that use it.
CREATE OR REPLACE FUNCTION uso.item_problem(state text, message text, constraint_name text DEFAULT NULL,
                                 column_name text DEFAULT NULL, table_name text DEFAULT NULL,
                                 detail text DEFAULT NULL) RETURNS text
    LANGUAGE sql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
SELECT CASE
    -- raised by the task itself (no constraint behind it): its words already
    -- (GET STACKED DIAGNOSTICS gives '' for what is absent)
    WHEN coalesce(constraint_name, '') = '' AND coalesce(column_name, '') = '' THEN message
    WHEN state = '23514' THEN
        CASE constraint_name
            WHEN 'app_user_email_check' THEN 'the e-mail address is not a valid address'
            WHEN 'registration_email_check' THEN 'the e-mail address is not a valid address'
            WHEN 'app_user_username_check' THEN 'the user name may hold only letters, digits and _ . @ + - (at most 150)'
            WHEN 'cycle_dates_check' THEN 'its dates are out of order'
            WHEN 'cycle_year_check' THEN 'its year is not between 2000 and 2200'
            WHEN 'proposal_request_shifts_check' THEN 'a request asks for fewer than 1 or more than 1000 shifts'
            ELSE format('a value is not allowed for a %s', replace(coalesce(nullif(table_name, ''), 'record'), '_', ' '))
        END
    WHEN state = '23502' THEN
        format('%s is missing', replace(coalesce(nullif(column_name, ''), 'a required value'), '_', ' '))
    WHEN state = '23505' THEN
        format('another %s already has %s', replace(coalesce(nullif(table_name, ''), 'record'), '_', ' '),
               coalesce(regexp_replace(detail, '^Key \((.*)\)=\((.*)\) already exists.*$', '\1 ''\2'''),
                        'the same values'))
    WHEN state = '23503' THEN
        format('it refers to %s, which does not exist',
               coalesce(regexp_replace(detail, '^Key \((.*)\)=\((.*)\) is not present in table "(.*)".*$',
                                       '\3 ''\2'''),
                        'another record'))
    ELSE message
END $$;
COMMENT ON FUNCTION uso.item_problem(text, text, text, text, text, text) IS
    'A per-item error in words for the admin (never a constraint name): SQLSTATE, message and the diagnostics of GET STACKED DIAGNOSTICS.';

CREATE OR REPLACE FUNCTION uso.create_cycles(as_of timestamptz DEFAULT NULL, config jsonb DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cfg       jsonb := uso.task_config('CreateCycles', config);
    today     date := uso.local_date(as_of);
    years     integer := uso.config_int(cfg, 'years_ahead', 2);
    ct        uso.cycle_type;
    bad       record;
    n         integer;
    created   integer := 0;
    skipped   integer := 0;
BEGIN
    FOR ct IN SELECT * FROM uso.cycle_type WHERE active ORDER BY code LOOP
        BEGIN
            -- the cycle CHECK, with a message that names the cycle and its dates
            SELECT format('%s-%s', y, ct.code) AS name, d.* INTO bad
            FROM generate_series(extract(year FROM today)::integer - 1,
                                 extract(year FROM today)::integer + years) AS y,
                 LATERAL uso.cycle_dates(ct, y) AS d
            WHERE (y >= extract(year FROM today) OR d.end_date > today)
              AND NOT (d.open_date <= d.close_date AND d.close_date <= d.due_date AND d.due_date <= d.alloc_date
                       AND d.alloc_date <= d.start_date AND d.start_date < d.end_date)
            ORDER BY y LIMIT 1;
            IF FOUND THEN
                RAISE EXCEPTION 'cycle % would have its dates out of order (call % to %, reviews due %, allocation %, start %, end %): check the type''s offsets',
                    bad.name, to_char(bad.open_date, 'YYYY-MM-DD'), to_char(bad.close_date, 'YYYY-MM-DD'),
                    to_char(bad.due_date, 'YYYY-MM-DD'), to_char(bad.alloc_date, 'YYYY-MM-DD'),
                    to_char(bad.start_date, 'YYYY-MM-DD'), to_char(bad.end_date, 'YYYY-MM-DD')
                    USING ERRCODE = 'check_violation';
            END IF;
            INSERT INTO uso.cycle (cycle_type_id, year, name, open_date, close_date, due_date,
                                   alloc_date, start_date, end_date)
            SELECT ct.id, y, format('%s-%s', y, ct.code), d.open_date, d.close_date, d.due_date,
                   d.alloc_date, d.start_date, d.end_date
            FROM generate_series(extract(year FROM today)::integer - 1,
                                 extract(year FROM today)::integer + years) AS y,
                 LATERAL uso.cycle_dates(ct, y) AS d
            WHERE y >= extract(year FROM today) OR d.end_date > today
            ORDER BY y
            ON CONFLICT (cycle_type_id, year) DO NOTHING;
            GET DIAGNOSTICS n = ROW_COUNT;
            IF n > 0 THEN
                RAISE NOTICE 'created % cycle(s) for cycle type %', n, ct.code;
            END IF;
            created := created + n;
        EXCEPTION WHEN OTHERS THEN
            DECLARE c text; col text; tbl text; det text;
            BEGIN
                GET STACKED DIAGNOSTICS c = CONSTRAINT_NAME, col = COLUMN_NAME, tbl = TABLE_NAME,
                                        det = PG_EXCEPTION_DETAIL;
                RAISE WARNING 'cycle type % skipped: %', ct.code, uso.item_problem(SQLSTATE, SQLERRM, c, col, tbl, det);
            END;
            skipped := skipped + 1;
        END;
    END LOOP;
    RETURN uso.with_skipped(format('%s cycle(s) created', created), skipped, 'cycle type(s)');
END
$$;

CREATE OR REPLACE FUNCTION uso.advance_review_workflow(as_of timestamptz DEFAULT NULL, config jsonb DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cfg       jsonb := uso.task_config('AdvanceReviewWorkflow', config);
    today     date := uso.local_date(as_of);
    days      integer := uso.config_int(cfg, 'review_days', 14);
    at        timestamptz := coalesce(as_of, now());
    sub       record;
    outcome   text;
    n         integer;
    created   integer := 0;
    approved  integer := 0;
    rejected  integer := 0;
    withdrawn integer := 0;
    skipped   integer := 0;
BEGIN
    FOR sub IN
        SELECT s.id, p.code
        FROM uso.submission s
        JOIN uso.proposal p ON p.id = s.proposal_id
        JOIN uso.review_track t ON t.id = s.track_id
        JOIN uso.cycle c ON c.id = s.cycle_id
        WHERE s.state IN ('pending', 'started')
          AND CASE WHEN t.require_call THEN today > c.close_date
                   ELSE today >= c.open_date AND today < c.end_date END
        ORDER BY s.id
    LOOP
        BEGIN
            n := uso.withdraw_inactive_reviews(sub.id, at);
            outcome := uso.advance_submission(sub.id, today, days, at);
            withdrawn := withdrawn + n;
            IF outcome LIKE 'created:%' THEN
                created := created + split_part(outcome, ':', 2)::integer;
            ELSIF outcome = 'approved' THEN
                approved := approved + 1;
            ELSIF outcome = 'rejected' THEN
                rejected := rejected + 1;
            END IF;
        EXCEPTION WHEN OTHERS THEN
            DECLARE c text; col text; tbl text; det text;
            BEGIN
                GET STACKED DIAGNOSTICS c = CONSTRAINT_NAME, col = COLUMN_NAME, tbl = TABLE_NAME,
                                        det = PG_EXCEPTION_DETAIL;
                RAISE WARNING 'submission % (%) skipped: %', sub.id, sub.code, uso.item_problem(SQLSTATE, SQLERRM, c, col, tbl, det);
            END;
            skipped := skipped + 1;
        END;
    END LOOP;
    RETURN uso.with_skipped(format('%s review(s) created, %s submission(s) approved, %s rejected',
                                   created, approved, rejected)
                            || CASE WHEN withdrawn > 0
                                    THEN format(', %s review(s) of inactive users withdrawn', withdrawn)
                                    ELSE '' END,
                            skipped, 'submission(s)');
END
$$;

CREATE OR REPLACE FUNCTION uso.create_projects(require_call boolean, as_of timestamptz, cfg jsonb)
    RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    today     date := uso.local_date(as_of);
    at        timestamptz := coalesce(as_of, now());
    sub       record;
    pid       bigint;
    n         integer;
    projects  integer := 0;
    allocs    integer := 0;
    renewals  integer := 0;
    skipped   integer := 0;
BEGIN
    FOR sub IN
        SELECT s.id, s.proposal_id, s.cycle_id, p.code, p.spokesperson_id, c.start_date,
               c.name AS cycle,
               -- the end of the duration_cycles-th cycle of the submission's own cycle
               -- type from this one, or an estimate from the cycle length while those
               -- cycles do not exist yet
               coalesce((SELECT c2.end_date FROM uso.cycle c2
                         WHERE c2.cycle_type_id = c.cycle_type_id AND c2.start_date >= c.start_date
                         ORDER BY c2.start_date, c2.id OFFSET t.duration_cycles - 1 LIMIT 1),
                        (c.start_date + make_interval(months => t.duration_cycles * ct.duration_months))::date) AS end_date
        FROM uso.submission s
        JOIN uso.review_track t ON t.id = s.track_id
        JOIN uso.proposal p ON p.id = s.proposal_id
        JOIN uso.cycle c ON c.id = s.cycle_id
        JOIN uso.cycle_type ct ON ct.id = c.cycle_type_id
        WHERE s.approved AND t.require_call = create_projects.require_call
          AND today < c.end_date
          AND (NOT t.require_call OR c.alloc_date <= today)
          AND NOT EXISTS (SELECT FROM uso.project pr WHERE pr.submission_id = s.id)
        ORDER BY s.id
    LOOP
        BEGIN
            INSERT INTO uso.project (submission_id, proposal_id, cycle_id, spokesperson_id,
                                     start_date, end_date, created_at)
            VALUES (sub.id, sub.proposal_id, sub.cycle_id, sub.spokesperson_id,
                    sub.start_date, sub.end_date, at)
            RETURNING id INTO pid;
            INSERT INTO uso.allocation (project_id, cycle_id, beamline_id, requested_shifts, created_at)
            SELECT pid, sub.cycle_id, rq.beamline_id, rq.shifts, at
            FROM uso.proposal_request rq WHERE rq.proposal_id = sub.proposal_id;
            GET DIAGNOSTICS n = ROW_COUNT;
            RAISE NOTICE 'project % created for submission % (%) in cycle % with % allocation(s)',
                pid, sub.id, sub.code, sub.cycle, n;
            projects := projects + 1;
            allocs := allocs + n;
        EXCEPTION WHEN OTHERS THEN
            DECLARE c text; col text; tbl text; det text;
            BEGIN
                GET STACKED DIAGNOSTICS c = CONSTRAINT_NAME, col = COLUMN_NAME, tbl = TABLE_NAME,
                                        det = PG_EXCEPTION_DETAIL;
                RAISE WARNING 'submission % (%) skipped: %', sub.id, sub.code, uso.item_problem(SQLSTATE, SQLERRM, c, col, tbl, det);
            END;
            skipped := skipped + 1;
        END;
    END LOOP;

    IF require_call THEN
        INSERT INTO uso.allocation (project_id, cycle_id, beamline_id, requested_shifts, created_at)
        SELECT ar.project_id, ar.cycle_id, ar.beamline_id, ar.shifts, at
        FROM uso.allocation_request ar
        JOIN uso.cycle c ON c.id = ar.cycle_id
        JOIN uso.project pr ON pr.id = ar.project_id
        WHERE c.alloc_date <= today AND today < c.end_date AND c.start_date < pr.end_date
        ORDER BY ar.project_id, ar.beamline_id
        ON CONFLICT (project_id, cycle_id, beamline_id) DO NOTHING;
        GET DIAGNOSTICS renewals = ROW_COUNT;
        IF renewals > 0 THEN
            RAISE NOTICE '% renewal allocation(s) created', renewals;
        END IF;
        RETURN uso.with_skipped(format('%s project(s) created with %s allocation(s), %s renewal(s)',
                                       projects, allocs, renewals), skipped, 'submission(s)');
    END IF;
    RETURN uso.with_skipped(format('%s project(s) created with %s allocation(s)', projects, allocs),
                            skipped, 'submission(s)');
END
$$;

CREATE OR REPLACE FUNCTION uso.fetch_citations(as_of timestamptz DEFAULT NULL, config jsonb DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cfg      jsonb := uso.task_config('FetchCitations', config);
    base     text := uso.config_url(cfg, 'crossref_url', 'FetchCitations');
    at       timestamptz := coalesce(as_of, now());
    p        record;
    j        jsonb;
    n        integer;
    checked  integer := 0;
    changed  integer := 0;
    skipped  integer := 0;
BEGIN
    FOR p IN SELECT id, doi, citations FROM uso.publication ORDER BY id LOOP
        BEGIN
            j := uso.http_json(base || '/works/' || uso.url_path_encode(p.doi), cfg);
            IF jsonb_typeof(j #> '{message,is-referenced-by-count}') IS DISTINCT FROM 'number' THEN
                RAISE EXCEPTION 'the CrossRef reply has no message.is-referenced-by-count';
            END IF;
            n := (j #>> '{message,is-referenced-by-count}')::integer;
            IF n < 0 THEN
                RAISE EXCEPTION 'CrossRef reports a negative citation count (%)', n;
            END IF;
            UPDATE uso.publication SET citations = n, citations_checked_at = at WHERE id = p.id;
            IF n IS DISTINCT FROM p.citations THEN
                INSERT INTO uso.publication_history (publication_id, at, line)
                VALUES (p.id, at, format('citations: %s -> %s', coalesce(p.citations::text, 'unknown'), n));
                RAISE NOTICE '%: citations % -> %', p.doi, coalesce(p.citations::text, 'unknown'), n;
                changed := changed + 1;
            END IF;
            checked := checked + 1;
        EXCEPTION WHEN OTHERS THEN
            DECLARE c text; col text; tbl text; det text;
            BEGIN
                GET STACKED DIAGNOSTICS c = CONSTRAINT_NAME, col = COLUMN_NAME, tbl = TABLE_NAME,
                                        det = PG_EXCEPTION_DETAIL;
                RAISE WARNING 'publication % skipped: %', p.doi, uso.item_problem(SQLSTATE, SQLERRM, c, col, tbl, det);
            END;
            skipped := skipped + 1;
        END;
    END LOOP;
    RETURN uso.with_skipped(format('%s publication(s) checked, %s citation count(s) changed', checked, changed),
                            skipped, 'publication(s)');
END
$$;

CREATE OR REPLACE FUNCTION uso.update_publications(as_of timestamptz DEFAULT NULL, config jsonb DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cfg       jsonb := uso.task_config('UpdatePublications', config);
    base      text := uso.config_url(cfg, 'crossref_url', 'UpdatePublications');
    month_start date := date_trunc('month', uso.local_date(as_of))::date;
    at        timestamptz := coalesce(as_of, now());
    p         uso.publication;
    m         jsonb;
    dp        jsonb;
    n         integer;
    checked   integer := 0;
    updated   integer := 0;
    skipped   integer := 0;
BEGIN
    FOR p IN SELECT * FROM uso.publication
             WHERE published IS NULL OR (published >= month_start AND published < month_start + interval '1 month')
             ORDER BY id
    LOOP
        BEGIN
            m := uso.http_json(base || '/works/' || uso.url_path_encode(p.doi), cfg) -> 'message';
            IF jsonb_typeof(m) IS DISTINCT FROM 'object' THEN
                RAISE EXCEPTION 'the CrossRef reply has no message object';
            END IF;
            dp := m #> '{issued,date-parts,0}';
            UPDATE uso.publication u
            SET title = coalesce(m #>> '{title,0}', u.title),
                authors = coalesce((SELECT string_agg(concat_ws(' ', a->>'given', a->>'family'), '; ' ORDER BY i)
                                    FROM jsonb_array_elements(coalesce(m->'author', '[]')) WITH ORDINALITY AS x(a, i)),
                                   u.authors),
                subjects = coalesce((SELECT array_agg(s ORDER BY i)
                                     FROM jsonb_array_elements_text(coalesce(m->'subject', '[]')) WITH ORDINALITY AS x(s, i)),
                                    u.subjects),
                volume = coalesce(m->>'volume', u.volume),
                issue = coalesce(m->>'issue', u.issue),
                pages = coalesce(m->>'page', u.pages),
                published = coalesce(uso.issued_date(dp), u.published),
                journal_id = coalesce((SELECT j.id FROM uso.journal j
                                       WHERE j.issn IN (SELECT upper(replace(x, '-', ''))
                                                        FROM jsonb_array_elements_text(coalesce(m->'ISSN', '[]')) AS x)
                                       ORDER BY j.id LIMIT 1),
                                      u.journal_id),
                metadata_updated_at = at
            WHERE u.id = p.id;
            -- compare after the fact: the UPDATE above normalised everything
            SELECT count(*) INTO n FROM uso.publication u
            WHERE u.id = p.id
              AND (u.title, u.authors, u.subjects, u.volume, u.issue, u.pages, u.published, u.journal_id)
                  IS DISTINCT FROM (p.title, p.authors, p.subjects, p.volume, p.issue, p.pages, p.published, p.journal_id);
            IF n > 0 THEN
                INSERT INTO uso.publication_history (publication_id, at, line)
                VALUES (p.id, at, 'metadata updated from CrossRef');
                RAISE NOTICE '%: metadata updated', p.doi;
                updated := updated + 1;
            ELSE
                UPDATE uso.publication SET metadata_updated_at = p.metadata_updated_at WHERE id = p.id;
            END IF;
            checked := checked + 1;
        EXCEPTION WHEN OTHERS THEN
            DECLARE c text; col text; tbl text; det text;
            BEGIN
                GET STACKED DIAGNOSTICS c = CONSTRAINT_NAME, col = COLUMN_NAME, tbl = TABLE_NAME,
                                        det = PG_EXCEPTION_DETAIL;
                RAISE WARNING 'publication % skipped: %', p.doi, uso.item_problem(SQLSTATE, SQLERRM, c, col, tbl, det);
            END;
            skipped := skipped + 1;
        END;
    END LOOP;
    RETURN uso.with_skipped(format('%s publication(s) checked, %s updated', checked, updated),
                            skipped, 'publication(s)');
END
$$;

CREATE OR REPLACE FUNCTION uso.fetch_bio_sync(as_of timestamptz DEFAULT NULL, config jsonb DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cfg       jsonb := uso.task_config('FetchBioSync', config);
    biosync   text := uso.config_url(cfg, 'biosync_url', 'FetchBioSync');
    pdb       text := uso.config_url(cfg, 'pdb_url', 'FetchBioSync');
    at        timestamptz := coalesce(as_of, now());
    b         record;
    listing   jsonb;
    e         jsonb;
    h         jsonb;
    code      text;
    inserted  boolean;
    added     integer := 0;
    updated   integer := 0;
    linked    integer;
    skipped   integer := 0;
BEGIN
    FOR b IN SELECT id, acronym FROM uso.beamline ORDER BY acronym LOOP
        BEGIN
            listing := uso.http_json(biosync || '/' || uso.url_path_encode(b.acronym) || '.json', cfg);
            IF jsonb_typeof(listing) = 'object' THEN
                listing := listing->'results';
            END IF;
            IF jsonb_typeof(listing) IS DISTINCT FROM 'array' THEN
                RAISE EXCEPTION 'the BioSync listing is neither an array nor {"results": [...]}';
            END IF;
        EXCEPTION WHEN OTHERS THEN
            DECLARE c text; col text; tbl text; det text;
            BEGIN
                GET STACKED DIAGNOSTICS c = CONSTRAINT_NAME, col = COLUMN_NAME, tbl = TABLE_NAME,
                                        det = PG_EXCEPTION_DETAIL;
                RAISE WARNING 'beamline % skipped: %', b.acronym, uso.item_problem(SQLSTATE, SQLERRM, c, col, tbl, det);
            END;
            skipped := skipped + 1;
            CONTINUE;
        END;
        FOR e IN SELECT value FROM jsonb_array_elements(listing) LOOP
            code := upper(CASE WHEN jsonb_typeof(e) = 'string' THEN e #>> '{}'
                               WHEN jsonb_typeof(e) = 'object' THEN coalesce(e->>'pdb_id', e->>'pdb_code') END);
            BEGIN
                IF code IS NULL OR code !~ '^[0-9][A-Z0-9]{3}$' THEN
                    RAISE EXCEPTION 'not a PDB id: %', left(e::text, 100);
                END IF;
                CONTINUE WHEN EXISTS (SELECT FROM uso.pdb_deposit d
                                      WHERE d.pdb_code = code AND d.released IS NOT NULL AND d.title IS NOT NULL);
                h := uso.http_json(pdb || '/core/entry/' || code, cfg);
                IF jsonb_typeof(h) IS DISTINCT FROM 'object' THEN
                    RAISE EXCEPTION 'the PDB entry header is not an object';
                END IF;
                INSERT INTO uso.pdb_deposit AS d (pdb_code, beamline_id, title, deposited, released, doi, fetched_at)
                VALUES (code, b.id, h #>> '{struct,title}',
                        uso.reply_date(h #>> '{rcsb_accession_info,deposit_date}', 'deposit_date'),
                        uso.reply_date(h #>> '{rcsb_accession_info,initial_release_date}', 'initial_release_date'),
                        lower(h #>> '{rcsb_primary_citation,pdbx_database_id_doi}'), at)
                ON CONFLICT (pdb_code) DO UPDATE
                SET title = excluded.title, deposited = excluded.deposited, released = excluded.released,
                    doi = excluded.doi, fetched_at = excluded.fetched_at
                WHERE (d.title, d.deposited, d.released, d.doi)
                      IS DISTINCT FROM (excluded.title, excluded.deposited, excluded.released, excluded.doi)
                RETURNING (xmax = 0) INTO inserted;
                IF inserted THEN
                    RAISE NOTICE 'PDB % (%) added', code, b.acronym;
                    added := added + 1;
                ELSIF FOUND THEN
                    RAISE NOTICE 'PDB % (%) updated', code, b.acronym;
                    updated := updated + 1;
                END IF;
            EXCEPTION WHEN OTHERS THEN
                DECLARE c text; col text; tbl text; det text;
                BEGIN
                    GET STACKED DIAGNOSTICS c = CONSTRAINT_NAME, col = COLUMN_NAME, tbl = TABLE_NAME,
                                            det = PG_EXCEPTION_DETAIL;
                    RAISE WARNING 'PDB entry % of beamline % skipped: %', coalesce(code, '?'), b.acronym, uso.item_problem(SQLSTATE, SQLERRM, c, col, tbl, det);
                END;
                skipped := skipped + 1;
            END;
        END LOOP;
    END LOOP;

    UPDATE uso.pdb_deposit d SET publication_id = p.id
    FROM uso.publication p
    WHERE p.doi = d.doi AND d.publication_id IS DISTINCT FROM p.id;
    GET DIAGNOSTICS linked = ROW_COUNT;
    IF linked > 0 THEN
        RAISE NOTICE '% PDB deposit(s) linked to publications', linked;
    END IF;
    RETURN uso.with_skipped(format('%s PDB deposit(s) added, %s updated, %s linked to publications',
                                   added, updated, linked), skipped, 'item(s)');
END
$$;

CREATE OR REPLACE FUNCTION uso.update_metrics(as_of timestamptz DEFAULT NULL, config jsonb DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cfg      jsonb := uso.task_config('UpdateMetrics', config);
    yr       integer := uso.config_int(cfg, 'year', extract(year FROM uso.local_date(as_of))::integer - 1);
    url      text := replace(uso.config_url(cfg, 'metrics_url', 'UpdateMetrics'), '{year}', yr::text);
    fmt      text := coalesce(cfg->>'format', CASE WHEN url ~* '\.csv($|\?)' THEN 'csv' ELSE 'json' END);
    sep      text := coalesce(cfg->>'csv_separator', ';');
    at       timestamptz := coalesce(as_of, now());
    items    jsonb;
    body     text;
    hdr      text[];
    total    integer;
    r        record;
    issns    text[];
    n        integer;
    changed  integer := 0;
    skipped  integer := 0;
BEGIN
    IF fmt NOT IN ('csv', 'json') OR sep NOT IN (';', ',') THEN
        RAISE EXCEPTION 'UpdateMetrics: format must be csv or json and csv_separator ; or , (got %, %)', fmt, sep
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF fmt = 'json' THEN
        items := uso.http_json(url, cfg);
        IF jsonb_typeof(items) = 'object' THEN
            items := items->'results';
        END IF;
        IF jsonb_typeof(items) IS DISTINCT FROM 'array' THEN
            RAISE EXCEPTION 'the metrics from % are neither an array nor {"results": [...]}', url
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    ELSE
        body := uso.http_text(url, cfg);
        -- header names normalised: 'H index' -> h_index, 'Cites / Doc. (2years)' -> cites_doc_2years
        SELECT array_agg(trim(BOTH '_' FROM regexp_replace(lower(f), '[^a-z0-9]+', '_', 'g')) ORDER BY i)
        INTO hdr
        FROM unnest(uso.csv_fields(split_part(body, E'\n', 1), sep)) WITH ORDINALITY AS h(f, i);
        IF hdr IS NULL OR NOT hdr @> ARRAY['issn'] THEN
            RAISE EXCEPTION 'the metrics CSV from % has no Issn column', url
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        SELECT coalesce(jsonb_agg(obj ORDER BY ln), '[]') INTO items
        FROM (SELECT ln, (SELECT jsonb_object_agg(hdr[i], v) FROM unnest(uso.csv_fields(line, sep))
                          WITH ORDINALITY AS f(v, i) WHERE i <= array_length(hdr, 1)) AS obj
              FROM regexp_split_to_table(body, E'\n') WITH ORDINALITY AS l(line, ln)
              WHERE ln > 1 AND btrim(line, E' \r') <> '') s;
    END IF;
    total := jsonb_array_length(items);

    FOR r IN
        SELECT x.rw, x.i
        FROM jsonb_array_elements(items) WITH ORDINALITY AS x(rw, i)
        WHERE EXISTS (SELECT FROM uso.journal j
                      WHERE strpos(upper(replace(coalesce(x.rw->>'issn', ''), '-', '')), j.issn) > 0)
        ORDER BY x.i
    LOOP
        BEGIN
            issns := ARRAY(SELECT upper(replace(btrim(s), '-', ''))
                           FROM regexp_split_to_table(
                                    CASE WHEN jsonb_typeof(r.rw->'issn') = 'array'
                                         THEN (SELECT string_agg(v, ',') FROM jsonb_array_elements_text(r.rw->'issn') v)
                                         ELSE r.rw->>'issn' END, '[,; ]+') AS s
                           WHERE btrim(s) <> '');
            INSERT INTO uso.journal_metric AS jm (journal_id, year, sjr, h_index, impact_factor, updated_at)
            SELECT j.id, yr,
                   replace(r.rw->>'sjr', ',', '.')::numeric,
                   (r.rw->>'h_index')::integer,
                   replace(coalesce(r.rw->>'impact_factor', r.rw->>'cites_doc_2years'), ',', '.')::numeric,
                   at
            FROM uso.journal j WHERE j.issn = ANY (issns)
            ON CONFLICT (journal_id, year) DO UPDATE
            SET sjr = excluded.sjr, h_index = excluded.h_index, impact_factor = excluded.impact_factor,
                updated_at = excluded.updated_at
            WHERE (jm.sjr, jm.h_index, jm.impact_factor)
                  IS DISTINCT FROM (excluded.sjr, excluded.h_index, excluded.impact_factor);
            GET DIAGNOSTICS n = ROW_COUNT;
            IF n > 0 THEN
                RAISE NOTICE 'metrics % for ISSN %', yr, array_to_string(issns, ', ');
            END IF;
            changed := changed + n;
        EXCEPTION WHEN OTHERS THEN
            DECLARE c text; col text; tbl text; det text;
            BEGIN
                GET STACKED DIAGNOSTICS c = CONSTRAINT_NAME, col = COLUMN_NAME, tbl = TABLE_NAME,
                                        det = PG_EXCEPTION_DETAIL;
                RAISE WARNING 'metrics row % (ISSN %) skipped: %', r.i, r.rw->>'issn', uso.item_problem(SQLSTATE, SQLERRM, c, col, tbl, det);
            END;
            skipped := skipped + 1;
        END;
    END LOOP;
    RETURN uso.with_skipped(format('metrics of %s journal(s) updated for %s (%s row(s) read)', changed, yr, total),
                            skipped, 'row(s)');
END
$$;

CREATE OR REPLACE FUNCTION uso.sync_users(as_of timestamptz DEFAULT NULL, config jsonb DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cfg          jsonb := uso.task_config('SyncUsers', config);
    removed      text := coalesce(cfg->>'removed', 'deactivate');
    at           timestamptz := coalesce(as_of, now());
    url          text;
    j            jsonb;
    rec          record;
    ext          text;
    seen         text[] := '{}';
    uname        text;
    badkeys      text;
    inserted     boolean;
    u            record;
    created      integer := 0;
    updated      integer := 0;
    deactivated  integer := 0;
    deleted      integer := 0;
    skipped      integer := 0;
BEGIN
    IF coalesce(cfg->>'users_url', '') = '' THEN
        RETURN 'external user system not configured (config users_url)';
    END IF;
    IF removed NOT IN ('deactivate', 'delete', 'keep') THEN
        RAISE EXCEPTION 'SyncUsers: config removed must be deactivate, delete or keep, not %', removed
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    url := uso.config_url(cfg, 'users_url', 'SyncUsers');
    j := uso.http_json(url, cfg);
    IF jsonb_typeof(j->'results') IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION 'the user list from % has no "results" array', url
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF jsonb_array_length(j->'results') = 0 AND removed <> 'keep'
       AND NOT coalesce((cfg->>'allow_empty')::boolean, false)
       AND EXISTS (SELECT FROM uso.app_user WHERE external_id IS NOT NULL AND active) THEN
        RAISE EXCEPTION 'the user list from % is empty: refusing to remove every synced user', url
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Set config allow_empty to true if the external system really has no users.';
    END IF;

    FOR rec IN SELECT value AS r, ordinality AS i FROM jsonb_array_elements(j->'results') WITH ORDINALITY LOOP
        ext := CASE WHEN jsonb_typeof(rec.r) = 'object'
                    THEN nullif(btrim(coalesce(rec.r->>'external_id', rec.r->>'id')), '') END;
        uname := CASE WHEN jsonb_typeof(rec.r) = 'object' AND jsonb_typeof(rec.r->'username') = 'string'
                      THEN rec.r->>'username' END;
        BEGIN
            IF ext IS NULL THEN
                RAISE EXCEPTION 'the record has no id: %', left(rec.r::text, 100);
            END IF;
            IF ext = ANY (seen) THEN
                RAISE EXCEPTION 'id ''%'' appears twice in the list', ext;
            END IF;
            seen := seen || ext;
            -- the checks of uso.app_user's constraints, with messages that say what is wrong
            SELECT string_agg(k, ', ' ORDER BY k) INTO badkeys
            FROM unnest(ARRAY['username', 'email', 'first_name', 'last_name', 'institution']) AS k
            WHERE jsonb_typeof(rec.r->k) NOT IN ('string', 'null');
            IF badkeys IS NOT NULL THEN
                RAISE EXCEPTION 'not text: % (each must be a string)', badkeys;
            END IF;
            IF coalesce(rec.r->>'username', '') = '' OR coalesce(rec.r->>'email', '') = '' THEN
                RAISE EXCEPTION 'a user name and an e-mail address are required';
            END IF;
            IF uname !~ '^[A-Za-z0-9_.@+-]{1,150}$' THEN
                RAISE EXCEPTION 'the user name may hold only letters, digits and _ . @ + - (at most 150 characters)';
            END IF;
            IF rec.r->>'email' !~ '^[^@\s]+@[^@\s]+$' THEN
                RAISE EXCEPTION 'e-mail ''%'' is not a valid address', left(rec.r->>'email', 100);
            END IF;
            IF EXISTS (SELECT FROM uso.app_user a WHERE a.username = uname AND a.external_id IS DISTINCT FROM ext) THEN
                RAISE EXCEPTION 'the user name is already taken by another user (this record has id ''%'')', ext;
            END IF;
            INSERT INTO uso.app_user AS a (external_id, username, first_name, last_name, email, institution_id,
                                           active, created_at, updated_at)
            VALUES (ext, rec.r->>'username', coalesce(rec.r->>'first_name', ''), coalesce(rec.r->>'last_name', ''),
                    rec.r->>'email',
                    (SELECT i.id FROM uso.institution i WHERE i.name = rec.r->>'institution'),
                    true, at, at)
            ON CONFLICT (external_id) DO UPDATE
            SET username = excluded.username, first_name = excluded.first_name, last_name = excluded.last_name,
                email = excluded.email, institution_id = coalesce(excluded.institution_id, a.institution_id),
                active = true, updated_at = excluded.updated_at
            WHERE (a.username, a.first_name, a.last_name, a.email, a.active,
                   coalesce(excluded.institution_id, a.institution_id))
                  IS DISTINCT FROM (excluded.username, excluded.first_name, excluded.last_name, excluded.email,
                                    true, a.institution_id)
            RETURNING (xmax = 0) INTO inserted;
            IF inserted THEN
                RAISE NOTICE 'user % created', rec.r->>'username';
                created := created + 1;
            ELSIF FOUND THEN
                RAISE NOTICE 'user % updated', rec.r->>'username';
                updated := updated + 1;
            END IF;
        EXCEPTION WHEN OTHERS THEN
            -- named as the admin page shows users: by user name, else by id
            DECLARE c text; col text; tbl text; det text;
            BEGIN
                GET STACKED DIAGNOSTICS c = CONSTRAINT_NAME, col = COLUMN_NAME, tbl = TABLE_NAME,
                                        det = PG_EXCEPTION_DETAIL;
                RAISE WARNING '%', format('%s: %s, skipped',
                    CASE WHEN uname IS NOT NULL THEN format('user ''%s''', left(uname, 160))
                         WHEN ext IS NOT NULL THEN format('user with id ''%s''', left(ext, 100))
                         ELSE format('record %s of the user list', rec.i) END,
                    uso.item_problem(SQLSTATE, SQLERRM, c, col, tbl, det));
            END;
            skipped := skipped + 1;
        END;
    END LOOP;

    IF removed = 'deactivate' THEN
        FOR u IN WITH d AS (
                     UPDATE uso.app_user SET active = false, updated_at = at
                     WHERE external_id IS NOT NULL AND active AND NOT (external_id = ANY (seen))
                     RETURNING username)
                 SELECT username FROM d ORDER BY username
        LOOP
            RAISE NOTICE 'user % deactivated (no longer in the external system)', u.username;
            deactivated := deactivated + 1;
        END LOOP;
    ELSIF removed = 'delete' THEN
        FOR u IN SELECT id, username, active FROM uso.app_user
                 WHERE external_id IS NOT NULL AND NOT (external_id = ANY (seen)) ORDER BY username
        LOOP
            BEGIN
                DELETE FROM uso.app_user WHERE id = u.id;
                RAISE NOTICE 'user % deleted (no longer in the external system)', u.username;
                deleted := deleted + 1;
            EXCEPTION WHEN foreign_key_violation THEN
                IF u.active THEN
                    UPDATE uso.app_user SET active = false, updated_at = at WHERE id = u.id;
                    RAISE WARNING 'user % is referenced by other records: deactivated instead of deleted', u.username;
                    deactivated := deactivated + 1;
                END IF;
            END;
        END LOOP;
    END IF;
    RETURN uso.with_skipped(format('%s user(s) created, %s updated, %s deactivated', created, updated, deactivated)
                            || CASE WHEN removed = 'delete' THEN format(', %s deleted', deleted) ELSE '' END,
                            skipped, 'record(s)');
END
$$;