-- uso_tasks: uso_import_pg_cron(), moving pg_cron's jobs (and optionally
-- their history) into uso_tasks while pg_cron is still installed.
--
-- Each job keeps its jobid (as uso_task.id), name, role, database, active flag,
-- schedule and command, and its time: pg_cron's cron.timezone (GMT unless
-- set) becomes the task's time zone.  A job that uso_tasks cannot take over (a schedule it
-- rejects, a role without LOGIN, a dropped database) is skipped and named in
-- the report; everything else is imported.  By default the imported jobs are
-- then deactivated in pg_cron, so that each job keeps running exactly once (by
-- uso_tasks) until pg_cron is dropped.
--
-- A job pg_cron ran on another node (nodename/nodeport other than this
-- server: pg_cron's libpq mode, Citus workers) would run HERE under
-- uso_tasks, which has no remote mode.  It is imported disabled, with a
-- WARNING naming it and its node, and stays active in pg_cron, which keeps
-- running it there until pg_cron is dropped: nothing runs in the wrong place
-- and nothing is lost (docs/cron.md, "Jobs that ran on another node").

CREATE FUNCTION @extschema@.uso_import_pg_cron(with_history boolean DEFAULT false,
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
    -- (A static query: planned when it runs, as a dynamic one would be, and
    -- one pgspot can read; it fails to parse FOR ... IN EXECUTE.)
    FOR job IN
        SELECT j.jobid, j.schedule, j.command, j.nodename, j.nodeport, j.database, j.username, j.active,
               j.jobname::text AS jobname
          FROM cron.job j ORDER BY j.jobid
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
                (id, name, cron_unnamed, description, schedule, command, database, username, enabled, timezone)
            VALUES (job.jobid, task_name, job.jobname IS NULL,
                    CASE WHEN remote THEN format('imported from pg_cron, disabled: it ran on node %s:%s',
                                                 job.nodename, job.nodeport)
                         ELSE 'imported from pg_cron' END,
                    job.schedule, job.command, job.database, job.username, job.active AND NOT remote,
                    _uso_tasks.uso_cron_timezone());
            imported := imported || job.jobid;
            IF remote THEN
                remote_ids := remote_ids || job.jobid;
                report := report || format('job %s ("%s") imported disabled: it ran on node %s:%s, not on this server',
                                           job.jobid, task_name, job.nodename, job.nodeport);
                RAISE WARNING 'pg_cron job % ("%") ran on node %:%, not on this server: imported disabled',
                              job.jobid, _uso_tasks.uso_shorten(task_name), job.nodename, job.nodeport
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
    'Copies every pg_cron job (same jobid, name, role, database, active flag, and time zone cron.timezone) and optionally its run history into uso_tasks; a job that ran on another node is imported disabled, with a WARNING; reports what it did. Superuser only.';
REVOKE ALL ON FUNCTION @extschema@.uso_import_pg_cron(boolean, boolean) FROM PUBLIC;
