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

-- New task columns come last (ALTER TABLE appends, as the update script does).
ALTER TABLE @extschema@.uso_task ADD COLUMN follows_task_id bigint;
ALTER TABLE @extschema@.uso_task ADD COLUMN follows_on text;
ALTER TABLE @extschema@.uso_task ADD CONSTRAINT uso_task_follows_on_check
    CHECK (follows_on IN ('success', 'failure'));
-- No foreign key: a follower of a built-in task must survive pg_dump, which
-- leaves built-in rows out (they are registered again, maybe under other ids).
CREATE INDEX uso_task_follows_idx ON @extschema@.uso_task (follows_task_id)
    WHERE follows_task_id IS NOT NULL;
COMMENT ON COLUMN @extschema@.uso_task.follows_task_id IS
    'For a schedule ''after <task>'': the id of the task it follows (kept across renames); NULL when that task was deleted (the follower shows status missing).';
COMMENT ON COLUMN @extschema@.uso_task.follows_on IS
    'For a schedule ''after <task>'': success, or failure for ''after <task> fails''; NULL for every other schedule.';

-- The schedule text of a follower, quoting the name when it must be: blanks
-- around it, a leading quote, or a last word "fails" would read otherwise.
CREATE FUNCTION @extschema@.uso_after_schedule(task text, on_failure boolean) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT
    SET search_path = pg_catalog, pg_temp
    AS $$
SELECT 'after '
       || CASE WHEN task ~ '^[ \t"]|[ \t]$' OR task ~* '[ \t]fails$'
               THEN '"' || replace(task, '"', '""') || '"' ELSE task END
       || CASE WHEN on_failure THEN ' fails' ELSE '' END
$$;
COMMENT ON FUNCTION @extschema@.uso_after_schedule(text, boolean) IS
    'The schedule text that follows a task: ''after <task>'' or ''after <task> fails'', with the name in double quotes when it has surrounding blanks, begins with a quote or ends in the word fails.';

