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

CREATE OR REPLACE FUNCTION @extschema@.uso_schedule(
    name text, schedule text, command text,
    description text DEFAULT NULL, category text DEFAULT NULL, config jsonb DEFAULT NULL,
    database text DEFAULT NULL, username text DEFAULT NULL, enabled boolean DEFAULT true,
    timezone text DEFAULT NULL, timeout interval DEFAULT NULL, max_retries integer DEFAULT NULL,
    retry_delay interval DEFAULT NULL, retry_after interval DEFAULT NULL,
    keep_runs integer DEFAULT NULL, overlap text DEFAULT NULL, misfire text DEFAULT NULL)
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
    IF uso_schedule.name IS NULL THEN
        RAISE EXCEPTION 'task name must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    ELSIF uso_schedule.schedule IS NULL THEN
        RAISE EXCEPTION 'schedule must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    ELSIF uso_schedule.command IS NULL THEN
        RAISE EXCEPTION 'command must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM @extschema@.uso_refuse_never_firing(uso_schedule.schedule);

    FOR attempt IN 1..2 LOOP
        SELECT t.id INTO task_id FROM @extschema@.uso_task t
        WHERE t.name = uso_schedule.name FOR UPDATE;
        IF FOUND THEN
            UPDATE @extschema@.uso_task t SET
                schedule    = uso_schedule.schedule,
                command     = uso_schedule.command,
                description = coalesce(uso_schedule.description, t.description),
                category    = coalesce(uso_schedule.category, t.category),
                config      = coalesce(uso_schedule.config, t.config),
                database    = coalesce(uso_schedule.database::name, t.database),
                username    = coalesce(uso_schedule.username::name, t.username),
                enabled     = coalesce(uso_schedule.enabled, t.enabled),
                timezone    = coalesce(uso_schedule.timezone, t.timezone),
                timeout     = coalesce(uso_schedule.timeout, t.timeout),
                max_retries = coalesce(uso_schedule.max_retries, t.max_retries),
                retry_delay = coalesce(uso_schedule.retry_delay, t.retry_delay),
                retry_after = coalesce(uso_schedule.retry_after, t.retry_after),
                keep_runs   = coalesce(uso_schedule.keep_runs, t.keep_runs),
                overlap     = coalesce(uso_schedule.overlap, t.overlap),
                misfire     = coalesce(uso_schedule.misfire, t.misfire)
            WHERE t.id = task_id;
            RETURN task_id;
        END IF;

        -- Insert only the columns given, so the others take the table's defaults.
        fields := jsonb_build_object(
            'name', uso_schedule.name, 'schedule', uso_schedule.schedule,
            'command', uso_schedule.command, 'description', uso_schedule.description,
            'category', uso_schedule.category, 'config', uso_schedule.config,
            'database', uso_schedule.database, 'username', uso_schedule.username,
            'enabled', uso_schedule.enabled, 'timezone', uso_schedule.timezone,
            'timeout', uso_schedule.timeout, 'max_retries', uso_schedule.max_retries,
            'retry_delay', uso_schedule.retry_delay, 'retry_after', uso_schedule.retry_after,
            'keep_runs', uso_schedule.keep_runs, 'overlap', uso_schedule.overlap,
            'misfire', uso_schedule.misfire);
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
            IF NOT EXISTS (SELECT FROM @extschema@.uso_task t WHERE t.name = uso_schedule.name) THEN
                RAISE EXCEPTION 'task "%" belongs to another role', @extschema@.uso_shorten(uso_schedule.name)
                    USING ERRCODE = 'insufficient_privilege',
                          DETAIL = 'Task names are unique across all roles.',
                          HINT = 'Choose another name.';
            END IF;
        END;
    END LOOP;
    RAISE EXCEPTION 'task "%" is being changed concurrently', @extschema@.uso_shorten(uso_schedule.name)
        USING ERRCODE = 'lock_not_available';
END
$$;

COMMENT ON FUNCTION @extschema@.uso_schedule(text, text, text, text, text, jsonb, text, text, boolean,
    text, interval, integer, interval, interval, integer, text, text) IS
    'Creates the task, or updates the caller''s task of that name (NULL arguments keep the current value); returns the task id.';

