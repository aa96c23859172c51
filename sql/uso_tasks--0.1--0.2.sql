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


------------------------------------------------------------------------------
-- Security (issue 9), grammar checks (issues 13, 15): a task created without
-- a database belongs to the database it is stored in (NULL), also after a
-- restore under another name.
ALTER TABLE @extschema@.uso_task ALTER COLUMN database DROP NOT NULL;
ALTER TABLE @extschema@.uso_task ALTER COLUMN database DROP DEFAULT;
COMMENT ON COLUMN @extschema@.uso_task.database IS 'Database the command runs in; NULL (the default, and what naming this database stores) means the database the task is stored in, also after a restore under another name.';

------------------------------------------------------------------------------
-- Performance (issue 14): uso_task_run's five SQL check constraints become
-- one C call (src/run_check.c); every write compiled the SQL ones again.
CREATE FUNCTION @extschema@.uso_run_row_ok(text, text, integer, real, timestamptz) RETURNS boolean
    LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'uso_run_row_ok';
COMMENT ON FUNCTION @extschema@.uso_run_row_ok(text, text, integer, real, timestamptz) IS
    'Internal: the check constraint of uso_task_run (trigger, status, attempt, progress, finished_at).';
ALTER TABLE @extschema@.uso_task_run
    DROP CONSTRAINT uso_task_run_trigger_check,
    DROP CONSTRAINT uso_task_run_status_check,
    DROP CONSTRAINT uso_task_run_attempt_check,
    DROP CONSTRAINT uso_task_run_progress_check,
    DROP CONSTRAINT uso_task_run_finished_check,
    ADD CONSTRAINT uso_task_run_row_check
        CHECK (@extschema@.uso_run_row_ok(trigger, status, attempt, progress, finished_at));

-- Functions new in 0.2.
CREATE OR REPLACE FUNCTION @extschema@.uso_shorten(value text, max_chars integer DEFAULT 100) RETURNS text
    LANGUAGE sql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT CASE WHEN length(value) <= max_chars THEN value
                      ELSE left(value, max_chars) || '...' END $$;

COMMENT ON FUNCTION @extschema@.uso_shorten(text, integer) IS
    'The value cut to max_chars characters with "..." added when longer: how error messages quote a value.';

CREATE OR REPLACE FUNCTION @extschema@.uso_check_label(what text, value text) RETURNS void
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    -- Outside UTF8 those code points cannot be stored at all.
    utf8 constant boolean := getdatabaseencoding() = 'UTF8';
    pos  integer;
    kind text;
BEGIN
    IF value IS NULL THEN
        RETURN;
    END IF;
    pos := regexp_instr(value, '[[:cntrl:]]');
    kind := 'control characters';
    IF pos = 0 AND utf8 THEN
        -- embeddings and overrides (U+202A-U+202E), isolates (U+2066-U+2069),
        -- and the invisible direction marks (U+200E, U+200F, U+061C)
        pos := regexp_instr(value, E'[\\u202A-\\u202E\\u2066-\\u2069\\u200E\\u200F\\u061C]');
        kind := 'bidirectional control characters';
        IF pos = 0 THEN
            pos := regexp_instr(value, E'[\\u200B-\\u200D\\u2060\\uFEFF]');
            kind := 'zero-width characters';
        END IF;
    END IF;
    IF pos > 0 THEN
        RAISE EXCEPTION '% must not contain %', what, kind
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('Character U+%s at position %s.',
                                  upper(lpad(to_hex(ascii(substr(value, pos, 1))), 4, '0')), pos),
                  HINT = 'Names and categories are shown on admin pages and in logs, where such characters '
                         'hide or reorder text.';
    END IF;
END
$$;

COMMENT ON FUNCTION @extschema@.uso_check_label(text, text) IS
    'Raises 22023 when a task name or category contains control, bidirectional control or zero-width characters (naming the first and its position).';

CREATE OR REPLACE FUNCTION @extschema@.uso_schedule_never_fires(schedule text)
    RETURNS text
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'uso_schedule_never_fires';

COMMENT ON FUNCTION @extschema@.uso_schedule_never_fires(text) IS
'NULL when the schedule can fire, else why it never will (''February has no 30th'' for '
'''0 0 30 2 *''). @reboot and @manual give NULL: they are not meant to fire by the clock. '
'Raises 22023 for an invalid schedule.';

CREATE OR REPLACE FUNCTION @extschema@.uso_timezone_warning(tz text)
    RETURNS text
    LANGUAGE c STABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'uso_timezone_warning';

COMMENT ON FUNCTION @extschema@.uso_timezone_warning(text) IS
'NULL, or a warning for a time zone name that does not mean what it seems to: a POSIX-style '
'specification such as ''CET+1'' (UTC-01:00, because in POSIX rules + lies west of Greenwich) or '
'an Etc/GMT+N zone (same sign). The text says what the zone means and suggests an IANA name. '
'Raises 22023 for a name the server does not know.';

CREATE OR REPLACE FUNCTION @extschema@.uso_validate_cron_schedule(schedule text)
    RETURNS void
    LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'uso_validate_cron_schedule';

COMMENT ON FUNCTION @extschema@.uso_validate_cron_schedule(text) IS
'Raises 22023 naming the bad part unless pg_cron 1.6 accepts the schedule: 5-field cron with '
'pg_cron''s limits, its lower-case @ keywords (@restart too) and ''N seconds'' (1-59); 22004 for '
'NULL. Everything it accepts, uso_validate_schedule accepts with the same meaning. For the '
'pg_cron layer (cron.schedule, cron.alter_job); docs/cron.md lists what pg_cron accepts and '
'uso_tasks refuses on purpose.';

CREATE OR REPLACE FUNCTION @extschema@.uso_refuse_never_firing(schedule text) RETURNS void
LANGUAGE plpgsql STABLE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    why constant text := @extschema@.uso_schedule_never_fires(schedule);
BEGIN
    IF why IS NOT NULL THEN
        RAISE EXCEPTION 'schedule "%" never fires: %', @extschema@.uso_shorten(schedule), why
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use a day every month named has, or $ for the last day of the month.';
    END IF;
END
$$;

COMMENT ON FUNCTION @extschema@.uso_refuse_never_firing(text) IS
    'Internal (uso_schedule, uso_alter_task): 22023 for a schedule that can never fire, naming why.';

CREATE OR REPLACE FUNCTION @extschema@.uso_cron_may_call(func text) RETURNS boolean
LANGUAGE sql STABLE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce((SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user), false)
        OR EXISTS (SELECT FROM pg_proc p
                   JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
                   JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'uso_tasks'
                   WHERE p.oid = to_regprocedure(func)
                     AND has_function_privilege(current_user, p.oid, 'EXECUTE')
                     AND has_schema_privilege(current_user, p.pronamespace, 'USAGE'))
$$;

COMMENT ON FUNCTION @extschema@.uso_cron_may_call(text) IS
    'Internal (pg_cron layer): whether the current role may call this cron.* function of uso_tasks (EXECUTE and USAGE on schema cron), or is superuser.';

-- Functions changed since 0.1 (their current text).
CREATE OR REPLACE FUNCTION @extschema@.uso_task_check() RETURNS trigger
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ins        constant boolean := TG_OP = 'INSERT';
    is_super   boolean;
    can_login  boolean;
    allow_conn boolean;
    what       text;
    db         name;
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

    -- database: NULL means the database this row is stored in, whatever it
    -- is called: a task created here keeps running here after pg_dump and a
    -- restore under another name.  Naming this database is the same thing.
    -- Another database stays named.
    IF NEW.database = current_database() THEN
        NEW.database := NULL;
    END IF;
    db := coalesce(NEW.database, current_database());

    -- Who may change what the task executes and as whom: checked first,
    -- before anything about the values.  The owner role, a role that may SET
    -- ROLE to it (PostgreSQL's own membership rule: such a role could do it
    -- as the owner anyway) or a superuser.  Not every uso_admin member:
    -- built-in tasks run as the superuser who installed the extension, and
    -- an admin who rewrote one and ran it would be superuser.
    IF NEW.username IS NULL THEN
        RAISE EXCEPTION 'username must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT r.rolsuper INTO is_super FROM pg_roles r WHERE r.rolname = current_user;
    is_super := coalesce(is_super, false);
    IF NOT ins AND NOT is_super THEN
        what := CASE WHEN NEW.command IS DISTINCT FROM OLD.command THEN 'command'
                     WHEN NEW.config IS DISTINCT FROM OLD.config THEN 'config'
                     WHEN db IS DISTINCT FROM coalesce(OLD.database, current_database()) THEN 'database'
                     WHEN NEW.username IS DISTINCT FROM OLD.username THEN 'owner (username)' END;
        IF what IS NOT NULL
           AND NOT EXISTS (SELECT FROM pg_roles r WHERE r.rolname = OLD.username
                           AND pg_has_role(current_user, r.oid, 'MEMBER')) THEN
            RAISE EXCEPTION 'only the owner of task "%" (role "%") or a superuser may change its %',
                            @extschema@.uso_shorten(OLD.name), OLD.username, what
                USING ERRCODE = 'insufficient_privilege',
                      DETAIL = format('You are role "%s", which may not SET ROLE to "%s". Members of uso_admin '
                                      'may run, cancel, enable, disable and reschedule every task, but not change '
                                      'what it executes (command, config, database) or as whom (username).',
                                      current_user, OLD.username),
                      HINT = format('Ask role "%s" or a superuser to make this change.', OLD.username);
        END IF;
    END IF;
    IF (ins OR NEW.username IS DISTINCT FROM OLD.username) AND NOT is_super
       AND NOT EXISTS (SELECT FROM pg_roles r WHERE r.rolname = NEW.username
                       AND pg_has_role(current_user, r.oid, 'MEMBER')) THEN
        RAISE EXCEPTION 'must be a member of role "%" to make a task run as it', NEW.username
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('The task would run as role "%s"; you are "%s". Only that role, a role that '
                                  'may SET ROLE to it, or a superuser may make a task run as it.',
                                  NEW.username, current_user);
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
    ELSIF NEW.name ~ (CASE WHEN getdatabaseencoding() = 'UTF8'
                           THEN E'^[[:space:]\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]*$'
                           ELSE '^[[:space:]]*$' END) THEN
        RAISE EXCEPTION 'task name must not be blank'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'It has only white space.';
    END IF;
    PERFORM @extschema@.uso_check_label('task name', NEW.name);

    IF NEW.description IS NOT NULL AND length(NEW.description) > 10000 THEN
        RAISE EXCEPTION 'description is too long'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'At most 10000 characters are allowed.';
    END IF;
    IF length(NEW.category) > 200 THEN
        RAISE EXCEPTION 'category is too long'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('It has %s characters; at most 200 are allowed.', length(NEW.category));
    END IF;
    PERFORM @extschema@.uso_check_label('category', NEW.category);

    -- schedule: the grammar lives in C (05_schedule.sql); only re-parse on change.
    IF NEW.schedule IS NULL THEN
        RAISE EXCEPTION 'schedule must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    ELSIF ins OR NEW.schedule IS DISTINCT FROM OLD.schedule THEN
        PERFORM @extschema@.uso_validate_schedule(NEW.schedule);
        -- uso_schedule and uso_alter_task refuse these; pg_cron accepts them,
        -- so its layer and direct writes get a warning.
        IF @extschema@.uso_schedule_never_fires(NEW.schedule) IS NOT NULL THEN
            RAISE WARNING 'schedule "%" never fires: %', @extschema@.uso_shorten(NEW.schedule),
                @extschema@.uso_schedule_never_fires(NEW.schedule);
        END IF;
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
        IF @extschema@.uso_timezone_warning(NEW.timezone) IS NOT NULL THEN
            RAISE WARNING '%', @extschema@.uso_timezone_warning(NEW.timezone);
        END IF;
        NEW.timezone := @extschema@.uso_validate_timezone(NEW.timezone);
    END IF;

    -- Intervals: bounds a DBA would still call sane (docs/api.md).
    IF NEW.timeout < interval '0' THEN
        RAISE EXCEPTION 'timeout must not be negative' USING ERRCODE = 'invalid_parameter_value';
    ELSIF NEW.timeout > interval '0' AND NEW.timeout < interval '1 millisecond' THEN
        -- statement_timeout counts whole milliseconds: less would be 0, no limit.
        RAISE EXCEPTION 'timeout must be 0 (no limit) or at least 1 millisecond, not %', NEW.timeout
            USING ERRCODE = 'invalid_parameter_value';
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

    -- Owner and database: who the worker connects as, and where (who may
    -- change them is checked at the top).
    IF ins OR NEW.username IS DISTINCT FROM OLD.username
       OR db IS DISTINCT FROM coalesce(OLD.database, current_database()) THEN
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

        SELECT d.datallowconn INTO allow_conn FROM pg_database d WHERE d.datname = db;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'database "%" does not exist', db USING ERRCODE = 'invalid_catalog_name';
        ELSIF NOT allow_conn THEN
            RAISE EXCEPTION 'database "%" does not allow connections', db
                USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
        -- Both the caller and the role the task runs as must be able to connect.
        IF NOT has_database_privilege(current_user, db, 'CONNECT') THEN
            RAISE EXCEPTION 'permission denied for database "%"', db
                USING ERRCODE = 'insufficient_privilege',
                      DETAIL = format('Role "%s" does not have CONNECT privilege on it.', current_user);
        ELSIF NOT has_database_privilege(NEW.username, db, 'CONNECT') THEN
            RAISE EXCEPTION 'permission denied for database "%"', db
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

CREATE OR REPLACE FUNCTION @extschema@.uso_task_id_by_name(name text, for_update boolean DEFAULT false)
RETURNS bigint
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    task_id bigint;
BEGIN
    IF uso_task_id_by_name.name IS NULL THEN
        RAISE EXCEPTION 'task name must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF for_update THEN
        SELECT t.id INTO task_id FROM @extschema@.uso_task t WHERE t.name = uso_task_id_by_name.name FOR UPDATE;
    ELSE
        SELECT t.id INTO task_id FROM @extschema@.uso_task t WHERE t.name = uso_task_id_by_name.name;
    END IF;
    IF task_id IS NULL THEN
        RAISE EXCEPTION 'task "%" does not exist', @extschema@.uso_shorten(uso_task_id_by_name.name) USING ERRCODE = 'undefined_object';
    END IF;
    RETURN task_id;
END
$$;

COMMENT ON FUNCTION @extschema@.uso_task_id_by_name(text, boolean) IS
    'The id of the named task, if the caller may see it; error 42704 otherwise.';

-- 0.2 adds alert_mail_to and record_runs (issue 12): a new signature.
DROP FUNCTION @extschema@.uso_schedule(text, text, text, text, text, jsonb, text, text, boolean,
    text, interval, integer, interval, interval, integer, text, text);

DROP FUNCTION @extschema@.uso_alter_task(text, text, text, text, text, jsonb, text, text, boolean,
    text, interval, integer, interval, interval, integer, text, text, text);

CREATE OR REPLACE FUNCTION @extschema@.uso_cron_check_schedule(schedule text) RETURNS void
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    why text;
BEGIN
    -- pg_cron's grammar exactly (docs/cron.md lists what we refuse on purpose).
    PERFORM @extschema@.uso_validate_cron_schedule(schedule);
EXCEPTION WHEN invalid_parameter_value THEN
    GET STACKED DIAGNOSTICS why = MESSAGE_TEXT;
    RAISE EXCEPTION 'invalid schedule: %', @extschema@.uso_shorten(schedule)
        USING ERRCODE = 'invalid_parameter_value', DETAIL = why,
              HINT = 'Use cron format (e.g. 5 4 * * *), or interval format ''[1-59] seconds''';
END
$$;

COMMENT ON FUNCTION @extschema@.uso_cron_check_schedule(text) IS
    'Internal (pg_cron layer): raises pg_cron''s "invalid schedule" error for a schedule uso_tasks cannot parse.';

CREATE OR REPLACE FUNCTION @extschema@.uso_cron_check_role(username text) RETURNS void
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    can_login boolean;
BEGIN
    SELECT r.rolcanlogin INTO can_login FROM pg_roles r WHERE r.rolname = username;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'role "%" does not exist', @extschema@.uso_shorten(username)
            USING ERRCODE = 'undefined_object';
    ELSIF NOT can_login THEN
        RAISE EXCEPTION 'role "%" can not log in', username
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Jobs may only be run by roles that have the LOGIN attribute.';
    END IF;
END
$$;

COMMENT ON FUNCTION @extschema@.uso_cron_check_role(text) IS
    'Internal (pg_cron layer): the role must exist and have LOGIN, with pg_cron''s messages.';

CREATE OR REPLACE FUNCTION @extschema@.uso_cron_check_database(database text, username text) RETURNS void
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_database d WHERE d.datname = database) THEN
        RAISE EXCEPTION 'database "%" does not exist', @extschema@.uso_shorten(database)
            USING ERRCODE = 'invalid_catalog_name';
    END IF;
    IF NOT has_database_privilege(username, database, 'CONNECT') THEN
        RAISE EXCEPTION 'User % does not have CONNECT privilege on %', username, database
            USING ERRCODE = 'insufficient_privilege';
    END IF;
END
$$;

COMMENT ON FUNCTION @extschema@.uso_cron_check_database(text, text) IS
    'Internal (pg_cron layer): the database must exist and the job''s role must have CONNECT on it.';

CREATE OR REPLACE FUNCTION @extschema@.uso_install_cron_compat() RETURNS void
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $install$
DECLARE
    obj record;
BEGIN
    IF NOT coalesce((SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user), false) THEN
        RAISE EXCEPTION 'must be superuser to install the pg_cron compatibility layer'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF EXISTS (SELECT FROM pg_extension e WHERE e.extname = 'pg_cron') THEN
        RAISE EXCEPTION 'pg_cron is installed in this database'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Copy its jobs with SELECT @extschema@.uso_import_pg_cron(); then DROP EXTENSION pg_cron; '
                         'and call this function again.';
    END IF;
    IF EXISTS (SELECT FROM pg_namespace n WHERE n.nspname = 'cron') THEN
        IF EXISTS (SELECT FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                   JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
                   JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'uso_tasks'
                   WHERE n.nspname = 'cron' AND p.proname = 'schedule') THEN
            RAISE NOTICE 'the pg_cron compatibility layer is already installed';
            RETURN;
        END IF;
        RAISE EXCEPTION 'schema "cron" already exists'
            USING ERRCODE = 'duplicate_schema',
                  HINT = 'Drop or rename it first; the pg_cron compatibility layer needs schema cron.';
    END IF;

    EXECUTE $ddl$
CREATE SCHEMA cron;
COMMENT ON SCHEMA cron IS 'pg_cron compatibility layer of uso_tasks: pg_cron''s tables and functions over uso_task.';

CREATE VIEW cron.job WITH (security_invoker = true) AS
SELECT t.id AS jobid,
       t.schedule,
       t.command,
       'localhost'::text AS nodename,
       coalesce(pg_catalog.inet_server_port(), pg_catalog.current_setting('port')::integer) AS nodeport,
       coalesce(t.database, pg_catalog.current_database())::text AS database,
       t.username::text AS username,
       t.enabled AS active,
       CASE WHEN t.cron_unnamed THEN NULL ELSE t.name END AS jobname
FROM @extschema@.uso_task t;
COMMENT ON VIEW cron.job IS 'pg_cron 1.6''s job table: one row per uso_tasks task the current role may see.';
COMMENT ON COLUMN cron.job.jobid IS 'Job id (uso_task.id).';
COMMENT ON COLUMN cron.job.schedule IS 'When it runs (pg_cron syntax, or any uso_tasks schedule).';
COMMENT ON COLUMN cron.job.command IS 'SQL the job runs.';
COMMENT ON COLUMN cron.job.nodename IS 'Always localhost: jobs run in this server.';
COMMENT ON COLUMN cron.job.nodeport IS 'Port of this server.';
COMMENT ON COLUMN cron.job.database IS 'Database the command runs in.';
COMMENT ON COLUMN cron.job.username IS 'Role the command runs as.';
COMMENT ON COLUMN cron.job.active IS 'Whether it is scheduled (uso_task.enabled).';
COMMENT ON COLUMN cron.job.jobname IS 'Job name (uso_task.name); NULL for jobs created without a name.';

CREATE VIEW cron.job_run_details WITH (security_invoker = true) AS
SELECT r.task_id AS jobid,
       r.id AS runid,
       r.pid AS job_pid,
       (SELECT coalesce(t.database, pg_catalog.current_database())::text
        FROM @extschema@.uso_task t WHERE t.id = r.task_id) AS database,
       (SELECT t.username::text FROM @extschema@.uso_task t WHERE t.id = r.task_id) AS username,
       (SELECT t.command FROM @extschema@.uso_task t WHERE t.id = r.task_id) AS command,
       CASE r.status WHEN 'queued' THEN 'starting'
                     WHEN 'running' THEN 'running'
                     WHEN 'succeeded' THEN 'succeeded'
                     ELSE 'failed' END AS status,
       r.return_message,
       r.started_at AS start_time,
       r.finished_at AS end_time
