/*-------------------------------------------------------------------------
 * executor.c
 *	  The executor worker: connects to a database AS the task owner, then
 *	  runs the runs its scheduler assigns through shared memory, one at a
 *	  time, until it has been idle for uso_tasks.worker_idle_timeout.
 *
 * Connecting as the owner (not as a superuser that switches current_user)
 * makes session_user the owner, so no task can climb back with SET ROLE or
 * SET SESSION AUTHORIZATION.  The engine's own catalog writes are made as
 * the bootstrap superuser around, never during, the task's SQL.
 *
 * One run, in two transactions:
 *	1. a short transaction checks that the owner may still run tasks here and
 *	   marks the run running (committed before the work, so a crash mid-run
 *	   leaves a 'running' row the scheduler closes on restart);
 *	2. the command runs in a transaction as top-level statements, with the
 *	   task's timeout armed for the whole run and its messages captured; the
 *	   'succeeded' row and the log lines commit with the work;
 *	3. on error the transaction is rolled back and the failure is recorded in
 *	   a fresh transaction;
 *	4. session state is reset as DISCARD ALL does (cached plans kept), in
 *	   the transaction that ends the run (2 or 3), before its commit.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_database.h"
#include "catalog/namespace.h"
#include "commands/async.h"
#include "commands/dbcommands.h"
#include "commands/prepare.h"
#include "commands/sequence.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/portal.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"

#include "uso_tasks.h"
#include "capture.h"
#include "catalog.h"
#include "exec_sql.h"
#include "executor.h"
#include "shmem.h"
#include "spi_plans.h"

int64		UsoCurrentRunId = 0;
char	   *UsoCurrentTaskConfig = NULL;
int			UsoCurrentWorkerSlot = -1;

static UsoWorkerSlot *MySlot = NULL;
static MemoryContext RunContext = NULL;

/* Set when this worker's role or database lost a right it needs: it exits. */
static bool OwnerRevoked = false;

/* What the mark-running step learned about the run. */
typedef struct RunInfo
{
	int64		run_id;
	char	   *task_name;
	char	   *command;
	char	   *config;
	int			timeout_ms;		/* 0 = none */
	bool		remote;			/* in another database than the catalog */
	/* How it ended, for a remote run's scheduler. */
	TimestampTz started;
	const char *sqlstate;
	const char *tag;
	const char *message;
} RunInfo;

/* Run one parameterised catalog statement as the superuser. */
static int
CatalogExec(const char *sql, int nargs, Oid *types, Datum *values,
			const char *nulls)
{
	UsoSuperSave save;
	int			ret;

	UsoBecomeSuperuser(&save);
	ret = UsoExecKept(sql, nargs, types, values, nulls);
	UsoRestoreUser(&save);
	return ret;
}

static char *OwnerProblem(Oid roleid, int *sqlstate);
static void ResetSessionInTransaction(void);

/*
 * Step 1: queued -> running; false when the run is no longer queued.  The
 * owner's rights are checked first, in the same transaction: when one is
 * gone, *problem says why (in RunContext, *sqlstate set) and nothing is
 * written.
 */
