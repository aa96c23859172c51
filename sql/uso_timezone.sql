-- Every task computes its dates in the facility time zone, never in the
-- session's or UTC: the session runs in UTC here while the facility is in
-- America/Regina (UTC-6 all year), then in Europe/Berlin across both DST
-- changes of 2026 (03-29 02:00 CET -> 03:00 CEST, 10-25 03:00 CEST -> 02:00 CET).
-- uso_tasks.timezone is SIGHUP-level (no SET in a session): the session
-- setting uso.timezone overrides it for the pack's date arithmetic.
SET TimeZone = 'UTC';
SET uso.timezone = 'America/Regina';
\set VERBOSITY terse
DO $$ DECLARE s regclass; BEGIN
    FOR s IN SELECT oid FROM pg_class WHERE relnamespace = 'uso'::regnamespace AND relkind = 'S' LOOP
        PERFORM setval(s, 1, false);
    END LOOP;
END $$;
SELECT uso.local_zone(), uso.local_date('2026-04-15 03:00+00') AS "03:00 UTC is the evening before",
       uso.local_instant('2026-04-29', '00:15') AS "00:15 local";
BEGIN;
INSERT INTO uso.app_user (username, first_name, email) VALUES
    ('tz_spoke', 'Sam', 'sam@example.org'), ('tz_rev', 'Rita', 'rita@example.org');
INSERT INTO uso.reviewer (user_id) SELECT id FROM uso.app_user WHERE username = 'tz_rev';
INSERT INTO uso.review_track (acronym, name, require_call) VALUES ('TZC', 'Call', true), ('TZR', 'Rapid', false);
INSERT INTO uso.review_stage (track_id, position, kind, min_reviews, pass_score)
SELECT id, 1, 'scientific', 1, 3 FROM uso.review_track WHERE acronym = 'TZC';
INSERT INTO uso.reviewer_track SELECT r.id, t.id FROM uso.reviewer r, uso.review_track t;
INSERT INTO uso.beamline (acronym, name) VALUES ('TZ1', 'Beamline');

-- CreateCycles: 2027-01-01 03:00 UTC is still 2026-12-31 in Regina
INSERT INTO uso.cycle_type (code, name, start_month) VALUES ('Z', 'Zone test', 7);
SELECT uso.create_cycles(as_of => '2027-01-01 03:00+00');
SELECT name, close_date, due_date, alloc_date, start_date, end_date FROM uso.cycle ORDER BY name;
DELETE FROM uso.cycle WHERE name <> '2026-Z';

-- CycleStateManager: the call closes at the end of 2026-03-04 local time
SELECT uso.cycle_state_manager(as_of => '2026-02-04 05:30+00');
SELECT uso.cycle_state_manager(as_of => '2026-02-04 06:30+00');
SELECT uso.cycle_state_manager(as_of => '2026-03-05 05:30+00');
SELECT uso.cycle_state_manager(as_of => '2026-03-05 06:30+00');

-- AdvanceReviewWorkflow and StartReviews: reviews wait for the call's local close
INSERT INTO uso.proposal (code, title, spokesperson_id)
SELECT v.code, v.title, u.id FROM uso.app_user u, (VALUES ('TZ-1', 'Call'), ('TZ-2', 'Rapid')) v(code, title)
WHERE u.username = 'tz_spoke';
INSERT INTO uso.proposal_request SELECT p.id, b.id, 2 FROM uso.proposal p, uso.beamline b;
INSERT INTO uso.submission (proposal_id, track_id, cycle_id)
SELECT p.id, t.id, c.id FROM uso.proposal p, uso.review_track t, uso.cycle c
WHERE p.code = 'TZ-1' AND t.acronym = 'TZC' AND c.name = '2026-Z';
SELECT uso.advance_review_workflow(as_of => '2026-03-05 05:30+00');
SELECT uso.advance_review_workflow(as_of => '2026-03-05 06:30+00');
-- due two weeks after the local 2026-03-05
SELECT uso.start_reviews(as_of => '2026-03-05 07:00+00');
SELECT due_date FROM uso.review;

-- RemindReviewers: due 2026-03-19, reminded from the local 2026-03-18 on
SELECT uso.remind_reviewers(as_of => '2026-03-18 05:00+00');
SELECT uso.remind_reviewers(as_of => '2026-03-18 08:00+00');

-- CreateCallProjects on the local allocation date (2026-04-29), NotifyProjects the local day after
UPDATE uso.review SET state = 'submitted', score = 4;
SELECT uso.advance_review_workflow(as_of => '2026-03-20 12:00+00');
SELECT uso.create_call_projects(as_of => '2026-04-29 05:00+00');
SELECT uso.create_call_projects(as_of => '2026-04-29 06:15+00');
SELECT uso.notify_projects(as_of => '2026-04-30 05:30+00');
SELECT uso.notify_projects(as_of => '2026-04-30 06:30+00');

-- NotifyProjects for rapid access: created 2026-05-10 22:00 local (05-11 04:00 UTC),
-- told at 00:30 local on 05-11 (06:30 UTC), which is the same day in UTC
INSERT INTO uso.submission (proposal_id, track_id, cycle_id, state, approved, score, decided_at)
SELECT p.id, t.id, c.id, 'reviewed', true, 4, '2026-05-11 03:00+00' FROM uso.proposal p, uso.review_track t, uso.cycle c
WHERE p.code = 'TZ-2' AND t.acronym = 'TZR' AND c.name = '2026-Z';
SELECT uso.create_non_call_projects(as_of => '2026-05-11 04:00+00');
SELECT uso.notify_projects(as_of => '2026-05-11 05:30+00');
SELECT uso.notify_projects(as_of => '2026-05-11 06:30+00');

