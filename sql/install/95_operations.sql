-- uso_tasks: operations (issue 12): per-task counters and statistics, failure
-- events (NOTIFY, a durable alert outbox delivered by a built-in task), log
-- lines, history of high-frequency tasks, the scheduler status view and the
-- views the Prometheus exporter reads (contrib/prometheus/queries.yaml).
--
-- One trigger on uso_task_run sees every run end, whoever records it (the
-- executor in the run's own transaction, the scheduler closing a run a worker
-- could not, uso_cancel()): so every event is sent when that record commits
-- (NOTIFY and the outbox row are transactional) and by no other path.

COMMENT ON COLUMN @extschema@.uso_task.alert_mail_to IS 'Comma-separated addresses mailed when a run of the task fails for good, it goes missing or recovers (besides uso_tasks.alert_mail_to).';
COMMENT ON COLUMN @extschema@.uso_task.record_runs IS 'all: every run is kept as a row; failures: of the successful runs only the last is kept (counts and statistics in uso_task_stats stay complete).';

-- The CHECK constraints on these columns (sql/schema) are the last line; this trigger (after
-- uso_task_validate: triggers fire in name order) gives a bad value a message
-- that says what to fix, and refuses a bad address when it is written, not at
-- delivery (where it would be retried for ever).
CREATE FUNCTION _uso_tasks.uso_check_mail_to(list text, what text) RETURNS void
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'uso_check_mail_to';
COMMENT ON FUNCTION _uso_tasks.uso_check_mail_to(text, text) IS
    'Raises 22023 naming the first bad address unless list is a comma-separated recipient list uso_send_mail accepts (what names it in the message).';

CREATE FUNCTION _uso_tasks.uso_task_check_alerts() RETURNS trigger
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.record_runs IS NULL THEN
        RAISE EXCEPTION 'record_runs must not be NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Use all or failures.';
    ELSIF NEW.record_runs NOT IN ('all', 'failures') THEN
        RAISE EXCEPTION 'record_runs must be all or failures, not "%"',
                        _uso_tasks.uso_shorten(NEW.record_runs, 40)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'all keeps every run; failures keeps the failed runs and the last success.';
    END IF;
    IF NEW.alert_mail_to IS NOT NULL
       AND (TG_OP = 'INSERT' OR NEW.alert_mail_to IS DISTINCT FROM OLD.alert_mail_to) THEN
        IF length(NEW.alert_mail_to) > 1000 THEN
            RAISE EXCEPTION 'alert_mail_to is too long'
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = format('It has %s characters; at most 1000 are allowed.', length(NEW.alert_mail_to)),
                      HINT = 'Mail a list address instead of many people.';
        ELSIF btrim(NEW.alert_mail_to) = '' THEN
            RAISE EXCEPTION 'alert_mail_to must not be empty'
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Set it to NULL for no mail besides uso_tasks.alert_mail_to.';
        END IF;
        PERFORM _uso_tasks.uso_check_mail_to(NEW.alert_mail_to, 'alert_mail_to');
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION _uso_tasks.uso_task_check_alerts() IS
    'Trigger: checks record_runs and alert_mail_to (every address) of a new or changed uso_task row, with messages that say what to fix.';
CREATE TRIGGER uso_task_validate_alerts
    BEFORE INSERT OR UPDATE OF alert_mail_to, record_runs ON @extschema@.uso_task
    FOR EACH ROW EXECUTE FUNCTION _uso_tasks.uso_task_check_alerts();
COMMENT ON TRIGGER uso_task_validate_alerts ON @extschema@.uso_task IS
    'Checks record_runs and alert_mail_to (uso_task_check_alerts); fires after uso_task_validate.';
