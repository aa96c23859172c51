-- uso_tasks: operations (issue 12): per-task counters and statistics, failure
-- events (NOTIFY, a durable alert outbox delivered by a built-in task), log
-- lines, history of high-frequency tasks, the scheduler status view and the
-- views the Prometheus exporter reads (contrib/prometheus/queries.yaml).
--
-- One trigger on uso_task_run sees every run end, whoever records it (the
-- executor in the run's own transaction, the scheduler closing a run a worker
-- could not, uso_cancel()), and appends it to uso_run_outcome in that
-- transaction: so every end is counted exactly once, when that record
-- commits.  The counters, windows and alert decisions are derived from that
-- queue in batches, off the run's path (uso_fold_outcomes): a run end writes
-- no row that another run end or another role's lock can hold up.

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

COMMENT ON TABLE @extschema@.uso_run_outcome IS 'Internal: run ends not yet counted in uso_task_stats (uso_fold_outcomes() folds and deletes them).';
COMMENT ON COLUMN @extschema@.uso_run_outcome.run_id IS 'The run.';
COMMENT ON COLUMN @extschema@.uso_run_outcome.task_id IS 'Its task.';
COMMENT ON COLUMN @extschema@.uso_run_outcome.status IS 'How it ended.';
COMMENT ON COLUMN @extschema@.uso_run_outcome.final IS 'Failed or timed out after its last retry.';
COMMENT ON COLUMN @extschema@.uso_run_outcome.scheduled_for IS 'Its slot, for the lateness.';
COMMENT ON COLUMN @extschema@.uso_run_outcome.started_at IS 'When it started.';
COMMENT ON COLUMN @extschema@.uso_run_outcome.finished_at IS 'When it ended.';
COMMENT ON COLUMN @extschema@.uso_run_outcome.message IS 'Its message (cut to 1000 characters), for the alert.';
COMMENT ON COLUMN @extschema@.uso_run_outcome.sqlstate IS 'Its SQLSTATE, for the alert.';
COMMENT ON TABLE @extschema@.uso_fold_state IS 'Internal: one row, locked by the fold of uso_run_outcome that runs; when the last fold ended.';
COMMENT ON COLUMN @extschema@.uso_fold_state.folded_at IS 'When the last fold ended.';

COMMENT ON TABLE @extschema@.uso_alert_outbox IS 'Alerts to deliver (mail, webhook) and delivered: written by the fold of the run ends, sent by the procedure uso_deliver_alerts.';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.id IS 'Alert id.';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.task_id IS 'The task (it may have been deleted since).';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.task_name IS 'Its name when the alert was raised.';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.username IS 'Its owner then: who may see the alert (row-level security).';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.run_id IS 'The run (the last one, for an alert that gathers several failures); NULL for missing.';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.event IS 'failed, timed_out (after the last retry), missing, recovered.';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.channel IS 'mail or webhook.';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.recipient IS 'Comma-separated addresses (mail), or the webhook URL redacted (scheme, host, port): delivery posts to the current uso_tasks.alert_webhook_url.';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.payload IS 'The event (task, task_id, run_id, status, database, message, sqlstate, finished_at): the webhook''s body; NOTIFY uso_task_events carries only its ids.';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.created_at IS 'When the event happened.';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.deliver_after IS 'Not sent before: the end of the alert interval for gathered failures, or the next retry after a failed delivery.';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.more_failures IS 'Failures gathered into this alert by the rate limit ("N more failures since ...").';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.more_since IS 'When the first of them happened.';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.attempts IS 'Delivery attempts so far.';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.last_attempt_at IS 'When delivery was last tried.';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.last_error IS 'Why the last attempt failed; retried with backoff (10 s doubling, at most 1 hour), never dropped.';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.sent_at IS 'When it was delivered; NULL while pending.';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.claimed_by IS 'Process id of the delivery sending it now; a claim whose process is gone is taken over.';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.claimed_at IS 'When that delivery claimed it.';
COMMENT ON COLUMN @extschema@.uso_alert_outbox.suppressed IS 'Not sent: the owner''s tasks had raised uso_tasks.alert_max_per_role alerts within uso_tasks.alert_interval (last_error says so).';
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
            WHEN o.suppressed THEN 'suppressed'
            WHEN o.claimed_by IS NOT NULL THEN 'sending'
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
COMMENT ON COLUMN @extschema@.uso_alerts.state IS 'pending (not tried yet), sending, failed (last delivery failed, retried at deliver_after), sent, suppressed (over the owner''s alert cap, not sent).';
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