static bool
MarkRunning(int64 run_id, RunInfo *info, char **problem, int *sqlstate)
{
	const char *schema;
	char	   *sql;
	Oid			types[3] = {INT8OID, INT4OID, INT4OID};
	Datum		values[3];
	bool		found = false;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	*problem = OwnerProblem(MySlot->roleid, sqlstate);
	if (*problem != NULL)
	{
		*problem = MemoryContextStrdup(RunContext, *problem);
		CommitTransactionCommand();
		return false;
	}
	PushActiveSnapshot(GetTransactionSnapshot());
	SPI_connect();
	schema = UsoCatalogSchema();
	if (schema == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("extension \"uso_tasks\" does not exist in this database")));
	sql = psprintf("UPDATE %s.uso_task_run r SET status = 'running', "
				   "started_at = pg_catalog.clock_timestamp(), pid = $2 "
				   "FROM %s.uso_task t WHERE r.id = $1 AND t.id = r.task_id "
				   "AND r.status = 'queued' "
				   "RETURNING t.name, t.command, t.config::text, "
				   "(pg_catalog.date_part('epoch', COALESCE(t.timeout, "
				   "pg_catalog.make_interval(secs => $3::float8 / 1000))) * 1000)::int8",
				   schema, schema);
	values[0] = Int64GetDatum(run_id);
	values[1] = Int32GetDatum(MyProcPid);
	values[2] = Int32GetDatum(uso_default_timeout_ms);
	CatalogExec(sql, 3, types, values, NULL);
	if (SPI_processed == 1)
	{
		MemoryContext old = MemoryContextSwitchTo(RunContext);
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int64		timeout;

		info->run_id = run_id;
		info->task_name = SPI_getvalue(tup, desc, 1);
		info->command = SPI_getvalue(tup, desc, 2);
		info->config = SPI_getvalue(tup, desc, 3);
		timeout = DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull));
		info->timeout_ms = isnull ? 0 : (int) Min(timeout, (int64) INT_MAX);
		MemoryContextSwitchTo(old);
		found = true;
	}
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	return found;
}

/* A remote run: the scheduler put the task in our slot. */
static void
TakeRemoteTask(int64 run_id, RunInfo *info)
{
	MemoryContext old = MemoryContextSwitchTo(RunContext);

	LWLockAcquire(UsoShared->lock, LW_SHARED);
	info->run_id = run_id;
	info->task_name = pstrdup(MySlot->task_name);
	info->command = pstrdup(MySlot->command);
	info->config = MySlot->config[0] ? pstrdup(MySlot->config) : NULL;
	info->timeout_ms = MySlot->timeout_ms;
	LWLockRelease(UsoShared->lock);
	info->remote = true;
	MemoryContextSwitchTo(old);
}

/* Insert the captured lines of a run; caller is inside SPI. */
static void
StoreLogLines(int64 run_id, List *lines)
{
	const char *schema = UsoCatalogSchema();
	char	   *sql;
	Oid			types[5] = {INT8OID, INT4OID, TIMESTAMPTZOID, TEXTOID, TEXTOID};
	SPIPlanPtr	plan;
	UsoSuperSave save;
	ListCell   *lc;
	int			seq = 0;

	if (lines == NIL)
		return;
	sql = psprintf("INSERT INTO %s.uso_task_log (run_id, seq, logged_at, level, message) "
				   "VALUES ($1, $2, $3, $4, $5)", schema);
	UsoBecomeSuperuser(&save);
	plan = SPI_prepare(sql, 5, types);
	if (plan == NULL)
		elog(ERROR, "uso_tasks could not prepare log insert");
	foreach(lc, lines)
	{
		UsoLogLine *line = lfirst(lc);
		Datum		values[5];

		values[0] = Int64GetDatum(run_id);
		values[1] = Int32GetDatum(++seq);
		values[2] = TimestampTzGetDatum(line->logged_at);
		values[3] = CStringGetTextDatum(line->level);
		values[4] = CStringGetTextDatum(line->message);
		if (SPI_execute_plan(plan, values, NULL, false, 0) < 0)
			elog(ERROR, "uso_tasks could not store a log line");
	}
	SPI_freeplan(plan);
	UsoRestoreUser(&save);
}

/* What the run last reported with uso_progress(), or -1. */
static float4
LiveProgress(void)
{
	float4		progress;

	LWLockAcquire(UsoShared->lock, LW_SHARED);
	progress = MySlot->progress;
	LWLockRelease(UsoShared->lock);
	return progress;
}

