-- The attacker's overloads for t/120_planted_overloads.pl (issue 21), run as
-- the attacking role (the database owner, who may CREATE in public).
-- Before it, the test fills pg_temp.uso_sig (one row per real function
-- whose name the extension's SQL calls, or that is the extension's own),
-- pg_temp.uso_opname (the operator names it calls), pg_temp.uso_target
-- (the schemas to plant in), pg_temp.uso_mode (below) and pg_temp.uso_reserved (signatures the
-- extension itself creates later, never pre-empted: that would only make
-- its CREATE fail).
--
-- For every real signature (and every shorter one its defaults allow), in
-- every target schema: the exact argument types; each string argument as
-- name and as varchar, and all of them at once; each other argument as
-- text (what an untyped literal resolves to first: no trusted language can
-- declare a parameter of type unknown, so text is how an attacker catches
-- literals) and all at once; each argument as anyelement and all at once.
-- Operators the same way.  Each planted function records the call (through
-- mallory.uso_planted_hit: a LOG line, which survives a rollback, and a
-- row) and then returns what the real function returns, so a hijack goes
-- unnoticed by the caller; an overload that makes a call ambiguous breaks it
-- instead -- the test checks every run is recorded with its right status.
-- The attacker's own code must not run into what it plants (the test sets
-- search_path = pg_catalog before the temporary tables; they are named
-- pg_temp.* throughout).
SET search_path = pg_catalog;
-- Some 20,000 bodies from one template: not validated one by one.
SET check_function_bodies = off;

-- Where the planted code reports: a LOG line (kept even when the caller's
-- transaction rolls back) and a row.  The attacker's own calls do not count.
CREATE TABLE IF NOT EXISTS mallory.hits (id bigserial, at timestamptz DEFAULT clock_timestamp(), sig text,
    current_role_name text, session_role_name text, backend_type text, application text);
