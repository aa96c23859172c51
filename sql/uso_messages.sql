-- Per-item warnings of the USO tasks speak the admin's language (issue
-- 15.3): what is wrong with the item, never a constraint name.
SET client_min_messages = warning;
SELECT uso.item_problem('23514', 'new row for relation "app_user" violates check constraint "app_user_email_check"',
                        'app_user_email_check', NULL, 'app_user') AS email,
       uso.item_problem('23514', 'x', 'some_new_check', NULL, 'review_stage') AS unknown_rule,
       uso.item_problem('23502', 'x', NULL, 'spokesperson_id', 'project') AS missing,
       uso.item_problem('23505', 'x', 'app_user_username_key', NULL, 'app_user',
                        'Key (username)=(frank) already exists.') AS taken,
       uso.item_problem('23503', 'x', 'project_cycle_id_fkey', NULL, 'project',
                        'Key (cycle_id)=(99) is not present in table "cycle".') AS dangling,
       uso.item_problem('22007', 'invalid input syntax for type date: "soon"') AS other,
       -- a task's own error (no constraint behind it) keeps its words
       uso.item_problem('23514', 'cycle 2026-BAD would have its dates out of order', '', '', '', '') AS own;

-- a real violation, caught the way the tasks catch it
DO $$
BEGIN
    INSERT INTO uso.app_user (username, first_name, last_name, email) VALUES ('jdoe', 'J', 'Doe', 'x');
EXCEPTION WHEN OTHERS THEN
    DECLARE c text; col text; tbl text; det text;
    BEGIN
        GET STACKED DIAGNOSTICS c = CONSTRAINT_NAME, col = COLUMN_NAME, tbl = TABLE_NAME, det = PG_EXCEPTION_DETAIL;
        RAISE WARNING 'user ''jdoe'': %, skipped', uso.item_problem(SQLSTATE, SQLERRM, c, col, tbl, det);
    END;
END
$$;

-- no per-item warning of the pack quotes SQLERRM without item_problem
SELECT p.proname AS raw_sqlerrm_in
FROM pg_proc p
WHERE p.pronamespace = 'uso'::regnamespace
  AND p.prosrc ~ 'RAISE WARNING[^;]*SQLERRM\s*\)?;'
  AND p.proname NOT IN ('deliver_notifications')
ORDER BY 1;
