-- uso_tasks 0.1 -> 0.2.  Every schema change after the 0.1 release is made
-- here too, in the same commit as in sql/install/ (test/t/090_upgrade.pl
-- compares an upgraded catalog with a fresh install, object by object).
\echo Use "ALTER EXTENSION uso_tasks UPDATE" to load this file. \quit

-- The USO pack that 0.1 installed (schema uso, its tables, functions and 17
-- tasks) stays, with every row, and becomes extension uso_office: PostgreSQL
-- runs no CREATE EXTENSION inside an extension script, so the utility hook of
-- the library (src/office_adopt.c) does, right after this script, in the
-- same transaction: CREATE EXTENSION uso_office VERSION '0.1' (which moves
-- the pack's objects from uso_tasks to uso_office) and ALTER EXTENSION
-- uso_office UPDATE.  That hook is in the 0.2 library, so the server must
-- run it (be restarted after installing 0.2) before this update: checked
-- first, so that an ALTER run before the restart changes nothing and says so.
DO $$
BEGIN
    EXECUTE $f$CREATE FUNCTION @extschema@.uso_library_version() RETURNS text
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'uso_library_version'$f$;
EXCEPTION WHEN undefined_function THEN
    RAISE EXCEPTION 'the server runs an older uso_tasks library than this update needs'
        USING ERRCODE = 'object_not_in_prerequisite_state',
              HINT = 'Restart PostgreSQL after installing uso_tasks 0.2 (shared_preload_libraries loads the library at start), then run ALTER EXTENSION uso_tasks UPDATE again.';
END
$$;
COMMENT ON FUNCTION @extschema@.uso_library_version() IS
    'The catalog version the loaded uso_tasks library speaks; the scheduler and the API wait for pg_extension.extversion to equal it (ALTER EXTENSION uso_tasks UPDATE).';

-- The hook is there only when the library is preloaded (a library first
-- loaded by this script would come too late to run it after the script).
SELECT @extschema@.uso_assert_preloaded();

-- Commands a task could never run are refused when the task is written
-- (sql/install/20_runtime.sql, 10_api.sql).
CREATE FUNCTION @extschema@.uso_check_command(command text) RETURNS void
    LANGUAGE c STABLE STRICT AS 'MODULE_PATHNAME', 'uso_check_command';
COMMENT ON FUNCTION @extschema@.uso_check_command(text) IS
    'Raises 22023 when a task could not run this command: transaction control, or a statement that cannot run in a transaction block (VACUUM, CREATE DATABASE, ...) among others. A command that does not parse passes.';

CREATE OR REPLACE FUNCTION @extschema@.uso_task_check() RETURNS trigger
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ins        constant boolean := TG_OP = 'INSERT';
    is_super   boolean;
    can_login  boolean;
    allow_conn boolean;
BEGIN
    -- Columns named in an UPDATE but not changed (uso_alter_task sets them
    -- all): nothing to check.
    IF NOT ins AND
       (NEW.name, NEW.description, NEW.category, NEW.schedule, NEW.command,
        NEW.config, NEW.database, NEW.username, NEW.enabled, NEW.timezone,
        NEW.timeout, NEW.max_retries, NEW.retry_delay, NEW.retry_after,
        NEW.keep_runs, NEW.overlap, NEW.misfire)
       IS NOT DISTINCT FROM
       (OLD.name, OLD.description, OLD.category, OLD.schedule, OLD.command,
        OLD.config, OLD.database, OLD.username, OLD.enabled, OLD.timezone,
        OLD.timeout, OLD.max_retries, OLD.retry_delay, OLD.retry_after,
        OLD.keep_runs, OLD.overlap, OLD.misfire) THEN
        RETURN NEW;
    END IF;

    -- name: shown on admin pages and used as a key by every function.
    IF NEW.name IS NULL THEN
        RAISE EXCEPTION 'task name must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    ELSIF NEW.name = '' THEN
        RAISE EXCEPTION 'task name must not be empty' USING ERRCODE = 'invalid_parameter_value';
    ELSIF length(NEW.name) > 200 THEN
        RAISE EXCEPTION 'task name is too long'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('It has %s characters; at most 200 are allowed.', length(NEW.name));
    ELSIF NEW.name ~ '[[:cntrl:]]' THEN
        RAISE EXCEPTION 'task name must not contain control characters'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    IF NEW.description IS NOT NULL AND length(NEW.description) > 10000 THEN
        RAISE EXCEPTION 'description is too long'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'At most 10000 characters are allowed.';
    END IF;
    IF NEW.category IS NOT NULL AND (length(NEW.category) > 200 OR NEW.category ~ '[[:cntrl:]]') THEN
        RAISE EXCEPTION 'category must be at most 200 characters without control characters'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- schedule: the grammar lives in C (05_schedule.sql); only re-parse on change.
    IF NEW.schedule IS NULL THEN
        RAISE EXCEPTION 'schedule must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    ELSIF ins OR NEW.schedule IS DISTINCT FROM OLD.schedule THEN
        PERFORM @extschema@.uso_validate_schedule(NEW.schedule);
    END IF;

    IF NEW.command IS NULL THEN
        RAISE EXCEPTION 'command must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    ELSIF btrim(NEW.command, E' \t\r\n\f\v') = '' THEN
        RAISE EXCEPTION 'command must not be empty' USING ERRCODE = 'invalid_parameter_value';
    ELSIF octet_length(NEW.command) > 1048576 THEN
        RAISE EXCEPTION 'command is too long'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'At most 1 MB is allowed; put long code into a function and call it.';
    END IF;
    PERFORM @extschema@.uso_check_command(NEW.command) WHERE ins OR NEW.command IS DISTINCT FROM OLD.command;

    IF NEW.config IS NULL THEN
        RAISE EXCEPTION 'config must not be NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Use ''{}'' for a task without settings.';
    ELSIF jsonb_typeof(NEW.config) <> 'object' THEN
        RAISE EXCEPTION 'config must be a JSON object, not %', jsonb_typeof(NEW.config)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    IF NEW.enabled IS NULL THEN
        RAISE EXCEPTION 'enabled must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;

    -- '' means "the default" (uso_tasks.timezone), as NULL does; names are
    -- stored canonical so the scheduler never has to guess.
    IF NEW.timezone = '' THEN
        NEW.timezone := NULL;
    ELSIF NEW.timezone IS NOT NULL AND (ins OR NEW.timezone IS DISTINCT FROM OLD.timezone) THEN
        NEW.timezone := @extschema@.uso_validate_timezone(NEW.timezone);
    END IF;

    -- Intervals: bounds a DBA would still call sane (docs/api.md).
    IF NEW.timeout < interval '0' THEN
        RAISE EXCEPTION 'timeout must not be negative' USING ERRCODE = 'invalid_parameter_value';
    ELSIF NEW.timeout > interval '7 days' THEN
        RAISE EXCEPTION 'timeout must be at most 7 days'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Use 0 for no limit.';
    END IF;
    IF NEW.max_retries IS NULL THEN
        RAISE EXCEPTION 'max_retries must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    ELSIF NEW.max_retries NOT BETWEEN 0 AND 100 THEN
        RAISE EXCEPTION 'max_retries must be between 0 and 100' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NEW.retry_delay IS NULL THEN
        RAISE EXCEPTION 'retry_delay must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    ELSIF NEW.retry_delay < interval '0' OR NEW.retry_delay > interval '1 day' THEN
        RAISE EXCEPTION 'retry_delay must be between 0 and 1 day' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NEW.retry_after IS NULL THEN
        RAISE EXCEPTION 'retry_after must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    ELSIF NEW.retry_after <= interval '0' OR NEW.retry_after > interval '366 days' THEN
        RAISE EXCEPTION 'retry_after must be positive and at most 366 days' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NEW.keep_runs IS NULL THEN
        RAISE EXCEPTION 'keep_runs must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    ELSIF NEW.keep_runs NOT BETWEEN 1 AND 1000000 THEN
        RAISE EXCEPTION 'keep_runs must be between 1 and 1000000' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NEW.overlap IS NULL THEN
        RAISE EXCEPTION 'overlap must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    ELSIF NEW.overlap NOT IN ('skip', 'queue', 'parallel') THEN
        RAISE EXCEPTION 'overlap must be skip, queue or parallel, not "%"', left(NEW.overlap, 40)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NEW.misfire IS NULL THEN
        RAISE EXCEPTION 'misfire must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    ELSIF NEW.misfire NOT IN ('run_once', 'skip') THEN
        RAISE EXCEPTION 'misfire must be run_once or skip, not "%"', left(NEW.misfire, 40)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- Owner and database: who the worker connects as, and where.
    IF NEW.username IS NULL THEN
        RAISE EXCEPTION 'username must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NEW.database IS NULL THEN
        RAISE EXCEPTION 'database must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF ins OR NEW.username IS DISTINCT FROM OLD.username OR NEW.database IS DISTINCT FROM OLD.database THEN
        SELECT r.rolsuper INTO is_super FROM pg_roles r WHERE r.rolname = current_user;
        IF NEW.username <> current_user AND NOT coalesce(is_super, false)
           AND (ins OR NEW.username IS DISTINCT FROM OLD.username) THEN
            IF ins THEN
                RAISE EXCEPTION 'must be superuser to create a task for another role'
                    USING ERRCODE = 'insufficient_privilege',
                          DETAIL = format('The task would run as role "%s"; you are "%s".', NEW.username, current_user);
            ELSE
                RAISE EXCEPTION 'must be superuser to change the role a task runs as'
                    USING ERRCODE = 'insufficient_privilege',
                          DETAIL = format('The task would run as role "%s"; you are "%s".', NEW.username, current_user);
            END IF;
        END IF;

        SELECT r.rolcanlogin INTO can_login FROM pg_roles r WHERE r.rolname = NEW.username;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'role "%" does not exist', NEW.username USING ERRCODE = 'undefined_object';
        ELSIF NOT can_login THEN
            RAISE EXCEPTION 'role "%" cannot log in', NEW.username
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'A task runs in a background worker connected as its role, and on PostgreSQL 15 '
                               'a background worker can only connect as a role with LOGIN.',
                      HINT = format('ALTER ROLE %I LOGIN, or schedule the task for a role that has LOGIN.', NEW.username);
        END IF;

        SELECT d.datallowconn INTO allow_conn FROM pg_database d WHERE d.datname = NEW.database;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'database "%" does not exist', NEW.database USING ERRCODE = 'invalid_catalog_name';
        ELSIF NOT allow_conn THEN
            RAISE EXCEPTION 'database "%" does not allow connections', NEW.database
                USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
        -- Both the caller and the role the task runs as must be able to connect.
        IF NOT has_database_privilege(current_user, NEW.database, 'CONNECT') THEN
            RAISE EXCEPTION 'permission denied for database "%"', NEW.database
                USING ERRCODE = 'insufficient_privilege',
                      DETAIL = format('Role "%s" does not have CONNECT privilege on it.', current_user);
        ELSIF NOT has_database_privilege(NEW.username, NEW.database, 'CONNECT') THEN
            RAISE EXCEPTION 'permission denied for database "%"', NEW.database
                USING ERRCODE = 'insufficient_privilege',
                      DETAIL = format('Role "%s", which the task runs as, does not have CONNECT privilege on it.', NEW.username);
        END IF;
    END IF;

    -- When it runs next: stored so views and the scheduler agree.
    IF ins OR NEW.schedule IS DISTINCT FROM OLD.schedule OR NEW.timezone IS DISTINCT FROM OLD.timezone
       OR NEW.enabled IS DISTINCT FROM OLD.enabled THEN
        IF NEW.enabled THEN
            -- A NULL time zone is resolved by the grammar (uso_tasks.timezone
            -- or the default), the same way the scheduler resolves it.
            NEW.next_run_at := @extschema@.uso_schedule_next(NEW.schedule, now(), NEW.last_run_at,
                                                             NEW.timezone);
        ELSE
            NEW.next_run_at := NULL;
        END IF;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION @extschema@.uso_task_check() IS
    'Trigger: validates a new or changed uso_task row (schedule, time zone, role, database, limits) and computes next_run_at.';

-- Two extensions from one repository (0.2): the engine registers only
-- uso_housekeeping; the USO pack is extension uso_office.  Each task row says
-- which extension registered it (00_catalog.sql, 90_packs.sql).
ALTER TABLE @extschema@.uso_task ADD COLUMN extension name;
COMMENT ON COLUMN @extschema@.uso_task.extension IS 'The extension that registered the task (uso_tasks, uso_office); DROP EXTENSION deletes its tasks and their history. NULL for users'' tasks.';
UPDATE @extschema@.uso_task SET extension = 'uso_tasks' WHERE builtin AND name = 'uso_housekeeping';

CREATE FUNCTION @extschema@.uso_extension_dropped() RETURNS event_trigger
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
COMMENT ON FUNCTION @extschema@.uso_extension_dropped() IS
    'Event trigger: deletes the tasks (with their runs and log lines) that a dropped extension registered.';

CREATE EVENT TRIGGER uso_extension_dropped ON sql_drop
    EXECUTE FUNCTION @extschema@.uso_extension_dropped();
COMMENT ON EVENT TRIGGER uso_extension_dropped IS
    'Deletes the tasks of a task pack (uso_task.extension) when its extension is dropped.';
