-- uso_tasks: the USO task pack, part 1: the user-office data model (schema uso).
--
-- A small but real reference model of the user-office application of seed 000
-- (see docs/uso.md for the diagram): who the users are, how cycles derive from
-- their cycle type, how submissions walk the review stages of their track, the
-- projects and beamtime that follow, publications and their metrics, and the
-- notification outbox that DeliverNotifications empties.

CREATE SCHEMA uso;
COMMENT ON SCHEMA uso IS 'USO user-office domain: data model and the background task functions of seed 000.';

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
COMMENT ON TABLE uso.institution IS 'Institutions users belong to; new ones wait for approval by contracts administrators.';
COMMENT ON COLUMN uso.institution.id IS 'Institution id.';
COMMENT ON COLUMN uso.institution.name IS 'Unique name.';
COMMENT ON COLUMN uso.institution.country IS 'Country, free text.';
COMMENT ON COLUMN uso.institution.state IS 'new, pending (awaiting approval), approved, rejected.';
COMMENT ON COLUMN uso.institution.created_at IS 'When it was entered.';
COMMENT ON COLUMN uso.institution.pending_since IS 'When it became pending approval.';
COMMENT ON COLUMN uso.institution.notified_at IS 'When NotifyNewInstitutions told the administrators (once per institution).';

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
COMMENT ON TABLE uso.app_user IS 'Users of the user office; those with an external_id are kept in step with the external user system by SyncUsers.';
COMMENT ON COLUMN uso.app_user.id IS 'User id.';
COMMENT ON COLUMN uso.app_user.external_id IS 'Id in the external user system; NULL for local accounts, which SyncUsers never touches.';
COMMENT ON COLUMN uso.app_user.username IS 'Unique login name.';
COMMENT ON COLUMN uso.app_user.first_name IS 'Given name.';
COMMENT ON COLUMN uso.app_user.last_name IS 'Family name.';
COMMENT ON COLUMN uso.app_user.email IS 'Where notifications go.';
COMMENT ON COLUMN uso.app_user.institution_id IS 'Home institution.';
COMMENT ON COLUMN uso.app_user.roles IS 'Roles such as admin, contracts-admin; a notification to a role goes to every active holder.';
COMMENT ON COLUMN uso.app_user.active IS 'False once removed from the external system (or disabled); inactive users get no mail and no reviews.';
COMMENT ON COLUMN uso.app_user.created_at IS 'When the account was created.';
COMMENT ON COLUMN uso.app_user.updated_at IS 'Last change by SyncUsers or an administrator.';

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
COMMENT ON TABLE uso.registration IS 'Sign-ups waiting for e-mail verification; CleanRegistrations deletes the stale ones.';
COMMENT ON COLUMN uso.registration.id IS 'Registration id.';
COMMENT ON COLUMN uso.registration.email IS 'Address the verification mail went to.';
COMMENT ON COLUMN uso.registration.username IS 'Requested login name.';
COMMENT ON COLUMN uso.registration.created_at IS 'When the user signed up.';
COMMENT ON COLUMN uso.registration.activated_at IS 'When the e-mail was verified; NULL while unverified.';

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
COMMENT ON TABLE uso.cycle_type IS 'How the cycles of one kind derive their dates from their start; one cycle per type and year.';
COMMENT ON COLUMN uso.cycle_type.id IS 'Cycle type id.';
COMMENT ON COLUMN uso.cycle_type.code IS 'Short code, part of the cycle names (2026-A).';
COMMENT ON COLUMN uso.cycle_type.name IS 'Display name.';
COMMENT ON COLUMN uso.cycle_type.start_month IS 'Month the cycle starts (1-12).';
COMMENT ON COLUMN uso.cycle_type.start_day IS 'Day of month the cycle starts (1-28).';
COMMENT ON COLUMN uso.cycle_type.duration_months IS 'Length of the cycle: end = start + this many months.';
COMMENT ON COLUMN uso.cycle_type.call_offset_weeks IS 'The call opens in the ISO week containing start minus this many weeks.';
COMMENT ON COLUMN uso.cycle_type.call_period_weeks IS 'The call closes in the ISO week containing open plus this many weeks.';
COMMENT ON COLUMN uso.cycle_type.review_weeks IS 'Reviews are due this many weeks after the call closes.';
COMMENT ON COLUMN uso.cycle_type.alloc_offset_weeks IS 'Allocation date: this many weeks after reviews are due.';
COMMENT ON COLUMN uso.cycle_type.open_weekday IS 'ISO weekday the call opens (1 = Monday, 3 = Wednesday).';
COMMENT ON COLUMN uso.cycle_type.close_weekday IS 'ISO weekday the call closes.';
COMMENT ON COLUMN uso.cycle_type.active IS 'CreateCycles keeps cycles ahead only for active types.';

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
COMMENT ON TABLE uso.cycle IS 'A cycle (one per type and year): its call, review and allocation dates and where it is in its life.';
COMMENT ON COLUMN uso.cycle.id IS 'Cycle id.';
COMMENT ON COLUMN uso.cycle.cycle_type_id IS 'The type its dates derive from.';
COMMENT ON COLUMN uso.cycle.year IS 'Year of the start date.';
COMMENT ON COLUMN uso.cycle.name IS 'year-code, e.g. 2026-A.';
COMMENT ON COLUMN uso.cycle.open_date IS 'The call for proposals opens on this day.';
COMMENT ON COLUMN uso.cycle.close_date IS 'Last day of the call (it closes at the end of this day).';
COMMENT ON COLUMN uso.cycle.due_date IS 'Reviews are due on this day.';
COMMENT ON COLUMN uso.cycle.alloc_date IS 'Allocation date: CreateCallProjects (daily at 00:15) creates its projects from this day on, NotifyProjects (daily at 00:30) tells the results the day after.';
COMMENT ON COLUMN uso.cycle.start_date IS 'First day of beamtime.';
COMMENT ON COLUMN uso.cycle.end_date IS 'Day after the last day of beamtime (start + duration months).';
COMMENT ON COLUMN uso.cycle.state IS 'pending, open, assign, review, evaluation, schedule, active, archive; only ever moves forward.';
COMMENT ON COLUMN uso.cycle.state_changed_at IS 'When CycleStateManager last moved it.';

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
COMMENT ON TABLE uso.review_track IS 'A way proposals are reviewed: call-based (general user) or rapid access.';
COMMENT ON COLUMN uso.review_track.id IS 'Track id.';
COMMENT ON COLUMN uso.review_track.acronym IS 'Short unique name (GU, RA, ...).';
COMMENT ON COLUMN uso.review_track.name IS 'Display name.';
COMMENT ON COLUMN uso.review_track.require_call IS 'True: submissions wait for the call to close; false: rapid access, reviewed any time.';
COMMENT ON COLUMN uso.review_track.duration_cycles IS 'How many cycles a project from this track lasts.';

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
COMMENT ON TABLE uso.review_stage IS 'The stages a submission of a track walks through, in position order.';
COMMENT ON COLUMN uso.review_stage.id IS 'Stage id.';
COMMENT ON COLUMN uso.review_stage.track_id IS 'The track it belongs to.';
COMMENT ON COLUMN uso.review_stage.position IS 'Order within the track, from 1.';
COMMENT ON COLUMN uso.review_stage.kind IS 'Review type (technical, safety, scientific, ...).';
COMMENT ON COLUMN uso.review_stage.min_reviews IS 'Reviews needed to decide the stage.';
COMMENT ON COLUMN uso.review_stage.blocks IS 'A failed blocking stage rejects the submission; a failed non-blocking one is noted and passed.';
COMMENT ON COLUMN uso.review_stage.pass_score IS 'Average score needed to pass.';
COMMENT ON COLUMN uso.review_stage.low_better IS 'True when lower scores are better (average <= pass_score passes).';
COMMENT ON COLUMN uso.review_stage.auto_create IS 'AdvanceReviewWorkflow creates and assigns this stage''s reviews.';
COMMENT ON COLUMN uso.review_stage.auto_start IS 'StartReviews opens this stage''s pending reviews.';
COMMENT ON COLUMN uso.review_stage.reviewer_role IS 'When set, the stage is reviewed by this role (e.g. a committee): ONE review assigned to the role, open to every active holder (min_reviews must be 1).';

