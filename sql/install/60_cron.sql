-- uso_tasks: pg_cron compatibility layer.
--
-- Schema cron with pg_cron 1.6's catalog (cron.job, cron.job_run_details) as
-- views over uso_task / uso_task_run, and its functions (cron.schedule,
-- cron.schedule_in_database, cron.unschedule, cron.alter_job) with pg_cron's
-- argument names, defaults, permission rules and error messages (with proper
-- SQLSTATEs), so that pg_cron scripts and dashboards keep working.  One source
-- of truth: a cron job IS a uso_task (jobid = uso_task.id, jobname = name).
--
-- When schema cron already exists (pg_cron installed), the layer is skipped
-- with a WARNING; uso_import_pg_cron() copies pg_cron's jobs over and, once
-- pg_cron is dropped, uso_install_cron_compat() installs the layer.
-- docs/cron.md describes it for users.

-- Jobs created by cron.schedule(schedule, command) have no name in pg_cron.
-- They get one here (cron_job_<jobid>, so they show on admin pages) and this
-- flag makes cron.job show jobname NULL for them, as pg_cron does.
COMMENT ON COLUMN @extschema@.uso_task.cron_unnamed IS
    'Created by cron.schedule(schedule, command) without a name: cron.job shows jobname NULL; the name is generated (cron_job_<id>).';

CREATE FUNCTION _uso_tasks.uso_task_cron_name() RETURNS trigger
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.cron_unnamed AND NEW.name IS NULL THEN
            NEW.name := 'cron_job_' || NEW.id;
        END IF;
    ELSIF NEW.name IS DISTINCT FROM OLD.name THEN
        -- Renamed (uso_alter_task): from now on it is a named job.
        NEW.cron_unnamed := false;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION _uso_tasks.uso_task_cron_name() IS
    'Trigger: names unnamed pg_cron jobs cron_job_<id>; a renamed task is no longer unnamed.';
-- Fires before uso_task_validate (row triggers fire in name order).
CREATE TRIGGER uso_task_cron_name
    BEFORE INSERT OR UPDATE OF name ON @extschema@.uso_task
    FOR EACH ROW EXECUTE FUNCTION _uso_tasks.uso_task_cron_name();

-- pg_cron lets every role delete its own run history
-- (DELETE FROM cron.job_run_details WHERE end_time < now() - interval '7 days').
-- The FOR ALL policy of 00_catalog.sql already limits DELETE to the runs of
-- tasks the role can see; this one keeps runs still in use by a worker.
CREATE POLICY uso_task_run_delete_finished ON @extschema@.uso_task_run
    AS RESTRICTIVE FOR DELETE USING (finished_at IS NOT NULL);

------------------------------------------------------------------------------
-- Checks shared by the cron functions, with pg_cron's messages.

CREATE FUNCTION _uso_tasks.uso_cron_check_schedule(schedule text) RETURNS void
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    why text;
BEGIN
    -- pg_cron's grammar exactly (docs/cron.md lists what we refuse on purpose).
    PERFORM _uso_tasks.uso_validate_cron_schedule(schedule);
EXCEPTION WHEN invalid_parameter_value THEN
    GET STACKED DIAGNOSTICS why = MESSAGE_TEXT;
    RAISE EXCEPTION 'invalid schedule: %', _uso_tasks.uso_shorten(schedule)
        USING ERRCODE = 'invalid_parameter_value', DETAIL = why,
              HINT = 'Use cron format (e.g. 5 4 * * *), or interval format ''[1-59] seconds''';
END
$$;
COMMENT ON FUNCTION _uso_tasks.uso_cron_check_schedule(text) IS
    'Internal (pg_cron layer): raises pg_cron''s "invalid schedule" error for a schedule uso_tasks cannot parse.';

CREATE FUNCTION _uso_tasks.uso_cron_check_role(username text) RETURNS void
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    can_login boolean;
BEGIN
    SELECT r.rolcanlogin INTO can_login FROM pg_roles r WHERE r.rolname = username;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'role "%" does not exist', _uso_tasks.uso_shorten(username)
            USING ERRCODE = 'undefined_object';
    ELSIF NOT can_login THEN
        RAISE EXCEPTION 'role "%" can not log in', username
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Jobs may only be run by roles that have the LOGIN attribute.';
    END IF;
