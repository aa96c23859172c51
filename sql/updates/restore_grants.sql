
------------------------------------------------------------------------------
-- Privileges a DBA changed (sql/updates/restore_grants.sql, in every update
-- script of @USO_EXTENSION@, right after the code parts): drop_code.sql kept
-- the privileges of each function and view it dropped and the extension's own
-- of the time; what differs between the two (a GRANT EXECUTE ON FUNCTION
-- cron.alter_job TO a role, as docs/cron.md says to do; a REVOKE SELECT ON a
-- view FROM PUBLIC) is applied again to the object of the same identity.  A
-- GRANT in an extension script is recorded as the extension's own privilege
-- (pg_init_privs), which would hide it from pg_dump: the extension's own
-- are put back as the code parts left them.
DO $grants$
DECLARE
    r record;
    g record;
    what text;
    target oid;
    cls pg_catalog.regclass;
    own pg_catalog.aclitem[];
BEGIN
    IF pg_catalog.to_regclass('pg_temp.uso_update_acl') IS NULL THEN
        RETURN;
    END IF;
    FOR r IN SELECT a.type, a.identity, a.acl, a.initprivs FROM pg_temp.uso_update_acl a ORDER BY a.identity LOOP
        IF r.type OPERATOR(pg_catalog.=) 'view' THEN
            target := pg_catalog.to_regclass(r.identity);
            cls := 'pg_catalog.pg_class'::pg_catalog.regclass;
            what := 'TABLE ' OPERATOR(pg_catalog.||) r.identity;
        ELSE
            target := pg_catalog.to_regprocedure(r.identity);
            cls := 'pg_catalog.pg_proc'::pg_catalog.regclass;
            what := 'ROUTINE ' OPERATOR(pg_catalog.||) r.identity;
        END IF;
        -- Gone, renamed or moved in this version; or as the extension made it.
        IF target IS NULL OR r.acl OPERATOR(pg_catalog.=) r.initprivs THEN
            CONTINUE;
        END IF;
        own := (SELECT ip.initprivs FROM pg_catalog.pg_init_privs ip
                 WHERE ip.classoid OPERATOR(pg_catalog.=) cls AND ip.objoid OPERATOR(pg_catalog.=) target
                   AND ip.objsubid OPERATOR(pg_catalog.=) 0);
        FOR g IN
            SELECT 'GRANT ' AS verb, n.* FROM pg_catalog.aclexplode(r.acl) n
             WHERE NOT EXISTS (SELECT FROM pg_catalog.aclexplode(r.initprivs) o
                                WHERE o.grantee OPERATOR(pg_catalog.=) n.grantee
                                  AND o.privilege_type OPERATOR(pg_catalog.=) n.privilege_type)
            UNION ALL
            SELECT 'REVOKE ', o.* FROM pg_catalog.aclexplode(r.initprivs) o
             WHERE NOT EXISTS (SELECT FROM pg_catalog.aclexplode(r.acl) n
                                WHERE n.grantee OPERATOR(pg_catalog.=) o.grantee
                                  AND n.privilege_type OPERATOR(pg_catalog.=) o.privilege_type)
        LOOP
            EXECUTE pg_catalog.format('%s%s ON %s %s %s%s', g.verb, g.privilege_type, what,
                CASE WHEN g.verb OPERATOR(pg_catalog.=) 'GRANT ' THEN 'TO' ELSE 'FROM' END,
                CASE WHEN g.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                     ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(g.grantee)) END,
                CASE WHEN g.verb OPERATOR(pg_catalog.=) 'GRANT ' AND g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
        END LOOP;
        IF own IS NULL THEN
            DELETE FROM pg_catalog.pg_init_privs ip
             WHERE ip.classoid OPERATOR(pg_catalog.=) cls AND ip.objoid OPERATOR(pg_catalog.=) target
               AND ip.objsubid OPERATOR(pg_catalog.=) 0;
        ELSE
            UPDATE pg_catalog.pg_init_privs ip SET initprivs = own
             WHERE ip.classoid OPERATOR(pg_catalog.=) cls AND ip.objoid OPERATOR(pg_catalog.=) target
               AND ip.objsubid OPERATOR(pg_catalog.=) 0;
        END IF;
    END LOOP;
    -- uso_office's update may follow in the same transaction.
    DROP TABLE pg_temp.uso_update_acl;
END
$grants$;