COMMENT ON TABLE @extschema@.uso_task_stats IS 'Per-task run counters and statistics, kept when runs are purged (retention, record_runs = failures).';
COMMENT ON COLUMN @extschema@.uso_task_stats.task_id IS 'The task.';
COMMENT ON COLUMN @extschema@.uso_task_stats.runs_succeeded IS 'Runs that succeeded, ever (since the task or this table was created).';
COMMENT ON COLUMN @extschema@.uso_task_stats.runs_failed IS 'Runs that failed (every attempt counts).';
COMMENT ON COLUMN @extschema@.uso_task_stats.runs_timed_out IS 'Runs that exceeded their timeout.';
COMMENT ON COLUMN @extschema@.uso_task_stats.runs_cancelled IS 'Runs cancelled with uso_cancel().';
COMMENT ON COLUMN @extschema@.uso_task_stats.runs_skipped IS 'Slots skipped because the previous run was still going (overlap skip).';
COMMENT ON COLUMN @extschema@.uso_task_stats.last_status IS 'Status of the run that ended last.';
COMMENT ON COLUMN @extschema@.uso_task_stats.last_finished_at IS 'When the last run ended.';
COMMENT ON COLUMN @extschema@.uso_task_stats.last_success_at IS 'When the last successful run ended.';
COMMENT ON COLUMN @extschema@.uso_task_stats.last_failure_at IS 'When the last failed or timed-out run ended.';
COMMENT ON COLUMN @extschema@.uso_task_stats.duration_count IS 'Runs with a duration (they started), for the average.';
COMMENT ON COLUMN @extschema@.uso_task_stats.duration_sum IS 'Sum of their durations in seconds.';
COMMENT ON COLUMN @extschema@.uso_task_stats.lateness_count IS 'Runs with a due time that started.';
COMMENT ON COLUMN @extschema@.uso_task_stats.lateness_sum IS 'Sum of their start lateness (started_at - scheduled_for) in seconds.';
COMMENT ON COLUMN @extschema@.uso_task_stats.recent_durations IS 'Durations in seconds of the last 100 runs that started, oldest first (the metrics'' window).';
COMMENT ON COLUMN @extschema@.uso_task_stats.recent_lateness IS 'Start lateness in seconds of the last 100 runs with a due time, oldest first.';
COMMENT ON COLUMN @extschema@.uso_task_stats.failing IS 'The last failed, timed-out or successful run failed for good (no retry left).';
COMMENT ON COLUMN @extschema@.uso_task_stats.alerted IS 'A failure was announced and no success since: the next success is announced as recovered.';
COMMENT ON COLUMN @extschema@.uso_task_stats.missing_alerted IS 'Announced as missing (its command calls a function that does not exist).';
COMMENT ON COLUMN @extschema@.uso_task_stats.alert_last_at IS 'Start of the current alert interval: mail and webhook calls before alert_last_at + uso_tasks.alert_interval are gathered into one.';
CREATE POLICY uso_task_stats_visible ON @extschema@.uso_task_stats
    USING (EXISTS (SELECT FROM @extschema@.uso_task t WHERE t.id = task_id));

COMMENT ON TABLE @extschema@.uso_alert_outbox IS 'Alerts to deliver (mail, webhook) and delivered: written with the run''s record, sent by uso_deliver_alerts().';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.id IS 'Alert id.';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.task_id IS 'The task (it may have been deleted since).';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.task_name IS 'Its name when the alert was raised.';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.username IS 'Its owner then: who may see the alert (row-level security).';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.run_id IS 'The run (the last one, for an alert that gathers several failures); NULL for missing.';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.event IS 'failed, timed_out (after the last retry), missing, recovered.';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.channel IS 'mail or webhook.';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.recipient IS 'Comma-separated addresses (mail) or the URL (webhook).';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.payload IS 'The event (task, task_id, run_id, status, database, message, sqlstate, finished_at): the webhook''s body; NOTIFY uso_task_events carries only its ids.';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.created_at IS 'When the event happened.';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.deliver_after IS 'Not sent before: the end of the alert interval for gathered failures, or the next retry after a failed delivery.';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.more_failures IS 'Failures gathered into this alert by the rate limit ("N more failures since ...").';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.more_since IS 'When the first of them happened.';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.attempts IS 'Delivery attempts so far.';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.last_attempt_at IS 'When delivery was last tried.';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.last_error IS 'Why the last attempt failed; retried with backoff (10 s doubling, at most 1 hour), never dropped.';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.sent_at IS 'When it was delivered; NULL while pending.';
CREATE POLICY uso_alert_outbox_visible ON @extschema@.uso_alert_outbox
    FOR SELECT USING (username = CURRENT_USER OR _uso_tasks.uso_may_act_as(username) OR _uso_tasks.uso_is_admin());

-- The webhook URL is the superuser's secret (a token in its path or query):
-- the view shows scheme, host and port only.
CREATE FUNCTION _uso_tasks.uso_redact_url(url text) RETURNS text
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'uso_redact_url';
COMMENT ON FUNCTION _uso_tasks.uso_redact_url(text) IS
    'A URL as messages and views show it: no user name, password, path, query or fragment (shown as /... and ?...), cut at 100 bytes.';

CREATE VIEW @extschema@.uso_alerts WITH (security_invoker = true) AS
SELECT o.id, o.task_name AS task, o.task_id, o.run_id, o.event, o.channel,
       CASE WHEN o.channel OPERATOR(pg_catalog.=) 'webhook'::pg_catalog.text
            THEN _uso_tasks.uso_redact_url(o.recipient) ELSE o.recipient END AS recipient,
       CASE WHEN o.sent_at IS NOT NULL THEN 'sent'
            WHEN o.attempts > 0 THEN 'failed'
            ELSE 'pending' END AS state,
       o.created_at, o.deliver_after, o.sent_at, o.attempts, o.last_error,
       o.more_failures, o.more_since, o.payload