FROM @extschema@.uso_task_run r
WHERE r.status <> 'skipped';
COMMENT ON VIEW cron.job_run_details IS 'pg_cron 1.6''s run history: the runs of uso_tasks tasks the current role may see (skipped runs left out).';
COMMENT ON COLUMN cron.job_run_details.jobid IS 'The job that ran.';
COMMENT ON COLUMN cron.job_run_details.runid IS 'Run id (uso_task_run.id).';
COMMENT ON COLUMN cron.job_run_details.job_pid IS 'Process id of the worker that ran it.';
COMMENT ON COLUMN cron.job_run_details.database IS 'Database the job runs in.';
COMMENT ON COLUMN cron.job_run_details.username IS 'Role the job runs as.';
COMMENT ON COLUMN cron.job_run_details.command IS 'The job''s command (as it is now).';
COMMENT ON COLUMN cron.job_run_details.status IS 'starting, running, succeeded or failed (timed out and cancelled runs count as failed).';
COMMENT ON COLUMN cron.job_run_details.return_message IS 'Command tag or returned value on success, the error message on failure.';
COMMENT ON COLUMN cron.job_run_details.start_time IS 'When the run started.';
COMMENT ON COLUMN cron.job_run_details.end_time IS 'When it ended.';

GRANT SELECT ON cron.job TO PUBLIC;
GRANT SELECT, DELETE ON cron.job_run_details TO PUBLIC;

CREATE FUNCTION cron.schedule(schedule text, command text) RETURNS bigint
LANGUAGE sql SECURITY INVOKER SET search_path = pg_catalog, pg_temp
AS $f$ SELECT @extschema@.uso_cron_schedule(NULL, schedule, command, NULL, NULL, true, false) $f$;
COMMENT ON FUNCTION cron.schedule(text, text) IS 'schedule a pg_cron job';

CREATE FUNCTION cron.schedule(job_name text, schedule text, command text) RETURNS bigint
LANGUAGE sql SECURITY INVOKER SET search_path = pg_catalog, pg_temp
AS $f$ SELECT @extschema@.uso_cron_schedule(job_name, schedule, command, NULL, NULL, true, true) $f$;
COMMENT ON FUNCTION cron.schedule(text, text, text) IS 'schedule a pg_cron job';

CREATE FUNCTION cron.schedule_in_database(job_name text, schedule text, command text, database text,
    username text DEFAULT NULL, active boolean DEFAULT 'true') RETURNS bigint
LANGUAGE sql SECURITY INVOKER SET search_path = pg_catalog, pg_temp
AS $f$ SELECT @extschema@.uso_cron_schedule(job_name, schedule, command, database, username, active, true) $f$;
COMMENT ON FUNCTION cron.schedule_in_database(text, text, text, text, text, boolean) IS 'schedule a pg_cron job';
REVOKE ALL ON FUNCTION cron.schedule_in_database(text, text, text, text, text, boolean) FROM PUBLIC;

CREATE FUNCTION cron.unschedule(job_id bigint) RETURNS boolean
LANGUAGE sql SECURITY INVOKER SET search_path = pg_catalog, pg_temp
AS $f$ SELECT @extschema@.uso_cron_unschedule(job_id, NULL, false) $f$;
COMMENT ON FUNCTION cron.unschedule(bigint) IS 'unschedule a pg_cron job';

CREATE FUNCTION cron.unschedule(job_name text) RETURNS boolean
LANGUAGE sql SECURITY INVOKER SET search_path = pg_catalog, pg_temp
AS $f$ SELECT @extschema@.uso_cron_unschedule(NULL, job_name, true) $f$;
COMMENT ON FUNCTION cron.unschedule(text) IS 'unschedule a pg_cron job';

CREATE FUNCTION cron.alter_job(job_id bigint, schedule text DEFAULT NULL, command text DEFAULT NULL,
    database text DEFAULT NULL, username text DEFAULT NULL, active boolean DEFAULT NULL) RETURNS void
LANGUAGE sql SECURITY INVOKER SET search_path = pg_catalog, pg_temp
AS $f$ SELECT @extschema@.uso_cron_alter_job(job_id, schedule, command, database, username, active) $f$;
COMMENT ON FUNCTION cron.alter_job(bigint, text, text, text, text, boolean) IS
    'Alter the job identified by job_id. Any option left as NULL will not be modified.';
REVOKE ALL ON FUNCTION cron.alter_job(bigint, text, text, text, text, boolean) FROM PUBLIC;
$ddl$;

    -- Inside CREATE EXTENSION everything above already belongs to uso_tasks.
    IF NOT EXISTS (SELECT FROM pg_depend d
                   WHERE d.classid = 'pg_namespace'::regclass AND d.deptype = 'e'
                     AND d.objid = (SELECT n.oid FROM pg_namespace n WHERE n.nspname = 'cron')) THEN
        EXECUTE 'ALTER EXTENSION uso_tasks ADD SCHEMA cron';
        FOR obj IN SELECT c.oid::regclass AS v FROM pg_class c
                   WHERE c.relnamespace = 'cron'::regnamespace AND c.relkind = 'v' LOOP
            EXECUTE format('ALTER EXTENSION uso_tasks ADD VIEW %s', obj.v);
        END LOOP;
        FOR obj IN SELECT p.oid::regprocedure AS f FROM pg_proc p
                   WHERE p.pronamespace = 'cron'::regnamespace LOOP
            EXECUTE format('ALTER EXTENSION uso_tasks ADD FUNCTION %s', obj.f);
        END LOOP;
        RAISE NOTICE 'pg_cron compatibility layer installed in schema cron';
    END IF;
END
$install$;

COMMENT ON FUNCTION @extschema@.uso_install_cron_compat() IS
    'Installs the pg_cron compatibility layer (schema cron). Call it after DROP EXTENSION pg_cron; superuser only.';

REVOKE ALL ON FUNCTION @extschema@.uso_install_cron_compat() FROM PUBLIC;

-- STABLE so that the admin view's WHERE uso_warn_scheduler() is checked once
-- per query (a one-time filter), not once per row.
CREATE FUNCTION @extschema@.uso_warn_scheduler() RETURNS boolean
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'uso_warn_scheduler';
COMMENT ON FUNCTION @extschema@.uso_warn_scheduler() IS
    'Raises a WARNING saying what to do when the library is not preloaded or this database''s scheduler is not running; returns true.';

-- Views changed since 0.1.
CREATE OR REPLACE VIEW @extschema@.uso_background_tasks WITH (security_invoker = true) AS
SELECT t.name,
       t.category,
       t.description,
       t.schedule,
       COALESCE(t.config ->> 'frequency', @extschema@.uso_describe_schedule(t.schedule)) AS frequency,
       t.retry_after,
       CASE
           WHEN NOT t.enabled THEN 'disabled'
           WHEN cur.id IS NOT NULL THEN 'running'
           WHEN (t.database IS NULL OR t.database = pg_catalog.current_database())
                AND @extschema@.uso_command_missing(t.command) IS NOT NULL THEN 'missing'
           WHEN last.status IN ('failed', 'timed_out') THEN 'failing'
           ELSE 'idle'
       END AS status,
       t.last_run_at,
       last.status AS last_status,
       last.finished_at - last.started_at AS last_duration,
       CASE WHEN last.id IS NOT NULL THEN
           pg_catalog.concat_ws(E'\n', last.return_message,
               (SELECT pg_catalog.string_agg(l.level || ': ' || l.message, E'\n' ORDER BY l.seq)
                FROM @extschema@.uso_task_log l WHERE l.run_id = last.id))
       END AS last_log,
       nxt.next_run_at,
       COALESCE(nxt.next_run_at <= pg_catalog.now(), false) AS is_due,
       t.enabled,
       t.username AS owner
FROM @extschema@.uso_task t
LEFT JOIN LATERAL (
    SELECT r.id FROM @extschema@.uso_task_run r
    WHERE r.task_id = t.id AND r.status = 'running' LIMIT 1) cur ON true
LEFT JOIN LATERAL (
    SELECT r.id, r.status, r.started_at, r.finished_at, r.return_message
    FROM @extschema@.uso_task_run r
    WHERE r.task_id = t.id AND r.status NOT IN ('queued', 'running', 'skipped')
    ORDER BY r.id DESC LIMIT 1) last ON true
LEFT JOIN LATERAL (
    SELECT CASE WHEN t.enabled THEN
               LEAST(t.next_run_at,
                   (SELECT pg_catalog.min(COALESCE(r.scheduled_for, r.queued_at))
                    FROM @extschema@.uso_task_run r
                    WHERE r.task_id = t.id AND r.status = 'queued'))
           END AS next_run_at) nxt ON true
-- Reading the page warns when no scheduler runs what it shows.
WHERE @extschema@.uso_warn_scheduler();

COMMENT ON VIEW @extschema@.uso_background_tasks IS
    'The Background Tasks admin page: one row per task with status, frequency, last run, log and next run.';

COMMENT ON COLUMN @extschema@.uso_background_tasks.name IS 'Task name.';

COMMENT ON COLUMN @extschema@.uso_background_tasks.category IS 'The app it belongs to.';

COMMENT ON COLUMN @extschema@.uso_background_tasks.description IS 'What it does.';

COMMENT ON COLUMN @extschema@.uso_background_tasks.schedule IS 'The schedule as written.';

COMMENT ON COLUMN @extschema@.uso_background_tasks.frequency IS 'The schedule in plain English.';

COMMENT ON COLUMN @extschema@.uso_background_tasks.retry_after IS 'After a failure the next run comes no later than this.';

COMMENT ON COLUMN @extschema@.uso_background_tasks.status IS 'idle, running, disabled, failing (last run failed) or missing (its function does not exist).';

COMMENT ON COLUMN @extschema@.uso_background_tasks.last_run_at IS 'Start of the last run.';

COMMENT ON COLUMN @extschema@.uso_background_tasks.last_status IS 'Outcome of the last finished run.';

COMMENT ON COLUMN @extschema@.uso_background_tasks.last_duration IS 'How long the last finished run took.';

COMMENT ON COLUMN @extschema@.uso_background_tasks.last_log IS 'The last run''s message followed by its log lines.';

COMMENT ON COLUMN @extschema@.uso_background_tasks.next_run_at IS 'When it runs next (scheduled or one-off).';

COMMENT ON COLUMN @extschema@.uso_background_tasks.is_due IS 'True when the next run time has come.';

COMMENT ON COLUMN @extschema@.uso_background_tasks.enabled IS 'Whether it is scheduled.';

COMMENT ON COLUMN @extschema@.uso_background_tasks.owner IS 'The role it runs as.';

GRANT SELECT ON @extschema@.uso_task_runs, @extschema@.uso_background_tasks TO PUBLIC;

-- The pg_cron layer's views, where this database has it (installed by
-- uso_tasks, not pg_cron's own schema cron).
DO $cron$
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_depend d
               JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND e.extname = 'uso_tasks'
               WHERE d.classid = 'pg_catalog.pg_namespace'::pg_catalog.regclass
                 AND d.objid = (SELECT n.oid FROM pg_catalog.pg_namespace n WHERE n.nspname = 'cron')
                 AND d.deptype = 'e') THEN
        EXECUTE $v$CREATE OR REPLACE VIEW cron.job WITH (security_invoker = true) AS
SELECT t.id AS jobid,
       t.schedule,
       t.command,
       'localhost'::text AS nodename,
       coalesce(pg_catalog.inet_server_port(), pg_catalog.current_setting('port')::integer) AS nodeport,
       coalesce(t.database, pg_catalog.current_database())::text AS database,
       t.username::text AS username,
       t.enabled AS active,
       CASE WHEN t.cron_unnamed THEN NULL ELSE t.name END AS jobname
FROM @extschema@.uso_task t;$v$;
        EXECUTE $v$CREATE OR REPLACE VIEW cron.job_run_details WITH (security_invoker = true) AS
SELECT r.task_id AS jobid,
       r.id AS runid,
       r.pid AS job_pid,
       (SELECT coalesce(t.database, pg_catalog.current_database())::text
        FROM @extschema@.uso_task t WHERE t.id = r.task_id) AS database,
       (SELECT t.username::text FROM @extschema@.uso_task t WHERE t.id = r.task_id) AS username,
       (SELECT t.command FROM @extschema@.uso_task t WHERE t.id = r.task_id) AS command,
       CASE r.status WHEN 'queued' THEN 'starting'
                     WHEN 'running' THEN 'running'
                     WHEN 'succeeded' THEN 'succeeded'
                     ELSE 'failed' END AS status,
       r.return_message,
       r.started_at AS start_time,
       r.finished_at AS end_time
FROM @extschema@.uso_task_run r
WHERE r.status <> 'skipped';$v$;
    END IF;
END
$cron$;

-- What 0.1 stored as the default is "this database" (after the trigger
-- function above, which knows NULL).
UPDATE @extschema@.uso_task SET database = NULL WHERE database = pg_catalog.current_database();

CREATE FUNCTION @extschema@.uso_unschedule_body(name text) RETURNS boolean
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    task_id constant bigint := @extschema@.uso_task_id_by_name(uso_unschedule_body.name, true);
BEGIN
    DELETE FROM @extschema@.uso_task t WHERE t.id = task_id;
    RETURN true;
END
$$;
COMMENT ON FUNCTION @extschema@.uso_unschedule_body(text) IS
    'Internal: the work of uso_unschedule, which calls it and reports its errors about the input without our internal context (api_errors.c).';

CREATE OR REPLACE FUNCTION @extschema@.uso_unschedule(name text) RETURNS boolean
LANGUAGE c SECURITY INVOKER
AS 'MODULE_PATHNAME', 'uso_unschedule_api';

CREATE FUNCTION @extschema@.uso_enable_body(name text) RETURNS void
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    task_id constant bigint := @extschema@.uso_task_id_by_name(uso_enable_body.name, true);
BEGIN
    UPDATE @extschema@.uso_task t SET enabled = true WHERE t.id = task_id;
END
$$;
COMMENT ON FUNCTION @extschema@.uso_enable_body(text) IS
    'Internal: the work of uso_enable, which calls it and reports its errors about the input without our internal context (api_errors.c).';

CREATE OR REPLACE FUNCTION @extschema@.uso_enable(name text) RETURNS void
LANGUAGE c SECURITY INVOKER
AS 'MODULE_PATHNAME', 'uso_enable_api';

CREATE FUNCTION @extschema@.uso_disable_body(name text) RETURNS void
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    task_id constant bigint := @extschema@.uso_task_id_by_name(uso_disable_body.name, true);
BEGIN
    UPDATE @extschema@.uso_task t SET enabled = false WHERE t.id = task_id;
END
$$;
COMMENT ON FUNCTION @extschema@.uso_disable_body(text) IS
    'Internal: the work of uso_disable, which calls it and reports its errors about the input without our internal context (api_errors.c).';

CREATE OR REPLACE FUNCTION @extschema@.uso_disable(name text) RETURNS void
LANGUAGE c SECURITY INVOKER
AS 'MODULE_PATHNAME', 'uso_disable_api';

CREATE FUNCTION @extschema@.uso_cron_schedule_body(job_name text, schedule text, command text,
    database text, username text, active boolean, named boolean)
RETURNS bigint
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    job_user  text := current_user;
    job_db    text := coalesce(uso_cron_schedule_body.database, current_database());
    job_id    bigint;
    owner     name;
    conname   text;
    via       text;
BEGIN
    IF named AND job_name IS NULL THEN
        RAISE EXCEPTION 'job_name can not be NULL' USING ERRCODE = 'null_value_not_allowed';
    ELSIF uso_cron_schedule_body.schedule IS NULL THEN
        RAISE EXCEPTION 'schedule can not be NULL' USING ERRCODE = 'null_value_not_allowed';
    ELSIF uso_cron_schedule_body.command IS NULL THEN
        RAISE EXCEPTION 'command can not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- Only what the cron.* function this call stands for may do: a
    -- database, a role or an inactive job are cron.schedule_in_database's
    -- powers, for the roles granted that function (pg_cron's rule).
    IF uso_cron_schedule_body.database IS NOT NULL OR uso_cron_schedule_body.username IS NOT NULL
       OR active IS DISTINCT FROM true THEN
        via := 'cron.schedule_in_database(text,text,text,text,text,boolean)';
    ELSIF named THEN
        via := 'cron.schedule(text,text,text)';
    ELSE
        via := 'cron.schedule(text,text)';
    END IF;
    IF NOT @extschema@.uso_cron_may_call(via) THEN
        RAISE EXCEPTION 'permission denied for function %', split_part(split_part(via, '(', 1), '.', 2)
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('This call does what %s does, which needs EXECUTE on it and USAGE on schema cron.',
                                  split_part(via, '(', 1)),
                  HINT = 'Call the cron.* function; a superuser grants it to the roles that need it.';
    END IF;
    PERFORM @extschema@.uso_cron_check_schedule(uso_cron_schedule_body.schedule);
    IF uso_cron_schedule_body.username IS NOT NULL THEN
        IF NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user) THEN
            RAISE EXCEPTION 'must be superuser to create a job for another role'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        PERFORM @extschema@.uso_cron_check_role(uso_cron_schedule_body.username);
        job_user := uso_cron_schedule_body.username;
    END IF;
    PERFORM @extschema@.uso_cron_check_database(job_db, job_user);

    IF job_name IS NULL THEN
        INSERT INTO @extschema@.uso_task AS t
            (name, cron_unnamed, schedule, command, database, username, enabled)
        VALUES (NULL, true, uso_cron_schedule_body.schedule, uso_cron_schedule_body.command,
                job_db, job_user, coalesce(active, true))
        RETURNING t.id INTO job_id;
        RETURN job_id;
    END IF;

    FOR attempt IN 1..2 LOOP
        SELECT t.id, t.username INTO job_id, owner
        FROM @extschema@.uso_task t WHERE t.name = job_name FOR UPDATE;
        IF FOUND AND owner = job_user THEN
            UPDATE @extschema@.uso_task t
            SET schedule = uso_cron_schedule_body.schedule, command = uso_cron_schedule_body.command,
                database = job_db
            WHERE t.id = job_id;
            RETURN job_id;
        ELSIF FOUND THEN
            RAISE EXCEPTION 'job name "%" is already used by role "%"', @extschema@.uso_shorten(job_name), owner
                USING ERRCODE = 'unique_violation',
                      DETAIL = 'In uso_tasks job names are unique across all roles.';
        END IF;
        BEGIN
            INSERT INTO @extschema@.uso_task AS t
                (name, schedule, command, database, username, enabled)
            VALUES (job_name, uso_cron_schedule_body.schedule, uso_cron_schedule_body.command,
                    job_db, job_user, coalesce(active, true))
            RETURNING t.id INTO job_id;
            RETURN job_id;
        EXCEPTION WHEN unique_violation THEN
            GET STACKED DIAGNOSTICS conname = CONSTRAINT_NAME;
            IF conname IS DISTINCT FROM 'uso_task_name_key' THEN
                RAISE;
            END IF;
            IF NOT EXISTS (SELECT FROM @extschema@.uso_task t WHERE t.name = job_name) THEN
                RAISE EXCEPTION 'job name "%" is already used by another role', @extschema@.uso_shorten(job_name)
                    USING ERRCODE = 'insufficient_privilege',
                          DETAIL = 'In uso_tasks job names are unique across all roles.';
            END IF;
        END;
    END LOOP;
    RAISE EXCEPTION 'job "%" is being changed concurrently', @extschema@.uso_shorten(job_name) USING ERRCODE = 'lock_not_available';
END
$$;
COMMENT ON FUNCTION @extschema@.uso_cron_schedule_body(text, text, text, text, text, boolean, boolean) IS
    'Internal: the work of uso_cron_schedule (cron.schedule, cron.schedule_in_database), which calls it and reports its errors about the input without our internal context (api_errors.c).';

CREATE OR REPLACE FUNCTION @extschema@.uso_cron_schedule(job_name text, schedule text, command text,
    database text, username text, active boolean, named boolean)
RETURNS bigint
LANGUAGE c SECURITY INVOKER
AS 'MODULE_PATHNAME', 'uso_cron_schedule_api';

CREATE FUNCTION @extschema@.uso_cron_unschedule_body(job_id bigint, job_name text, by_name boolean)
RETURNS boolean
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF by_name THEN
        IF job_name IS NULL THEN
            RAISE EXCEPTION 'job_name can not be NULL' USING ERRCODE = 'null_value_not_allowed';
        END IF;
        -- pg_cron looks the name up among the caller's own jobs only.
        DELETE FROM @extschema@.uso_task t WHERE t.name = job_name AND t.username = current_user;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'could not find valid entry for job ''%''', @extschema@.uso_shorten(job_name)
                USING ERRCODE = 'undefined_object';
        END IF;
        RETURN true;
    END IF;
    IF job_id IS NULL THEN
        RAISE EXCEPTION 'job_id can not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    DELETE FROM @extschema@.uso_task t WHERE t.id = job_id;
    IF NOT FOUND THEN
        IF @extschema@.uso_cron_job_exists(job_id) THEN
            RAISE EXCEPTION 'permission denied for table job' USING ERRCODE = 'insufficient_privilege';
        END IF;
        RAISE EXCEPTION 'could not find valid entry for job %', job_id USING ERRCODE = 'undefined_object';
    END IF;
    RETURN true;
