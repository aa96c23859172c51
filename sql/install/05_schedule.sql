-- The schedule grammar from SQL (docs/schedule.md): preview, describe,
-- validate, and the next fire time the management API stores.

CREATE FUNCTION @extschema@.uso_next_runs(schedule text,
                                          after timestamptz DEFAULT now(),
                                          n int DEFAULT 5,
                                          timezone text DEFAULT NULL)
    RETURNS SETOF timestamptz
    LANGUAGE c STABLE PARALLEL SAFE ROWS 5 AS 'MODULE_PATHNAME', 'uso_next_runs';
COMMENT ON FUNCTION @extschema@.uso_next_runs(text, timestamptz, int, text) IS
'The next n (1-1000) fire times of a schedule strictly after "after", in time zone "timezone" '
'(NULL = uso_tasks.timezone). Interval schedules count from "after" as if the task had just '
'started. No rows for @reboot, @manual or a date that never comes.';

CREATE FUNCTION @extschema@.uso_describe_schedule(schedule text)
    RETURNS text
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'uso_describe_schedule';
COMMENT ON FUNCTION @extschema@.uso_describe_schedule(text) IS
'A schedule in plain English as an admin page shows it: ''every 15 minutes'', '
'''at 02:00 every day'', ''at 09:00 on Monday to Friday''.';

CREATE FUNCTION @extschema@.uso_validate_schedule(schedule text)
    RETURNS void
    LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'uso_validate_schedule';
COMMENT ON FUNCTION @extschema@.uso_validate_schedule(text) IS
'Raises 22023 naming the bad part unless the text is a valid schedule (22004 for NULL).';

CREATE FUNCTION @extschema@.uso_schedule_next(schedule text, after timestamptz,
                                              anchor timestamptz, timezone text)
    RETURNS timestamptz
    LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'uso_schedule_next';
COMMENT ON FUNCTION @extschema@.uso_schedule_next(text, timestamptz, timestamptz, text) IS
'The first fire time strictly after "after" (the stored next_run_at of a task). "anchor" is the '
'start of the last run, which interval schedules count from; NULL = never ran, so an interval '
'task is due at "after" itself. NULL time zone = uso_tasks.timezone. Returns NULL when there is '
'no next time (@reboot, @manual, a date that never comes).';

CREATE FUNCTION @extschema@.uso_validate_timezone(tz text)
    RETURNS text
    LANGUAGE c STABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'uso_validate_timezone';
COMMENT ON FUNCTION @extschema@.uso_validate_timezone(text) IS
'The canonical name of a time zone (''europe/berlin'' gives ''Europe/Berlin''); raises 22023 '
'for a name the server does not know.';

CREATE FUNCTION @extschema@.uso_bench_schedule(schedule text, n int,
                                               timezone text DEFAULT NULL)
    RETURNS double precision
    LANGUAGE c VOLATILE PARALLEL SAFE AS 'MODULE_PATHNAME', 'uso_bench_schedule';
COMMENT ON FUNCTION @extschema@.uso_bench_schedule(text, int, text) IS
'Benchmark: seconds spent on n next-fire-time computations of a schedule (from instants 59 s '
'apart starting 2026-01-01 UTC). Used by test/bench/schedule_bench.sh.';

CREATE FUNCTION @extschema@.uso_validate_cron_schedule(schedule text)
    RETURNS void
    LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'uso_validate_cron_schedule';
COMMENT ON FUNCTION @extschema@.uso_validate_cron_schedule(text) IS
'Raises 22023 naming the bad part unless pg_cron 1.6 accepts the schedule: 5-field cron with '
'pg_cron''s limits, its lower-case @ keywords (@restart too) and ''N seconds'' (1-59); 22004 for '
'NULL. Everything it accepts, uso_validate_schedule accepts with the same meaning. For the '
'pg_cron layer (cron.schedule, cron.alter_job); docs/cron.md lists what pg_cron accepts and '
'uso_tasks refuses on purpose.';

CREATE FUNCTION @extschema@.uso_schedule_never_fires(schedule text)
    RETURNS text
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'uso_schedule_never_fires';
COMMENT ON FUNCTION @extschema@.uso_schedule_never_fires(text) IS
'NULL when the schedule can fire, else why it never will (''February has no 30th'' for '
'''0 0 30 2 *''). @reboot and @manual give NULL: they are not meant to fire by the clock. '
'Raises 22023 for an invalid schedule.';

CREATE FUNCTION @extschema@.uso_timezone_warning(tz text)
    RETURNS text
    LANGUAGE c STABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'uso_timezone_warning';
COMMENT ON FUNCTION @extschema@.uso_timezone_warning(text) IS
'NULL, or a warning for a time zone name that does not mean what it seems to: a POSIX-style '
'specification such as ''CET+1'' (UTC-01:00, because in POSIX rules + lies west of Greenwich) or '
'an Etc/GMT+N zone (same sign). The text says what the zone means and suggests an IANA name. '
'Raises 22023 for a name the server does not know.';

CREATE FUNCTION @extschema@.uso_schedule_follows(schedule text)
    RETURNS text
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'uso_schedule_follows';
COMMENT ON FUNCTION @extschema@.uso_schedule_follows(text) IS
'The name of the task a schedule ''after <task>'' or ''after <task> fails'' follows (unquoted), NULL for '
'every other schedule. Raises 22023 for an invalid schedule.';

CREATE FUNCTION @extschema@.uso_schedule_follows_failures(schedule text)
    RETURNS boolean
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'uso_schedule_follows_failures';
COMMENT ON FUNCTION @extschema@.uso_schedule_follows_failures(text) IS
'True for ''after <task> fails'', false for ''after <task>'', NULL for every other schedule.';
