-- The catalog exists, is documented, and rejects bad rows.
SELECT c.relname, obj_description(c.oid, 'pg_class') IS NOT NULL AS has_comment
FROM pg_class c JOIN pg_depend d ON d.objid = c.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname IN ('uso_tasks', 'uso_office')
WHERE c.relkind IN ('r', 'v') ORDER BY 1;
-- every column of every extension table and view has a comment
SELECT c.relname, a.attname
FROM pg_class c JOIN pg_depend d ON d.objid = c.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname IN ('uso_tasks', 'uso_office')
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relkind IN ('r', 'v') AND col_description(c.oid, a.attnum) IS NULL
ORDER BY 1, 2;
-- tables keep user data across pg_dump
SELECT extname, unnest(extconfig)::regclass FROM pg_extension WHERE extname IN ('uso_tasks', 'uso_office') ORDER BY 1, 2::text;
-- constraints
\set VERBOSITY terse
INSERT INTO uso_task (name, schedule, command) VALUES ('', '* * * * *', 'SELECT 1');
INSERT INTO uso_task (name, schedule, command, overlap) VALUES ('x', '* * * * *', 'SELECT 1', 'sometimes');
INSERT INTO uso_task (name, schedule, command, config) VALUES ('x', '* * * * *', 'SELECT 1', '[1]');
SHOW uso_tasks.max_workers;
SET uso_tasks.timezone = 'Mars/Olympus';
SET uso_tasks.nonexistent = 1;
-- the library speaks this catalog's version
SELECT uso_library_version() = extversion AS in_step FROM pg_extension WHERE extname = 'uso_tasks';