END
$$;
COMMENT ON FUNCTION @extschema@.uso_cron_unschedule_body(bigint, text, boolean) IS
    'Internal: the work of uso_cron_unschedule (cron.unschedule), which calls it and reports its errors about the input without our internal context (api_errors.c).';

CREATE OR REPLACE FUNCTION @extschema@.uso_cron_unschedule(job_id bigint, job_name text, by_name boolean)
RETURNS boolean
LANGUAGE c SECURITY INVOKER
AS 'MODULE_PATHNAME', 'uso_cron_unschedule_api';

CREATE FUNCTION @extschema@.uso_cron_alter_job_body(job_id bigint, schedule text, command text,
    database text, username text, active boolean)
RETURNS void
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    job_user text := current_user;
BEGIN
    -- pg_cron's rule: cron.alter_job is for the roles granted it.
    IF NOT @extschema@.uso_cron_may_call('cron.alter_job(bigint,text,text,text,text,boolean)') THEN
        RAISE EXCEPTION 'permission denied for function alter_job'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'This call does what cron.alter_job does, which needs EXECUTE on it and USAGE on schema cron.',
                  HINT = 'Call the cron.* function; a superuser grants it to the roles that need it.';
    END IF;
    IF job_id IS NULL THEN
        RAISE EXCEPTION 'job_id can not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF uso_cron_alter_job_body.username IS NOT NULL THEN
        IF NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user) THEN
            RAISE EXCEPTION 'must be superuser to alter username' USING ERRCODE = 'insufficient_privilege';
        END IF;
        PERFORM @extschema@.uso_cron_check_role(uso_cron_alter_job_body.username);
        job_user := uso_cron_alter_job_body.username;
    END IF;
    IF uso_cron_alter_job_body.database IS NOT NULL THEN
        PERFORM @extschema@.uso_cron_check_database(uso_cron_alter_job_body.database, job_user);
    END IF;
    IF uso_cron_alter_job_body.schedule IS NOT NULL THEN
        PERFORM @extschema@.uso_cron_check_schedule(uso_cron_alter_job_body.schedule);
    END IF;
    IF num_nonnulls(uso_cron_alter_job_body.schedule, uso_cron_alter_job_body.command, uso_cron_alter_job_body.database,
                    uso_cron_alter_job_body.username, uso_cron_alter_job_body.active) = 0 THEN
        RAISE EXCEPTION 'no updates specified'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'You must specify at least one job attribute to change when calling alter_job';
    END IF;
    UPDATE @extschema@.uso_task t SET
        schedule = coalesce(uso_cron_alter_job_body.schedule, t.schedule),
        command  = coalesce(uso_cron_alter_job_body.command, t.command),
        database = coalesce(uso_cron_alter_job_body.database::name, t.database),
        username = coalesce(uso_cron_alter_job_body.username::name, t.username),
        enabled  = coalesce(uso_cron_alter_job_body.active, t.enabled)
    WHERE t.id = job_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'Job % does not exist or you don''t own it', job_id USING ERRCODE = 'undefined_object';
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.uso_cron_alter_job_body(bigint, text, text, text, text, boolean) IS
    'Internal: the work of uso_cron_alter_job (cron.alter_job), which calls it and reports its errors about the input without our internal context (api_errors.c).';

CREATE OR REPLACE FUNCTION @extschema@.uso_cron_alter_job(job_id bigint, schedule text, command text,
    database text, username text, active boolean)
RETURNS void
LANGUAGE c SECURITY INVOKER
AS 'MODULE_PATHNAME', 'uso_cron_alter_job_api';


-- 0.2: the admin view tells the truth (issue 12 part 6): succeeded with
-- warnings, the warnings count, the next one-off run, builtin; log lines with
-- their task name (uso_task_log_lines).
CREATE OR REPLACE VIEW @extschema@.uso_background_tasks WITH (security_invoker = true) AS
SELECT t.name,
       t.category,
       t.description,
       t.schedule,
       COALESCE(t.config ->> 'frequency', @extschema@.uso_describe_schedule(t.schedule)) AS frequency,
       t.retry_after,
       CASE
           WHEN NOT t.enabled THEN 'disabled'
           WHEN cur.id IS NOT NULL THEN 'running'
           WHEN (t.database IS NULL OR t.database = pg_catalog.current_database())
                AND @extschema@.uso_command_missing(t.command) IS NOT NULL THEN 'missing'
           WHEN last.status IN ('failed', 'timed_out') THEN 'failing'
           ELSE 'idle'
       END AS status,
       t.last_run_at,
       CASE WHEN last.status = 'succeeded' AND last.warnings > 0 THEN 'succeeded with warnings'
            ELSE last.status END AS last_status,
       last.finished_at - last.started_at AS last_duration,
       CASE WHEN last.id IS NOT NULL THEN
           pg_catalog.concat_ws(E'\n', last.return_message,
               (SELECT pg_catalog.string_agg(l.level || ': ' || l.message, E'\n' ORDER BY l.seq)
                FROM @extschema@.uso_task_log l WHERE l.run_id = last.id))
       END AS last_log,
       nxt.next_run_at,
       COALESCE(nxt.next_run_at <= pg_catalog.now(), false) AS is_due,
       t.enabled,
       t.username AS owner,
       -- 0.2: appended, as CREATE OR REPLACE VIEW requires.
       last.warnings,
       nxt.once_at AS next_once_at,
       t.builtin
FROM @extschema@.uso_task t
LEFT JOIN LATERAL (
    SELECT r.id FROM @extschema@.uso_task_run r
    WHERE r.task_id = t.id AND r.status = 'running' LIMIT 1) cur ON true
LEFT JOIN LATERAL (
    SELECT r.id, r.status, r.started_at, r.finished_at, r.return_message,
           -- skipped items are logged as warnings (USO's per-item rule)
           (SELECT pg_catalog.count(*)::integer FROM @extschema@.uso_task_log l
            WHERE l.run_id = r.id AND l.level = 'WARNING') AS warnings
    FROM @extschema@.uso_task_run r
    WHERE r.task_id = t.id AND r.status NOT IN ('queued', 'running', 'skipped')
    ORDER BY r.id DESC LIMIT 1) last ON true
LEFT JOIN LATERAL (
    SELECT CASE WHEN t.enabled THEN
               LEAST(t.next_run_at,
                   (SELECT pg_catalog.min(COALESCE(r.scheduled_for, r.queued_at))
                    FROM @extschema@.uso_task_run r
                    WHERE r.task_id = t.id AND r.status = 'queued'))
           END AS next_run_at,
           (SELECT pg_catalog.min(r.scheduled_for) FROM @extschema@.uso_task_run r
            WHERE r.task_id = t.id AND r.status = 'queued' AND r.trigger = 'once') AS once_at) nxt ON true;
COMMENT ON VIEW @extschema@.uso_background_tasks IS
    'The Background Tasks admin page: one row per task with status, frequency, last run, log and next run.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.name IS 'Task name.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.category IS 'The app it belongs to.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.description IS 'What it does.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.schedule IS 'The schedule as written.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.frequency IS 'The schedule in plain English.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.retry_after IS 'After a failure the next run comes no later than this.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.status IS 'idle, running, disabled, failing (last run failed) or missing (its function does not exist).';
COMMENT ON COLUMN @extschema@.uso_background_tasks.last_run_at IS 'Start of the last run.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.last_status IS 'Outcome of the last finished run: succeeded, succeeded with warnings (it logged warnings, e.g. skipped items), failed, timed_out or cancelled.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.last_duration IS 'How long the last finished run took.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.last_log IS 'The last run''s message followed by its log lines.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.next_run_at IS 'When it runs next (scheduled or one-off).';
COMMENT ON COLUMN @extschema@.uso_background_tasks.is_due IS 'True when the next run time has come.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.enabled IS 'Whether it is scheduled.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.owner IS 'The role it runs as.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.warnings IS 'How many warnings the last finished run logged (items it skipped); 0 for a clean run.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.next_once_at IS 'When the next one-off run (uso_run_at) is due, if one is waiting.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.builtin IS 'Registered by CREATE EXTENSION (the task pack, housekeeping).';

-- The lines of uso_task_log with the task they belong to, so an admin page or
-- psql user need not join through uso_task_run.
CREATE VIEW @extschema@.uso_task_log_lines WITH (security_invoker = true) AS
SELECT t.name AS task,
       l.run_id,
       r.status AS run_status,
       l.seq,
       l.logged_at,
       l.level,
       l.message
FROM @extschema@.uso_task_log l
JOIN @extschema@.uso_task_run r ON r.id = l.run_id
JOIN @extschema@.uso_task t ON t.id = r.task_id
ORDER BY l.run_id DESC, l.seq;
COMMENT ON VIEW @extschema@.uso_task_log_lines IS 'Log lines of runs with their task name, newest run first.';
COMMENT ON COLUMN @extschema@.uso_task_log_lines.task IS 'Task name.';
COMMENT ON COLUMN @extschema@.uso_task_log_lines.run_id IS 'The run that emitted the line.';
COMMENT ON COLUMN @extschema@.uso_task_log_lines.run_status IS 'Status of that run.';
COMMENT ON COLUMN @extschema@.uso_task_log_lines.seq IS 'Order of the line within its run, from 1.';
COMMENT ON COLUMN @extschema@.uso_task_log_lines.logged_at IS 'When it was emitted.';
COMMENT ON COLUMN @extschema@.uso_task_log_lines.level IS 'NOTICE, INFO, WARNING, ... as raised.';
COMMENT ON COLUMN @extschema@.uso_task_log_lines.message IS 'The text of the line.';

GRANT SELECT ON @extschema@.uso_task_log_lines TO PUBLIC;

-- 0.2: uso_import_pg_cron imports a job that pg_cron ran on another node
-- disabled, with a WARNING, instead of skipping it (issue 13.2).
CREATE OR REPLACE FUNCTION @extschema@.uso_import_pg_cron(with_history boolean DEFAULT false,
                                               pause_pg_cron boolean DEFAULT true)
RETURNS text
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    job        record;
    task_name  text;
    existing   text;
    report     text[] := '{}';
    imported   bigint[] := '{}';
    already    bigint[] := '{}';
    skipped    int := 0;
    runs       bigint := 0;
    paused     bigint := 0;
    keep_ids   boolean;
    max_id     bigint;
    grants     text;
    moved_to   bigint;
    remote     boolean;
    remote_ids bigint[] := '{}';
BEGIN
    IF NOT coalesce((SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user), false) THEN
        RAISE EXCEPTION 'must be superuser to import pg_cron jobs'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF with_history IS NULL OR pause_pg_cron IS NULL THEN
        RAISE EXCEPTION 'with_history and pause_pg_cron must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT EXISTS (SELECT FROM pg_extension e WHERE e.extname = 'pg_cron') THEN
        RAISE EXCEPTION 'pg_cron is not installed in database "%"', current_database()
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Run this in the database named by cron.database_name, where pg_cron keeps its jobs.';
    END IF;

    -- Ids handed out from now on (to tasks moved out of the way below, and to
    -- new tasks) must not be ones pg_cron's jobs still need.
    EXECUTE 'SELECT max(jobid) FROM cron.job' INTO max_id;
    IF max_id IS NOT NULL THEN
        PERFORM setval('@extschema@.uso_task_id_seq',
                       greatest(max_id, (SELECT s.last_value FROM @extschema@.uso_task_id_seq s)));
    END IF;

    -- pg_cron 1.4 has jobname of type name, 1.5+ text: read it as text.
    FOR job IN EXECUTE
        'SELECT jobid, schedule, command, nodename, nodeport, database, username, active,
                jobname::text AS jobname
         FROM cron.job ORDER BY jobid'
    LOOP
        task_name := coalesce(job.jobname, 'cron_job_' || job.jobid);
        SELECT t.name INTO existing FROM @extschema@.uso_task t WHERE t.id = job.jobid;
        IF existing = task_name OR existing = task_name || '@' || job.username THEN
            already := already || job.jobid;
            CONTINUE;
        END IF;
        -- This server: a loopback name or a socket directory, and its port
        -- (localhost on another port is another cluster on this machine).
        remote := NOT ((job.nodename IN ('localhost', '127.0.0.1', '::1', '') OR job.nodename ~ '^/')
                       AND job.nodeport IS NOT DISTINCT FROM current_setting('port')::integer);
        -- pg_cron names are unique per role, uso_tasks names across roles.
        IF EXISTS (SELECT FROM @extschema@.uso_task t WHERE t.name = task_name) THEN
            report := report || format('job %s renamed to "%s": the name "%s" is taken',
                                       job.jobid, task_name || '@' || job.username, task_name);
            task_name := task_name || '@' || job.username;
        END IF;
        BEGIN
            -- pg_cron's jobids are what its users' scripts hold on to; uso_tasks'
            -- own ids are not, so a task already using the jobid moves to a new
            -- id, with its runs (only if the job is then imported).
            IF existing IS NOT NULL THEN
                moved_to := nextval('@extschema@.uso_task_id_seq');
                UPDATE @extschema@.uso_task t SET name = 'uso_import_moving_' || job.jobid
                WHERE t.id = job.jobid;
                INSERT INTO @extschema@.uso_task
                SELECT (jsonb_populate_record(t, jsonb_build_object('id', moved_to, 'name', existing))).*
                FROM @extschema@.uso_task t WHERE t.id = job.jobid;
                UPDATE @extschema@.uso_task_run r SET task_id = moved_to WHERE r.task_id = job.jobid;
                DELETE FROM @extschema@.uso_task t WHERE t.id = job.jobid;
            END IF;
            INSERT INTO @extschema@.uso_task
                (id, name, cron_unnamed, description, schedule, command, database, username, enabled)
            VALUES (job.jobid, task_name, job.jobname IS NULL,
                    CASE WHEN remote THEN format('imported from pg_cron, disabled: it ran on node %s:%s',
                                                 job.nodename, job.nodeport)
                         ELSE 'imported from pg_cron' END,
                    job.schedule, job.command, job.database, job.username, job.active AND NOT remote);
            imported := imported || job.jobid;
            IF remote THEN
                remote_ids := remote_ids || job.jobid;
                report := report || format('job %s ("%s") imported disabled: it ran on node %s:%s, not on this server',
                                           job.jobid, task_name, job.nodename, job.nodeport);
                RAISE WARNING 'pg_cron job % ("%") ran on node %:%, not on this server: imported disabled',
                              job.jobid, @extschema@.uso_shorten(task_name), job.nodename, job.nodeport
                    USING DETAIL = 'uso_tasks runs every task in this server; enabled, the job would run here.',
                          HINT = format('Schedule it on %s with uso_tasks or pg_cron there, or, if that node is '
                                        'this server, SELECT @extschema@.uso_enable(%L). pg_cron keeps running it '
                                        'there until it is dropped.', job.nodename, task_name);
            END IF;
            IF existing IS NOT NULL THEN
                report := report || format('task "%s" moved from id %s to id %s to make room for pg_cron job %s',
                                           existing, job.jobid, moved_to, job.jobid);
            END IF;
        EXCEPTION WHEN OTHERS THEN
            skipped := skipped + 1;
            report := report || format('job %s skipped: %s', job.jobid, SQLERRM);
        END;
    END LOOP;

    -- New tasks and cron jobs must get ids after the imported ones.
    SELECT max(t.id) INTO max_id FROM @extschema@.uso_task t;
    IF max_id IS NOT NULL THEN
        PERFORM setval('@extschema@.uso_task_id_seq',
                       greatest(max_id, (SELECT s.last_value FROM @extschema@.uso_task_id_seq s)));
    END IF;

    IF with_history AND cardinality(imported || already) > 0 THEN
        -- Keep pg_cron's run ids unless one of them is taken by another run.
        EXECUTE 'SELECT NOT EXISTS (SELECT FROM cron.job_run_details d
                                    JOIN @extschema@.uso_task_run r ON r.id = d.runid
                                    WHERE d.jobid = ANY ($1) AND r.task_id <> d.jobid)'
            INTO keep_ids USING imported || already;
        EXECUTE 'INSERT INTO @extschema@.uso_task_run
                     (id, task_id, trigger, queued_at, started_at, finished_at, status, pid, return_message)
                 SELECT CASE WHEN $2 THEN d.runid
                             ELSE nextval(''@extschema@.uso_task_run_id_seq'') END,
                        d.jobid, ''schedule'', coalesce(d.start_time, d.end_time, now()), d.start_time,
                        coalesce(d.end_time, d.start_time, now()),
                        CASE d.status WHEN ''succeeded'' THEN ''succeeded'' ELSE ''failed'' END,
                        d.job_pid,
                        CASE WHEN d.status IN (''succeeded'', ''failed'') THEN d.return_message
                             ELSE concat_ws('' '', d.return_message,
                                            ''(still '' || d.status || '' in pg_cron when it was imported)'') END
                 FROM cron.job_run_details d
                 WHERE d.jobid = ANY ($1)
                   AND NOT EXISTS (SELECT FROM @extschema@.uso_task_run r
                                   WHERE r.id = d.runid AND r.task_id = d.jobid)
                 ORDER BY d.runid'
            USING imported || already, keep_ids;
        GET DIAGNOSTICS runs = ROW_COUNT;
        IF keep_ids THEN
            SELECT max(r.id) INTO max_id FROM @extschema@.uso_task_run r;
            IF max_id IS NOT NULL THEN
                PERFORM setval('@extschema@.uso_task_run_id_seq',
                               greatest(max_id, (SELECT s.last_value FROM @extschema@.uso_task_run_id_seq s)));
            END IF;
        END IF;
        report := report || format('imported %s runs from cron.job_run_details%s', runs,
                                   CASE WHEN keep_ids THEN '' ELSE ' (with new run ids: some were taken)' END);
    END IF;

    IF pause_pg_cron AND cardinality(imported) > 0 THEN
        -- Not the other nodes' jobs: pg_cron runs them there until it is dropped.
        EXECUTE 'UPDATE cron.job SET active = false WHERE jobid = ANY ($1) AND active AND NOT jobid = ANY ($2)'
            USING imported, remote_ids;
        GET DIAGNOSTICS paused = ROW_COUNT;
        IF paused > 0 THEN
            report := report || format('deactivated %s imported jobs in pg_cron (cron.job.active = false) '
                                       'so that uso_tasks alone runs them', paused);
        END IF;
    END IF;

    report := array_prepend(format('imported %s pg_cron jobs%s%s%s%s', cardinality(imported),
        CASE WHEN cardinality(imported) > 0 THEN ' (jobids ' || array_to_string(imported, ', ') || ')' END,
        CASE WHEN cardinality(remote_ids) > 0
             THEN format(', %s of them disabled (they ran on another node)', cardinality(remote_ids)) END,
        CASE WHEN cardinality(already) > 0 THEN format(', %s already imported', cardinality(already)) END,
        CASE WHEN skipped > 0 THEN format(', skipped %s', skipped) END), report);
    -- pg_cron's grants go with its schema: say how to give them back.
    SELECT string_agg(g, ' ' ORDER BY g) INTO grants FROM (
        SELECT format('GRANT USAGE ON SCHEMA cron TO %s;',
                      CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END) AS g
        FROM pg_namespace n, aclexplode(n.nspacl) a
        WHERE n.nspname = 'cron' AND a.privilege_type = 'USAGE' AND a.grantee <> n.nspowner
        UNION ALL
        SELECT format('GRANT EXECUTE ON FUNCTION %s TO %s;', p.oid::regprocedure,
                      CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END)
        FROM pg_proc p, aclexplode(p.proacl) a
        WHERE p.pronamespace = 'cron'::regnamespace AND p.proname IN ('alter_job', 'schedule_in_database')
          AND a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner) grants;
    report := report || 'next: DROP EXTENSION pg_cron; then SELECT @extschema@.uso_install_cron_compat();'::text;
    IF grants IS NOT NULL THEN
        report := report || ('then restore pg_cron''s grants: ' || grants);
    END IF;
    RETURN array_to_string(report, E'\n');
END
$$;
COMMENT ON FUNCTION @extschema@.uso_import_pg_cron(boolean, boolean) IS
    'Copies every pg_cron job (same jobid, name, role, database, active flag) and optionally its run history into uso_tasks; a job that ran on another node is imported disabled, with a WARNING; reports what it did. Superuser only.';

-- 0.2, issue 12 (sql/install/95_operations.sql): operations: per-task counters and statistics, failure
-- events (NOTIFY, a durable alert outbox delivered by a built-in task), log
-- lines, history of high-frequency tasks, the scheduler status view and the
-- views the Prometheus exporter reads (contrib/prometheus/queries.yaml).
--
-- One trigger on uso_task_run sees every run end, whoever records it (the
-- executor in the run's own transaction, the scheduler closing a run a worker
-- could not, uso_cancel()), and appends it to uso_run_outcome in that
-- transaction: so every end is counted exactly once, when that record
-- commits.  The counters, windows and alert decisions are derived from that
-- queue in batches, off the run's path (uso_fold_outcomes): a run end writes
-- no row that another run end or another role's lock can hold up.

