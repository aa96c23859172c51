
------------------------------------------------------------------------------
-- The old code goes (sql/updates/drop_code.sql, in every update script of
-- @USO_EXTENSION@, after the schema deltas): every function, procedure, view
-- and event trigger of the extension, and the triggers and policies on its
-- tables; the code parts that follow create them again as they are now.  So
-- the code parts are plain CREATE statements, the same text in the install
-- script and in every update (no CREATE OR REPLACE, which a role that
-- created an object of that name first could keep owning: pgspot PS002).
-- Kept: the functions a table needs (a check constraint, a default, an index
-- uses them), which belong to the schema part.  Nothing else may depend on
-- what goes: a view or function of another role built on one of ours stops
-- the update with the list, before anything is dropped.  Privileges a DBA
-- granted or revoked on a function or view are kept (restore_grants.sql).
SET LOCAL search_path = pg_catalog, pg_temp;
DO $drop$
DECLARE
    ext oid := (SELECT e.oid FROM pg_catalog.pg_extension e
                 WHERE e.extname OPERATOR(pg_catalog.=) '@USO_EXTENSION@');
    blockers text;
    obj record;
    list text;
BEGIN
    CREATE TEMPORARY TABLE pg_temp.uso_update_drop (classid oid, objid oid) ON COMMIT DROP;
    -- Functions and procedures but those a constraint, default or index of
    -- one of the extension's tables uses.  Another role's table that uses
    -- one is a dependent object like her view (listed below, the update
    -- stops): keeping the function for it made the code part's CREATE fail
    -- with "already exists" (t/132_review_update_blockers.pl).
    INSERT INTO pg_temp.uso_update_drop
    SELECT d.classid, d.objid FROM pg_catalog.pg_depend d
      JOIN pg_catalog.pg_proc p ON p.oid OPERATOR(pg_catalog.=) d.objid
     WHERE d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
       AND d.refobjid OPERATOR(pg_catalog.=) ext AND d.deptype OPERATOR(pg_catalog.=) 'e'
       AND d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
       AND p.prokind OPERATOR(pg_catalog.<>) 'a'
       AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend u
                         LEFT JOIN pg_catalog.pg_attrdef ad
                                ON u.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_attrdef'::pg_catalog.regclass
                               AND ad.oid OPERATOR(pg_catalog.=) u.objid
                         LEFT JOIN pg_catalog.pg_constraint co
                                ON u.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_constraint'::pg_catalog.regclass
                               AND co.oid OPERATOR(pg_catalog.=) u.objid
                         LEFT JOIN pg_catalog.pg_index ix
                                ON u.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                               AND ix.indexrelid OPERATOR(pg_catalog.=) u.objid
                         JOIN pg_catalog.pg_depend m
                           ON m.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                          AND m.objid OPERATOR(pg_catalog.=) COALESCE(ad.adrelid, co.conrelid, ix.indrelid, u.objid)
                          AND m.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
                          AND m.refobjid OPERATOR(pg_catalog.=) ext AND m.deptype OPERATOR(pg_catalog.=) 'e'
                        WHERE u.refclassid OPERATOR(pg_catalog.=) d.classid
                          AND u.refobjid OPERATOR(pg_catalog.=) d.objid
                          AND u.classid OPERATOR(pg_catalog.=) ANY (ARRAY['pg_catalog.pg_constraint'::pg_catalog.regclass,
                                                  'pg_catalog.pg_attrdef'::pg_catalog.regclass,
                                                  'pg_catalog.pg_class'::pg_catalog.regclass]::pg_catalog.oid[]));
    -- Views and event triggers.
    INSERT INTO pg_temp.uso_update_drop
    SELECT d.classid, d.objid FROM pg_catalog.pg_depend d
     WHERE d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
       AND d.refobjid OPERATOR(pg_catalog.=) ext AND d.deptype OPERATOR(pg_catalog.=) 'e'
       AND (d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_event_trigger'::pg_catalog.regclass
            OR (d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                AND EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) d.objid
                               AND c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['v', 'm']::pg_catalog."char"[]))));
    -- Triggers and policies on the extension's tables.
    INSERT INTO pg_temp.uso_update_drop
    SELECT 'pg_catalog.pg_trigger'::pg_catalog.regclass, t.oid FROM pg_catalog.pg_trigger t
      JOIN pg_catalog.pg_depend d ON d.objid OPERATOR(pg_catalog.=) t.tgrelid
     WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
       AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
       AND d.refobjid OPERATOR(pg_catalog.=) ext AND d.deptype OPERATOR(pg_catalog.=) 'e'
       AND NOT t.tgisinternal
    UNION ALL
    SELECT 'pg_catalog.pg_policy'::pg_catalog.regclass, p.oid FROM pg_catalog.pg_policy p
      JOIN pg_catalog.pg_depend d ON d.objid OPERATOR(pg_catalog.=) p.polrelid
     WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
       AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
       AND d.refobjid OPERATOR(pg_catalog.=) ext AND d.deptype OPERATOR(pg_catalog.=) 'e';

    -- What else depends on them (a view's rule counts as the view).
    SELECT pg_catalog.string_agg(DISTINCT pg_catalog.pg_describe_object(
               CASE WHEN u.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_rewrite'::pg_catalog.regclass
                    THEN 'pg_catalog.pg_class'::pg_catalog.regclass ELSE u.classid END,
               COALESCE(r.ev_class, u.objid), 0), ', ')
      INTO blockers
      FROM pg_catalog.pg_depend u
      JOIN pg_temp.uso_update_drop x ON x.classid OPERATOR(pg_catalog.=) u.refclassid
                            AND x.objid OPERATOR(pg_catalog.=) u.refobjid
      LEFT JOIN pg_catalog.pg_rewrite r ON u.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_rewrite'::pg_catalog.regclass
                                       AND r.oid OPERATOR(pg_catalog.=) u.objid
     WHERE u.deptype OPERATOR(pg_catalog.=) 'n'
       AND NOT EXISTS (SELECT FROM pg_temp.uso_update_drop y
                        WHERE (y.classid OPERATOR(pg_catalog.=) u.classid AND y.objid OPERATOR(pg_catalog.=) u.objid)
                           OR (r.ev_class IS NOT NULL
                               AND y.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                               AND y.objid OPERATOR(pg_catalog.=) r.ev_class));
    -- The privileges of the functions and views that go, and the extension's
    -- own (pg_init_privs, or the default when none were recorded): what a DBA
    -- granted or revoked since is given back after the code is created again
    -- (sql/updates/restore_grants.sql).
    CREATE TEMPORARY TABLE uso_update_acl ON COMMIT DROP AS
    SELECT i.type, i.identity, a.acl,
           COALESCE(ip.initprivs, pg_catalog.acldefault(a.kind, a.owner)) AS initprivs
      FROM pg_temp.uso_update_drop x
      CROSS JOIN LATERAL pg_catalog.pg_identify_object(x.classid, x.objid, 0) i
      CROSS JOIN LATERAL (SELECT p.proacl AS acl, 'f'::pg_catalog."char" AS kind, p.proowner AS owner
                            FROM pg_catalog.pg_proc p
                           WHERE x.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
                             AND p.oid OPERATOR(pg_catalog.=) x.objid
                          UNION ALL
                          SELECT c.relacl, 'r'::pg_catalog."char", c.relowner
                            FROM pg_catalog.pg_class c
                           WHERE x.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                             AND c.oid OPERATOR(pg_catalog.=) x.objid) a
      LEFT JOIN pg_catalog.pg_init_privs ip ON ip.classoid OPERATOR(pg_catalog.=) x.classid
                                           AND ip.objoid OPERATOR(pg_catalog.=) x.objid
                                           AND ip.objsubid OPERATOR(pg_catalog.=) 0
     WHERE a.acl IS NOT NULL;

    IF blockers IS NOT NULL THEN
        RAISE EXCEPTION 'ALTER EXTENSION @USO_EXTENSION@ UPDATE replaces its functions and views, and these depend on them: %', blockers
            USING ERRCODE = 'dependent_objects_still_exist',
                  HINT = 'Save and drop those objects, run the update, then create them again.';
    END IF;

    FOR obj IN SELECT e.evtname FROM pg_temp.uso_update_drop x JOIN pg_catalog.pg_event_trigger e ON e.oid OPERATOR(pg_catalog.=) x.objid
                WHERE x.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_event_trigger'::pg_catalog.regclass LOOP
        EXECUTE pg_catalog.format('DROP EVENT TRIGGER %I', obj.evtname);
    END LOOP;
    FOR obj IN SELECT p.polname, p.polrelid::pg_catalog.regclass AS rel FROM pg_temp.uso_update_drop x
                 JOIN pg_catalog.pg_policy p ON p.oid OPERATOR(pg_catalog.=) x.objid
                WHERE x.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_policy'::pg_catalog.regclass LOOP
        EXECUTE pg_catalog.format('DROP POLICY %I ON %s', obj.polname, obj.rel);
    END LOOP;
    FOR obj IN SELECT t.tgname, t.tgrelid::pg_catalog.regclass AS rel FROM pg_temp.uso_update_drop x
                 JOIN pg_catalog.pg_trigger t ON t.oid OPERATOR(pg_catalog.=) x.objid
                WHERE x.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_trigger'::pg_catalog.regclass LOOP
        EXECUTE pg_catalog.format('DROP TRIGGER %I ON %s', obj.tgname, obj.rel);
    END LOOP;
    -- One statement each for the views and the routines, so that they may
    -- depend on one another.
    SELECT pg_catalog.string_agg(x.objid::pg_catalog.regclass::pg_catalog.text, ', ') INTO list
      FROM pg_temp.uso_update_drop x WHERE x.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass;
    IF list IS NOT NULL THEN
        EXECUTE 'DROP VIEW ' OPERATOR(pg_catalog.||) list;
    END IF;
    SELECT pg_catalog.string_agg(x.objid::pg_catalog.regprocedure::pg_catalog.text, ', ') INTO list
      FROM pg_temp.uso_update_drop x WHERE x.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass;
    IF list IS NOT NULL THEN
        EXECUTE 'DROP ROUTINE ' OPERATOR(pg_catalog.||) list;
    END IF;
    DROP TABLE pg_temp.uso_update_drop;
END
$drop$;
