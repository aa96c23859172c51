-- uso_tasks: tasks that follow tasks.  A task scheduled 'after X' runs each
-- time a run of X succeeds; 'after X fails' each time one ends failed or
-- timed_out after its last retry (docs/schedule.md, "Tasks that follow
-- tasks").
--
-- How: the task row keeps the id of the task it follows (resolved from the
-- name when the schedule is written, so a rename of X changes nothing), and
-- the trigger that sees a run end (uso_run_ended, 95_operations.sql) queues
-- the followers' runs in the same transaction as the outcome.  So a run
-- that committed its success has queued its followers, whatever crashes
-- next, and a follower is queued once per predecessor run: a scheduler that
-- was down finds the queued run when it starts (one catchup), never two.
-- The queued run is the follower's own: its owner, timeout, retries,
-- overlap policy and history.

COMMENT ON COLUMN @extschema@.uso_task.follows_task_id IS
    'For a schedule ''after <task>'': the id of the task it follows (kept across renames); NULL when that task was deleted (the follower shows status missing).';
COMMENT ON COLUMN @extschema@.uso_task.follows_on IS
    'For a schedule ''after <task>'': success, or failure for ''after <task> fails''; NULL for every other schedule.';

-- The schedule text of a follower, quoting the name when it must be: blanks
-- around it, a leading quote, or a last word "fails" would read otherwise.
CREATE FUNCTION _uso_tasks.uso_after_schedule(task text, on_failure boolean) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT
    SET search_path = pg_catalog, pg_temp
    AS $$
SELECT 'after '
       || CASE WHEN task ~ '^[ \t"]|[ \t]$' OR task ~* '[ \t]fails$'
               THEN '"' || replace(task, '"', '""') || '"' ELSE task END
       || CASE WHEN on_failure THEN ' fails' ELSE '' END
$$;
COMMENT ON FUNCTION _uso_tasks.uso_after_schedule(text, boolean) IS
    'The schedule text that follows a task: ''after <task>'' or ''after <task> fails'', with the name in double quotes when it has surrounding blanks, begins with a quote or ends in the word fails.';
-- The API's (docs/schedule.md); the engine calls the private one.
CREATE FUNCTION @extschema@.uso_after_schedule(task text, on_failure boolean) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT _uso_tasks.uso_after_schedule(task, on_failure) $$;
COMMENT ON FUNCTION @extschema@.uso_after_schedule(text, boolean) IS
    'The schedule text that follows a task: ''after <task>'' or ''after <task> fails'', with the name in double quotes when it has surrounding blanks, begins with a quote or ends in the word fails.';

-- The tasks from predecessor back to follower when making follower follow
-- predecessor would close a cycle, else NULL.  As the caller: the walk sees
-- the tasks it may see, which for a role that is not an admin are its own.
-- A cycle it cannot see (an admin linked its task to another role's), or one
-- two transactions close at the same moment, is stopped when it runs: see
-- uso_queue_followers.
CREATE FUNCTION _uso_tasks.uso_follows_cycle(follower bigint, predecessor bigint) RETURNS bigint[]
    LANGUAGE plpgsql STABLE SECURITY INVOKER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    path bigint[] := ARRAY[predecessor];
    cur  bigint := predecessor;
BEGIN
    LOOP
        IF cur = follower THEN
            RETURN path;
        END IF;
        SELECT t.follows_task_id INTO cur FROM @extschema@.uso_task t WHERE t.id = cur;
        IF cur IS NULL OR cur = ANY (path) THEN
            RETURN NULL;
        END IF;
        path := path || cur;
    END LOOP;
END
$$;
COMMENT ON FUNCTION _uso_tasks.uso_follows_cycle(bigint, bigint) IS
    'The task ids from predecessor back to follower when follower following predecessor would close a cycle among the tasks the caller can see, else NULL.';

-- Resolves 'after X' when a schedule is written, as the caller (SECURITY
-- INVOKER: row-level security decides which X the caller can see).  Fires
-- after uso_task_validate (name order), which has checked the schedule and
-- normalized database.  A write that leaves the schedule text and database
-- as they were keeps the link (so an alter of another setting never fails
-- here), except that a follower whose task is gone follows the task that
-- has the name now, if the writer can see one.
CREATE FUNCTION _uso_tasks.uso_task_follows() RETURNS trigger
    LANGUAGE plpgsql SECURITY INVOKER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    pred_name text := _uso_tasks.uso_schedule_follows(NEW.schedule);
    pred      @extschema@.uso_task;
    cycle     bigint[];
    shown     text;
    found_it  boolean;
    same      boolean := TG_OP = 'UPDATE' AND NEW.schedule = OLD.schedule
                         AND NEW.database IS NOT DISTINCT FROM OLD.database;
BEGIN
    IF pred_name IS NULL THEN
        NEW.follows_task_id := NULL;
        NEW.follows_on := NULL;
        RETURN NEW;
    END IF;
    IF same AND OLD.follows_task_id IS NOT NULL THEN
        NEW.follows_task_id := OLD.follows_task_id;
        NEW.follows_on := OLD.follows_on;
        RETURN NEW;
    END IF;
    -- A row as pg_dump wrote it (only a superuser writes these columns):
    -- its link stands, whatever order the rows come back in; by name when
    -- the task is there (a built-in task comes back under a new id), and a
    -- follower that was missing stays missing.
    IF TG_OP = 'INSERT' AND NEW.follows_on IS NOT NULL THEN
        IF NEW.follows_task_id IS NOT NULL THEN
            NEW.follows_task_id := coalesce((SELECT t.id FROM @extschema@.uso_task t
                                             WHERE t.name = pred_name), NEW.follows_task_id);
        END IF;
        RETURN NEW;
    END IF;
    SELECT * INTO pred FROM @extschema@.uso_task t WHERE t.name = pred_name;
    found_it := FOUND;
    -- A missing follower written for another reason: it follows the task of
    -- that name if it could be linked to it now, else it stays missing.
    IF same AND (NOT found_it
                 OR coalesce(pred.database, current_database()) <> coalesce(NEW.database, current_database())
                 OR _uso_tasks.uso_follows_cycle(NEW.id, pred.id) IS NOT NULL) THEN
        RETURN NEW;
    END IF;
    IF NOT found_it THEN
        RAISE EXCEPTION 'task "%" does not exist', _uso_tasks.uso_shorten(pred_name)
            USING ERRCODE = 'undefined_object',
                  DETAIL = format('The schedule "%s" follows it.', _uso_tasks.uso_shorten(NEW.schedule)),
                  HINT = 'A task can follow a task you can see: SELECT name FROM uso_background_tasks lists them.';
    END IF;
    IF coalesce(pred.database, current_database()) <> coalesce(NEW.database, current_database()) THEN
        RAISE EXCEPTION 'task "%" runs in database "%", not in "%"', _uso_tasks.uso_shorten(pred_name),
                        coalesce(pred.database, current_database()), coalesce(NEW.database, current_database())
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A task can only follow a task of the same database.';
    END IF;
    -- The same task as before (a rename rewrote the text, or only "fails"
    -- changed): no new link, nothing to check.
    IF TG_OP = 'UPDATE' AND pred.id = OLD.follows_task_id THEN
        NEW.follows_task_id := pred.id;
        NEW.follows_on := CASE WHEN _uso_tasks.uso_schedule_follows_failures(NEW.schedule)
                               THEN 'failure' ELSE 'success' END;
        RETURN NEW;
    END IF;
    cycle := _uso_tasks.uso_follows_cycle(NEW.id, pred.id);
    IF cycle IS NOT NULL THEN
        -- 'A after B after A': every task of it is one the caller can see
        SELECT string_agg(format('"%s"', CASE WHEN c.id = NEW.id THEN _uso_tasks.uso_shorten(NEW.name)
                                              ELSE (SELECT _uso_tasks.uso_shorten(t.name)
                                                    FROM @extschema@.uso_task t WHERE t.id = c.id) END),
                          ' after ' ORDER BY c.n) INTO shown
        FROM unnest(cycle) WITH ORDINALITY AS c(id, n);
        RAISE EXCEPTION 'schedule "%" would make a cycle: "%" after %', _uso_tasks.uso_shorten(NEW.schedule),
                        _uso_tasks.uso_shorten(NEW.name), shown
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Each task in it would run after the one before it, for ever.',
                  HINT = 'Give one task of the cycle a clock schedule, or @manual.';
    END IF;
    NEW.follows_task_id := pred.id;
    NEW.follows_on := CASE WHEN _uso_tasks.uso_schedule_follows_failures(NEW.schedule)
                           THEN 'failure' ELSE 'success' END;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION _uso_tasks.uso_task_follows() IS
    'Trigger: resolves the task an ''after <task>'' schedule follows (it must exist, be visible to the caller, run in the same database and close no cycle) into follows_task_id and follows_on.';

CREATE TRIGGER uso_task_validate_follows
    BEFORE INSERT OR UPDATE OF schedule, database ON @extschema@.uso_task
    FOR EACH ROW EXECUTE FUNCTION _uso_tasks.uso_task_follows();

-- A rename rewrites the followers' schedule text, so that what they show
-- (schedule, frequency, cron.job) names the task they follow; a delete, or
-- a move to another database, leaves them following nothing (status
-- missing).  Followers may belong to other roles: this runs as the owner,
-- changes nothing but their schedule text and link, and the link itself
-- stays (uso_task_follows: the same task, no check that could fail).
CREATE FUNCTION _uso_tasks.uso_task_followed_changed() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        UPDATE @extschema@.uso_task f SET follows_task_id = NULL WHERE f.follows_task_id = OLD.id;
        RETURN NULL;
    END IF;
    IF coalesce(NEW.database, current_database()) IS DISTINCT FROM coalesce(OLD.database, current_database()) THEN
        UPDATE @extschema@.uso_task f SET follows_task_id = NULL
         WHERE f.follows_task_id = NEW.id
           AND coalesce(f.database, current_database()) <> coalesce(NEW.database, current_database());
    END IF;
    IF NEW.name IS DISTINCT FROM OLD.name THEN
        UPDATE @extschema@.uso_task f
           SET schedule = _uso_tasks.uso_after_schedule(NEW.name, f.follows_on = 'failure')
         WHERE f.follows_task_id = NEW.id;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION _uso_tasks.uso_task_followed_changed() IS
    'Trigger: a followed task was renamed (its followers'' schedules name it anew), moved to another database or deleted (they follow nothing and show status missing).';
REVOKE EXECUTE ON FUNCTION _uso_tasks.uso_task_followed_changed() FROM PUBLIC;

CREATE TRIGGER uso_task_followed_changed
    AFTER UPDATE OF name, database OR DELETE ON @extschema@.uso_task
    FOR EACH ROW EXECUTE FUNCTION _uso_tasks.uso_task_followed_changed();

-- Outcomes whose followers' rows were locked when the outcome committed
-- (an open transaction of their owner holds them).  Queueing a run takes a
-- key-share lock on its task row; waiting for it would let one role's open
-- transaction stall another role's run, or the scheduler, which writes some
-- outcomes itself.  So the outcome is kept here, in the same transaction,
-- and the scheduler queues the run once the row is free (uso_queue_pending_followers).
-- The table is in sql/schema/uso_tasks.sql (no foreign key: a follower of a
-- built-in task must survive pg_dump, which leaves built-in rows out); no role
-- reads or writes it.
COMMENT ON TABLE @extschema@.uso_chain_pending IS
    'Internal: runs of followers still to queue, because the follower''s row was locked when the run they follow ended; the scheduler queues them when the lock goes.';
COMMENT ON COLUMN @extschema@.uso_chain_pending.caused_by_run_id IS 'The run whose end triggers the follower.';
COMMENT ON COLUMN @extschema@.uso_chain_pending.task_id IS 'The follower.';
COMMENT ON COLUMN @extschema@.uso_chain_pending.predecessor_id IS 'The task of caused_by_run_id.';
COMMENT ON COLUMN @extschema@.uso_chain_pending.since IS 'When the run ended.';

CREATE FUNCTION _uso_tasks.uso_runs_queued() RETURNS void
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'uso_runs_queued';
COMMENT ON FUNCTION _uso_tasks.uso_runs_queued() IS
    'Internal: this database''s scheduler looks for queued runs once the transaction commits.';
REVOKE EXECUTE ON FUNCTION _uso_tasks.uso_runs_queued() FROM PUBLIC;

-- One follower's run, caused by run run_id: queued, or skipped as its
-- overlap policy says, or skipped when it already ran in the chain of runs
-- that led here (chain: those runs' tasks): the tasks follow each other in
-- a cycle that the checks at creation could not see (one made through a
-- task the writer cannot see, or by two transactions at once), and it goes
-- round once, not for ever.  The caller holds a key-share lock on f's row.
CREATE FUNCTION _uso_tasks.uso_queue_follower(f @extschema@.uso_task, run_id bigint, chain bigint[])
    RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    busy  bigint;
    state text;
    why   text;
BEGIN
    IF f.id = ANY (chain) THEN
        why := 'skipped: this task already ran in the chain of runs that led here; '
               'the tasks follow each other in a cycle';
    ELSIF f.overlap <> 'parallel' THEN
        SELECT r.id, r.status INTO busy, state FROM @extschema@.uso_task_run r
        WHERE r.task_id = f.id AND r.finished_at IS NULL
          AND (f.overlap = 'skip' OR r.status = 'queued')
        ORDER BY r.id LIMIT 1;
        IF busy IS NOT NULL THEN
            why := format('skipped: run %s of this task is still %s', busy, state);
        END IF;
    END IF;
    INSERT INTO @extschema@.uso_task_run (task_id, trigger, caused_by_run_id, status, finished_at, return_message)
    VALUES (f.id, 'chain', run_id, CASE WHEN why IS NULL THEN 'queued' ELSE 'skipped' END,
            CASE WHEN why IS NOT NULL THEN clock_timestamp() END, why);
    RETURN why IS NULL;
END
$$;
COMMENT ON FUNCTION _uso_tasks.uso_queue_follower(@extschema@.uso_task, bigint, bigint[]) IS
    'Internal: records one chain run of follower f caused by run run_id: queued, or skipped by its overlap policy or because f already ran in the chain (a cycle). True when queued.';
REVOKE EXECUTE ON FUNCTION _uso_tasks.uso_queue_follower(@extschema@.uso_task, bigint, bigint[]) FROM PUBLIC;

-- The tasks of run run_id and the runs that caused it, back to the first
-- (most runs have no cause: one index probe).
CREATE FUNCTION _uso_tasks.uso_run_chain(run_id bigint) RETURNS bigint[]
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
WITH RECURSIVE c(id, task_id, caused_by, depth) AS (
    SELECT r.id, r.task_id, r.caused_by_run_id, 1 FROM @extschema@.uso_task_run r WHERE r.id = run_id
    UNION ALL
    SELECT r.id, r.task_id, r.caused_by_run_id, c.depth + 1
    FROM c JOIN @extschema@.uso_task_run r ON r.id = c.caused_by
    WHERE c.depth < 1000)
SELECT coalesce(array_agg(c.task_id), '{}') FROM c
$$;
COMMENT ON FUNCTION _uso_tasks.uso_run_chain(bigint) IS
    'Internal: the task ids of a run and of the runs that caused it (caused_by_run_id), back to the first.';
REVOKE EXECUTE ON FUNCTION _uso_tasks.uso_run_chain(bigint) FROM PUBLIC;

CREATE FUNCTION _uso_tasks.uso_chains_pending() RETURNS void
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'uso_chains_pending';
COMMENT ON FUNCTION _uso_tasks.uso_chains_pending() IS
    'Internal: this database''s scheduler queues the runs left in uso_chain_pending once the transaction commits.';
REVOKE EXECUTE ON FUNCTION _uso_tasks.uso_chains_pending() FROM PUBLIC;

-- Called by uso_run_ended when a run of pred ended with outcome 'success'
-- or (after its last retry) 'failure', in the transaction that records it:
-- each enabled follower of the same database gets its run now, or, when
-- its row is locked, a pending entry the scheduler turns into the run.
-- Never waits for a lock.
CREATE FUNCTION _uso_tasks.uso_queue_followers(pred bigint, run_id bigint, outcome text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    chain bigint[] := _uso_tasks.uso_run_chain(run_id);
    db    name := (SELECT coalesce(p.database, current_database()) FROM @extschema@.uso_task p WHERE p.id = pred);
    f     @extschema@.uso_task;
    wake  boolean := false;
    later boolean := false;
BEGIN
    FOR f IN SELECT * FROM @extschema@.uso_task x
             WHERE x.follows_task_id = pred AND x.follows_on = outcome AND x.enabled
               AND coalesce(x.database, current_database()) = db
             ORDER BY x.id LOOP
        PERFORM FROM @extschema@.uso_task x WHERE x.id = f.id FOR KEY SHARE SKIP LOCKED;
        IF FOUND THEN
            wake := _uso_tasks.uso_queue_follower(f, run_id, chain) OR wake;
        ELSE
            INSERT INTO @extschema@.uso_chain_pending (caused_by_run_id, task_id, predecessor_id)
            VALUES (run_id, f.id, pred) ON CONFLICT DO NOTHING;
            later := true;
        END IF;
    END LOOP;
    IF wake THEN
        PERFORM _uso_tasks.uso_runs_queued();
    END IF;
    IF later THEN
        PERFORM _uso_tasks.uso_chains_pending();
    END IF;
END
$$;
COMMENT ON FUNCTION _uso_tasks.uso_queue_followers(bigint, bigint, text) IS
    'Internal: queues a chain run of each enabled follower of task pred in its database (follows_on = outcome), caused by run run_id; one whose row is locked is left in uso_chain_pending for the scheduler.';
REVOKE EXECUTE ON FUNCTION _uso_tasks.uso_queue_followers(bigint, bigint, text) FROM PUBLIC;

-- The scheduler's side of uso_chain_pending: queues the runs whose
-- follower rows are free now (a follower deleted or disabled meanwhile gets
-- none), skipping those still locked.  Returns how many are left.
CREATE FUNCTION _uso_tasks.uso_queue_pending_followers() RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    p    @extschema@.uso_chain_pending;
    f    @extschema@.uso_task;
    left_ integer := 0;
    wake boolean := false;
BEGIN
    FOR p IN SELECT * FROM @extschema@.uso_chain_pending x ORDER BY x.since FOR UPDATE SKIP LOCKED LOOP
        SELECT * INTO f FROM @extschema@.uso_task x WHERE x.id = p.task_id FOR KEY SHARE SKIP LOCKED;
        IF NOT FOUND AND EXISTS (SELECT FROM @extschema@.uso_task x WHERE x.id = p.task_id) THEN
            left_ := left_ + 1;     -- still locked
            CONTINUE;
        END IF;
        IF f.id IS NOT NULL AND f.enabled AND f.follows_task_id = p.predecessor_id THEN
            wake := _uso_tasks.uso_queue_follower(f, p.caused_by_run_id,
                                                  _uso_tasks.uso_run_chain(p.caused_by_run_id)) OR wake;
        END IF;
        DELETE FROM @extschema@.uso_chain_pending x
         WHERE x.caused_by_run_id = p.caused_by_run_id AND x.task_id = p.task_id;
    END LOOP;
    RETURN left_;
END
$$;
COMMENT ON FUNCTION _uso_tasks.uso_queue_pending_followers() IS
    'Internal, for the scheduler: queues the chain runs left in uso_chain_pending whose follower rows are no longer locked; returns how many are still waiting.';
REVOKE EXECUTE ON FUNCTION _uso_tasks.uso_queue_pending_followers() FROM PUBLIC;