CREATE TABLE uso.reviewer (
    id       bigserial PRIMARY KEY,
    user_id  bigint NOT NULL REFERENCES uso.app_user (id) ON DELETE CASCADE,
    active   boolean NOT NULL DEFAULT true,
    CONSTRAINT reviewer_user_key UNIQUE (user_id)
);
COMMENT ON TABLE uso.reviewer IS 'Users who review proposals.';
COMMENT ON COLUMN uso.reviewer.id IS 'Reviewer id.';
COMMENT ON COLUMN uso.reviewer.user_id IS 'The reviewing user.';
COMMENT ON COLUMN uso.reviewer.active IS 'Only active reviewers get new assignments.';

CREATE TABLE uso.reviewer_track (
    reviewer_id  bigint NOT NULL REFERENCES uso.reviewer (id) ON DELETE CASCADE,
    track_id     bigint NOT NULL REFERENCES uso.review_track (id) ON DELETE CASCADE,
    PRIMARY KEY (reviewer_id, track_id)
);
CREATE INDEX reviewer_track_track_idx ON uso.reviewer_track (track_id);
COMMENT ON TABLE uso.reviewer_track IS 'Which tracks a reviewer reviews for.';
COMMENT ON COLUMN uso.reviewer_track.reviewer_id IS 'The reviewer.';
COMMENT ON COLUMN uso.reviewer_track.track_id IS 'A track they review.';