END
$$;
COMMENT ON FUNCTION _uso_tasks.uso_cron_check_role(text) IS
    'Internal (pg_cron layer): the role must exist and have LOGIN, with pg_cron''s messages.';

CREATE FUNCTION _uso_tasks.uso_cron_check_database(database text, username text) RETURNS void
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_database d WHERE d.datname = database) THEN
        RAISE EXCEPTION 'database "%" does not exist', _uso_tasks.uso_shorten(database)
            USING ERRCODE = 'invalid_catalog_name';
    END IF;
    IF NOT has_database_privilege(username, database, 'CONNECT') THEN
        RAISE EXCEPTION 'User % does not have CONNECT privilege on %', username, database
            USING ERRCODE = 'insufficient_privilege';
    END IF;
END
$$;
COMMENT ON FUNCTION _uso_tasks.uso_cron_check_database(text, text) IS
    'Internal (pg_cron layer): the database must exist and the job''s role must have CONNECT on it.';

-- Whether a job exists at all, whoever owns it: pg_cron answers "permission
-- denied" rather than "not found" for another role's job, and this is the only
-- way to tell the two apart under row-level security.  Reveals nothing more.
CREATE FUNCTION _uso_tasks.uso_cron_job_exists(job_id bigint) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT EXISTS (SELECT FROM @extschema@.uso_task t WHERE t.id = job_id) $$;
COMMENT ON FUNCTION _uso_tasks.uso_cron_job_exists(bigint) IS
    'Internal (pg_cron layer): true when a task with this id exists, visible or not.';

-- The internal functions below are what the SECURITY INVOKER cron.*
-- wrappers call, so every role that may call cron.schedule must be able to
-- execute them: they cannot be REVOKEd from PUBLIC.  Instead each checks the
-- caller's right to the cron.* function whose powers a call uses, so that
-- calling one directly grants nothing pg_cron's own grants do not.
CREATE FUNCTION _uso_tasks.uso_cron_may_call(func text) RETURNS boolean
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
COMMENT ON FUNCTION _uso_tasks.uso_cron_may_call(text) IS
    'Internal (pg_cron layer): whether the current role may call this cron.* function of uso_tasks (EXECUTE and USAGE on schema cron), or is superuser.';

-- pg_cron runs every schedule in cron.timezone, GMT unless set (a
-- postmaster setting of pg_cron; without pg_cron loaded it may still be in
-- postgresql.conf as a placeholder, or not be defined at all).  A job made
-- through the cron layer stores it as its own time zone, so that it fires
-- when pg_cron would have fired it; uso_schedule's tasks keep
-- uso_tasks.timezone (docs/cron.md, "Time zone").
CREATE FUNCTION _uso_tasks.uso_cron_timezone() RETURNS text
LANGUAGE sql STABLE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT coalesce(NULLIF(pg_catalog.current_setting('cron.timezone', true), ''), 'GMT') $$;
COMMENT ON FUNCTION _uso_tasks.uso_cron_timezone() IS
    'Internal (pg_cron layer): the time zone pg_cron would run schedules in: cron.timezone, GMT when it is not set.';

-- What cron.job lists: the tasks pg_cron could have created.  Built-in tasks
-- are not cron jobs, and a schedule outside pg_cron's grammar (T00:15, PT1H)
-- would break the tools that parse cron.job.
CREATE FUNCTION _uso_tasks.uso_cron_grammar(schedule text) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM _uso_tasks.uso_validate_cron_schedule(schedule);
    RETURN true;
EXCEPTION WHEN invalid_parameter_value THEN
    RETURN false;
END
$$;
COMMENT ON FUNCTION _uso_tasks.uso_cron_grammar(text) IS
    'Internal (pg_cron layer): whether a schedule is in pg_cron''s grammar (cron.job lists only those).';

-- The cron layer's error for a built-in task: they are not cron jobs.
CREATE FUNCTION _uso_tasks.uso_cron_builtin_error(job_id bigint, verb text) RETURNS void
LANGUAGE plpgsql STABLE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    task_name text;
BEGIN
    SELECT t.name INTO task_name FROM @extschema@.uso_task t WHERE t.id = job_id AND t.builtin;
    IF FOUND THEN
        RAISE EXCEPTION 'task "%" is a built-in task of uso_tasks, not a pg_cron job', task_name
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('The cron layer does not %s built-in tasks.', verb),
                  HINT = format('Pause it with SELECT @extschema@.uso_disable(%L); or change it with @extschema@.uso_alter_task.',
                                task_name);
    END IF;
