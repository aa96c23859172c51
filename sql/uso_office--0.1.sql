-- uso_office 0.1: the adopting version.  uso_tasks 0.1 installed the USO pack
-- (schema uso, its tables, functions and tasks) as part of itself; this
-- script moves exactly those objects, with every row, from uso_tasks to
-- uso_office.  It is run by the uso_tasks library right after
-- ALTER EXTENSION uso_tasks UPDATE (src/office_adopt.c), followed by
-- ALTER EXTENSION uso_office UPDATE to the current version; a fresh install
-- uses uso_office--<current>.sql instead.
--
-- Why ALTER EXTENSION ... DROP/ADD and not CREATE ... IF NOT EXISTS: since
-- the fix of CVE-2022-2625 (PostgreSQL 15.0 has it) an extension script may
-- not CREATE OR REPLACE or CREATE IF NOT EXISTS an object that is not
-- already its member, and PostgreSQL runs no CREATE EXTENSION inside another
-- extension's script; moving membership keeps each object (oid, rows, grants)
-- as it is.  Each ADD records the object's privileges in pg_init_privs, as a
-- fresh install does.
\echo Use "CREATE EXTENSION uso_office" to load this file. \quit

DO $$
DECLARE
    engine oid := (SELECT e.oid FROM pg_catalog.pg_extension e WHERE e.extname = 'uso_tasks');
    obj record;
    n integer := 0;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                    WHERE d.classid = 'pg_catalog.pg_namespace'::pg_catalog.regclass
                      AND d.objid = (SELECT s.oid FROM pg_catalog.pg_namespace s WHERE s.nspname = 'uso')
                      AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
                      AND d.refobjid = engine AND d.deptype = 'e') THEN
        RAISE EXCEPTION 'uso_office 0.1 only takes over the USO pack that uso_tasks 0.1 installed, and there is none here'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'CREATE EXTENSION uso_office; installs the current version.';
    END IF;
    -- Every member of uso_tasks that is schema uso or lives in it.
    FOR obj IN
        SELECT i.type, i.identity
          FROM pg_catalog.pg_depend d,
               LATERAL pg_catalog.pg_identify_object(d.classid, d.objid, d.objsubid) i
         WHERE d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
           AND d.refobjid = engine AND d.deptype = 'e'
           AND (i.schema = 'uso' OR (i.type = 'schema' AND i.identity = 'uso'))
         ORDER BY i.type = 'schema', i.type, i.identity
    LOOP
        EXECUTE pg_catalog.format('ALTER EXTENSION uso_tasks DROP %s %s', obj.type, obj.identity);
        EXECUTE pg_catalog.format('ALTER EXTENSION uso_office ADD %s %s', obj.type, obj.identity);
        n := n + 1;
    END LOOP;
    RAISE NOTICE 'uso_office took over % objects of the USO pack from uso_tasks', n;
END
$$;

-- pg_dump keeps the domain data (DROP from uso_tasks unregistered them).
DO $$
DECLARE
    rel pg_catalog.regclass;
BEGIN
    FOR rel IN SELECT c.oid FROM pg_catalog.pg_class c
               WHERE c.relnamespace = 'uso'::pg_catalog.regnamespace AND c.relkind IN ('r', 'S')
               ORDER BY c.relname
    LOOP
        PERFORM pg_catalog.pg_extension_config_dump(rel, '');
    END LOOP;
END
$$;

-- The pack's 17 tasks, with their runs: registered by uso_office from now on.
UPDATE @extschema@.uso_task SET extension = 'uso_office'
 WHERE builtin AND extension IS NULL
   AND name IN ('AdvanceReviewWorkflow', 'CreateCycles', 'CycleStateManager', 'RemindReviewers',
                'StartReviews', 'AutoSignOff', 'CreateCallProjects', 'CreateNonCallProjects',
                'NotifyProjects', 'FetchBioSync', 'UpdateMetrics', 'FetchCitations',
                'UpdatePublications', 'CleanRegistrations', 'NotifyNewInstitutions', 'SyncUsers',
                'DeliverNotifications');
