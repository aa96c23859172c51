-- The pack registers its tasks under their seed names: say which ones are
-- taken rather than fail on uso_task_name_key.
DO $$
DECLARE
    taken text := (SELECT pg_catalog.string_agg(t.name, ', ' ORDER BY t.name) FROM @extschema@.uso_task t
                    WHERE t.name IN ('AdvanceReviewWorkflow', 'CreateCycles', 'CycleStateManager', 'RemindReviewers',
                                     'StartReviews', 'AutoSignOff', 'CreateCallProjects', 'CreateNonCallProjects',
                                     'NotifyProjects', 'FetchBioSync', 'UpdateMetrics', 'FetchCitations',
                                     'UpdatePublications', 'CleanRegistrations', 'NotifyNewInstitutions', 'SyncUsers',
                                     'DeliverNotifications'));
BEGIN
    IF taken IS NOT NULL THEN
        RAISE EXCEPTION 'uso_office registers its tasks under names that are taken: %', taken
            USING ERRCODE = 'unique_violation',
                  HINT = 'Rename or unschedule those tasks (uso_alter_task(name, new_name => ...)), then create the extension.';
    END IF;
END
$$;

-- uso_office: the USO task pack, part 5: the 17 tasks registered under their
-- seed 000 names, with USO's own schedule strings (ISO 8601 durations and
-- times of day), the seed's descriptions and the app they belong to. The
-- owner (the role the tasks run as) is the role named by the setting
-- uso_office.task_owner, or else the role running CREATE EXTENSION;
-- next_run_at is left to the scheduler. CreateCallProjects and NotifyProjects
-- run every day (00:15, 00:30) and act on every cycle whose allocation date
-- has come (and NotifyProjects on rapid-access projects of the day before),
-- so no allocation date is lost while one of them is disabled: the first run
-- after re-enabling catches up.
--
-- The rows are built in (left out of pg_dump: CREATE EXTENSION uso_office on
-- restore registers them again) and say they belong to uso_office, whose
-- DROP deletes them (90_packs.sql of uso_tasks). Their ids are negative,
-- below every built-in id already there, so user task ids never collide with
-- them and the user task id sequence is not used.

INSERT INTO @extschema@.uso_task (id, builtin, extension, username, name, category, schedule, command, config, description)
SELECT (SELECT COALESCE(pg_catalog.min(t.id), 0) FROM @extschema@.uso_task t WHERE t.id < 0)
           - pg_catalog.row_number() OVER (),
       true, 'uso_office',
       COALESCE(NULLIF(pg_catalog.current_setting('uso_office.task_owner', true), ''),
                           CURRENT_USER)::name,
       v.name, v.category, v.schedule, v.command, v.config::jsonb, v.description