END
$$;
COMMENT ON FUNCTION _uso_tasks.uso_cron_builtin_error(bigint, text) IS
    'Internal (pg_cron layer): raises 55000 when the (visible) task with this id is built in.';

------------------------------------------------------------------------------
-- The work behind cron.schedule / cron.schedule_in_database.  job_name NULL
-- with named = false is the unnamed form; named jobs are upserted by (name,
-- role), updating schedule, command and database as pg_cron does.

CREATE FUNCTION _uso_tasks.uso_cron_schedule_body(job_name text, schedule text, command text,
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
    conname   text;
    via       text;
    candidate text;
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
    IF NOT _uso_tasks.uso_cron_may_call(via) THEN
        RAISE EXCEPTION 'permission denied for function %', split_part(split_part(via, '(', 1), '.', 2)
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('This call does what %s does, which needs EXECUTE on it and USAGE on schema cron.',
                                  split_part(via, '(', 1)),
                  HINT = 'Call the cron.* function; a superuser grants it to the roles that need it.';
    END IF;
    PERFORM _uso_tasks.uso_cron_check_schedule(uso_cron_schedule_body.schedule);
    IF uso_cron_schedule_body.username IS NOT NULL THEN
        IF NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user) THEN
            RAISE EXCEPTION 'must be superuser to create a job for another role'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        PERFORM _uso_tasks.uso_cron_check_role(uso_cron_schedule_body.username);
        job_user := uso_cron_schedule_body.username;
    END IF;
    PERFORM _uso_tasks.uso_cron_check_database(job_db, job_user);

    IF job_name IS NULL THEN
        INSERT INTO @extschema@.uso_task AS t
            (name, cron_unnamed, schedule, command, database, username, enabled, timezone)
        VALUES (NULL, true, uso_cron_schedule_body.schedule, uso_cron_schedule_body.command,
                job_db, job_user, coalesce(active, true), _uso_tasks.uso_cron_timezone())
        RETURNING t.id INTO job_id;
        RETURN job_id;
    END IF;

    -- pg_cron's names are unique per role, uso_tasks' across roles: a name
    -- another role holds is stored as name@role, and cron.job shows it as
    -- name.  The caller never learns whether, or by whom, a name is taken.
    -- Look for the caller's job before each try: a name that was just taken
    -- may have been taken by a concurrent call of the same role (the unique
    -- check waited for it to commit), whose job this call then updates
    -- rather than making a second one under name@role.
    FOR try IN 0..2 LOOP
        SELECT t.id INTO job_id
        FROM @extschema@.uso_task t
        WHERE t.username = job_user AND NOT t.builtin
          AND t.name IN (job_name, job_name || '@' || job_user)
        ORDER BY t.name = job_name DESC
        LIMIT 1 FOR UPDATE;
        IF FOUND THEN
            UPDATE @extschema@.uso_task t
            SET schedule = uso_cron_schedule_body.schedule, command = uso_cron_schedule_body.command,
                database = job_db, timezone = _uso_tasks.uso_cron_timezone()
            WHERE t.id = job_id;
            RETURN job_id;
        END IF;
        IF try < 2 THEN
            candidate := CASE WHEN try = 0 THEN job_name ELSE job_name || '@' || job_user END;
            BEGIN
                INSERT INTO @extschema@.uso_task AS t
                    (name, schedule, command, database, username, enabled, timezone)
                VALUES (candidate, uso_cron_schedule_body.schedule, uso_cron_schedule_body.command,
                        job_db, job_user, coalesce(active, true), _uso_tasks.uso_cron_timezone())
                RETURNING t.id INTO job_id;
                RETURN job_id;
            EXCEPTION WHEN unique_violation THEN
                GET STACKED DIAGNOSTICS conname = CONSTRAINT_NAME;
                IF conname IS DISTINCT FROM 'uso_task_name_key' THEN
                    RAISE;
                END IF;
            END;
        END IF;
    END LOOP;
    -- Both names are taken and neither by one of the caller's jobs: what
    -- holds them is not said.
    RAISE EXCEPTION 'job name "%" cannot be used', _uso_tasks.uso_shorten(job_name)
        USING ERRCODE = 'duplicate_object',
              DETAIL = 'uso_tasks keeps task names unique across roles and could not give this job a name of its own.',
              HINT = 'Choose another job name.';
