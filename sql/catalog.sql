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
-- uso_task.database: NULL (the default) is "the database the row is stored
-- in", so a restored copy runs its tasks at home (a default of
-- current_database() would be fixed at creation and carried by pg_dump)
SELECT a.attnotnull, pg_get_expr(ad.adbin, ad.adrelid) AS default_value
FROM pg_attribute a LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
WHERE a.attrelid = 'uso_task'::regclass AND a.attname = 'database';
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