-- New task columns come last (ALTER TABLE appends, as the update script does).
ALTER TABLE @extschema@.uso_task ADD COLUMN alert_mail_to text;
ALTER TABLE @extschema@.uso_task ADD COLUMN record_runs text NOT NULL DEFAULT 'all';
ALTER TABLE @extschema@.uso_task ADD CONSTRAINT uso_task_record_runs_check
    CHECK (record_runs IN ('all', 'failures'));
ALTER TABLE @extschema@.uso_task ADD CONSTRAINT uso_task_alert_mail_to_check
    CHECK (alert_mail_to <> '' AND pg_catalog.length(alert_mail_to) <= 1000
           AND alert_mail_to !~ '[[:cntrl:]]');
COMMENT ON COLUMN @extschema@.uso_task.alert_mail_to IS 'Comma-separated addresses mailed when a run of the task fails for good, it goes missing or recovers (besides uso_tasks.alert_mail_to).';
COMMENT ON COLUMN @extschema@.uso_task.record_runs IS 'all: every run is kept as a row; failures: of the successful runs only the last is kept (counts and statistics in uso_task_stats stay complete).';
GRANT INSERT (alert_mail_to, record_runs), UPDATE (alert_mail_to, record_runs)
    ON @extschema@.uso_task TO PUBLIC;

-- Counters survive retention purges and record_runs = 'failures': they are
-- kept here, one row per task, folded in batches from uso_run_outcome by
-- uso_fold_outcomes() (the scheduler, uso_deliver_alerts), never by a run's
-- own transaction: no row here is written by every run end.  No foreign key:
-- its check would lock the task row, and a role holding its own task row
-- would stall the fold for everyone; a deleted task's row is removed by the
-- fold (and hidden by the policy until then).
CREATE TABLE @extschema@.uso_task_stats (
    task_id           bigint PRIMARY KEY,
    runs_succeeded    bigint NOT NULL DEFAULT 0,
    runs_failed       bigint NOT NULL DEFAULT 0,
    runs_timed_out    bigint NOT NULL DEFAULT 0,
    runs_cancelled    bigint NOT NULL DEFAULT 0,
    runs_skipped      bigint NOT NULL DEFAULT 0,
    last_status       text,
    last_finished_at  timestamptz,
    last_success_at   timestamptz,
    last_failure_at   timestamptz,
    duration_count    bigint NOT NULL DEFAULT 0,
    duration_sum      float8 NOT NULL DEFAULT 0,
    lateness_count    bigint NOT NULL DEFAULT 0,
    lateness_sum      float8 NOT NULL DEFAULT 0,
    recent_durations  float8[] NOT NULL DEFAULT '{}',
    recent_lateness   float8[] NOT NULL DEFAULT '{}',
    failing           boolean NOT NULL DEFAULT false,
    alerted           boolean NOT NULL DEFAULT false,
    missing_alerted   boolean NOT NULL DEFAULT false,
    alert_last_at     timestamptz
) WITH (fillfactor = 70);
COMMENT ON TABLE @extschema@.uso_task_stats IS 'Per-task run counters and statistics, kept when runs are purged (retention, record_runs = failures).';
COMMENT ON COLUMN @extschema@.uso_task_stats.task_id IS 'The task.';
COMMENT ON COLUMN @extschema@.uso_task_stats.runs_succeeded IS 'Runs that succeeded, ever (since the task or this table was created).';
COMMENT ON COLUMN @extschema@.uso_task_stats.runs_failed IS 'Runs that failed (every attempt counts).';
COMMENT ON COLUMN @extschema@.uso_task_stats.runs_timed_out IS 'Runs that exceeded their timeout.';
COMMENT ON COLUMN @extschema@.uso_task_stats.runs_cancelled IS 'Runs cancelled with uso_cancel().';
COMMENT ON COLUMN @extschema@.uso_task_stats.runs_skipped IS 'Slots skipped because the previous run was still going (overlap skip).';
COMMENT ON COLUMN @extschema@.uso_task_stats.last_status IS 'Status of the run that ended last.';
COMMENT ON COLUMN @extschema@.uso_task_stats.last_finished_at IS 'When the last run ended.';
COMMENT ON COLUMN @extschema@.uso_task_stats.last_success_at IS 'When the last successful run ended.';
COMMENT ON COLUMN @extschema@.uso_task_stats.last_failure_at IS 'When the last failed or timed-out run ended.';
COMMENT ON COLUMN @extschema@.uso_task_stats.duration_count IS 'Runs with a duration (they started), for the average.';
COMMENT ON COLUMN @extschema@.uso_task_stats.duration_sum IS 'Sum of their durations in seconds.';
COMMENT ON COLUMN @extschema@.uso_task_stats.lateness_count IS 'Runs with a due time that started.';
COMMENT ON COLUMN @extschema@.uso_task_stats.lateness_sum IS 'Sum of their start lateness (started_at - scheduled_for) in seconds.';
COMMENT ON COLUMN @extschema@.uso_task_stats.recent_durations IS 'Durations in seconds of the last 100 runs that started, oldest first (the metrics'' window).';
COMMENT ON COLUMN @extschema@.uso_task_stats.recent_lateness IS 'Start lateness in seconds of the last 100 runs with a due time, oldest first.';
COMMENT ON COLUMN @extschema@.uso_task_stats.failing IS 'The last failed, timed-out or successful run failed for good (no retry left).';
COMMENT ON COLUMN @extschema@.uso_task_stats.alerted IS 'A failure was announced and no success since: the next success is announced as recovered.';
COMMENT ON COLUMN @extschema@.uso_task_stats.missing_alerted IS 'Announced as missing (its command calls a function that does not exist).';
COMMENT ON COLUMN @extschema@.uso_task_stats.alert_last_at IS 'Start of the current alert interval: mail and webhook calls before alert_last_at + uso_tasks.alert_interval are gathered into one.';
ALTER TABLE @extschema@.uso_task_stats ENABLE ROW LEVEL SECURITY;
CREATE POLICY uso_task_stats_visible ON @extschema@.uso_task_stats
    USING (EXISTS (SELECT FROM @extschema@.uso_task t WHERE t.id = task_id));
GRANT SELECT ON @extschema@.uso_task_stats TO PUBLIC;

-- Run ends to fold into uso_task_stats and the alert decisions: one row
-- inserted by the transaction that records the end (so it is there exactly
-- when the end committed), deleted by the fold that counts it.  Append-only
-- and without an index, so a run end touches no row or index page that
-- another run end needs.
CREATE TABLE @extschema@.uso_run_outcome (
    run_id          bigint NOT NULL,
    task_id         bigint NOT NULL,
    status          text NOT NULL,
    final           boolean NOT NULL,
    scheduled_for   timestamptz,
    started_at      timestamptz,
    finished_at     timestamptz NOT NULL,
    message         text,
    sqlstate        text
);
COMMENT ON TABLE @extschema@.uso_run_outcome IS 'Internal: run ends not yet counted in uso_task_stats (uso_fold_outcomes() folds and deletes them).';
COMMENT ON COLUMN @extschema@.uso_run_outcome.run_id IS 'The run.';
COMMENT ON COLUMN @extschema@.uso_run_outcome.task_id IS 'Its task.';
COMMENT ON COLUMN @extschema@.uso_run_outcome.status IS 'How it ended.';
COMMENT ON COLUMN @extschema@.uso_run_outcome.final IS 'Failed or timed out after its last retry.';
COMMENT ON COLUMN @extschema@.uso_run_outcome.scheduled_for IS 'Its slot, for the lateness.';
COMMENT ON COLUMN @extschema@.uso_run_outcome.started_at IS 'When it started.';
COMMENT ON COLUMN @extschema@.uso_run_outcome.finished_at IS 'When it ended.';
COMMENT ON COLUMN @extschema@.uso_run_outcome.message IS 'Its message (cut to 1000 characters), for the alert.';
COMMENT ON COLUMN @extschema@.uso_run_outcome.sqlstate IS 'Its SQLSTATE, for the alert.';
ALTER TABLE @extschema@.uso_run_outcome ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON @extschema@.uso_run_outcome FROM PUBLIC;

-- One fold at a time: a fold takes this row's lock or, when another fold
-- has it, does nothing (the next one counts what is left).  No role but the
-- extension's owner can lock it (no privilege on it is granted).
CREATE TABLE @extschema@.uso_fold_state (
    folded_at timestamptz
);
COMMENT ON TABLE @extschema@.uso_fold_state IS 'Internal: one row, locked by the fold of uso_run_outcome that runs; when the last fold ended.';
COMMENT ON COLUMN @extschema@.uso_fold_state.folded_at IS 'When the last fold ended.';
ALTER TABLE @extschema@.uso_fold_state ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON @extschema@.uso_fold_state FROM PUBLIC;
INSERT INTO @extschema@.uso_fold_state VALUES (NULL);

-- The outbox: an alert is a row written in the transaction that records the
-- run, delivered later by uso_deliver_alerts() (a built-in task), so neither
-- the scheduler nor a run ever waits for a mail server.  Rows are kept after
-- delivery, as the record of what was sent; the task may be gone by then.
CREATE TABLE @extschema@.uso_alert_outbox (
    id              bigserial PRIMARY KEY,
    task_id         bigint NOT NULL,
    task_name       text NOT NULL,
    username        name NOT NULL,
    run_id          bigint,
    event           text NOT NULL,
    channel         text NOT NULL,
    recipient       text NOT NULL,
    payload         jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    deliver_after   timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    more_failures   integer NOT NULL DEFAULT 0,
    more_since      timestamptz,
    attempts        integer NOT NULL DEFAULT 0,
    last_attempt_at timestamptz,
    last_error      text,
    sent_at         timestamptz,
    claimed_by      integer,
    claimed_at      timestamptz,
    suppressed      boolean NOT NULL DEFAULT false,
    CONSTRAINT uso_alert_outbox_event_check
        CHECK (event IN ('failed', 'timed_out', 'missing', 'recovered')),
    CONSTRAINT uso_alert_outbox_channel_check CHECK (channel IN ('mail', 'webhook'))
);
CREATE INDEX uso_alert_outbox_pending_idx ON @extschema@.uso_alert_outbox (deliver_after)
    WHERE sent_at IS NULL;
CREATE INDEX uso_alert_outbox_task_idx ON @extschema@.uso_alert_outbox (task_id, id DESC);
CREATE INDEX uso_alert_outbox_username_idx ON @extschema@.uso_alert_outbox (username, created_at);
COMMENT ON TABLE @extschema@.uso_alert_outbox IS 'Alerts to deliver (mail, webhook) and delivered: written with the run''s record, sent by uso_deliver_alerts().';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.id IS 'Alert id.';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.task_id IS 'The task (it may have been deleted since).';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.task_name IS 'Its name when the alert was raised.';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.username IS 'Its owner then: who may see the alert (row-level security).';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.run_id IS 'The run (the last one, for an alert that gathers several failures); NULL for missing.';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.event IS 'failed, timed_out (after the last retry), missing, recovered.';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.channel IS 'mail or webhook.';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.recipient IS 'Comma-separated addresses (mail) or the URL (webhook).';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.payload IS 'The event as NOTIFY sent it on uso_task_events; the webhook''s body.';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.created_at IS 'When the event happened.';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.deliver_after IS 'Not sent before: the end of the alert interval for gathered failures, or the next retry after a failed delivery.';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.more_failures IS 'Failures gathered into this alert by the rate limit ("N more failures since ...").';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.more_since IS 'When the first of them happened.';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.attempts IS 'Delivery attempts so far.';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.last_attempt_at IS 'When delivery was last tried.';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.last_error IS 'Why the last attempt failed; retried with backoff (10 s doubling, at most 1 hour), never dropped.';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.sent_at IS 'When it was delivered; NULL while pending.';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.claimed_by IS 'Process id of the delivery sending it now; a claim whose process is gone is taken over.';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.claimed_at IS 'When that delivery claimed it.';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.suppressed IS 'Not sent: the owner''s tasks had raised uso_tasks.alert_max_per_role alerts within uso_tasks.alert_interval (last_error says so).';
ALTER TABLE @extschema@.uso_alert_outbox ENABLE ROW LEVEL SECURITY;
CREATE POLICY uso_alert_outbox_visible ON @extschema@.uso_alert_outbox
    FOR SELECT USING (username = CURRENT_USER OR @extschema@.uso_is_admin());
REVOKE ALL ON @extschema@.uso_alert_outbox FROM PUBLIC;

CREATE VIEW @extschema@.uso_alerts WITH (security_invoker = true) AS
SELECT o.id, o.task_name AS task, o.task_id, o.run_id, o.event, o.channel, o.recipient,
       CASE WHEN o.sent_at IS NOT NULL THEN 'sent'
            WHEN o.suppressed THEN 'suppressed'
            WHEN o.claimed_by IS NOT NULL THEN 'sending'
            WHEN o.attempts > 0 THEN 'failed'
            ELSE 'pending' END AS state,
       o.created_at, o.deliver_after, o.sent_at, o.attempts, o.last_error,
       o.more_failures, o.more_since, o.payload
FROM @extschema@.uso_alert_outbox o;
COMMENT ON VIEW @extschema@.uso_alerts IS 'Alerts: what was sent, when, to whom; pending ones and failed deliveries (retried). A role sees its own tasks'' alerts, admins all.';
COMMENT ON COLUMN @extschema@.uso_alerts.id IS 'Alert id.';
COMMENT ON COLUMN @extschema@.uso_alerts.task IS 'Task name when the alert was raised.';
COMMENT ON COLUMN @extschema@.uso_alerts.task_id IS 'Task id.';
COMMENT ON COLUMN @extschema@.uso_alerts.run_id IS 'The run (the last one gathered), NULL for missing.';
COMMENT ON COLUMN @extschema@.uso_alerts.event IS 'failed, timed_out, missing, recovered.';
COMMENT ON COLUMN @extschema@.uso_alerts.channel IS 'mail or webhook.';
COMMENT ON COLUMN @extschema@.uso_alerts.recipient IS 'Addresses or URL.';
COMMENT ON COLUMN @extschema@.uso_alerts.state IS 'pending (not tried yet), sending, failed (last delivery failed, retried at deliver_after), sent, suppressed (over the owner''s alert cap, not sent).';
COMMENT ON COLUMN @extschema@.uso_alerts.created_at IS 'When the event happened.';
COMMENT ON COLUMN @extschema@.uso_alerts.deliver_after IS 'Not sent before this.';
COMMENT ON COLUMN @extschema@.uso_alerts.sent_at IS 'When it was delivered.';
COMMENT ON COLUMN @extschema@.uso_alerts.attempts IS 'Delivery attempts.';
COMMENT ON COLUMN @extschema@.uso_alerts.last_error IS 'Why the last attempt failed.';
COMMENT ON COLUMN @extschema@.uso_alerts.more_failures IS 'Further failures gathered into this alert by the rate limit.';
COMMENT ON COLUMN @extschema@.uso_alerts.more_since IS 'When the first of them happened.';
COMMENT ON COLUMN @extschema@.uso_alerts.payload IS 'The event as JSON.';
GRANT SELECT ON @extschema@.uso_alerts TO PUBLIC;
GRANT SELECT ON @extschema@.uso_alert_outbox TO PUBLIC;

CREATE FUNCTION @extschema@.uso_log_run(database text, task text, run_id bigint, status text,
    sqlstate text, message text, duration float8) RETURNS void
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'uso_log_run';
COMMENT ON FUNCTION @extschema@.uso_log_run(text, text, bigint, text, text, text, float8) IS
    'Internal (run-end trigger): writes the LOG line of a finished run (uso_tasks.log_runs).';
REVOKE EXECUTE ON FUNCTION @extschema@.uso_log_run(text, text, bigint, text, text, text, float8) FROM PUBLIC;

-- A setting of the server, or its default when the library is not loaded in
-- this session (a placeholder GUC has no default).
-- No SET clause, so that it is inlined (the run-end trigger calls it per run);
-- every name in it is qualified instead.
CREATE FUNCTION @extschema@.uso_setting(name text, fallback text) RETURNS text
    LANGUAGE sql STABLE
    AS $$ SELECT COALESCE(NULLIF(pg_catalog.current_setting(name, true), ''::pg_catalog.text), fallback) $$;
COMMENT ON FUNCTION @extschema@.uso_setting(text, text) IS
    'Internal: current_setting(name), or fallback when unset or empty.';

-- The addresses of a comma-separated list, trimmed, empty ones dropped.
CREATE FUNCTION @extschema@.uso_mail_list(list text) RETURNS text[]
    LANGUAGE sql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT coalesce(array_agg(btrim(a) ORDER BY n) FILTER (WHERE btrim(a) <> ''), '{}')
          FROM unnest(string_to_array(list, ',')) WITH ORDINALITY AS x(a, n) $$;
COMMENT ON FUNCTION @extschema@.uso_mail_list(text) IS
    'Internal: the addresses of a comma-separated list, trimmed, without empty ones.';

-- A task's alert_mail_to names at most uso_tasks.alert_max_recipients
-- addresses: one row must not turn an alert into a mass mailing.
CREATE FUNCTION @extschema@.uso_task_check_alert_mail_to() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cap constant integer := @extschema@.uso_setting('uso_tasks.alert_max_recipients', '10')::integer;
    n   constant integer := cardinality(@extschema@.uso_mail_list(NEW.alert_mail_to));
BEGIN
    IF n > cap THEN
        RAISE EXCEPTION 'alert_mail_to names % addresses, more than the % allowed', n, cap
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Mail a list address instead, or ask an administrator to raise uso_tasks.alert_max_recipients.';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION @extschema@.uso_task_check_alert_mail_to() IS
    'Trigger: refuses an alert_mail_to with more addresses than uso_tasks.alert_max_recipients.';
CREATE TRIGGER uso_task_check_alert_mail_to
    BEFORE INSERT OR UPDATE OF alert_mail_to ON @extschema@.uso_task
    FOR EACH ROW WHEN (NEW.alert_mail_to IS NOT NULL)
    EXECUTE FUNCTION @extschema@.uso_task_check_alert_mail_to();

-- Queue the mail and webhook alerts of an event, under the rate limits.
-- Caller: uso_fold_outcomes, which holds the fold lock (so s is current and
-- no other transaction writes it).  Never waits for a row lock: an alert
-- being delivered is left alone and the event opens a new one.
CREATE FUNCTION @extschema@.uso_queue_alert(t @extschema@.uso_task, s @extschema@.uso_task_stats,
    event text, run_id bigint, payload jsonb) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cap      constant integer := @extschema@.uso_setting('uso_tasks.alert_max_recipients', '10')::integer;
    own      constant text[] := @extschema@.uso_mail_list(t.alert_mail_to);
    mail_to  text := nullif(array_to_string(
                       @extschema@.uso_mail_list(@extschema@.uso_setting('uso_tasks.alert_mail_to', ''))
                       || own[1:cap], ', '), '');
    hook     constant text := nullif(@extschema@.uso_setting('uso_tasks.alert_webhook_url', ''), '');
    interval_ constant interval := @extschema@.uso_setting('uso_tasks.alert_interval', '900s')::interval;
    per_role constant integer := @extschema@.uso_setting('uso_tasks.alert_max_per_role', '50')::integer;
    now_     constant timestamptz := clock_timestamp();
    failure  constant integer := (event IN ('failed', 'timed_out'))::integer;
    gather   constant boolean := s.alert_last_at IS NOT NULL AND now_ < s.alert_last_at + interval_;
    channel_ text;
    target   text;
    digest   bigint;
    opened   boolean := false;
    over     boolean;