-- The tasks from predecessor back to follower when making follower follow
-- predecessor would close a cycle, else NULL.  As the caller: the walk sees
-- the tasks it may see, which for a role that is not an admin are its own.
-- A cycle it cannot see (an admin linked its task to another role's), or one
-- two transactions close at the same moment, is stopped when it runs: see
-- uso_queue_followers.
CREATE FUNCTION @extschema@.uso_follows_cycle(follower bigint, predecessor bigint) RETURNS bigint[]
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
COMMENT ON FUNCTION @extschema@.uso_follows_cycle(bigint, bigint) IS
    'The task ids from predecessor back to follower when follower following predecessor would close a cycle among the tasks the caller can see, else NULL.';

-- Resolves 'after X' when a schedule is written, as the caller (SECURITY
-- INVOKER: row-level security decides which X the caller can see; nothing
-- here locks or reads another role's rows).  Fires
-- after uso_task_validate (name order), which has checked the schedule and
-- normalized database.
CREATE FUNCTION @extschema@.uso_task_follows() RETURNS trigger
    LANGUAGE plpgsql SECURITY INVOKER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    pred_name text := @extschema@.uso_schedule_follows(NEW.schedule);
    pred      @extschema@.uso_task;
    cycle     bigint[];
    shown     text;
BEGIN
    IF pred_name IS NULL THEN
        NEW.follows_task_id := NULL;
        NEW.follows_on := NULL;
        RETURN NEW;
    END IF;
    -- Unchanged and still there: a rename of the predecessor rewrote the
    -- text, and it must not move to another task that took the old name.
    IF TG_OP = 'UPDATE' AND NEW.schedule = OLD.schedule AND OLD.follows_task_id IS NOT NULL
       AND coalesce(NEW.database, '') = coalesce(OLD.database, '') THEN
        NEW.follows_task_id := OLD.follows_task_id;
        NEW.follows_on := OLD.follows_on;
        RETURN NEW;
    END IF;
    SELECT * INTO pred FROM @extschema@.uso_task t WHERE t.name = pred_name;
    IF NOT FOUND THEN
        -- pg_restore loads tasks in any order: a row that comes with the id
        -- of its predecessor keeps it (only a superuser can write the column).
        IF TG_OP = 'INSERT' AND NEW.follows_task_id IS NOT NULL THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'task "%" does not exist', @extschema@.uso_shorten(pred_name)
            USING ERRCODE = 'undefined_object',
                  DETAIL = format('The schedule "%s" follows it.', @extschema@.uso_shorten(NEW.schedule)),
                  HINT = 'A task can follow a task you can see: SELECT name FROM uso_background_tasks lists them.';
    END IF;
    IF coalesce(pred.database, current_database()) <> coalesce(NEW.database, current_database()) THEN
        RAISE EXCEPTION 'task "%" runs in database "%", not in "%"', @extschema@.uso_shorten(pred_name),
                        coalesce(pred.database, current_database()), coalesce(NEW.database, current_database())
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A task can only follow a task of the same database.';
    END IF;
    cycle := @extschema@.uso_follows_cycle(NEW.id, pred.id);
    IF cycle IS NOT NULL THEN
        -- 'A after B after A'; tasks the caller cannot see stay unnamed
        SELECT string_agg(coalesce((SELECT format('"%s"', @extschema@.uso_shorten(t.name))
                                    FROM @extschema@.uso_task t WHERE t.id = c.id AND c.id <> NEW.id),
                                   CASE WHEN c.id = NEW.id THEN format('"%s"', @extschema@.uso_shorten(NEW.name))
                                        ELSE 'a task you cannot see' END),
                          ' after ' ORDER BY c.n) INTO shown
        FROM unnest(cycle) WITH ORDINALITY AS c(id, n);
        RAISE EXCEPTION 'schedule "%" would make a cycle: "%" after %', @extschema@.uso_shorten(NEW.schedule),
                        @extschema@.uso_shorten(NEW.name), shown
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Each task in it would run after the one before it, for ever.',
                  HINT = 'Give one task of the cycle a clock schedule, or @manual.';
    END IF;
    NEW.follows_task_id := pred.id;
    NEW.follows_on := CASE WHEN @extschema@.uso_schedule_follows_failures(NEW.schedule)
                           THEN 'failure' ELSE 'success' END;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION @extschema@.uso_task_follows() IS
    'Trigger: resolves the task an ''after <task>'' schedule follows (it must exist, be visible to the caller, run in the same database and close no cycle) into follows_task_id and follows_on.';

CREATE TRIGGER uso_task_validate_follows
    BEFORE INSERT OR UPDATE OF schedule, database ON @extschema@.uso_task
    FOR EACH ROW EXECUTE FUNCTION @extschema@.uso_task_follows();

-- A rename rewrites the followers' schedule text, so that what they show
-- (schedule, frequency, cron.job) names the task they follow; a delete
-- leaves them following nothing (status missing).  Followers may belong to
-- other roles: this runs as the owner, and changes nothing but that.
CREATE FUNCTION @extschema@.uso_task_followed_changed() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        UPDATE @extschema@.uso_task f SET follows_task_id = NULL WHERE f.follows_task_id = OLD.id;
    ELSIF NEW.name IS DISTINCT FROM OLD.name THEN
        UPDATE @extschema@.uso_task f
           SET schedule = @extschema@.uso_after_schedule(NEW.name, f.follows_on = 'failure')
         WHERE f.follows_task_id = NEW.id;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION @extschema@.uso_task_followed_changed() IS
    'Trigger: a followed task was renamed (its followers'' schedules name it anew) or deleted (they follow nothing and show status missing).';
REVOKE EXECUTE ON FUNCTION @extschema@.uso_task_followed_changed() FROM PUBLIC;

CREATE TRIGGER uso_task_followed_changed
    AFTER UPDATE OF name OR DELETE ON @extschema@.uso_task
    FOR EACH ROW EXECUTE FUNCTION @extschema@.uso_task_followed_changed();

CREATE FUNCTION @extschema@.uso_runs_queued() RETURNS void
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'uso_runs_queued';
COMMENT ON FUNCTION @extschema@.uso_runs_queued() IS
    'Internal: this database''s scheduler looks for queued runs once the transaction commits.';
REVOKE EXECUTE ON FUNCTION @extschema@.uso_runs_queued() FROM PUBLIC;

-- Called by uso_run_ended when a run of pred ended with outcome 'success'
-- or (after its last retry) 'failure': queues one run of each enabled
-- follower, with trigger chain and the run that caused it.  A follower's
-- overlap policy holds as for its scheduled runs: with skip, a follower that
-- has a run queued or running records a skipped run instead; with queue,
-- one that already has a run waiting.  And a follower that already ran in
-- the chain of runs that led here records a skipped run too: the tasks
-- follow each other in a cycle that the checks at creation could not see,
-- and it goes round once, not for ever.
CREATE FUNCTION @extschema@.uso_queue_followers(pred bigint, run_id bigint, outcome text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    queued integer;
    chain  bigint[];
BEGIN
    -- The tasks of the runs that caused this one, back to the first (most
    -- runs have no cause, and this is one index probe).
    WITH RECURSIVE c(id, task_id, caused_by, depth) AS (
        SELECT r.id, r.task_id, r.caused_by_run_id, 1 FROM @extschema@.uso_task_run r WHERE r.id = run_id
        UNION ALL
        SELECT r.id, r.task_id, r.caused_by_run_id, c.depth + 1
        FROM c JOIN @extschema@.uso_task_run r ON r.id = c.caused_by
        WHERE c.depth < 1000)
    SELECT array_agg(c.task_id) INTO chain FROM c;

    INSERT INTO @extschema@.uso_task_run (task_id, trigger, caused_by_run_id, status, finished_at, return_message)
    SELECT f.id, 'chain', run_id,
           CASE WHEN b.busy IS NULL AND NOT f.id = ANY (chain) THEN 'queued' ELSE 'skipped' END,
           CASE WHEN b.busy IS NOT NULL OR f.id = ANY (chain) THEN clock_timestamp() END,
           CASE WHEN f.id = ANY (chain)
                THEN 'skipped: this task already ran in the chain of runs that led here; '
                     'the tasks follow each other in a cycle'
                WHEN b.busy IS NOT NULL
                THEN format('skipped: run %s of this task is still %s', b.busy, b.state) END
    FROM @extschema@.uso_task f
    LEFT JOIN LATERAL (
        SELECT r.id AS busy, r.status AS state FROM @extschema@.uso_task_run r
        WHERE r.task_id = f.id AND r.finished_at IS NULL
          AND (f.overlap = 'skip' OR f.overlap = 'queue' AND r.status = 'queued')
        ORDER BY r.id LIMIT 1) b ON f.overlap <> 'parallel'
    WHERE f.follows_task_id = pred AND f.follows_on = outcome AND f.enabled
    ORDER BY f.id;
    GET DIAGNOSTICS queued = ROW_COUNT;
    IF queued > 0 THEN
        PERFORM @extschema@.uso_runs_queued();
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.uso_queue_followers(bigint, bigint, text) IS
    'Internal: queues a chain run of each enabled follower of task pred (follows_on = outcome), caused by run run_id; skipped as its overlap policy says, or when it already ran in the chain of runs that led here (a cycle).';
REVOKE EXECUTE ON FUNCTION @extschema@.uso_queue_followers(bigint, bigint, text) FROM PUBLIC;
