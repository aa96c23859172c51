-- uso_tasks: task management API (uso_schedule, uso_alter_task, uso_unschedule,
-- uso_enable, uso_disable) and the trigger that validates every write to
-- uso_task, so that a direct INSERT or UPDATE is exactly as safe as the API.
--
-- Rules (docs/api.md explains them for users):
--   * every check runs in the BEFORE trigger, as the calling role (SECURITY
--     INVOKER: current_user is whoever writes the row);
--   * row-level security (00_catalog.sql) limits every read and write to the
--     owner's rows, or all rows for uso_admin members and superusers;
--   * what a task executes (command, config, database) and as whom
--     (username) is changed only by its owner role, a role that may SET ROLE
--     to it, or a superuser; uso_admin members manage every task but never
--     that (docs/api.md, "Who may change what");
--   * an error leaves nothing changed (it aborts the statement).

CREATE FUNCTION _uso_tasks.uso_task_check() RETURNS trigger
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
                            _uso_tasks.uso_shorten(OLD.name), OLD.username, what
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
        IF NOT EXISTS (SELECT FROM pg_roles r WHERE r.rolname = NEW.username) THEN
            RAISE EXCEPTION 'role "%" does not exist', NEW.username USING ERRCODE = 'undefined_object';
        END IF;
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
    PERFORM _uso_tasks.uso_check_label('task name', NEW.name);

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
    PERFORM _uso_tasks.uso_check_label('category', NEW.category);

    -- schedule: the grammar lives in C (05_schedule.sql); only re-parse on change.
    IF NEW.schedule IS NULL THEN
        RAISE EXCEPTION 'schedule must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    ELSIF ins OR NEW.schedule IS DISTINCT FROM OLD.schedule THEN
        PERFORM _uso_tasks.uso_validate_schedule(NEW.schedule);
        -- uso_schedule and uso_alter_task refuse these; pg_cron accepts them,
        -- so its layer and direct writes get a warning.
        IF _uso_tasks.uso_schedule_never_fires(NEW.schedule) IS NOT NULL THEN
            RAISE WARNING 'schedule "%" never fires: %', _uso_tasks.uso_shorten(NEW.schedule),
                _uso_tasks.uso_schedule_never_fires(NEW.schedule);
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
    PERFORM _uso_tasks.uso_check_command(NEW.command) WHERE ins OR NEW.command IS DISTINCT FROM OLD.command;

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
        IF _uso_tasks.uso_timezone_warning(NEW.timezone) IS NOT NULL THEN
            RAISE WARNING '%', _uso_tasks.uso_timezone_warning(NEW.timezone);
        END IF;
        NEW.timezone := _uso_tasks.uso_validate_timezone(NEW.timezone);
    END IF;

    -- Intervals: bounds a DBA would still call sane (docs/api.md).
    IF NEW.timeout < interval '0' THEN
        RAISE EXCEPTION 'timeout must not be negative' USING ERRCODE = 'invalid_parameter_value';
    ELSIF NEW.timeout > interval '0' AND NEW.timeout < interval '1 millisecond' THEN
        -- A run's timeout counts whole milliseconds: less would be 0, no limit.
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
            NEW.next_run_at := _uso_tasks.uso_schedule_next(NEW.schedule, now(), NEW.last_run_at,
                                                             NEW.timezone);
        ELSE
            NEW.next_run_at := NULL;
        END IF;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION _uso_tasks.uso_task_check() IS
    'Trigger: validates a new or changed uso_task row (schedule, time zone, role, database, limits) and computes next_run_at.';

-- Row triggers fire in name order: this one must come after uso_task_cron_name
-- (60_cron.sql), which fills in the generated name of unnamed pg_cron jobs.
-- UPDATE OF: the scheduler's own writes (next_run_at, last_run_at) do not fire it.
CREATE TRIGGER uso_task_validate
    BEFORE INSERT OR UPDATE OF name, description, category, schedule, command, config, database,
        username, enabled, timezone, timeout, max_retries, retry_delay, retry_after, keep_runs,
        overlap, misfire
    ON @extschema@.uso_task
    FOR EACH ROW EXECUTE FUNCTION _uso_tasks.uso_task_check();


-- A schedule that can never fire (30 February) is a mistake in the API;
-- pg_cron accepts it, so the cron layer and direct writes only warn (trigger).
CREATE FUNCTION _uso_tasks.uso_refuse_never_firing(schedule text) RETURNS void
LANGUAGE plpgsql STABLE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    why constant text := _uso_tasks.uso_schedule_never_fires(schedule);
BEGIN
    IF why IS NOT NULL THEN
        RAISE EXCEPTION 'schedule "%" never fires: %', _uso_tasks.uso_shorten(schedule), why
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use a day every month named has, or $ for the last day of the month.';
    END IF;
END
$$;
COMMENT ON FUNCTION _uso_tasks.uso_refuse_never_firing(text) IS
    'Internal (uso_schedule, uso_alter_task): 22023 for a schedule that can never fire, naming why.';