BEGIN
    IF mail_to IS NULL AND hook IS NULL THEN
        RETURN;
    END IF;
    FOREACH channel_ IN ARRAY ARRAY['mail', 'webhook'] LOOP
        target := CASE channel_ WHEN 'mail' THEN mail_to ELSE hook END;
        CONTINUE WHEN target IS NULL;
        -- Every kind is rate-limited: within an interval, events go into one
        -- alert per channel, sent at its end (which opens the next interval);
        -- it reports the latest event and counts the failures gathered.
        IF gather THEN
            SELECT o.id INTO digest FROM @extschema@.uso_alert_outbox o
             WHERE o.task_id = t.id AND o.channel = channel_ AND o.sent_at IS NULL
               AND o.more_since IS NOT NULL AND o.attempts = 0 AND o.claimed_by IS NULL
               AND NOT o.suppressed
             ORDER BY o.id DESC LIMIT 1
             FOR UPDATE SKIP LOCKED;
            IF FOUND THEN
                UPDATE @extschema@.uso_alert_outbox o
                   SET more_failures = o.more_failures + failure, run_id = uso_queue_alert.run_id,
                       payload = uso_queue_alert.payload, event = uso_queue_alert.event
                 WHERE o.id = digest;
                CONTINUE;
            END IF;
        END IF;
        -- One owner's tasks raise at most per_role alerts per interval; the
        -- rest are kept, marked suppressed, and not sent.
        SELECT count(*) >= per_role INTO over FROM @extschema@.uso_alert_outbox o
         WHERE o.username = t.username AND o.created_at > now_ - interval_ AND NOT o.suppressed;
        INSERT INTO @extschema@.uso_alert_outbox
            (task_id, task_name, username, run_id, event, channel, recipient, payload,
             deliver_after, more_failures, more_since, suppressed, last_error)
        VALUES (t.id, t.name, t.username, run_id, event, channel_, target, payload,
                CASE WHEN gather THEN s.alert_last_at + interval_ ELSE now_ END,
                CASE WHEN gather THEN failure ELSE 0 END, CASE WHEN gather THEN now_ END,
                over, CASE WHEN over THEN format('not sent: the tasks of role %s raised %s alerts within uso_tasks.alert_interval (uso_tasks.alert_max_per_role)',
                                                 t.username, per_role) END);
        opened := true;
    END LOOP;
    IF opened THEN
        UPDATE @extschema@.uso_task_stats x
           SET alert_last_at = CASE WHEN gather THEN s.alert_last_at + interval_ ELSE now_ END
         WHERE x.task_id = t.id;
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.uso_queue_alert(@extschema@.uso_task, @extschema@.uso_task_stats, text, bigint, jsonb) IS
    'Internal: writes the outbox rows of an event (mail to uso_tasks.alert_mail_to and at most uso_tasks.alert_max_recipients of the task''s alert_mail_to, webhook to uso_tasks.alert_webhook_url), gathering the events within uso_tasks.alert_interval into one alert and marking suppressed those beyond uso_tasks.alert_max_per_role per owner.';
REVOKE EXECUTE ON FUNCTION @extschema@.uso_queue_alert(@extschema@.uso_task, @extschema@.uso_task_stats, text, bigint, jsonb) FROM PUBLIC;

-- The event's JSON, as NOTIFY sends it and the webhook posts it.
CREATE FUNCTION @extschema@.uso_event_payload(t @extschema@.uso_task, event text, run_id bigint,
    message text, sqlstate text, finished_at timestamptz) RETURNS jsonb
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
SELECT jsonb_build_object('task', t.name, 'task_id', t.id, 'run_id', run_id, 'status', event,
                          'database', current_database(),
                          -- NOTIFY payloads are limited to 8000 bytes.
                          'message', @extschema@.uso_shorten(message, 1000),
                          'sqlstate', sqlstate, 'finished_at', finished_at)
$$;
COMMENT ON FUNCTION @extschema@.uso_event_payload(@extschema@.uso_task, text, bigint, text, text, timestamptz) IS
    'Internal: the JSON of a task event (task, task_id, run_id, status, database, message, sqlstate, finished_at).';

-- The run's own transaction writes its outcome row and what must commit with
-- it (NOTIFY of a final failure, the LOG line, the followers' runs,
-- record_runs); counting and alerting are the fold's.
CREATE FUNCTION @extschema@.uso_run_ended() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    -- Its plans outlive the sizes they were made for (a long-lived executor):
    -- a task lookup made while the table was small must not stay a scan of
    -- every row (src/spi_plans.c).
    SET enable_seqscan = off SET jit = off
    AS $$
DECLARE
    t          @extschema@.uso_task;
    final      boolean;
    notify     constant text := @extschema@.uso_setting('uso_tasks.notify_events', 'failures');
    log_runs   constant text := @extschema@.uso_setting('uso_tasks.log_runs', 'failures');
BEGIN
    SELECT * INTO t FROM @extschema@.uso_task x WHERE x.id = NEW.task_id;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    final := NEW.status IN ('failed', 'timed_out') AND NEW.attempt > t.max_retries;

    INSERT INTO @extschema@.uso_run_outcome
        (run_id, task_id, status, final, scheduled_for, started_at, finished_at, message, sqlstate)
    VALUES (NEW.id, NEW.task_id, NEW.status, final, NEW.scheduled_for, NEW.started_at, NEW.finished_at,
            @extschema@.uso_shorten(NEW.return_message, 1000), NEW.sqlstate);

    -- A recovery is announced by the fold, which knows whether a failure was.
    IF notify = 'all' OR (notify = 'failures' AND final) THEN
        PERFORM pg_notify('uso_task_events',
            @extschema@.uso_event_payload(t, NEW.status, NEW.id, NEW.return_message, NEW.sqlstate,
                                          NEW.finished_at)::text);
    END IF;

    IF log_runs = 'all' OR (log_runs = 'failures' AND NEW.status IN ('failed', 'timed_out', 'cancelled')) THEN
        PERFORM @extschema@.uso_log_run(current_database(), t.name, NEW.id, NEW.status, NEW.sqlstate,
                                        NEW.return_message,
                                        extract(epoch FROM NEW.finished_at - NEW.started_at)::float8);
    END IF;

    -- Followers ('after <task>'): queued in this transaction, so an outcome
    -- that committed has queued them, whatever crashes next.
    IF (NEW.status = 'succeeded' OR final)
       AND EXISTS (SELECT FROM @extschema@.uso_task f WHERE f.follows_task_id = t.id) THEN
        PERFORM @extschema@.uso_queue_followers(t.id, NEW.id, CASE WHEN final THEN 'failure' ELSE 'success' END);
    END IF;

    -- record_runs = failures: the last success is the only one kept.
    IF NEW.status = 'succeeded' AND t.record_runs = 'failures' THEN
        DELETE FROM @extschema@.uso_task_run r
         WHERE r.task_id = t.id AND r.status = 'succeeded' AND r.id <> NEW.id;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION @extschema@.uso_run_ended() IS
    'Trigger: a run ended: records it for the fold (uso_run_outcome), announces a final failure (NOTIFY uso_task_events), writes its LOG line, queues the runs of the tasks that follow it, and applies record_runs.';
REVOKE EXECUTE ON FUNCTION @extschema@.uso_run_ended() FROM PUBLIC;

CREATE TRIGGER uso_run_ended AFTER UPDATE OF finished_at ON @extschema@.uso_task_run
    FOR EACH ROW WHEN (OLD.finished_at IS NULL AND NEW.finished_at IS NOT NULL)
    EXECUTE FUNCTION @extschema@.uso_run_ended();
-- Runs recorded as already ended (skipped slots, tasks that cannot run).
CREATE TRIGGER uso_run_ended_insert AFTER INSERT ON @extschema@.uso_task_run
    FOR EACH ROW WHEN (NEW.finished_at IS NOT NULL)
    EXECUTE FUNCTION @extschema@.uso_run_ended();

-- uso_command_missing with the names looked up along path: the lookup runs
-- nothing, and the path is this function's only (a SET clause restores it).
CREATE FUNCTION @extschema@.uso_command_missing_in(command text, path text) RETURNS text
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    PERFORM pg_catalog.set_config('search_path', path, true);
    RETURN @extschema@.uso_command_missing(command);
END
$$;
COMMENT ON FUNCTION @extschema@.uso_command_missing_in(text, text) IS
    'Internal: uso_command_missing(command) with the names looked up along search_path path.';
REVOKE EXECUTE ON FUNCTION @extschema@.uso_command_missing_in(text, text) FROM PUBLIC;

-- The fold: counts the run ends of uso_run_outcome into uso_task_stats (set
-- based, one statement per batch) and decides their alerts, in the order the
-- runs ended, task by task.  With find_missing (uso_deliver_alerts) it also
-- announces the tasks whose command calls a function that is not there and
-- drops the counters of deleted tasks.  Called by the scheduler after run
-- ends, and by uso_deliver_alerts.  Returns how many run ends it counted.
CREATE FUNCTION @extschema@.uso_fold_outcomes(find_missing boolean DEFAULT false) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET jit = off
    AS $$
DECLARE
    batch   @extschema@.uso_run_outcome[];
    total   integer := 0;
    e       @extschema@.uso_run_outcome;
    t       @extschema@.uso_task;
    s       @extschema@.uso_task_stats;
    c       record;
    event   text;
    payload jsonb;
    notify  constant text := @extschema@.uso_setting('uso_tasks.notify_events', 'failures');
BEGIN
    -- The scheduler's fold gives way to a running one (the next counts what
    -- is left); uso_deliver_alerts' waits for it, so that its search for
    -- missing tasks is never skipped.
    IF find_missing THEN
        PERFORM FROM @extschema@.uso_fold_state f FOR UPDATE;
    ELSE
        PERFORM FROM @extschema@.uso_fold_state f FOR UPDATE SKIP LOCKED;
        IF NOT FOUND THEN
            RETURN 0;
        END IF;
    END IF;
    LOOP
        WITH d AS (
            DELETE FROM @extschema@.uso_run_outcome q
             WHERE q.ctid = ANY (ARRAY(SELECT x.ctid FROM @extschema@.uso_run_outcome x LIMIT 20000))
            RETURNING q)
        SELECT array_agg(d.q) INTO batch FROM d;
        EXIT WHEN batch IS NULL;
        total := total + cardinality(batch);

        INSERT INTO @extschema@.uso_task_stats (task_id)
        SELECT DISTINCT b.task_id FROM unnest(batch) b
        WHERE EXISTS (SELECT FROM @extschema@.uso_task x WHERE x.id = b.task_id)
        ON CONFLICT (task_id) DO NOTHING;

        UPDATE @extschema@.uso_task_stats x SET
            runs_succeeded = x.runs_succeeded + a.succeeded,
            runs_failed = x.runs_failed + a.failed,
            runs_timed_out = x.runs_timed_out + a.timed_out,
            runs_cancelled = x.runs_cancelled + a.cancelled,
            runs_skipped = x.runs_skipped + a.skipped,
            -- a batch may hold an end older than one already counted
            last_status = CASE WHEN x.last_finished_at IS NULL OR a.last_finished_at >= x.last_finished_at
                               THEN a.last_status ELSE x.last_status END,
            last_finished_at = greatest(x.last_finished_at, a.last_finished_at),
            last_success_at = greatest(x.last_success_at, a.last_success_at),
            last_failure_at = greatest(x.last_failure_at, a.last_failure_at),
            duration_count = x.duration_count + a.duration_count,
            duration_sum = x.duration_sum + a.duration_sum,
            lateness_count = x.lateness_count + a.lateness_count,
            lateness_sum = x.lateness_sum + a.lateness_sum,
            recent_durations = (x.recent_durations || a.durations)
                [greatest(cardinality(x.recent_durations) + cardinality(a.durations) - 99, 1):],
            recent_lateness = (x.recent_lateness || a.lateness)
                [greatest(cardinality(x.recent_lateness) + cardinality(a.lateness) - 99, 1):],
            failing = coalesce(a.failing, x.failing)
        FROM (SELECT b.task_id,
                     count(*) FILTER (WHERE b.status = 'succeeded') AS succeeded,
                     count(*) FILTER (WHERE b.status = 'failed') AS failed,
                     count(*) FILTER (WHERE b.status = 'timed_out') AS timed_out,
                     count(*) FILTER (WHERE b.status = 'cancelled') AS cancelled,
                     count(*) FILTER (WHERE b.status = 'skipped') AS skipped,
                     (array_agg(b.status ORDER BY b.finished_at DESC, b.run_id DESC))[1] AS last_status,
                     max(b.finished_at) AS last_finished_at,
                     max(b.finished_at) FILTER (WHERE b.status = 'succeeded') AS last_success_at,
                     max(b.finished_at) FILTER (WHERE b.status IN ('failed', 'timed_out')) AS last_failure_at,
                     count(b.duration) AS duration_count, coalesce(sum(b.duration), 0) AS duration_sum,
                     count(b.lateness) AS lateness_count, coalesce(sum(b.lateness), 0) AS lateness_sum,
                     coalesce(array_agg(b.duration ORDER BY b.finished_at, b.run_id)
                              FILTER (WHERE b.duration IS NOT NULL), '{}') AS durations,
                     coalesce(array_agg(b.lateness ORDER BY b.finished_at, b.run_id)
                              FILTER (WHERE b.lateness IS NOT NULL), '{}') AS lateness,
                     -- the last run that failed for good or succeeded says whether it is failing
                     (array_agg(b.final ORDER BY b.finished_at DESC, b.run_id DESC)
                          FILTER (WHERE b.final OR b.status = 'succeeded'))[1] AS failing
              FROM (SELECT u.task_id, u.run_id, u.status, u.final, u.finished_at,
                           extract(epoch FROM u.finished_at - u.started_at)::float8 AS duration,
                           CASE WHEN u.started_at IS NOT NULL AND u.scheduled_for IS NOT NULL
                                THEN greatest(extract(epoch FROM u.started_at - u.scheduled_for)::float8, 0)
                           END AS lateness
                    FROM unnest(batch) u) b
              GROUP BY b.task_id) a
        WHERE x.task_id = a.task_id;

        -- Alerts, in the order the runs ended: a final failure is one; a
        -- success after an announced failure is a recovery.  Only those
        -- runs are looked at, and the successes of tasks that may be alerted.
        FOR e IN SELECT u.* FROM unnest(batch) u
                 WHERE u.final
                    OR (u.status = 'succeeded'
                        AND (u.task_id IN (SELECT st.task_id FROM @extschema@.uso_task_stats st WHERE st.alerted)
                             OR u.task_id IN (SELECT v.task_id FROM unnest(batch) v WHERE v.final)))
                 ORDER BY u.task_id, u.finished_at, u.run_id LOOP
            SELECT * INTO s FROM @extschema@.uso_task_stats x WHERE x.task_id = e.task_id;
            CONTINUE WHEN NOT FOUND OR (NOT e.final AND NOT s.alerted);
            SELECT * INTO t FROM @extschema@.uso_task x WHERE x.id = e.task_id;
            CONTINUE WHEN NOT FOUND;
            event := CASE WHEN e.final THEN e.status ELSE 'recovered' END;
            UPDATE @extschema@.uso_task_stats x SET alerted = e.final WHERE x.task_id = e.task_id;
            payload := @extschema@.uso_event_payload(t, event, e.run_id, e.message, e.sqlstate, e.finished_at);
            -- A final failure was announced by its run's own transaction.
            IF event = 'recovered' AND notify <> 'none' THEN
                PERFORM pg_notify('uso_task_events', payload::text);
            END IF;
            PERFORM @extschema@.uso_queue_alert(t, s, event, e.run_id, payload);
        END LOOP;
    END LOOP;

    IF find_missing THEN
        -- Tasks whose command calls a function that is not there, once per
        -- episode: only a task whose state changed is written.  Names are
        -- looked up as a task's session would (the search_path this
        -- session started with), not with this function's.
        FOR c IN
            SELECT x AS task, m.missing FROM @extschema@.uso_task x
            LEFT JOIN @extschema@.uso_task_stats st ON st.task_id = x.id
            CROSS JOIN LATERAL (SELECT @extschema@.uso_command_missing_in(x.command,
                (SELECT g.reset_val FROM pg_settings g WHERE g.name = 'search_path')) AS missing) m
            WHERE x.enabled AND NOT x.builtin
              AND coalesce(x.database, current_database()) = current_database()
              AND (m.missing IS NOT NULL) <> coalesce(st.missing_alerted, false) LOOP
            t := c.task;
            INSERT INTO @extschema@.uso_task_stats (task_id) VALUES (t.id) ON CONFLICT DO NOTHING;
            UPDATE @extschema@.uso_task_stats x SET missing_alerted = (c.missing IS NOT NULL)
             WHERE x.task_id = t.id RETURNING * INTO s;
            CONTINUE WHEN c.missing IS NULL;
            payload := @extschema@.uso_event_payload(t, 'missing', NULL,
                format('function %s does not exist', c.missing), '42883', clock_timestamp());
            IF notify <> 'none' THEN
                PERFORM pg_notify('uso_task_events', payload::text);
            END IF;
            PERFORM @extschema@.uso_queue_alert(t, s, 'missing', NULL, payload);
        END LOOP;
        DELETE FROM @extschema@.uso_task_stats x
         WHERE NOT EXISTS (SELECT FROM @extschema@.uso_task y WHERE y.id = x.task_id);
    END IF;
    UPDATE @extschema@.uso_fold_state f SET folded_at = clock_timestamp();
    RETURN total;
END
$$;
COMMENT ON FUNCTION @extschema@.uso_fold_outcomes(boolean) IS
    'Internal: counts the run ends of uso_run_outcome into uso_task_stats and queues their alerts in the order the runs ended; with find_missing also announces tasks gone missing and drops the counters of deleted tasks, waiting for a running fold; without, does nothing while another fold runs. Returns the run ends counted.';
REVOKE EXECUTE ON FUNCTION @extschema@.uso_fold_outcomes(boolean) FROM PUBLIC;

-- Delivery: the built-in task uso_deliver_alerts calls it every 10 seconds.
-- It claims one alert at a time and commits before it sends, so no lock is
-- held while a mail server or webhook takes its time (or never answers).
CREATE FUNCTION @extschema@.uso_alert_body(o @extschema@.uso_alert_outbox) RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r     @extschema@.uso_task_run;
    lines text;
    link  constant text := nullif(@extschema@.uso_setting('uso_tasks.admin_url', ''), '');
    body  text;
BEGIN
    SELECT * INTO r FROM @extschema@.uso_task_run x WHERE x.id = o.run_id;
    body := format(E'Task: %s\nDatabase: %s\nEvent: %s\n', o.task_name, current_database(), o.event);
    IF o.more_failures > 0 THEN
        body := body || format(E'%s more failures since %s; the last one:\n', o.more_failures, o.more_since);
    END IF;
    IF o.run_id IS NOT NULL THEN
        body := body || format(E'Run id: %s\n', o.run_id);
    END IF;
    IF r.id IS NOT NULL THEN
        body := body || format(E'Trigger: %s, attempt %s\nScheduled for: %s\nStarted: %s\nFinished: %s\n',
                               r.trigger, r.attempt, coalesce(r.scheduled_for::text, '-'),
                               coalesce(r.started_at::text, '-'), coalesce(r.finished_at::text, '-'));
    END IF;
    body := body || format(E'Message: %s\n', coalesce(r.return_message, o.payload->>'message', '-'));
    IF coalesce(r.sqlstate, o.payload->>'sqlstate') IS NOT NULL THEN
        body := body || format(E'SQLSTATE: %s\n', coalesce(r.sqlstate, o.payload->>'sqlstate'));
    END IF;
    IF r.error_detail IS NOT NULL THEN
        body := body || format(E'Detail: %s\n', r.error_detail);
    END IF;
    IF r.error_hint IS NOT NULL THEN
        body := body || format(E'Hint: %s\n', r.error_hint);
    END IF;
    IF r.error_context IS NOT NULL THEN
        body := body || format(E'Context:\n%s\n', r.error_context);
    END IF;
    SELECT string_agg(format('%s %s: %s', l.logged_at, l.level, @extschema@.uso_shorten(l.message, 500)),
                      E'\n' ORDER BY l.seq) INTO lines
    FROM (SELECT * FROM @extschema@.uso_task_log l WHERE l.run_id = o.run_id
          ORDER BY l.seq DESC LIMIT 20) l;
    IF lines IS NOT NULL THEN
        body := body || E'\nLast log lines:\n' || lines || E'\n';
    END IF;
    IF link IS NOT NULL THEN
        body := body || E'\n' || replace(link, '{task}', pg_catalog.replace(o.task_name, ' ', '%20')) || E'\n';
    END IF;
    RETURN body;
END
$$;
COMMENT ON FUNCTION @extschema@.uso_alert_body(@extschema@.uso_alert_outbox) IS
    'Internal: the text of an alert mail (run id, times, message, SQLSTATE, context, last log lines, uso_tasks.admin_url link).';

-- The oldest due alert that no live delivery holds and that no older unsent
-- alert of its task and channel precedes (alerts go out in the order of
-- their events, a retried one holding back the later ones), claimed for
-- this session and counted as an attempt; NULL when there is none.
CREATE FUNCTION @extschema@.uso_claim_alert(OUT id bigint, OUT channel text, OUT recipient text,
    OUT subject text, OUT body text)
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    o @extschema@.uso_alert_outbox;
BEGIN
    SELECT * INTO o FROM @extschema@.uso_alert_outbox x
     WHERE x.sent_at IS NULL AND NOT x.suppressed AND x.deliver_after <= clock_timestamp()
       AND (x.claimed_by IS NULL
            OR NOT EXISTS (SELECT FROM pg_catalog.pg_stat_activity a
                           WHERE a.pid = x.claimed_by AND a.backend_start <= x.claimed_at))
       AND NOT EXISTS (SELECT FROM @extschema@.uso_alert_outbox y
                       WHERE y.task_id = x.task_id AND y.channel = x.channel AND y.id < x.id
                         AND y.sent_at IS NULL AND NOT y.suppressed)
     ORDER BY x.id LIMIT 1
     FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    UPDATE @extschema@.uso_alert_outbox x
       SET claimed_by = pg_backend_pid(), claimed_at = clock_timestamp(),
           attempts = x.attempts + 1, last_attempt_at = clock_timestamp()
     WHERE x.id = o.id;
    id := o.id;
    channel := o.channel;
    recipient := o.recipient;
    IF o.channel = 'mail' THEN
        subject := format('[uso_tasks] %s %s', o.task_name,
                          CASE o.event WHEN 'timed_out' THEN 'timed out'
                                       WHEN 'missing' THEN 'is missing'
                                       ELSE o.event END);
        IF o.more_failures > 0 THEN
            subject := subject || format(' (%s more failures)', o.more_failures);
        END IF;
        body := @extschema@.uso_alert_body(o);
    ELSE
        body := (o.payload || jsonb_build_object('more_failures', o.more_failures,
                                                 'more_since', o.more_since))::text;
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.uso_claim_alert() IS
    'Internal (uso_deliver_alerts): claims the next alert to send, in the order of the events, and returns its channel, recipient, subject and body; NULL id when none is due.';
