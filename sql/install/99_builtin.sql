-- Every task registered by this script is built in (left out of pg_dump).
UPDATE @extschema@.uso_task SET builtin = true;
