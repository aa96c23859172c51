-- uso_tasks: the USO task pack, part 1: the user-office data model (schema uso).
--
-- A small but real reference model of the user-office application of seed 000
-- (see docs/uso.md for the diagram): who the users are, how cycles derive from
-- their cycle type, how submissions walk the review stages of their track, the
-- projects and beamtime that follow, publications and their metrics, and the
-- notification outbox that DeliverNotifications empties.

COMMENT ON SCHEMA uso IS 'USO user-office domain: data model and the background task functions of seed 000.';

COMMENT ON TABLE uso.institution IS 'Institutions users belong to; new ones wait for approval by contracts administrators.';
COMMENT ON COLUMN uso.institution.id IS 'Institution id.';
COMMENT ON COLUMN uso.institution.name IS 'Unique name.';
COMMENT ON COLUMN uso.institution.country IS 'Country, free text.';
COMMENT ON COLUMN uso.institution.state IS 'new, pending (awaiting approval), approved, rejected.';
COMMENT ON COLUMN uso.institution.created_at IS 'When it was entered.';
COMMENT ON COLUMN uso.institution.pending_since IS 'When it became pending approval.';
COMMENT ON COLUMN uso.institution.notified_at IS 'When NotifyNewInstitutions told the administrators (once per institution).';

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

COMMENT ON TABLE uso.registration IS 'Sign-ups waiting for e-mail verification; CleanRegistrations deletes the stale ones.';
COMMENT ON COLUMN uso.registration.id IS 'Registration id.';
COMMENT ON COLUMN uso.registration.email IS 'Address the verification mail went to.';
COMMENT ON COLUMN uso.registration.username IS 'Requested login name.';
COMMENT ON COLUMN uso.registration.created_at IS 'When the user signed up.';
COMMENT ON COLUMN uso.registration.activated_at IS 'When the e-mail was verified; NULL while unverified.';

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

COMMENT ON TABLE uso.review_track IS 'A way proposals are reviewed: call-based (general user) or rapid access.';
COMMENT ON COLUMN uso.review_track.id IS 'Track id.';
COMMENT ON COLUMN uso.review_track.acronym IS 'Short unique name (GU, RA, ...).';
COMMENT ON COLUMN uso.review_track.name IS 'Display name.';
COMMENT ON COLUMN uso.review_track.require_call IS 'True: submissions wait for the call to close; false: rapid access, reviewed any time.';
COMMENT ON COLUMN uso.review_track.duration_cycles IS 'How many cycles a project from this track lasts.';

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

COMMENT ON TABLE uso.reviewer IS 'Users who review proposals.';
COMMENT ON COLUMN uso.reviewer.id IS 'Reviewer id.';
COMMENT ON COLUMN uso.reviewer.user_id IS 'The reviewing user.';
COMMENT ON COLUMN uso.reviewer.active IS 'Only active reviewers get new assignments.';

COMMENT ON TABLE uso.reviewer_track IS 'Which tracks a reviewer reviews for.';
COMMENT ON COLUMN uso.reviewer_track.reviewer_id IS 'The reviewer.';
COMMENT ON COLUMN uso.reviewer_track.track_id IS 'A track they review.';

COMMENT ON TABLE uso.beamline IS 'Beamlines (experimental stations) beamtime is allocated on.';
COMMENT ON COLUMN uso.beamline.id IS 'Beamline id.';
COMMENT ON COLUMN uso.beamline.acronym IS 'Short name; also the BioSync listing key.';
COMMENT ON COLUMN uso.beamline.name IS 'Display name.';

COMMENT ON TABLE uso.beamline_staff IS 'Beamline administrators and staff (told about automatic sign-offs).';
COMMENT ON COLUMN uso.beamline_staff.beamline_id IS 'The beamline.';
COMMENT ON COLUMN uso.beamline_staff.user_id IS 'The staff member.';
COMMENT ON COLUMN uso.beamline_staff.role IS 'admin or staff.';

COMMENT ON TABLE uso.proposal IS 'A research proposal written by a team.';
COMMENT ON COLUMN uso.proposal.id IS 'Proposal id.';
COMMENT ON COLUMN uso.proposal.code IS 'Unique code shown to users.';
COMMENT ON COLUMN uso.proposal.title IS 'Title.';
COMMENT ON COLUMN uso.proposal.spokesperson_id IS 'The team''s contact; receives the result.';
COMMENT ON COLUMN uso.proposal.created_at IS 'When it was written.';

