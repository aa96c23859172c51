-- AdvanceReviewWorkflow, StartReviews and RemindReviewers on a small facility.
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
    ('spoke', 'Sam', 'sam@example.org'), ('member', 'Mia', 'mia@example.org'),
    ('rev1', 'Rita', 'rita@example.org'), ('rev2', 'Raj', 'raj@example.org'),
    ('rev3', 'Rosa', 'rosa@example.org'), ('rev4', 'Ron', 'ron@example.org');
INSERT INTO uso.reviewer (user_id) SELECT id FROM uso.app_user WHERE username LIKE 'rev%' OR username = 'member';
INSERT INTO uso.review_track (acronym, name, require_call) VALUES
    ('GU', 'General user', true), ('RA', 'Rapid access', false), ('EMPTY', 'No stages', true);
-- GU: technical (higher is better, pass 3), then scientific by two reviewers (lower is better, pass 2.5)
INSERT INTO uso.review_stage (track_id, position, kind, min_reviews, pass_score, low_better)
SELECT id, 1, 'technical', 1, 3, false FROM uso.review_track WHERE acronym = 'GU'
UNION ALL SELECT id, 2, 'scientific', 2, 2.5, true FROM uso.review_track WHERE acronym = 'GU'
UNION ALL SELECT id, 1, 'feasibility', 1, 3, false FROM uso.review_track WHERE acronym = 'RA';
INSERT INTO uso.reviewer_track SELECT r.id, t.id FROM uso.reviewer r, uso.review_track t;
INSERT INTO uso.cycle_type (code, name, start_month) VALUES ('R', 'Review test', 7);
INSERT INTO uso.cycle (cycle_type_id, year, name, open_date, close_date, due_date, alloc_date, start_date, end_date)
SELECT ct.id, 2026, '2026-R', d.open_date, d.close_date, d.due_date, d.alloc_date, d.start_date, d.end_date
FROM uso.cycle_type ct, uso.cycle_dates(ct, 2026) d WHERE ct.code = 'R';
SELECT open_date, close_date, due_date FROM uso.cycle WHERE name = '2026-R';
INSERT INTO uso.proposal (code, title, spokesperson_id)
SELECT v.code, v.title, u.id FROM uso.app_user u,
    (VALUES ('P-1', 'Enzymes'), ('P-2', 'Magnets'), ('P-3', 'Quick look'), ('P-4', 'Lost track')) v(code, title)
WHERE u.username = 'spoke';
INSERT INTO uso.proposal_member SELECT p.id, u.id FROM uso.proposal p, uso.app_user u WHERE u.username = 'member';
INSERT INTO uso.submission (proposal_id, track_id, cycle_id)
SELECT p.id, t.id, c.id FROM uso.proposal p, uso.review_track t, uso.cycle c
WHERE c.name = '2026-R' AND (p.code, t.acronym) IN (('P-1', 'GU'), ('P-2', 'GU'), ('P-3', 'RA'), ('P-4', 'EMPTY'));
CREATE TEMP VIEW reviews AS
SELECT p.code, st.kind, u.username AS reviewer, r.state, r.due_date, r.score
FROM uso.review r JOIN uso.submission s ON s.id = r.submission_id JOIN uso.proposal p ON p.id = s.proposal_id
JOIN uso.review_stage st ON st.id = r.stage_id JOIN uso.reviewer rv ON rv.id = r.reviewer_id
JOIN uso.app_user u ON u.id = rv.user_id ORDER BY p.code, st.position, u.username;
CREATE TEMP VIEW subs AS
SELECT p.code, s.state, s.approved, round(s.score, 2) AS score FROM uso.submission s
JOIN uso.proposal p ON p.id = s.proposal_id ORDER BY p.code;

-- call still open: only the rapid-access submission moves
SELECT uso.advance_review_workflow(as_of => '2026-02-10 12:00');
-- call closed: reviews created, reviewers fairly spread, never the team member;
-- the submission whose track has no stages is a warning, the rest commits
SELECT uso.advance_review_workflow(as_of => '2026-03-05 09:00');
SELECT * FROM reviews;
-- nothing to do while reviews are out
SELECT uso.advance_review_workflow(as_of => '2026-03-05 09:15');

-- StartReviews: one combined request per reviewer
SELECT uso.start_reviews(as_of => '2026-03-05 12:00');
SELECT * FROM reviews;
SELECT * FROM subs;
SELECT kind, recipient, subject, body, context FROM uso.notification ORDER BY recipient;
SELECT uso.start_reviews(as_of => '2026-03-05 18:00');

-- RemindReviewers: due 2026-03-19; lead time 1 day
SELECT uso.remind_reviewers(as_of => '2026-03-17 02:00');
SELECT uso.remind_reviewers(as_of => '2026-03-18 02:00');
SELECT recipient, subject, body FROM uso.notification WHERE kind = 'review-reminder' ORDER BY recipient;
-- never twice for the same due date
SELECT uso.remind_reviewers(as_of => '2026-03-19 02:00');
-- a new due date is reminded again
UPDATE uso.review SET due_date = '2026-03-26' FROM uso.submission s, uso.proposal p
WHERE s.id = review.submission_id AND p.id = s.proposal_id AND p.code = 'P-1';
SELECT uso.remind_reviewers(as_of => '2026-03-25 02:00');

-- scores in: P-1 passes technical, P-2 fails it (blocking), P-3 passes
UPDATE uso.review r SET state = 'submitted', score = v.score, submitted_at = '2026-03-10'
FROM uso.submission s, uso.proposal p, (VALUES ('P-1', 4), ('P-2', 2), ('P-3', 5)) v(code, score)
WHERE s.id = r.submission_id AND p.id = s.proposal_id AND p.code = v.code;
SELECT uso.advance_review_workflow(as_of => '2026-03-20 09:00');
SELECT * FROM reviews;
SELECT * FROM subs;
SELECT uso.advance_review_workflow(as_of => '2026-03-20 09:15');
-- the scientific stage: 2 and 3 average 2.5, lower is better: passed
SELECT uso.start_reviews(as_of => '2026-03-20 12:00');
UPDATE uso.review r SET state = 'submitted', score = v.score
FROM uso.reviewer rv, uso.app_user u, (VALUES ('rev2', 2), ('rev3', 3), ('rev4', 3), ('rev1', 3)) v(username, score)
WHERE r.state = 'open' AND rv.id = r.reviewer_id AND u.id = rv.user_id AND u.username = v.username;
SELECT uso.advance_review_workflow(as_of => '2026-04-01 09:00');
SELECT uso.advance_review_workflow(as_of => '2026-04-01 09:15');
SELECT * FROM reviews;
SELECT * FROM subs;
-- a bad setting is a clear error
SELECT uso.remind_reviewers(as_of => '2026-03-25 02:00', config => '{"lead_days": "soon"}');
ROLLBACK;