-- The addresses of a comma-separated list, trimmed, empty ones dropped.
CREATE FUNCTION _uso_tasks.uso_mail_list(list text) RETURNS text[]
    LANGUAGE sql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT coalesce(array_agg(btrim(a) ORDER BY n) FILTER (WHERE btrim(a) <> ''), '{}')
          FROM unnest(string_to_array(list, ',')) WITH ORDINALITY AS x(a, n) $$;
COMMENT ON FUNCTION _uso_tasks.uso_mail_list(text) IS
    'Internal: the addresses of a comma-separated list, trimmed, without empty ones.';

-- A task's alert_mail_to names at most uso_tasks.alert_max_recipients
-- addresses: one row must not turn an alert into a mass mailing.
CREATE FUNCTION _uso_tasks.uso_task_check_alert_mail_to() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cap constant integer := _uso_tasks.uso_setting('uso_tasks.alert_max_recipients', '10')::integer;
    n   constant integer := cardinality(_uso_tasks.uso_mail_list(NEW.alert_mail_to));
BEGIN
    IF n > cap THEN
        RAISE EXCEPTION 'alert_mail_to names % addresses, more than the % allowed', n, cap
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Mail a list address instead, or ask an administrator to raise uso_tasks.alert_max_recipients.';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION _uso_tasks.uso_task_check_alert_mail_to() IS
    'Trigger: refuses an alert_mail_to with more addresses than uso_tasks.alert_max_recipients.';
CREATE TRIGGER uso_task_check_alert_mail_to
    BEFORE INSERT OR UPDATE OF alert_mail_to ON @extschema@.uso_task
    FOR EACH ROW WHEN (NEW.alert_mail_to IS NOT NULL)
    EXECUTE FUNCTION _uso_tasks.uso_task_check_alert_mail_to();

-- Queue the mail and webhook alerts of an event, under the rate limits.
-- Caller: uso_fold_outcomes, which holds the fold lock (so s is current and
-- no other transaction writes it).  Never waits for a row lock: an alert
-- being delivered is left alone and the event opens a new one.
CREATE FUNCTION _uso_tasks.uso_queue_alert(t @extschema@.uso_task, s @extschema@.uso_task_stats,
    event text, run_id bigint, payload jsonb) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cap      constant integer := _uso_tasks.uso_setting('uso_tasks.alert_max_recipients', '10')::integer;
    own      constant text[] := _uso_tasks.uso_mail_list(t.alert_mail_to);
    mail_to  text := nullif(array_to_string(
                       _uso_tasks.uso_mail_list(_uso_tasks.uso_setting('uso_tasks.alert_mail_to', ''))
                       || own[1:cap], ', '), '');
    hook     constant text := nullif(_uso_tasks.uso_setting('uso_tasks.alert_webhook_url', ''), '');
    interval_ constant interval := _uso_tasks.uso_setting('uso_tasks.alert_interval', '900s')::interval;
    per_role constant integer := _uso_tasks.uso_setting('uso_tasks.alert_max_per_role', '50')::integer;
    now_     constant timestamptz := clock_timestamp();
    failure  constant integer := (event IN ('failed', 'timed_out'))::integer;
    gather   constant boolean := s.alert_last_at IS NOT NULL AND now_ < s.alert_last_at + interval_;
    channel_ text;
    target   text;
    digest   bigint;
    opened   boolean := false;
    over     boolean;
