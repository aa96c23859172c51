-- uso_tasks: the C functions of the API that the engine's own code calls
-- (its triggers, the alert delivery, the pack's tasks: often as the
-- superuser), once more in the private schema, with the same C symbol and
-- without defaults.  A call into @extschema@ can be made ambiguous by an
-- overload another role creates there ("function ... is not unique": a
-- planted f(text, int DEFAULT 0) next to our f(text)), or captured when the
-- argument types are not exact; a call into _uso_tasks cannot.  Users keep
-- calling the @extschema@ ones (docs/security.md, "The private schema").

CREATE FUNCTION _uso_tasks.uso_validate_schedule(schedule text) RETURNS void
    LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'uso_validate_schedule';
CREATE FUNCTION _uso_tasks.uso_validate_cron_schedule(schedule text) RETURNS void
    LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'uso_validate_cron_schedule';
CREATE FUNCTION _uso_tasks.uso_schedule_next(schedule text, after timestamptz,
                                             anchor timestamptz, timezone text) RETURNS timestamptz
    LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'uso_schedule_next';
CREATE FUNCTION _uso_tasks.uso_validate_timezone(tz text) RETURNS text
    LANGUAGE c STABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'uso_validate_timezone';
CREATE FUNCTION _uso_tasks.uso_schedule_never_fires(schedule text) RETURNS text
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'uso_schedule_never_fires';
CREATE FUNCTION _uso_tasks.uso_timezone_warning(tz text) RETURNS text
    LANGUAGE c STABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'uso_timezone_warning';
CREATE FUNCTION _uso_tasks.uso_schedule_follows(schedule text) RETURNS text
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'uso_schedule_follows';
CREATE FUNCTION _uso_tasks.uso_schedule_follows_failures(schedule text) RETURNS boolean
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'uso_schedule_follows_failures';
CREATE FUNCTION _uso_tasks.uso_check_command(command text) RETURNS void
    LANGUAGE c STABLE STRICT AS 'MODULE_PATHNAME', 'uso_check_command';
CREATE FUNCTION _uso_tasks.uso_command_missing(command text) RETURNS text
    LANGUAGE c STABLE STRICT AS 'MODULE_PATHNAME', 'uso_command_missing';
COMMENT ON FUNCTION _uso_tasks.uso_validate_schedule(text) IS 'Internal: @extschema@.uso_validate_schedule for the engine''s own calls.';
COMMENT ON FUNCTION _uso_tasks.uso_validate_cron_schedule(text) IS 'Internal: @extschema@.uso_validate_cron_schedule for the engine''s own calls.';
COMMENT ON FUNCTION _uso_tasks.uso_schedule_next(text, timestamptz, timestamptz, text) IS 'Internal: @extschema@.uso_schedule_next for the engine''s own calls.';
COMMENT ON FUNCTION _uso_tasks.uso_validate_timezone(text) IS 'Internal: @extschema@.uso_validate_timezone for the engine''s own calls.';
COMMENT ON FUNCTION _uso_tasks.uso_schedule_never_fires(text) IS 'Internal: @extschema@.uso_schedule_never_fires for the engine''s own calls.';
COMMENT ON FUNCTION _uso_tasks.uso_timezone_warning(text) IS 'Internal: @extschema@.uso_timezone_warning for the engine''s own calls.';
COMMENT ON FUNCTION _uso_tasks.uso_schedule_follows(text) IS 'Internal: @extschema@.uso_schedule_follows for the engine''s own calls.';
COMMENT ON FUNCTION _uso_tasks.uso_schedule_follows_failures(text) IS 'Internal: @extschema@.uso_schedule_follows_failures for the engine''s own calls.';
COMMENT ON FUNCTION _uso_tasks.uso_check_command(text) IS 'Internal: @extschema@.uso_check_command for the engine''s own calls.';
COMMENT ON FUNCTION _uso_tasks.uso_command_missing(text) IS 'Internal: @extschema@.uso_command_missing for the engine''s own calls.';

-- HTTP and mail: the same privilege as the API's (uso_http, superusers).
-- The type uso_http_response is in sql/schema/uso_tasks.sql.
CREATE FUNCTION _uso_tasks.uso_http_get(url text, headers jsonb, timeout interval)
    RETURNS @extschema@.uso_http_response
    LANGUAGE c VOLATILE PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'uso_http_get';
CREATE FUNCTION _uso_tasks.uso_http_post(url text, body text, content_type text, headers jsonb, timeout interval)
    RETURNS @extschema@.uso_http_response
    LANGUAGE c VOLATILE PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'uso_http_post';
CREATE FUNCTION _uso_tasks.uso_http_get_json(url text, headers jsonb, timeout interval) RETURNS jsonb
    LANGUAGE c VOLATILE PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'uso_http_get_json';
CREATE FUNCTION _uso_tasks.uso_send_mail(recipient text, subject text, body text, sender text) RETURNS text
    LANGUAGE c VOLATILE PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'uso_send_mail';
COMMENT ON FUNCTION _uso_tasks.uso_http_get(text, jsonb, interval) IS 'Internal: @extschema@.uso_http_get for the engine''s and the pack''s own calls.';
COMMENT ON FUNCTION _uso_tasks.uso_http_post(text, text, text, jsonb, interval) IS 'Internal: @extschema@.uso_http_post for the engine''s and the pack''s own calls.';
COMMENT ON FUNCTION _uso_tasks.uso_http_get_json(text, jsonb, interval) IS 'Internal: @extschema@.uso_http_get_json for the engine''s and the pack''s own calls.';
COMMENT ON FUNCTION _uso_tasks.uso_send_mail(text, text, text, text) IS 'Internal: @extschema@.uso_send_mail for the engine''s and the pack''s own calls.';
REVOKE EXECUTE ON FUNCTION
    _uso_tasks.uso_http_get(text, jsonb, interval),
    _uso_tasks.uso_http_post(text, text, text, jsonb, interval),
    _uso_tasks.uso_http_get_json(text, jsonb, interval),
    _uso_tasks.uso_send_mail(text, text, text, text)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    _uso_tasks.uso_http_get(text, jsonb, interval),
    _uso_tasks.uso_http_post(text, text, text, jsonb, interval),
    _uso_tasks.uso_http_get_json(text, jsonb, interval),
    _uso_tasks.uso_send_mail(text, text, text, text)
TO uso_http;