-- ---------------------------------------------------------------- facility
CREATE TABLE uso.beamline (
    id       bigserial PRIMARY KEY,
    acronym  text NOT NULL,
    name     text NOT NULL,
    CONSTRAINT beamline_acronym_key UNIQUE (acronym),
    CONSTRAINT beamline_acronym_check CHECK (acronym ~ '^[A-Za-z0-9_-]{1,20}$')
);
COMMENT ON TABLE uso.beamline IS 'Beamlines (experimental stations) beamtime is allocated on.';
COMMENT ON COLUMN uso.beamline.id IS 'Beamline id.';
COMMENT ON COLUMN uso.beamline.acronym IS 'Short name; also the BioSync listing key.';
COMMENT ON COLUMN uso.beamline.name IS 'Display name.';

CREATE TABLE uso.beamline_staff (
    beamline_id  bigint NOT NULL REFERENCES uso.beamline (id) ON DELETE CASCADE,
    user_id      bigint NOT NULL REFERENCES uso.app_user (id) ON DELETE CASCADE,
    role         text NOT NULL DEFAULT 'staff',
    PRIMARY KEY (beamline_id, user_id),
    CONSTRAINT beamline_staff_role_check CHECK (role IN ('admin', 'staff'))
);
COMMENT ON TABLE uso.beamline_staff IS 'Beamline administrators and staff (told about automatic sign-offs).';
COMMENT ON COLUMN uso.beamline_staff.beamline_id IS 'The beamline.';
COMMENT ON COLUMN uso.beamline_staff.user_id IS 'The staff member.';
COMMENT ON COLUMN uso.beamline_staff.role IS 'admin or staff.';

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
COMMENT ON TABLE uso.proposal IS 'A research proposal written by a team.';
COMMENT ON COLUMN uso.proposal.id IS 'Proposal id.';
COMMENT ON COLUMN uso.proposal.code IS 'Unique code shown to users.';
COMMENT ON COLUMN uso.proposal.title IS 'Title.';
COMMENT ON COLUMN uso.proposal.spokesperson_id IS 'The team''s contact; receives the result.';
COMMENT ON COLUMN uso.proposal.created_at IS 'When it was written.';

