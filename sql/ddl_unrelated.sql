-- Issue 21 part 6: unrelated DDL never fails because of uso_tasks.  After
-- the README's REVOKE ... ON uso_task FROM PUBLIC, a non-superuser's DROP
-- EXTENSION or DROP SCHEMA ... CASCADE (of an extension of hers) failed with
-- "permission denied for table uso_task": the sql_drop event trigger deleted
-- the dropped extension's tasks as the invoker.  All in one transaction,
-- rolled back, so the grants of the other tests stay as they are.
BEGIN;
REVOKE INSERT, UPDATE, DELETE ON uso_task FROM PUBLIC;
CREATE ROLE ddl_plain;
DO $$ BEGIN EXECUTE format('GRANT CREATE ON DATABASE %I TO ddl_plain', current_database()); END $$;
SET ROLE ddl_plain;
CREATE SCHEMA ddl_plain_s;
CREATE EXTENSION hstore SCHEMA ddl_plain_s;
DROP EXTENSION hstore;
SELECT count(*) AS left_over FROM pg_extension WHERE extname = 'hstore';
RESET ROLE;
ROLLBACK;
BEGIN;
REVOKE INSERT, UPDATE, DELETE ON uso_task FROM PUBLIC;
CREATE ROLE ddl_plain;
DO $$ BEGIN EXECUTE format('GRANT CREATE ON DATABASE %I TO ddl_plain', current_database()); END $$;
SET ROLE ddl_plain;
CREATE SCHEMA ddl_plain_s;
CREATE EXTENSION hstore SCHEMA ddl_plain_s;
DROP SCHEMA ddl_plain_s CASCADE;
SELECT count(*) AS left_over FROM pg_extension WHERE extname = 'hstore';
RESET ROLE;
-- The pack's tasks still go with the pack (the trigger still works).
SELECT count(*) > 0 AS pack_tasks FROM uso_task WHERE extension = 'uso_office';
DROP EXTENSION uso_office;
SELECT count(*) AS pack_tasks_left FROM uso_task WHERE extension = 'uso_office';
ROLLBACK;
SELECT count(*) > 0 AS pack_back FROM uso_task WHERE extension = 'uso_office';