BEGIN
    IF mail_to IS NULL AND hook IS NULL THEN
        RETURN;
    END IF;
    -- (FOR ... IN SELECT, not FOREACH: pgspot cannot parse FOREACH.)
    FOR channel_ IN SELECT c FROM unnest(ARRAY['mail', 'webhook']) AS c LOOP
        -- The webhook URL is the superuser's secret, and the task's owner reads
        -- the outbox: the row keeps it redacted, delivery posts to the setting.
        target := CASE channel_ WHEN 'mail' THEN mail_to ELSE _uso_tasks.uso_redact_url(hook) END;
        IF target IS NULL THEN CONTINUE; END IF;
        -- Every kind is rate-limited: within an interval, events go into one
        -- alert per channel, sent at its end (which opens the next interval);
        -- it reports the latest event and counts the failures gathered.
        IF gather THEN
            SELECT o.id INTO digest FROM @extschema@.uso_alert_outbox o
             WHERE o.task_id = t.id AND o.channel = channel_ AND o.sent_at IS NULL
               AND o.more_since IS NOT NULL AND o.attempts = 0 AND o.claimed_by IS NULL
               AND NOT o.suppressed
             ORDER BY o.id DESC LIMIT 1
             FOR UPDATE SKIP LOCKED;
            IF FOUND THEN
                UPDATE @extschema@.uso_alert_outbox o
                   SET more_failures = o.more_failures + failure, run_id = uso_queue_alert.run_id,
                       payload = uso_queue_alert.payload, event = uso_queue_alert.event
                 WHERE o.id = digest;
                CONTINUE;
            END IF;
        END IF;
        -- One owner's tasks raise at most per_role alerts per interval; the
        -- rest are kept, marked suppressed, and not sent.
        SELECT count(*) >= per_role INTO over FROM @extschema@.uso_alert_outbox o
         WHERE o.username = t.username AND o.created_at > now_ - interval_ AND NOT o.suppressed;
        INSERT INTO @extschema@.uso_alert_outbox
            (task_id, task_name, username, run_id, event, channel, recipient, payload,
             deliver_after, more_failures, more_since, suppressed, last_error)
        VALUES (t.id, t.name, t.username, run_id, event, channel_, target, payload,
                CASE WHEN gather THEN s.alert_last_at + interval_ ELSE now_ END,
                CASE WHEN gather THEN failure ELSE 0 END, CASE WHEN gather THEN now_ END,
                over, CASE WHEN over THEN format('not sent: the tasks of role %s raised %s alerts within uso_tasks.alert_interval (uso_tasks.alert_max_per_role)',
                                                 t.username, per_role) END);
        opened := true;
    END LOOP;
    IF opened THEN
        UPDATE @extschema@.uso_task_stats x
           SET alert_last_at = CASE WHEN gather THEN s.alert_last_at + interval_ ELSE now_ END
         WHERE x.task_id = t.id;
    END IF;
END
$$;
COMMENT ON FUNCTION _uso_tasks.uso_queue_alert(@extschema@.uso_task, @extschema@.uso_task_stats, text, bigint, jsonb) IS
    'Internal: writes the outbox rows of an event (mail to uso_tasks.alert_mail_to and at most uso_tasks.alert_max_recipients of the task''s alert_mail_to, webhook to uso_tasks.alert_webhook_url), gathering the events within uso_tasks.alert_interval into one alert and marking suppressed those beyond uso_tasks.alert_max_per_role per owner.';
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

-- The run's own transaction writes its outcome row and what must commit with
-- it (NOTIFY of a final failure, the LOG line, the followers' runs,
-- record_runs); counting and alerting are the fold's.
CREATE FUNCTION _uso_tasks.uso_run_ended() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    -- Its plans outlive the sizes they were made for (a long-lived executor):
    -- a task lookup made while the table was small must not stay a scan of
    -- every row (src/spi_plans.c).
    SET enable_seqscan = off SET jit = off
    AS $$
DECLARE
    t          @extschema@.uso_task;
    final      boolean;
    notify     constant text := _uso_tasks.uso_setting('uso_tasks.notify_events', 'failures');
    log_runs   constant text := _uso_tasks.uso_setting('uso_tasks.log_runs', 'failures');