CREATE TABLE uso.proposal_member (
    proposal_id  bigint NOT NULL REFERENCES uso.proposal (id) ON DELETE CASCADE,
    user_id      bigint NOT NULL REFERENCES uso.app_user (id) ON DELETE CASCADE,
    PRIMARY KEY (proposal_id, user_id)
);
CREATE INDEX proposal_member_user_idx ON uso.proposal_member (user_id);
COMMENT ON TABLE uso.proposal_member IS 'The proposal team (never assigned to review their own proposal).';
COMMENT ON COLUMN uso.proposal_member.proposal_id IS 'The proposal.';
COMMENT ON COLUMN uso.proposal_member.user_id IS 'A team member.';

CREATE TABLE uso.proposal_request (
    proposal_id  bigint NOT NULL REFERENCES uso.proposal (id) ON DELETE CASCADE,
    beamline_id  bigint NOT NULL REFERENCES uso.beamline (id) ON DELETE RESTRICT,
    shifts       integer NOT NULL,
    PRIMARY KEY (proposal_id, beamline_id),
    CONSTRAINT proposal_request_shifts_check CHECK (shifts BETWEEN 1 AND 1000)
);
COMMENT ON TABLE uso.proposal_request IS 'Beamtime a proposal asks for, per beamline (becomes the first cycle''s allocations).';
COMMENT ON COLUMN uso.proposal_request.proposal_id IS 'The proposal.';
COMMENT ON COLUMN uso.proposal_request.beamline_id IS 'The beamline asked for.';
COMMENT ON COLUMN uso.proposal_request.shifts IS 'Shifts requested.';

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
COMMENT ON TABLE uso.submission IS 'A proposal submitted to a review track in a cycle.';
COMMENT ON COLUMN uso.submission.id IS 'Submission id.';
COMMENT ON COLUMN uso.submission.proposal_id IS 'The proposal.';
COMMENT ON COLUMN uso.submission.track_id IS 'The review track.';
COMMENT ON COLUMN uso.submission.cycle_id IS 'The cycle it asks beamtime in.';
COMMENT ON COLUMN uso.submission.state IS 'pending, started (a review is open), reviewed (decided), complete (result sent).';
COMMENT ON COLUMN uso.submission.approved IS 'NULL while undecided, then true or false.';
COMMENT ON COLUMN uso.submission.score IS 'Average score of the deciding stage.';
COMMENT ON COLUMN uso.submission.created_at IS 'When it was submitted.';
COMMENT ON COLUMN uso.submission.decided_at IS 'When AdvanceReviewWorkflow decided it.';
COMMENT ON COLUMN uso.submission.notified_at IS 'When NotifyProjects sent the result (NULL when it had nobody to tell: the spokesperson was inactive).';

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
COMMENT ON TABLE uso.review IS 'One review of a submission at one stage, by a reviewer or by a role (a committee: every active holder may do it).';
COMMENT ON COLUMN uso.review.id IS 'Review id.';
COMMENT ON COLUMN uso.review.submission_id IS 'The submission reviewed.';
COMMENT ON COLUMN uso.review.stage_id IS 'The stage it belongs to.';
COMMENT ON COLUMN uso.review.reviewer_id IS 'Who reviews; NULL when a role reviews.';
COMMENT ON COLUMN uso.review.role IS 'The role that reviews (app_user.roles, e.g. committee) instead of one reviewer: open to every active holder, counted once.';
COMMENT ON COLUMN uso.review.state IS 'pending (created), open (reviewer asked), submitted (scored), closed (stage decided), withdrawn (its reviewer became inactive; AdvanceReviewWorkflow assigns a replacement).';
COMMENT ON COLUMN uso.review.due_date IS 'When the review is due.';
COMMENT ON COLUMN uso.review.score IS 'The reviewer''s score.';
COMMENT ON COLUMN uso.review.created_at IS 'When it was created.';
COMMENT ON COLUMN uso.review.opened_at IS 'When StartReviews opened it.';
COMMENT ON COLUMN uso.review.submitted_at IS 'When the reviewer submitted it.';
COMMENT ON COLUMN uso.review.reminded_at IS 'When RemindReviewers last reminded the reviewer of it.';
COMMENT ON COLUMN uso.review.withdrawn_at IS 'When AdvanceReviewWorkflow withdrew it because its reviewer is no longer active.';
COMMENT ON COLUMN uso.review.reminded_due IS 'The due date that reminder was about (never reminded twice for one due date).';

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
COMMENT ON TABLE uso.project IS 'Beamtime project created from an approved submission.';
COMMENT ON COLUMN uso.project.id IS 'Project id.';
COMMENT ON COLUMN uso.project.submission_id IS 'The approved submission (one project each).';
COMMENT ON COLUMN uso.project.proposal_id IS 'Its proposal.';
COMMENT ON COLUMN uso.project.cycle_id IS 'The first cycle of the project.';
COMMENT ON COLUMN uso.project.spokesperson_id IS 'The proposal''s spokesperson when the project was made.';
COMMENT ON COLUMN uso.project.start_date IS 'First day (start of the first cycle).';
COMMENT ON COLUMN uso.project.end_date IS 'Day after the last day (track duration in cycles).';
COMMENT ON COLUMN uso.project.created_at IS 'When it was created.';

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
COMMENT ON TABLE uso.allocation_request IS 'Renewal: a running project asks beamtime in a later cycle.';
COMMENT ON COLUMN uso.allocation_request.project_id IS 'The project.';
COMMENT ON COLUMN uso.allocation_request.cycle_id IS 'The cycle asked for.';
COMMENT ON COLUMN uso.allocation_request.beamline_id IS 'The beamline.';
COMMENT ON COLUMN uso.allocation_request.shifts IS 'Shifts requested.';
COMMENT ON COLUMN uso.allocation_request.created_at IS 'When it was asked.';

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
COMMENT ON TABLE uso.allocation IS 'Beamtime of a project on a beamline in a cycle: requested, then allocated by the committee.';
COMMENT ON COLUMN uso.allocation.project_id IS 'The project.';
COMMENT ON COLUMN uso.allocation.cycle_id IS 'The cycle.';
COMMENT ON COLUMN uso.allocation.beamline_id IS 'The beamline.';
COMMENT ON COLUMN uso.allocation.requested_shifts IS 'Shifts requested.';
COMMENT ON COLUMN uso.allocation.allocated_shifts IS 'Shifts allocated; NULL until the committee decides.';
COMMENT ON COLUMN uso.allocation.created_at IS 'When it was created.';

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
COMMENT ON TABLE uso.beamtime_session IS 'A slot of beamtime: signed on when it starts (live), signed off when done (complete).';
COMMENT ON COLUMN uso.beamtime_session.id IS 'Session id.';
COMMENT ON COLUMN uso.beamtime_session.project_id IS 'The project the beamtime belongs to.';
COMMENT ON COLUMN uso.beamtime_session.beamline_id IS 'Where.';
COMMENT ON COLUMN uso.beamtime_session.staff_id IS 'Local contact on duty.';
COMMENT ON COLUMN uso.beamtime_session.starts_at IS 'Start of the slot.';
COMMENT ON COLUMN uso.beamtime_session.ends_at IS 'End of the slot.';
COMMENT ON COLUMN uso.beamtime_session.state IS 'ready, live (signed on), complete (signed off), cancelled, terminated.';
COMMENT ON COLUMN uso.beamtime_session.signed_on_at IS 'When the team signed on.';
COMMENT ON COLUMN uso.beamtime_session.signed_off_at IS 'When it was signed off.';
COMMENT ON COLUMN uso.beamtime_session.signed_off_by IS 'Who signed it off: a username, or ''auto'' for AutoSignOff.';
COMMENT ON COLUMN uso.beamtime_session.signed_off IS 'True once signed off (by anyone).';

