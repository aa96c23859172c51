-- uso_tasks: tasks registered by other extensions (task packs such as
-- uso_office).  A pack's tasks are rows of uso_task, not members of the
-- pack's extension (PostgreSQL records membership of objects, not of rows),
-- so each row says which extension registered it (uso_task.extension), and
-- this event trigger deletes those rows, with their runs and log lines, when
-- that extension is dropped.  Users' tasks (extension NULL) are never touched.

COMMENT ON COLUMN @extschema@.uso_task.extension IS 'The extension that registered the task (uso_tasks, uso_office); DROP EXTENSION deletes its tasks and their history. NULL for users'' tasks.';

CREATE FUNCTION _uso_tasks.uso_extension_dropped() RETURNS event_trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    gone name[];
BEGIN
    SELECT pg_catalog.array_agg(o.object_identity::name) INTO gone
      FROM pg_catalog.pg_event_trigger_dropped_objects() o
     WHERE o.object_type = 'extension' AND o.object_identity <> 'uso_tasks';
    -- DROP EXTENSION uso_tasks takes uso_task itself with it.
    IF gone IS NOT NULL AND pg_catalog.to_regclass('@extschema@.uso_task') IS NOT NULL THEN
        DELETE FROM @extschema@.uso_task WHERE extension = ANY (gone);
    END IF;
END
$$;
COMMENT ON FUNCTION _uso_tasks.uso_extension_dropped() IS
    'Event trigger: deletes the tasks (with their runs and log lines) that a dropped extension registered.';

CREATE EVENT TRIGGER uso_extension_dropped ON sql_drop
    EXECUTE FUNCTION _uso_tasks.uso_extension_dropped();
COMMENT ON EVENT TRIGGER uso_extension_dropped IS
    'Deletes the tasks of a task pack (uso_task.extension) when its extension is dropped.';