END
$$;
COMMENT ON FUNCTION _uso_tasks.uso_cron_schedule_body(text, text, text, text, text, boolean, boolean) IS
    'Internal: the work of uso_cron_schedule (cron.schedule, cron.schedule_in_database), which calls it and reports its errors about the input without our internal context (api_errors.c).';

CREATE FUNCTION _uso_tasks.uso_cron_schedule(job_name text, schedule text, command text,
    database text, username text, active boolean, named boolean)
RETURNS bigint
LANGUAGE c SECURITY INVOKER
AS 'MODULE_PATHNAME', 'uso_cron_schedule_api';
COMMENT ON FUNCTION _uso_tasks.uso_cron_schedule(text, text, text, text, text, boolean, boolean) IS
    'Internal (pg_cron layer): cron.schedule and cron.schedule_in_database.';

CREATE FUNCTION _uso_tasks.uso_cron_unschedule_body(job_id bigint, job_name text, by_name boolean)
RETURNS boolean
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    found_id bigint;
BEGIN
    IF by_name THEN
        IF job_name IS NULL THEN
            RAISE EXCEPTION 'job_name can not be NULL' USING ERRCODE = 'null_value_not_allowed';
        END IF;
        -- pg_cron looks the name up among the caller's own jobs only (stored
        -- as name@role when another role holds the name, see above).
        SELECT t.id INTO found_id
        FROM @extschema@.uso_task t
        WHERE t.username = current_user AND t.name IN (job_name, job_name || '@' || current_user)
        ORDER BY t.name = job_name DESC
        LIMIT 1;
        IF found_id IS NOT NULL THEN
            PERFORM _uso_tasks.uso_cron_builtin_error(found_id, 'delete');
            DELETE FROM @extschema@.uso_task t WHERE t.id = found_id AND NOT t.builtin;
        END IF;
        IF found_id IS NULL OR NOT FOUND THEN
            RAISE EXCEPTION 'could not find valid entry for job ''%''', _uso_tasks.uso_shorten(job_name)
                USING ERRCODE = 'undefined_object';
        END IF;
        RETURN true;
    END IF;
    IF job_id IS NULL THEN
        RAISE EXCEPTION 'job_id can not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    DELETE FROM @extschema@.uso_task t WHERE t.id = job_id AND NOT t.builtin;
    IF NOT FOUND THEN
        PERFORM _uso_tasks.uso_cron_builtin_error(job_id, 'delete');
        IF _uso_tasks.uso_cron_job_exists(job_id) THEN
            RAISE EXCEPTION 'permission denied for table job' USING ERRCODE = 'insufficient_privilege';
        END IF;
        RAISE EXCEPTION 'could not find valid entry for job %', job_id USING ERRCODE = 'undefined_object';
    END IF;
    RETURN true;
END
$$;
COMMENT ON FUNCTION _uso_tasks.uso_cron_unschedule_body(bigint, text, boolean) IS
    'Internal: the work of uso_cron_unschedule (cron.unschedule), which calls it and reports its errors about the input without our internal context (api_errors.c).';

CREATE FUNCTION _uso_tasks.uso_cron_unschedule(job_id bigint, job_name text, by_name boolean)
RETURNS boolean
LANGUAGE c SECURITY INVOKER
AS 'MODULE_PATHNAME', 'uso_cron_unschedule_api';
COMMENT ON FUNCTION _uso_tasks.uso_cron_unschedule(bigint, text, boolean) IS
    'Internal (pg_cron layer): cron.unschedule by id or by name.';