-- AutoSignOff: the history line and the notice give the local end time
INSERT INTO uso.beamtime_session (project_id, beamline_id, starts_at, ends_at, state, signed_on_at)
SELECT pr.id, b.id, '2026-07-01 16:00+00', '2026-07-02 04:00+00', 'live', '2026-07-01 16:00+00'
FROM uso.project pr JOIN uso.proposal p ON p.id = pr.proposal_id, uso.beamline b WHERE p.code = 'TZ-1';
SELECT uso.auto_sign_off(as_of => '2026-07-02 13:00+00');
SELECT line FROM uso.session_history;

-- UpdatePublications and UpdateMetrics through a stand-in for the HTTP call
-- (rolled back with the rest): "this month" and "last year" are local
CREATE TEMP TABLE requests (url text);
CREATE OR REPLACE FUNCTION uso.http_json(url text, cfg jsonb) RETURNS jsonb
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO requests VALUES (url);
    RETURN '{"message": {"title": ["T"]}, "results": []}';
END $$;
INSERT INTO uso.publication (doi, published) VALUES
    ('10.1000/february', '2026-02-20'), ('10.1000/march', '2026-03-02');
SELECT uso.update_publications(as_of => '2026-03-01 03:00+00', config => '{"crossref_url": "http://x"}');
SELECT uso.update_metrics(as_of => '2026-01-01 03:00+00', config => '{"metrics_url": "http://x/{year}.json", "format": "json"}');
SELECT url FROM requests ORDER BY url;
ROLLBACK;

-- Europe/Berlin, across both DST changes
SET uso.timezone = 'Europe/Berlin';
BEGIN;
-- CleanRegistrations: 7 days are 7 local calendar days, 167 hours across the spring change
INSERT INTO uso.registration (email, username, created_at) VALUES
    ('a@example.org', 'seven_days', '2026-03-22 12:00+01'),
    ('b@example.org', 'not_yet', '2026-03-22 12:30+01');
SELECT uso.clean_registrations(as_of => '2026-03-29 12:00+02');
SELECT username FROM uso.registration;
-- the local date turns at local midnight on both sides of the change
SELECT uso.local_date('2026-03-28 22:30+00') AS "23:30 CET", uso.local_date('2026-03-28 23:30+00') AS "00:30 CET",
       uso.local_date('2026-03-29 21:30+00') AS "23:30 CEST", uso.local_date('2026-03-29 22:30+00') AS "00:30 CEST",
       uso.local_date('2026-10-24 22:30+00') AS "00:30 CEST", uso.local_date('2026-10-25 22:30+00') AS "23:30 CET";
-- CreateCycles: 2026-12-31 23:30 UTC is already 2027 in Berlin
INSERT INTO uso.cycle_type (code, name, start_month) VALUES ('Z', 'Zone test', 7);
SELECT uso.create_cycles(as_of => '2026-12-31 23:30+00');
SELECT name FROM uso.cycle ORDER BY name;
-- AutoSignOff in the repeated hour of the autumn change: both sessions ended
-- at 02:30 local, an hour apart; the one that ended 8 hours ago is signed off
INSERT INTO uso.app_user (username, email) VALUES ('tz_spoke', 'sam@example.org');
INSERT INTO uso.beamline (acronym, name) VALUES ('TZ1', 'Beamline');
INSERT INTO uso.review_track (acronym, name) VALUES ('TZC', 'Call');
INSERT INTO uso.proposal (code, title, spokesperson_id) SELECT 'TZ-1', 'Call', id FROM uso.app_user;
INSERT INTO uso.submission (proposal_id, track_id, cycle_id, state, approved)
SELECT p.id, t.id, c.id, 'complete', true FROM uso.proposal p, uso.review_track t, uso.cycle c WHERE c.name = '2027-Z';
INSERT INTO uso.project (submission_id, proposal_id, cycle_id, spokesperson_id, start_date, end_date)
SELECT s.id, s.proposal_id, s.cycle_id, p.spokesperson_id, '2026-07-01', '2027-01-01'
FROM uso.submission s JOIN uso.proposal p ON p.id = s.proposal_id;
INSERT INTO uso.beamtime_session (project_id, beamline_id, starts_at, ends_at, state, signed_on_at)
SELECT pr.id, b.id, v.s, v.e, 'live', v.s FROM uso.project pr, uso.beamline b,
    (VALUES ('2026-10-24 20:00+00'::timestamptz, '2026-10-25 00:30+00'::timestamptz),
            ('2026-10-24 20:00+00', '2026-10-25 01:30+00')) v(s, e);
SELECT uso.auto_sign_off(as_of => '2026-10-25 09:00+00');
SELECT line FROM uso.session_history ORDER BY id;
ROLLBACK;
-- the daily date-driven tasks fire at their local time on both sides of each change
SELECT s.schedule, n AT TIME ZONE 'Europe/Berlin' AS local_time
FROM (VALUES ('T00:15'), ('T02:00')) s(schedule),
     LATERAL (SELECT * FROM uso_next_runs(s.schedule, '2026-03-27 12:00+00', 3, 'Europe/Berlin')
              UNION ALL SELECT * FROM uso_next_runs(s.schedule, '2026-10-23 12:00+00', 3, 'Europe/Berlin')) x(n)
ORDER BY 1, 2;
RESET uso.timezone;
RESET TimeZone;