BEGIN
    SELECT * INTO t FROM @extschema@.uso_task x WHERE x.id = NEW.task_id;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    final := NEW.status IN ('failed', 'timed_out') AND NEW.attempt > t.max_retries;

    INSERT INTO @extschema@.uso_run_outcome
        (run_id, task_id, status, final, scheduled_for, started_at, finished_at, message, sqlstate)
    VALUES (NEW.id, NEW.task_id, NEW.status, final, NEW.scheduled_for, NEW.started_at, NEW.finished_at,
            _uso_tasks.uso_shorten(NEW.return_message, 1000), NEW.sqlstate);

    -- A recovery is announced by the fold, which knows whether a failure was.
    IF notify = 'all' OR (notify = 'failures' AND final) THEN
        -- Every role of the database may LISTEN: the payload carries only
        -- ids, and a listener reads the rest through uso_task_runs, under
        -- row-level security (a message may quote data of the task's owner).
        PERFORM pg_catalog.pg_notify('uso_task_events',
            pg_catalog.jsonb_build_object('task_id', t.id, 'run_id', NEW.id)::text);
    END IF;

    IF log_runs = 'all' OR (log_runs = 'failures' AND NEW.status IN ('failed', 'timed_out', 'cancelled')) THEN
        PERFORM _uso_tasks.uso_log_run(pg_catalog.current_database()::pg_catalog.text, t.name, NEW.id, NEW.status, NEW.sqlstate,
                                        NEW.return_message,
                                        extract(epoch FROM NEW.finished_at - NEW.started_at)::float8);
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
    'Trigger: a run ended: records it for the fold (uso_run_outcome), announces a final failure (NOTIFY uso_task_events), writes its LOG line, queues the runs of the tasks that follow it, and applies record_runs.';
REVOKE EXECUTE ON FUNCTION _uso_tasks.uso_run_ended() FROM PUBLIC;

CREATE TRIGGER uso_run_ended AFTER UPDATE OF finished_at ON @extschema@.uso_task_run
    FOR EACH ROW WHEN (OLD.finished_at IS NULL AND NEW.finished_at IS NOT NULL)
    EXECUTE FUNCTION _uso_tasks.uso_run_ended();
-- Runs recorded as already ended (skipped slots, tasks that cannot run).
CREATE TRIGGER uso_run_ended_insert AFTER INSERT ON @extschema@.uso_task_run
    FOR EACH ROW WHEN (NEW.finished_at IS NOT NULL)
    EXECUTE FUNCTION _uso_tasks.uso_run_ended();

-- uso_command_missing with the names looked up along path: the lookup runs
-- nothing, and the path is this function's only (a SET clause restores it).
CREATE FUNCTION _uso_tasks.uso_command_missing_in(command text, path text) RETURNS text
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    PERFORM pg_catalog.set_config('search_path', path, true);
    RETURN _uso_tasks.uso_command_missing(command);
END
$$;
COMMENT ON FUNCTION _uso_tasks.uso_command_missing_in(text, text) IS
    'Internal: uso_command_missing(command) with the names looked up along search_path path.';
REVOKE EXECUTE ON FUNCTION _uso_tasks.uso_command_missing_in(text, text) FROM PUBLIC;

-- The fold: counts the run ends of uso_run_outcome into uso_task_stats (set
-- based, one statement per batch) and decides their alerts, in the order the
-- runs ended, task by task.  With find_missing (uso_deliver_alerts) it also
-- announces the tasks whose command calls a function that is not there and
-- drops the counters of deleted tasks.  Called by the scheduler after run
-- ends (one batch of at most 20,000 per call), and by uso_deliver_alerts
-- (all of them).  Returns how many run ends it counted.
CREATE FUNCTION _uso_tasks.uso_fold_outcomes(find_missing boolean DEFAULT false) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET jit = off
    AS $$
DECLARE
    batch   @extschema@.uso_run_outcome[];
    total   integer := 0;
    e       @extschema@.uso_run_outcome;
    t       @extschema@.uso_task;
    s       @extschema@.uso_task_stats;
    c       record;
    event   text;
    payload jsonb;
    notify  constant text := _uso_tasks.uso_setting('uso_tasks.notify_events', 'failures');
BEGIN
    -- The scheduler's fold gives way to a running one (the next counts what
    -- is left); uso_deliver_alerts' waits for it, so that its search for
    -- missing tasks is never skipped.
    IF find_missing THEN
        PERFORM FROM @extschema@.uso_fold_state f FOR UPDATE;
    ELSE
        PERFORM FROM @extschema@.uso_fold_state f FOR UPDATE SKIP LOCKED;
        IF NOT FOUND THEN
            RETURN 0;
        END IF;
    END IF;
    LOOP
        WITH d AS (
            DELETE FROM @extschema@.uso_run_outcome q
             WHERE q.ctid = ANY (ARRAY(SELECT x.ctid FROM @extschema@.uso_run_outcome x LIMIT 20000))
            RETURNING q)
        SELECT array_agg(d.q) INTO batch FROM d;
        IF batch IS NULL THEN EXIT; END IF;
        total := total + cardinality(batch);

        INSERT INTO @extschema@.uso_task_stats (task_id)
        SELECT DISTINCT b.task_id FROM unnest(batch) b
        WHERE EXISTS (SELECT FROM @extschema@.uso_task x WHERE x.id = b.task_id)
        ON CONFLICT (task_id) DO NOTHING;

        UPDATE @extschema@.uso_task_stats x SET
            runs_succeeded = x.runs_succeeded + a.succeeded,
            runs_failed = x.runs_failed + a.failed,
            runs_timed_out = x.runs_timed_out + a.timed_out,
            runs_cancelled = x.runs_cancelled + a.cancelled,
            runs_skipped = x.runs_skipped + a.skipped,
            -- a batch may hold an end older than one already counted
            last_status = CASE WHEN x.last_finished_at IS NULL OR a.last_finished_at >= x.last_finished_at
                               THEN a.last_status ELSE x.last_status END,
            last_finished_at = greatest(x.last_finished_at, a.last_finished_at),
            last_success_at = greatest(x.last_success_at, a.last_success_at),
            last_failure_at = greatest(x.last_failure_at, a.last_failure_at),
            duration_count = x.duration_count + a.duration_count,
            duration_sum = x.duration_sum + a.duration_sum,
            lateness_count = x.lateness_count + a.lateness_count,
            lateness_sum = x.lateness_sum + a.lateness_sum,
            recent_durations = (x.recent_durations || a.durations)
                [greatest(cardinality(x.recent_durations) + cardinality(a.durations) - 99, 1):],
            recent_lateness = (x.recent_lateness || a.lateness)
                [greatest(cardinality(x.recent_lateness) + cardinality(a.lateness) - 99, 1):],
            failing = coalesce(a.failing, x.failing)
        FROM (SELECT b.task_id,
                     count(*) FILTER (WHERE b.status = 'succeeded') AS succeeded,
                     count(*) FILTER (WHERE b.status = 'failed') AS failed,
                     count(*) FILTER (WHERE b.status = 'timed_out') AS timed_out,
                     count(*) FILTER (WHERE b.status = 'cancelled') AS cancelled,
                     count(*) FILTER (WHERE b.status = 'skipped') AS skipped,
                     (array_agg(b.status ORDER BY b.finished_at DESC, b.run_id DESC))[1] AS last_status,
                     max(b.finished_at) AS last_finished_at,
                     max(b.finished_at) FILTER (WHERE b.status = 'succeeded') AS last_success_at,
                     max(b.finished_at) FILTER (WHERE b.status IN ('failed', 'timed_out')) AS last_failure_at,
                     count(b.duration) AS duration_count, coalesce(sum(b.duration), 0) AS duration_sum,
                     count(b.lateness) AS lateness_count, coalesce(sum(b.lateness), 0) AS lateness_sum,
                     coalesce(array_agg(b.duration ORDER BY b.finished_at, b.run_id)
                              FILTER (WHERE b.duration IS NOT NULL), '{}') AS durations,
                     coalesce(array_agg(b.lateness ORDER BY b.finished_at, b.run_id)
                              FILTER (WHERE b.lateness IS NOT NULL), '{}') AS lateness,
                     -- the last run that failed for good or succeeded says whether it is failing
                     (array_agg(b.final ORDER BY b.finished_at DESC, b.run_id DESC)
                          FILTER (WHERE b.final OR b.status = 'succeeded'))[1] AS failing
              FROM (SELECT u.task_id, u.run_id, u.status, u.final, u.finished_at,
                           extract(epoch FROM u.finished_at - u.started_at)::float8 AS duration,
                           CASE WHEN u.started_at IS NOT NULL AND u.scheduled_for IS NOT NULL
                                THEN greatest(extract(epoch FROM u.started_at - u.scheduled_for)::float8, 0)
                           END AS lateness
                    FROM unnest(batch) u) b
              GROUP BY b.task_id) a
        WHERE x.task_id = a.task_id;

        -- Alerts, in the order the runs ended: a final failure is one; a
        -- success after an announced failure is a recovery.  Only those
        -- runs are looked at, and the successes of tasks that may be alerted.
        FOR e IN SELECT u.* FROM unnest(batch) u
                 WHERE u.final
                    OR (u.status = 'succeeded'
                        AND (u.task_id IN (SELECT st.task_id FROM @extschema@.uso_task_stats st WHERE st.alerted)
                             OR u.task_id IN (SELECT v.task_id FROM unnest(batch) v WHERE v.final)))
                 ORDER BY u.task_id, u.finished_at, u.run_id LOOP
            SELECT * INTO s FROM @extschema@.uso_task_stats x WHERE x.task_id = e.task_id;
            IF NOT FOUND OR (NOT e.final AND NOT s.alerted) THEN CONTINUE; END IF;
            SELECT * INTO t FROM @extschema@.uso_task x WHERE x.id = e.task_id;
            IF NOT FOUND THEN CONTINUE; END IF;
            event := CASE WHEN e.final THEN e.status ELSE 'recovered' END;
            UPDATE @extschema@.uso_task_stats x SET alerted = e.final WHERE x.task_id = e.task_id;
            payload := _uso_tasks.uso_event_payload(t, event, e.run_id, e.message, e.sqlstate, e.finished_at);
            -- A final failure was announced by its run's own transaction.
            IF event = 'recovered' AND notify <> 'none' THEN
                PERFORM pg_catalog.pg_notify('uso_task_events',
                    pg_catalog.jsonb_build_object('task_id', t.id, 'run_id', e.run_id)::text);
            END IF;
            PERFORM _uso_tasks.uso_queue_alert(t, s, event, e.run_id, payload);
        END LOOP;
        -- The scheduler folds one batch per call, so that a backlog never
        -- holds up its loop: it calls again while batches come back full.
        IF NOT find_missing THEN EXIT; END IF;
    END LOOP;

    IF find_missing THEN
        -- Tasks whose command calls a function that is not there, once per
        -- episode: only a task whose state changed is written.  Names are
        -- looked up as a task's session would (the search_path this
        -- session started with), not with this function's.
        FOR c IN
            SELECT x AS task, m.missing FROM @extschema@.uso_task x
            LEFT JOIN @extschema@.uso_task_stats st ON st.task_id = x.id
            CROSS JOIN LATERAL (SELECT _uso_tasks.uso_command_missing_in(x.command,
                (SELECT g.reset_val FROM pg_settings g WHERE g.name = 'search_path')) AS missing) m
            WHERE x.enabled AND NOT x.builtin
              AND coalesce(x.database, current_database()) = current_database()
              AND (m.missing IS NOT NULL) <> coalesce(st.missing_alerted, false) LOOP
            t := c.task;
            INSERT INTO @extschema@.uso_task_stats (task_id) VALUES (t.id) ON CONFLICT DO NOTHING;
            UPDATE @extschema@.uso_task_stats x SET missing_alerted = (c.missing IS NOT NULL)
             WHERE x.task_id = t.id RETURNING * INTO s;
            IF c.missing IS NULL THEN CONTINUE; END IF;
            payload := _uso_tasks.uso_event_payload(t, 'missing', NULL,
                format('function %s does not exist', c.missing), '42883', clock_timestamp());
            IF notify <> 'none' THEN
                PERFORM pg_catalog.pg_notify('uso_task_events',
                    pg_catalog.jsonb_build_object('task_id', t.id, 'run_id', NULL::bigint)::text);
            END IF;
            PERFORM _uso_tasks.uso_queue_alert(t, s, 'missing', NULL, payload);
        END LOOP;
        DELETE FROM @extschema@.uso_task_stats x
         WHERE NOT EXISTS (SELECT FROM @extschema@.uso_task y WHERE y.id = x.task_id);
    END IF;
    UPDATE @extschema@.uso_fold_state f SET folded_at = clock_timestamp();
    RETURN total;