REVOKE EXECUTE ON FUNCTION @extschema@.uso_claim_alert() FROM PUBLIC;

-- Reads and locks nothing: called with no lock held, it may take as long as
-- the mail server or webhook does.
CREATE FUNCTION @extschema@.uso_send_alert(channel text, recipient text, subject text, body text)
    RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    resp @extschema@.uso_http_response;
BEGIN
    IF channel = 'mail' THEN
        PERFORM @extschema@.uso_send_mail(recipient, subject, body);
    ELSE
        resp := @extschema@.uso_http_post(recipient, body);
        IF resp.status NOT BETWEEN 200 AND 299 THEN
            RETURN format('webhook answered HTTP %s', resp.status);
        END IF;
    END IF;
    RETURN NULL;
EXCEPTION WHEN OTHERS THEN
    RETURN @extschema@.uso_shorten(SQLERRM, 500);
END
$$;
COMMENT ON FUNCTION @extschema@.uso_send_alert(text, text, text, text) IS
    'Internal (uso_deliver_alerts): sends one alert by mail or webhook; NULL when it went out, else why not.';
REVOKE EXECUTE ON FUNCTION @extschema@.uso_send_alert(text, text, text, text) FROM PUBLIC;

CREATE FUNCTION @extschema@.uso_alert_done(alert bigint, error text) RETURNS void
    LANGUAGE sql
    SET search_path = pg_catalog, pg_temp
    AS $$
UPDATE @extschema@.uso_alert_outbox x
   SET claimed_by = NULL, claimed_at = NULL,
       sent_at = CASE WHEN error IS NULL THEN clock_timestamp() END,
       last_error = coalesce(@extschema@.uso_shorten(error, 500), x.last_error),
       -- Kept and retried: 10 s, doubling, at most an hour apart.
       deliver_after = CASE WHEN error IS NULL THEN x.deliver_after
                            ELSE clock_timestamp() + least(interval '10 seconds'
                                     * power(2, least(x.attempts - 1, 20)), interval '1 hour') END
 WHERE x.id = alert AND x.claimed_by = pg_backend_pid()
$$;
COMMENT ON FUNCTION @extschema@.uso_alert_done(bigint, text) IS
    'Internal (uso_deliver_alerts): records how sending a claimed alert went (sent, or the error and the next try).';
REVOKE EXECUTE ON FUNCTION @extschema@.uso_alert_done(bigint, text) FROM PUBLIC;

-- A procedure, to commit between its steps: no SET clause (a procedure with
-- one cannot commit), so every name and operator in it is qualified.
CREATE PROCEDURE @extschema@.uso_deliver_alerts(max_alerts integer DEFAULT 100, INOUT sent integer DEFAULT NULL)
    LANGUAGE plpgsql
    AS $$
DECLARE
    c     record;
    err   text;
    tried integer := 0;
BEGIN
    IF NOT @extschema@.uso_is_admin() THEN
        RAISE EXCEPTION 'only superusers and members of uso_admin may deliver alerts'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    PERFORM @extschema@.uso_fold_outcomes(true);
    COMMIT;
    sent := 0;
    WHILE tried OPERATOR(pg_catalog.<) max_alerts LOOP
        SELECT * INTO c FROM @extschema@.uso_claim_alert();
        EXIT WHEN c.id IS NULL;
        COMMIT;
        err := @extschema@.uso_send_alert(c.channel, c.recipient, c.subject, c.body);
        PERFORM @extschema@.uso_alert_done(c.id, err);
        COMMIT;
        tried := tried OPERATOR(pg_catalog.+) 1;
        IF err IS NULL THEN
            sent := sent OPERATOR(pg_catalog.+) 1;
        END IF;
    END LOOP;
END
$$;
COMMENT ON PROCEDURE @extschema@.uso_deliver_alerts(integer, integer) IS
    'Counts the run ends not yet counted and announces tasks gone missing, then sends up to max_alerts due alerts of the outbox (mail, webhook), in the order of their events, committing before each send so that no lock is held while it waits; a failed delivery is retried with backoff. sent: how many went out. The built-in task uso_deliver_alerts calls it every 10 seconds.';
REVOKE EXECUTE ON PROCEDURE @extschema@.uso_deliver_alerts(integer, integer) FROM PUBLIC;

-- A built-in task, as 99_builtin.sql makes those of a fresh install: a
-- negative id, builtin, registered by uso_tasks.
INSERT INTO @extschema@.uso_task (id, builtin, extension, name, category, schedule, command, description, record_runs)
SELECT least(pg_catalog.min(t.id), 0) - 1, true, 'uso_tasks', 'uso_deliver_alerts', 'uso_tasks', '10 seconds',
       'CALL @extschema@.uso_deliver_alerts()',
 'Alert delivery: counts run ends into uso_task_stats, sends the mails and webhook calls of failed, missing and recovered tasks '
 '(uso_alerts), retrying a mail server that is down.', 'failures'
FROM @extschema@.uso_task t;

-- Scheduler status: read from shared memory (src/status.c).
CREATE FUNCTION @extschema@.uso_scheduler_status_raw(
    OUT database name, OUT pid integer, OUT started_at timestamptz, OUT last_loop_at timestamptz,
    OUT tasks_loaded integer, OUT runs_queued integer, OUT runs_running integer,
    OUT workers_busy integer, OUT workers_idle integer, OUT next_wakeup timestamptz, OUT state text)
    RETURNS SETOF record
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'uso_scheduler_status';
COMMENT ON FUNCTION @extschema@.uso_scheduler_status_raw() IS
    'The schedulers in shared memory, and this database''s even when it has none; read through uso_scheduler_status.';

CREATE VIEW @extschema@.uso_scheduler_status AS
SELECT s.database, s.pid, s.started_at, s.last_loop_at,
       extract(epoch FROM clock_timestamp() - s.last_loop_at) AS heartbeat_age,
       s.tasks_loaded, s.runs_queued, s.runs_running, s.workers_busy, s.workers_idle,
       s.next_wakeup, s.state
FROM @extschema@.uso_scheduler_status_raw() s;
COMMENT ON VIEW @extschema@.uso_scheduler_status IS 'One row per database that has (or should have) a uso_tasks scheduler: its process, heartbeat, load and state.';
COMMENT ON COLUMN @extschema@.uso_scheduler_status.database IS 'The database.';
COMMENT ON COLUMN @extschema@.uso_scheduler_status.pid IS 'Process id of its scheduler; NULL when none runs.';
COMMENT ON COLUMN @extschema@.uso_scheduler_status.started_at IS 'When that scheduler started.';
COMMENT ON COLUMN @extschema@.uso_scheduler_status.last_loop_at IS 'Heartbeat: when its loop last went round (at least every 5 seconds, also when idle).';
COMMENT ON COLUMN @extschema@.uso_scheduler_status.heartbeat_age IS 'Seconds since last_loop_at.';
COMMENT ON COLUMN @extschema@.uso_scheduler_status.tasks_loaded IS 'Tasks the scheduler has loaded.';
COMMENT ON COLUMN @extschema@.uso_scheduler_status.runs_queued IS 'Runs it holds that wait for their time or a worker.';
COMMENT ON COLUMN @extschema@.uso_scheduler_status.runs_running IS 'Runs it has handed to workers.';
COMMENT ON COLUMN @extschema@.uso_scheduler_status.workers_busy IS 'Executor workers of this database running a task.';
COMMENT ON COLUMN @extschema@.uso_scheduler_status.workers_idle IS 'Executor workers of this database waiting for work.';
COMMENT ON COLUMN @extschema@.uso_scheduler_status.next_wakeup IS 'When the scheduler next wakes up by itself (a due run or the heartbeat).';
COMMENT ON COLUMN @extschema@.uso_scheduler_status.state IS 'running, starting, or stopped: <reason>.';
REVOKE EXECUTE ON FUNCTION @extschema@.uso_scheduler_status_raw() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.uso_scheduler_status_raw() TO uso_admin, pg_monitor;
REVOKE ALL ON @extschema@.uso_scheduler_status FROM PUBLIC;
GRANT SELECT ON @extschema@.uso_scheduler_status TO uso_admin, pg_monitor;


