-- uso_tasks: a task that names another database is bound to that database's
-- OID, not to its name (issue 21 part 3).  A name can be taken over: after
-- DROP DATABASE, any role with CREATEDB may create a database of that name,
-- with its own functions, and a task bound to the name would run in it as
-- its owner.  After ALTER DATABASE ... RENAME the task follows the database
-- it was scheduled in.  The column is in sql/schema/uso_tasks.sql; the
-- scheduler joins pg_database on it (src/sched_store.c), the admin view
-- (97) shows the database's name now and status missing when it is gone.

COMMENT ON COLUMN @extschema@.uso_task.database_oid IS 'For a task whose database names another database: the OID of that database when the name was written (the task runs there, also after a rename; a database dropped and created again under the name is another one, and the task does not run in it); NULL when database is NULL. Written by the uso_task_validate_database trigger only.';

-- After uso_task_validate (triggers fire in name order), which has checked
-- that the named database exists and may be connected to, and stored NULL
-- for this database.  A write that leaves database as it was keeps the
-- binding, so an edit of another setting (by the owner or an admin) never
-- moves the task into a database that took the name over: only writing
-- another database, or scheduling the task anew, binds it again.  pg_dump
-- restores rows with INSERTs, which bind anew by name in the new cluster.
CREATE FUNCTION _uso_tasks.uso_task_bind_database() RETURNS trigger
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.database IS NULL THEN
        NEW.database_oid := NULL;
    ELSIF TG_OP = 'INSERT' OR NEW.database IS DISTINCT FROM OLD.database THEN
        NEW.database_oid := (SELECT d.oid FROM pg_catalog.pg_database d
                              WHERE d.datname OPERATOR(pg_catalog.=) NEW.database);
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION _uso_tasks.uso_task_bind_database() IS
    'Trigger: binds a task that names another database to that database''s OID (database_oid) when the name is written; other writes keep the binding.';

CREATE TRIGGER uso_task_validate_database
    BEFORE INSERT OR UPDATE OF database ON @extschema@.uso_task
    FOR EACH ROW EXECUTE FUNCTION _uso_tasks.uso_task_bind_database();
COMMENT ON TRIGGER uso_task_validate_database ON @extschema@.uso_task IS
    'Keeps database_oid with database (uso_task_bind_database); fires after uso_task_validate.';