END
$$;
COMMENT ON FUNCTION _uso_tasks.uso_fold_outcomes(boolean) IS
    'Internal: counts the run ends of uso_run_outcome into uso_task_stats and queues their alerts in the order the runs ended; with find_missing also announces tasks gone missing and drops the counters of deleted tasks, waiting for a running fold; without, does nothing while another fold runs. Returns the run ends counted.';
REVOKE EXECUTE ON FUNCTION _uso_tasks.uso_fold_outcomes(boolean) FROM PUBLIC;

-- Delivery: the built-in task uso_deliver_alerts calls it every 10 seconds.
-- It claims one alert at a time and commits before it sends, so no lock is
-- held while a mail server or webhook takes its time (or never answers).
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

-- The oldest due alert that no live delivery holds and that no older unsent
-- alert of its task and channel precedes (alerts go out in the order of
-- their events, a retried one holding back the later ones), claimed for
-- this session and counted as an attempt; NULL when there is none.
CREATE FUNCTION _uso_tasks.uso_claim_alert(OUT id bigint, OUT channel text, OUT recipient text,
    OUT subject text, OUT body text)
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    o @extschema@.uso_alert_outbox;
BEGIN
    SELECT * INTO o FROM @extschema@.uso_alert_outbox x
     WHERE x.sent_at IS NULL AND NOT x.suppressed AND x.deliver_after <= clock_timestamp()
       AND (x.claimed_by IS NULL
            OR NOT EXISTS (SELECT FROM pg_catalog.pg_stat_activity a
                           WHERE a.pid = x.claimed_by AND a.backend_start <= x.claimed_at))
       AND NOT EXISTS (SELECT FROM @extschema@.uso_alert_outbox y
                       WHERE y.task_id = x.task_id AND y.channel = x.channel AND y.id < x.id
                         AND y.sent_at IS NULL AND NOT y.suppressed)
     ORDER BY x.id LIMIT 1
     FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    UPDATE @extschema@.uso_alert_outbox x
       SET claimed_by = pg_backend_pid(), claimed_at = clock_timestamp(),
           attempts = x.attempts + 1, last_attempt_at = clock_timestamp()
     WHERE x.id = o.id;
    id := o.id;
    channel := o.channel;
    recipient := CASE WHEN o.channel = 'webhook'
                      THEN nullif(_uso_tasks.uso_setting('uso_tasks.alert_webhook_url', ''), '')
                      ELSE o.recipient END;
    IF o.channel = 'mail' THEN
        subject := format('[uso_tasks] %s %s', o.task_name,
                          CASE o.event WHEN 'timed_out' THEN 'timed out'
                                       WHEN 'missing' THEN 'is missing'
                                       ELSE o.event END);
        IF o.more_failures > 0 THEN
            subject := subject || format(' (%s more failures)', o.more_failures);
        END IF;
        body := _uso_tasks.uso_alert_body(o);
    ELSE
        body := (o.payload || jsonb_build_object('more_failures', o.more_failures,
                                                 'more_since', o.more_since))::text;
    END IF;
