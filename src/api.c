/*-------------------------------------------------------------------------
 * api.c
 *	  SQL-callable functions of the runtime: run now, run at, wait, cancel,
 *	  and the functions a task calls about itself.
 *
 * These are plain (not SECURITY DEFINER) C functions: the task or run is
 * first looked up as the caller, so row-level security decides what the
 * caller may touch; only then is the catalog written as the superuser.
 * Their SQL runs with search_path pinned to pg_catalog, pg_temp, so no
 * operator or function the caller planted in its search_path is used.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/condition_variable.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "uso_tasks.h"
#include "catalog.h"
#include "executor.h"
#include "shmem.h"
#include "status.h"
#include "version.h"

PG_FUNCTION_INFO_V1(uso_run_now);
PG_FUNCTION_INFO_V1(uso_runs_queued);
PG_FUNCTION_INFO_V1(uso_chains_pending);
PG_FUNCTION_INFO_V1(uso_run_at);
PG_FUNCTION_INFO_V1(uso_cancel);
PG_FUNCTION_INFO_V1(uso_wait);
PG_FUNCTION_INFO_V1(uso_current_run);
PG_FUNCTION_INFO_V1(uso_task_config);
PG_FUNCTION_INFO_V1(uso_progress);
PG_FUNCTION_INFO_V1(uso_live_progress);
PG_FUNCTION_INFO_V1(uso_scheduler_start);
PG_FUNCTION_INFO_V1(uso_task_changed);

static const char *
Schema(void)
{
	const char *schema = UsoCatalogSchema();

	if (schema == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("extension \"uso_tasks\" does not exist in this database")));
	return schema;
}

static text *
ArgText(FunctionCallInfo fcinfo, int n, const char *what)
{
	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", what)));
	return PG_GETARG_TEXT_PP(n);
}

/*
 * Queue a run of the named task, as the caller sees it.  at = DT_NOBEGIN
 * for "now".
 */
static int64
QueueRun(text *name, const char *trigger, TimestampTz at)
{
	const char *schema;
	Oid			types[3] = {TEXTOID, TEXTOID, TIMESTAMPTZOID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};
	int64		task_id;
	int64		run_id;
	bool		enabled;
	bool		isnull;
	UsoSuperSave save;
	char	   *cname = text_to_cstring(name);
	/* An unknown name can be megabytes: the message quotes 100 bytes of it. */
	int			shown = pg_mbcliplen(cname, strlen(cname), 100);
	int			nestlevel;

	UsoRequirePreload();
	UsoRequireCatalogVersion();
	SPI_connect();
	nestlevel = UsoPinSearchPath();
	schema = Schema();
	values[0] = PointerGetDatum(name);
	if (SPI_execute_with_args(psprintf("SELECT id, enabled FROM %s.uso_task WHERE name = $1",
									   schema), 1, types, values, NULL, true, 1) < 0)
		elog(ERROR, "uso_tasks could not look up the task");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("task \"%.*s%s\" does not exist", shown, cname, cname[shown] ? "..." : ""),
				 errhint("SELECT name FROM uso_background_tasks lists the tasks you can run.")));
	task_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	enabled = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	if (!enabled)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("task \"%s\" is disabled", cname),
				 errhint("Enable it first: SELECT uso_enable('%s');", cname)));

	types[0] = INT8OID;
	values[0] = Int64GetDatum(task_id);
	values[1] = CStringGetTextDatum(trigger);
	if (at == DT_NOBEGIN)
		nulls[2] = 'n';
	else
		values[2] = TimestampTzGetDatum(at);
	UsoBecomeSuperuser(&save);
	if (SPI_execute_with_args(psprintf("INSERT INTO %s.uso_task_run (task_id, trigger, scheduled_for) "
									   "VALUES ($1, $2, $3) RETURNING id", schema),
							  3, types, values, nulls, false, 1) != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "uso_tasks could not queue the run");
	UsoRestoreUser(&save);
	run_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	UsoUnpinSearchPath(nestlevel);
	SPI_finish();
	UsoWakeAtCommit(false, true);
	return run_id;
}

/* uso_run_now(task text) returns bigint: the run id; the run starts at once. */
Datum
uso_run_now(PG_FUNCTION_ARGS)
{
	UsoWarnScheduler();
	PG_RETURN_INT64(QueueRun(ArgText(fcinfo, 0, "task"), "manual", DT_NOBEGIN));
}

/* uso_run_at(task text, at timestamptz) returns bigint: a one-off run. */
Datum
uso_run_at(PG_FUNCTION_ARGS)
{
	text	   *name = ArgText(fcinfo, 0, "task");
	TimestampTz at;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("at must not be NULL")));
	at = PG_GETARG_TIMESTAMPTZ(1);
	if (TIMESTAMP_NOT_FINITE(at))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("at must be a finite time")));
	PG_RETURN_INT64(QueueRun(name, "once", at));
}

