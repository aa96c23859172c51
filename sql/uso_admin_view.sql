-- The Background Tasks admin page (seed 000): every USO task is listed with
-- its app and a frequency worded as the seed words it.
SELECT name, category, frequency, retry_after, enabled, owner = current_user AS runs_as_installer
FROM uso_background_tasks
WHERE name IN (SELECT name FROM uso_task WHERE builtin)
ORDER BY category, name;
-- every row has the columns the list and detail pages need
SELECT count(*) AS tasks,
       count(*) FILTER (WHERE description IS NOT NULL) AS with_description,
       count(*) FILTER (WHERE status IN ('idle', 'running', 'disabled', 'failing', 'missing')) AS with_status,
       count(*) FILTER (WHERE next_run_at IS NOT NULL OR frequency LIKE '%allocation date%') AS with_next_run
FROM uso_background_tasks
WHERE name IN (SELECT name FROM uso_task WHERE builtin);