FROM (VALUES
('AdvanceReviewWorkflow', 'proposals', 'PT15M', 'SELECT uso.advance_review_workflow()',
 '{"review_days": 14}',
 'Advances the review workflow for proposals and submissions based on the defined rules: creates the reviews of the next stage, decides stages, approves or rejects submissions.'),
('CreateCycles', 'proposals', 'P1D', 'SELECT uso.create_cycles()',
 '{"years_ahead": 2}',
 'Creates new cycles based on the defined cycle types: ensures cycles exist for each active cycle type for the next 2 years.'),
('CycleStateManager', 'proposals', 'PT1H', 'SELECT uso.cycle_state_manager()',
 '{}',
 'Manages the state transitions of cycles, moving them forward by their dates.'),
('RemindReviewers', 'proposals', 'T02:00', 'SELECT uso.remind_reviewers()',
 '{"lead_days": 1}',
 'Sends reminders to reviewers about pending reviews that are due soon, one combined message per reviewer.'),
('StartReviews', 'proposals', 'PT6H', 'SELECT uso.start_reviews()',
 '{"review_days": 14}',
 'Opens pending reviews and notifies reviewers about their assigned reviews; notifications of multiple reviews to a single reviewer are combined into a single e-mail message.'),
('AutoSignOff', 'projects', 'PT4H', 'SELECT uso.auto_sign_off()',
 '{"after": "8 hours"}',
 'Signs off project sessions automatically if users have not signed off after their session ends.'),
('CreateCallProjects', 'projects', 'T00:15', 'SELECT uso.create_call_projects()',
 '{}',
 'Creates projects for submissions to review tracks that require a call, at 00:15 on the allocation date of the cycle (checked daily, so a missed date is caught up).'),
('CreateNonCallProjects', 'projects', 'PT15M', 'SELECT uso.create_non_call_projects()',
 '{}',
 'Creates projects for submissions to review tracks that do not require a call.'),
('NotifyProjects', 'projects', 'T00:30', 'SELECT uso.notify_projects()',
 '{}',
 'Sends notifications to users about the result of their submissions and projects, after reviews are completed and allocations have been performed: at 00:30 on the day after the allocation date, and the day after a rapid-access project is created.'),
('FetchBioSync', 'publications', 'P7D', 'SELECT uso.fetch_bio_sync()',
 '{"biosync_url": "https://biosync.rcsb.org/api/beamlines", "pdb_url": "https://data.rcsb.org/rest/v1", "timeout": "30 seconds"}',
 'Fetches PDB deposits data from the BioSync database.'),
('UpdateMetrics', 'publications', 'P3M', 'SELECT uso.update_metrics()',
 '{"metrics_url": "https://www.scimagojr.com/journalrank.php?out=xls&year={year}", "format": "csv", "timeout": "2 minutes"}',
 'Fetches journal metrics from SCImago and updates the metrics for publications. Runs once a quarter.'),
('FetchCitations', 'publications', 'P1M', 'SELECT uso.fetch_citations()',
 '{"crossref_url": "https://api.crossref.org", "timeout": "30 seconds"}',
 'Fetches citation data from the CrossRef database and updates the publication records.'),
('UpdatePublications', 'publications', 'P7D', 'SELECT uso.update_publications()',
 '{"crossref_url": "https://api.crossref.org", "timeout": "30 seconds"}',
 'Updates the metadata for all articles published in the current month.'),
('CleanRegistrations', 'users', 'P1D', 'SELECT uso.clean_registrations()',
 '{"max_age": "7 days"}',
 'Cleans up old user registrations that have not been activated.'),
('NotifyNewInstitutions', 'users', 'P1D', 'SELECT uso.notify_new_institutions()',
 '{"admin_role": "contracts-admin"}',
 'Sends notifications to administrators about new institutions that have been created and are pending approval.'),
('SyncUsers', 'users', 'PT1H', 'SELECT uso.sync_users()',
 '{"users_url": "", "removed": "deactivate", "timeout": "30 seconds"}',
 'Synchronizes user data with the external user management system (if configured).'),
('DeliverNotifications', 'notifications', 'every 1 minute', 'SELECT uso.deliver_notifications()',
 '{"max_attempts": 5, "backoff": "1 minute", "batch": 100, "stop_after_failures": 3}',
 'Sends the notification outbox by e-mail through SMTP, retrying failed messages with backoff, never sending one twice.')
) AS v (name, category, schedule, command, config, description);

-- uso_office: the role the pack's tasks run as.  By default the role running
-- CREATE EXTENSION uso_office (a superuser: the extension needs one).  A DBA
-- who wants them to run with less names another role first:
--     SET uso_office.task_owner = 'uso_office_runner';   -- a role with LOGIN
--     CREATE EXTENSION uso_office;
-- That role gets what the tasks need: the schema uso and its tables and
-- sequences.  The tasks are then that role's, under the usual rules: only it
-- or a superuser may change what they execute.
DO $$
DECLARE
    owner name := (SELECT t.username FROM @extschema@.uso_task t
                    WHERE t.extension = 'uso_office' LIMIT 1);
BEGIN
    IF owner IS NOT NULL AND NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = owner) THEN
        EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA uso TO %I', owner);
        EXECUTE pg_catalog.format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA uso TO %I', owner);
        EXECUTE pg_catalog.format('GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA uso TO %I', owner);
    END IF;
END
$$;
