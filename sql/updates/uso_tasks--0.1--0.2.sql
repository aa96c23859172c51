-- uso_tasks 0.1 -> 0.2: the schema delta (what sql/schema/uso_tasks.sql
-- changed since 0.1).  The update script is generated from it
-- (sql/updates/assemble): this, then the drop of 0.1's code, the code parts
-- of 0.2, then uso_tasks--0.1--0.2.post.sql (rows).  0.2 is not released:
-- this delta may still be rewritten.
\echo Use "ALTER EXTENSION uso_tasks UPDATE" to load this file. \quit
SET LOCAL search_path = pg_catalog, pg_temp;

-- The USO pack that 0.1 installed (schema uso, its tables, functions and 17
-- tasks) stays, with every row, and becomes extension uso_office: PostgreSQL
-- runs no CREATE EXTENSION inside an extension script, so the utility hook of
-- the library (src/office_adopt.c) does, right after this script, in the
-- same transaction: CREATE EXTENSION uso_office VERSION '0.1' (which moves
-- the pack's objects from uso_tasks to uso_office) and ALTER EXTENSION
-- uso_office UPDATE.  That hook is in the 0.2 library, so the server must
-- run it (be restarted after installing 0.2) before this update: checked
-- first, so that an ALTER run before the restart changes nothing and says so.
DO $$
BEGIN
    EXECUTE $f$CREATE FUNCTION @extschema@.uso_library_version() RETURNS text
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'uso_library_version'$f$;
EXCEPTION WHEN undefined_function THEN
    RAISE EXCEPTION 'the server runs an older uso_tasks library than this update needs'
        USING ERRCODE = 'object_not_in_prerequisite_state',
              HINT = 'Restart PostgreSQL after installing uso_tasks 0.2 (shared_preload_libraries loads the library at start), then run ALTER EXTENSION uso_tasks UPDATE again.';
END
$$;
COMMENT ON FUNCTION @extschema@.uso_library_version() IS
    'The catalog version the loaded uso_tasks library speaks; the scheduler and the API wait for pg_extension.extversion to equal it (ALTER EXTENSION uso_tasks UPDATE).';

-- The hook is there only when the library is preloaded (a library first
-- loaded by this script would come too late to run it after the script).
SELECT @extschema@.uso_assert_preloaded();

-- 0.2: the private schema (issue 21).
-- The engine's internals (trigger functions, the helpers its superuser and
-- SECURITY DEFINER code calls, the bodies of the API functions) live in a
-- schema of their own, which only the extension's owner may create in: no
-- role can plant an overload there that a call of ours would pick.  The API
-- stays in @extschema@ (docs/security.md, "The private schema").  USAGE for
-- every role: the API functions run as their caller and call these.
CREATE SCHEMA _uso_tasks;
COMMENT ON SCHEMA _uso_tasks IS 'Internal objects of uso_tasks (trigger functions, helpers); not an API: they change without notice.';
GRANT USAGE ON SCHEMA _uso_tasks TO PUBLIC;

------------------------------------------------------------------------------
-- uso_task: the columns 0.2 adds (in the order sql/schema/uso_tasks.sql
-- defines them), a task created without a database belongs to the database
-- it is stored in (NULL: the .post.sql part moves 0.1's rows to it).
ALTER TABLE @extschema@.uso_task ALTER COLUMN database DROP NOT NULL;
ALTER TABLE @extschema@.uso_task ALTER COLUMN database DROP DEFAULT;
ALTER TABLE @extschema@.uso_task
    ADD COLUMN extension name,
    ADD COLUMN alert_mail_to text,
    ADD COLUMN record_runs text NOT NULL DEFAULT 'all',
    ADD COLUMN follows_task_id bigint,
    ADD COLUMN follows_on text,
    ADD COLUMN schedule_anchor timestamptz,
    ADD COLUMN database_oid oid,
    ADD CONSTRAINT uso_task_record_runs_check CHECK (record_runs IN ('all', 'failures')),
    ADD CONSTRAINT uso_task_alert_mail_to_check
        CHECK (alert_mail_to <> '' AND pg_catalog.length(alert_mail_to) <= 1000
               AND alert_mail_to !~ '[[:cntrl:]]'),
    ADD CONSTRAINT uso_task_follows_on_check CHECK (follows_on IN ('success', 'failure'));
CREATE INDEX uso_task_follows_idx ON @extschema@.uso_task (follows_task_id)
    WHERE follows_task_id IS NOT NULL;
GRANT INSERT (alert_mail_to, record_runs), UPDATE (alert_mail_to, record_runs)
    ON @extschema@.uso_task TO PUBLIC;

-- uso_task_run: five SQL check constraints become one C call (issue 14:
-- every write compiled the SQL ones again); the run a chain run follows.
CREATE FUNCTION _uso_tasks.uso_run_row_ok(text, text, integer, real, timestamptz) RETURNS boolean
    LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'uso_run_row_ok';
COMMENT ON FUNCTION _uso_tasks.uso_run_row_ok(text, text, integer, real, timestamptz) IS
    'Internal: the check constraint of uso_task_run (trigger, status, attempt, progress, finished_at).';
ALTER TABLE @extschema@.uso_task_run
    DROP CONSTRAINT uso_task_run_trigger_check,
    DROP CONSTRAINT uso_task_run_status_check,
    DROP CONSTRAINT uso_task_run_attempt_check,
    DROP CONSTRAINT uso_task_run_progress_check,
    DROP CONSTRAINT uso_task_run_finished_check,
    ADD CONSTRAINT uso_task_run_row_check
        CHECK (_uso_tasks.uso_run_row_ok(trigger, status, attempt, progress, finished_at)),
    ADD COLUMN caused_by_run_id bigint,
    ADD COLUMN chain_root_run_id bigint,
    ADD COLUMN chain_tasks bigint[];

-- Tables new in 0.2 (as in sql/schema/uso_tasks.sql).
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

CREATE TABLE @extschema@.uso_chain_pending (
    caused_by_run_id bigint NOT NULL,
    task_id          bigint NOT NULL,
    predecessor_id   bigint NOT NULL,
    since            timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    chain_root_run_id bigint NOT NULL,
    chain_tasks      bigint[] NOT NULL,
    PRIMARY KEY (caused_by_run_id, task_id)
);
ALTER TABLE @extschema@.uso_task_stats ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.uso_alert_outbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.uso_run_outcome ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.uso_fold_state ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.uso_chain_pending ENABLE ROW LEVEL SECURITY;
GRANT SELECT ON @extschema@.uso_task_stats TO PUBLIC;
REVOKE ALL ON @extschema@.uso_alert_outbox FROM PUBLIC;
GRANT SELECT ON @extschema@.uso_alert_outbox TO PUBLIC;
REVOKE ALL ON @extschema@.uso_run_outcome, @extschema@.uso_fold_state FROM PUBLIC;
