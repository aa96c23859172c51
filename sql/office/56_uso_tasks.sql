-- uso_tasks: the USO task pack, part 3: projects, beamtime sessions, users'
-- registrations and institutions, the notification outbox.

-- ---------------------------------------------------------------- projects

/*
 * Shared by CreateCallProjects and CreateNonCallProjects: a project (with
 * allocations from the proposal's beamline requests, none allocated yet) for
 * each approved submission of the given kind of track that has none. Call
 * tracks only from their cycle's allocation date on; both only while the
 * cycle has not ended. For call tracks, renewal requests of running projects
 * for cycles at their allocation date become allocations too.
 */
CREATE FUNCTION uso.create_projects(require_call boolean, as_of timestamptz, cfg jsonb)
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
COMMENT ON FUNCTION uso.create_projects(boolean, timestamptz, jsonb) IS
    'Projects with requested allocations for approved submissions of call (true) or rapid-access (false) tracks.';

CREATE FUNCTION uso.create_call_projects(as_of timestamptz DEFAULT NULL, config jsonb DEFAULT NULL)
    RETURNS text
    LANGUAGE sql
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT uso.create_projects(true, as_of, uso.task_config('CreateCallProjects', config)) $$;
COMMENT ON FUNCTION uso.create_call_projects(timestamptz, jsonb) IS
    'CreateCallProjects task (daily at 00:15, acting on cycles whose allocation date has come): projects and allocations for approved call-track submissions, plus renewals.';

CREATE FUNCTION uso.create_non_call_projects(as_of timestamptz DEFAULT NULL, config jsonb DEFAULT NULL)
    RETURNS text
    LANGUAGE sql
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT uso.create_projects(false, as_of, uso.task_config('CreateNonCallProjects', config)) $$;
COMMENT ON FUNCTION uso.create_non_call_projects(timestamptz, jsonb) IS
    'CreateNonCallProjects task: projects and allocations for approved rapid-access submissions.';

/*
 * NotifyProjects (daily at 00:30): every decided submission gets its result
 * the day after it is due: call tracks the day after their cycle's
 * allocation date, rapid access (no call) the day after its project was
 * created (or, rejected, after it was decided). 'submission-success' goes to
 * the project's spokesperson (once the project exists), 'submission-fail' to
 * the proposal's; the submission becomes complete, so nobody is told twice.
 * An inactive spokesperson gets no mail; the submission is complete anyway.
 * Running daily, a run after days without one (the task disabled) catches up.
 */
CREATE FUNCTION uso.notify_projects(as_of timestamptz DEFAULT NULL, config jsonb DEFAULT NULL)
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

-- ---------------------------------------------------------------- beamtime

/*
 * AutoSignOff: live sessions that ended at least `after` (default 8 hours)
 * ago are signed off automatically (history line, notice to the beamline's
 * admins, the staff on duty and the spokesperson); sessions never signed on
 * that ended as long ago are cancelled.
 */
CREATE FUNCTION uso.auto_sign_off(as_of timestamptz DEFAULT NULL, config jsonb DEFAULT NULL)
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

-- ---------------------------------------------------------------- registrations, institutions

CREATE FUNCTION uso.clean_registrations(as_of timestamptz DEFAULT NULL, config jsonb DEFAULT NULL)
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

/*
 * NotifyNewInstitutions: one 'new-institutions' notice per active holder of
 * the administrators' role listing every institution pending approval that
 * has not been reported yet; each institution is reported once. Nothing is
 * marked when nobody holds the role, so the next run tries again.
 */
CREATE FUNCTION uso.notify_new_institutions(as_of timestamptz DEFAULT NULL, config jsonb DEFAULT NULL)
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

-- ---------------------------------------------------------------- outbox

/*
 * DeliverNotifications: sends due pending notifications in id order through
 * uso_send_mail. Rows are locked (SKIP LOCKED) so concurrent runs never pick
 * the same message, and a message is marked sent in the same transaction as
 * its send: the one duplicate possible is a crash between the SMTP server's
 * acceptance and the commit (at-least-once, documented in docs/uso.md).
 * A failed send counts an attempt and waits backoff * 2^(attempts-1); after
 * max_attempts the message is given up ('failed'). After stop_after_failures
 * failures in a row the SMTP server is taken to be unavailable (refusing,
 * stalling, dropping connections): the run stops, and the rest of the batch
 * waits for the next run untouched, so a stalled server costs a few
 * timeouts, not one per message of the batch.
 */
CREATE FUNCTION uso.deliver_notifications(as_of timestamptz DEFAULT NULL, config jsonb DEFAULT NULL)
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
            PERFORM _uso_tasks.uso_send_mail(m.recipient, m.subject, m.body, sender);
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