/* Status of a run as the caller sees it, or NULL when invisible/missing. */
static char *
RunStatus(int64 run_id, bool *own_xact)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1];
	char	   *status = NULL;
	int			nestlevel;

	values[0] = Int64GetDatum(run_id);
	SPI_connect();
	nestlevel = UsoPinSearchPath();
	/*
	 * Was the row written by this very transaction?  (Asked without giving
	 * the caller's transaction an xid it would not otherwise have.)
	 */
	if (SPI_execute_with_args(psprintf("SELECT status, xmin::text::int8 = "
									   "pg_catalog.pg_current_xact_id_if_assigned()::text::int8 %% 4294967296 "
									   "FROM %s.uso_task_run WHERE id = $1", Schema()),
							  1, types, values, NULL, false, 1) < 0)
		elog(ERROR, "uso_tasks could not read the run");
	if (SPI_processed == 1)
	{
		bool		isnull;

		status = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		status = MemoryContextStrdup(CurTransactionContext, status);
		if (own_xact)
		{
			Datum		own = SPI_getbinval(SPI_tuptable->vals[0],
											SPI_tuptable->tupdesc, 2, &isnull);

			*own_xact = !isnull && DatumGetBool(own);
		}
	}
	UsoUnpinSearchPath(nestlevel);
	SPI_finish();
	return status;
}

/*
 * Does worker slot w have the run run_id of this database?  A run belongs to
 * the database of the scheduler that queued it (its catalog holds the row),
 * also when its task runs in another database; caller holds the lock.
 */
static bool
SlotHasRun(const UsoWorkerSlot *w, int64 run_id)
{
	return w->state != USO_WORKER_FREE && w->run_id == run_id &&
		w->sched_dboid == MyDatabaseId;
}

static bool
IsFinal(const char *status)
{
	return strcmp(status, "queued") != 0 && strcmp(status, "running") != 0;
}

/*
 * uso_wait(run_id bigint, timeout interval default '1 minute') returns text:
 * blocks until the run ends and returns its final status.
 */
Datum
uso_wait(PG_FUNCTION_ARGS)
{
	int64		run_id;
	Interval   *timeout;
	int64		timeout_us;
	TimestampTz deadline;
	char	   *status;
	bool		own = false;

	UsoRequirePreload();
	UsoRequireCatalogVersion();
	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("run_id must not be NULL")));
	run_id = PG_GETARG_INT64(0);
	if (PG_ARGISNULL(1))
		timeout_us = 60 * USECS_PER_SEC;
	else
	{
		double		us;

		/*
		 * In double: '2147483647 days' and the like overflow int64 and
		 * would wrap to an arbitrary timeout instead of being refused.
		 */
		timeout = PG_GETARG_INTERVAL_P(1);
		us = (double) timeout->time + (double) timeout->day * USECS_PER_DAY +
			(double) timeout->month * DAYS_PER_MONTH * USECS_PER_DAY;
		if (!(us >= 0 && us <= 366.0 * USECS_PER_DAY))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("timeout must be between 0 and 1 year")));
		timeout_us = (int64) us;
	}
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("uso_wait() cannot see a run finish inside a REPEATABLE READ "
						"or SERIALIZABLE transaction"),
				 errhint("Call it in a READ COMMITTED transaction.")));

	status = RunStatus(run_id, &own);
	if (status == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("run %lld does not exist", (long long) run_id)));
	if (own && !IsFinal(status))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("run %lld was queued by this transaction, which must commit first",
						(long long) run_id),
				 errhint("Call uso_run_now() and uso_wait() in separate transactions.")));

	deadline = GetCurrentTimestamp() + timeout_us;
	while (!IsFinal(status))
	{
		TimestampTz now = GetCurrentTimestamp();

		if (now >= deadline)
			ereport(ERROR,
					(errcode(ERRCODE_QUERY_CANCELED),
					 errmsg("run %lld did not finish within the timeout; it is still %s",
							(long long) run_id, status)));
		ConditionVariablePrepareToSleep(&UsoShared->run_finished);
		(void) ConditionVariableTimedSleep(&UsoShared->run_finished,
										   Min((deadline - now) / 1000 + 1, 100),
										   PG_WAIT_EXTENSION);
		ConditionVariableCancelSleep();
		CHECK_FOR_INTERRUPTS();
		status = RunStatus(run_id, NULL);
		if (status == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("run %lld was deleted while waiting", (long long) run_id)));
	}
	PG_RETURN_TEXT_P(cstring_to_text(status));
}

/*
 * uso_cancel(run_id bigint) returns boolean: a queued run is cancelled at
 * once; a running one is interrupted and ends 'cancelled'.  False when the
 * run had already ended.
 */
