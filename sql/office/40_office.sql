-- uso_office: the USO user-office task pack, as an extension of its own on
-- top of uso_tasks (requires = 'uso_tasks').  Its install script is these
-- parts in file-name order: this check, the data model (50), the task
-- functions (55-57) and their registration (58).
\echo Use "CREATE EXTENSION uso_office" to load this file. \quit

-- The pack's functions call the engine's objects as @extschema@.uso_*: so
-- uso_office is created in the schema uso_tasks lives in (CASCADE does that).
DO $$
DECLARE
    engine name := (SELECT n.nspname FROM pg_catalog.pg_extension e
                      JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
                     WHERE e.extname = 'uso_tasks');
BEGIN
    IF pg_catalog.quote_ident(engine) <> '@extschema@' THEN
        RAISE EXCEPTION 'uso_office must be created in the schema of uso_tasks (%), not in @extschema@', engine
            USING ERRCODE = 'invalid_schema_name',
                  HINT = pg_catalog.format('CREATE EXTENSION uso_office SCHEMA %I;', engine);
    END IF;
END
$$;

-- The pack registers its tasks under their seed names: say which ones are
-- taken rather than fail on uso_task_name_key.
DO $$
DECLARE
    taken text := (SELECT pg_catalog.string_agg(t.name, ', ' ORDER BY t.name) FROM @extschema@.uso_task t
                    WHERE t.name IN ('AdvanceReviewWorkflow', 'CreateCycles', 'CycleStateManager', 'RemindReviewers',
                                     'StartReviews', 'AutoSignOff', 'CreateCallProjects', 'CreateNonCallProjects',
                                     'NotifyProjects', 'FetchBioSync', 'UpdateMetrics', 'FetchCitations',
                                     'UpdatePublications', 'CleanRegistrations', 'NotifyNewInstitutions', 'SyncUsers',
                                     'DeliverNotifications'));
BEGIN
    IF taken IS NOT NULL THEN
        RAISE EXCEPTION 'uso_office registers its tasks under names that are taken: %', taken
            USING ERRCODE = 'unique_violation',
                  HINT = 'Rename or unschedule those tasks (uso_alter_task(name, new_name => ...)), then create the extension.';
    END IF;
END
$$;
