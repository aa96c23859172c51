-- CleanRegistrations, NotifyNewInstitutions, DeliverNotifications (with a
-- stand-in for uso_send_mail), and SyncUsers' configuration checks (its HTTP
-- path is tested in test/t/040_uso_http.pl).
SET TimeZone = 'America/Regina';
\set VERBOSITY terse
-- ids in NOTICE lines start from 1 whatever ran before (the tests roll back their rows)
DO $$ DECLARE s regclass; BEGIN
    FOR s IN SELECT oid FROM pg_class WHERE relnamespace = 'uso'::regnamespace AND relkind = 'S' LOOP
        PERFORM setval(s, 1, false);
    END LOOP;
END $$;
BEGIN;
-- CleanRegistrations: unverified for 7+ days
INSERT INTO uso.registration (email, username, created_at, activated_at) VALUES
    ('old@example.org', 'old', '2026-03-01 10:00', NULL),
    ('edge@example.org', 'edge', '2026-03-03 12:00', NULL),
    ('young@example.org', 'young', '2026-03-05 10:00', NULL),
    ('done@example.org', 'done', '2026-02-01 10:00', '2026-02-01 11:00');
SELECT uso.clean_registrations(as_of => '2026-03-10 12:00');
SELECT username FROM uso.registration ORDER BY username;
SELECT uso.clean_registrations(as_of => '2026-03-10 12:00');
SELECT uso.clean_registrations(as_of => '2026-03-10 12:00', config => '{"max_age": "P3D"}');
SELECT username FROM uso.registration ORDER BY username;

-- NotifyNewInstitutions: once per institution, to every contracts administrator
INSERT INTO uso.institution (name, country, state, pending_since) VALUES
    ('Old University', 'CA', 'approved', NULL),
    ('New Institute', 'DE', 'pending', '2026-03-09 15:00'),
    ('Other Lab', NULL, 'pending', '2026-03-10 01:00');
SELECT uso.notify_new_institutions(as_of => '2026-03-10 12:00');
INSERT INTO uso.app_user (username, first_name, email, roles) VALUES
    ('contracts1', 'Cleo', 'cleo@example.org', '{contracts-admin}'),
    ('contracts2', 'Carl', 'carl@example.org', '{contracts-admin,admin}'),
    ('someone', 'Sue', 'sue@example.org', '{}');
SELECT uso.notify_new_institutions(as_of => '2026-03-10 12:00');
SELECT recipient, subject, body, context FROM uso.notification ORDER BY recipient;
SELECT uso.notify_new_institutions(as_of => '2026-03-11 12:00');
INSERT INTO uso.institution (name, state, pending_since) VALUES ('Late College', 'pending', '2026-03-11 13:00');
SELECT uso.notify_new_institutions(as_of => '2026-03-12 12:00');
SELECT name, notified_at IS NOT NULL AS reported FROM uso.institution ORDER BY name;

-- DeliverNotifications through a stand-in mailer (rolled back with the rest):
-- it records what it sends and refuses addresses at bounce.example.  The
-- pack calls the engine's private uso_send_mail (sql/install/41_private_calls.sql).
CREATE TEMP TABLE mails (recipient text, subject text);
CREATE OR REPLACE FUNCTION _uso_tasks.uso_send_mail(recipient text, subject text, body text, sender text)
    RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    IF recipient LIKE '%@bounce.example' THEN
        RAISE EXCEPTION 'SMTP 550 mailbox unavailable';
    END IF;
    INSERT INTO mails VALUES (recipient, subject);
    RETURN 'ok';
END $$;
INSERT INTO uso.notification (kind, recipient, subject, body, created_at, send_after) VALUES
    ('review-request', 'ann@bounce.example', 'never arrives', 'x', '2026-03-12 09:00', '2026-03-12 09:00'),
    ('review-request', 'later@example.org', 'not yet', 'x', '2026-03-12 09:00', '2026-03-12 14:00');
SELECT uso.deliver_notifications(as_of => '2026-03-12 12:00', config => '{"max_attempts": 3}');
SELECT * FROM mails ORDER BY recipient;
SELECT recipient, status, attempts, last_error, send_after FROM uso.notification WHERE status <> 'sent' ORDER BY id;
-- sent ones are never sent again; the bounce waits for its backoff (1, then 2 minutes)
SELECT uso.deliver_notifications(as_of => '2026-03-12 12:00:30', config => '{"max_attempts": 3}');
SELECT uso.deliver_notifications(as_of => '2026-03-12 12:01', config => '{"max_attempts": 3}');
SELECT uso.deliver_notifications(as_of => '2026-03-12 12:03', config => '{"max_attempts": 3}');
SELECT uso.deliver_notifications(as_of => '2026-03-12 14:00', config => '{"max_attempts": 3}');
SELECT recipient, status, attempts, last_error FROM uso.notification WHERE status <> 'sent' OR recipient LIKE 'later%' ORDER BY id;
SELECT count(*) AS mails, count(DISTINCT recipient) AS recipients FROM mails;
SELECT uso.deliver_notifications(as_of => '2026-03-13 12:00');

-- SyncUsers without an external system configured does nothing
SELECT uso.sync_users(as_of => '2026-03-12 12:00');
ROLLBACK;
-- bad settings are clear errors
SELECT uso.sync_users(config => '{"users_url": "http://127.0.0.1:1/users", "removed": "purge"}');
SELECT uso.fetch_citations(config => '{"crossref_url": ""}');
SELECT uso.update_metrics(config => '{"metrics_url": "http://127.0.0.1:1/x", "format": "xls"}');
SELECT uso.deliver_notifications(config => '{"backoff": "soonish"}');
