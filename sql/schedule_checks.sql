-- Checks that warn before the first run (issue 15): schedules that can never
-- fire, and time zone names that do not mean what they seem to.  Detection
-- only: uso_schedule and the cron layer decide what to do with the answer.
SET timezone = 'UTC';

SELECT s AS schedule, uso_schedule_never_fires(s) AS never_fires,
       uso_describe_schedule(s) AS described
FROM unnest(ARRAY[
    '0 0 30 2 *', '* * 31 2 *', '0 0 31 4,6,9,11 *', '0 0 30,31 2 *',
    '0 0 31 2,4 *', '0 0 31 FEB *', '0 0 */31 2 *', '0 0 */31 2 1-5',
    -- these do fire
    '0 0 29 2 *', '0 0 30 1-2 *', '0 0 31 2 1', '0 0 $ 2 *',
    '0 0 30 */2 *', '0 0 * 2 *', 'every 1 month', 'T02:00', '@reboot', '@manual', '@yearly'
]) s;

-- a schedule that never fires has no next time, found without a search
SELECT count(*) AS runs FROM uso_next_runs('0 0 30 2 *', '2026-01-01', 5, 'UTC');
SELECT uso_schedule_next('* * 31 2 *', '2026-01-01', NULL, 'UTC') AS next;
-- 29 February on a Sunday (the day of week field begins with '*', so both
-- must match): after 2032 the next is in 2060, 27 years on -- the search
-- reaches it (it gave up after 10 years and said "never")
SELECT uso_next_runs AS next FROM uso_next_runs('0 0 29 2 */7', '2026-01-01', 2, 'UTC');
SELECT uso_schedule_never_fires('0 0 29 2 */7') AS never_fires;

SELECT uso_schedule_never_fires(NULL) IS NULL AS null_is_null;
SELECT uso_schedule_never_fires('0 0 31 2');

-- time zones
SELECT z AS timezone, uso_timezone_warning(z) AS warning
FROM unnest(ARRAY[
    'CET+1', 'CET-1', 'UTC+3', 'GMT-2', 'EST5', 'CET-1CEST', '<+0530>-5:30', 'Etc/GMT+1',
    'Etc/GMT-14', 'etc/gmt+5',
    -- no warning
    'Europe/Berlin', 'UTC', 'CET', 'EST5EDT', 'PST8PDT', 'Etc/GMT', 'Etc/GMT-0', 'GMT0', 'UTC0',
    'America/Argentina/Buenos_Aires'
]) z;
SELECT uso_timezone_warning(NULL) IS NULL AS null_is_null;
SELECT uso_timezone_warning('Mars/Olympus_Mons');

-- What the API and the cron layer do with the answers: uso_schedule and
-- uso_alter_task refuse a schedule that never fires (22023) and change
-- nothing; pg_cron accepts one, so the cron layer (and a direct write)
-- accepts it with a WARNING; a POSIX-style time zone is accepted with a
-- WARNING that says what it means.
\set VERBOSITY default
\set SHOW_CONTEXT never
SELECT uso_schedule('never_api', '0 0 30 2 *', 'SELECT 1');
SELECT uso_schedule('never_api', '0 0 1 * *', 'SELECT 1') > 0 AS created;
SELECT uso_alter_task('never_api', schedule => '0 0 31 4,6,9,11 *');
SELECT schedule FROM uso_task WHERE name = 'never_api';
SELECT cron.schedule('never_cron', '* * 31 2 *', 'SELECT 1') > 0 AS accepted_by_cron;
INSERT INTO uso_task (name, schedule, command) VALUES ('never_direct', '0 0 30 2 *', 'SELECT 1');
SELECT name, next_run_at FROM uso_task WHERE name IN ('never_cron', 'never_direct') ORDER BY name;
SELECT uso_alter_task('never_api', timezone => 'CET+1');
SELECT timezone FROM uso_task WHERE name = 'never_api';
DELETE FROM uso_task WHERE name IN ('never_api', 'never_cron', 'never_direct');
