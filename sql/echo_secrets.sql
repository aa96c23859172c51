-- Secrets in settings stay with the superuser (issue 21): the webhook URL,
-- the SMTP URL and the allowed hosts are GUC_SUPERUSER_ONLY, and a URL in a
-- view or a message is shown without its secrets.  Values quoted back in
-- messages are cut (a 10 MB URL made a 10 MB log line).
CREATE FUNCTION echo_try(cmd text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    msg text;
    det text;
BEGIN
    EXECUTE cmd;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
    RETURN SQLSTATE || ': ' || msg || coalesce(' DETAIL: ' || nullif(det, ''), '');
END
$$;
GRANT EXECUTE ON FUNCTION echo_try(text) TO PUBLIC;
CREATE ROLE echo_plain;
GRANT uso_http TO echo_plain;

-- set as the superuser; no other role reads them back
SET uso_tasks.alert_webhook_url = 'https://hooks.example.org/services/T0/B0/s3cr3t?token=abc';
SET uso_tasks.smtp_url = 'smtp://mailer:pa55@127.0.0.1:2525';
SET uso_tasks.http_allowed_hosts = '127.0.0.1:8080, internal.example.org';
SET ROLE echo_plain;
SELECT echo_try('SHOW uso_tasks.alert_webhook_url') AS show_webhook;
SELECT echo_try('SHOW uso_tasks.smtp_url') AS show_smtp;
SELECT echo_try('SHOW uso_tasks.http_allowed_hosts') AS show_hosts;
SELECT echo_try($$SELECT current_setting('uso_tasks.alert_webhook_url')$$) AS current_setting;
SELECT count(*) AS in_pg_settings FROM pg_settings
WHERE name IN ('uso_tasks.alert_webhook_url', 'uso_tasks.smtp_url', 'uso_tasks.http_allowed_hosts');
-- settings that are no secret stay readable
SELECT count(*) AS others_readable FROM pg_settings
WHERE name IN ('uso_tasks.http_timeout', 'uso_tasks.smtp_from');
RESET ROLE;
SELECT count(*) AS superuser_sees FROM pg_settings
WHERE name IN ('uso_tasks.alert_webhook_url', 'uso_tasks.smtp_url', 'uso_tasks.http_allowed_hosts');

-- a URL as views and messages show it
SELECT u, _uso_tasks.uso_redact_url(u)
FROM unnest(ARRAY[
    'https://hooks.example.org/services/T0/B0/s3cr3t?token=abc#frag',
    'https://user:pass@example.org:8443/x',
    'http://example.org',
    'http://example.org/',
    'not a url',
    NULL]) AS u;
SELECT _uso_tasks.uso_redact_url('https://example.org/' || repeat('a', 100000)) AS long_path,
       _uso_tasks.uso_redact_url('https://' || repeat('é', 300) || '.org/') AS long_host;
-- the alerts view: the webhook row shows the URL redacted
SELECT pg_get_viewdef('uso_alerts'::regclass) LIKE '%uso_redact_url(o.recipient)%' AS view_redacts;

-- messages quote values cut: the URL, a header name, an address
SET ROLE echo_plain;
SELECT length(echo_try($$SELECT uso_http_get('http://127.0.0.1:9/' || repeat('x', 10000000))$$)) < 400
       AS ten_mb_url_cut;
SELECT echo_try($$SELECT uso_http_get('http://' || repeat('h', 100000) || '/')$$) AS long_host;
SELECT echo_try($$SELECT uso_http_get('ht!tp:/' || repeat('x', 100000))$$) AS bad_url;
SELECT echo_try(format($$SELECT uso_http_get('http://127.0.0.1:8080/', jsonb_build_object(%L, 'v'))$$,
                       repeat('ä', 50000) || ' x')) AS header_name;
SELECT echo_try(format($$SELECT uso_http_get('http://127.0.0.1:8080/', jsonb_build_object(%L, 1))$$,
                       repeat('n', 100000))) AS header_value;
SELECT echo_try(format($$SELECT uso_send_mail(%L, 's', 'b')$$, repeat('ü', 50000) || '@')) AS recipient;
-- the query is not echoed (API keys travel there): scheme, host, port and path are
SELECT echo_try($$SELECT uso_http_get('http://bad.example.org/p?api_key=s3cr3t')$$) AS refused;
-- a port not allowed is named as the port, not the host
SELECT echo_try($$SELECT uso_http_get('http://127.0.0.1:9/')$$) AS wrong_port;
SELECT echo_try($$SELECT uso_http_get('http://127.0.0.1:9/', '{"a": "b"}', '1 s')$$) AS wrong_port_args_checked;
RESET ROLE;

RESET uso_tasks.alert_webhook_url;
RESET uso_tasks.smtp_url;
RESET uso_tasks.http_allowed_hosts;
DROP FUNCTION echo_try(text);
DROP ROLE echo_plain;
