-- Writing a task (issue 21): a member of a role creates and manages tasks that
-- run as it, as the README says; the errors of a bad write say what to fix.
CREATE FUNCTION tw_try(cmd text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    msg text;
    det text;
    hnt text;
BEGIN
    EXECUTE cmd;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    RETURN SQLSTATE || ': ' || msg || coalesce(' DETAIL: ' || nullif(det, ''), '')
        || coalesce(' HINT: ' || nullif(hnt, ''), '');
END
$$;
GRANT EXECUTE ON FUNCTION tw_try(text) TO PUBLIC;
CREATE ROLE tw_m1 LOGIN;
CREATE ROLE tw_alice LOGIN;
CREATE ROLE tw_bob LOGIN;
GRANT tw_m1 TO tw_alice;

-- a member of tw_m1 schedules, sees, changes and removes a task of tw_m1
SET ROLE tw_alice;
SELECT tw_try($$SELECT uso_schedule('tw_of_m1', '@manual', 'SELECT 1', username => 'tw_m1')$$) AS member_schedules;
SELECT name, username FROM uso_task WHERE name LIKE 'tw\_%' ORDER BY name;
SELECT tw_try($$SELECT uso_alter_task('tw_of_m1', command => 'SELECT 2')$$) AS member_alters;
SELECT tw_try($$SELECT uso_disable('tw_of_m1')$$) AS member_disables;
SELECT command, enabled FROM uso_task WHERE name = 'tw_of_m1';
SELECT tw_try($$SELECT uso_schedule('tw_of_m1_gone', '@manual', 'SELECT 1', username => 'tw_m1')$$)
    || ' ' || tw_try($$SELECT uso_unschedule('tw_of_m1_gone')$$) AS member_unschedules;
-- its own task too
SELECT tw_try($$SELECT uso_schedule('tw_of_alice', '@manual', 'SELECT 1')$$) AS own;
RESET ROLE;
-- a non-member gets a clear error, and sees neither task
SET ROLE tw_bob;
SELECT tw_try($$SELECT uso_schedule('tw_bob_as_m1', '@manual', 'SELECT 1', username => 'tw_m1')$$) AS non_member;
SELECT count(*) AS bob_sees FROM uso_task WHERE name LIKE 'tw\_%';
-- an unknown role is said not to exist
SELECT tw_try($$SELECT uso_schedule('tw_ghost', '@manual', 'SELECT 1', username => 'tw_no_such_role')$$) AS unknown_role;
SELECT tw_try($$INSERT INTO uso_task (name, schedule, command, username) VALUES ('tw_ghost', '@manual', 'SELECT 1', 'tw_no_such_role')$$) AS unknown_role_insert;
RESET ROLE;
-- and tw_m1 itself sees it, but not alice's own
SET ROLE tw_m1;
SELECT name FROM uso_task WHERE name LIKE 'tw\_%' ORDER BY name;
RESET ROLE;

-- record_runs and alert_mail_to: messages that say what to fix, not a CHECK's name
SET ROLE tw_alice;
SELECT tw_try($$SELECT uso_alter_task('tw_of_alice', record_runs => 'some')$$) AS record_runs_bad;
SELECT tw_try($$UPDATE uso_task SET record_runs = NULL WHERE name = 'tw_of_alice'$$) AS record_runs_null;
SELECT tw_try($$SELECT uso_alter_task('tw_of_alice', record_runs => 'failures')$$) AS record_runs_ok;
SELECT tw_try($$SELECT uso_alter_task('tw_of_alice', alert_mail_to => '')$$) AS mail_to_empty;
SELECT tw_try($$SELECT uso_alter_task('tw_of_alice', alert_mail_to => repeat('a', 990) || '@example.org')$$) AS mail_to_long;
SELECT tw_try($$SELECT uso_alter_task('tw_of_alice', alert_mail_to => E'ops@example.org\nBcc: x@evil')$$) AS mail_to_ctl;
-- a bad address is refused when written (it would be retried for ever), named, cut
SELECT tw_try($$SELECT uso_alter_task('tw_of_alice', alert_mail_to => 'ops@example.org, not-an-address')$$) AS mail_to_bad;
SELECT tw_try($$SELECT uso_alter_task('tw_of_alice', alert_mail_to => 'ops@example.org, ' || repeat('x', 900))$$) AS mail_to_bad_long;
SELECT tw_try($$SELECT uso_schedule('tw_bad_mail', '@manual', 'SELECT 1', alert_mail_to => 'a@b@c')$$) AS schedule_bad_mail;
SELECT tw_try($$SELECT uso_alter_task('tw_of_alice', alert_mail_to => 'ops@example.org, Ops Team <team@example.org>')$$) AS mail_to_ok;
SELECT alert_mail_to, record_runs FROM uso_task WHERE name = 'tw_of_alice';
SELECT count(*) AS not_created FROM uso_task WHERE name = 'tw_bad_mail';
RESET ROLE;

DELETE FROM uso_task WHERE name LIKE 'tw\_%';
DROP FUNCTION tw_try(text);
DROP ROLE tw_m1, tw_alice, tw_bob;
