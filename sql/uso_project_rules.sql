-- Project rules of issue 17: the project end date counts cycles of the
-- submission's own cycle type (item 3), allocation-date runs are never lost
-- while CreateCallProjects / NotifyProjects are disabled (item 4),
-- rapid-access results are told the day after the project is created
-- (item 5), inactive spokespersons get no mail (item 2).
SET TimeZone = 'America/Regina';
\set VERBOSITY terse
-- ids in NOTICE lines start from 1 whatever ran before (the tests roll back their rows)
DO $$ DECLARE s regclass; BEGIN
    FOR s IN SELECT oid FROM pg_class WHERE relnamespace = 'uso'::regnamespace AND relkind = 'S' LOOP
        PERFORM setval(s, 1, false);
    END LOOP;
END $$;
BEGIN;
INSERT INTO uso.app_user (username, first_name, email) VALUES
    ('spoke', 'Sam', 'sam@example.org'), ('left', 'Lou', 'lou@example.org');
UPDATE uso.app_user SET active = false WHERE username = 'left';
INSERT INTO uso.beamline (acronym, name) VALUES ('BL1', 'Macromolecular');
INSERT INTO uso.review_track (acronym, name, require_call, duration_cycles) VALUES
    ('ONE', 'One cycle', true, 1), ('TWO', 'Two cycles', true, 2), ('RA', 'Rapid access', false, 1);
-- 3. two cycle types starting the same day: H lasts 6 months, Y 12
INSERT INTO uso.cycle_type (code, name, start_month, duration_months) VALUES
    ('H', 'Half year', 1, 6), ('Y', 'Whole year', 1, 12);
INSERT INTO uso.cycle (cycle_type_id, year, name, open_date, close_date, due_date, alloc_date, start_date, end_date)
SELECT ct.id, y, y || '-' || ct.code, d.open_date, d.close_date, d.due_date, d.alloc_date, d.start_date, d.end_date
FROM uso.cycle_type ct, generate_series(2027, 2028) y, uso.cycle_dates(ct, y) d ORDER BY ct.code, y;
SELECT name, alloc_date, start_date, end_date FROM uso.cycle ORDER BY start_date, name;
INSERT INTO uso.proposal (code, title, spokesperson_id)
SELECT v.code, v.title, u.id FROM uso.app_user u,
    (VALUES ('Y-1', 'Whole year, one cycle'), ('Y-2', 'Whole year, two cycles'), ('H-1', 'Half year, two cycles'))
    v(code, title)
WHERE u.username = 'spoke';
INSERT INTO uso.submission (proposal_id, track_id, cycle_id, state, approved, score)
SELECT p.id, t.id, c.id, 'reviewed', true, 4
FROM (VALUES ('Y-1', 'ONE', '2027-Y'), ('Y-2', 'TWO', '2027-Y'), ('H-1', 'TWO', '2027-H')) v(code, track, cycle)
JOIN uso.proposal p ON p.code = v.code JOIN uso.review_track t ON t.acronym = v.track
JOIN uso.cycle c ON c.name = v.cycle;
SELECT uso.create_call_projects(as_of => '2026-10-28 00:15');
SELECT p.code, c.name AS cycle, pr.start_date, pr.end_date
FROM uso.project pr JOIN uso.proposal p ON p.id = pr.proposal_id JOIN uso.cycle c ON c.id = pr.cycle_id ORDER BY p.code;
DELETE FROM uso.project;
DELETE FROM uso.submission;