CREATE OR REPLACE FUNCTION @extschema@.uso_alter_task(
    name text, schedule text DEFAULT NULL, command text DEFAULT NULL,
    description text DEFAULT NULL, category text DEFAULT NULL, config jsonb DEFAULT NULL,
    database text DEFAULT NULL, username text DEFAULT NULL, enabled boolean DEFAULT NULL,
    timezone text DEFAULT NULL, timeout interval DEFAULT NULL, max_retries integer DEFAULT NULL,
    retry_delay interval DEFAULT NULL, retry_after interval DEFAULT NULL,
    keep_runs integer DEFAULT NULL, overlap text DEFAULT NULL, misfire text DEFAULT NULL,
    new_name text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    task_id bigint := @extschema@.uso_task_id_by_name(uso_alter_task.name, true);
BEGIN
    IF uso_alter_task.schedule IS NOT NULL THEN
        PERFORM @extschema@.uso_refuse_never_firing(uso_alter_task.schedule);
    END IF;
    UPDATE @extschema@.uso_task t SET
        name        = coalesce(uso_alter_task.new_name, t.name),
        schedule    = coalesce(uso_alter_task.schedule, t.schedule),
        command     = coalesce(uso_alter_task.command, t.command),
        description = coalesce(uso_alter_task.description, t.description),
        category    = coalesce(uso_alter_task.category, t.category),
        config      = coalesce(uso_alter_task.config, t.config),
        database    = coalesce(uso_alter_task.database::name, t.database),
        username    = coalesce(uso_alter_task.username::name, t.username),
        enabled     = coalesce(uso_alter_task.enabled, t.enabled),
        timezone    = coalesce(uso_alter_task.timezone, t.timezone),
        timeout     = coalesce(uso_alter_task.timeout, t.timeout),
        max_retries = coalesce(uso_alter_task.max_retries, t.max_retries),
        retry_delay = coalesce(uso_alter_task.retry_delay, t.retry_delay),
        retry_after = coalesce(uso_alter_task.retry_after, t.retry_after),
        keep_runs   = coalesce(uso_alter_task.keep_runs, t.keep_runs),
        overlap     = coalesce(uso_alter_task.overlap, t.overlap),
        misfire     = coalesce(uso_alter_task.misfire, t.misfire)
    WHERE t.id = task_id;
EXCEPTION WHEN unique_violation THEN
    RAISE EXCEPTION 'task "%" already exists', @extschema@.uso_shorten(uso_alter_task.new_name)
        USING ERRCODE = 'unique_violation',
              DETAIL = 'Task names are unique across all roles.';
END
$$;

COMMENT ON FUNCTION @extschema@.uso_alter_task(text, text, text, text, text, jsonb, text, text, boolean,
    text, interval, integer, interval, interval, integer, text, text, text) IS
    'Changes the given settings of a task (NULL keeps the current value; new_name renames it).';

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

CREATE OR REPLACE FUNCTION @extschema@.uso_cron_schedule(job_name text, schedule text, command text,
    database text, username text, active boolean, named boolean)
RETURNS bigint
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    job_user  text := current_user;
    job_db    text := coalesce(uso_cron_schedule.database, current_database());
    job_id    bigint;
    owner     name;
    conname   text;
    via       text;
BEGIN
    IF named AND job_name IS NULL THEN
        RAISE EXCEPTION 'job_name can not be NULL' USING ERRCODE = 'null_value_not_allowed';
    ELSIF uso_cron_schedule.schedule IS NULL THEN
        RAISE EXCEPTION 'schedule can not be NULL' USING ERRCODE = 'null_value_not_allowed';
    ELSIF uso_cron_schedule.command IS NULL THEN
        RAISE EXCEPTION 'command can not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- Only what the cron.* function this call stands for may do: a
    -- database, a role or an inactive job are cron.schedule_in_database's
    -- powers, for the roles granted that function (pg_cron's rule).
    IF uso_cron_schedule.database IS NOT NULL OR uso_cron_schedule.username IS NOT NULL
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
    PERFORM @extschema@.uso_cron_check_schedule(uso_cron_schedule.schedule);
    IF uso_cron_schedule.username IS NOT NULL THEN
        IF NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user) THEN
            RAISE EXCEPTION 'must be superuser to create a job for another role'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        PERFORM @extschema@.uso_cron_check_role(uso_cron_schedule.username);
        job_user := uso_cron_schedule.username;
    END IF;
    PERFORM @extschema@.uso_cron_check_database(job_db, job_user);

    IF job_name IS NULL THEN
        INSERT INTO @extschema@.uso_task AS t
            (name, cron_unnamed, schedule, command, database, username, enabled)
        VALUES (NULL, true, uso_cron_schedule.schedule, uso_cron_schedule.command,
                job_db, job_user, coalesce(active, true))
        RETURNING t.id INTO job_id;
        RETURN job_id;
    END IF;

    FOR attempt IN 1..2 LOOP
        SELECT t.id, t.username INTO job_id, owner
        FROM @extschema@.uso_task t WHERE t.name = job_name FOR UPDATE;
        IF FOUND AND owner = job_user THEN
            UPDATE @extschema@.uso_task t
            SET schedule = uso_cron_schedule.schedule, command = uso_cron_schedule.command,
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
            VALUES (job_name, uso_cron_schedule.schedule, uso_cron_schedule.command,
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

COMMENT ON FUNCTION @extschema@.uso_cron_schedule(text, text, text, text, text, boolean, boolean) IS
    'Internal (pg_cron layer): cron.schedule and cron.schedule_in_database.';

CREATE OR REPLACE FUNCTION @extschema@.uso_cron_unschedule(job_id bigint, job_name text, by_name boolean)
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

COMMENT ON FUNCTION @extschema@.uso_cron_unschedule(bigint, text, boolean) IS
    'Internal (pg_cron layer): cron.unschedule by id or by name.';

CREATE OR REPLACE FUNCTION @extschema@.uso_cron_alter_job(job_id bigint, schedule text, command text,
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
    IF uso_cron_alter_job.username IS NOT NULL THEN
        IF NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user) THEN
            RAISE EXCEPTION 'must be superuser to alter username' USING ERRCODE = 'insufficient_privilege';
        END IF;
        PERFORM @extschema@.uso_cron_check_role(uso_cron_alter_job.username);
        job_user := uso_cron_alter_job.username;
    END IF;
    IF uso_cron_alter_job.database IS NOT NULL THEN
        PERFORM @extschema@.uso_cron_check_database(uso_cron_alter_job.database, job_user);
    END IF;
    IF uso_cron_alter_job.schedule IS NOT NULL THEN
        PERFORM @extschema@.uso_cron_check_schedule(uso_cron_alter_job.schedule);
    END IF;
    IF num_nonnulls(uso_cron_alter_job.schedule, uso_cron_alter_job.command, uso_cron_alter_job.database,
                    uso_cron_alter_job.username, uso_cron_alter_job.active) = 0 THEN
        RAISE EXCEPTION 'no updates specified'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'You must specify at least one job attribute to change when calling alter_job';
    END IF;
    UPDATE @extschema@.uso_task t SET
        schedule = coalesce(uso_cron_alter_job.schedule, t.schedule),
        command  = coalesce(uso_cron_alter_job.command, t.command),
        database = coalesce(uso_cron_alter_job.database::name, t.database),
        username = coalesce(uso_cron_alter_job.username::name, t.username),
        enabled  = coalesce(uso_cron_alter_job.active, t.enabled)
    WHERE t.id = job_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'Job % does not exist or you don''t own it', job_id USING ERRCODE = 'undefined_object';
    END IF;
END
$$;

COMMENT ON FUNCTION @extschema@.uso_cron_alter_job(bigint, text, text, text, text, boolean) IS
    'Internal (pg_cron layer): cron.alter_job.';

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
           END AS next_run_at) nxt ON true;

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

-- 0.2: the task API reports errors about the input without the context of
-- our internal statements (issue 15.1, src/api_errors.c): each API function
-- becomes a C function that calls its PL/pgSQL body, <name>_body.
CREATE FUNCTION @extschema@.uso_schedule_body(
    name text, schedule text, command text,
    description text DEFAULT NULL, category text DEFAULT NULL, config jsonb DEFAULT NULL,
    database text DEFAULT NULL, username text DEFAULT NULL, enabled boolean DEFAULT true,
    timezone text DEFAULT NULL, timeout interval DEFAULT NULL, max_retries integer DEFAULT NULL,
    retry_delay interval DEFAULT NULL, retry_after interval DEFAULT NULL,
    keep_runs integer DEFAULT NULL, overlap text DEFAULT NULL, misfire text DEFAULT NULL)
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
                misfire     = coalesce(uso_schedule_body.misfire, t.misfire)
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
            'misfire', uso_schedule_body.misfire);
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
COMMENT ON FUNCTION @extschema@.uso_schedule_body(text, text, text, text, text, jsonb, text, text, boolean, text, interval, integer, interval, interval, integer, text, text) IS
    'Internal: the work of uso_schedule, which calls it and reports its errors about the input without our internal context (api_errors.c).';