CREATE FUNCTION _uso_tasks.uso_cron_alter_job_body(job_id bigint, schedule text, command text,
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
    IF NOT _uso_tasks.uso_cron_may_call('cron.alter_job(bigint,text,text,text,text,boolean)') THEN
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
        PERFORM _uso_tasks.uso_cron_check_role(uso_cron_alter_job_body.username);
        job_user := uso_cron_alter_job_body.username;
    END IF;
    IF uso_cron_alter_job_body.database IS NOT NULL THEN
        PERFORM _uso_tasks.uso_cron_check_database(uso_cron_alter_job_body.database, job_user);
    END IF;
    IF uso_cron_alter_job_body.schedule IS NOT NULL THEN
        PERFORM _uso_tasks.uso_cron_check_schedule(uso_cron_alter_job_body.schedule);
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
    WHERE t.id = job_id AND NOT t.builtin;
    IF NOT FOUND THEN
        PERFORM _uso_tasks.uso_cron_builtin_error(job_id, 'change');
        RAISE EXCEPTION 'Job % does not exist or you don''t own it', job_id USING ERRCODE = 'undefined_object';
    END IF;
END
$$;
COMMENT ON FUNCTION _uso_tasks.uso_cron_alter_job_body(bigint, text, text, text, text, boolean) IS
    'Internal: the work of uso_cron_alter_job (cron.alter_job), which calls it and reports its errors about the input without our internal context (api_errors.c).';

CREATE FUNCTION _uso_tasks.uso_cron_alter_job(job_id bigint, schedule text, command text,
    database text, username text, active boolean)
RETURNS void
LANGUAGE c SECURITY INVOKER
AS 'MODULE_PATHNAME', 'uso_cron_alter_job_api';
COMMENT ON FUNCTION _uso_tasks.uso_cron_alter_job(bigint, text, text, text, text, boolean) IS
    'Internal (pg_cron layer): cron.alter_job.';

------------------------------------------------------------------------------
-- uso_install_cron_compat: creates schema cron.  Run by CREATE EXTENSION when
-- there is no schema cron; afterwards by hand once pg_cron is dropped.  Objects
-- created outside CREATE EXTENSION are added to the extension, so that
-- DROP EXTENSION uso_tasks removes them and pg_dump leaves them out.

CREATE FUNCTION @extschema@.uso_install_cron_compat() RETURNS void
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
        -- An update (sql/updates/drop_code.sql) dropped the layer's views
        -- and functions and kept its schema, with the grants a DBA gave on it.
        IF NOT EXISTS (SELECT FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'uso_tasks'
                       WHERE d.classid = 'pg_namespace'::regclass AND d.deptype = 'e'
                         AND d.objid = (SELECT n.oid FROM pg_namespace n WHERE n.nspname = 'cron')) THEN
            RAISE EXCEPTION 'schema "cron" already exists'
                USING ERRCODE = 'duplicate_schema',
                      HINT = 'Drop or rename it first; the pg_cron compatibility layer needs schema cron.';
        END IF;
    ELSE
        EXECUTE $ddl$
CREATE SCHEMA cron;
COMMENT ON SCHEMA cron IS 'pg_cron compatibility layer of uso_tasks: pg_cron''s tables and functions over uso_task.';
$ddl$;
    END IF;

    EXECUTE $ddl$
CREATE VIEW cron.job WITH (security_invoker = true) AS
SELECT t.id AS jobid,
       t.schedule,
       t.command,
       'localhost'::text AS nodename,
       coalesce(pg_catalog.inet_server_port(), pg_catalog.current_setting('port')::integer) AS nodeport,
       coalesce(t.database, pg_catalog.current_database())::text AS database,
       t.username::text AS username,
       t.enabled AS active,
       CASE WHEN t.cron_unnamed THEN NULL
            WHEN pg_catalog.length(t.name) > pg_catalog.length(t.username) + 1
                 AND pg_catalog.right(t.name, pg_catalog.length(t.username) + 1) = '@' || t.username
            THEN pg_catalog.left(t.name, -(pg_catalog.length(t.username) + 1))
            ELSE t.name END AS jobname
FROM @extschema@.uso_task t
WHERE NOT t.builtin AND _uso_tasks.uso_cron_grammar(t.schedule);
COMMENT ON VIEW cron.job IS 'pg_cron 1.6''s job table: the uso_tasks tasks the current role may see that pg_cron could have created (not built in, a schedule in pg_cron''s grammar).';
COMMENT ON COLUMN cron.job.jobid IS 'Job id (uso_task.id).';
COMMENT ON COLUMN cron.job.schedule IS 'When it runs (pg_cron syntax), in the task''s time zone (cron.timezone for jobs made through the cron layer).';
COMMENT ON COLUMN cron.job.command IS 'SQL the job runs.';
COMMENT ON COLUMN cron.job.nodename IS 'Always localhost: jobs run in this server.';
COMMENT ON COLUMN cron.job.nodeport IS 'Port of this server.';
COMMENT ON COLUMN cron.job.database IS 'Database the command runs in.';
COMMENT ON COLUMN cron.job.username IS 'Role the command runs as.';
COMMENT ON COLUMN cron.job.active IS 'Whether it is scheduled (uso_task.enabled).';
COMMENT ON COLUMN cron.job.jobname IS 'Job name (uso_task.name, without the @role suffix a name held by another role gets); NULL for jobs created without a name.';

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
WHERE r.status <> 'skipped' AND r.task_id IN (SELECT j.jobid FROM cron.job j);
COMMENT ON VIEW cron.job_run_details IS 'pg_cron 1.6''s run history: the runs of the jobs in cron.job (skipped runs left out).';
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
AS $f$ SELECT _uso_tasks.uso_cron_schedule(NULL, schedule, command, NULL, NULL, true, false) $f$;
COMMENT ON FUNCTION cron.schedule(text, text) IS 'schedule a pg_cron job';

CREATE FUNCTION cron.schedule(job_name text, schedule text, command text) RETURNS bigint
LANGUAGE sql SECURITY INVOKER SET search_path = pg_catalog, pg_temp
AS $f$ SELECT _uso_tasks.uso_cron_schedule(job_name, schedule, command, NULL, NULL, true, true) $f$;
COMMENT ON FUNCTION cron.schedule(text, text, text) IS 'schedule a pg_cron job';

CREATE FUNCTION cron.schedule_in_database(job_name text, schedule text, command text, database text,
    username text DEFAULT NULL, active boolean DEFAULT 'true') RETURNS bigint
LANGUAGE sql SECURITY INVOKER SET search_path = pg_catalog, pg_temp
AS $f$ SELECT _uso_tasks.uso_cron_schedule(job_name, schedule, command, database, username, active, true) $f$;
COMMENT ON FUNCTION cron.schedule_in_database(text, text, text, text, text, boolean) IS 'schedule a pg_cron job';
REVOKE ALL ON FUNCTION cron.schedule_in_database(text, text, text, text, text, boolean) FROM PUBLIC;

CREATE FUNCTION cron.unschedule(job_id bigint) RETURNS boolean
LANGUAGE sql SECURITY INVOKER SET search_path = pg_catalog, pg_temp
AS $f$ SELECT _uso_tasks.uso_cron_unschedule(job_id, NULL, false) $f$;
COMMENT ON FUNCTION cron.unschedule(bigint) IS 'unschedule a pg_cron job';

CREATE FUNCTION cron.unschedule(job_name text) RETURNS boolean
LANGUAGE sql SECURITY INVOKER SET search_path = pg_catalog, pg_temp
AS $f$ SELECT _uso_tasks.uso_cron_unschedule(NULL, job_name, true) $f$;
COMMENT ON FUNCTION cron.unschedule(text) IS 'unschedule a pg_cron job';

CREATE FUNCTION cron.alter_job(job_id bigint, schedule text DEFAULT NULL, command text DEFAULT NULL,
    database text DEFAULT NULL, username text DEFAULT NULL, active boolean DEFAULT NULL) RETURNS void
LANGUAGE sql SECURITY INVOKER SET search_path = pg_catalog, pg_temp
AS $f$ SELECT _uso_tasks.uso_cron_alter_job(job_id, schedule, command, database, username, active) $f$;
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

-- Install it now (or again, in an update), unless pg_cron (or anything else)
-- owns schema cron.  A WARNING, not a NOTICE: CREATE EXTENSION hides its
-- script's notices.
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_namespace n WHERE n.nspname = 'cron'
                  AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                                   WHERE d.classid = 'pg_catalog.pg_namespace'::pg_catalog.regclass
                                     AND d.objid = n.oid AND d.deptype = 'e'
                                     AND d.refobjid = (SELECT e.oid FROM pg_catalog.pg_extension e
                                                        WHERE e.extname = 'uso_tasks'))) THEN
        RAISE WARNING 'schema "cron" already exists (pg_cron?): the pg_cron compatibility layer of uso_tasks was not installed'
            USING HINT = 'To move over: SELECT @extschema@.uso_import_pg_cron(); then DROP EXTENSION pg_cron; '
                         'then SELECT @extschema@.uso_install_cron_compat();';
    ELSE
        PERFORM @extschema@.uso_install_cron_compat();
    END IF;
END
$$;
