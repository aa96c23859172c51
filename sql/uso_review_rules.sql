-- Review rules of issue 17: the due date on the due day (item 1), inactive
-- users get no mail and no reviews, and an open review of a user who became
-- inactive is withdrawn and replaced (item 2), reviews by a role (item 6).
SET TimeZone = 'America/Regina';
\set VERBOSITY terse
-- ids in NOTICE lines start from 1 whatever ran before (the tests roll back their rows)
DO $$ DECLARE s regclass; BEGIN
    FOR s IN SELECT oid FROM pg_class WHERE relnamespace = 'uso'::regnamespace AND relkind = 'S' LOOP
        PERFORM setval(s, 1, false);
    END LOOP;
END $$;
BEGIN;
INSERT INTO uso.app_user (username, first_name, email, roles) VALUES
    ('spoke', 'Sam', 'sam@example.org', '{}'), ('rev1', 'Rita', 'rita@example.org', '{committee}'),
    ('rev2', 'Raj', 'raj@example.org', '{}'), ('rev3', 'Rosa', 'rosa@example.org', '{}'),
    ('chair', 'Cai', 'cai@example.org', '{committee}'), ('gone', 'Gil', 'gil@example.org', '{committee}'),
    ('member', 'Mia', 'mia@example.org', '{committee}');
UPDATE uso.app_user SET active = false WHERE username = 'gone';
INSERT INTO uso.reviewer (user_id) SELECT id FROM uso.app_user WHERE username LIKE 'rev%';
INSERT INTO uso.review_track (acronym, name, require_call) VALUES
    ('T1', 'One technical review', true), ('MAN', 'Assigned by hand', true), ('COM', 'Committee', true);
INSERT INTO uso.review_stage (track_id, position, kind, min_reviews, pass_score, auto_create)
SELECT id, 1, 'technical', 1, 3, true FROM uso.review_track WHERE acronym = 'T1'
UNION ALL SELECT id, 1, 'safety', 1, 3, false FROM uso.review_track WHERE acronym = 'MAN';
INSERT INTO uso.reviewer_track SELECT r.id, t.id FROM uso.reviewer r, uso.review_track t;
INSERT INTO uso.cycle_type (code, name, start_month) VALUES ('R', 'Review rules', 7);
INSERT INTO uso.cycle (cycle_type_id, year, name, open_date, close_date, due_date, alloc_date, start_date, end_date)
SELECT ct.id, 2026, '2026-R', d.open_date, d.close_date, d.due_date, d.alloc_date, d.start_date, d.end_date
FROM uso.cycle_type ct, uso.cycle_dates(ct, 2026) d WHERE ct.code = 'R';
SELECT close_date, due_date FROM uso.cycle WHERE name = '2026-R';
INSERT INTO uso.proposal (code, title, spokesperson_id)
SELECT v.code, v.title, u.id FROM uso.app_user u,
    (VALUES ('D-1', 'Due day'), ('D-2', 'Due day by hand'), ('I-1', 'Inactive reviewer'), ('C-1', 'Committee')) v(code, title)
WHERE u.username = 'spoke';
INSERT INTO uso.proposal_member SELECT p.id, u.id FROM uso.proposal p, uso.app_user u
WHERE p.code = 'C-1' AND u.username = 'member';
CREATE TEMP VIEW reviews AS
SELECT p.code, st.kind, coalesce(u.username, '@' || (to_jsonb(r)->>'role')) AS reviewer, r.state, r.due_date, r.score
FROM uso.review r JOIN uso.submission s ON s.id = r.submission_id JOIN uso.proposal p ON p.id = s.proposal_id
JOIN uso.review_stage st ON st.id = r.stage_id LEFT JOIN uso.reviewer rv ON rv.id = r.reviewer_id
LEFT JOIN uso.app_user u ON u.id = rv.user_id ORDER BY p.code, st.position, r.id;

-- 1. on the cycle's due date (2026-04-15) a new review is due that day, not in two weeks
INSERT INTO uso.submission (proposal_id, track_id, cycle_id)
SELECT p.id, t.id, c.id FROM uso.proposal p, uso.review_track t, uso.cycle c
WHERE c.name = '2026-R' AND (p.code, t.acronym) IN (('D-1', 'T1'), ('D-2', 'MAN'));
-- an administrator assigns D-2's review by hand, without a due date
INSERT INTO uso.review (submission_id, stage_id, reviewer_id)
SELECT s.id, st.id, rv.id FROM uso.submission s JOIN uso.proposal p ON p.id = s.proposal_id
JOIN uso.review_stage st ON st.track_id = s.track_id, uso.reviewer rv JOIN uso.app_user u ON u.id = rv.user_id
WHERE p.code = 'D-2' AND u.username = 'rev3';
SELECT uso.advance_review_workflow(as_of => '2026-04-15 09:00');
SELECT uso.start_reviews(as_of => '2026-04-15 12:00');
SELECT * FROM reviews;
-- the day before, two weeks from today is later than the due date: the due date
UPDATE uso.review SET state = 'pending', due_date = NULL;
SELECT uso.start_reviews(as_of => '2026-04-14 12:00');
SELECT code, due_date FROM reviews;
DELETE FROM uso.review;
DELETE FROM uso.submission;
DELETE FROM uso.notification;