Datum
uso_cancel(PG_FUNCTION_ARGS)
{
	int64		run_id;
	char	   *status;

	UsoRequirePreload();
	UsoRequireCatalogVersion();
	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("run_id must not be NULL")));
	run_id = PG_GETARG_INT64(0);
	status = RunStatus(run_id, NULL);
	if (status == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("run %lld does not exist", (long long) run_id)));
	if (IsFinal(status))
		PG_RETURN_BOOL(false);

	/*
	 * A worker that has it: ask it to stop.  Run ids are per database, so
	 * the slot must belong to this database's scheduler (whose catalog holds
	 * the run), not merely carry the same id.
	 */
	LWLockAcquire(UsoShared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < UsoShared->max_workers; i++)
	{
		UsoWorkerSlot *w = &UsoShared->workers[i];

		if (SlotHasRun(w, run_id))
		{
			w->cancel_requested = true;
			/*
			 * Signalled under the lock, so the worker cannot have moved on
			 * to another run; one that has not begun this run yet
			 * (run_started 0) sees the flag when it does.
			 */
			if (w->pid != 0 && w->run_started != 0)
				kill(w->pid, SIGINT);
		}
	}
	LWLockRelease(UsoShared->lock);

	if (strcmp(status, "queued") == 0)
	{
		Oid			types[1] = {INT8OID};
		Datum		values[1];
		UsoSuperSave save;

		values[0] = Int64GetDatum(run_id);
		SPI_connect();
		UsoBecomeSuperuser(&save);
		if (SPI_execute_with_args(psprintf("UPDATE %s.uso_task_run SET status = 'cancelled', "
										   "finished_at = pg_catalog.clock_timestamp(), "
										   "return_message = 'cancelled by uso_cancel() before it started' "
										   "WHERE id = $1 AND status = 'queued'", Schema()),
								  1, types, values, NULL, false, 0) < 0)
			elog(ERROR, "uso_tasks could not cancel the run");
		UsoRestoreUser(&save);
		SPI_finish();
		UsoWakeAtCommit(false, true);
	}
	PG_RETURN_BOOL(true);
}

/* uso_current_run() returns bigint: the run this session executes, or NULL. */
Datum
uso_current_run(PG_FUNCTION_ARGS)
{
	if (UsoCurrentRunId == 0)
		PG_RETURN_NULL();
	PG_RETURN_INT64(UsoCurrentRunId);
}

/* uso_task_config() returns jsonb: the running task's config, or NULL. */
Datum
uso_task_config(PG_FUNCTION_ARGS)
{
	if (UsoCurrentRunId == 0 || UsoCurrentTaskConfig == NULL)
		PG_RETURN_NULL();
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(UsoCurrentTaskConfig));
}

/* uso_progress(done, total): live progress of the current run. */
Datum
uso_progress(PG_FUNCTION_ARGS)
{
	int64		done = PG_ARGISNULL(0) ? 0 : PG_GETARG_INT64(0);
	int64		total = PG_ARGISNULL(1) ? 0 : PG_GETARG_INT64(1);
	float4		fraction;

	if (done < 0 || total <= 0 || done > total)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("progress needs 0 <= done <= total and total > 0 (got %lld of %lld)",
						(long long) done, (long long) total)));
	if (UsoCurrentRunId == 0 || UsoCurrentWorkerSlot < 0)
		PG_RETURN_VOID();		/* called outside a run: nothing to report */
	fraction = (float4) ((double) done / (double) total);
	LWLockAcquire(UsoShared->lock, LW_EXCLUSIVE);
	UsoShared->workers[UsoCurrentWorkerSlot].progress = fraction;
	LWLockRelease(UsoShared->lock);
	PG_RETURN_VOID();
}

/*
 * uso_live_progress(run_id) returns real: progress of a running run, or
 * NULL when no worker reports any or the caller cannot see the run.
 *
 * The views call it for every row, so shared memory is looked at first and
 * the run's visibility (row-level security) is checked only when a worker
 * of this database really has it.
 */
Datum
uso_live_progress(PG_FUNCTION_ARGS)
{
	int64		run_id = PG_GETARG_INT64(0);
	float4		progress = -1;

	if (UsoShared == NULL)
		PG_RETURN_NULL();
	LWLockAcquire(UsoShared->lock, LW_SHARED);
	for (int i = 0; i < UsoShared->max_workers; i++)
	{
		if (SlotHasRun(&UsoShared->workers[i], run_id))
			progress = UsoShared->workers[i].progress;
	}
	LWLockRelease(UsoShared->lock);
	if (progress < 0 || RunStatus(run_id, NULL) == NULL)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT4(progress);
}

/* Called by the install script: start this database's scheduler at commit. */
Datum
uso_scheduler_start(PG_FUNCTION_ARGS)
{
	UsoRequirePreload();
	UsoStartAtCommit();
	PG_RETURN_VOID();
}

/* Followers' runs wait for their rows' locks: the scheduler queues them after commit. */
Datum
uso_chains_pending(PG_FUNCTION_ARGS)
{
	UsoChainsPendingAtCommit();
	PG_RETURN_VOID();
}

/* Runs were queued by SQL (a chain): the scheduler picks them up after commit. */
Datum
uso_runs_queued(PG_FUNCTION_ARGS)
{
	UsoWakeAtCommit(false, true);
	PG_RETURN_VOID();
}

/* Statement trigger on uso_task: the scheduler reloads after commit. */
Datum
uso_task_changed(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("uso_task_changed() must be called as a trigger")));
	UsoWakeAtCommit(true, true);
	return PointerGetDatum(NULL);
}
