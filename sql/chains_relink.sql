-- Issue 21 part 6: a follower whose task was deleted is missing; a write
-- for another reason relinks it to the task that has the name now only when
-- the follower's owner can see that task.  Before the fix an admin's edit
-- of alice's missing follower linked it to bob's new task of that name
-- (her task then ran after his runs and saw their ids).
SET client_min_messages = warning;
CREATE ROLE relink_alice LOGIN;
CREATE ROLE relink_bob LOGIN;
CREATE ROLE relink_admin LOGIN IN ROLE uso_admin;
SET ROLE relink_alice;
SELECT uso_schedule('relink_src', '@manual', 'SELECT 1') > 0 AS created;
SELECT uso_schedule('relink_follower', 'after relink_src', 'SELECT 1') > 0 AS created;
SELECT uso_unschedule('relink_src');
RESET ROLE;
SELECT follows_task_id IS NULL AS missing FROM uso_task WHERE name = 'relink_follower';
-- bob takes the name; an admin edits alice's follower.
SET ROLE relink_bob;
SELECT uso_schedule('relink_src', '@manual', 'SELECT 2') > 0 AS created;
RESET ROLE;
SET ROLE relink_admin;
SELECT uso_alter_task('relink_follower', description => 'edited by an admin');
RESET ROLE;
SELECT t.description, t.follows_task_id IS NULL AS still_missing
FROM uso_task t WHERE t.name = 'relink_follower';
-- A task of that name that alice can see (her own) is followed again.
DELETE FROM uso_task WHERE name = 'relink_src';
SET ROLE relink_alice;
SELECT uso_schedule('relink_src', '@manual', 'SELECT 3') > 0 AS created;
RESET ROLE;
SET ROLE relink_admin;
SELECT uso_alter_task('relink_follower', description => 'edited again');
RESET ROLE;
SELECT p.username AS follows_task_of
FROM uso_task t JOIN uso_task p ON p.id = t.follows_task_id WHERE t.name = 'relink_follower';
DELETE FROM uso_task WHERE name IN ('relink_src', 'relink_follower');
DROP ROLE relink_alice, relink_bob, relink_admin;
