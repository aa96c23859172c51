-- CreateCycles and CycleStateManager on fixed instants (facility zone: the
-- session TimeZone, since uso_tasks.timezone is empty here).
SET TimeZone = 'America/Regina';
\set VERBOSITY terse
-- ids in NOTICE lines start from 1 whatever ran before (the tests roll back their rows)
DO $$ DECLARE s regclass; BEGIN
    FOR s IN SELECT oid FROM pg_class WHERE relnamespace = 'uso'::regnamespace AND relkind = 'S' LOOP
        PERFORM setval(s, 1, false);
    END LOOP;
END $$;
BEGIN;
INSERT INTO uso.cycle_type (code, name, start_month, start_day) VALUES
    ('A', 'Spring run', 1, 1), ('B', 'Autumn run', 7, 1);
-- crosses the new year: Nov 15 + 6 months
INSERT INTO uso.cycle_type (code, name, start_month, start_day) VALUES ('W', 'Winter run', 11, 15);
-- inactive: never gets cycles
INSERT INTO uso.cycle_type (code, name, start_month, active) VALUES ('OLD', 'Retired', 3, false);
-- broken: the call offset is too short, so the allocation date falls after the start
INSERT INTO uso.cycle_type (code, name, start_month, call_offset_weeks) VALUES ('BAD', 'Broken', 4, 2);

-- the date derivation of USO.md
SELECT y, d.* FROM uso.cycle_type ct, generate_series(2026, 2027) y, uso.cycle_dates(ct, y) d
WHERE ct.code = 'A' ORDER BY y;
SELECT to_char(open_date, 'Dy') AS opens, to_char(close_date, 'Dy') AS closes
FROM uso.cycle_type ct, uso.cycle_dates(ct, 2026) WHERE ct.code = 'B';

-- on 2026-01-10 (local) the winter cycle of 2025 is still running: it is created too
SELECT uso.create_cycles(as_of => '2026-01-10 12:00');
SELECT ct.code, c.name, c.open_date, c.close_date, c.due_date, c.alloc_date, c.start_date, c.end_date, c.state
FROM uso.cycle c JOIN uso.cycle_type ct ON ct.id = c.cycle_type_id ORDER BY ct.code, c.year;
-- idempotent
SELECT uso.create_cycles(as_of => '2026-01-10 12:00');
SELECT count(*) FROM uso.cycle;
-- a year later one more cycle per type, no gap, no duplicate
SELECT uso.create_cycles(as_of => '2027-01-10 12:00');
SELECT ct.code, array_agg(c.year ORDER BY c.year) FROM uso.cycle c JOIN uso.cycle_type ct ON ct.id = c.cycle_type_id
GROUP BY ct.code ORDER BY 1;
-- local date: 2027-12-31 23:30 in Regina is 2028-01-01 05:30 UTC, still 2027 here
SELECT uso.create_cycles(as_of => '2028-01-01 05:30+00');
SELECT uso.create_cycles(as_of => '2028-01-01 06:30+00');

-- CycleStateManager walks forward by the dates of 2026-B
-- (open 2026-02-04, close 2026-03-04, due 2026-04-15, alloc 2026-04-29, start 2026-07-01, end 2027-01-01)
DELETE FROM uso.cycle WHERE name NOT IN ('2026-B', '2025-W');
SELECT uso.cycle_state_manager(as_of => '2026-02-03 23:00');
SELECT uso.cycle_state_manager(as_of => '2026-02-04 00:30');
SELECT uso.cycle_state_manager(as_of => '2026-03-04 23:59');
SELECT uso.cycle_state_manager(as_of => '2026-03-05 00:01');
-- review once a review has started
INSERT INTO uso.app_user (username, email) VALUES ('cs_spoke', 'spoke@example.org'), ('cs_rev', 'rev@example.org');
INSERT INTO uso.review_track (acronym, name) VALUES ('CSGU', 'General');
INSERT INTO uso.review_stage (track_id, position, kind, pass_score) SELECT id, 1, 'scientific', 3 FROM uso.review_track WHERE acronym = 'CSGU';
INSERT INTO uso.proposal (code, title, spokesperson_id) SELECT 'CS-1', 'Crystals', id FROM uso.app_user WHERE username = 'cs_spoke';
INSERT INTO uso.submission (proposal_id, track_id, cycle_id)
SELECT p.id, t.id, c.id FROM uso.proposal p, uso.review_track t, uso.cycle c
WHERE p.code = 'CS-1' AND t.acronym = 'CSGU' AND c.name = '2026-B';
INSERT INTO uso.reviewer (user_id) SELECT id FROM uso.app_user WHERE username = 'cs_rev';
INSERT INTO uso.review (submission_id, stage_id, reviewer_id, state)
SELECT s.id, st.id, r.id, 'pending' FROM uso.submission s, uso.review_stage st, uso.reviewer r;
SELECT uso.cycle_state_manager(as_of => '2026-03-10 12:00');
UPDATE uso.review SET state = 'open';
SELECT uso.cycle_state_manager(as_of => '2026-03-10 12:00');
SELECT uso.cycle_state_manager(as_of => '2026-04-15 08:00');
-- forward only: running again on the allocation date (or an earlier instant) changes nothing
SELECT uso.cycle_state_manager(as_of => '2026-04-29 00:00');
SELECT uso.cycle_state_manager(as_of => '2026-04-29 12:00');
SELECT uso.cycle_state_manager(as_of => '2026-03-01 12:00');
SELECT name, state FROM uso.cycle ORDER BY name;
-- several steps at once, then archive
SELECT uso.cycle_state_manager(as_of => '2027-01-01 00:00');
SELECT uso.cycle_state_manager(as_of => '2027-06-01 00:00');
SELECT name, state FROM uso.cycle ORDER BY name;
-- date-driven tasks: CreateCallProjects and NotifyProjects run daily and act
-- on the cycles whose dates have come (uso_project_rules); a new cycle
-- queues no one-off run
INSERT INTO uso.cycle (cycle_type_id, year, name, open_date, close_date, due_date, alloc_date, start_date, end_date)
SELECT ct.id, 2041, '2041-A', d.open_date, d.close_date, d.due_date, d.alloc_date, d.start_date, d.end_date
FROM uso.cycle_type ct, uso.cycle_dates(ct, 2041) d WHERE ct.code = 'A';
SELECT count(*) AS once_runs FROM uso_task_run r JOIN uso_task t ON t.id = r.task_id
WHERE r.trigger = 'once' AND t.name IN ('CreateCallProjects', 'NotifyProjects');
ROLLBACK;