/* The success row, written in the run's own transaction. */
static void
RecordSuccess(int64 run_id, UsoSqlResult *result, List *lines)
{
	const char *schema;
	Oid			types[4] = {INT8OID, TEXTOID, TEXTOID, FLOAT4OID};
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	const char *message = result->single_value ? result->single_value : result->command_tag;
	MemoryContext old;

	/*
	 * The run's last transaction is read-only (SET TRANSACTION READ ONLY, or
	 * a procedure that set default_transaction_read_only and committed): it
	 * has no work of its own to commit with the row, and the row cannot be
	 * written in it, so it ends here and the row goes into a fresh one.
	 */
	if (XactReadOnly)
	{
		CommitTransactionCommand();
		StartTransactionCommand();
		SetConfigOption("transaction_read_only", "off", PGC_USERSET, PGC_S_SESSION);
	}
	old = MemoryContextSwitchTo(RunContext);
	schema = UsoCatalogSchema();
	values[0] = Int64GetDatum(run_id);
	if (message)
		values[1] = CStringGetTextDatum(UsoClipText(message, USO_MAX_TEXT_BYTES));
	else
		nulls[1] = 'n';
	if (result->command_tag)
		values[2] = CStringGetTextDatum(result->command_tag);
	else
		nulls[2] = 'n';

	values[3] = Float4GetDatum(LiveProgress());
	MemoryContextSwitchTo(old);

	PushActiveSnapshot(GetTransactionSnapshot());
	SPI_connect();
	/* A run that reported progress ends at 1. */
	CatalogExec(psprintf("UPDATE %s.uso_task_run SET status = 'succeeded', "
						 "finished_at = pg_catalog.clock_timestamp(), "
						 "return_message = $2, command_tag = $3, "
						 "progress = CASE WHEN $4 >= 0 THEN 1 END "
						 "WHERE id = $1", schema),
				4, types, values, nulls);
	StoreLogLines(run_id, lines);
	SPI_finish();
	PopActiveSnapshot();
}

