-- uso_tasks: HTTP and mail through libcurl (src/http.c, src/mail.c).
--
-- Reaching the network from SQL is a privilege: EXECUTE is revoked from
-- PUBLIC and granted to the role uso_http only (superusers can always call).
-- Where requests may go is the superuser setting uso_tasks.http_allowed_hosts.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'uso_http') THEN
        CREATE ROLE uso_http NOLOGIN;
    END IF;
END
$$;

COMMENT ON TYPE @extschema@.uso_http_response IS
    'Result of uso_http_get / uso_http_post: the final response after redirects.';
COMMENT ON COLUMN @extschema@.uso_http_response.status IS
    'HTTP status code (200, 404, 500, ...); any status is returned, none is an error.';
COMMENT ON COLUMN @extschema@.uso_http_response.headers IS
    'Response headers as a JSON object: lower-case names, string values, repeated headers joined with ", ".';
COMMENT ON COLUMN @extschema@.uso_http_response.body IS
    'Response body as text in the database encoding (converted from the declared charset).';

CREATE FUNCTION @extschema@.uso_http_get(
    url     text,
    headers jsonb DEFAULT NULL,
    timeout interval DEFAULT NULL)
RETURNS @extschema@.uso_http_response
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'uso_http_get';
COMMENT ON FUNCTION @extschema@.uso_http_get(text, jsonb, interval) IS
    'HTTP GET url (http/https, host in uso_tasks.http_allowed_hosts, up to 5 redirects). '
    'headers: JSON object of string values. timeout: default uso_tasks.http_timeout. '
    'Returns status, headers and body; NULL url gives NULL. Callable by superusers and members of uso_http.';

CREATE FUNCTION @extschema@.uso_http_post(
    url          text,
    body         text,
    content_type text DEFAULT 'application/json',
    headers      jsonb DEFAULT NULL,
    timeout      interval DEFAULT NULL)
RETURNS @extschema@.uso_http_response
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'uso_http_post';
COMMENT ON FUNCTION @extschema@.uso_http_post(text, text, text, jsonb, interval) IS
    'HTTP POST body to url with Content-Type content_type (a Content-Type in headers wins; NULL sends none). '
    'Same rules as uso_http_get. Callable by superusers and members of uso_http.';

CREATE FUNCTION @extschema@.uso_http_get_json(
    url     text,
    headers jsonb DEFAULT NULL,
    timeout interval DEFAULT NULL)
RETURNS jsonb
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'uso_http_get_json';
COMMENT ON FUNCTION @extschema@.uso_http_get_json(text, jsonb, interval) IS
    'HTTP GET url and parse the body as JSON (NULL for 204). A non-2xx status is an error (38000), '
    'so is a body that is not JSON (22P02). Callable by superusers and members of uso_http.';

CREATE FUNCTION @extschema@.uso_send_mail(
    recipient text,
    subject   text,
    body      text,
    sender    text DEFAULT NULL)
RETURNS text
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'uso_send_mail';
COMMENT ON FUNCTION @extschema@.uso_send_mail(text, text, text, text) IS
    'Sends a plain-text UTF-8 e-mail through uso_tasks.smtp_url to a comma-separated recipient list; '
    'sender defaults to uso_tasks.smtp_from. Returns the Message-ID. Callable by superusers and members of uso_http.';

REVOKE EXECUTE ON FUNCTION
    @extschema@.uso_http_get(text, jsonb, interval),
    @extschema@.uso_http_post(text, text, text, jsonb, interval),
    @extschema@.uso_http_get_json(text, jsonb, interval),
    @extschema@.uso_send_mail(text, text, text, text)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    @extschema@.uso_http_get(text, jsonb, interval),
    @extschema@.uso_http_post(text, text, text, jsonb, interval),
    @extschema@.uso_http_get_json(text, jsonb, interval),
    @extschema@.uso_send_mail(text, text, text, text)
TO uso_http;