COMMENT ON TABLE uso.proposal_member IS 'The proposal team (never assigned to review their own proposal).';
COMMENT ON COLUMN uso.proposal_member.proposal_id IS 'The proposal.';
COMMENT ON COLUMN uso.proposal_member.user_id IS 'A team member.';

COMMENT ON TABLE uso.proposal_request IS 'Beamtime a proposal asks for, per beamline (becomes the first cycle''s allocations).';
COMMENT ON COLUMN uso.proposal_request.proposal_id IS 'The proposal.';
COMMENT ON COLUMN uso.proposal_request.beamline_id IS 'The beamline asked for.';
COMMENT ON COLUMN uso.proposal_request.shifts IS 'Shifts requested.';

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

COMMENT ON TABLE uso.project IS 'Beamtime project created from an approved submission.';
COMMENT ON COLUMN uso.project.id IS 'Project id.';
COMMENT ON COLUMN uso.project.submission_id IS 'The approved submission (one project each).';
COMMENT ON COLUMN uso.project.proposal_id IS 'Its proposal.';
COMMENT ON COLUMN uso.project.cycle_id IS 'The first cycle of the project.';
COMMENT ON COLUMN uso.project.spokesperson_id IS 'The proposal''s spokesperson when the project was made.';
COMMENT ON COLUMN uso.project.start_date IS 'First day (start of the first cycle).';
COMMENT ON COLUMN uso.project.end_date IS 'Day after the last day (track duration in cycles).';
COMMENT ON COLUMN uso.project.created_at IS 'When it was created.';

COMMENT ON TABLE uso.allocation_request IS 'Renewal: a running project asks beamtime in a later cycle.';
COMMENT ON COLUMN uso.allocation_request.project_id IS 'The project.';
COMMENT ON COLUMN uso.allocation_request.cycle_id IS 'The cycle asked for.';
COMMENT ON COLUMN uso.allocation_request.beamline_id IS 'The beamline.';
COMMENT ON COLUMN uso.allocation_request.shifts IS 'Shifts requested.';
COMMENT ON COLUMN uso.allocation_request.created_at IS 'When it was asked.';

COMMENT ON TABLE uso.allocation IS 'Beamtime of a project on a beamline in a cycle: requested, then allocated by the committee.';
COMMENT ON COLUMN uso.allocation.project_id IS 'The project.';
COMMENT ON COLUMN uso.allocation.cycle_id IS 'The cycle.';
COMMENT ON COLUMN uso.allocation.beamline_id IS 'The beamline.';
COMMENT ON COLUMN uso.allocation.requested_shifts IS 'Shifts requested.';
COMMENT ON COLUMN uso.allocation.allocated_shifts IS 'Shifts allocated; NULL until the committee decides.';
COMMENT ON COLUMN uso.allocation.created_at IS 'When it was created.';

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

COMMENT ON TABLE uso.session_history IS 'What happened to a beamtime session, line by line.';
COMMENT ON COLUMN uso.session_history.id IS 'Line id.';
COMMENT ON COLUMN uso.session_history.session_id IS 'The session.';
COMMENT ON COLUMN uso.session_history.at IS 'When.';
COMMENT ON COLUMN uso.session_history.line IS 'What.';

COMMENT ON TABLE uso.journal IS 'Journals publications appear in.';
COMMENT ON COLUMN uso.journal.id IS 'Journal id.';
COMMENT ON COLUMN uso.journal.issn IS 'ISSN as 8 characters without the hyphen (SCImago''s form).';
COMMENT ON COLUMN uso.journal.title IS 'Title.';

COMMENT ON TABLE uso.journal_metric IS 'Journal metrics per year from the SCImago journal-rank export (UpdateMetrics).';
COMMENT ON COLUMN uso.journal_metric.journal_id IS 'The journal.';
COMMENT ON COLUMN uso.journal_metric.year IS 'Year the metrics describe.';
COMMENT ON COLUMN uso.journal_metric.sjr IS 'SCImago Journal Rank.';
COMMENT ON COLUMN uso.journal_metric.h_index IS 'H index.';
COMMENT ON COLUMN uso.journal_metric.impact_factor IS 'Citations per document over two years (impact factor).';
COMMENT ON COLUMN uso.journal_metric.updated_at IS 'When UpdateMetrics last changed it.';

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

COMMENT ON TABLE uso.publication_history IS 'Changes to a publication (citation counts, metadata), line by line.';
COMMENT ON COLUMN uso.publication_history.id IS 'Line id.';
COMMENT ON COLUMN uso.publication_history.publication_id IS 'The publication.';
COMMENT ON COLUMN uso.publication_history.at IS 'When.';
COMMENT ON COLUMN uso.publication_history.line IS 'What changed.';

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

