-- uso_tasks: the grid of interval schedules (issue 16).  An interval task's
-- slots are anchor + k * interval (UsoScheduleNextFrom, the function
-- uso_next_runs previews with): the scheduler keeps the anchor here, so
-- month steps keep the anchor's day of month (01-31 -> 02-28 -> 03-31) and
-- neither a pause nor a restart moves the slots (docs/schedule.md).
-- The column, schedule_anchor, is in sql/schema/uso_tasks.sql.

COMMENT ON COLUMN @extschema@.uso_task.schedule_anchor IS 'Interval schedules: the instant their slots count from (anchor + k * interval): the slot of the first run, or the start of the latest manual or one-off run; NULL means last_run_at. Written by the scheduler; a change of schedule or time zone resets it.';

-- A separate trigger, after uso_task_validate (triggers fire in name order):
-- that one computes next_run_at from last_run_at; this one resets the anchor
-- when the schedule changes and puts a re-enabled task back on its grid.
CREATE FUNCTION _uso_tasks.uso_task_grid() RETURNS trigger
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.schedule IS DISTINCT FROM OLD.schedule OR NEW.timezone IS DISTINCT FROM OLD.timezone THEN
        -- A new grid, from the last start, as uso_task_validate computed next_run_at.
        NEW.schedule_anchor := NULL;
    ELSIF NEW.enabled AND NOT OLD.enabled AND NEW.schedule_anchor IS NOT NULL THEN
        NEW.next_run_at := _uso_tasks.uso_schedule_next(NEW.schedule, now(), NEW.schedule_anchor,
                                                         NEW.timezone);
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION _uso_tasks.uso_task_grid() IS
    'Trigger: a change of schedule or time zone resets schedule_anchor; a re-enabled task gets next_run_at from its anchor (the same grid as before it was disabled).';

CREATE TRIGGER uso_task_validate_grid
    BEFORE UPDATE OF schedule, timezone, enabled ON @extschema@.uso_task
    FOR EACH ROW EXECUTE FUNCTION _uso_tasks.uso_task_grid();
COMMENT ON TRIGGER uso_task_validate_grid ON @extschema@.uso_task IS
    'Keeps schedule_anchor with the schedule (uso_task_grid); fires after uso_task_validate.';
