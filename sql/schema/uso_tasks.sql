-- uso_tasks: the schema part of the install script (tables, sequences,
-- types, indexes, table privileges): what an update cannot simply run again.
-- Each table is defined here in its current shape; an update brings an older
-- catalog to it with a hand-written delta (sql/updates/uso_tasks--X--Y.sql).
-- Everything that can run again (functions, views, triggers, policies,
-- comments, grants on functions and views) is in the code parts,
-- sql/install/*.sql, which every update script runs in full (see Makefile).
-- Table privileges are here, not there: a DBA may narrow them (README,
-- "Security"), and an update must not widen them again.
\echo Use "CREATE EXTENSION uso_tasks" to load this file. \quit
SET LOCAL search_path = pg_catalog, pg_temp;

-- The engine's internals (trigger functions, the helpers its superuser and
-- SECURITY DEFINER code calls, the bodies of the API functions) live in a
-- schema of their own, which only the extension's owner may create in: no
-- role can plant an overload there that a call of ours would pick.  The API
-- stays in @extschema@ (docs/security.md, "The private schema").  USAGE for
-- every role: the API functions run as their caller and call these.
CREATE SCHEMA _uso_tasks;
COMMENT ON SCHEMA _uso_tasks IS 'Internal objects of uso_tasks (trigger functions, helpers); not an API: they change without notice.';
GRANT USAGE ON SCHEMA _uso_tasks TO PUBLIC;

CREATE TABLE @extschema@.uso_task (
    id            bigserial PRIMARY KEY,
    name          text NOT NULL,
    description   text,
    category      text,
    schedule      text NOT NULL,
    command       text NOT NULL,
    config        jsonb NOT NULL DEFAULT '{}',
    database      name,
    username      name NOT NULL DEFAULT CURRENT_USER,
    enabled       boolean NOT NULL DEFAULT true,
    timezone      text,
    timeout       interval,
    max_retries   integer NOT NULL DEFAULT 0,
    retry_delay   interval NOT NULL DEFAULT '1 minute',
    retry_after   interval NOT NULL DEFAULT '1 day',
    keep_runs     integer NOT NULL DEFAULT 100,
    overlap       text NOT NULL DEFAULT 'skip',
    misfire       text NOT NULL DEFAULT 'run_once',
    created_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    builtin       boolean NOT NULL DEFAULT false,
    last_run_at   timestamptz,
    next_run_at   timestamptz,
    -- 60_cron.sql: jobs created by cron.schedule(schedule, command) have no name.
    cron_unnamed  boolean NOT NULL DEFAULT false,
    -- 90_packs.sql: the extension (task pack) that registered the task.
    extension     name,
    -- 95_operations.sql: alerts and the history of high-frequency tasks.
    alert_mail_to text,
    record_runs   text NOT NULL DEFAULT 'all',
    -- 96_chains.sql: the task a follower follows ('after <task>'); no foreign
    -- key: a follower of a built-in task must survive pg_dump, which leaves
    -- built-in rows out (they are registered again, maybe under other ids).
    follows_task_id bigint,
    follows_on    text,
    -- 98_schedule_grid.sql: the anchor of an interval schedule's grid.
    schedule_anchor timestamptz,
    -- 96b_task_database.sql: the OID of the database a task names.
    database_oid  oid,
    CONSTRAINT uso_task_name_key UNIQUE (name),
    CONSTRAINT uso_task_name_check CHECK (name <> '' AND pg_catalog.length(name) <= 200),
    CONSTRAINT uso_task_command_check CHECK (command <> ''),
    CONSTRAINT uso_task_config_check CHECK (pg_catalog.jsonb_typeof(config) = 'object'),
    CONSTRAINT uso_task_timeout_check CHECK (timeout >= '0'::interval),
    CONSTRAINT uso_task_max_retries_check CHECK (max_retries BETWEEN 0 AND 100),
    CONSTRAINT uso_task_retry_delay_check CHECK (retry_delay >= '0'::interval),
    CONSTRAINT uso_task_retry_after_check CHECK (retry_after > '0'::interval),
    CONSTRAINT uso_task_keep_runs_check CHECK (keep_runs BETWEEN 1 AND 1000000),
    CONSTRAINT uso_task_overlap_check CHECK (overlap IN ('skip', 'queue', 'parallel')),
    CONSTRAINT uso_task_misfire_check CHECK (misfire IN ('run_once', 'skip')),
    CONSTRAINT uso_task_record_runs_check CHECK (record_runs IN ('all', 'failures')),
    CONSTRAINT uso_task_alert_mail_to_check
        CHECK (alert_mail_to <> '' AND pg_catalog.length(alert_mail_to) <= 1000
               AND alert_mail_to !~ '[[:cntrl:]]'),
    CONSTRAINT uso_task_follows_on_check CHECK (follows_on IN ('success', 'failure'))
);
-- No index on next_run_at: the scheduler keeps due times in memory, and its
-- per-run writes of next_run_at/last_run_at stay HOT updates (fillfactor).
ALTER TABLE @extschema@.uso_task SET (fillfactor = 80);
CREATE INDEX uso_task_username_idx ON @extschema@.uso_task (username);
CREATE INDEX uso_task_follows_idx ON @extschema@.uso_task (follows_task_id)
    WHERE follows_task_id IS NOT NULL;

CREATE FUNCTION _uso_tasks.uso_run_row_ok(text, text, integer, real, timestamptz) RETURNS boolean
    LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'uso_run_row_ok';
COMMENT ON FUNCTION _uso_tasks.uso_run_row_ok(text, text, integer, real, timestamptz) IS
    'Internal: the check constraint of uso_task_run (trigger, status, attempt, progress, finished_at).';

CREATE TABLE @extschema@.uso_task_run (
    id              bigserial PRIMARY KEY,
    task_id         bigint NOT NULL REFERENCES @extschema@.uso_task (id) ON DELETE CASCADE,
    trigger         text NOT NULL,
    scheduled_for   timestamptz,
    queued_at       timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    started_at      timestamptz,
    finished_at     timestamptz,
    status          text NOT NULL DEFAULT 'queued',
    attempt         integer NOT NULL DEFAULT 1,
    pid             integer,
    return_message  text,
    sqlstate        text,
    error_detail    text,
    error_hint      text,
    error_context   text,
    progress        real,
    command_tag     text,
    caused_by_run_id bigint,
    -- 96_chains.sql: the chain a chain run belongs to (no role writes them).
    chain_root_run_id bigint,
    chain_tasks     bigint[],
    -- trigger in (schedule, manual, retry, catchup, once, startup, chain); status in
    -- (queued, running, succeeded, failed, timed_out, cancelled, skipped);
    -- attempt >= 1; progress between 0 and 1; finished_at set exactly when
    -- the status is not queued or running.  One C call (src/run_check.c):
    -- the SQL form of these five checks is compiled again by every write.
    CONSTRAINT uso_task_run_row_check
        CHECK (_uso_tasks.uso_run_row_ok(trigger, status, attempt, progress, finished_at))
);
-- A scheduled slot is run at most once, even across crashes and restarts.
CREATE UNIQUE INDEX uso_task_run_slot_key ON @extschema@.uso_task_run (task_id, scheduled_for)
    WHERE trigger IN ('schedule', 'catchup');
CREATE INDEX uso_task_run_task_idx ON @extschema@.uso_task_run (task_id, id DESC);
CREATE INDEX uso_task_run_open_idx ON @extschema@.uso_task_run (status) WHERE finished_at IS NULL;
CREATE INDEX uso_task_run_finished_idx ON @extschema@.uso_task_run (finished_at);

CREATE TABLE @extschema@.uso_task_log (
    run_id     bigint NOT NULL REFERENCES @extschema@.uso_task_run (id) ON DELETE CASCADE,
    seq        integer NOT NULL,
    logged_at  timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    level      text NOT NULL,
    message    text NOT NULL,
    PRIMARY KEY (run_id, seq),
    CONSTRAINT uso_task_log_level_check
        CHECK (level IN ('DEBUG', 'LOG', 'INFO', 'NOTICE', 'WARNING', 'ERROR'))
);

-- pg_dump keeps user tasks and their history.  Built-in tasks are left out:
-- CREATE EXTENSION on restore registers them again (with new ids).
SELECT pg_catalog.pg_extension_config_dump('@extschema@.uso_task', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.uso_task_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.uso_task_run',
    'WHERE task_id IN (SELECT t.id FROM @extschema@.uso_task t WHERE NOT t.builtin)');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.uso_task_run_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.uso_task_log',
    'WHERE run_id IN (SELECT r.id FROM @extschema@.uso_task_run r '
    'JOIN @extschema@.uso_task t ON t.id = r.task_id WHERE NOT t.builtin)');

-- Counters survive retention purges and record_runs = 'failures': they are
-- kept here, one row per task, folded in batches from uso_run_outcome by
-- uso_fold_outcomes() (the scheduler, uso_deliver_alerts), never by a run's
-- own transaction: no row here is written by every run end.  No foreign key:
-- its check would lock the task row, and a role holding its own task row
-- would stall the fold for everyone; a deleted task's row is removed by the
-- fold (and hidden by the policy until then).
CREATE TABLE @extschema@.uso_task_stats (
    task_id           bigint PRIMARY KEY,
    runs_succeeded    bigint NOT NULL DEFAULT 0,
    runs_failed       bigint NOT NULL DEFAULT 0,
    runs_timed_out    bigint NOT NULL DEFAULT 0,
    runs_cancelled    bigint NOT NULL DEFAULT 0,
    runs_skipped      bigint NOT NULL DEFAULT 0,
    last_status       text,
    last_finished_at  timestamptz,
    last_success_at   timestamptz,
    last_failure_at   timestamptz,
    duration_count    bigint NOT NULL DEFAULT 0,
    duration_sum      float8 NOT NULL DEFAULT 0,
    lateness_count    bigint NOT NULL DEFAULT 0,
    lateness_sum      float8 NOT NULL DEFAULT 0,
    recent_durations  float8[] NOT NULL DEFAULT '{}',
    recent_lateness   float8[] NOT NULL DEFAULT '{}',
    failing           boolean NOT NULL DEFAULT false,
    alerted           boolean NOT NULL DEFAULT false,
    missing_alerted   boolean NOT NULL DEFAULT false,
    alert_last_at     timestamptz
) WITH (fillfactor = 70);

-- The outbox: an alert is a row written by the fold of the run ends
-- (uso_fold_outcomes), delivered later by the procedure uso_deliver_alerts
-- (a built-in task), so neither the scheduler nor a run ever waits for a
-- mail server.  Rows are kept after delivery, as the record of what was
-- sent; the task may be gone by then.
CREATE TABLE @extschema@.uso_alert_outbox (
    id              bigserial PRIMARY KEY,
    task_id         bigint NOT NULL,
    task_name       text NOT NULL,
    username        name NOT NULL,
    run_id          bigint,
    event           text NOT NULL,
    channel         text NOT NULL,
    recipient       text NOT NULL,
    payload         jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    deliver_after   timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    more_failures   integer NOT NULL DEFAULT 0,
    more_since      timestamptz,
    attempts        integer NOT NULL DEFAULT 0,
    last_attempt_at timestamptz,
    last_error      text,
    sent_at         timestamptz,
    claimed_by      integer,
    claimed_at      timestamptz,
    suppressed      boolean NOT NULL DEFAULT false,
    CONSTRAINT uso_alert_outbox_event_check
        CHECK (event IN ('failed', 'timed_out', 'missing', 'recovered')),
    CONSTRAINT uso_alert_outbox_channel_check CHECK (channel IN ('mail', 'webhook'))
);
CREATE INDEX uso_alert_outbox_pending_idx ON @extschema@.uso_alert_outbox (deliver_after)
    WHERE sent_at IS NULL;
CREATE INDEX uso_alert_outbox_task_idx ON @extschema@.uso_alert_outbox (task_id, id DESC);
CREATE INDEX uso_alert_outbox_username_idx ON @extschema@.uso_alert_outbox (username, created_at);

-- Run ends to fold into uso_task_stats and the alert decisions: one row
-- inserted by the transaction that records the end (so it is there exactly
-- when the end committed), deleted by the fold that counts it.  Append-only
-- and without an index, so a run end touches no row or index page that
-- another run end needs.
CREATE TABLE @extschema@.uso_run_outcome (
    run_id          bigint NOT NULL,
    task_id         bigint NOT NULL,
    status          text NOT NULL,
    final           boolean NOT NULL,
    scheduled_for   timestamptz,
    started_at      timestamptz,
    finished_at     timestamptz NOT NULL,
    message         text,
    sqlstate        text
);

-- One fold at a time: a fold takes this row's lock or, when another fold
-- has it, does nothing (the next one counts what is left).  No role but the
-- extension's owner can lock it (no privilege on it is granted).
CREATE TABLE @extschema@.uso_fold_state (
    folded_at timestamptz
);
INSERT INTO @extschema@.uso_fold_state VALUES (NULL);

-- 96_chains.sql: no foreign key, for the same reason as follows_task_id.
CREATE TABLE @extschema@.uso_chain_pending (
    caused_by_run_id bigint NOT NULL,
    task_id          bigint NOT NULL,
    predecessor_id   bigint NOT NULL,
    since            timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    chain_root_run_id bigint NOT NULL,
    chain_tasks      bigint[] NOT NULL,
    PRIMARY KEY (caused_by_run_id, task_id)
);

CREATE TYPE @extschema@.uso_http_response AS (
    status  integer,
    headers jsonb,
    body    text
);

-- Row-level security (the policies are in the code parts).
ALTER TABLE @extschema@.uso_task ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.uso_task_run ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.uso_task_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.uso_task_stats ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.uso_alert_outbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.uso_run_outcome ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.uso_fold_state ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.uso_chain_pending ENABLE ROW LEVEL SECURITY;

GRANT SELECT ON @extschema@.uso_task, @extschema@.uso_task_run, @extschema@.uso_task_log TO PUBLIC;
-- Writes are open to every role: the trigger and row-level security decide.
-- Scheduler state (id, created_at, last_run_at, next_run_at) is not writable.
GRANT INSERT (name, description, category, schedule, command, config, database, username,
              enabled, timezone, timeout, max_retries, retry_delay, retry_after, keep_runs,
              overlap, misfire, cron_unnamed, alert_mail_to, record_runs),
      UPDATE (name, description, category, schedule, command, config, database, username,
              enabled, timezone, timeout, max_retries, retry_delay, retry_after, keep_runs,
              overlap, misfire, alert_mail_to, record_runs),
      DELETE
    ON @extschema@.uso_task TO PUBLIC;
GRANT USAGE ON SEQUENCE @extschema@.uso_task_id_seq TO PUBLIC;
-- pg_cron lets every role delete its own run history (60_cron.sql); the
-- policies keep other roles' runs and runs still in use by a worker.
GRANT DELETE ON @extschema@.uso_task_run TO PUBLIC;
GRANT SELECT ON @extschema@.uso_task_stats TO PUBLIC;
REVOKE ALL ON @extschema@.uso_alert_outbox FROM PUBLIC;
GRANT SELECT ON @extschema@.uso_alert_outbox TO PUBLIC;
REVOKE ALL ON @extschema@.uso_run_outcome, @extschema@.uso_fold_state FROM PUBLIC;