/* A failure (or timeout, cancel) recorded in a fresh transaction. */
static void
RecordFailure(int64 run_id, const char *status, ErrorData *edata, List *lines, bool reset)
{
	const char *schema;
	Oid			types[8] = {INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
	FLOAT4OID};
	Datum		values[8];
	char		nulls[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	const char *fields[5];

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	/* The task may have made read-only the default of its session. */
	SetConfigOption("transaction_read_only", "off", PGC_USERSET, PGC_S_SESSION);
	PushActiveSnapshot(GetTransactionSnapshot());
	SPI_connect();
	schema = UsoCatalogSchema();

	fields[0] = edata->message;
	fields[1] = unpack_sql_state(edata->sqlerrcode);
	fields[2] = edata->detail;
	fields[3] = edata->hint;
	fields[4] = edata->context;
	values[0] = Int64GetDatum(run_id);
	values[1] = CStringGetTextDatum(status);
	for (int i = 0; i < 5; i++)
	{
		if (fields[i] != NULL)
			values[i + 2] = CStringGetTextDatum(UsoClipText(fields[i], USO_MAX_TEXT_BYTES));
		else
			nulls[i + 2] = 'n';
	}
	/* How far it got, as it last reported. */
	values[7] = Float4GetDatum(LiveProgress());
	CatalogExec(psprintf("UPDATE %s.uso_task_run SET status = $2, "
						 "finished_at = pg_catalog.clock_timestamp(), "
						 "return_message = $3, sqlstate = $4, error_detail = $5, "
						 "error_hint = $6, error_context = $7, "
						 "progress = CASE WHEN $8 >= 0 THEN $8 END "
						 "WHERE id = $1 AND finished_at IS NULL", schema),
				8, types, values, nulls);
	{
		MemoryContext old = MemoryContextSwitchTo(RunContext);
		UsoLogLine *line = palloc(sizeof(UsoLogLine));

		line->logged_at = GetCurrentTimestamp();
		line->level = "ERROR";
		line->message = UsoClipText(edata->message ? edata->message : "(no message)",
									USO_MAX_TEXT_BYTES);
		lines = lappend(lines, line);
		MemoryContextSwitchTo(old);
	}
	StoreLogLines(run_id, lines);
	SPI_finish();
	PopActiveSnapshot();
	if (reset)
		ResetSessionInTransaction();
	CommitTransactionCommand();
}

/*
 * Step 4: forget everything the task did to the session: what DISCARD ALL
 * forgets (open cursors, session authorization, GUCs set with SET, prepared
 * statements, LISTEN, session advisory locks, temp tables, sequence caches)
 * except cached plans.  Dropping those (DISCARD PLANS) hides nothing from the
 * next task, since plans are revalidated against the catalog and search_path
 * anyway, but it made every run re-plan the engine's own statements.
 */
/*
 * It runs inside the transaction that ends the run, before its commit (one
 * transaction per run less): what it undoes is either transactional and
 * takes effect at that commit (GUCs, session authorization, UNLISTEN, the
 * temp schema's objects) or not tied to a transaction (portals, prepared
 * statements, sequence caches).  Advisory locks are the exception: the
 * task's transaction-level ones must be held until its work is committed,
 * so ReleaseAdvisoryLocks runs after the commit.
 */
static void
ResetSessionInTransaction(void)
{
	PortalHashTableDeleteAll();
	SetPGVariable("session_authorization", NIL, false);
	ResetAllOptions();
	DropAllPreparedStatements();
	Async_UnlistenAll();
	ResetTempTableNamespace();
	ResetSequenceCaches();
}

/* Session advisory locks the task took (and forgot), once its work is committed. */
static void
ReleaseAdvisoryLocks(void)
{
	LockReleaseSession(USER_LOCKMETHOD);
}

/*
 * The run's timeout is a timer of its own, not STATEMENT_TIMEOUT: when
 * ProcessInterrupts raises the cancel it clears STATEMENT_TIMEOUT's
 * indicator, and then only the error's text (translated under another
 * lc_messages) said why.  This timer's indicator is read by nothing but
 * RunTask, after the error.
 */
static TimeoutId RunTimeout = MAX_TIMEOUTS;

/* What StatementCancelHandler does on SIGINT: cancel at the next check. */
static void
RunTimeoutHandler(void)
{
	if (!proc_exit_inprogress)
	{
		InterruptPending = true;
		QueryCancelPending = true;
	}
	SetLatch(MyLatch);
}

static bool
CancelRequested(void)
{
	bool		cancel;

	LWLockAcquire(UsoShared->lock, LW_SHARED);
	cancel = MySlot->cancel_requested;
	LWLockRelease(UsoShared->lock);
	return cancel;
}

/*
 * Why the role this worker is connected as may no longer run tasks here, or
 * NULL.  A connected session keeps its rights when the role is dropped, made
 * NOLOGIN or loses CONNECT, so a warm worker checks before every run: the
 * next run after a revoke fails, saying why, instead of running on.  Sets
 * *sqlstate.  Syscache lookups: the transaction start has processed the
 * invalidations of what was committed before.
 */
static char *
OwnerProblem(Oid roleid, int *sqlstate)
{
	HeapTuple	tup;
	char	   *rolname;
	bool		canlogin;
	bool		allowconn;

	tup = SearchSysCache1(AUTHOID, ObjectIdGetDatum(roleid));
	if (!HeapTupleIsValid(tup))
	{
		*sqlstate = ERRCODE_UNDEFINED_OBJECT;
		return psprintf("the task's owner role (oid %u) was dropped: the run was not started", roleid);
	}
	rolname = pstrdup(NameStr(((Form_pg_authid) GETSTRUCT(tup))->rolname));
	canlogin = ((Form_pg_authid) GETSTRUCT(tup))->rolcanlogin;
	ReleaseSysCache(tup);
	if (!canlogin)
	{
		*sqlstate = ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION;
		return psprintf("role \"%s\" can no longer log in (NOLOGIN): a task runs as its owner, "
						"which needs LOGIN; the run was not started", rolname);
	}
	tup = SearchSysCache1(DATABASEOID, ObjectIdGetDatum(MyDatabaseId));
	if (!HeapTupleIsValid(tup))
	{
		*sqlstate = ERRCODE_UNDEFINED_DATABASE;
		return pstrdup("the task's database is being dropped: the run was not started");
	}
	allowconn = ((Form_pg_database) GETSTRUCT(tup))->datallowconn;
	ReleaseSysCache(tup);
	if (!allowconn)
	{
		*sqlstate = ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE;
		return psprintf("database \"%s\" no longer allows connections: the run was not started",
						get_database_name(MyDatabaseId));
	}
	if (!superuser_arg(roleid) &&
		pg_database_aclcheck(MyDatabaseId, roleid, ACL_CONNECT) != ACLCHECK_OK)
	{
		*sqlstate = ERRCODE_INSUFFICIENT_PRIVILEGE;
		return psprintf("role \"%s\" no longer has CONNECT on database \"%s\": "
						"the run was not started", rolname, get_database_name(MyDatabaseId));
	}
	return NULL;
}

/*
 * The owner lost a right it needs (problem, from OwnerProblem): the run is
 * recorded as failed without running, and this worker exits after it.
 */
static void
OwnerGone(int64 run_id, RunInfo *info, char *problem, int sqlstate)
{
	OwnerRevoked = true;
	ereport(LOG,
			(errmsg("uso_tasks worker does not start run %lld: %s", (long long) run_id, problem)));
	if (MySlot->sched_dboid != MyDatabaseId)
	{
		/* A remote run: its scheduler records the failure. */
		LWLockAcquire(UsoShared->lock, LW_EXCLUSIVE);
		MySlot->done_started = 0;
		strlcpy(MySlot->done_sqlstate, unpack_sql_state(sqlstate), sizeof(MySlot->done_sqlstate));
		MySlot->done_tag[0] = '\0';
		strlcpy(MySlot->done_message, problem, sizeof(MySlot->done_message));
		LWLockRelease(UsoShared->lock);
	}
	else
	{
		ErrorData	edata;

		memset(&edata, 0, sizeof(edata));
		edata.sqlerrcode = sqlstate;
		edata.message = problem;
		RecordFailure(run_id, "failed", &edata, NIL, false);
	}
}

/* Run one run end to end; returns how it ended. */
static UsoRunOutcome
ExecuteRun(int64 run_id)
{
	RunInfo		info;
	volatile UsoRunOutcome outcome = USO_OUTCOME_SUCCEEDED;
	MemoryContext old;
	char	   *problem = NULL;
	char	   *appname;
	int			sqlstate = 0;

	MemoryContextReset(RunContext);
	memset(&info, 0, sizeof(info));
	if (MySlot->sched_dboid != MyDatabaseId)
	{
		/* A remote run writes no row here: the owner check has its own transaction. */
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		problem = OwnerProblem(MySlot->roleid, &sqlstate);
		if (problem != NULL)
			problem = MemoryContextStrdup(RunContext, problem);
		CommitTransactionCommand();
		if (problem != NULL)
		{
			OwnerGone(run_id, &info, problem, sqlstate);
			return USO_OUTCOME_FAILED;
		}
		if (CancelRequested())
			return USO_OUTCOME_CANCELLED;
		TakeRemoteTask(run_id, &info);
	}
	else if (!MarkRunning(run_id, &info, &problem, &sqlstate))
	{
		if (problem == NULL)
			return USO_OUTCOME_CANCELLED;
		OwnerGone(run_id, &info, problem, sqlstate);
		return USO_OUTCOME_FAILED;
	}
	/* Transactions end in TopMemoryContext: a run allocates in its own. */
	MemoryContextSwitchTo(RunContext);
	info.started = GetCurrentTimestamp();
	LWLockAcquire(UsoShared->lock, LW_EXCLUSIVE);
	MySlot->run_started = info.started;
	MySlot->run_timeout_ms = info.timeout_ms;
	/* uso_cancel signals only once run_started is set: an earlier cancel is taken here. */
	if (MySlot->cancel_requested)
		InterruptPending = QueryCancelPending = true;
	LWLockRelease(UsoShared->lock);

	UsoCurrentRunId = run_id;
	UsoCurrentTaskConfig = info.config;
	/*
	 * pg_stat_activity.application_name is shown to every role of every
	 * database: the run id only, never the task's name (the run views show
	 * which task a run is, under row-level security).
	 */
	appname = psprintf("uso_tasks: run " INT64_FORMAT, run_id);
	SetConfigOption("application_name", appname, PGC_USERSET, PGC_S_SESSION);
	pgstat_report_appname(appname);
	pgstat_report_activity(STATE_RUNNING, info.command);

	old = MemoryContextSwitchTo(RunContext);
	PG_TRY();
	{
		UsoSqlResult result;
		List	   *lines;

		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		MemoryContextSwitchTo(RunContext);
		if (info.timeout_ms > 0)
			enable_timeout_after(RunTimeout, info.timeout_ms);
		UsoCaptureStart(RunContext, uso_max_log_lines, uso_max_log_bytes);
		UsoExecuteSql(info.command, &result);
		lines = UsoCaptureStop();
		disable_timeout(RunTimeout, false);
		if (!info.remote)
			RecordSuccess(run_id, &result, lines);
		ResetSessionInTransaction();
		CommitTransactionCommand();
		info.tag = result.command_tag;
		info.message = result.single_value ? result.single_value : result.command_tag;
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		List	   *lines;
		bool		timed_out;
		const char *status = "failed";

		lines = UsoCaptureStop();
		timed_out = get_timeout_indicator(RunTimeout, true);
		disable_timeout(RunTimeout, false);
		MemoryContextSwitchTo(RunContext);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		QueryCancelPending = false;
		MemoryContextSwitchTo(RunContext);

		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED && CancelRequested())
		{
			outcome = USO_OUTCOME_CANCELLED;
			status = "cancelled";
			edata->message = pstrdup("run cancelled by uso_cancel()");
		}
		else if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED && timed_out)
		{
			outcome = USO_OUTCOME_TIMED_OUT;
			status = "timed_out";
			edata->message = psprintf("run exceeded its timeout of %d ms", info.timeout_ms);
		}
		else
			outcome = USO_OUTCOME_FAILED;
		info.sqlstate = pstrdup(unpack_sql_state(edata->sqlerrcode));
		info.message = edata->message;
		if (!info.remote)
			RecordFailure(run_id, status, edata, lines, true);
		else
		{
			/* A remote run's failure writes nothing here: the reset has its own transaction. */
			SetCurrentStatementStartTimestamp();
			StartTransactionCommand();
			ResetSessionInTransaction();
			CommitTransactionCommand();
		}
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);

	UsoCurrentRunId = 0;
	UsoCurrentTaskConfig = NULL;
	if (info.remote)
	{
		LWLockAcquire(UsoShared->lock, LW_EXCLUSIVE);
		MySlot->done_started = info.started;
		strlcpy(MySlot->done_sqlstate, info.sqlstate ? info.sqlstate : "", sizeof(MySlot->done_sqlstate));
		strlcpy(MySlot->done_tag, info.tag ? info.tag : "", sizeof(MySlot->done_tag));
		strlcpy(MySlot->done_message, info.message ? info.message : "", sizeof(MySlot->done_message));
		LWLockRelease(UsoShared->lock);
	}
	ReleaseAdvisoryLocks();
	pgstat_report_appname("uso_tasks worker");
	pgstat_report_activity(STATE_IDLE, NULL);
	/* An idle worker keeps nothing of the run (its output could be large). */
	MemoryContextSwitchTo(TopMemoryContext);
	MemoryContextReset(RunContext);
	return outcome;
}