FROM @extschema@.uso_alert_outbox o;
COMMENT ON VIEW @extschema@.uso_alerts IS 'Alerts: what was sent, when, to whom; pending ones and failed deliveries (retried). A role sees its own tasks'' alerts, admins all.';
COMMENT ON COLUMN @extschema@.uso_alerts.id IS 'Alert id.';
COMMENT ON COLUMN @extschema@.uso_alerts.task IS 'Task name when the alert was raised.';
COMMENT ON COLUMN @extschema@.uso_alerts.task_id IS 'Task id.';
COMMENT ON COLUMN @extschema@.uso_alerts.run_id IS 'The run (the last one gathered), NULL for missing.';
COMMENT ON COLUMN @extschema@.uso_alerts.event IS 'failed, timed_out, missing, recovered.';
COMMENT ON COLUMN @extschema@.uso_alerts.channel IS 'mail or webhook.';
COMMENT ON COLUMN @extschema@.uso_alerts.recipient IS 'Addresses, or the webhook URL redacted (scheme, host, port).';
COMMENT ON COLUMN @extschema@.uso_alerts.state IS 'pending (not tried yet), failed (last delivery failed, retried at deliver_after), sent.';
COMMENT ON COLUMN @extschema@.uso_alerts.created_at IS 'When the event happened.';
COMMENT ON COLUMN @extschema@.uso_alerts.deliver_after IS 'Not sent before this.';
COMMENT ON COLUMN @extschema@.uso_alerts.sent_at IS 'When it was delivered.';
COMMENT ON COLUMN @extschema@.uso_alerts.attempts IS 'Delivery attempts.';
COMMENT ON COLUMN @extschema@.uso_alerts.last_error IS 'Why the last attempt failed.';
COMMENT ON COLUMN @extschema@.uso_alerts.more_failures IS 'Further failures gathered into this alert by the rate limit.';
COMMENT ON COLUMN @extschema@.uso_alerts.more_since IS 'When the first of them happened.';
COMMENT ON COLUMN @extschema@.uso_alerts.payload IS 'The event as JSON.';
GRANT SELECT ON @extschema@.uso_alerts TO PUBLIC;

CREATE FUNCTION _uso_tasks.uso_log_run(database text, task text, run_id bigint, status text,
    sqlstate text, message text, duration float8) RETURNS void
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'uso_log_run';
COMMENT ON FUNCTION _uso_tasks.uso_log_run(text, text, bigint, text, text, text, float8) IS
    'Internal (run-end trigger): writes the LOG line of a finished run (uso_tasks.log_runs).';
REVOKE EXECUTE ON FUNCTION _uso_tasks.uso_log_run(text, text, bigint, text, text, text, float8) FROM PUBLIC;

-- A setting of the server, or its default when the library is not loaded in
-- this session (a placeholder GUC has no default).
-- A pinned search_path, though it stops the function from being inlined: a
-- function without one runs its body under its caller's (pgspot PS005).
CREATE FUNCTION _uso_tasks.uso_setting(name text, fallback text) RETURNS text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT COALESCE(NULLIF(pg_catalog.current_setting(name, true), ''::pg_catalog.text), fallback) $$;
COMMENT ON FUNCTION _uso_tasks.uso_setting(text, text) IS
    'Internal: current_setting(name), or fallback when unset or empty.';

-- Queue the mail and webhook alerts of an event, under the rate limit.
-- Caller (the run-end trigger, uso_deliver_alerts) holds the stats row lock.
CREATE FUNCTION _uso_tasks.uso_queue_alert(t @extschema@.uso_task, s @extschema@.uso_task_stats,
    event text, run_id bigint, payload jsonb) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    mail_to  text := concat_ws(', ', nullif(_uso_tasks.uso_setting('uso_tasks.alert_mail_to', ''), ''),
                               t.alert_mail_to);
    hook     constant text := nullif(_uso_tasks.uso_setting('uso_tasks.alert_webhook_url', ''), '');
    interval_ constant interval := _uso_tasks.uso_setting('uso_tasks.alert_interval', '900s')::interval;
    now_     constant timestamptz := clock_timestamp();
    channel_ text;
    target   text;
    digest   bigint;
    opened   boolean := false;
