-- uso_tasks: retention of run history (docs/retention.md).
--
-- Finished runs older than uso_tasks.run_retention, and those beyond their
-- task's keep_runs newest, are deleted with their log lines in bounded
-- batches that skip rows other transactions hold (src/retention.c). Queued
-- and running runs are never touched. A role purges the runs of its own
-- tasks; superusers and members of uso_admin purge every task's.

CREATE FUNCTION _uso_tasks.uso_purge_runs_batch(older_than interval, batch_size integer)
    RETURNS bigint
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'uso_purge_runs_batch';
COMMENT ON FUNCTION _uso_tasks.uso_purge_runs_batch(interval, integer) IS
'Deletes at most batch_size finished runs (with their log lines) that finished before '
'now() - older_than (NULL = uso_tasks.run_retention) or lie beyond their task''s keep_runs '
'newest; rows locked by others are skipped. Returns how many it deleted.';
-- The same C function in the API (docs/retention.md); the engine calls the
-- private one (docs/security.md, rule 19).
CREATE FUNCTION @extschema@.uso_purge_runs_batch(older_than interval, batch_size integer)
    RETURNS bigint
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'uso_purge_runs_batch';
COMMENT ON FUNCTION @extschema@.uso_purge_runs_batch(interval, integer) IS
'Deletes at most batch_size finished runs (with their log lines) that finished before '
'now() - older_than (NULL = uso_tasks.run_retention) or lie beyond their task''s keep_runs '
'newest; rows locked by others are skipped. Returns how many it deleted.';

CREATE FUNCTION @extschema@.uso_purge_runs(older_than interval DEFAULT NULL)
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    total bigint := 0;
    n bigint;
BEGIN
    LOOP
        n := _uso_tasks.uso_purge_runs_batch(older_than, 10000);
        total := total + n;
        IF n = 0 THEN EXIT; END IF;
    END LOOP;
    RETURN total;
END
$$;
COMMENT ON FUNCTION @extschema@.uso_purge_runs(interval) IS
'Purges finished runs and their log lines now, in one transaction: those finished before '
'now() - older_than (NULL = uso_tasks.run_retention) and those beyond their task''s keep_runs '
'newest. Never touches queued or running runs; a role purges only its own tasks'' runs. '
'Returns how many runs it deleted.';

-- A procedure without SET clauses, so it may COMMIT between batches (the
-- executor runs CALL in a non-atomic context): no long transaction, no
-- lock held for more than one batch. Without a pinned search_path, its
-- operators are spelled out so none of the caller's can stand in.
CREATE PROCEDURE @extschema@.uso_purge_runs_batched(older_than interval DEFAULT NULL,
                                                    batch_size integer DEFAULT 10000)
    LANGUAGE plpgsql
AS $$
DECLARE
    total bigint := 0;
    n bigint;
BEGIN
    LOOP
        n := _uso_tasks.uso_purge_runs_batch(older_than, batch_size);
        total := total OPERATOR(pg_catalog.+) n;
        COMMIT;
        IF n OPERATOR(pg_catalog.=) 0 THEN EXIT; END IF;
    END LOOP;
    RAISE NOTICE 'purged % runs', total;
END
$$;
COMMENT ON PROCEDURE @extschema@.uso_purge_runs_batched(interval, integer) IS
'The housekeeping task''s purge: as uso_purge_runs(), committing after each batch of '
'batch_size runs; reports the count as a NOTICE. Call it outside a transaction block.';

-- Whoever may DELETE from uso_task_run (PUBLIC, for the pg_cron layer's
-- job_run_details, limited to its own runs by row-level security) must not
-- delete a run that is still queued or running: the executor and the
-- scheduler still own it.
-- (The pg_cron layer, which grants DELETE for cron.job_run_details, may
-- already have created the same policy under its own name.)
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_policy
                   WHERE polrelid = '@extschema@.uso_task_run'::pg_catalog.regclass
                     AND NOT polpermissive AND polcmd = 'd') THEN
        CREATE POLICY uso_task_run_purge ON @extschema@.uso_task_run AS RESTRICTIVE FOR DELETE
            USING (finished_at IS NOT NULL);
    END IF;
END
$$;

