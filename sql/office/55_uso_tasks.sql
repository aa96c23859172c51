-- uso_tasks: the USO task pack, part 2: helpers, cycles and the review workflow.
--
-- Every task is a function uso.<name>(as_of timestamptz, config jsonb) returning
-- the run's message. as_of NULL means now(); config NULL means the registered
-- task's config (uso_task.config), otherwise it is laid over it, so tests can
-- call the functions directly with fixed instants and their own settings.
-- "Today" is the local date in the facility time zone (uso_tasks.timezone, else
-- the session's TimeZone). Progress goes out as NOTICE lines (the run log);
-- an item that fails is a WARNING and counted as skipped, the rest commits.

-- ---------------------------------------------------------------- helpers

CREATE FUNCTION uso.local_zone() RETURNS text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT coalesce(nullif(current_setting('uso.timezone', true), ''),
                          nullif(current_setting('uso_tasks.timezone', true), ''),
                          current_setting('TimeZone')) $$;
COMMENT ON FUNCTION uso.local_zone() IS
    'The facility time zone: uso_tasks.timezone, or the session TimeZone when that is empty; the session setting uso.timezone overrides both (uso_tasks.timezone is SIGHUP-level: tests SET uso.timezone).';

CREATE FUNCTION uso.local_date(as_of timestamptz DEFAULT NULL) RETURNS date
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT (coalesce(as_of, now()) AT TIME ZONE uso.local_zone())::date $$;
COMMENT ON FUNCTION uso.local_date(timestamptz) IS
    'The local date (facility time zone) at as_of (NULL = now): the tasks'' "today".';

CREATE FUNCTION uso.local_instant(d date, t time) RETURNS timestamptz
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
CREATE FUNCTION uso.task_config(task text, config jsonb) RETURNS jsonb
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

-- Reads an interval setting, with a clear error naming the key when it is bad.
CREATE FUNCTION uso.config_interval(cfg jsonb, key text, dflt interval) RETURNS interval
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

CREATE FUNCTION uso.config_int(cfg jsonb, key text, dflt integer) RETURNS integer
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

-- A run message with the skipped count appended when there is one.
CREATE FUNCTION uso.with_skipped(msg text, skipped integer, what text DEFAULT 'item(s)') RETURNS text
    LANGUAGE sql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT CASE WHEN skipped > 0 THEN msg || format(', %s %s skipped (see warnings)', skipped, what)
                      ELSE msg END $$;
COMMENT ON FUNCTION uso.with_skipped(text, integer, text) IS
    'Appends ", N <what> skipped (see warnings)" to a run message when N > 0.';

-- A per-item failure in the admin's words: what is wrong with the item, never
-- a constraint name, a table or an internal id alone (issue 15.3).  The
-- caller passes what GET STACKED DIAGNOSTICS gives.
CREATE FUNCTION uso.item_problem(state text, message text, constraint_name text DEFAULT NULL,
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

-- ---------------------------------------------------------------- cycles

-- The weekday wd (ISO, 1 = Monday) of the ISO week that contains d.
CREATE FUNCTION uso.weekday_of_week(d date, wd integer) RETURNS date
    LANGUAGE sql IMMUTABLE STRICT
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT d - (extract(isodow FROM d)::integer - 1) + (wd - 1) $$;
COMMENT ON FUNCTION uso.weekday_of_week(date, integer) IS
    'The given ISO weekday (1 = Monday) of the ISO week containing d.';

CREATE FUNCTION uso.cycle_dates(ct uso.cycle_type, yr integer,
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

/*
 * CreateCycles: every active cycle type has its cycles for this year and the
 * next two, plus last year's while it is still running (a cycle type crossing
 * the new year), so there is never a gap between the running cycle and the
 * ones ahead. Existing cycles are never touched (ON CONFLICT DO NOTHING).
 */
CREATE FUNCTION uso.create_cycles(as_of timestamptz DEFAULT NULL, config jsonb DEFAULT NULL)
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
COMMENT ON FUNCTION uso.create_cycles(timestamptz, jsonb) IS
    'CreateCycles task: cycles of every active cycle type for this year and the next two (config years_ahead), no gap, no duplicate.';

/*
 * CycleStateManager: the state each cycle's dates call for, applied only when
 * it is further along than the current one, so a cycle never moves back (USO
 * flips cycles between evaluation and schedule on the allocation date).
 * "review" needs a started review; a cycle whose due date passed moves on anyway.
 */
CREATE FUNCTION uso.cycle_state_manager(as_of timestamptz DEFAULT NULL, config jsonb DEFAULT NULL)
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

-- ---------------------------------------------------------------- review workflow

/*
 * Who a review goes to: the reviewer's user while active; for a review by a
 * role (a committee), every active holder of the role who is not on the
 * proposal's team. Inactive users get no reviews and no mail.
 */
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

/*
 * A review still pending or open for a user who is no longer active would
 * keep its submission waiting for ever: it is withdrawn (state 'withdrawn',
 * no longer counted), and advance_submission then assigns a replacement
 * to another active reviewer of the track. Returns how many were withdrawn.
 */
CREATE FUNCTION uso.withdraw_inactive_reviews(sub_id bigint, at timestamptz) RETURNS integer
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

/*
 * Assigns up to need reviewers to one stage of one submission: active
 * reviewers of the track, not on the proposal's team, not yet reviewing this
 * stage of it, fewest open (pending or open) assignments first. Returns how
 * many reviews it created (fewer than need when too few reviewers qualify).
 */
CREATE FUNCTION uso.assign_reviews(submission_id bigint, stage_id bigint, need integer,
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

/*
 * Walks one submission's stages in order and does the next step: create the
 * missing reviews of the first undecided stage, wait while reviews are out,
 * or decide a stage whose reviews are all in (close them; a failed blocking
 * stage rejects the submission; after the last stage it is approved).
 * Returns 'created:<n>', 'approved', 'rejected' or 'waiting'.
 */
CREATE FUNCTION uso.advance_submission(sub_id bigint, today date, review_days integer, at timestamptz)
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

/*
 * AdvanceReviewWorkflow: undecided submissions of call tracks whose cycle's
 * call has closed, and of rapid-access tracks in any current cycle, each in
 * its own subtransaction so one broken submission is a WARNING, not a failure.
 */
CREATE FUNCTION uso.advance_review_workflow(as_of timestamptz DEFAULT NULL, config jsonb DEFAULT NULL)
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
COMMENT ON FUNCTION uso.advance_review_workflow(timestamptz, jsonb) IS
    'AdvanceReviewWorkflow task: walks each undecided submission through its track''s review stages (config review_days: longest review period).';

/*
 * StartReviews: opens the pending reviews of auto-start stages (due date set
 * if missing) and queues ONE 'review-request' per user listing all the
 * reviews opened for them in this run: the reviewer's, or, for a review by a
 * role, every active holder's (uso.review_recipient); a review counts once
 * however many holders it goes to. A review whose reviewer is inactive is
 * not opened (AdvanceReviewWorkflow withdraws and replaces it). Pending
 * submissions with an open review become started.
 */
CREATE FUNCTION uso.start_reviews(as_of timestamptz DEFAULT NULL, config jsonb DEFAULT NULL)
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

/*
 * RemindReviewers: one 'review-reminder' per user for the open reviews due
 * between today and today + lead_days that are open to them (their own, and
 * those of a role they hold: uso.review_recipient), never twice for the same
 * review and due date (reminded_due remembers which due date was reminded).
 * Reviews nobody active can be reminded of are left alone.
 */
CREATE FUNCTION uso.remind_reviewers(as_of timestamptz DEFAULT NULL, config jsonb DEFAULT NULL)
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