-- 4. cycles created while CreateCallProjects and NotifyProjects are disabled:
-- no warning, nothing to lose; both run every day and act on every cycle
-- whose date has come, so re-enabled they pick up the cycles they missed
SELECT uso_disable('CreateCallProjects'), uso_disable('NotifyProjects');
INSERT INTO uso.cycle_type (code, name, start_month) VALUES ('Q', 'Quiet', 7);
INSERT INTO uso.cycle (cycle_type_id, year, name, open_date, close_date, due_date, alloc_date, start_date, end_date)
SELECT ct.id, 2041, '2041-Q', d.open_date, d.close_date, d.due_date, d.alloc_date, d.start_date, d.end_date
FROM uso.cycle_type ct, uso.cycle_dates(ct, 2041) d WHERE ct.code = 'Q';
SELECT alloc_date FROM uso.cycle WHERE name = '2041-Q';
SELECT uso_enable('CreateCallProjects'), uso_enable('NotifyProjects');
SELECT name, schedule, frequency FROM uso_background_tasks
WHERE name IN ('CreateCallProjects', 'NotifyProjects') ORDER BY name;
-- their runs around 2041-Q's allocation date (2041-05-01), in the facility zone
SELECT t.name, n AT TIME ZONE 'America/Regina' AS local_time
FROM uso_task t, uso_next_runs(t.schedule, '2041-04-30 12:00-06', 2, 'America/Regina') n
WHERE t.name IN ('CreateCallProjects', 'NotifyProjects') ORDER BY 1, 2;
-- a run after the date (the first one once re-enabled) does what the missed one would have
INSERT INTO uso.proposal (code, title, spokesperson_id) SELECT 'Q-1', 'Quiet cycle', id FROM uso.app_user WHERE username = 'spoke';
INSERT INTO uso.submission (proposal_id, track_id, cycle_id, state, approved, score)
SELECT p.id, t.id, c.id, 'reviewed', true, 4 FROM uso.proposal p, uso.review_track t, uso.cycle c
WHERE p.code = 'Q-1' AND t.acronym = 'ONE' AND c.name = '2041-Q';
SELECT uso.create_call_projects(as_of => '2041-04-30 00:15');
SELECT uso.create_call_projects(as_of => '2041-05-02 00:15');
SELECT uso.notify_projects(as_of => '2041-05-02 00:30');
DELETE FROM uso.notification;
DELETE FROM uso.project;
DELETE FROM uso.submission;

-- 5. rapid access is told the day after its project is created, not after the
-- cycle's allocation date (2027-H's is 2026-10-28); 2. an inactive
-- spokesperson gets no mail, the submission is complete all the same
INSERT INTO uso.proposal (code, title, spokesperson_id)
SELECT v.code, v.title, u.id FROM uso.app_user u,
    (VALUES ('R-1', 'Rapid approved', 'spoke'), ('R-2', 'Rapid rejected', 'spoke'), ('R-3', 'Rapid, spokesperson left', 'left'))
    v(code, title, who)
WHERE u.username = v.who;
INSERT INTO uso.proposal_request SELECT p.id, b.id, 3 FROM uso.proposal p, uso.beamline b WHERE p.code LIKE 'R-%';
INSERT INTO uso.submission (proposal_id, track_id, cycle_id, state, approved, score, decided_at)
SELECT p.id, t.id, c.id, 'reviewed', v.ok, 4, '2026-05-10 11:00'
FROM (VALUES ('R-1', true), ('R-2', false), ('R-3', true)) v(code, ok)
JOIN uso.proposal p ON p.code = v.code, uso.review_track t, uso.cycle c
WHERE t.acronym = 'RA' AND c.name = '2027-H';
SELECT uso.create_non_call_projects(as_of => '2026-05-10 14:00');
-- the same day: not yet
SELECT uso.notify_projects(as_of => '2026-05-10 23:59');
-- the day after, at 00:30
SELECT uso.notify_projects(as_of => '2026-05-11 00:30');
SELECT kind, recipient, subject FROM uso.notification ORDER BY id;
SELECT p.code, s.state FROM uso.submission s JOIN uso.proposal p ON p.id = s.proposal_id ORDER BY p.code;
SELECT uso.notify_projects(as_of => '2026-05-12 00:30');
ROLLBACK;
