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
