
------------------------------------------------------------------------------
-- uso_office 0.1 -> 0.2: rows.  Issue 17: CreateCallProjects and
-- NotifyProjects run daily and act on every cycle whose date has come (0.1's
-- cycle trigger queued one-off runs; it is gone with 0.1's code), and
-- DeliverNotifications stops after repeated failures.  Each value changes
-- only where it is still 0.1's: what a DBA set is kept.
UPDATE @extschema@.uso_task SET schedule = 'T00:15'
 WHERE builtin AND extension OPERATOR(pg_catalog.=) 'uso_office' AND name OPERATOR(pg_catalog.=) 'CreateCallProjects'
   AND schedule OPERATOR(pg_catalog.=) '@manual';
UPDATE @extschema@.uso_task SET schedule = 'T00:30'
 WHERE builtin AND extension OPERATOR(pg_catalog.=) 'uso_office' AND name OPERATOR(pg_catalog.=) 'NotifyProjects'
   AND schedule OPERATOR(pg_catalog.=) '@manual';
UPDATE @extschema@.uso_task SET config = '{}'
 WHERE builtin AND extension OPERATOR(pg_catalog.=) 'uso_office'
   AND (name, config) IN (('CreateCallProjects', '{"frequency": "at 00:15 on the allocation date"}'::pg_catalog.jsonb),
                          ('NotifyProjects', '{"frequency": "at 00:30 on the day after the allocation date"}'::pg_catalog.jsonb));
UPDATE @extschema@.uso_task SET config = '{"max_attempts": 5, "backoff": "1 minute", "batch": 100, "stop_after_failures": 3}'
 WHERE builtin AND extension OPERATOR(pg_catalog.=) 'uso_office' AND name OPERATOR(pg_catalog.=) 'DeliverNotifications'
   AND config OPERATOR(pg_catalog.=) '{"max_attempts": 5, "backoff": "1 minute", "batch": 100}'::pg_catalog.jsonb;
UPDATE @extschema@.uso_task SET
    description = 'Creates projects for submissions to review tracks that require a call, at 00:15 on the allocation date of the cycle (checked daily, so a missed date is caught up).'
 WHERE builtin AND extension OPERATOR(pg_catalog.=) 'uso_office' AND name OPERATOR(pg_catalog.=) 'CreateCallProjects'
   AND description OPERATOR(pg_catalog.=) 'Creates projects for submissions to review tracks that require a call. Runs only at 00:15 on the allocation date of the cycle.';
UPDATE @extschema@.uso_task SET
    description = 'Sends notifications to users about the result of their submissions and projects, after reviews are completed and allocations have been performed: at 00:30 on the day after the allocation date, and the day after a rapid-access project is created.'
 WHERE builtin AND extension OPERATOR(pg_catalog.=) 'uso_office' AND name OPERATOR(pg_catalog.=) 'NotifyProjects'
   AND description OPERATOR(pg_catalog.=) 'Sends notifications to users about the result of their submissions and projects, after reviews are completed and allocations have been performed. Runs at 00:30 on the day after the allocation date.';