/* Tell the scheduler a run ended and wake whoever waits in uso_wait(). */
static void
ReportDone(int64 run_id, UsoRunOutcome outcome)
{
	Latch	   *latch;

	LWLockAcquire(UsoShared->lock, LW_EXCLUSIVE);
	MySlot->done_run_id = run_id;
	MySlot->done_outcome = outcome;
	MySlot->run_id = 0;
	MySlot->cancel_requested = false;
	MySlot->progress = -1;
	/* A worker whose role lost its rights takes no further run. */
	MySlot->state = OwnerRevoked ? USO_WORKER_EXITING : USO_WORKER_IDLE;
	latch = UsoSchedulerLatch(MySlot->sched_dboid);
	LWLockRelease(UsoShared->lock);
	if (latch != NULL)
		SetLatch(latch);
	ConditionVariableBroadcast(&UsoShared->run_finished);
}

static void
ReleaseSlot(int code, Datum arg)
{
	Latch	   *latch;

	if (MySlot == NULL)
		return;
	LWLockAcquire(UsoShared->lock, LW_EXCLUSIVE);
	/* A run still assigned is closed by the scheduler, which sees pid 0. */
	MySlot->pid = 0;
	MySlot->latch = NULL;
	if (MySlot->run_id == 0)
		MySlot->state = USO_WORKER_FREE;
	latch = UsoSchedulerLatch(MySlot->sched_dboid);
	LWLockRelease(UsoShared->lock);
	if (latch != NULL)
		SetLatch(latch);
}