END
$$;
COMMENT ON FUNCTION _uso_tasks.uso_claim_alert() IS
    'Internal (uso_deliver_alerts): claims the next alert to send, in the order of the events, and returns its channel, recipient, subject and body; NULL id when none is due.';
REVOKE EXECUTE ON FUNCTION _uso_tasks.uso_claim_alert() FROM PUBLIC;

-- Reads and locks nothing: called with no lock held, it may take as long as
-- the mail server or webhook does.
CREATE FUNCTION _uso_tasks.uso_send_alert(channel text, recipient text, subject text, body text)
    RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    resp @extschema@.uso_http_response;
BEGIN
    IF recipient IS NULL THEN
        RETURN format('uso_tasks.%s is not set any more: the alert is kept and tried again',
                      CASE channel WHEN 'mail' THEN 'alert_mail_to' ELSE 'alert_webhook_url' END);
    END IF;
    IF channel = 'mail' THEN
        PERFORM _uso_tasks.uso_send_mail(recipient, subject, body, NULL::text);
    ELSE
        resp := _uso_tasks.uso_http_post(recipient, body, 'application/json', NULL::jsonb, NULL::interval);
        IF resp.status NOT BETWEEN 200 AND 299 THEN
            RETURN format('webhook answered HTTP %s', resp.status);
        END IF;
    END IF;
    RETURN NULL;
