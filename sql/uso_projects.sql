-- CreateCallProjects, CreateNonCallProjects, NotifyProjects and AutoSignOff.
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
    ('pspoke', 'Pat', 'pat@example.org'), ('pstaff', 'Stu', 'stu@example.org'),
    ('padmin', 'Ada', 'ada@example.org'), ('pgone', 'Gus', 'gus@example.org');
UPDATE uso.app_user SET active = false WHERE username = 'pgone';
INSERT INTO uso.beamline (acronym, name) VALUES ('BL1', 'Macromolecular'), ('BL2', 'Powder');
INSERT INTO uso.beamline_staff SELECT b.id, u.id, 'admin' FROM uso.beamline b, uso.app_user u
WHERE b.acronym = 'BL1' AND u.username IN ('padmin', 'pgone');
INSERT INTO uso.review_track (acronym, name, require_call, duration_cycles) VALUES
    ('PGU', 'General user', true, 2), ('PRA', 'Rapid access', false, 1);
INSERT INTO uso.cycle_type (code, name, start_month) VALUES ('P', 'Project test', 7);
INSERT INTO uso.cycle (cycle_type_id, year, name, open_date, close_date, due_date, alloc_date, start_date, end_date)
SELECT ct.id, y, y || '-P', d.open_date, d.close_date, d.due_date, d.alloc_date, d.start_date, d.end_date
FROM uso.cycle_type ct, generate_series(2026, 2027) y, uso.cycle_dates(ct, y) d WHERE ct.code = 'P';
SELECT name, alloc_date, start_date, end_date FROM uso.cycle WHERE name LIKE '%-P' ORDER BY name;
INSERT INTO uso.proposal (code, title, spokesperson_id)
SELECT v.code, v.title, u.id FROM uso.app_user u,
    (VALUES ('C-1', 'Call approved'), ('C-2', 'Call rejected'), ('C-3', 'Call undecided'),
            ('R-1', 'Rapid approved'), ('R-2', 'Rapid rejected')) v(code, title)
WHERE u.username = 'pspoke';
INSERT INTO uso.proposal_request SELECT p.id, b.id, 6 FROM uso.proposal p, uso.beamline b
WHERE p.code IN ('C-1', 'R-1') AND (p.code = 'C-1' OR b.acronym = 'BL2');
INSERT INTO uso.submission (proposal_id, track_id, cycle_id, state, approved, score)
SELECT p.id, t.id, c.id, v.state, v.approved, v.score
FROM (VALUES ('C-1', 'PGU', 'reviewed', true, 4.5), ('C-2', 'PGU', 'reviewed', false, 1.5),
             ('C-3', 'PGU', 'started', NULL, NULL), ('R-1', 'PRA', 'reviewed', true, 4),
             ('R-2', 'PRA', 'reviewed', false, 2)) v(code, track, state, approved, score)
JOIN uso.proposal p ON p.code = v.code JOIN uso.review_track t ON t.acronym = v.track
JOIN uso.cycle c ON c.name = '2026-P';
CREATE TEMP VIEW projects AS
SELECT p.code, c.name AS cycle, pr.start_date, pr.end_date,
       (SELECT string_agg(format('%s:%s/%s', b.acronym, a.requested_shifts, coalesce(a.allocated_shifts::text, '-')), ' '
                          ORDER BY c2.name, b.acronym)
        FROM uso.allocation a JOIN uso.beamline b ON b.id = a.beamline_id JOIN uso.cycle c2 ON c2.id = a.cycle_id
        WHERE a.project_id = pr.id) AS allocations
FROM uso.project pr JOIN uso.proposal p ON p.id = pr.proposal_id JOIN uso.cycle c ON c.id = pr.cycle_id
ORDER BY p.code;

-- the day before the allocation date (2026-04-29): nothing yet for call tracks
SELECT uso.create_call_projects(as_of => '2026-04-28 12:00');
-- rapid access does not wait
SELECT uso.create_non_call_projects(as_of => '2026-04-28 12:00');
SELECT uso.create_non_call_projects(as_of => '2026-04-28 12:15');
-- 00:15 on the allocation date, local time
SELECT uso.create_call_projects(as_of => '2026-04-29 00:15');
SELECT * FROM projects;
SELECT uso.create_call_projects(as_of => '2026-04-29 00:20');

-- NotifyProjects the day after: results to the spokesperson, submissions complete
SELECT uso.notify_projects(as_of => '2026-04-29 23:59');
SELECT uso.notify_projects(as_of => '2026-04-30 00:30');
SELECT p.code, s.state, s.notified_at IS NOT NULL AS notified FROM uso.submission s
JOIN uso.proposal p ON p.id = s.proposal_id ORDER BY p.code;
SELECT kind, recipient, subject, body FROM uso.notification ORDER BY id;
SELECT uso.notify_projects(as_of => '2026-04-30 06:30');

-- renewal: C-1's project asks for BL2 time in 2027-P; it becomes an allocation on 2027-P's allocation date
INSERT INTO uso.allocation_request (project_id, cycle_id, beamline_id, shifts)
SELECT pr.id, c.id, b.id, 3 FROM uso.project pr JOIN uso.proposal p ON p.id = pr.proposal_id,
    uso.cycle c, uso.beamline b WHERE p.code = 'C-1' AND c.name = '2027-P' AND b.acronym = 'BL2';
SELECT uso.create_call_projects(as_of => '2027-04-01 00:15');
SELECT uso.create_call_projects(as_of => '2027-04-28 00:15');
SELECT uso.create_call_projects(as_of => '2027-04-28 00:15');
SELECT * FROM projects;

-- AutoSignOff: a live session that ended 9 hours ago, one that ended 7 hours ago,
-- one never signed on that ended 9 hours ago, one already signed off
DELETE FROM uso.notification;
INSERT INTO uso.beamtime_session (project_id, beamline_id, staff_id, starts_at, ends_at, state, signed_on_at,
                                  signed_off_at, signed_off_by)
SELECT pr.id, b.id, u.id, v.starts_at, v.ends_at, v.state, v.on_at, v.off_at, v.off_by
FROM (VALUES ('2026-07-01 08:00'::timestamptz, '2026-07-02 08:00'::timestamptz, 'live', '2026-07-01 08:05'::timestamptz, NULL::timestamptz, NULL),
             ('2026-07-02 08:00', '2026-07-02 10:00', 'live', '2026-07-02 08:00', NULL, NULL),
             ('2026-07-01 08:00', '2026-07-02 08:00', 'ready', NULL, NULL, NULL),
             ('2026-07-01 08:00', '2026-07-02 08:00', 'complete', '2026-07-01 08:00', '2026-07-02 07:55', 'pspoke')
     ) v(starts_at, ends_at, state, on_at, off_at, off_by),
     uso.project pr JOIN uso.proposal p ON p.id = pr.proposal_id, uso.beamline b, uso.app_user u
WHERE p.code = 'C-1' AND b.acronym = 'BL1' AND u.username = 'pstaff';
SELECT uso.auto_sign_off(as_of => '2026-07-02 17:00');
SELECT id - min(id) OVER () AS n, state, signed_off, signed_off_by FROM uso.beamtime_session ORDER BY id;
SELECT h.line FROM uso.session_history h ORDER BY h.id;
SELECT kind, recipient, subject FROM uso.notification ORDER BY recipient;
SELECT uso.auto_sign_off(as_of => '2026-07-02 17:30');
SELECT uso.auto_sign_off(as_of => '2026-07-02 19:00');
SELECT uso.auto_sign_off(as_of => '2026-07-02 19:00', config => '{"after": "a while"}');
ROLLBACK;
