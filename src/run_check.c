/*-------------------------------------------------------------------------
 * run_check.c
 *	  uso_run_row_ok(): the check constraint of uso_task_run in one call.
 *
 * PostgreSQL compiles a table's CHECK constraints again for every statement
 * that writes it (stringToNode, expression planning, ExecInitExpr of each
 * one).  uso_task_run is written three times per run (queued, running,
 * ended), and its five constraints written as SQL (two IN lists, a
 * comparison of IN with IS NULL, two ranges) were ~10% of an executor's CPU
 * per run.  One constraint calling this function checks the same rules at a
 * fraction of that: its expression is a single function call.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(uso_run_row_ok);

static bool
TextIn(text *t, const char *const *words)
{
	const char *s = VARDATA_ANY(t);
	int			len = VARSIZE_ANY_EXHDR(t);

	for (int i = 0; words[i] != NULL; i++)
		if ((int) strlen(words[i]) == len && memcmp(words[i], s, len) == 0)
			return true;
	return false;
}

/*
 * (trigger, status, attempt, progress, finished_at): the trigger and the
 * status are known words, attempt >= 1, progress within [0, 1] when set,
 * and finished_at is set exactly when the status is a final one.  NULL
 * trigger, status or attempt pass (NOT NULL refuses them), as a SQL CHECK
 * passes NULL.
 */
Datum
uso_run_row_ok(PG_FUNCTION_ARGS)
{
	static const char *const triggers[] =
	{"schedule", "manual", "retry", "catchup", "once", "startup", "chain", NULL};
	static const char *const statuses[] =
	{"queued", "running", "succeeded", "failed", "timed_out", "cancelled", "skipped", NULL};
	static const char *const open[] = {"queued", "running", NULL};

	if (!PG_ARGISNULL(0) && !TextIn(PG_GETARG_TEXT_PP(0), triggers))
		PG_RETURN_BOOL(false);
	if (!PG_ARGISNULL(1))
	{
		text	   *status = PG_GETARG_TEXT_PP(1);

		if (!TextIn(status, statuses))
			PG_RETURN_BOOL(false);
		if (TextIn(status, open) != PG_ARGISNULL(4))
			PG_RETURN_BOOL(false);
	}
	if (!PG_ARGISNULL(2) && PG_GETARG_INT32(2) < 1)
		PG_RETURN_BOOL(false);
	if (!PG_ARGISNULL(3))
	{
		float4		progress = PG_GETARG_FLOAT4(3);

		if (!(progress >= 0 && progress <= 1))
			PG_RETURN_BOOL(false);
	}
	PG_RETURN_BOOL(true);
}