EXCEPTION WHEN OTHERS THEN
    RETURN _uso_tasks.uso_shorten(SQLERRM, 500);
END
$$;
COMMENT ON FUNCTION _uso_tasks.uso_send_alert(text, text, text, text) IS
    'Internal (uso_deliver_alerts): sends one alert by mail or webhook; NULL when it went out, else why not.';
REVOKE EXECUTE ON FUNCTION _uso_tasks.uso_send_alert(text, text, text, text) FROM PUBLIC;

CREATE FUNCTION _uso_tasks.uso_alert_done(alert bigint, error text) RETURNS void
    LANGUAGE sql
    SET search_path = pg_catalog, pg_temp
    AS $$
UPDATE @extschema@.uso_alert_outbox x
   SET claimed_by = NULL, claimed_at = NULL,
       sent_at = CASE WHEN error IS NULL THEN clock_timestamp() END,
       last_error = coalesce(_uso_tasks.uso_shorten(error, 500), x.last_error),
       -- Kept and retried: 10 s, doubling, at most an hour apart.
       deliver_after = CASE WHEN error IS NULL THEN x.deliver_after
                            ELSE clock_timestamp() + least(interval '10 seconds'
                                     * power(2, least(x.attempts - 1, 20)), interval '1 hour') END
 WHERE x.id = alert AND x.claimed_by = pg_backend_pid()
