-- uso_office: the role the pack's tasks run as.  By default the role running
-- CREATE EXTENSION uso_office (a superuser: the extension needs one).  A DBA
-- who wants them to run with less names another role first:
--     SET uso_office.task_owner = 'uso_office_runner';   -- a role with LOGIN
--     CREATE EXTENSION uso_office;
-- That role gets what the tasks need: the schema uso and its tables and
-- sequences.  The tasks are then that role's, under the usual rules: only it
-- or a superuser may change what they execute.
DO $$
DECLARE
    owner name := (SELECT t.username FROM @extschema@.uso_task t
                    WHERE t.extension = 'uso_office' LIMIT 1);
BEGIN
    IF owner IS NOT NULL AND NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = owner) THEN
        EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA uso TO %I', owner);
        EXECUTE pg_catalog.format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA uso TO %I', owner);
        EXECUTE pg_catalog.format('GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA uso TO %I', owner);
    END IF;
END
$$;