GRANT USAGE ON SCHEMA mallory TO PUBLIC;
GRANT INSERT ON mallory.hits TO PUBLIC;
GRANT USAGE ON SEQUENCE mallory.hits_id_seq TO PUBLIC;
CREATE OR REPLACE FUNCTION mallory.uso_planted_hit(sig text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE bt text;
BEGIN
    IF current_user = 'mallory' THEN
        RETURN;
    END IF;
    SELECT a.backend_type INTO bt FROM pg_catalog.pg_stat_activity a WHERE a.pid = pg_catalog.pg_backend_pid();
    RAISE LOG 'uso planted overload ran: % current_user=% session_user=% backend=% database=% application=%',
        sig, current_user, session_user, bt, current_database(), current_setting('application_name');
    BEGIN
        INSERT INTO mallory.hits (sig, current_role_name, session_role_name, backend_type, application)
        VALUES (sig, current_user, session_user, bt, current_setting('application_name'));
    EXCEPTION WHEN OTHERS THEN
        NULL;   -- a read-only transaction: the LOG line is the record
    END;
END $$;

CREATE FUNCTION pg_temp.uso_variants(base oid[]) RETURNS SETOF oid[]
LANGUAGE plpgsql AS $$
DECLARE
    n int := coalesce(array_length(base, 1), 0);
    strs oid[] := ARRAY['text', 'varchar', 'bpchar', 'name']::regtype[]::oid[];
    t oid;
    all_name oid[] := base; all_varchar oid[] := base; all_text oid[] := base; all_any oid[] := base;
BEGIN
    RETURN NEXT base;
    FOR i IN 1 .. n LOOP
        t := base[i];
        IF t = ANY (strs) THEN
            RETURN NEXT base[1:i - 1] || 'name'::regtype::oid || base[i + 1:n];
            RETURN NEXT base[1:i - 1] || 'varchar'::regtype::oid || base[i + 1:n];
            all_name[i] := 'name'::regtype; all_varchar[i] := 'varchar'::regtype;
        ELSE
            RETURN NEXT base[1:i - 1] || 'text'::regtype::oid || base[i + 1:n];
            all_text[i] := 'text'::regtype;
        END IF;
        RETURN NEXT base[1:i - 1] || 'anyelement'::regtype::oid || base[i + 1:n];
        all_any[i] := 'anyelement'::regtype;
    END LOOP;
    IF n > 1 THEN
        RETURN NEXT all_name; RETURN NEXT all_varchar; RETURN NEXT all_text; RETURN NEXT all_any;
    END IF;
END $$;

CREATE FUNCTION pg_temp.uso_typelist(v oid[]) RETURNS text LANGUAGE sql AS
$$ SELECT coalesce(string_agg(format_type(t, NULL), ', ' ORDER BY o), '') FROM unnest(v) WITH ORDINALITY u(t, o) $$;

CREATE FUNCTION pg_temp.uso_pseudo_ok(t oid) RETURNS boolean LANGUAGE sql AS
$$ SELECT typtype <> 'p' OR typname IN ('anyelement', 'anyarray', 'anynonarray', 'anyenum', 'anyrange',
       'anymultirange', 'anycompatible', 'anycompatiblearray', 'anycompatiblenonarray',
       'anycompatiblerange', 'anycompatiblemultirange')
   FROM pg_type WHERE oid = t $$;

CREATE TABLE IF NOT EXISTS mallory.planted (kind text, sig text);

-- pg_temp.uso_mode says what to plant: 'all'; 'hijack', everything but the
-- shorter exact forms next to a real function with defaults (in the same
-- schema they make its calls ambiguous: they break a caller rather than run);
-- 'ambiguous', only those.  The test plants 'hijack' first, so a break does
-- not hide a hijack further down the same path, then 'ambiguous'.
DO $plant$ <<plant>>
DECLARE
    s record; o record; tgt text; v oid[]; base oid[]; k int; sig text; params text; args text;
    ret text; body text; call text; made int := 0; failed int := 0; fn text; nfn int := 0;
    mode text := (SELECT m.mode FROM pg_temp.uso_mode m); is_amb boolean;
BEGIN
    FOR s IN SELECT DISTINCT * FROM pg_temp.uso_sig LOOP
        -- the real types in this database (an extension type may be missing: skip)
        BEGIN
            base := (SELECT array_agg(to_regtype(a)::oid ORDER BY i) FROM unnest(s.argtypes) WITH ORDINALITY u(a, i));
            CONTINUE WHEN s.kind <> 'p' AND to_regtype(s.rettype) IS NULL;
        EXCEPTION WHEN insufficient_privilege THEN
            CONTINUE;   -- a type in a schema the attacker may not use: nor may she plant with it
        END;
        CONTINUE WHEN base IS NULL AND coalesce(array_length(s.argtypes, 1), 0) > 0;
        CONTINUE WHEN array_position(base, NULL) IS NOT NULL;
        base := coalesce(base, '{}');
        IF s.kind <> 'p' THEN
            CONTINUE WHEN to_regtype(s.rettype) IS NULL OR NOT pg_temp.uso_pseudo_ok(to_regtype(s.rettype))
                AND s.rettype NOT IN ('void', 'record');
        END IF;
        FOR k IN s.nreq .. coalesce(array_length(base, 1), 0) LOOP
            FOR v IN SELECT DISTINCT x FROM pg_temp.uso_variants(base[1:k]) x LOOP
                CONTINUE WHEN EXISTS (SELECT FROM unnest(v) t WHERE NOT pg_temp.uso_pseudo_ok(t));
                params := (SELECT coalesce(string_agg(
                        CASE WHEN s.is_variadic AND i = k AND k = array_length(base, 1)
                                  AND (SELECT typelem <> 0 OR typname LIKE 'any%array' FROM pg_type WHERE oid = t)
                             THEN 'VARIADIC ' ELSE '' END
                        || CASE WHEN coalesce(s.argnames[i], '') <> '' THEN quote_ident(s.argnames[i]) || ' ' ELSE '' END
                        || format_type(t, NULL), ', ' ORDER BY i), '')
                    FROM unnest(v) WITH ORDINALITY u(t, i));
                args := (SELECT coalesce(string_agg(
                        CASE WHEN s.is_variadic AND i = k AND k = array_length(base, 1) THEN 'VARIADIC ' ELSE '' END
                        || '$' || i || CASE WHEN pg_temp.uso_pseudo_ok(b) AND (SELECT typtype <> 'p' FROM pg_type WHERE oid = b)
                                            THEN '::' || format_type(b, NULL) ELSE '' END, ', ' ORDER BY i), '')
                    FROM unnest(base[1:k]) WITH ORDINALITY u(b, i));
                call := format('%I.%I(%s)', s.nsp, s.name, args);
                IF EXISTS (SELECT FROM unnest(base) t WHERE NOT pg_temp.uso_pseudo_ok(t)) THEN
                    -- VARIADIC "any" and the like: no way to pass the arguments on
                    ret := CASE WHEN s.retset THEN 'SETOF ' ELSE '' END || s.rettype;
                    body := CASE WHEN s.retset THEN 'RETURN;' ELSE 'RETURN NULL;' END;
                ELSIF s.kind = 'p' THEN
                    ret := NULL;
                    body := format('CALL %s;', call);
                ELSIF s.has_out THEN
                    ret := CASE WHEN s.retset THEN 'SETOF record' ELSE 'record' END;
                    body := CASE WHEN s.retset THEN 'RETURN;' ELSE 'RETURN NULL;' END;
                ELSIF s.table_result IS NOT NULL THEN
                    ret := s.table_result;
                    body := format('RETURN QUERY SELECT * FROM %s;', call);
                ELSIF s.rettype = 'void' THEN
                    ret := 'void';
                    body := format('PERFORM %s; RETURN;', call);
                ELSIF s.rettype = 'record' THEN
                    ret := CASE WHEN s.retset THEN 'SETOF record' ELSE 'record' END;
                    body := CASE WHEN s.retset THEN 'RETURN;' ELSE 'RETURN NULL;' END;
                ELSIF s.retset THEN
                    ret := 'SETOF ' || s.rettype;
                    body := format('RETURN QUERY SELECT * FROM %s;', call);
                ELSIF s.kind = 'w' THEN
                    ret := s.rettype;
                    body := 'RETURN NULL;';
                ELSE
                    ret := s.rettype;
                    body := format('RETURN %s;', call);
                END IF;
                FOR tgt IN SELECT nsp FROM pg_temp.uso_target LOOP
                    is_amb := v = base[1:k] AND k < coalesce(array_length(base, 1), 0) AND tgt = s.nsp;
                    CONTINUE WHEN mode = 'hijack' AND is_amb OR mode = 'ambiguous' AND NOT is_amb;
                    sig := format('%I.%I(%s)', tgt, s.name, pg_temp.uso_typelist(v));
                    CONTINUE WHEN EXISTS (SELECT FROM pg_temp.uso_reserved r WHERE r.sig = plant.sig);
                    BEGIN
                        EXECUTE format($f$CREATE %s %I.%I(%s) %s LANGUAGE plpgsql SET search_path = pg_catalog AS %L$f$,
                            CASE WHEN s.kind = 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END, tgt, s.name, params,
                            CASE WHEN ret IS NULL THEN '' ELSE 'RETURNS ' || ret END,
                            format('BEGIN PERFORM mallory.uso_planted_hit(%L); %s END', sig, body));
                        INSERT INTO mallory.planted VALUES ('function', sig);
                        made := made + 1;
                    EXCEPTION WHEN OTHERS THEN
                        failed := failed + 1;   -- exists already, or a type combination PostgreSQL refuses
                    END;
                END LOOP;
            END LOOP;
        END LOOP;
    END LOOP;

    FOR o IN SELECT op.oprname, op.oprnamespace::regnamespace::text AS nsp, op.oprleft, op.oprright, op.oprresult
             FROM pg_operator op JOIN pg_temp.uso_opname n ON n.name = op.oprname
             WHERE op.oprcode <> 0 AND op.oprowner <> 'mallory'::regrole AND mode <> 'ambiguous' LOOP
        FOR v IN SELECT DISTINCT x FROM pg_temp.uso_variants(
                     CASE WHEN o.oprleft = 0 THEN ARRAY[o.oprright] ELSE ARRAY[o.oprleft, o.oprright] END) x LOOP
            CONTINUE WHEN EXISTS (SELECT FROM unnest(v) t WHERE NOT pg_temp.uso_pseudo_ok(t));
            CONTINUE WHEN NOT pg_temp.uso_pseudo_ok(o.oprresult);
            nfn := nfn + 1;
            fn := 'uso_planted_op_' || nfn;
            FOR tgt IN SELECT nsp FROM pg_temp.uso_target LOOP
                sig := format('%s.%s(%s)', tgt, o.oprname,
                              CASE WHEN o.oprleft = 0 THEN 'NONE, ' ELSE '' END || pg_temp.uso_typelist(v));
                BEGIN
                    EXECUTE format($f$CREATE FUNCTION mallory.%I(%s) RETURNS %s LANGUAGE plpgsql SET search_path = pg_catalog AS %L$f$,
                        fn || '_' || tgt, pg_temp.uso_typelist(v), format_type(o.oprresult, NULL),
                        format('BEGIN PERFORM mallory.uso_planted_hit(%L); RETURN %s OPERATOR(%I.%s) %s; END', sig,
                               CASE WHEN o.oprleft = 0 THEN '' ELSE '$1' || CASE WHEN pg_temp.uso_pseudo_ok(o.oprleft)
                                    AND (SELECT typtype <> 'p' FROM pg_type WHERE oid = o.oprleft)
                                    THEN '::' || format_type(o.oprleft, NULL) ELSE '' END END,
                               o.nsp, o.oprname,
                               CASE WHEN o.oprleft = 0 THEN '$1' ELSE '$2' END
                               || CASE WHEN (SELECT typtype <> 'p' FROM pg_type WHERE oid = o.oprright)
                                       THEN '::' || format_type(o.oprright, NULL) ELSE '' END));
                    EXECUTE format('CREATE OPERATOR %I.%s (%s FUNCTION = mallory.%I)', tgt, o.oprname,
                        CASE WHEN o.oprleft = 0 THEN format('RIGHTARG = %s,', format_type(v[1], NULL))
                             ELSE format('LEFTARG = %s, RIGHTARG = %s,', format_type(v[1], NULL), format_type(v[2], NULL)) END,
                        fn || '_' || tgt);
                    INSERT INTO mallory.planted VALUES ('operator', sig);
                    made := made + 1;
                EXCEPTION WHEN OTHERS THEN
                    failed := failed + 1;
                END;
            END LOOP;
        END LOOP;
    END LOOP;
    RAISE NOTICE 'planted % overloads (% variants refused or already there)', made, failed;
END $plant$;
