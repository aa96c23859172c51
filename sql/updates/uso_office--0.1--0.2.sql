-- uso_office 0.1 -> 0.2: the schema delta (what sql/schema/uso_office.sql
-- changed since the uso_tasks 0.1 release).  The update script is generated
-- from it (sql/updates/assemble): this, then the drop of 0.1's code, the code
-- parts of 0.2 (sql/office/), then uso_office--0.1--0.2.post.sql (rows).
-- 0.2 is not released: this delta may still be rewritten.
\echo Use "ALTER EXTENSION uso_office UPDATE" to load this file. \quit
SET LOCAL search_path = pg_catalog, pg_temp;

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

ALTER TABLE uso.review_stage ADD COLUMN reviewer_role text;
ALTER TABLE uso.review_stage ADD CONSTRAINT review_stage_role_check
    CHECK (reviewer_role IS NULL OR (reviewer_role <> '' AND min_reviews = 1));