CREATE TABLE uso.session_history (
    id          bigserial PRIMARY KEY,
    session_id  bigint NOT NULL REFERENCES uso.beamtime_session (id) ON DELETE CASCADE,
    at          timestamptz NOT NULL,
    line        text NOT NULL
);
CREATE INDEX session_history_session_idx ON uso.session_history (session_id, at);
COMMENT ON TABLE uso.session_history IS 'What happened to a beamtime session, line by line.';
COMMENT ON COLUMN uso.session_history.id IS 'Line id.';
COMMENT ON COLUMN uso.session_history.session_id IS 'The session.';
COMMENT ON COLUMN uso.session_history.at IS 'When.';
COMMENT ON COLUMN uso.session_history.line IS 'What.';

-- ---------------------------------------------------------------- publications
CREATE TABLE uso.journal (
    id     bigserial PRIMARY KEY,
    issn   text NOT NULL,
    title  text NOT NULL,
    CONSTRAINT journal_issn_key UNIQUE (issn),
    CONSTRAINT journal_issn_check CHECK (issn ~ '^[0-9]{7}[0-9X]$')
);
COMMENT ON TABLE uso.journal IS 'Journals publications appear in.';
COMMENT ON COLUMN uso.journal.id IS 'Journal id.';
COMMENT ON COLUMN uso.journal.issn IS 'ISSN as 8 characters without the hyphen (SCImago''s form).';
COMMENT ON COLUMN uso.journal.title IS 'Title.';