void
uso_executor_main(Datum arg)
{
	int			slotno = DatumGetInt32(arg);
	uint32		generation;
	Oid			dboid;
	Oid			roleid;
	TimestampTz idle_since;

	memcpy(&generation, MyBgworkerEntry->bgw_extra, sizeof(uint32));
	pqsignal(SIGTERM, die);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	UsoShmemAttach();

	LWLockAcquire(UsoShared->lock, LW_EXCLUSIVE);
	MySlot = &UsoShared->workers[slotno];
	if (MySlot->state != USO_WORKER_STARTING || MySlot->generation != generation)
	{
		LWLockRelease(UsoShared->lock);
		proc_exit(0);			/* stale registration: the slot moved on */
	}
	MySlot->pid = MyProcPid;
	MySlot->latch = MyLatch;
	MySlot->state = MySlot->run_id != 0 ? USO_WORKER_BUSY : USO_WORKER_IDLE;
	dboid = MySlot->dboid;
	roleid = MySlot->roleid;
	LWLockRelease(UsoShared->lock);
	before_shmem_exit(ReleaseSlot, 0);
	UsoCurrentWorkerSlot = slotno;

	BackgroundWorkerInitializeConnectionByOid(dboid, roleid, 0);
	RunTimeout = RegisterTimeout(USER_TIMEOUT, RunTimeoutHandler);
	LWLockAcquire(UsoShared->lock, LW_EXCLUSIVE);
	MySlot->connected = true;
	LWLockRelease(UsoShared->lock);
	pgstat_report_appname("uso_tasks worker");
	RunContext = AllocSetContextCreate(TopMemoryContext, "uso_tasks run",
									   ALLOCSET_DEFAULT_SIZES);
	UsoCaptureInstallHook();

	idle_since = GetCurrentTimestamp();
	for (;;)
	{
		int64		run_id;
		bool		exiting = false;

		CHECK_FOR_INTERRUPTS();
		LWLockAcquire(UsoShared->lock, LW_EXCLUSIVE);
		run_id = MySlot->run_id;
		if (run_id == 0 &&
			(MySlot->state == USO_WORKER_EXITING ||
			 TimestampDifferenceExceeds(idle_since, GetCurrentTimestamp(),
										uso_worker_idle_timeout_ms)))
		{
			MySlot->state = USO_WORKER_EXITING;
			exiting = true;
		}
		LWLockRelease(UsoShared->lock);
		if (exiting)
			break;

		if (run_id != 0)
		{
			UsoRunOutcome outcome = ExecuteRun(run_id);

			ReportDone(run_id, outcome);
			/* Connected as a role that lost its rights: no further run here. */
			if (OwnerRevoked)
				break;
			idle_since = GetCurrentTimestamp();
			continue;
		}

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 uso_worker_idle_timeout_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
	}
	proc_exit(0);
}
