-- uso_tasks: the USO task pack, part 4: the tasks that talk to other services
-- over HTTP (CrossRef, BioSync and the PDB, the SCImago journal-rank export,
-- the external user system), through the extension's libcurl functions.
-- Base URLs come from each task's config; hosts must be allowed in
-- uso_tasks.http_allowed_hosts. A failing item is a WARNING and skipped; a
-- failing listing (the one request the whole run depends on) fails the run.

-- ---------------------------------------------------------------- helpers

CREATE FUNCTION uso.config_url(cfg jsonb, key text, task text) RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF coalesce(cfg->>key, '') = '' THEN
        RAISE EXCEPTION '% needs config key "%" (the service''s base URL)', task, key
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = format('SELECT uso_alter_task(%L, config => ...) or pass config => ''{"%s": "https://..."}''', task, key);
    END IF;
    RETURN rtrim(cfg->>key, '/');
END
$$;
COMMENT ON FUNCTION uso.config_url(jsonb, text, text) IS
    'A required base URL from a task config, without trailing slash; a clear error naming the key when missing.';

-- Percent-encodes everything but RFC 3986 unreserved characters and '/', so a
-- DOI such as 10.1002/(sici)1097 can be put in a URL path as it is.
CREATE FUNCTION uso.url_path_encode(s text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT coalesce(string_agg(CASE WHEN ch ~ '^[A-Za-z0-9._~/-]$' THEN ch
                                        ELSE upper(regexp_replace(encode(convert_to(ch, 'UTF8'), 'hex'),
                                                                  '(..)', '%\1', 'g')) END,
                                   '' ORDER BY i), '')
        FROM regexp_split_to_table(s, '') WITH ORDINALITY AS c(ch, i)
    $$;
COMMENT ON FUNCTION uso.url_path_encode(text) IS
    'Percent-encodes a string for a URL path, keeping unreserved characters and slashes.';

CREATE FUNCTION uso.http_json(url text, cfg jsonb) RETURNS jsonb
    LANGUAGE sql
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT _uso_tasks.uso_http_get_json(url, cfg->'headers', uso.config_interval(cfg, 'timeout', NULL)) $$;
COMMENT ON FUNCTION uso.http_json(text, jsonb) IS
    'GET a JSON document with the task config''s headers and timeout (errors on non-2xx and malformed JSON).';

CREATE FUNCTION uso.http_text(url text, cfg jsonb) RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r record;
BEGIN
    SELECT * INTO r FROM _uso_tasks.uso_http_get(url, cfg->'headers', uso.config_interval(cfg, 'timeout', NULL));
    IF r.status NOT BETWEEN 200 AND 299 THEN
        RAISE EXCEPTION 'GET % returned HTTP %', url, r.status
            USING ERRCODE = 'external_routine_exception';
    END IF;
    RETURN r.body;
END
$$;
COMMENT ON FUNCTION uso.http_text(text, jsonb) IS
    'GET a text document with the task config''s headers and timeout; errors on non-2xx.';

-- An ISO 8601 date (or date-time: its first 10 characters) from a reply, with
-- an error that names the field and the value when it is not one.
CREATE FUNCTION uso.reply_date(val text, field text) RETURNS date
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF val IS NULL THEN
        RETURN NULL;
    END IF;
    IF val !~ '^\d{4}-\d{2}-\d{2}' THEN
        RAISE EXCEPTION '% is not a date: "%"', field, left(val, 40)
            USING ERRCODE = 'invalid_datetime_format';
    END IF;
    RETURN left(val, 10)::date;
EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
    RAISE EXCEPTION '% is not a date: "%"', field, left(val, 40)
        USING ERRCODE = 'invalid_datetime_format';
END
$$;
COMMENT ON FUNCTION uso.reply_date(text, text) IS
    'The date of an ISO 8601 date or date-time from a reply; an error naming the field and the value otherwise.';

-- ---------------------------------------------------------------- CrossRef

/*
 * FetchCitations: each publication's citation count from CrossRef's works API
 * ({crossref_url}/works/{doi}, message."is-referenced-by-count"); a history
 * line when it changed. One DOI failing is a WARNING.
 */
CREATE FUNCTION uso.fetch_citations(as_of timestamptz DEFAULT NULL, config jsonb DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cfg      jsonb := uso.task_config('FetchCitations', config);
    base     text := uso.config_url(cfg, 'crossref_url', 'FetchCitations');
    at       timestamptz := coalesce(as_of, now());
    p        record;
    j        jsonb;
    n        integer;
    checked  integer := 0;
    changed  integer := 0;
    skipped  integer := 0;
BEGIN
    FOR p IN SELECT id, doi, citations FROM uso.publication ORDER BY id LOOP
        BEGIN
            j := uso.http_json(base || '/works/' || uso.url_path_encode(p.doi), cfg);
            IF jsonb_typeof(j #> '{message,is-referenced-by-count}') IS DISTINCT FROM 'number' THEN
                RAISE EXCEPTION 'the CrossRef reply has no message.is-referenced-by-count';
            END IF;
            n := (j #>> '{message,is-referenced-by-count}')::integer;
            IF n < 0 THEN
                RAISE EXCEPTION 'CrossRef reports a negative citation count (%)', n;
            END IF;
            UPDATE uso.publication SET citations = n, citations_checked_at = at WHERE id = p.id;
            IF n IS DISTINCT FROM p.citations THEN
                INSERT INTO uso.publication_history (publication_id, at, line)
                VALUES (p.id, at, format('citations: %s -> %s', coalesce(p.citations::text, 'unknown'), n));
                RAISE NOTICE '%: citations % -> %', p.doi, coalesce(p.citations::text, 'unknown'), n;
                changed := changed + 1;
            END IF;
            checked := checked + 1;
        EXCEPTION WHEN OTHERS THEN
            DECLARE c text; col text; tbl text; det text;
            BEGIN
                GET STACKED DIAGNOSTICS c = CONSTRAINT_NAME, col = COLUMN_NAME, tbl = TABLE_NAME,
                                        det = PG_EXCEPTION_DETAIL;
                RAISE WARNING 'publication % skipped: %', p.doi, uso.item_problem(SQLSTATE, SQLERRM, c, col, tbl, det);
            END;
            skipped := skipped + 1;
        END;
    END LOOP;
    RETURN uso.with_skipped(format('%s publication(s) checked, %s citation count(s) changed', checked, changed),
                            skipped, 'publication(s)');
END
$$;
COMMENT ON FUNCTION uso.fetch_citations(timestamptz, jsonb) IS
    'FetchCitations task: citation counts from CrossRef (config crossref_url, headers, timeout).';

-- CrossRef's issued.date-parts[0] ([year], [year, month] or [year, month,
-- day]) as a date, missing parts the first; an error naming the value.
CREATE FUNCTION uso.issued_date(dp jsonb) RETURNS date
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF dp IS NULL OR dp->>0 IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN make_date((dp->>0)::integer, coalesce((dp->>1)::integer, 1), coalesce((dp->>2)::integer, 1));
EXCEPTION WHEN OTHERS THEN
    RAISE EXCEPTION 'issued date-parts % is not a date', left(dp::text, 40)
        USING ERRCODE = 'invalid_datetime_format';
END
$$;
COMMENT ON FUNCTION uso.issued_date(jsonb) IS
    'CrossRef issued date-parts ([y], [y, m], [y, m, d]) as a date; an error naming the value otherwise.';

/*
 * UpdatePublications: CrossRef metadata (title, authors, subjects, volume,
 * issue, pages, issued date, journal by ISSN) for articles published in the
 * current month, and for those whose date is not known yet.
 */
CREATE FUNCTION uso.update_publications(as_of timestamptz DEFAULT NULL, config jsonb DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cfg       jsonb := uso.task_config('UpdatePublications', config);
    base      text := uso.config_url(cfg, 'crossref_url', 'UpdatePublications');
    month_start date := date_trunc('month', uso.local_date(as_of))::date;
    at        timestamptz := coalesce(as_of, now());
    p         uso.publication;
    m         jsonb;
    dp        jsonb;
    n         integer;
    checked   integer := 0;
    updated   integer := 0;
    skipped   integer := 0;
BEGIN
    FOR p IN SELECT * FROM uso.publication
             WHERE published IS NULL OR (published >= month_start AND published < month_start + interval '1 month')
             ORDER BY id
    LOOP
        BEGIN
            m := uso.http_json(base || '/works/' || uso.url_path_encode(p.doi), cfg) -> 'message';
            IF jsonb_typeof(m) IS DISTINCT FROM 'object' THEN
                RAISE EXCEPTION 'the CrossRef reply has no message object';
            END IF;
            dp := m #> '{issued,date-parts,0}';
            UPDATE uso.publication u
            SET title = coalesce(m #>> '{title,0}', u.title),
                authors = coalesce((SELECT string_agg(concat_ws(' ', a->>'given', a->>'family'), '; ' ORDER BY i)
                                    FROM jsonb_array_elements(coalesce(m->'author', '[]')) WITH ORDINALITY AS x(a, i)),
                                   u.authors),
                subjects = coalesce((SELECT array_agg(s ORDER BY i)
                                     FROM jsonb_array_elements_text(coalesce(m->'subject', '[]')) WITH ORDINALITY AS x(s, i)),
                                    u.subjects),
                volume = coalesce(m->>'volume', u.volume),
                issue = coalesce(m->>'issue', u.issue),
                pages = coalesce(m->>'page', u.pages),
                published = coalesce(uso.issued_date(dp), u.published),
                journal_id = coalesce((SELECT j.id FROM uso.journal j
                                       WHERE j.issn IN (SELECT upper(replace(x, '-', ''))
                                                        FROM jsonb_array_elements_text(coalesce(m->'ISSN', '[]')) AS x)
                                       ORDER BY j.id LIMIT 1),
                                      u.journal_id),
                metadata_updated_at = at
            WHERE u.id = p.id;
            -- compare after the fact: the UPDATE above normalised everything
            SELECT count(*) INTO n FROM uso.publication u
            WHERE u.id = p.id
              AND (u.title, u.authors, u.subjects, u.volume, u.issue, u.pages, u.published, u.journal_id)
                  IS DISTINCT FROM (p.title, p.authors, p.subjects, p.volume, p.issue, p.pages, p.published, p.journal_id);
            IF n > 0 THEN
                INSERT INTO uso.publication_history (publication_id, at, line)
                VALUES (p.id, at, 'metadata updated from CrossRef');
                RAISE NOTICE '%: metadata updated', p.doi;
                updated := updated + 1;
            ELSE
                UPDATE uso.publication SET metadata_updated_at = p.metadata_updated_at WHERE id = p.id;
            END IF;
            checked := checked + 1;
        EXCEPTION WHEN OTHERS THEN
            DECLARE c text; col text; tbl text; det text;
            BEGIN
                GET STACKED DIAGNOSTICS c = CONSTRAINT_NAME, col = COLUMN_NAME, tbl = TABLE_NAME,
                                        det = PG_EXCEPTION_DETAIL;
                RAISE WARNING 'publication % skipped: %', p.doi, uso.item_problem(SQLSTATE, SQLERRM, c, col, tbl, det);
            END;
            skipped := skipped + 1;
        END;
    END LOOP;
    RETURN uso.with_skipped(format('%s publication(s) checked, %s updated', checked, updated),
                            skipped, 'publication(s)');
END
$$;
COMMENT ON FUNCTION uso.update_publications(timestamptz, jsonb) IS
    'UpdatePublications task: CrossRef metadata for articles published this month (config crossref_url, headers, timeout).';

-- ---------------------------------------------------------------- BioSync / PDB

/*
 * FetchBioSync: for each beamline, the BioSync listing of its PDB entries
 * ({biosync_url}/{beamline}.json: an array, or {"results": [...]}, of PDB ids
 * or objects with "pdb_id"), then the header of every entry not known yet or
 * not released yet ({pdb_url}/core/entry/{id}, the RCSB data API shape);
 * deposits are linked to publications by DOI.
 */
CREATE FUNCTION uso.fetch_bio_sync(as_of timestamptz DEFAULT NULL, config jsonb DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cfg       jsonb := uso.task_config('FetchBioSync', config);
    biosync   text := uso.config_url(cfg, 'biosync_url', 'FetchBioSync');
    pdb       text := uso.config_url(cfg, 'pdb_url', 'FetchBioSync');
    at        timestamptz := coalesce(as_of, now());
    b         record;
    listing   jsonb;
    e         jsonb;
    h         jsonb;
    code      text;
    inserted  boolean;
    added     integer := 0;
    updated   integer := 0;
    linked    integer;
    skipped   integer := 0;
BEGIN
    FOR b IN SELECT id, acronym FROM uso.beamline ORDER BY acronym LOOP
        BEGIN
            listing := uso.http_json(biosync || '/' || uso.url_path_encode(b.acronym) || '.json', cfg);
            IF jsonb_typeof(listing) = 'object' THEN
                listing := listing->'results';
            END IF;
            IF jsonb_typeof(listing) IS DISTINCT FROM 'array' THEN
                RAISE EXCEPTION 'the BioSync listing is neither an array nor {"results": [...]}';
            END IF;
        EXCEPTION WHEN OTHERS THEN
            DECLARE c text; col text; tbl text; det text;
            BEGIN
                GET STACKED DIAGNOSTICS c = CONSTRAINT_NAME, col = COLUMN_NAME, tbl = TABLE_NAME,
                                        det = PG_EXCEPTION_DETAIL;
                RAISE WARNING 'beamline % skipped: %', b.acronym, uso.item_problem(SQLSTATE, SQLERRM, c, col, tbl, det);
            END;
            skipped := skipped + 1;
            CONTINUE;
        END;
        FOR e IN SELECT value FROM jsonb_array_elements(listing) LOOP
            code := upper(CASE WHEN jsonb_typeof(e) = 'string' THEN e #>> '{}'
                               WHEN jsonb_typeof(e) = 'object' THEN coalesce(e->>'pdb_id', e->>'pdb_code') END);
            BEGIN
                IF code IS NULL OR code !~ '^[0-9][A-Z0-9]{3}$' THEN
                    RAISE EXCEPTION 'not a PDB id: %', left(e::text, 100);
                END IF;
                IF EXISTS (SELECT FROM uso.pdb_deposit d
                           WHERE d.pdb_code = code AND d.released IS NOT NULL AND d.title IS NOT NULL) THEN
                    CONTINUE;
                END IF;
                h := uso.http_json(pdb || '/core/entry/' || code, cfg);
                IF jsonb_typeof(h) IS DISTINCT FROM 'object' THEN
                    RAISE EXCEPTION 'the PDB entry header is not an object';
                END IF;
                INSERT INTO uso.pdb_deposit AS d (pdb_code, beamline_id, title, deposited, released, doi, fetched_at)
                VALUES (code, b.id, h #>> '{struct,title}',
                        uso.reply_date(h #>> '{rcsb_accession_info,deposit_date}', 'deposit_date'),
                        uso.reply_date(h #>> '{rcsb_accession_info,initial_release_date}', 'initial_release_date'),
                        lower(h #>> '{rcsb_primary_citation,pdbx_database_id_doi}'), at)
                ON CONFLICT (pdb_code) DO UPDATE
                SET title = excluded.title, deposited = excluded.deposited, released = excluded.released,
                    doi = excluded.doi, fetched_at = excluded.fetched_at
                WHERE (d.title, d.deposited, d.released, d.doi)
                      IS DISTINCT FROM (excluded.title, excluded.deposited, excluded.released, excluded.doi)
                RETURNING (xmax = 0) INTO inserted;
                IF inserted THEN
                    RAISE NOTICE 'PDB % (%) added', code, b.acronym;
                    added := added + 1;
                ELSIF FOUND THEN
                    RAISE NOTICE 'PDB % (%) updated', code, b.acronym;
                    updated := updated + 1;
                END IF;
            EXCEPTION WHEN OTHERS THEN
                DECLARE c text; col text; tbl text; det text;
                BEGIN
                    GET STACKED DIAGNOSTICS c = CONSTRAINT_NAME, col = COLUMN_NAME, tbl = TABLE_NAME,
                                            det = PG_EXCEPTION_DETAIL;
                    RAISE WARNING 'PDB entry % of beamline % skipped: %', coalesce(code, '?'), b.acronym, uso.item_problem(SQLSTATE, SQLERRM, c, col, tbl, det);
                END;
                skipped := skipped + 1;
            END;
        END LOOP;
    END LOOP;

    UPDATE uso.pdb_deposit d SET publication_id = p.id
    FROM uso.publication p
    WHERE p.doi = d.doi AND d.publication_id IS DISTINCT FROM p.id;
    GET DIAGNOSTICS linked = ROW_COUNT;
    IF linked > 0 THEN
        RAISE NOTICE '% PDB deposit(s) linked to publications', linked;
    END IF;
    RETURN uso.with_skipped(format('%s PDB deposit(s) added, %s updated, %s linked to publications',
                                   added, updated, linked), skipped, 'item(s)');
END
$$;
COMMENT ON FUNCTION uso.fetch_bio_sync(timestamptz, jsonb) IS
    'FetchBioSync task: PDB depositions per beamline from BioSync and the PDB entry headers (config biosync_url, pdb_url).';

-- ---------------------------------------------------------------- journal metrics

-- Splits one CSV line into fields (double-quoted fields may hold separators
-- and doubled quotes). sep is ';' (SCImago's export) or ','.
CREATE FUNCTION uso.csv_fields(line text, sep text DEFAULT ';') RETURNS text[]
    LANGUAGE sql IMMUTABLE STRICT
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT array_agg(CASE WHEN f LIKE '"%' THEN replace(substr(f, 2, length(f) - 2), '""', '"') ELSE f END
                         ORDER BY i)
        FROM regexp_matches(sep || line, format('\%s("(?:[^"]|"")*"|[^\%s"]*)', sep, sep), 'g')
             WITH ORDINALITY AS m(g, i),
             LATERAL (SELECT btrim(g[1], E' \r') AS f) x
    $$;
COMMENT ON FUNCTION uso.csv_fields(text, text) IS
    'Fields of one CSV line; quoted fields may contain the separator and doubled quotes.';

/*
 * UpdateMetrics: SJR, h-index and impact factor of our journals (matched by
 * ISSN) for last year, from the journal-rank export at metrics_url ({year} in
 * it is replaced): SCImago's CSV (';', decimal commas, columns Issn, SJR,
 * "H index", "Cites / Doc. (2years)") or JSON (an array or {"results": [...]}
 * of objects with issn, sjr, h_index, impact_factor). Only items naming one of
 * our journals are parsed; a bad one is a WARNING.
 */
CREATE FUNCTION uso.update_metrics(as_of timestamptz DEFAULT NULL, config jsonb DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cfg      jsonb := uso.task_config('UpdateMetrics', config);
    yr       integer := uso.config_int(cfg, 'year', extract(year FROM uso.local_date(as_of))::integer - 1);
    url      text := replace(uso.config_url(cfg, 'metrics_url', 'UpdateMetrics'), '{year}', yr::text);
    fmt      text := coalesce(cfg->>'format', CASE WHEN url ~* '\.csv($|\?)' THEN 'csv' ELSE 'json' END);
    sep      text := coalesce(cfg->>'csv_separator', ';');
    at       timestamptz := coalesce(as_of, now());
    items    jsonb;
    body     text;
    hdr      text[];
    total    integer;
    r        record;
    issns    text[];
    n        integer;
    changed  integer := 0;
    skipped  integer := 0;
BEGIN
    IF fmt NOT IN ('csv', 'json') OR sep NOT IN (';', ',') THEN
        RAISE EXCEPTION 'UpdateMetrics: format must be csv or json and csv_separator ; or , (got %, %)', fmt, sep
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF fmt = 'json' THEN
        items := uso.http_json(url, cfg);
        IF jsonb_typeof(items) = 'object' THEN
            items := items->'results';
        END IF;
        IF jsonb_typeof(items) IS DISTINCT FROM 'array' THEN
            RAISE EXCEPTION 'the metrics from % are neither an array nor {"results": [...]}', url
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    ELSE
        body := uso.http_text(url, cfg);
        -- header names normalised: 'H index' -> h_index, 'Cites / Doc. (2years)' -> cites_doc_2years
        SELECT array_agg(trim(BOTH '_' FROM regexp_replace(lower(f), '[^a-z0-9]+', '_', 'g')) ORDER BY i)
        INTO hdr
        FROM unnest(uso.csv_fields(split_part(body, E'\n', 1), sep)) WITH ORDINALITY AS h(f, i);
        IF hdr IS NULL OR NOT hdr @> ARRAY['issn'] THEN
            RAISE EXCEPTION 'the metrics CSV from % has no Issn column', url
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        SELECT coalesce(jsonb_agg(obj ORDER BY ln), '[]') INTO items
        FROM (SELECT ln, (SELECT jsonb_object_agg(hdr[i], v) FROM unnest(uso.csv_fields(line, sep))
                          WITH ORDINALITY AS f(v, i) WHERE i <= array_length(hdr, 1)) AS obj
              FROM regexp_split_to_table(body, E'\n') WITH ORDINALITY AS l(line, ln)
              WHERE ln > 1 AND btrim(line, E' \r') <> '') s;
    END IF;
    total := jsonb_array_length(items);

    FOR r IN
        SELECT x.rw, x.i
        FROM jsonb_array_elements(items) WITH ORDINALITY AS x(rw, i)
        WHERE EXISTS (SELECT FROM uso.journal j
                      WHERE strpos(upper(replace(coalesce(x.rw->>'issn', ''), '-', '')), j.issn) > 0)
        ORDER BY x.i
    LOOP
        BEGIN
            issns := ARRAY(SELECT upper(replace(btrim(s), '-', ''))
                           FROM regexp_split_to_table(
                                    CASE WHEN jsonb_typeof(r.rw->'issn') = 'array'
                                         THEN (SELECT string_agg(v, ',') FROM jsonb_array_elements_text(r.rw->'issn') v)
                                         ELSE r.rw->>'issn' END, '[,; ]+') AS s
                           WHERE btrim(s) <> '');
            INSERT INTO uso.journal_metric AS jm (journal_id, year, sjr, h_index, impact_factor, updated_at)
            SELECT j.id, yr,
                   replace(r.rw->>'sjr', ',', '.')::numeric,
                   (r.rw->>'h_index')::integer,
                   replace(coalesce(r.rw->>'impact_factor', r.rw->>'cites_doc_2years'), ',', '.')::numeric,
                   at
            FROM uso.journal j WHERE j.issn = ANY (issns)
            ON CONFLICT (journal_id, year) DO UPDATE
            SET sjr = excluded.sjr, h_index = excluded.h_index, impact_factor = excluded.impact_factor,
                updated_at = excluded.updated_at
            WHERE (jm.sjr, jm.h_index, jm.impact_factor)
                  IS DISTINCT FROM (excluded.sjr, excluded.h_index, excluded.impact_factor);
            GET DIAGNOSTICS n = ROW_COUNT;
            IF n > 0 THEN
                RAISE NOTICE 'metrics % for ISSN %', yr, array_to_string(issns, ', ');
            END IF;
            changed := changed + n;
        EXCEPTION WHEN OTHERS THEN
            DECLARE c text; col text; tbl text; det text;
            BEGIN
                GET STACKED DIAGNOSTICS c = CONSTRAINT_NAME, col = COLUMN_NAME, tbl = TABLE_NAME,
                                        det = PG_EXCEPTION_DETAIL;
                RAISE WARNING 'metrics row % (ISSN %) skipped: %', r.i, r.rw->>'issn', uso.item_problem(SQLSTATE, SQLERRM, c, col, tbl, det);
            END;
            skipped := skipped + 1;
        END;
    END LOOP;
    RETURN uso.with_skipped(format('metrics of %s journal(s) updated for %s (%s row(s) read)', changed, yr, total),
                            skipped, 'row(s)');
END
$$;
COMMENT ON FUNCTION uso.update_metrics(timestamptz, jsonb) IS
    'UpdateMetrics task: last year''s SJR, h-index and impact factor by ISSN (config metrics_url with {year}, format csv|json, csv_separator, year).';

-- ---------------------------------------------------------------- users

/*
 * SyncUsers: the external user list (JSON {"results": [...]}, records with
 * id or external_id, username, email, first_name, last_name, institution) is
 * the truth for users with an external id: new ones are inserted, changed
 * ones updated (and reactivated), removed ones deactivated or deleted (config
 * removed = deactivate | delete | keep). A malformed record is a WARNING; its
 * user, when its id is readable, counts as present so it is not deactivated.
 * An empty list is refused while synced users exist, unless allow_empty.
 */
CREATE FUNCTION uso.sync_users(as_of timestamptz DEFAULT NULL, config jsonb DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cfg          jsonb := uso.task_config('SyncUsers', config);
    removed      text := coalesce(cfg->>'removed', 'deactivate');
    at           timestamptz := coalesce(as_of, now());
    url          text;
    j            jsonb;
    rec          record;
    ext          text;
    seen         text[] := '{}';
    uname        text;
    badkeys      text;
    inserted     boolean;
    u            record;
    created      integer := 0;
    updated      integer := 0;
    deactivated  integer := 0;
    deleted      integer := 0;
    skipped      integer := 0;
BEGIN
    IF coalesce(cfg->>'users_url', '') = '' THEN
        RETURN 'external user system not configured (config users_url)';
    END IF;
    IF removed NOT IN ('deactivate', 'delete', 'keep') THEN
        RAISE EXCEPTION 'SyncUsers: config removed must be deactivate, delete or keep, not %', removed
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    url := uso.config_url(cfg, 'users_url', 'SyncUsers');
    j := uso.http_json(url, cfg);
    IF jsonb_typeof(j->'results') IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION 'the user list from % has no "results" array', url
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF jsonb_array_length(j->'results') = 0 AND removed <> 'keep'
       AND NOT coalesce((cfg->>'allow_empty')::boolean, false)
       AND EXISTS (SELECT FROM uso.app_user WHERE external_id IS NOT NULL AND active) THEN
        RAISE EXCEPTION 'the user list from % is empty: refusing to remove every synced user', url
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Set config allow_empty to true if the external system really has no users.';
    END IF;

    FOR rec IN SELECT value AS r, ordinality AS i FROM jsonb_array_elements(j->'results') WITH ORDINALITY LOOP
        ext := CASE WHEN jsonb_typeof(rec.r) = 'object'
                    THEN nullif(btrim(coalesce(rec.r->>'external_id', rec.r->>'id')), '') END;
        uname := CASE WHEN jsonb_typeof(rec.r) = 'object' AND jsonb_typeof(rec.r->'username') = 'string'
                      THEN rec.r->>'username' END;
        BEGIN
            IF ext IS NULL THEN
                RAISE EXCEPTION 'the record has no id: %', left(rec.r::text, 100);
            END IF;
            IF ext = ANY (seen) THEN
                RAISE EXCEPTION 'id ''%'' appears twice in the list', ext;
            END IF;
            seen := seen || ext;
            -- the checks of uso.app_user's constraints, with messages that say what is wrong
            SELECT string_agg(k, ', ' ORDER BY k) INTO badkeys
            FROM unnest(ARRAY['username', 'email', 'first_name', 'last_name', 'institution']) AS k
            WHERE jsonb_typeof(rec.r->k) NOT IN ('string', 'null');
            IF badkeys IS NOT NULL THEN
                RAISE EXCEPTION 'not text: % (each must be a string)', badkeys;
            END IF;
            IF coalesce(rec.r->>'username', '') = '' OR coalesce(rec.r->>'email', '') = '' THEN
                RAISE EXCEPTION 'a user name and an e-mail address are required';
            END IF;
            IF uname !~ '^[A-Za-z0-9_.@+-]{1,150}$' THEN
                RAISE EXCEPTION 'the user name may hold only letters, digits and _ . @ + - (at most 150 characters)';
            END IF;
            IF rec.r->>'email' !~ '^[^@\s]+@[^@\s]+$' THEN
                RAISE EXCEPTION 'e-mail ''%'' is not a valid address', left(rec.r->>'email', 100);
            END IF;
            IF EXISTS (SELECT FROM uso.app_user a WHERE a.username = uname AND a.external_id IS DISTINCT FROM ext) THEN
                RAISE EXCEPTION 'the user name is already taken by another user (this record has id ''%'')', ext;
            END IF;
            INSERT INTO uso.app_user AS a (external_id, username, first_name, last_name, email, institution_id,
                                           active, created_at, updated_at)
            VALUES (ext, rec.r->>'username', coalesce(rec.r->>'first_name', ''), coalesce(rec.r->>'last_name', ''),
                    rec.r->>'email',
                    (SELECT i.id FROM uso.institution i WHERE i.name = rec.r->>'institution'),
                    true, at, at)
            ON CONFLICT (external_id) DO UPDATE
            SET username = excluded.username, first_name = excluded.first_name, last_name = excluded.last_name,
                email = excluded.email, institution_id = coalesce(excluded.institution_id, a.institution_id),
                active = true, updated_at = excluded.updated_at
            WHERE (a.username, a.first_name, a.last_name, a.email, a.active,
                   coalesce(excluded.institution_id, a.institution_id))
                  IS DISTINCT FROM (excluded.username, excluded.first_name, excluded.last_name, excluded.email,
                                    true, a.institution_id)
            RETURNING (xmax = 0) INTO inserted;
            IF inserted THEN
                RAISE NOTICE 'user % created', rec.r->>'username';
                created := created + 1;
            ELSIF FOUND THEN
                RAISE NOTICE 'user % updated', rec.r->>'username';
                updated := updated + 1;
            END IF;
        EXCEPTION WHEN OTHERS THEN
            -- named as the admin page shows users: by user name, else by id
            DECLARE c text; col text; tbl text; det text;
            BEGIN
                GET STACKED DIAGNOSTICS c = CONSTRAINT_NAME, col = COLUMN_NAME, tbl = TABLE_NAME,
                                        det = PG_EXCEPTION_DETAIL;
                RAISE WARNING '%', format('%s: %s, skipped',
                    CASE WHEN uname IS NOT NULL THEN format('user ''%s''', left(uname, 160))
                         WHEN ext IS NOT NULL THEN format('user with id ''%s''', left(ext, 100))
                         ELSE format('record %s of the user list', rec.i) END,
                    uso.item_problem(SQLSTATE, SQLERRM, c, col, tbl, det));
            END;
            skipped := skipped + 1;
        END;
    END LOOP;

    IF removed = 'deactivate' THEN
        FOR u IN WITH d AS (
                     UPDATE uso.app_user SET active = false, updated_at = at
                     WHERE external_id IS NOT NULL AND active AND NOT (external_id = ANY (seen))
                     RETURNING username)
                 SELECT username FROM d ORDER BY username
        LOOP
            RAISE NOTICE 'user % deactivated (no longer in the external system)', u.username;
            deactivated := deactivated + 1;
        END LOOP;
    ELSIF removed = 'delete' THEN
        FOR u IN SELECT id, username, active FROM uso.app_user
                 WHERE external_id IS NOT NULL AND NOT (external_id = ANY (seen)) ORDER BY username
        LOOP
            BEGIN
                DELETE FROM uso.app_user WHERE id = u.id;
                RAISE NOTICE 'user % deleted (no longer in the external system)', u.username;
                deleted := deleted + 1;
            EXCEPTION WHEN foreign_key_violation THEN
                IF u.active THEN
                    UPDATE uso.app_user SET active = false, updated_at = at WHERE id = u.id;
                    RAISE WARNING 'user % is referenced by other records: deactivated instead of deleted', u.username;
                    deactivated := deactivated + 1;
                END IF;
            END;
        END LOOP;
    END IF;
    RETURN uso.with_skipped(format('%s user(s) created, %s updated, %s deactivated', created, updated, deactivated)
                            || CASE WHEN removed = 'delete' THEN format(', %s deleted', deleted) ELSE '' END,
                            skipped, 'record(s)');
END
$$;
COMMENT ON FUNCTION uso.sync_users(timestamptz, jsonb) IS
    'SyncUsers task: users from the external user list (config users_url, headers, timeout, removed deactivate|delete|keep, allow_empty).';