CREATE TABLE uso.journal_metric (
    journal_id     bigint NOT NULL REFERENCES uso.journal (id) ON DELETE CASCADE,
    year           integer NOT NULL,
    sjr            numeric,
    h_index        integer,
    impact_factor  numeric,
    updated_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (journal_id, year)
);
COMMENT ON TABLE uso.journal_metric IS 'Journal metrics per year from the SCImago journal-rank export (UpdateMetrics).';
COMMENT ON COLUMN uso.journal_metric.journal_id IS 'The journal.';
COMMENT ON COLUMN uso.journal_metric.year IS 'Year the metrics describe.';
COMMENT ON COLUMN uso.journal_metric.sjr IS 'SCImago Journal Rank.';
COMMENT ON COLUMN uso.journal_metric.h_index IS 'H index.';
COMMENT ON COLUMN uso.journal_metric.impact_factor IS 'Citations per document over two years (impact factor).';
COMMENT ON COLUMN uso.journal_metric.updated_at IS 'When UpdateMetrics last changed it.';

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
COMMENT ON TABLE uso.publication IS 'Articles from facility beamtime, identified by DOI.';
COMMENT ON COLUMN uso.publication.id IS 'Publication id.';
COMMENT ON COLUMN uso.publication.doi IS 'DOI, lower case (10.xxxx/...).';
COMMENT ON COLUMN uso.publication.title IS 'Title (from CrossRef).';
COMMENT ON COLUMN uso.publication.journal_id IS 'Journal it appeared in.';
COMMENT ON COLUMN uso.publication.authors IS 'Authors, "Given Family" joined by "; ".';
COMMENT ON COLUMN uso.publication.subjects IS 'CrossRef subjects.';
COMMENT ON COLUMN uso.publication.volume IS 'Volume.';
COMMENT ON COLUMN uso.publication.issue IS 'Issue.';
COMMENT ON COLUMN uso.publication.pages IS 'Pages.';
COMMENT ON COLUMN uso.publication.published IS 'Issued date.';
COMMENT ON COLUMN uso.publication.citations IS 'Citation count (CrossRef is-referenced-by-count).';
COMMENT ON COLUMN uso.publication.citations_checked_at IS 'When FetchCitations last asked CrossRef.';
COMMENT ON COLUMN uso.publication.metadata_updated_at IS 'When UpdatePublications last changed the metadata.';
COMMENT ON COLUMN uso.publication.created_at IS 'When it was entered.';