BEGIN
    IF mail_to = '' THEN
        mail_to := NULL;
    END IF;
    IF mail_to IS NULL AND hook IS NULL THEN
        RETURN;
    END IF;
    -- Failures are rate-limited; missing and recovered are rare by nature.
    -- Within an interval, failures go into one alert sent at its end, which
    -- opens the next interval.
    IF event IN ('failed', 'timed_out') AND s.alert_last_at IS NOT NULL
       AND now_ < s.alert_last_at + interval_ THEN
        -- (FOR ... IN SELECT, not FOREACH: pgspot cannot parse FOREACH.)
        FOR channel_ IN SELECT c FROM unnest(ARRAY['mail', 'webhook']) AS c LOOP
            target := CASE channel_ WHEN 'mail' THEN mail_to ELSE hook END;
            IF target IS NULL THEN CONTINUE; END IF;
            digest := NULL;
            UPDATE @extschema@.uso_alert_outbox o
               SET more_failures = o.more_failures + 1, run_id = uso_queue_alert.run_id,
                   payload = uso_queue_alert.payload, event = uso_queue_alert.event
             WHERE o.task_id = t.id AND o.channel = channel_ AND o.sent_at IS NULL
               AND o.more_failures > 0 AND o.attempts = 0
            RETURNING o.id INTO digest;
            IF digest IS NULL THEN
                INSERT INTO @extschema@.uso_alert_outbox
                    (task_id, task_name, username, run_id, event, channel, recipient, payload,
                     deliver_after, more_failures, more_since)
                VALUES (t.id, t.name, t.username, run_id, event, channel_, target, payload,
                        s.alert_last_at + interval_, 1, now_);
                opened := true;
            END IF;
        END LOOP;
        IF opened THEN
            UPDATE @extschema@.uso_task_stats x SET alert_last_at = s.alert_last_at + interval_
             WHERE x.task_id = t.id;
        END IF;
        RETURN;
    END IF;
    IF mail_to IS NOT NULL THEN
        INSERT INTO @extschema@.uso_alert_outbox
            (task_id, task_name, username, run_id, event, channel, recipient, payload)
        VALUES (t.id, t.name, t.username, run_id, event, 'mail', mail_to, payload);
    END IF;
    IF hook IS NOT NULL THEN
        INSERT INTO @extschema@.uso_alert_outbox
            (task_id, task_name, username, run_id, event, channel, recipient, payload)
        VALUES (t.id, t.name, t.username, run_id, event, 'webhook', hook, payload);
    END IF;
    IF event IN ('failed', 'timed_out') THEN
        UPDATE @extschema@.uso_task_stats x SET alert_last_at = now_ WHERE x.task_id = t.id;
    END IF;
END
$$;
COMMENT ON FUNCTION _uso_tasks.uso_queue_alert(@extschema@.uso_task, @extschema@.uso_task_stats, text, bigint, jsonb) IS
    'Internal: writes the outbox rows of an event (mail to uso_tasks.alert_mail_to and the task''s alert_mail_to, webhook to uso_tasks.alert_webhook_url), gathering failures within uso_tasks.alert_interval into one alert.';
REVOKE EXECUTE ON FUNCTION _uso_tasks.uso_queue_alert(@extschema@.uso_task, @extschema@.uso_task_stats, text, bigint, jsonb) FROM PUBLIC;

-- The event's JSON, as the webhook posts it and the alert mail tells it.
CREATE FUNCTION _uso_tasks.uso_event_payload(t @extschema@.uso_task, event text, run_id bigint,
    message text, sqlstate text, finished_at timestamptz) RETURNS jsonb
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
SELECT jsonb_build_object('task', t.name, 'task_id', t.id, 'run_id', run_id, 'status', event,
                          'database', current_database(),
                          -- NOTIFY payloads are limited to 8000 bytes.
                          'message', _uso_tasks.uso_shorten(message, 1000),
                          'sqlstate', sqlstate, 'finished_at', finished_at)
$$;
COMMENT ON FUNCTION _uso_tasks.uso_event_payload(@extschema@.uso_task, text, bigint, text, text, timestamptz) IS
    'Internal: the JSON of a task event (task, task_id, run_id, status, database, message, sqlstate, finished_at).';