-- 2. inactive users get no mail and no reviews
INSERT INTO uso.submission (proposal_id, track_id, cycle_id)
SELECT p.id, t.id, c.id FROM uso.proposal p, uso.review_track t, uso.cycle c
WHERE c.name = '2026-R' AND p.code = 'I-1' AND t.acronym = 'T1';
SELECT uso.advance_review_workflow(as_of => '2026-03-05 09:00');
SELECT * FROM reviews;
-- the reviewer leaves before StartReviews: the review is not opened, nobody is mailed
UPDATE uso.app_user SET active = false WHERE username = 'rev1';
SELECT uso.start_reviews(as_of => '2026-03-05 12:00');
SELECT count(*) AS mails FROM uso.notification;
-- the next AdvanceReviewWorkflow withdraws it and assigns another active reviewer
SELECT uso.advance_review_workflow(as_of => '2026-03-05 12:15');
SELECT * FROM reviews;
-- a withdrawn review is no started review: the cycle stays in 'assign'
SELECT uso.cycle_state_manager(as_of => '2026-03-05 12:20');
SELECT state FROM uso.cycle WHERE name = '2026-R';
SELECT uso.start_reviews(as_of => '2026-03-05 18:00');
SELECT recipient, subject FROM uso.notification ORDER BY id;
-- the new reviewer leaves with the review open: no reminder, withdrawn and replaced
UPDATE uso.app_user SET active = false WHERE username = 'rev2';
SELECT uso.remind_reviewers(as_of => '2026-03-18 02:00');
SELECT uso.advance_review_workflow(as_of => '2026-03-18 09:00');
SELECT uso.start_reviews(as_of => '2026-03-18 12:00');
SELECT uso.remind_reviewers(as_of => '2026-03-18 13:00');
SELECT * FROM reviews;
-- nobody active is left: the submission waits with a warning, it is not stuck silently
UPDATE uso.app_user SET active = false WHERE username = 'rev3';
SELECT uso.advance_review_workflow(as_of => '2026-03-19 09:00');
SELECT * FROM reviews;
-- a withdrawn review does not count: a new reviewer of the track takes it
-- (a withdrawn reviewer is not asked again for this stage of this submission)
UPDATE uso.app_user SET active = true WHERE username = 'rev1';
INSERT INTO uso.app_user (username, first_name, email) VALUES ('rev4', 'Ron', 'ron@example.org');
INSERT INTO uso.reviewer (user_id) SELECT id FROM uso.app_user WHERE username = 'rev4';
INSERT INTO uso.reviewer_track SELECT r.id, t.id FROM uso.reviewer r JOIN uso.app_user u ON u.id = r.user_id,
    uso.review_track t WHERE u.username = 'rev4' AND t.acronym = 'T1';
SELECT uso.advance_review_workflow(as_of => '2026-03-20 09:00');
UPDATE uso.review SET state = 'submitted', score = 4 WHERE state IN ('pending', 'open');
SELECT uso.advance_review_workflow(as_of => '2026-03-21 09:00');
SELECT * FROM reviews;
DELETE FROM uso.review;
DELETE FROM uso.submission;
DELETE FROM uso.notification;

-- 6. reviews by a role: the committee stage gets ONE review assigned to the role
INSERT INTO uso.review_stage (track_id, position, kind, min_reviews, pass_score, reviewer_role)
SELECT id, 1, 'committee', 1, 3, 'committee' FROM uso.review_track WHERE acronym = 'COM';
-- a role stage takes exactly one review
SAVEPOINT bad;
INSERT INTO uso.review_stage (track_id, position, kind, min_reviews, pass_score, reviewer_role)
SELECT id, 2, 'panel', 2, 3, 'committee' FROM uso.review_track WHERE acronym = 'COM';
ROLLBACK TO bad;
INSERT INTO uso.submission (proposal_id, track_id, cycle_id)
SELECT p.id, t.id, c.id FROM uso.proposal p, uso.review_track t, uso.cycle c
WHERE c.name = '2026-R' AND (p.code, t.acronym) IN (('C-1', 'COM'), ('D-1', 'T1'));
SELECT uso.advance_review_workflow(as_of => '2026-03-05 09:00');
SELECT uso.advance_review_workflow(as_of => '2026-03-05 09:15');
SELECT * FROM reviews;
-- open to every active holder of the role, never to the inactive one or the
-- proposal's team member; rev1 gets ONE mail with both of hers; the committee's
-- review counts once
SELECT uso.start_reviews(as_of => '2026-03-05 12:00');
SELECT recipient, subject, body FROM uso.notification ORDER BY recipient;
SELECT uso.remind_reviewers(as_of => '2026-03-18 02:00');
SELECT recipient, subject FROM uso.notification WHERE kind = 'review-reminder' ORDER BY recipient;
SELECT uso.remind_reviewers(as_of => '2026-03-18 03:00');
-- one holder submits it for the committee; the stage is decided
UPDATE uso.review SET state = 'submitted', score = 5 WHERE role = 'committee';
SELECT uso.advance_review_workflow(as_of => '2026-03-20 09:00');
SELECT * FROM reviews;
-- a review names a reviewer or a role, not both, not neither
SAVEPOINT bad;
INSERT INTO uso.review (submission_id, stage_id, reviewer_id, role)
SELECT s.id, st.id, NULL, NULL FROM uso.submission s JOIN uso.review_stage st ON st.track_id = s.track_id LIMIT 1;
ROLLBACK TO bad;
-- a role nobody active holds is a warning when the review is created
INSERT INTO uso.proposal (code, title, spokesperson_id) SELECT 'C-2', 'Empty panel', id FROM uso.app_user WHERE username = 'spoke';
UPDATE uso.review_stage SET reviewer_role = 'panel' WHERE kind = 'committee';
INSERT INTO uso.submission (proposal_id, track_id, cycle_id)
SELECT p.id, t.id, c.id FROM uso.proposal p, uso.review_track t, uso.cycle c
WHERE c.name = '2026-R' AND p.code = 'C-2' AND t.acronym = 'COM';
SELECT uso.advance_review_workflow(as_of => '2026-03-20 09:15');
SELECT uso.start_reviews(as_of => '2026-03-20 12:00');
ROLLBACK;