-- uso_schedule: create a task, or replace the schedule and command of the
-- caller's task of that name (other arguments: NULL keeps what is there).
CREATE FUNCTION _uso_tasks.uso_schedule_body(
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
    PERFORM _uso_tasks.uso_refuse_never_firing(uso_schedule_body.schedule);
    PERFORM _uso_tasks.uso_warn_scheduler();

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
                RAISE EXCEPTION 'task "%" belongs to another role', _uso_tasks.uso_shorten(uso_schedule_body.name)
                    USING ERRCODE = 'insufficient_privilege',
                          DETAIL = 'Task names are unique across all roles.',
                          HINT = 'Choose another name.';
            END IF;
        END;
    END LOOP;
    RAISE EXCEPTION 'task "%" is being changed concurrently', _uso_tasks.uso_shorten(uso_schedule_body.name)
        USING ERRCODE = 'lock_not_available';
END
$$;
COMMENT ON FUNCTION _uso_tasks.uso_schedule_body(text, text, text, text, text, jsonb, text, text, boolean, text, interval, integer, interval, interval, integer, text, text, text, text) IS
    'Internal: the work of uso_schedule, which calls it and reports its errors about the input without our internal context (api_errors.c).';

CREATE FUNCTION @extschema@.uso_schedule(
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

-- uso_task_id_by_name: the id of a task the caller can see, or a clear error.
CREATE FUNCTION _uso_tasks.uso_task_id_by_name(name text, for_update boolean DEFAULT false)
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
        RAISE EXCEPTION 'task "%" does not exist', _uso_tasks.uso_shorten(uso_task_id_by_name.name) USING ERRCODE = 'undefined_object';
    END IF;
    RETURN task_id;
END
$$;
COMMENT ON FUNCTION _uso_tasks.uso_task_id_by_name(text, boolean) IS
    'The id of the named task, if the caller may see it; error 42704 otherwise.';

CREATE FUNCTION _uso_tasks.uso_alter_task_body(
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
    task_id bigint := _uso_tasks.uso_task_id_by_name(uso_alter_task_body.name, true);
BEGIN
    IF uso_alter_task_body.schedule IS NOT NULL THEN
        PERFORM _uso_tasks.uso_refuse_never_firing(uso_alter_task_body.schedule);
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
    RAISE EXCEPTION 'task "%" already exists', _uso_tasks.uso_shorten(uso_alter_task_body.new_name)
        USING ERRCODE = 'unique_violation',
              DETAIL = 'Task names are unique across all roles.';
END
$$;
COMMENT ON FUNCTION _uso_tasks.uso_alter_task_body(text, text, text, text, text, jsonb, text, text, boolean, text, interval, integer, interval, interval, integer, text, text, text, text, text) IS
    'Internal: the work of uso_alter_task, which calls it and reports its errors about the input without our internal context (api_errors.c).';

CREATE FUNCTION @extschema@.uso_alter_task(
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

CREATE FUNCTION _uso_tasks.uso_unschedule_body(name text) RETURNS boolean
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    task_id constant bigint := _uso_tasks.uso_task_id_by_name(uso_unschedule_body.name, true);
BEGIN
    DELETE FROM @extschema@.uso_task t WHERE t.id = task_id;
    RETURN true;
END
$$;
COMMENT ON FUNCTION _uso_tasks.uso_unschedule_body(text) IS
    'Internal: the work of uso_unschedule, which calls it and reports its errors about the input without our internal context (api_errors.c).';

CREATE FUNCTION @extschema@.uso_unschedule(name text) RETURNS boolean
LANGUAGE c SECURITY INVOKER
AS 'MODULE_PATHNAME', 'uso_unschedule_api';
COMMENT ON FUNCTION @extschema@.uso_unschedule(text) IS
    'Deletes a task and its run history; error 42704 when there is no such task.';

CREATE FUNCTION _uso_tasks.uso_enable_body(name text) RETURNS void
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    task_id constant bigint := _uso_tasks.uso_task_id_by_name(uso_enable_body.name, true);
BEGIN
    UPDATE @extschema@.uso_task t SET enabled = true WHERE t.id = task_id;
END
$$;
COMMENT ON FUNCTION _uso_tasks.uso_enable_body(text) IS
    'Internal: the work of uso_enable, which calls it and reports its errors about the input without our internal context (api_errors.c).';

CREATE FUNCTION @extschema@.uso_enable(name text) RETURNS void
LANGUAGE c SECURITY INVOKER
AS 'MODULE_PATHNAME', 'uso_enable_api';
COMMENT ON FUNCTION @extschema@.uso_enable(text) IS
    'Lets the scheduler run the task again; next_run_at is recomputed.';

CREATE FUNCTION _uso_tasks.uso_disable_body(name text) RETURNS void
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    task_id constant bigint := _uso_tasks.uso_task_id_by_name(uso_disable_body.name, true);
BEGIN
    UPDATE @extschema@.uso_task t SET enabled = false WHERE t.id = task_id;
END
$$;
COMMENT ON FUNCTION _uso_tasks.uso_disable_body(text) IS
    'Internal: the work of uso_disable, which calls it and reports its errors about the input without our internal context (api_errors.c).';

CREATE FUNCTION @extschema@.uso_disable(name text) RETURNS void
LANGUAGE c SECURITY INVOKER
AS 'MODULE_PATHNAME', 'uso_disable_api';
COMMENT ON FUNCTION @extschema@.uso_disable(text) IS
    'Stops scheduling the task (next_run_at becomes NULL); its history is kept.';