CREATE TABLE uso.publication_history (
    id              bigserial PRIMARY KEY,
    publication_id  bigint NOT NULL REFERENCES uso.publication (id) ON DELETE CASCADE,
    at              timestamptz NOT NULL,
    line            text NOT NULL
);
CREATE INDEX publication_history_publication_idx ON uso.publication_history (publication_id, at);
COMMENT ON TABLE uso.publication_history IS 'Changes to a publication (citation counts, metadata), line by line.';
COMMENT ON COLUMN uso.publication_history.id IS 'Line id.';
COMMENT ON COLUMN uso.publication_history.publication_id IS 'The publication.';
COMMENT ON COLUMN uso.publication_history.at IS 'When.';
COMMENT ON COLUMN uso.publication_history.line IS 'What changed.';

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
COMMENT ON TABLE uso.pdb_deposit IS 'PDB depositions from facility beamlines (FetchBioSync), linked to articles by DOI.';
COMMENT ON COLUMN uso.pdb_deposit.id IS 'Deposit id.';
COMMENT ON COLUMN uso.pdb_deposit.pdb_code IS 'PDB id, upper case (1ABC).';
COMMENT ON COLUMN uso.pdb_deposit.beamline_id IS 'Beamline the data was collected on.';
COMMENT ON COLUMN uso.pdb_deposit.title IS 'Structure title from the entry header.';
COMMENT ON COLUMN uso.pdb_deposit.deposited IS 'Deposition date.';
COMMENT ON COLUMN uso.pdb_deposit.released IS 'Release date; NULL while on hold.';
COMMENT ON COLUMN uso.pdb_deposit.doi IS 'DOI of the primary citation, lower case.';
COMMENT ON COLUMN uso.pdb_deposit.publication_id IS 'The publication with that DOI, when known.';
COMMENT ON COLUMN uso.pdb_deposit.fetched_at IS 'When FetchBioSync last changed it.';

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
COMMENT ON TABLE uso.notification IS 'Outbox: mail the tasks want sent; DeliverNotifications sends it through SMTP.';
COMMENT ON COLUMN uso.notification.id IS 'Notification id (also the send order).';
COMMENT ON COLUMN uso.notification.kind IS 'Template: review-request, review-reminder, auto-sign-off, submission-success, submission-fail, new-institutions.';
COMMENT ON COLUMN uso.notification.user_id IS 'The user it is for, when it is for a user.';
COMMENT ON COLUMN uso.notification.recipient IS 'E-mail address.';
COMMENT ON COLUMN uso.notification.subject IS 'Subject line.';
COMMENT ON COLUMN uso.notification.body IS 'Plain-text body.';
COMMENT ON COLUMN uso.notification.context IS 'What the message is about (ids), for the web app.';
COMMENT ON COLUMN uso.notification.status IS 'pending, sent, failed (gave up after the configured attempts).';
COMMENT ON COLUMN uso.notification.created_at IS 'When it was queued.';
COMMENT ON COLUMN uso.notification.send_after IS 'Not sent before this (backoff after a failed attempt).';
COMMENT ON COLUMN uso.notification.sent_at IS 'When the SMTP server accepted it.';
COMMENT ON COLUMN uso.notification.attempts IS 'Delivery attempts so far.';
COMMENT ON COLUMN uso.notification.last_error IS 'Error of the last failed attempt.';

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
