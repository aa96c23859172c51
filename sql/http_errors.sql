-- HTTP and mail functions: every error a caller can get without a server.
-- (Transfers against the fixture servers are tested in test/t/020_http.pl.)
CREATE FUNCTION http_try(cmd text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE cmd;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
GRANT EXECUTE ON FUNCTION http_try(text) TO PUBLIC;

-- the functions, their comments and privileges
SELECT p.oid::regprocedure AS function,
       obj_description(p.oid, 'pg_proc') IS NOT NULL AS has_comment,
       has_function_privilege('uso_http', p.oid, 'EXECUTE') AS uso_http_may,
       EXISTS (SELECT FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
               WHERE a.grantee = 0) AS public_may
FROM pg_proc p
WHERE p.proname IN ('uso_http_get', 'uso_http_post', 'uso_http_get_json', 'uso_send_mail')
ORDER BY p.oid::regprocedure::text COLLATE "C";
SELECT rolcanlogin FROM pg_roles WHERE rolname = 'uso_http';
SELECT format_type(atttypid, atttypmod) AS type, attname
FROM pg_attribute WHERE attrelid = 'uso_http_response'::regclass ORDER BY attnum;

-- a NULL url gives NULL and sends nothing (as a strict function would)
SELECT uso_http_get(NULL) IS NULL AS get,
       uso_http_post(NULL, 'x') IS NULL AS post,
       uso_http_get_json(NULL) IS NULL AS get_json;

-- the default allow list is empty: every host is refused before connecting
SHOW uso_tasks.http_allowed_hosts;
SELECT uso_http_get('http://127.0.0.1:1/x');
SELECT http_try($$SELECT uso_http_get('https://Example.ORG/')$$);
SELECT http_try($$SELECT uso_http_post('http://127.0.0.1:1/x', '{}')$$);
SELECT http_try($$SELECT uso_http_get_json('http://127.0.0.1:1/x')$$);

-- only http and https, refused as bad input
SELECT http_try($$SELECT uso_http_get('file:///etc/passwd')$$);
SELECT http_try($$SELECT uso_http_get('ftp://127.0.0.1/x')$$);
SELECT http_try($$SELECT uso_http_get('gopher://127.0.0.1/x')$$);
SELECT http_try($$SELECT uso_http_get('not a url')$$);
SELECT http_try($$SELECT uso_http_get('')$$);
SELECT http_try($$SELECT uso_http_get('http://')$$);

-- headers must be an object of string values, without line breaks
SELECT http_try($$SELECT uso_http_get('http://127.0.0.1:1/', '[1]')$$);
SELECT http_try($$SELECT uso_http_get('http://127.0.0.1:1/', '"x"')$$);
SELECT http_try($$SELECT uso_http_get('http://127.0.0.1:1/', '{"X-A": 1}')$$);
SELECT http_try($$SELECT uso_http_get('http://127.0.0.1:1/', '{"X-A": {"b": "c"}}')$$);
SELECT http_try($$SELECT uso_http_get('http://127.0.0.1:1/', '{"X-A": null}')$$);
SELECT http_try($$SELECT uso_http_get('http://127.0.0.1:1/', '{"X-A": "a\r\nX-Injected: 1"}')$$);
SELECT http_try($$SELECT uso_http_get('http://127.0.0.1:1/', '{"Bad Name": "x"}')$$);
SELECT http_try($$SELECT uso_http_get('http://127.0.0.1:1/', '{"": "x"}')$$);
SELECT http_try($$SELECT uso_http_post('http://127.0.0.1:1/', 'x', E'text/plain\r\nX-Injected: 1')$$);

-- the timeout must be positive
SELECT http_try($$SELECT uso_http_get('http://127.0.0.1:1/', NULL, '0 seconds')$$);
SELECT http_try($$SELECT uso_http_get('http://127.0.0.1:1/', NULL, '-1 second')$$);

-- allow list entries: host (any port) or host:port, case-insensitive, '*'
SET uso_tasks.http_allowed_hosts = ' Example.org , 127.0.0.1:1 ';
SELECT http_try($$SELECT uso_http_get('http://127.0.0.1:2/')$$);
SELECT http_try($$SELECT uso_http_get('http://localhost:1/')$$);
-- allowed: a closed port is a transfer error (38000) with libcurl's reason
SELECT http_try($$SELECT uso_http_get('http://127.0.0.1:1/')$$);
-- IPv6 entries: bare, in brackets, with a port (38000: allowed, nothing listens)
SET uso_tasks.http_allowed_hosts = '::1';
SELECT left(http_try($$SELECT uso_http_get('http://[::1]:1/')$$), 5);
SET uso_tasks.http_allowed_hosts = '[::1]:1';
SELECT left(http_try($$SELECT uso_http_get('http://[::1]:1/')$$), 5);
SELECT http_try($$SELECT uso_http_get('http://[::1]:2/')$$);
-- a final dot names the same host
SET uso_tasks.http_allowed_hosts = '127.0.0.1.';
SELECT http_try($$SELECT uso_http_get('http://127.0.0.1:1/')$$);
SET uso_tasks.http_allowed_hosts = '*';
SELECT http_try($$SELECT uso_http_get('http://127.0.0.1:1/')$$);
SELECT http_try($$SELECT uso_http_get('file:///etc/passwd')$$);
-- credentials in a URL never show in messages
SELECT http_try($$SELECT uso_http_get('http://alice:secret@127.0.0.1:1/x')$$);
RESET uso_tasks.http_allowed_hosts;

-- only superusers and members of uso_http may call them
CREATE ROLE regress_http_nobody;
CREATE ROLE regress_http_member IN ROLE uso_http;
SET ROLE regress_http_nobody;
SELECT http_try($$SELECT uso_http_get('http://127.0.0.1:1/')$$);
SELECT http_try($$SELECT uso_http_post('http://127.0.0.1:1/', '')$$);
SELECT http_try($$SELECT uso_http_get_json('http://127.0.0.1:1/')$$);
SELECT http_try($$SELECT uso_send_mail('a@example.org', 's', 'b')$$);
-- nor can they open the allow list
SET uso_tasks.http_allowed_hosts = '*';
RESET ROLE;
SET ROLE regress_http_member;
SELECT http_try($$SELECT uso_http_get('http://127.0.0.1:1/')$$);
SELECT http_try($$SELECT uso_send_mail('a@example.org', 's', 'b')$$);
RESET ROLE;
DROP ROLE regress_http_nobody, regress_http_member;

-- mail: arguments are checked first, header injection is impossible
SELECT http_try($$SELECT uso_send_mail('a@example.org', E'Hi\r\nBcc: victim@example.org', 'b')$$);
SELECT http_try($$SELECT uso_send_mail('a@example.org', E'Hi\nBcc: victim@example.org', 'b')$$);
SELECT http_try($$SELECT uso_send_mail(E'a@example.org\r\nBcc: victim@example.org', 's', 'b')$$);
SELECT http_try($$SELECT uso_send_mail('a@example.org', 's', 'b', E'x@example.org\nBcc: v@example.org')$$);
SELECT http_try($$SELECT uso_send_mail('not-an-address', 's', 'b')$$);
SELECT http_try($$SELECT uso_send_mail('a@b@example.org', 's', 'b')$$);
SELECT http_try($$SELECT uso_send_mail('Ann <a@example.org', 's', 'b')$$);
SELECT http_try($$SELECT uso_send_mail('a@example.org, <bad address@example.org>', 's', 'b')$$);
SELECT http_try($$SELECT uso_send_mail(' , ', 's', 'b')$$);
SELECT http_try($$SELECT uso_send_mail(NULL, 's', 'b')$$);
SELECT http_try($$SELECT uso_send_mail('a@example.org', NULL, 'b')$$);
SELECT http_try($$SELECT uso_send_mail('a@example.org', 's', NULL)$$);
SELECT http_try($$SELECT uso_send_mail('a@example.org', 's', 'b', 'nobody')$$);
-- valid arguments, but no SMTP server configured
SHOW uso_tasks.smtp_url;
SELECT uso_send_mail('Ann Example <a@example.org>, b@example.org', 'Subject', 'Body');
SET uso_tasks.smtp_url = 'http://127.0.0.1:1';
SELECT http_try($$SELECT uso_send_mail('a@example.org', 's', 'b')$$);
SET uso_tasks.smtp_url = 'smtp://127.0.0.1:1';
SELECT http_try($$SELECT uso_send_mail('a@example.org', 's', 'b')$$);
RESET uso_tasks.smtp_url;
SET uso_tasks.smtp_from = '';
SELECT http_try($$SELECT uso_send_mail('a@example.org', 's', 'b')$$);
RESET uso_tasks.smtp_from;

DROP FUNCTION http_try(text);