-- Last n values of an array with v appended (search_path pinned, as uso_setting's).
CREATE FUNCTION _uso_tasks.uso_window_push(a float8[], v float8, n integer DEFAULT 100) RETURNS float8[]
    LANGUAGE sql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT CASE WHEN v IS NULL THEN a
                      WHEN pg_catalog.cardinality(a) OPERATOR(pg_catalog.>=) n
                      THEN a[pg_catalog.cardinality(a) OPERATOR(pg_catalog.-) n OPERATOR(pg_catalog.+) 2:]
                           OPERATOR(pg_catalog.||) v
                      ELSE a OPERATOR(pg_catalog.||) v END $$;
COMMENT ON FUNCTION _uso_tasks.uso_window_push(float8[], float8, integer) IS
    'Internal: the last n values of a with v appended (v NULL: a unchanged).';

CREATE FUNCTION _uso_tasks.uso_run_ended() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    -- Its plans outlive the sizes they were made for (a long-lived executor):
    -- a task or stats lookup made while the tables were small must not stay
    -- a scan of every row (src/spi_plans.c).
    SET enable_seqscan = off SET jit = off
    AS $$
DECLARE
    t          @extschema@.uso_task;
    s          @extschema@.uso_task_stats;
    duration   float8 := extract(epoch FROM NEW.finished_at - NEW.started_at);
    lateness   float8;
    final      boolean;
    event      text;
    notify     constant text := _uso_tasks.uso_setting('uso_tasks.notify_events', 'failures');
    log_runs   constant text := _uso_tasks.uso_setting('uso_tasks.log_runs', 'failures');
BEGIN
    SELECT * INTO t FROM @extschema@.uso_task x WHERE x.id = NEW.task_id;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF NEW.started_at IS NOT NULL AND NEW.scheduled_for IS NOT NULL THEN
        lateness := greatest(extract(epoch FROM NEW.started_at - NEW.scheduled_for), 0);
    END IF;
    final := NEW.status IN ('failed', 'timed_out') AND NEW.attempt > t.max_retries;

    -- Counters: one row per task, created by its first run.  The common
    -- case is one UPDATE (the loop goes round once more only for a new task).
    LOOP
    UPDATE @extschema@.uso_task_stats x SET
        runs_succeeded = x.runs_succeeded + (NEW.status = 'succeeded')::int,
        runs_failed = x.runs_failed + (NEW.status = 'failed')::int,
        runs_timed_out = x.runs_timed_out + (NEW.status = 'timed_out')::int,
        runs_cancelled = x.runs_cancelled + (NEW.status = 'cancelled')::int,
        runs_skipped = x.runs_skipped + (NEW.status = 'skipped')::int,
        last_status = NEW.status,
        last_finished_at = NEW.finished_at,
        last_success_at = CASE WHEN NEW.status = 'succeeded' THEN NEW.finished_at ELSE x.last_success_at END,
        last_failure_at = CASE WHEN NEW.status IN ('failed', 'timed_out') THEN NEW.finished_at
                               ELSE x.last_failure_at END,
        duration_count = x.duration_count + (duration IS NOT NULL)::int,
        duration_sum = x.duration_sum + coalesce(duration, 0),
        lateness_count = x.lateness_count + (lateness IS NOT NULL)::int,
        lateness_sum = x.lateness_sum + coalesce(lateness, 0),
        recent_durations = _uso_tasks.uso_window_push(x.recent_durations, duration),
        recent_lateness = _uso_tasks.uso_window_push(x.recent_lateness, lateness),
        failing = CASE WHEN final THEN true WHEN NEW.status = 'succeeded' THEN false ELSE x.failing END
    WHERE x.task_id = t.id
    RETURNING * INTO s;
    IF FOUND THEN EXIT; END IF;
    INSERT INTO @extschema@.uso_task_stats AS x (task_id) VALUES (t.id)
        ON CONFLICT (task_id) DO NOTHING;
    END LOOP;

    -- The event, if any: a final failure, or the first success after one that was announced.
    IF final THEN
        event := NEW.status;
    ELSIF NEW.status = 'succeeded' AND s.alerted THEN
        event := 'recovered';
    END IF;
    IF event IS NOT NULL THEN
        UPDATE @extschema@.uso_task_stats x SET alerted = (event <> 'recovered')
        WHERE x.task_id = t.id;
    END IF;
    IF notify = 'all' OR (notify = 'failures' AND event IS NOT NULL) THEN
        -- Every role of the database may LISTEN: the payload carries only
        -- ids, and a listener reads the rest through uso_task_runs, under
        -- row-level security (a message may quote data of the task's owner).
        PERFORM pg_catalog.pg_notify('uso_task_events',
            pg_catalog.jsonb_build_object('task_id', t.id, 'run_id', NEW.id)::text);
    END IF;
    IF event IS NOT NULL THEN
        PERFORM _uso_tasks.uso_queue_alert(t, s, event, NEW.id,
            _uso_tasks.uso_event_payload(t, event, NEW.id, NEW.return_message, NEW.sqlstate,
                                          NEW.finished_at));
    END IF;

    IF log_runs = 'all' OR (log_runs = 'failures' AND NEW.status IN ('failed', 'timed_out', 'cancelled')) THEN
        PERFORM _uso_tasks.uso_log_run(pg_catalog.current_database()::pg_catalog.text, t.name, NEW.id, NEW.status, NEW.sqlstate,
                                        NEW.return_message, duration);
    END IF;

    -- Followers ('after <task>'): queued in this transaction, so an outcome
    -- that committed has queued them, whatever crashes next.
    IF (NEW.status = 'succeeded' OR final)
       AND EXISTS (SELECT FROM @extschema@.uso_task f WHERE f.follows_task_id = t.id) THEN
        PERFORM _uso_tasks.uso_queue_followers(t.id, NEW.id, CASE WHEN final THEN 'failure' ELSE 'success' END);
    END IF;

    -- record_runs = failures: the last success is the only one kept.
    IF NEW.status = 'succeeded' AND t.record_runs = 'failures' THEN
        DELETE FROM @extschema@.uso_task_run r
         WHERE r.task_id = t.id AND r.status = 'succeeded' AND r.id <> NEW.id;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION _uso_tasks.uso_run_ended() IS
    'Trigger: a run ended: counts it in uso_task_stats, sends its event (NOTIFY uso_task_events, alert outbox), writes its LOG line, queues the runs of the tasks that follow it, and applies record_runs.';
REVOKE EXECUTE ON FUNCTION _uso_tasks.uso_run_ended() FROM PUBLIC;

CREATE TRIGGER uso_run_ended AFTER UPDATE OF finished_at ON @extschema@.uso_task_run
    FOR EACH ROW WHEN (OLD.finished_at IS NULL AND NEW.finished_at IS NOT NULL)
    EXECUTE FUNCTION _uso_tasks.uso_run_ended();
-- Runs recorded as already ended (skipped slots, tasks that cannot run).
CREATE TRIGGER uso_run_ended_insert AFTER INSERT ON @extschema@.uso_task_run
    FOR EACH ROW WHEN (NEW.finished_at IS NOT NULL)
    EXECUTE FUNCTION _uso_tasks.uso_run_ended();

-- Delivery: the built-in task uso_deliver_alerts calls this every 10 seconds.
CREATE FUNCTION _uso_tasks.uso_alert_body(o @extschema@.uso_alert_outbox) RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r     @extschema@.uso_task_run;
    lines text;
    link  constant text := nullif(_uso_tasks.uso_setting('uso_tasks.admin_url', ''), '');
    body  text;
BEGIN
    SELECT * INTO r FROM @extschema@.uso_task_run x WHERE x.id = o.run_id;
    body := format(E'Task: %s\nDatabase: %s\nEvent: %s\n', o.task_name, current_database(), o.event);
    IF o.more_failures > 0 THEN
        body := body || format(E'%s more failures since %s; the last one:\n', o.more_failures, o.more_since);
    END IF;
    IF o.run_id IS NOT NULL THEN
        body := body || format(E'Run id: %s\n', o.run_id);
    END IF;
    IF r.id IS NOT NULL THEN
        body := body || format(E'Trigger: %s, attempt %s\nScheduled for: %s\nStarted: %s\nFinished: %s\n',
                               r.trigger, r.attempt, coalesce(r.scheduled_for::text, '-'),
                               coalesce(r.started_at::text, '-'), coalesce(r.finished_at::text, '-'));
    END IF;
    body := body || format(E'Message: %s\n', coalesce(r.return_message, o.payload->>'message', '-'));
    IF coalesce(r.sqlstate, o.payload->>'sqlstate') IS NOT NULL THEN
        body := body || format(E'SQLSTATE: %s\n', coalesce(r.sqlstate, o.payload->>'sqlstate'));
    END IF;
    IF r.error_detail IS NOT NULL THEN
        body := body || format(E'Detail: %s\n', r.error_detail);
    END IF;
    IF r.error_hint IS NOT NULL THEN
        body := body || format(E'Hint: %s\n', r.error_hint);
    END IF;
    IF r.error_context IS NOT NULL THEN
        body := body || format(E'Context:\n%s\n', r.error_context);
    END IF;
    SELECT string_agg(format('%s %s: %s', l.logged_at, l.level, _uso_tasks.uso_shorten(l.message, 500)),
                      E'\n' ORDER BY l.seq) INTO lines
    FROM (SELECT * FROM @extschema@.uso_task_log l WHERE l.run_id = o.run_id
          ORDER BY l.seq DESC LIMIT 20) l;
    IF lines IS NOT NULL THEN
        body := body || E'\nLast log lines:\n' || lines || E'\n';
    END IF;
    IF link IS NOT NULL THEN
        body := body || E'\n' || replace(link, '{task}', pg_catalog.replace(o.task_name, ' ', '%20')) || E'\n';
    END IF;
    RETURN body;
END
$$;
COMMENT ON FUNCTION _uso_tasks.uso_alert_body(@extschema@.uso_alert_outbox) IS
    'Internal: the text of an alert mail (run id, times, message, SQLSTATE, context, last log lines, uso_tasks.admin_url link).';

CREATE FUNCTION @extschema@.uso_deliver_alerts(max_alerts integer DEFAULT 100) RETURNS integer
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    o       @extschema@.uso_alert_outbox;
    sent    integer := 0;
    subject text;
    resp    @extschema@.uso_http_response;
    t       @extschema@.uso_task;
    s       @extschema@.uso_task_stats;
    c       record;
    missing text;
    payload jsonb;
BEGIN
    IF NOT _uso_tasks.uso_is_admin() THEN
        RAISE EXCEPTION 'only superusers and members of uso_admin may deliver alerts'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    -- Tasks whose command calls a function that is not there, once per
    -- episode: only a task whose state changed is locked and written.
    FOR c IN
        SELECT x AS task, m.missing FROM @extschema@.uso_task x
        LEFT JOIN @extschema@.uso_task_stats st ON st.task_id = x.id
        CROSS JOIN LATERAL (SELECT _uso_tasks.uso_command_missing(x.command) AS missing) m
        WHERE x.enabled AND NOT x.builtin
          AND coalesce(x.database, current_database()) = current_database()
          AND (m.missing IS NOT NULL) <> coalesce(st.missing_alerted, false) LOOP
        t := c.task;
        missing := c.missing;
        INSERT INTO @extschema@.uso_task_stats (task_id) VALUES (t.id) ON CONFLICT DO NOTHING;
        UPDATE @extschema@.uso_task_stats x SET missing_alerted = (missing IS NOT NULL)
         WHERE x.task_id = t.id RETURNING * INTO s;
        IF missing IS NULL THEN CONTINUE; END IF;
        payload := _uso_tasks.uso_event_payload(t, 'missing', NULL,
            format('function %s does not exist', missing), '42883', clock_timestamp());
        IF _uso_tasks.uso_setting('uso_tasks.notify_events', 'failures') <> 'none' THEN
            PERFORM pg_catalog.pg_notify('uso_task_events',
                pg_catalog.jsonb_build_object('task_id', t.id, 'run_id', NULL::bigint)::text);
        END IF;
        PERFORM _uso_tasks.uso_queue_alert(t, s, 'missing', NULL, payload);
    END LOOP;

    FOR o IN SELECT * FROM @extschema@.uso_alert_outbox x
             WHERE x.sent_at IS NULL AND x.deliver_after <= clock_timestamp()
             ORDER BY x.id LIMIT max_alerts
             FOR UPDATE SKIP LOCKED LOOP
        BEGIN
            IF o.channel = 'mail' THEN
                subject := format('[uso_tasks] %s %s', o.task_name,
                                  CASE o.event WHEN 'timed_out' THEN 'timed out'
                                               WHEN 'missing' THEN 'is missing'
                                               ELSE o.event END);
                IF o.more_failures > 0 THEN
                    subject := subject || format(' (%s more failures)', o.more_failures);
                END IF;
                PERFORM _uso_tasks.uso_send_mail(o.recipient, subject, _uso_tasks.uso_alert_body(o), NULL::text);
            ELSE
                resp := _uso_tasks.uso_http_post(o.recipient,
                    (o.payload || jsonb_build_object('more_failures', o.more_failures,
                                                     'more_since', o.more_since))::text,
                    'application/json', NULL::jsonb, NULL::interval);
                IF resp.status NOT BETWEEN 200 AND 299 THEN
                    RAISE EXCEPTION 'webhook answered HTTP %', resp.status;
                END IF;
            END IF;
            UPDATE @extschema@.uso_alert_outbox x
               SET sent_at = clock_timestamp(), attempts = x.attempts + 1, last_attempt_at = clock_timestamp()
             WHERE x.id = o.id;
            sent := sent + 1;
        EXCEPTION WHEN OTHERS THEN
            -- Kept and retried: 10 s, doubling, at most an hour apart.
            UPDATE @extschema@.uso_alert_outbox x
               SET attempts = x.attempts + 1, last_attempt_at = clock_timestamp(),
                   last_error = _uso_tasks.uso_shorten(SQLERRM, 500),
                   deliver_after = clock_timestamp()
                       + least(interval '10 seconds' * power(2, least(x.attempts, 20)), interval '1 hour')
             WHERE x.id = o.id;
        END;
    END LOOP;
    RETURN sent;
END
$$;
COMMENT ON FUNCTION @extschema@.uso_deliver_alerts(integer) IS
    'Announces tasks gone missing, then sends up to max_alerts due alerts of the outbox (mail, webhook); a failed delivery is retried with backoff. Returns how many were sent. The built-in task uso_deliver_alerts calls it every 10 seconds.';
REVOKE EXECUTE ON FUNCTION @extschema@.uso_deliver_alerts(integer) FROM PUBLIC;


-- Scheduler status: read from shared memory (src/status.c).
CREATE FUNCTION _uso_tasks.uso_scheduler_status_raw(
    OUT database name, OUT pid integer, OUT started_at timestamptz, OUT last_loop_at timestamptz,
    OUT tasks_loaded integer, OUT runs_queued integer, OUT runs_running integer,
    OUT workers_busy integer, OUT workers_idle integer, OUT next_wakeup timestamptz, OUT state text)
    RETURNS SETOF record
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'uso_scheduler_status';
COMMENT ON FUNCTION _uso_tasks.uso_scheduler_status_raw() IS
    'The schedulers in shared memory, and this database''s even when it has none; read through uso_scheduler_status.';

CREATE VIEW @extschema@.uso_scheduler_status AS
SELECT s.database, s.pid, s.started_at, s.last_loop_at,
       extract(epoch FROM clock_timestamp() - s.last_loop_at) AS heartbeat_age,
       s.tasks_loaded, s.runs_queued, s.runs_running, s.workers_busy, s.workers_idle,
       s.next_wakeup, s.state
FROM _uso_tasks.uso_scheduler_status_raw() s;
COMMENT ON VIEW @extschema@.uso_scheduler_status IS 'One row per database that has (or should have) a uso_tasks scheduler: its process, heartbeat, load and state.';
COMMENT ON COLUMN @extschema@.uso_scheduler_status.database IS 'The database.';
COMMENT ON COLUMN @extschema@.uso_scheduler_status.pid IS 'Process id of its scheduler; NULL when none runs.';
COMMENT ON COLUMN @extschema@.uso_scheduler_status.started_at IS 'When that scheduler started.';
COMMENT ON COLUMN @extschema@.uso_scheduler_status.last_loop_at IS 'Heartbeat: when its loop last went round (at least every 5 seconds, also when idle).';
COMMENT ON COLUMN @extschema@.uso_scheduler_status.heartbeat_age IS 'Seconds since last_loop_at.';
COMMENT ON COLUMN @extschema@.uso_scheduler_status.tasks_loaded IS 'Tasks the scheduler has loaded.';
COMMENT ON COLUMN @extschema@.uso_scheduler_status.runs_queued IS 'Runs it holds that wait for their time or a worker.';
COMMENT ON COLUMN @extschema@.uso_scheduler_status.runs_running IS 'Runs it has handed to workers.';
COMMENT ON COLUMN @extschema@.uso_scheduler_status.workers_busy IS 'Executor workers of this database running a task.';
COMMENT ON COLUMN @extschema@.uso_scheduler_status.workers_idle IS 'Executor workers of this database waiting for work.';
COMMENT ON COLUMN @extschema@.uso_scheduler_status.next_wakeup IS 'When the scheduler next wakes up by itself (a due run or the heartbeat).';
COMMENT ON COLUMN @extschema@.uso_scheduler_status.state IS 'running, starting, or stopped: <reason>.';
REVOKE EXECUTE ON FUNCTION _uso_tasks.uso_scheduler_status_raw() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION _uso_tasks.uso_scheduler_status_raw() TO uso_admin, pg_monitor;
REVOKE ALL ON @extschema@.uso_scheduler_status FROM PUBLIC;
GRANT SELECT ON @extschema@.uso_scheduler_status TO uso_admin, pg_monitor;


-- Metrics (contrib/prometheus/queries.yaml): the monitoring role reads every
-- task's numbers, never commands, config or messages.  These views run as
-- their owner (the extension's, so row-level security does not apply) and are
-- readable by superusers, uso_admin and pg_monitor only.
CREATE VIEW @extschema@.uso_metrics_tasks AS
SELECT current_database() AS database, t.name AS task,
       coalesce(s.runs_succeeded, 0) AS runs_succeeded, coalesce(s.runs_failed, 0) AS runs_failed,
       coalesce(s.runs_timed_out, 0) AS runs_timed_out, coalesce(s.runs_cancelled, 0) AS runs_cancelled,
       coalesce(s.runs_skipped, 0) AS runs_skipped,
       coalesce(s.failing, false) AS failing,
       coalesce(s.duration_count, 0) AS duration_count, coalesce(s.duration_sum, 0) AS duration_sum,
       coalesce(s.lateness_count, 0) AS lateness_count, coalesce(s.lateness_sum, 0) AS lateness_sum,
       coalesce(s.recent_durations, '{}') AS recent_durations,
       coalesce(s.recent_lateness, '{}') AS recent_lateness
FROM @extschema@.uso_task t
LEFT JOIN @extschema@.uso_task_stats s ON s.task_id = t.id;
COMMENT ON VIEW @extschema@.uso_metrics_tasks IS 'Per-task counters and recent statistics for the monitoring role (uso_admin, pg_monitor).';
COMMENT ON COLUMN @extschema@.uso_metrics_tasks.database IS 'This database.';
COMMENT ON COLUMN @extschema@.uso_metrics_tasks.task IS 'Task name.';
COMMENT ON COLUMN @extschema@.uso_metrics_tasks.runs_succeeded IS 'Successful runs, ever.';
COMMENT ON COLUMN @extschema@.uso_metrics_tasks.runs_failed IS 'Failed runs, ever.';
COMMENT ON COLUMN @extschema@.uso_metrics_tasks.runs_timed_out IS 'Timed-out runs, ever.';
COMMENT ON COLUMN @extschema@.uso_metrics_tasks.runs_cancelled IS 'Cancelled runs, ever.';
COMMENT ON COLUMN @extschema@.uso_metrics_tasks.runs_skipped IS 'Skipped slots, ever.';
COMMENT ON COLUMN @extschema@.uso_metrics_tasks.failing IS 'Its last run failed for good.';
COMMENT ON COLUMN @extschema@.uso_metrics_tasks.duration_count IS 'Runs with a duration, ever.';
COMMENT ON COLUMN @extschema@.uso_metrics_tasks.duration_sum IS 'Their total duration in seconds.';
COMMENT ON COLUMN @extschema@.uso_metrics_tasks.lateness_count IS 'Runs with a start lateness, ever.';
COMMENT ON COLUMN @extschema@.uso_metrics_tasks.lateness_sum IS 'Their total lateness in seconds.';
COMMENT ON COLUMN @extschema@.uso_metrics_tasks.recent_durations IS 'Durations of the last 100 runs (seconds).';
COMMENT ON COLUMN @extschema@.uso_metrics_tasks.recent_lateness IS 'Start lateness of the last 100 runs with a due time (seconds).';
REVOKE ALL ON @extschema@.uso_metrics_tasks FROM PUBLIC;
GRANT SELECT ON @extschema@.uso_metrics_tasks TO uso_admin, pg_monitor;