-- Metrics (contrib/prometheus/queries.yaml): the monitoring role reads every
-- task's numbers, never commands, config or messages.  These views run as
-- their owner (the extension's, so row-level security does not apply) and are
-- readable by superusers, uso_admin and pg_monitor only.
CREATE VIEW @extschema@.uso_metrics_tasks AS
SELECT current_database() AS database, t.name AS task,
       coalesce(s.runs_succeeded, 0) AS runs_succeeded, coalesce(s.runs_failed, 0) AS runs_failed,
       coalesce(s.runs_timed_out, 0) AS runs_timed_out, coalesce(s.runs_cancelled, 0) AS runs_cancelled,
       coalesce(s.runs_skipped, 0) AS runs_skipped,
       coalesce(s.failing, false) AS failing,
       coalesce(s.duration_count, 0) AS duration_count, coalesce(s.duration_sum, 0) AS duration_sum,
       coalesce(s.lateness_count, 0) AS lateness_count, coalesce(s.lateness_sum, 0) AS lateness_sum,
       coalesce(s.recent_durations, '{}') AS recent_durations,
       coalesce(s.recent_lateness, '{}') AS recent_lateness
FROM @extschema@.uso_task t
LEFT JOIN @extschema@.uso_task_stats s ON s.task_id = t.id;
COMMENT ON VIEW @extschema@.uso_metrics_tasks IS 'Per-task counters and recent statistics for the monitoring role (uso_admin, pg_monitor).';
COMMENT ON COLUMN @extschema@.uso_metrics_tasks.database IS 'This database.';
COMMENT ON COLUMN @extschema@.uso_metrics_tasks.task IS 'Task name.';
COMMENT ON COLUMN @extschema@.uso_metrics_tasks.runs_succeeded IS 'Successful runs, ever.';
COMMENT ON COLUMN @extschema@.uso_metrics_tasks.runs_failed IS 'Failed runs, ever.';
COMMENT ON COLUMN @extschema@.uso_metrics_tasks.runs_timed_out IS 'Timed-out runs, ever.';
COMMENT ON COLUMN @extschema@.uso_metrics_tasks.runs_cancelled IS 'Cancelled runs, ever.';
COMMENT ON COLUMN @extschema@.uso_metrics_tasks.runs_skipped IS 'Skipped slots, ever.';
COMMENT ON COLUMN @extschema@.uso_metrics_tasks.failing IS 'Its last run failed for good.';
COMMENT ON COLUMN @extschema@.uso_metrics_tasks.duration_count IS 'Runs with a duration, ever.';
COMMENT ON COLUMN @extschema@.uso_metrics_tasks.duration_sum IS 'Their total duration in seconds.';
COMMENT ON COLUMN @extschema@.uso_metrics_tasks.lateness_count IS 'Runs with a start lateness, ever.';
COMMENT ON COLUMN @extschema@.uso_metrics_tasks.lateness_sum IS 'Their total lateness in seconds.';
COMMENT ON COLUMN @extschema@.uso_metrics_tasks.recent_durations IS 'Durations of the last 100 runs (seconds).';
COMMENT ON COLUMN @extschema@.uso_metrics_tasks.recent_lateness IS 'Start lateness of the last 100 runs with a due time (seconds).';
REVOKE ALL ON @extschema@.uso_metrics_tasks FROM PUBLIC;
GRANT SELECT ON @extschema@.uso_metrics_tasks TO uso_admin, pg_monitor;

-- Counters start from the history 0.1 kept (what retention left of it).
INSERT INTO @extschema@.uso_task_stats (task_id, runs_succeeded, runs_failed, runs_timed_out,
    runs_cancelled, runs_skipped, last_finished_at, last_success_at, last_failure_at,
    duration_count, duration_sum)
SELECT r.task_id,
       pg_catalog.count(*) FILTER (WHERE r.status = 'succeeded'),
       pg_catalog.count(*) FILTER (WHERE r.status = 'failed'),
       pg_catalog.count(*) FILTER (WHERE r.status = 'timed_out'),
       pg_catalog.count(*) FILTER (WHERE r.status = 'cancelled'),
       pg_catalog.count(*) FILTER (WHERE r.status = 'skipped'),
       pg_catalog.max(r.finished_at),
       pg_catalog.max(r.finished_at) FILTER (WHERE r.status = 'succeeded'),
       pg_catalog.max(r.finished_at) FILTER (WHERE r.status IN ('failed', 'timed_out')),
       pg_catalog.count(r.started_at),
       coalesce(pg_catalog.sum(extract(epoch FROM r.finished_at - r.started_at)), 0)
FROM @extschema@.uso_task_run r
WHERE r.finished_at IS NOT NULL
GROUP BY r.task_id;

------------------------------------------------------------------------------
-- The admin view as it is now (its last definition; the sections above
-- replaced it on the way): alert recipients, and the warning when no
-- scheduler runs.
CREATE OR REPLACE VIEW @extschema@.uso_background_tasks WITH (security_invoker = true) AS
SELECT t.name,
       t.category,
       t.description,
       t.schedule,
       COALESCE(t.config ->> 'frequency', @extschema@.uso_describe_schedule(t.schedule)) AS frequency,
       t.retry_after,
       CASE
           WHEN NOT t.enabled THEN 'disabled'
           WHEN cur.id IS NOT NULL THEN 'running'
           WHEN (t.database IS NULL OR t.database = pg_catalog.current_database())
                AND @extschema@.uso_command_missing(t.command) IS NOT NULL THEN 'missing'
           WHEN last.status IN ('failed', 'timed_out') THEN 'failing'
           ELSE 'idle'
       END AS status,
       t.last_run_at,
       CASE WHEN last.status = 'succeeded' AND last.warnings > 0 THEN 'succeeded with warnings'
            ELSE last.status END AS last_status,
       last.finished_at - last.started_at AS last_duration,
       CASE WHEN last.id IS NOT NULL THEN
           pg_catalog.concat_ws(E'\n', last.return_message,
               (SELECT pg_catalog.string_agg(l.level || ': ' || l.message, E'\n' ORDER BY l.seq)
                FROM @extschema@.uso_task_log l WHERE l.run_id = last.id))
       END AS last_log,
       nxt.next_run_at,
       COALESCE(nxt.next_run_at <= pg_catalog.now(), false) AS is_due,
       t.enabled,
       t.username AS owner,
       -- 0.2: appended, as CREATE OR REPLACE VIEW requires.
       last.warnings,
       nxt.once_at AS next_once_at,
       t.builtin,
       t.alert_mail_to
FROM @extschema@.uso_task t
LEFT JOIN LATERAL (
    SELECT r.id FROM @extschema@.uso_task_run r
    WHERE r.task_id = t.id AND r.status = 'running' LIMIT 1) cur ON true
LEFT JOIN LATERAL (
    SELECT r.id, r.status, r.started_at, r.finished_at, r.return_message,
           -- skipped items are logged as warnings (USO's per-item rule)
           (SELECT pg_catalog.count(*)::integer FROM @extschema@.uso_task_log l
            WHERE l.run_id = r.id AND l.level = 'WARNING') AS warnings
    FROM @extschema@.uso_task_run r
    WHERE r.task_id = t.id AND r.status NOT IN ('queued', 'running', 'skipped')
    ORDER BY r.id DESC LIMIT 1) last ON true
LEFT JOIN LATERAL (
    SELECT CASE WHEN t.enabled THEN
               LEAST(t.next_run_at,
                   (SELECT pg_catalog.min(COALESCE(r.scheduled_for, r.queued_at))
                    FROM @extschema@.uso_task_run r
                    WHERE r.task_id = t.id AND r.status = 'queued'))
           END AS next_run_at,
           (SELECT pg_catalog.min(r.scheduled_for) FROM @extschema@.uso_task_run r
            WHERE r.task_id = t.id AND r.status = 'queued' AND r.trigger = 'once') AS once_at) nxt ON true
-- Reading the page warns when no scheduler runs what it shows.
WHERE @extschema@.uso_warn_scheduler();

COMMENT ON VIEW @extschema@.uso_background_tasks IS
    'The Background Tasks admin page: one row per task with status, frequency, last run, log and next run.';

COMMENT ON COLUMN @extschema@.uso_background_tasks.name IS 'Task name.';

COMMENT ON COLUMN @extschema@.uso_background_tasks.category IS 'The app it belongs to.';

COMMENT ON COLUMN @extschema@.uso_background_tasks.description IS 'What it does.';

COMMENT ON COLUMN @extschema@.uso_background_tasks.schedule IS 'The schedule as written.';

COMMENT ON COLUMN @extschema@.uso_background_tasks.frequency IS 'The schedule in plain English.';

COMMENT ON COLUMN @extschema@.uso_background_tasks.retry_after IS 'After a failure the next run comes no later than this.';

COMMENT ON COLUMN @extschema@.uso_background_tasks.status IS 'idle, running, disabled, failing (last run failed) or missing (its function does not exist).';

COMMENT ON COLUMN @extschema@.uso_background_tasks.last_run_at IS 'Start of the last run.';

COMMENT ON COLUMN @extschema@.uso_background_tasks.last_status IS 'Outcome of the last finished run: succeeded, succeeded with warnings (it logged warnings, e.g. skipped items), failed, timed_out or cancelled.';

COMMENT ON COLUMN @extschema@.uso_background_tasks.last_duration IS 'How long the last finished run took.';

COMMENT ON COLUMN @extschema@.uso_background_tasks.last_log IS 'The last run''s message followed by its log lines.';

COMMENT ON COLUMN @extschema@.uso_background_tasks.next_run_at IS 'When it runs next (scheduled or one-off).';

COMMENT ON COLUMN @extschema@.uso_background_tasks.is_due IS 'True when the next run time has come.';

COMMENT ON COLUMN @extschema@.uso_background_tasks.enabled IS 'Whether it is scheduled.';

COMMENT ON COLUMN @extschema@.uso_background_tasks.owner IS 'The role it runs as.';

COMMENT ON COLUMN @extschema@.uso_background_tasks.warnings IS 'How many warnings the last finished run logged (items it skipped); 0 for a clean run.';

COMMENT ON COLUMN @extschema@.uso_background_tasks.next_once_at IS 'When the next one-off run (uso_run_at) is due, if one is waiting.';

COMMENT ON COLUMN @extschema@.uso_background_tasks.builtin IS 'Registered by CREATE EXTENSION (the task pack, housekeeping).';

COMMENT ON COLUMN @extschema@.uso_background_tasks.alert_mail_to IS 'Who this task''s failure alerts go to, besides uso_tasks.alert_mail_to.';

GRANT SELECT ON @extschema@.uso_background_tasks TO PUBLIC;

------------------------------------------------------------------------------
-- uso_schedule and uso_alter_task as they are now: C functions (their errors
-- carry no internal context) over PL/pgSQL bodies, with the arguments
-- alert_mail_to and record_runs.  The signatures the sections above created
-- on the way go first.
DROP FUNCTION IF EXISTS @extschema@.uso_schedule(text, text, text, text, text, jsonb, text, text, boolean, text, interval, integer, interval, interval, integer, text, text);
DROP FUNCTION IF EXISTS @extschema@.uso_schedule_body(text, text, text, text, text, jsonb, text, text, boolean, text, interval, integer, interval, interval, integer, text, text);
DROP FUNCTION IF EXISTS @extschema@.uso_alter_task(text, text, text, text, text, jsonb, text, text, boolean, text, interval, integer, interval, interval, integer, text, text, text);
DROP FUNCTION IF EXISTS @extschema@.uso_alter_task_body(text, text, text, text, text, jsonb, text, text, boolean, text, interval, integer, interval, interval, integer, text, text, text);
CREATE OR REPLACE FUNCTION @extschema@.uso_schedule_body(
    name text, schedule text, command text,
    description text DEFAULT NULL, category text DEFAULT NULL, config jsonb DEFAULT NULL,
    database text DEFAULT NULL, username text DEFAULT NULL, enabled boolean DEFAULT true,
    timezone text DEFAULT NULL, timeout interval DEFAULT NULL, max_retries integer DEFAULT NULL,
    retry_delay interval DEFAULT NULL, retry_after interval DEFAULT NULL,
    keep_runs integer DEFAULT NULL, overlap text DEFAULT NULL, misfire text DEFAULT NULL,
    alert_mail_to text DEFAULT NULL, record_runs text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    task_id  bigint;
    fields   jsonb;
    cols     text;
    conname  text;
BEGIN
    IF uso_schedule_body.name IS NULL THEN
        RAISE EXCEPTION 'task name must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    ELSIF uso_schedule_body.schedule IS NULL THEN
        RAISE EXCEPTION 'schedule must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    ELSIF uso_schedule_body.command IS NULL THEN
        RAISE EXCEPTION 'command must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM @extschema@.uso_refuse_never_firing(uso_schedule_body.schedule);
    PERFORM @extschema@.uso_warn_scheduler();

    FOR attempt IN 1..2 LOOP
        SELECT t.id INTO task_id FROM @extschema@.uso_task t
        WHERE t.name = uso_schedule_body.name FOR UPDATE;
        IF FOUND THEN
            UPDATE @extschema@.uso_task t SET
                schedule    = uso_schedule_body.schedule,
                command     = uso_schedule_body.command,
                description = coalesce(uso_schedule_body.description, t.description),
                category    = coalesce(uso_schedule_body.category, t.category),
                config      = coalesce(uso_schedule_body.config, t.config),
                database    = coalesce(uso_schedule_body.database::name, t.database),
                username    = coalesce(uso_schedule_body.username::name, t.username),
                enabled     = coalesce(uso_schedule_body.enabled, t.enabled),
                timezone    = coalesce(uso_schedule_body.timezone, t.timezone),
                timeout     = coalesce(uso_schedule_body.timeout, t.timeout),
                max_retries = coalesce(uso_schedule_body.max_retries, t.max_retries),
                retry_delay = coalesce(uso_schedule_body.retry_delay, t.retry_delay),
                retry_after = coalesce(uso_schedule_body.retry_after, t.retry_after),
                keep_runs   = coalesce(uso_schedule_body.keep_runs, t.keep_runs),
                overlap     = coalesce(uso_schedule_body.overlap, t.overlap),
                misfire     = coalesce(uso_schedule_body.misfire, t.misfire),
                alert_mail_to = coalesce(uso_schedule_body.alert_mail_to, t.alert_mail_to),
                record_runs = coalesce(uso_schedule_body.record_runs, t.record_runs)
            WHERE t.id = task_id;
            RETURN task_id;
        END IF;

        -- Insert only the columns given, so the others take the table's defaults.
        fields := jsonb_build_object(
            'name', uso_schedule_body.name, 'schedule', uso_schedule_body.schedule,
            'command', uso_schedule_body.command, 'description', uso_schedule_body.description,
            'category', uso_schedule_body.category, 'config', uso_schedule_body.config,
            'database', uso_schedule_body.database, 'username', uso_schedule_body.username,
            'enabled', uso_schedule_body.enabled, 'timezone', uso_schedule_body.timezone,
            'timeout', uso_schedule_body.timeout, 'max_retries', uso_schedule_body.max_retries,
            'retry_delay', uso_schedule_body.retry_delay, 'retry_after', uso_schedule_body.retry_after,
            'keep_runs', uso_schedule_body.keep_runs, 'overlap', uso_schedule_body.overlap,
            'misfire', uso_schedule_body.misfire, 'alert_mail_to', uso_schedule_body.alert_mail_to,
            'record_runs', uso_schedule_body.record_runs);
        SELECT string_agg(quote_ident(f.key), ', ') INTO cols
        FROM jsonb_each(fields) f WHERE jsonb_typeof(f.value) <> 'null';
        BEGIN
            EXECUTE format('INSERT INTO @extschema@.uso_task AS t (%1$s) '
                           'SELECT %1$s FROM pg_catalog.jsonb_populate_record(NULL::@extschema@.uso_task, $1) '
                           'RETURNING t.id', cols)
                INTO task_id USING fields;
            RETURN task_id;
        EXCEPTION WHEN unique_violation THEN
            GET STACKED DIAGNOSTICS conname = CONSTRAINT_NAME;
            IF conname IS DISTINCT FROM 'uso_task_name_key' THEN
                RAISE;
            END IF;
            -- A row we can see appeared meanwhile: go round and update it.
            -- A row we cannot see belongs to someone else.
            IF NOT EXISTS (SELECT FROM @extschema@.uso_task t WHERE t.name = uso_schedule_body.name) THEN
                RAISE EXCEPTION 'task "%" belongs to another role', @extschema@.uso_shorten(uso_schedule_body.name)
                    USING ERRCODE = 'insufficient_privilege',
                          DETAIL = 'Task names are unique across all roles.',
                          HINT = 'Choose another name.';
            END IF;
        END;
    END LOOP;
    RAISE EXCEPTION 'task "%" is being changed concurrently', @extschema@.uso_shorten(uso_schedule_body.name)
        USING ERRCODE = 'lock_not_available';
END
$$;

COMMENT ON FUNCTION @extschema@.uso_schedule_body(text, text, text, text, text, jsonb, text, text, boolean, text, interval, integer, interval, interval, integer, text, text, text, text) IS
    'Internal: the work of uso_schedule, which calls it and reports its errors about the input without our internal context (api_errors.c).';

CREATE OR REPLACE FUNCTION @extschema@.uso_schedule(
    name text, schedule text, command text,
    description text DEFAULT NULL, category text DEFAULT NULL, config jsonb DEFAULT NULL,
    database text DEFAULT NULL, username text DEFAULT NULL, enabled boolean DEFAULT true,
    timezone text DEFAULT NULL, timeout interval DEFAULT NULL, max_retries integer DEFAULT NULL,
    retry_delay interval DEFAULT NULL, retry_after interval DEFAULT NULL,
    keep_runs integer DEFAULT NULL, overlap text DEFAULT NULL, misfire text DEFAULT NULL,
    alert_mail_to text DEFAULT NULL, record_runs text DEFAULT NULL)
RETURNS bigint
LANGUAGE c SECURITY INVOKER
AS 'MODULE_PATHNAME', 'uso_schedule_api';

COMMENT ON FUNCTION @extschema@.uso_schedule(text, text, text, text, text, jsonb, text, text, boolean,
    text, interval, integer, interval, interval, integer, text, text, text, text) IS
    'Creates the task, or updates the caller''s task of that name (NULL arguments keep the current value); returns the task id.';

CREATE OR REPLACE FUNCTION @extschema@.uso_alter_task_body(
    name text, schedule text DEFAULT NULL, command text DEFAULT NULL,
    description text DEFAULT NULL, category text DEFAULT NULL, config jsonb DEFAULT NULL,
    database text DEFAULT NULL, username text DEFAULT NULL, enabled boolean DEFAULT NULL,
    timezone text DEFAULT NULL, timeout interval DEFAULT NULL, max_retries integer DEFAULT NULL,
    retry_delay interval DEFAULT NULL, retry_after interval DEFAULT NULL,
    keep_runs integer DEFAULT NULL, overlap text DEFAULT NULL, misfire text DEFAULT NULL,
    new_name text DEFAULT NULL, alert_mail_to text DEFAULT NULL, record_runs text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    task_id bigint := @extschema@.uso_task_id_by_name(uso_alter_task_body.name, true);
BEGIN
    IF uso_alter_task_body.schedule IS NOT NULL THEN
        PERFORM @extschema@.uso_refuse_never_firing(uso_alter_task_body.schedule);
    END IF;
    UPDATE @extschema@.uso_task t SET
        name        = coalesce(uso_alter_task_body.new_name, t.name),
        schedule    = coalesce(uso_alter_task_body.schedule, t.schedule),
        command     = coalesce(uso_alter_task_body.command, t.command),
        description = coalesce(uso_alter_task_body.description, t.description),
        category    = coalesce(uso_alter_task_body.category, t.category),
        config      = coalesce(uso_alter_task_body.config, t.config),
        database    = coalesce(uso_alter_task_body.database::name, t.database),
        username    = coalesce(uso_alter_task_body.username::name, t.username),
        enabled     = coalesce(uso_alter_task_body.enabled, t.enabled),
        timezone    = coalesce(uso_alter_task_body.timezone, t.timezone),
        timeout     = coalesce(uso_alter_task_body.timeout, t.timeout),
        max_retries = coalesce(uso_alter_task_body.max_retries, t.max_retries),
        retry_delay = coalesce(uso_alter_task_body.retry_delay, t.retry_delay),
        retry_after = coalesce(uso_alter_task_body.retry_after, t.retry_after),
        keep_runs   = coalesce(uso_alter_task_body.keep_runs, t.keep_runs),
        overlap     = coalesce(uso_alter_task_body.overlap, t.overlap),
        misfire     = coalesce(uso_alter_task_body.misfire, t.misfire),
        alert_mail_to = coalesce(uso_alter_task_body.alert_mail_to, t.alert_mail_to),
        record_runs = coalesce(uso_alter_task_body.record_runs, t.record_runs)
    WHERE t.id = task_id;
EXCEPTION WHEN unique_violation THEN
    RAISE EXCEPTION 'task "%" already exists', @extschema@.uso_shorten(uso_alter_task_body.new_name)
        USING ERRCODE = 'unique_violation',
              DETAIL = 'Task names are unique across all roles.';
END
$$;

COMMENT ON FUNCTION @extschema@.uso_alter_task_body(text, text, text, text, text, jsonb, text, text, boolean, text, interval, integer, interval, interval, integer, text, text, text, text, text) IS
    'Internal: the work of uso_alter_task, which calls it and reports its errors about the input without our internal context (api_errors.c).';

CREATE OR REPLACE FUNCTION @extschema@.uso_alter_task(
    name text, schedule text DEFAULT NULL, command text DEFAULT NULL,
    description text DEFAULT NULL, category text DEFAULT NULL, config jsonb DEFAULT NULL,
    database text DEFAULT NULL, username text DEFAULT NULL, enabled boolean DEFAULT NULL,
    timezone text DEFAULT NULL, timeout interval DEFAULT NULL, max_retries integer DEFAULT NULL,
    retry_delay interval DEFAULT NULL, retry_after interval DEFAULT NULL,
    keep_runs integer DEFAULT NULL, overlap text DEFAULT NULL, misfire text DEFAULT NULL,
    new_name text DEFAULT NULL, alert_mail_to text DEFAULT NULL, record_runs text DEFAULT NULL)
RETURNS void
LANGUAGE c SECURITY INVOKER
AS 'MODULE_PATHNAME', 'uso_alter_task_api';

COMMENT ON FUNCTION @extschema@.uso_alter_task(text, text, text, text, text, jsonb, text, text, boolean,
    text, interval, integer, interval, interval, integer, text, text, text, text, text) IS
    'Changes the given settings of a task (NULL keeps the current value; new_name renames it).';
-- 0.2, issue 13 part 3 (sql/install/96_chains.sql): tasks that follow tasks
-- ('after <task>', 'after <task> fails'): the run column that names the run
-- which caused a chain run, the trigger value chain, the schedule functions,
-- the follower columns and triggers, and the views that show them.
-- (trigger chain is one of uso_run_row_ok's words, src/run_check.c.)
ALTER TABLE @extschema@.uso_task_run ADD COLUMN caused_by_run_id bigint;
COMMENT ON COLUMN @extschema@.uso_task_run.trigger IS 'Why it ran: schedule, manual, retry, catchup, once (uso_run_at), startup (@reboot), chain (the task it follows ended: caused_by_run_id).';
COMMENT ON COLUMN @extschema@.uso_task_run.caused_by_run_id IS 'For trigger chain: the run of the followed task whose end queued this one (it may have been purged since).';

CREATE FUNCTION @extschema@.uso_schedule_follows(schedule text)
    RETURNS text
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'uso_schedule_follows';
COMMENT ON FUNCTION @extschema@.uso_schedule_follows(text) IS
'The name of the task a schedule ''after <task>'' or ''after <task> fails'' follows (unquoted), NULL for '
'every other schedule. Raises 22023 for an invalid schedule.';

CREATE FUNCTION @extschema@.uso_schedule_follows_failures(schedule text)
    RETURNS boolean
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'uso_schedule_follows_failures';
COMMENT ON FUNCTION @extschema@.uso_schedule_follows_failures(text) IS
'True for ''after <task> fails'', false for ''after <task>'', NULL for every other schedule.';

-- New task columns come last (ALTER TABLE appends, as the update script does).
ALTER TABLE @extschema@.uso_task ADD COLUMN follows_task_id bigint;
ALTER TABLE @extschema@.uso_task ADD COLUMN follows_on text;
ALTER TABLE @extschema@.uso_task ADD CONSTRAINT uso_task_follows_on_check
    CHECK (follows_on IN ('success', 'failure'));
-- No foreign key: a follower of a built-in task must survive pg_dump, which
-- leaves built-in rows out (they are registered again, maybe under other ids).
CREATE INDEX uso_task_follows_idx ON @extschema@.uso_task (follows_task_id)
    WHERE follows_task_id IS NOT NULL;
COMMENT ON COLUMN @extschema@.uso_task.follows_task_id IS
    'For a schedule ''after <task>'': the id of the task it follows (kept across renames); NULL when that task was deleted (the follower shows status missing).';
COMMENT ON COLUMN @extschema@.uso_task.follows_on IS
    'For a schedule ''after <task>'': success, or failure for ''after <task> fails''; NULL for every other schedule.';

-- The schedule text of a follower, quoting the name when it must be: blanks
-- around it, a leading quote, or a last word "fails" would read otherwise.
CREATE FUNCTION @extschema@.uso_after_schedule(task text, on_failure boolean) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT
    SET search_path = pg_catalog, pg_temp
    AS $$
SELECT 'after '
       || CASE WHEN task ~ '^[ \t"]|[ \t]$' OR task ~* '[ \t]fails$'
               THEN '"' || replace(task, '"', '""') || '"' ELSE task END
       || CASE WHEN on_failure THEN ' fails' ELSE '' END
$$;
COMMENT ON FUNCTION @extschema@.uso_after_schedule(text, boolean) IS
    'The schedule text that follows a task: ''after <task>'' or ''after <task> fails'', with the name in double quotes when it has surrounding blanks, begins with a quote or ends in the word fails.';

-- The tasks from predecessor back to follower when making follower follow
-- predecessor would close a cycle, else NULL.  As the caller: the walk sees
-- the tasks it may see, which for a role that is not an admin are its own.
-- A cycle it cannot see (an admin linked its task to another role's), or one
-- two transactions close at the same moment, is stopped when it runs: see
-- uso_queue_followers.
CREATE FUNCTION @extschema@.uso_follows_cycle(follower bigint, predecessor bigint) RETURNS bigint[]
    LANGUAGE plpgsql STABLE SECURITY INVOKER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    path bigint[] := ARRAY[predecessor];
    cur  bigint := predecessor;
BEGIN
    LOOP
        IF cur = follower THEN
            RETURN path;
        END IF;
        SELECT t.follows_task_id INTO cur FROM @extschema@.uso_task t WHERE t.id = cur;
        IF cur IS NULL OR cur = ANY (path) THEN
            RETURN NULL;
        END IF;
        path := path || cur;
    END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.uso_follows_cycle(bigint, bigint) IS
    'The task ids from predecessor back to follower when follower following predecessor would close a cycle among the tasks the caller can see, else NULL.';

-- Resolves 'after X' when a schedule is written, as the caller (SECURITY
-- INVOKER: row-level security decides which X the caller can see).  Fires
-- after uso_task_validate (name order), which has checked the schedule and
-- normalized database.  A write that leaves the schedule text and database
-- as they were keeps the link (so an alter of another setting never fails
-- here), except that a follower whose task is gone follows the task that
-- has the name now, if the writer can see one.
CREATE FUNCTION @extschema@.uso_task_follows() RETURNS trigger
    LANGUAGE plpgsql SECURITY INVOKER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    pred_name text := @extschema@.uso_schedule_follows(NEW.schedule);
    pred      @extschema@.uso_task;
    cycle     bigint[];
    shown     text;
    found_it  boolean;
    same      boolean := TG_OP = 'UPDATE' AND NEW.schedule = OLD.schedule
                         AND NEW.database IS NOT DISTINCT FROM OLD.database;
BEGIN
    IF pred_name IS NULL THEN
        NEW.follows_task_id := NULL;
        NEW.follows_on := NULL;
        RETURN NEW;
    END IF;
    IF same AND OLD.follows_task_id IS NOT NULL THEN
        NEW.follows_task_id := OLD.follows_task_id;
        NEW.follows_on := OLD.follows_on;
        RETURN NEW;
    END IF;
    -- A row as pg_dump wrote it (only a superuser writes these columns):
    -- its link stands, whatever order the rows come back in; by name when
    -- the task is there (a built-in task comes back under a new id), and a
    -- follower that was missing stays missing.
    IF TG_OP = 'INSERT' AND NEW.follows_on IS NOT NULL THEN
        IF NEW.follows_task_id IS NOT NULL THEN
            NEW.follows_task_id := coalesce((SELECT t.id FROM @extschema@.uso_task t
                                             WHERE t.name = pred_name), NEW.follows_task_id);
        END IF;
        RETURN NEW;
    END IF;
    SELECT * INTO pred FROM @extschema@.uso_task t WHERE t.name = pred_name;
    found_it := FOUND;
    -- A missing follower written for another reason: it follows the task of
    -- that name if it could be linked to it now, else it stays missing.
    IF same AND (NOT found_it
                 OR coalesce(pred.database, current_database()) <> coalesce(NEW.database, current_database())
                 OR @extschema@.uso_follows_cycle(NEW.id, pred.id) IS NOT NULL) THEN
        RETURN NEW;
    END IF;
    IF NOT found_it THEN
        RAISE EXCEPTION 'task "%" does not exist', @extschema@.uso_shorten(pred_name)
            USING ERRCODE = 'undefined_object',
                  DETAIL = format('The schedule "%s" follows it.', @extschema@.uso_shorten(NEW.schedule)),
                  HINT = 'A task can follow a task you can see: SELECT name FROM uso_background_tasks lists them.';
    END IF;
    IF coalesce(pred.database, current_database()) <> coalesce(NEW.database, current_database()) THEN
        RAISE EXCEPTION 'task "%" runs in database "%", not in "%"', @extschema@.uso_shorten(pred_name),
                        coalesce(pred.database, current_database()), coalesce(NEW.database, current_database())
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A task can only follow a task of the same database.';
    END IF;
    -- The same task as before (a rename rewrote the text, or only "fails"
    -- changed): no new link, nothing to check.
    IF TG_OP = 'UPDATE' AND pred.id = OLD.follows_task_id THEN
        NEW.follows_task_id := pred.id;
        NEW.follows_on := CASE WHEN @extschema@.uso_schedule_follows_failures(NEW.schedule)
                               THEN 'failure' ELSE 'success' END;
        RETURN NEW;
    END IF;
    cycle := @extschema@.uso_follows_cycle(NEW.id, pred.id);
    IF cycle IS NOT NULL THEN
        -- 'A after B after A': every task of it is one the caller can see
        SELECT string_agg(format('"%s"', CASE WHEN c.id = NEW.id THEN @extschema@.uso_shorten(NEW.name)
                                              ELSE (SELECT @extschema@.uso_shorten(t.name)
                                                    FROM @extschema@.uso_task t WHERE t.id = c.id) END),
                          ' after ' ORDER BY c.n) INTO shown
        FROM unnest(cycle) WITH ORDINALITY AS c(id, n);
        RAISE EXCEPTION 'schedule "%" would make a cycle: "%" after %', @extschema@.uso_shorten(NEW.schedule),
                        @extschema@.uso_shorten(NEW.name), shown
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Each task in it would run after the one before it, for ever.',
                  HINT = 'Give one task of the cycle a clock schedule, or @manual.';
    END IF;
    NEW.follows_task_id := pred.id;
    NEW.follows_on := CASE WHEN @extschema@.uso_schedule_follows_failures(NEW.schedule)
                           THEN 'failure' ELSE 'success' END;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION @extschema@.uso_task_follows() IS
    'Trigger: resolves the task an ''after <task>'' schedule follows (it must exist, be visible to the caller, run in the same database and close no cycle) into follows_task_id and follows_on.';

CREATE TRIGGER uso_task_validate_follows
    BEFORE INSERT OR UPDATE OF schedule, database ON @extschema@.uso_task
    FOR EACH ROW EXECUTE FUNCTION @extschema@.uso_task_follows();

-- A rename rewrites the followers' schedule text, so that what they show
-- (schedule, frequency, cron.job) names the task they follow; a delete, or
-- a move to another database, leaves them following nothing (status
-- missing).  Followers may belong to other roles: this runs as the owner,
-- changes nothing but their schedule text and link, and the link itself
-- stays (uso_task_follows: the same task, no check that could fail).
CREATE FUNCTION @extschema@.uso_task_followed_changed() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        UPDATE @extschema@.uso_task f SET follows_task_id = NULL WHERE f.follows_task_id = OLD.id;
        RETURN NULL;
    END IF;
    IF coalesce(NEW.database, current_database()) IS DISTINCT FROM coalesce(OLD.database, current_database()) THEN
        UPDATE @extschema@.uso_task f SET follows_task_id = NULL
         WHERE f.follows_task_id = NEW.id
           AND coalesce(f.database, current_database()) <> coalesce(NEW.database, current_database());
    END IF;
    IF NEW.name IS DISTINCT FROM OLD.name THEN
        UPDATE @extschema@.uso_task f
           SET schedule = @extschema@.uso_after_schedule(NEW.name, f.follows_on = 'failure')
         WHERE f.follows_task_id = NEW.id;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION @extschema@.uso_task_followed_changed() IS
    'Trigger: a followed task was renamed (its followers'' schedules name it anew), moved to another database or deleted (they follow nothing and show status missing).';
REVOKE EXECUTE ON FUNCTION @extschema@.uso_task_followed_changed() FROM PUBLIC;

CREATE TRIGGER uso_task_followed_changed
    AFTER UPDATE OF name, database OR DELETE ON @extschema@.uso_task
    FOR EACH ROW EXECUTE FUNCTION @extschema@.uso_task_followed_changed();

-- Outcomes whose followers' rows were locked when the outcome committed
-- (an open transaction of their owner holds them).  Queueing a run takes a
-- key-share lock on its task row; waiting for it would let one role's open
-- transaction stall another role's run, or the scheduler, which writes some
-- outcomes itself.  So the outcome is kept here, in the same transaction,
-- and the scheduler queues the run once the row is free (uso_queue_pending_followers).
-- No foreign key, for the same reason; no role reads or writes it.
CREATE TABLE @extschema@.uso_chain_pending (
    caused_by_run_id bigint NOT NULL,
    task_id          bigint NOT NULL,
    predecessor_id   bigint NOT NULL,
    since            timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    PRIMARY KEY (caused_by_run_id, task_id)
);
ALTER TABLE @extschema@.uso_chain_pending ENABLE ROW LEVEL SECURITY;
COMMENT ON TABLE @extschema@.uso_chain_pending IS
    'Internal: runs of followers still to queue, because the follower''s row was locked when the run they follow ended; the scheduler queues them when the lock goes.';
COMMENT ON COLUMN @extschema@.uso_chain_pending.caused_by_run_id IS 'The run whose end triggers the follower.';
COMMENT ON COLUMN @extschema@.uso_chain_pending.task_id IS 'The follower.';
COMMENT ON COLUMN @extschema@.uso_chain_pending.predecessor_id IS 'The task of caused_by_run_id.';
COMMENT ON COLUMN @extschema@.uso_chain_pending.since IS 'When the run ended.';

CREATE FUNCTION @extschema@.uso_runs_queued() RETURNS void
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'uso_runs_queued';
COMMENT ON FUNCTION @extschema@.uso_runs_queued() IS
    'Internal: this database''s scheduler looks for queued runs once the transaction commits.';
REVOKE EXECUTE ON FUNCTION @extschema@.uso_runs_queued() FROM PUBLIC;

-- One follower's run, caused by run run_id: queued, or skipped as its
-- overlap policy says, or skipped when it already ran in the chain of runs
-- that led here (chain: those runs' tasks): the tasks follow each other in
-- a cycle that the checks at creation could not see (one made through a
-- task the writer cannot see, or by two transactions at once), and it goes
-- round once, not for ever.  The caller holds a key-share lock on f's row.
CREATE FUNCTION @extschema@.uso_queue_follower(f @extschema@.uso_task, run_id bigint, chain bigint[])
    RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    busy  bigint;
    state text;
    why   text;
BEGIN
    IF f.id = ANY (chain) THEN
        why := 'skipped: this task already ran in the chain of runs that led here; '
               'the tasks follow each other in a cycle';
    ELSIF f.overlap <> 'parallel' THEN
        SELECT r.id, r.status INTO busy, state FROM @extschema@.uso_task_run r
        WHERE r.task_id = f.id AND r.finished_at IS NULL
          AND (f.overlap = 'skip' OR r.status = 'queued')
        ORDER BY r.id LIMIT 1;
        IF busy IS NOT NULL THEN
            why := format('skipped: run %s of this task is still %s', busy, state);
        END IF;
    END IF;
    INSERT INTO @extschema@.uso_task_run (task_id, trigger, caused_by_run_id, status, finished_at, return_message)
    VALUES (f.id, 'chain', run_id, CASE WHEN why IS NULL THEN 'queued' ELSE 'skipped' END,
            CASE WHEN why IS NOT NULL THEN clock_timestamp() END, why);
    RETURN why IS NULL;
END
$$;
COMMENT ON FUNCTION @extschema@.uso_queue_follower(@extschema@.uso_task, bigint, bigint[]) IS
    'Internal: records one chain run of follower f caused by run run_id: queued, or skipped by its overlap policy or because f already ran in the chain (a cycle). True when queued.';
REVOKE EXECUTE ON FUNCTION @extschema@.uso_queue_follower(@extschema@.uso_task, bigint, bigint[]) FROM PUBLIC;

-- The tasks of run run_id and the runs that caused it, back to the first
-- (most runs have no cause: one index probe).
CREATE FUNCTION @extschema@.uso_run_chain(run_id bigint) RETURNS bigint[]
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
WITH RECURSIVE c(id, task_id, caused_by, depth) AS (
    SELECT r.id, r.task_id, r.caused_by_run_id, 1 FROM @extschema@.uso_task_run r WHERE r.id = run_id
    UNION ALL
    SELECT r.id, r.task_id, r.caused_by_run_id, c.depth + 1
    FROM c JOIN @extschema@.uso_task_run r ON r.id = c.caused_by
    WHERE c.depth < 1000)
SELECT coalesce(array_agg(c.task_id), '{}') FROM c
$$;
COMMENT ON FUNCTION @extschema@.uso_run_chain(bigint) IS
    'Internal: the task ids of a run and of the runs that caused it (caused_by_run_id), back to the first.';
REVOKE EXECUTE ON FUNCTION @extschema@.uso_run_chain(bigint) FROM PUBLIC;

CREATE FUNCTION @extschema@.uso_chains_pending() RETURNS void
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'uso_chains_pending';
COMMENT ON FUNCTION @extschema@.uso_chains_pending() IS
    'Internal: this database''s scheduler queues the runs left in uso_chain_pending once the transaction commits.';
REVOKE EXECUTE ON FUNCTION @extschema@.uso_chains_pending() FROM PUBLIC;

-- Called by uso_run_ended when a run of pred ended with outcome 'success'
-- or (after its last retry) 'failure', in the transaction that records it:
-- each enabled follower of the same database gets its run now, or, when
-- its row is locked, a pending entry the scheduler turns into the run.
-- Never waits for a lock.
CREATE FUNCTION @extschema@.uso_queue_followers(pred bigint, run_id bigint, outcome text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    chain bigint[] := @extschema@.uso_run_chain(run_id);
    db    name := (SELECT coalesce(p.database, current_database()) FROM @extschema@.uso_task p WHERE p.id = pred);
    f     @extschema@.uso_task;
    wake  boolean := false;
    later boolean := false;
BEGIN
    FOR f IN SELECT * FROM @extschema@.uso_task x
             WHERE x.follows_task_id = pred AND x.follows_on = outcome AND x.enabled
               AND coalesce(x.database, current_database()) = db
             ORDER BY x.id LOOP
        PERFORM FROM @extschema@.uso_task x WHERE x.id = f.id FOR KEY SHARE SKIP LOCKED;
        IF FOUND THEN
            wake := @extschema@.uso_queue_follower(f, run_id, chain) OR wake;
        ELSE
            INSERT INTO @extschema@.uso_chain_pending (caused_by_run_id, task_id, predecessor_id)
            VALUES (run_id, f.id, pred) ON CONFLICT DO NOTHING;
            later := true;
        END IF;
    END LOOP;
    IF wake THEN
        PERFORM @extschema@.uso_runs_queued();
    END IF;
    IF later THEN
        PERFORM @extschema@.uso_chains_pending();
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.uso_queue_followers(bigint, bigint, text) IS
    'Internal: queues a chain run of each enabled follower of task pred in its database (follows_on = outcome), caused by run run_id; one whose row is locked is left in uso_chain_pending for the scheduler.';
REVOKE EXECUTE ON FUNCTION @extschema@.uso_queue_followers(bigint, bigint, text) FROM PUBLIC;

-- The scheduler's side of uso_chain_pending: queues the runs whose
-- follower rows are free now (a follower deleted or disabled meanwhile gets
-- none), skipping those still locked.  Returns how many are left.
CREATE FUNCTION @extschema@.uso_queue_pending_followers() RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    p    @extschema@.uso_chain_pending;
    f    @extschema@.uso_task;
    left_ integer := 0;
    wake boolean := false;
BEGIN
    FOR p IN SELECT * FROM @extschema@.uso_chain_pending x ORDER BY x.since FOR UPDATE SKIP LOCKED LOOP
        SELECT * INTO f FROM @extschema@.uso_task x WHERE x.id = p.task_id FOR KEY SHARE SKIP LOCKED;
        IF NOT FOUND AND EXISTS (SELECT FROM @extschema@.uso_task x WHERE x.id = p.task_id) THEN
            left_ := left_ + 1;     -- still locked
            CONTINUE;
        END IF;
        IF f.id IS NOT NULL AND f.enabled AND f.follows_task_id = p.predecessor_id THEN
            wake := @extschema@.uso_queue_follower(f, p.caused_by_run_id,
                                                  @extschema@.uso_run_chain(p.caused_by_run_id)) OR wake;
        END IF;
        DELETE FROM @extschema@.uso_chain_pending x
         WHERE x.caused_by_run_id = p.caused_by_run_id AND x.task_id = p.task_id;
    END LOOP;
    RETURN left_;
END
$$;
COMMENT ON FUNCTION @extschema@.uso_queue_pending_followers() IS
    'Internal, for the scheduler: queues the chain runs left in uso_chain_pending whose follower rows are no longer locked; returns how many are still waiting.';
REVOKE EXECUTE ON FUNCTION @extschema@.uso_queue_pending_followers() FROM PUBLIC;

CREATE OR REPLACE VIEW @extschema@.uso_task_runs WITH (security_invoker = true) AS
SELECT r.id,
       t.name AS task,
       r.trigger,
       r.status,
       r.attempt,
       r.scheduled_for,
       r.queued_at,
       r.started_at,
       r.finished_at,
       r.finished_at - r.started_at AS duration,
       r.pid,
       r.return_message,
       r.sqlstate,
       r.error_detail,
       r.error_hint,
       r.error_context,
       COALESCE(@extschema@.uso_live_progress(r.id), r.progress) AS progress,
       r.caused_by_run_id
FROM @extschema@.uso_task_run r
JOIN @extschema@.uso_task t ON t.id = r.task_id
ORDER BY r.id DESC;
COMMENT ON VIEW @extschema@.uso_task_runs IS 'Runs with their task name and duration, newest first.';
COMMENT ON COLUMN @extschema@.uso_task_runs.id IS 'Run id.';
COMMENT ON COLUMN @extschema@.uso_task_runs.task IS 'Task name.';
COMMENT ON COLUMN @extschema@.uso_task_runs.trigger IS 'schedule, manual, retry, catchup, once, startup or chain.';
COMMENT ON COLUMN @extschema@.uso_task_runs.status IS 'queued, running, succeeded, failed, timed_out, cancelled or skipped.';
COMMENT ON COLUMN @extschema@.uso_task_runs.attempt IS '1 for the first try, 2.. for retries.';
COMMENT ON COLUMN @extschema@.uso_task_runs.scheduled_for IS 'The slot it was due at.';
COMMENT ON COLUMN @extschema@.uso_task_runs.queued_at IS 'When it was queued.';
COMMENT ON COLUMN @extschema@.uso_task_runs.started_at IS 'When a worker began it.';
COMMENT ON COLUMN @extschema@.uso_task_runs.finished_at IS 'When it ended.';
COMMENT ON COLUMN @extschema@.uso_task_runs.duration IS 'finished_at - started_at.';
COMMENT ON COLUMN @extschema@.uso_task_runs.pid IS 'Worker process id.';
COMMENT ON COLUMN @extschema@.uso_task_runs.return_message IS 'What the run returned, or its error.';
COMMENT ON COLUMN @extschema@.uso_task_runs.sqlstate IS 'SQLSTATE of the error.';
COMMENT ON COLUMN @extschema@.uso_task_runs.error_detail IS 'DETAIL of the error.';
COMMENT ON COLUMN @extschema@.uso_task_runs.error_hint IS 'HINT of the error.';
COMMENT ON COLUMN @extschema@.uso_task_runs.error_context IS 'Traceback of the error.';
COMMENT ON COLUMN @extschema@.uso_task_runs.progress IS 'Fraction done, live while running.';
COMMENT ON COLUMN @extschema@.uso_task_runs.caused_by_run_id IS 'For trigger chain: the run of the followed task that queued this one.';


CREATE OR REPLACE VIEW @extschema@.uso_background_tasks WITH (security_invoker = true) AS
SELECT t.name,
       t.category,
       t.description,
       t.schedule,
       COALESCE(t.config ->> 'frequency', @extschema@.uso_describe_schedule(t.schedule)) AS frequency,
       t.retry_after,
       CASE
           WHEN NOT t.enabled THEN 'disabled'
           WHEN cur.id IS NOT NULL THEN 'running'
           WHEN t.follows_on IS NOT NULL AND t.follows_task_id IS NULL THEN 'missing'
           WHEN (t.database IS NULL OR t.database = pg_catalog.current_database())
                AND @extschema@.uso_command_missing(t.command) IS NOT NULL THEN 'missing'
           WHEN last.status IN ('failed', 'timed_out') THEN 'failing'
           ELSE 'idle'
       END AS status,
       t.last_run_at,
       CASE WHEN last.status = 'succeeded' AND last.warnings > 0 THEN 'succeeded with warnings'
            ELSE last.status END AS last_status,
       last.finished_at - last.started_at AS last_duration,
       CASE WHEN last.id IS NOT NULL THEN
           pg_catalog.concat_ws(E'\n', last.return_message,
               (SELECT pg_catalog.string_agg(l.level || ': ' || l.message, E'\n' ORDER BY l.seq)
                FROM @extschema@.uso_task_log l WHERE l.run_id = last.id))
       END AS last_log,
       nxt.next_run_at,
       COALESCE(nxt.next_run_at <= pg_catalog.now(), false) AS is_due,
       t.enabled,
       t.username AS owner,
       -- 0.2: appended, as CREATE OR REPLACE VIEW requires.
       last.warnings,
       nxt.once_at AS next_once_at,
       t.builtin,
       t.alert_mail_to,
       CASE
           WHEN t.follows_on IS NOT NULL AND t.follows_task_id IS NULL THEN
               pg_catalog.format('task "%s", which it follows, was deleted or moved to another database',
                                 @extschema@.uso_schedule_follows(t.schedule))
           WHEN (t.database IS NULL OR t.database = pg_catalog.current_database()) THEN
               @extschema@.uso_command_missing(t.command)
       END AS status_detail,
       CASE WHEN last.trigger = 'chain' AND last.caused_by_run_id IS NOT NULL
            THEN pg_catalog.format('after %s run %s', @extschema@.uso_schedule_follows(t.schedule),
                                   last.caused_by_run_id)
            ELSE last.trigger END AS last_trigger
FROM @extschema@.uso_task t
LEFT JOIN LATERAL (
    SELECT r.id FROM @extschema@.uso_task_run r
    WHERE r.task_id = t.id AND r.status = 'running' LIMIT 1) cur ON true
LEFT JOIN LATERAL (
    SELECT r.id, r.status, r.started_at, r.finished_at, r.return_message, r.trigger, r.caused_by_run_id,
           -- skipped items are logged as warnings (USO's per-item rule)
           (SELECT pg_catalog.count(*)::integer FROM @extschema@.uso_task_log l
            WHERE l.run_id = r.id AND l.level = 'WARNING') AS warnings
    FROM @extschema@.uso_task_run r
    WHERE r.task_id = t.id AND r.status NOT IN ('queued', 'running', 'skipped')
    ORDER BY r.id DESC LIMIT 1) last ON true
LEFT JOIN LATERAL (
    SELECT CASE WHEN t.enabled THEN
               LEAST(t.next_run_at,
                   (SELECT pg_catalog.min(COALESCE(r.scheduled_for, r.queued_at))
                    FROM @extschema@.uso_task_run r
                    WHERE r.task_id = t.id AND r.status = 'queued'))
           END AS next_run_at,
           (SELECT pg_catalog.min(r.scheduled_for) FROM @extschema@.uso_task_run r
            WHERE r.task_id = t.id AND r.status = 'queued' AND r.trigger = 'once') AS once_at) nxt ON true
-- Reading the page warns when no scheduler runs what it shows.
WHERE @extschema@.uso_warn_scheduler();
COMMENT ON VIEW @extschema@.uso_background_tasks IS
    'The Background Tasks admin page: one row per task with status, frequency, last run, log and next run.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.name IS 'Task name.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.category IS 'The app it belongs to.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.description IS 'What it does.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.schedule IS 'The schedule as written.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.frequency IS 'The schedule in plain English.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.retry_after IS 'After a failure the next run comes no later than this.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.status IS 'idle, running, disabled, failing (last run failed) or missing (its function, or the task it follows, does not exist: status_detail says which).';
COMMENT ON COLUMN @extschema@.uso_background_tasks.last_run_at IS 'Start of the last run.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.last_status IS 'Outcome of the last finished run: succeeded, succeeded with warnings (it logged warnings, e.g. skipped items), failed, timed_out or cancelled.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.last_duration IS 'How long the last finished run took.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.last_log IS 'The last run''s message followed by its log lines.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.next_run_at IS 'When it runs next (scheduled or one-off).';
COMMENT ON COLUMN @extschema@.uso_background_tasks.is_due IS 'True when the next run time has come.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.enabled IS 'Whether it is scheduled.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.owner IS 'The role it runs as.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.warnings IS 'How many warnings the last finished run logged (items it skipped); 0 for a clean run.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.next_once_at IS 'When the next one-off run (uso_run_at) is due, if one is waiting.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.builtin IS 'Registered by CREATE EXTENSION (the task pack, housekeeping).';
COMMENT ON COLUMN @extschema@.uso_background_tasks.alert_mail_to IS 'Who this task''s failure alerts go to, besides uso_tasks.alert_mail_to.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.status_detail IS 'Why the status is missing: the function the command calls, or the task it follows, that no longer exists; NULL otherwise.';
COMMENT ON COLUMN @extschema@.uso_background_tasks.last_trigger IS 'Why the last finished run ran: schedule, manual, retry, catchup, once, startup, or for a follower "after <task> run <id>".';

GRANT SELECT ON @extschema@.uso_background_tasks TO PUBLIC;

-- The grid of interval schedules (issue 16).  An interval task's
-- slots are anchor + k * interval (UsoScheduleNextFrom, the function
-- uso_next_runs previews with): the scheduler keeps the anchor here, so
-- month steps keep the anchor's day of month (01-31 -> 02-28 -> 03-31) and
-- neither a pause nor a restart moves the slots (docs/schedule.md).
-- A column of its own, appended last (as the update script does).

ALTER TABLE @extschema@.uso_task ADD COLUMN schedule_anchor timestamptz;
COMMENT ON COLUMN @extschema@.uso_task.schedule_anchor IS 'Interval schedules: the instant their slots count from (anchor + k * interval): the slot of the first run, or the start of the latest manual or one-off run; NULL means last_run_at. Written by the scheduler; a change of schedule or time zone resets it.';

-- A separate trigger, after uso_task_validate (triggers fire in name order):
-- that one computes next_run_at from last_run_at; this one resets the anchor
-- when the schedule changes and puts a re-enabled task back on its grid.
CREATE FUNCTION @extschema@.uso_task_grid() RETURNS trigger
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.schedule IS DISTINCT FROM OLD.schedule OR NEW.timezone IS DISTINCT FROM OLD.timezone THEN
        -- A new grid, from the last start, as uso_task_validate computed next_run_at.
        NEW.schedule_anchor := NULL;
    ELSIF NEW.enabled AND NOT OLD.enabled AND NEW.schedule_anchor IS NOT NULL THEN
        NEW.next_run_at := @extschema@.uso_schedule_next(NEW.schedule, now(), NEW.schedule_anchor,
                                                         NEW.timezone);
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION @extschema@.uso_task_grid() IS
    'Trigger: a change of schedule or time zone resets schedule_anchor; a re-enabled task gets next_run_at from its anchor (the same grid as before it was disabled).';

CREATE TRIGGER uso_task_validate_grid
    BEFORE UPDATE OF schedule, timezone, enabled ON @extschema@.uso_task
    FOR EACH ROW EXECUTE FUNCTION @extschema@.uso_task_grid();
COMMENT ON TRIGGER uso_task_validate_grid ON @extschema@.uso_task IS
    'Keeps schedule_anchor with the schedule (uso_task_grid); fires after uso_task_validate.';
COMMENT ON COLUMN @extschema@.uso_task.last_run_at IS 'Start of the most recent run (interval schedules count from schedule_anchor, or from this when it is NULL).';
