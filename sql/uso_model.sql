-- The USO data model and the registered tasks.
\set VERBOSITY terse
-- every table, column and function of schema uso is documented
SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'uso'::regnamespace AND c.relkind = 'r'
  AND obj_description(c.oid, 'pg_class') IS NULL;
SELECT c.relname, a.attname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
WHERE c.relnamespace = 'uso'::regnamespace AND c.relkind = 'r' AND col_description(c.oid, a.attnum) IS NULL;
SELECT p.oid::regprocedure FROM pg_proc p WHERE p.pronamespace = 'uso'::regnamespace
  AND obj_description(p.oid, 'pg_proc') IS NULL;
-- every function pins its search_path
SELECT p.oid::regprocedure FROM pg_proc p WHERE p.pronamespace = 'uso'::regnamespace
  AND NOT coalesce(p.proconfig, '{}') @> '{"search_path=pg_catalog, pg_temp"}';
SELECT count(*) AS tables FROM pg_class WHERE relnamespace = 'uso'::regnamespace AND relkind = 'r';
-- the 17 tasks with their seed schedules
SELECT name, category, schedule, command, config - 'frequency' AS config, config->>'frequency' AS frequency
FROM uso_task WHERE command LIKE '%uso.%' ORDER BY category, name;
-- every registered command names an existing function
SELECT name FROM uso_task WHERE command LIKE '%uso.%'
  AND to_regproc(substring(command FROM 'uso\.[a-z_]+')) IS NULL;
-- constraints
INSERT INTO uso.cycle_type (code, name, start_month) VALUES ('X', 'x', 13);
INSERT INTO uso.cycle_type (code, name, start_month, open_weekday) VALUES ('X', 'x', 1, 8);
INSERT INTO uso.publication (doi) VALUES ('10.1000/ABC');
INSERT INTO uso.publication (doi) VALUES ('doi:10.1000/abc');
INSERT INTO uso.journal (issn, title) VALUES ('1234-5678', 'x');
INSERT INTO uso.notification (kind, recipient, subject, body) VALUES ('spam', 'a@b.c', 's', 'b');
INSERT INTO uso.notification (kind, recipient, subject, body, status) VALUES ('review-request', 'a@b.c', 's', 'b', 'sent');
INSERT INTO uso.app_user (username, email) VALUES ('bad name', 'x@y.z');
INSERT INTO uso.pdb_deposit (pdb_code) VALUES ('abcd');
-- helpers
SELECT uso.url_path_encode('10.1002/(SICI)1097-0258(19980815/30)17:15/16<1661::AID-SIM968>3.0.CO;2-2');
SELECT uso.url_path_encode('10.1000/Ünïcode');
SELECT uso.csv_fields('1;12345;"Nature; Physics";journal;"15205126, 00027863";"3,456";Q1;250');
SELECT uso.csv_fields('a,"b ""quoted""",,c', ',');
SELECT uso.csv_fields('');
SELECT uso.weekday_of_week('2026-11-22', 3), uso.weekday_of_week('2026-11-23', 3), uso.weekday_of_week('2026-11-29', 1);
SET TimeZone = 'Pacific/Auckland';
SELECT uso.local_date('2026-03-10 12:00+00'), uso.local_instant('2026-03-11', '00:15') AT TIME ZONE 'UTC';
RESET TimeZone;
