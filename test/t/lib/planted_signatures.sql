-- The real signatures t/lib/plant_overloads.sql plants overloads of (issue 21):
-- every function named in :names (what the extension's SQL calls, from
-- t/lib/called_names.py) and every function of uso_tasks and uso_office,
-- as JSON for pg_temp.uso_sig.
SELECT json_agg(x) FROM (
 SELECT DISTINCT pr.pronamespace::regnamespace::text AS nsp, pr.proname::text AS name, pr.prokind::text AS kind,
   coalesce((SELECT array_agg(format_type(t, NULL) ORDER BY o) FROM unnest(string_to_array(pr.proargtypes::text, ' ')::oid[]) WITH ORDINALITY u(t, o)), '{}') AS argtypes,
   pr.pronargs - pr.pronargdefaults AS nreq,
   CASE WHEN pr.proargmodes IS NULL THEN pr.proargnames::text[] END AS argnames,
   pr.provariadic <> 0 AS is_variadic,
   format_type(pr.prorettype, NULL) AS rettype, pr.proretset AS retset,
   CASE WHEN 't' = ANY (pr.proargmodes) THEN pg_get_function_result(pr.oid) END AS table_result,
   coalesce('o' = ANY (pr.proargmodes) OR 'b' = ANY (pr.proargmodes), false) AS has_out
 FROM pg_proc pr
 WHERE (pr.proname = ANY (:'names'::text[]) OR pr.oid IN (SELECT d.objid FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
        WHERE d.classid = 'pg_proc'::regclass AND d.deptype = 'e' AND e.extname IN ('uso_tasks', 'uso_office')))
   AND pr.proowner <> (SELECT oid FROM pg_roles WHERE rolname = 'mallory')
) x