CREATE OR REPLACE FUNCTION @extschema@.uso_schedule(
    name text, schedule text, command text,
    description text DEFAULT NULL, category text DEFAULT NULL, config jsonb DEFAULT NULL,
    database text DEFAULT NULL, username text DEFAULT NULL, enabled boolean DEFAULT true,
    timezone text DEFAULT NULL, timeout interval DEFAULT NULL, max_retries integer DEFAULT NULL,
    retry_delay interval DEFAULT NULL, retry_after interval DEFAULT NULL,
    keep_runs integer DEFAULT NULL, overlap text DEFAULT NULL, misfire text DEFAULT NULL)
RETURNS bigint
LANGUAGE c SECURITY INVOKER
AS 'MODULE_PATHNAME', 'uso_schedule_api';

CREATE FUNCTION @extschema@.uso_alter_task_body(
    name text, schedule text DEFAULT NULL, command text DEFAULT NULL,
    description text DEFAULT NULL, category text DEFAULT NULL, config jsonb DEFAULT NULL,
    database text DEFAULT NULL, username text DEFAULT NULL, enabled boolean DEFAULT NULL,
    timezone text DEFAULT NULL, timeout interval DEFAULT NULL, max_retries integer DEFAULT NULL,
    retry_delay interval DEFAULT NULL, retry_after interval DEFAULT NULL,
    keep_runs integer DEFAULT NULL, overlap text DEFAULT NULL, misfire text DEFAULT NULL,
    new_name text DEFAULT NULL)
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
        misfire     = coalesce(uso_alter_task_body.misfire, t.misfire)
    WHERE t.id = task_id;