$$;
COMMENT ON FUNCTION _uso_tasks.uso_alert_done(bigint, text) IS
    'Internal (uso_deliver_alerts): records how sending a claimed alert went (sent, or the error and the next try).';
REVOKE EXECUTE ON FUNCTION _uso_tasks.uso_alert_done(bigint, text) FROM PUBLIC;

-- A procedure, to commit between its steps (src/alert_delivery.c: in C, since
-- a PL/pgSQL procedure that commits cannot pin its search_path).
CREATE PROCEDURE @extschema@.uso_deliver_alerts(max_alerts integer DEFAULT 100, INOUT sent integer DEFAULT NULL)
    LANGUAGE c AS 'MODULE_PATHNAME', 'uso_deliver_alerts';
COMMENT ON PROCEDURE @extschema@.uso_deliver_alerts(integer, integer) IS
    'Counts the run ends not yet counted and announces tasks gone missing, then sends up to max_alerts due alerts of the outbox (mail, webhook), in the order of their events, committing before each send so that no lock is held while it waits; a failed delivery is retried with backoff. sent: how many went out. The built-in task uso_deliver_alerts calls it every 10 seconds.';
REVOKE EXECUTE ON PROCEDURE @extschema@.uso_deliver_alerts(integer, integer) FROM PUBLIC;
-- The built-in task's command calls this twin: no defaults, in a schema nobody
-- else writes, so no overload planted beside the public one can make the CALL
-- ambiguous.
CREATE PROCEDURE _uso_tasks.uso_deliver_alerts(max_alerts integer, INOUT sent integer)
    LANGUAGE c AS 'MODULE_PATHNAME', 'uso_deliver_alerts';
COMMENT ON PROCEDURE _uso_tasks.uso_deliver_alerts(integer, integer) IS
    'Internal: uso_deliver_alerts() for the built-in task''s command.';
REVOKE EXECUTE ON PROCEDURE _uso_tasks.uso_deliver_alerts(integer, integer) FROM PUBLIC;


-- Scheduler status: read from shared memory (src/status.c).
CREATE FUNCTION _uso_tasks.uso_scheduler_status_raw(
    OUT database name, OUT pid integer, OUT started_at timestamptz, OUT last_loop_at timestamptz,
    OUT tasks_loaded integer, OUT runs_queued integer, OUT runs_running integer,
    OUT workers_busy integer, OUT workers_idle integer, OUT next_wakeup timestamptz, OUT state text)
    RETURNS SETOF record
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'uso_scheduler_status';
COMMENT ON FUNCTION _uso_tasks.uso_scheduler_status_raw() IS
    'The schedulers in shared memory, and this database''s even when it has none; read through uso_scheduler_status.';

-- Whether this database's runs wait because no executor can start (the
-- admin view's status_detail says so for the tasks whose runs wait): a fact
-- of the server's configuration, nothing of any role's tasks.
CREATE FUNCTION _uso_tasks.uso_pool_starved() RETURNS boolean
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'uso_pool_starved';
COMMENT ON FUNCTION _uso_tasks.uso_pool_starved() IS
    'True while this database''s scheduler cannot start an executor: the postmaster has no background worker slot free (max_worker_processes).';

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
COMMENT ON COLUMN @extschema@.uso_scheduler_status.state IS 'running; starved: no background worker slot free (max_worker_processes), runs wait for an executor; starting; or stopped: <reason>.';
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
