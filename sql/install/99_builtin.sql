-- Every task registered by this script is built in: left out of pg_dump and
-- given a negative id, so the ids of user tasks (and of jobs imported from
-- pg_cron, which keep their jobid) never collide with them, also when a dump
-- is restored into a database where CREATE EXTENSION registered them anew.
UPDATE @extschema@.uso_task SET builtin = true, extension = 'uso_tasks', id = -id;
SELECT pg_catalog.setval('@extschema@.uso_task_id_seq', 1, false);