EXCEPTION WHEN unique_violation THEN
    RAISE EXCEPTION 'task "%" already exists', @extschema@.uso_shorten(uso_alter_task_body.new_name)
        USING ERRCODE = 'unique_violation',
              DETAIL = 'Task names are unique across all roles.';
END
$$;
COMMENT ON FUNCTION @extschema@.uso_alter_task_body(text, text, text, text, text, jsonb, text, text, boolean, text, interval, integer, interval, interval, integer, text, text, text) IS
    'Internal: the work of uso_alter_task, which calls it and reports its errors about the input without our internal context (api_errors.c).';

CREATE OR REPLACE FUNCTION @extschema@.uso_alter_task(
    name text, schedule text DEFAULT NULL, command text DEFAULT NULL,
    description text DEFAULT NULL, category text DEFAULT NULL, config jsonb DEFAULT NULL,
    database text DEFAULT NULL, username text DEFAULT NULL, enabled boolean DEFAULT NULL,
    timezone text DEFAULT NULL, timeout interval DEFAULT NULL, max_retries integer DEFAULT NULL,
    retry_delay interval DEFAULT NULL, retry_after interval DEFAULT NULL,
    keep_runs integer DEFAULT NULL, overlap text DEFAULT NULL, misfire text DEFAULT NULL,
    new_name text DEFAULT NULL)
RETURNS void
LANGUAGE c SECURITY INVOKER
AS 'MODULE_PATHNAME', 'uso_alter_task_api';

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
