-- uso_office 0.1 -> 0.2: what changed in the pack (sql/office/) since the
-- uso_tasks 0.1 release.  Every change to sql/office/ is made here too, in the
-- same commit (test/t/090_upgrade.pl compares an upgraded pack with a fresh
-- install, object by object).  Nothing yet: the pack's objects are as 0.1
-- installed them.
\echo Use "ALTER EXTENSION uso_office UPDATE" to load this file. \quit
