-- uso_office: the schema part of the install script (schema uso, its tables
-- and indexes): what an update cannot simply run again.  Each table is
-- defined here in its current shape; an update brings an older catalog to it
-- with a hand-written delta (sql/updates/uso_office--X--Y.sql).  The code
-- parts (sql/office/*.sql: functions, views, comments) run in full in every
-- install and update script; sql/builtin/uso_office.sql registers the tasks
-- (install only).  See the Makefile.
\echo Use "CREATE EXTENSION uso_office" to load this file. \quit
SET LOCAL search_path = pg_catalog, pg_temp;

-- The pack's functions call the engine's objects as @extschema@.uso_*: so
-- uso_office is created in the schema uso_tasks lives in (CASCADE does that).
DO $$
DECLARE
    engine name := (SELECT n.nspname FROM pg_catalog.pg_extension e
                      JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
                     WHERE e.extname = 'uso_tasks');
BEGIN
    IF pg_catalog.quote_ident(engine) <> '@extschema@' THEN
        RAISE EXCEPTION 'uso_office must be created in the schema of uso_tasks (%), not in @extschema@', engine
            USING ERRCODE = 'invalid_schema_name',
                  HINT = pg_catalog.format('CREATE EXTENSION uso_office SCHEMA %I;', engine);
    END IF;
END
$$;


-- The USO data model (comments: sql/office/50_uso_model.sql).
CREATE SCHEMA uso;
-- ---------------------------------------------------------------- people
CREATE TABLE uso.institution (
    id             bigserial PRIMARY KEY,
    name           text NOT NULL,
    country        text,
    state          text NOT NULL DEFAULT 'new',
    created_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    pending_since  timestamptz,
    notified_at    timestamptz,
    CONSTRAINT institution_name_key UNIQUE (name),
    CONSTRAINT institution_name_check CHECK (name <> ''),
    CONSTRAINT institution_state_check CHECK (state IN ('new', 'pending', 'approved', 'rejected')),
    CONSTRAINT institution_pending_check CHECK (state <> 'pending' OR pending_since IS NOT NULL)
);
CREATE INDEX institution_pending_idx ON uso.institution (pending_since)
    WHERE state = 'pending' AND notified_at IS NULL;
CREATE TABLE uso.app_user (
    id              bigserial PRIMARY KEY,
    external_id     text,
    username        text NOT NULL,
    first_name      text NOT NULL DEFAULT '',
    last_name       text NOT NULL DEFAULT '',
    email           text NOT NULL,
    institution_id  bigint REFERENCES uso.institution (id) ON DELETE SET NULL,
    roles           text[] NOT NULL DEFAULT '{}',
    active          boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT app_user_username_key UNIQUE (username),
    CONSTRAINT app_user_external_id_key UNIQUE (external_id),
    CONSTRAINT app_user_username_check CHECK (username ~ '^[A-Za-z0-9_.@+-]{1,150}$'),
    CONSTRAINT app_user_email_check CHECK (email ~ '^[^@\s]+@[^@\s]+$')
);
CREATE INDEX app_user_roles_idx ON uso.app_user USING gin (roles);
CREATE INDEX app_user_institution_idx ON uso.app_user (institution_id);
CREATE TABLE uso.registration (
    id            bigserial PRIMARY KEY,
    email         text NOT NULL,
    username      text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    activated_at  timestamptz,
    CONSTRAINT registration_email_check CHECK (email ~ '^[^@\s]+@[^@\s]+$'),
    CONSTRAINT registration_activated_check CHECK (activated_at IS NULL OR activated_at >= created_at)
);
CREATE INDEX registration_unverified_idx ON uso.registration (created_at) WHERE activated_at IS NULL;
-- ---------------------------------------------------------------- cycles
CREATE TABLE uso.cycle_type (
    id                  bigserial PRIMARY KEY,
    code                text NOT NULL,
    name                text NOT NULL,
    start_month         integer NOT NULL,
    start_day           integer NOT NULL DEFAULT 1,
    duration_months     integer NOT NULL DEFAULT 6,
    call_offset_weeks   integer NOT NULL DEFAULT 21,
    call_period_weeks   integer NOT NULL DEFAULT 4,
    review_weeks        integer NOT NULL DEFAULT 6,
    alloc_offset_weeks  integer NOT NULL DEFAULT 2,
    open_weekday        integer NOT NULL DEFAULT 3,
    close_weekday       integer NOT NULL DEFAULT 3,
    active              boolean NOT NULL DEFAULT true,
    CONSTRAINT cycle_type_code_key UNIQUE (code),
    CONSTRAINT cycle_type_code_check CHECK (code ~ '^[A-Za-z0-9_-]{1,20}$'),
    CONSTRAINT cycle_type_start_check CHECK (start_month BETWEEN 1 AND 12 AND start_day BETWEEN 1 AND 28),
    CONSTRAINT cycle_type_duration_check CHECK (duration_months BETWEEN 1 AND 12),
    CONSTRAINT cycle_type_weeks_check CHECK (call_offset_weeks >= 0 AND call_period_weeks >= 1
                                             AND review_weeks >= 0 AND alloc_offset_weeks >= 0),
    CONSTRAINT cycle_type_weekday_check CHECK (open_weekday BETWEEN 1 AND 7 AND close_weekday BETWEEN 1 AND 7)
);
CREATE TABLE uso.cycle (
    id             bigserial PRIMARY KEY,
    cycle_type_id  bigint NOT NULL REFERENCES uso.cycle_type (id) ON DELETE RESTRICT,
    year           integer NOT NULL,
    name           text NOT NULL,
    open_date      date NOT NULL,
    close_date     date NOT NULL,
    due_date       date NOT NULL,
    alloc_date     date NOT NULL,
    start_date     date NOT NULL,
    end_date       date NOT NULL,
    state          text NOT NULL DEFAULT 'pending',
    state_changed_at timestamptz,
    CONSTRAINT cycle_type_year_key UNIQUE (cycle_type_id, year),
    CONSTRAINT cycle_name_key UNIQUE (name),
    CONSTRAINT cycle_year_check CHECK (year BETWEEN 2000 AND 2200),
    CONSTRAINT cycle_state_check CHECK (state IN ('pending', 'open', 'assign', 'review', 'evaluation',
                                                  'schedule', 'active', 'archive')),
    CONSTRAINT cycle_dates_check CHECK (open_date <= close_date AND close_date <= due_date
                                        AND due_date <= alloc_date AND alloc_date <= start_date
                                        AND start_date < end_date)
);
CREATE INDEX cycle_alloc_idx ON uso.cycle (alloc_date);
CREATE INDEX cycle_current_idx ON uso.cycle (state) WHERE state <> 'archive';
-- ---------------------------------------------------------------- review tracks
CREATE TABLE uso.review_track (
    id               bigserial PRIMARY KEY,
    acronym          text NOT NULL,
    name             text NOT NULL,
    require_call     boolean NOT NULL DEFAULT true,
    duration_cycles  integer NOT NULL DEFAULT 1,
    CONSTRAINT review_track_acronym_key UNIQUE (acronym),
    CONSTRAINT review_track_acronym_check CHECK (acronym ~ '^[A-Za-z0-9_-]{1,20}$'),
    CONSTRAINT review_track_duration_check CHECK (duration_cycles BETWEEN 1 AND 12)
);
CREATE TABLE uso.review_stage (
    id           bigserial PRIMARY KEY,
    track_id     bigint NOT NULL REFERENCES uso.review_track (id) ON DELETE CASCADE,
    position     integer NOT NULL,
    kind         text NOT NULL,
    min_reviews  integer NOT NULL DEFAULT 1,
    blocks       boolean NOT NULL DEFAULT true,
    pass_score   numeric NOT NULL,
    low_better   boolean NOT NULL DEFAULT false,
    auto_create  boolean NOT NULL DEFAULT true,
    auto_start   boolean NOT NULL DEFAULT true,
    reviewer_role text,
    CONSTRAINT review_stage_position_key UNIQUE (track_id, position),
    CONSTRAINT review_stage_position_check CHECK (position >= 1),
    CONSTRAINT review_stage_min_reviews_check CHECK (min_reviews BETWEEN 1 AND 20),
    CONSTRAINT review_stage_role_check CHECK (reviewer_role IS NULL OR (reviewer_role <> '' AND min_reviews = 1))
);
CREATE TABLE uso.reviewer (
    id       bigserial PRIMARY KEY,
    user_id  bigint NOT NULL REFERENCES uso.app_user (id) ON DELETE CASCADE,
    active   boolean NOT NULL DEFAULT true,
    CONSTRAINT reviewer_user_key UNIQUE (user_id)
);
CREATE TABLE uso.reviewer_track (
    reviewer_id  bigint NOT NULL REFERENCES uso.reviewer (id) ON DELETE CASCADE,
    track_id     bigint NOT NULL REFERENCES uso.review_track (id) ON DELETE CASCADE,
    PRIMARY KEY (reviewer_id, track_id)
);
CREATE INDEX reviewer_track_track_idx ON uso.reviewer_track (track_id);
-- ---------------------------------------------------------------- facility
CREATE TABLE uso.beamline (
    id       bigserial PRIMARY KEY,
    acronym  text NOT NULL,
    name     text NOT NULL,
    CONSTRAINT beamline_acronym_key UNIQUE (acronym),
    CONSTRAINT beamline_acronym_check CHECK (acronym ~ '^[A-Za-z0-9_-]{1,20}$')
);
CREATE TABLE uso.beamline_staff (
    beamline_id  bigint NOT NULL REFERENCES uso.beamline (id) ON DELETE CASCADE,
    user_id      bigint NOT NULL REFERENCES uso.app_user (id) ON DELETE CASCADE,
    role         text NOT NULL DEFAULT 'staff',
    PRIMARY KEY (beamline_id, user_id),
    CONSTRAINT beamline_staff_role_check CHECK (role IN ('admin', 'staff'))
);
-- ---------------------------------------------------------------- proposals
CREATE TABLE uso.proposal (
    id               bigserial PRIMARY KEY,
    code             text NOT NULL,
    title            text NOT NULL,
    spokesperson_id  bigint NOT NULL REFERENCES uso.app_user (id) ON DELETE RESTRICT,
    created_at       timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT proposal_code_key UNIQUE (code)
);
CREATE INDEX proposal_spokesperson_idx ON uso.proposal (spokesperson_id);
CREATE TABLE uso.proposal_member (
    proposal_id  bigint NOT NULL REFERENCES uso.proposal (id) ON DELETE CASCADE,
    user_id      bigint NOT NULL REFERENCES uso.app_user (id) ON DELETE CASCADE,
    PRIMARY KEY (proposal_id, user_id)
);
CREATE INDEX proposal_member_user_idx ON uso.proposal_member (user_id);
CREATE TABLE uso.proposal_request (
    proposal_id  bigint NOT NULL REFERENCES uso.proposal (id) ON DELETE CASCADE,
    beamline_id  bigint NOT NULL REFERENCES uso.beamline (id) ON DELETE RESTRICT,
    shifts       integer NOT NULL,
    PRIMARY KEY (proposal_id, beamline_id),
    CONSTRAINT proposal_request_shifts_check CHECK (shifts BETWEEN 1 AND 1000)
);
CREATE TABLE uso.submission (
    id           bigserial PRIMARY KEY,
    proposal_id  bigint NOT NULL REFERENCES uso.proposal (id) ON DELETE CASCADE,
    track_id     bigint NOT NULL REFERENCES uso.review_track (id) ON DELETE RESTRICT,
    cycle_id     bigint NOT NULL REFERENCES uso.cycle (id) ON DELETE RESTRICT,
    state        text NOT NULL DEFAULT 'pending',
    approved     boolean,
    score        numeric,
    created_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    decided_at   timestamptz,
    notified_at  timestamptz,
    CONSTRAINT submission_key UNIQUE (proposal_id, track_id, cycle_id),
    CONSTRAINT submission_state_check CHECK (state IN ('pending', 'started', 'reviewed', 'complete')),
    CONSTRAINT submission_decision_check CHECK ((state IN ('reviewed', 'complete')) = (approved IS NOT NULL))
);
CREATE INDEX submission_open_idx ON uso.submission (cycle_id) WHERE state IN ('pending', 'started');
CREATE INDEX submission_reviewed_idx ON uso.submission (cycle_id) WHERE state = 'reviewed';
CREATE TABLE uso.review (
    id             bigserial PRIMARY KEY,
    submission_id  bigint NOT NULL REFERENCES uso.submission (id) ON DELETE CASCADE,
    stage_id       bigint NOT NULL REFERENCES uso.review_stage (id) ON DELETE RESTRICT,
    reviewer_id    bigint REFERENCES uso.reviewer (id) ON DELETE RESTRICT,
    state          text NOT NULL DEFAULT 'pending',
    due_date       date,
    score          numeric,
    created_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    opened_at      timestamptz,
    submitted_at   timestamptz,
    reminded_at    timestamptz,
    reminded_due   date,
    -- Columns added after 0.1 come last, as ALTER TABLE adds them.
    role           text,
    withdrawn_at   timestamptz,
    CONSTRAINT review_key UNIQUE (submission_id, stage_id, reviewer_id),
    CONSTRAINT review_reviewer_check CHECK ((reviewer_id IS NULL) <> (role IS NULL)),
    CONSTRAINT review_role_check CHECK (role <> ''),
    CONSTRAINT review_state_check CHECK (state IN ('pending', 'open', 'submitted', 'closed', 'withdrawn')),
    CONSTRAINT review_withdrawn_check CHECK ((state = 'withdrawn') = (withdrawn_at IS NOT NULL)),
    CONSTRAINT review_score_check CHECK (state NOT IN ('submitted') OR score IS NOT NULL)
);
CREATE UNIQUE INDEX review_role_key ON uso.review (submission_id, stage_id, role) WHERE role IS NOT NULL;
CREATE INDEX review_reviewer_open_idx ON uso.review (reviewer_id) WHERE state IN ('pending', 'open');
CREATE INDEX review_submission_idx ON uso.review (submission_id, stage_id);
CREATE INDEX review_stage_idx ON uso.review (stage_id);
CREATE INDEX review_due_idx ON uso.review (due_date) WHERE state = 'open';
-- ---------------------------------------------------------------- projects and beamtime
CREATE TABLE uso.project (
    id               bigserial PRIMARY KEY,
    submission_id    bigint NOT NULL REFERENCES uso.submission (id) ON DELETE RESTRICT,
    proposal_id      bigint NOT NULL REFERENCES uso.proposal (id) ON DELETE RESTRICT,
    cycle_id         bigint NOT NULL REFERENCES uso.cycle (id) ON DELETE RESTRICT,
    spokesperson_id  bigint NOT NULL REFERENCES uso.app_user (id) ON DELETE RESTRICT,
    start_date       date NOT NULL,
    end_date         date NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT project_submission_key UNIQUE (submission_id),
    CONSTRAINT project_dates_check CHECK (start_date < end_date)
);
CREATE INDEX project_cycle_idx ON uso.project (cycle_id);
CREATE TABLE uso.allocation_request (
    project_id   bigint NOT NULL REFERENCES uso.project (id) ON DELETE CASCADE,
    cycle_id     bigint NOT NULL REFERENCES uso.cycle (id) ON DELETE RESTRICT,
    beamline_id  bigint NOT NULL REFERENCES uso.beamline (id) ON DELETE RESTRICT,
    shifts       integer NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (project_id, cycle_id, beamline_id),
    CONSTRAINT allocation_request_shifts_check CHECK (shifts BETWEEN 1 AND 1000)
);
CREATE INDEX allocation_request_cycle_idx ON uso.allocation_request (cycle_id);
CREATE TABLE uso.allocation (
    project_id        bigint NOT NULL REFERENCES uso.project (id) ON DELETE CASCADE,
    cycle_id          bigint NOT NULL REFERENCES uso.cycle (id) ON DELETE RESTRICT,
    beamline_id       bigint NOT NULL REFERENCES uso.beamline (id) ON DELETE RESTRICT,
    requested_shifts  integer NOT NULL,
    allocated_shifts  integer,
    created_at        timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (project_id, cycle_id, beamline_id),
    CONSTRAINT allocation_shifts_check CHECK (requested_shifts >= 0 AND (allocated_shifts IS NULL OR allocated_shifts >= 0))
);
CREATE INDEX allocation_cycle_idx ON uso.allocation (cycle_id, beamline_id);
CREATE TABLE uso.beamtime_session (
    id             bigserial PRIMARY KEY,
    project_id     bigint NOT NULL REFERENCES uso.project (id) ON DELETE CASCADE,
    beamline_id    bigint NOT NULL REFERENCES uso.beamline (id) ON DELETE RESTRICT,
    staff_id       bigint REFERENCES uso.app_user (id) ON DELETE SET NULL,
    starts_at      timestamptz NOT NULL,
    ends_at        timestamptz NOT NULL,
    state          text NOT NULL DEFAULT 'ready',
    signed_on_at   timestamptz,
    signed_off_at  timestamptz,
    signed_off_by  text,
    signed_off     boolean GENERATED ALWAYS AS (signed_off_at IS NOT NULL) STORED,
    CONSTRAINT beamtime_session_times_check CHECK (starts_at < ends_at),
    CONSTRAINT beamtime_session_state_check CHECK (state IN ('ready', 'live', 'complete', 'cancelled', 'terminated')),
    CONSTRAINT beamtime_session_signoff_check CHECK ((signed_off_at IS NULL) = (signed_off_by IS NULL))
);
CREATE INDEX beamtime_session_unsigned_idx ON uso.beamtime_session (ends_at) WHERE state IN ('ready', 'live');
CREATE INDEX beamtime_session_project_idx ON uso.beamtime_session (project_id);
CREATE TABLE uso.session_history (
    id          bigserial PRIMARY KEY,
    session_id  bigint NOT NULL REFERENCES uso.beamtime_session (id) ON DELETE CASCADE,
    at          timestamptz NOT NULL,
    line        text NOT NULL
);
CREATE INDEX session_history_session_idx ON uso.session_history (session_id, at);
-- ---------------------------------------------------------------- publications
CREATE TABLE uso.journal (
    id     bigserial PRIMARY KEY,
    issn   text NOT NULL,
    title  text NOT NULL,
    CONSTRAINT journal_issn_key UNIQUE (issn),
    CONSTRAINT journal_issn_check CHECK (issn ~ '^[0-9]{7}[0-9X]$')
);
CREATE TABLE uso.journal_metric (
    journal_id     bigint NOT NULL REFERENCES uso.journal (id) ON DELETE CASCADE,
    year           integer NOT NULL,
    sjr            numeric,
    h_index        integer,
    impact_factor  numeric,
    updated_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (journal_id, year)
);
CREATE TABLE uso.publication (
    id                    bigserial PRIMARY KEY,
    doi                   text NOT NULL,
    title                 text NOT NULL DEFAULT '',
    journal_id            bigint REFERENCES uso.journal (id) ON DELETE SET NULL,
    authors               text,
    subjects              text[],
    volume                text,
    issue                 text,
    pages                 text,
    published             date,
    citations             integer,
    citations_checked_at  timestamptz,
    metadata_updated_at   timestamptz,
    created_at            timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT publication_doi_key UNIQUE (doi),
    CONSTRAINT publication_doi_check CHECK (doi = pg_catalog.lower(doi) AND doi ~ '^10\.[0-9]{4,9}/\S+$'),
    CONSTRAINT publication_citations_check CHECK (citations >= 0)
);
CREATE INDEX publication_published_idx ON uso.publication (published);
CREATE TABLE uso.publication_history (
    id              bigserial PRIMARY KEY,
    publication_id  bigint NOT NULL REFERENCES uso.publication (id) ON DELETE CASCADE,
    at              timestamptz NOT NULL,
    line            text NOT NULL
);
CREATE INDEX publication_history_publication_idx ON uso.publication_history (publication_id, at);
CREATE TABLE uso.pdb_deposit (
    id              bigserial PRIMARY KEY,
    pdb_code        text NOT NULL,
    beamline_id     bigint REFERENCES uso.beamline (id) ON DELETE SET NULL,
    title           text,
    deposited       date,
    released        date,
    doi             text,
    publication_id  bigint REFERENCES uso.publication (id) ON DELETE SET NULL,
    fetched_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT pdb_deposit_code_key UNIQUE (pdb_code),
    CONSTRAINT pdb_deposit_code_check CHECK (pdb_code ~ '^[0-9][A-Z0-9]{3}$')
);
CREATE INDEX pdb_deposit_doi_idx ON uso.pdb_deposit (doi);
-- ---------------------------------------------------------------- notifications
CREATE TABLE uso.notification (
    id          bigserial PRIMARY KEY,
    kind        text NOT NULL,
    user_id     bigint REFERENCES uso.app_user (id) ON DELETE SET NULL,
    recipient   text NOT NULL,
    subject     text NOT NULL,
    body        text NOT NULL,
    context     jsonb NOT NULL DEFAULT '{}',
    status      text NOT NULL DEFAULT 'pending',
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    send_after  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    sent_at     timestamptz,
    attempts    integer NOT NULL DEFAULT 0,
    last_error  text,
    CONSTRAINT notification_kind_check CHECK (kind IN ('review-request', 'review-reminder', 'auto-sign-off',
                                                       'submission-success', 'submission-fail',
                                                       'new-institutions')),
    CONSTRAINT notification_recipient_check CHECK (recipient ~ '^[^@\s]+@[^@\s]+$'),
    CONSTRAINT notification_status_check CHECK (status IN ('pending', 'sent', 'failed')),
    CONSTRAINT notification_sent_check CHECK ((status = 'sent') = (sent_at IS NOT NULL)),
    CONSTRAINT notification_attempts_check CHECK (attempts >= 0)
);
CREATE INDEX notification_due_idx ON uso.notification (send_after, id) WHERE status = 'pending';
-- pg_dump keeps the domain data (the extension creates no rows in these
-- tables). One call per statement: each call updates pg_extension's row.
DO $$
DECLARE
    rel pg_catalog.regclass;
BEGIN
    FOR rel IN SELECT c.oid FROM pg_catalog.pg_class c
               WHERE c.relnamespace = 'uso'::pg_catalog.regnamespace AND c.relkind IN ('r', 'S')
               ORDER BY c.relname
    LOOP
        PERFORM pg_catalog.pg_extension_config_dump(rel, '');
    END LOOP;
END
$$;
