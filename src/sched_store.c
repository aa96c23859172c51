/*-------------------------------------------------------------------------
 * sched_store.c
 *	  The scheduler's catalog access: loading tasks and queued runs, and
 *	  writing what one loop iteration decided in a single transaction of
 *	  set-based statements (new runs, closed runs, next/last run times).
 *
 * The scheduler connects as the bootstrap superuser, so it sees every task
 * whatever its row-level security.  All SQL is schema-qualified.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "uso_tasks.h"
#include "catalog.h"
#include "sched.h"
#include "spi_plans.h"

const char *SchedSchema = NULL;

static List *PendingNewRuns = NIL;	/* NewRun * */
static List *PendingCloses = NIL;	/* ClosedRun * */
static List *PendingStarts = NIL;	/* int64 * run ids */
static List *PendingFinishes = NIL; /* RemoteFinish * */

typedef struct RemoteFinish
{
	int64		run_id;
	const char *status;
	TimestampTz started;
	const char *sqlstate;
	const char *tag;
	const char *message;
} RemoteFinish;

static MemoryContext catalog_work_caller_cxt = NULL;
static MemoryContext pending_cxt = NULL;

/* What one iteration queues for the catalog lives here until it is written. */
static MemoryContext
PendingContext(void)
{
	if (pending_cxt == NULL)
		pending_cxt = AllocSetContextCreate(TopMemoryContext, "uso_tasks pending writes",
											ALLOCSET_DEFAULT_SIZES);
	return pending_cxt;
}

static void
BeginCatalogWork(void)
{
	/* Commit leaves TopMemoryContext current: the loop's context comes back. */
	catalog_work_caller_cxt = CurrentMemoryContext;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
}

static void
EndCatalogWork(void)
{
	PopActiveSnapshot();
	SPI_finish();
	CommitTransactionCommand();
	pgstat_report_stat(false);
	MemoryContextSwitchTo(catalog_work_caller_cxt);
}

static void
Exec(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls)
{
	/* Kept plans: these statements run on every wake (spi_plans.c). */
	int			ret = SPI_execute_plan(UsoKeptPlan(sql, nargs, types), values, nulls, false, 0);

	if (ret < 0)
		elog(ERROR, "uso_tasks scheduler statement failed (%s): %s",
			 SPI_result_code_string(ret), sql);
}

static Datum
Int8Array(int64 *v, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = Int64GetDatum(v[i]);
	return PointerGetDatum(construct_array(d, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

static Datum
TextArray(const char **v, int n, bool **nulls_out)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	bool	   *nulls = palloc0(sizeof(bool) * Max(n, 1));
	int			dims[1] = {n};
	int			lbs[1] = {1};

	for (int i = 0; i < n; i++)
	{
		if (v[i] == NULL)
		{
			nulls[i] = true;
			d[i] = (Datum) 0;
		}
		else
			d[i] = CStringGetTextDatum(v[i]);
	}
	*nulls_out = nulls;
	return PointerGetDatum(construct_md_array(d, nulls, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
}

/* timestamptz[], DT_NOBEGIN / DT_NOEND meaning NULL. */
static Datum
TimeArray(TimestampTz *v, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	bool	   *nulls = palloc0(sizeof(bool) * Max(n, 1));
	int			dims[1] = {n};
	int			lbs[1] = {1};

	for (int i = 0; i < n; i++)
	{
		if (v[i] == DT_NOBEGIN || v[i] == DT_NOEND)
			nulls[i] = true;
		else
			d[i] = TimestampTzGetDatum(v[i]);
	}
	return PointerGetDatum(construct_md_array(d, nulls, 1, dims, lbs, TIMESTAMPTZOID, 8,
											  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

static Datum
Int4Array(int *v, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = Int32GetDatum(v[i]);
	return PointerGetDatum(construct_array(d, n, INT4OID, 4, true, TYPALIGN_INT));
}

static char *
CopyText(HeapTuple tup, TupleDesc desc, int col)
{
	char	   *v = SPI_getvalue(tup, desc, col);

	return MemoryContextStrdup(SchedContext, v ? v : "");
}

static char *
CopyTextOrNull(HeapTuple tup, TupleDesc desc, int col)
{
	char	   *v = SPI_getvalue(tup, desc, col);

	return v ? MemoryContextStrdup(SchedContext, v) : NULL;
}

static TimestampTz
GetTime(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? DT_NOBEGIN : DatumGetTimestampTz(d);
}

/*
 * Close what a crash or restart left open: runs marked running by a worker
 * that no longer exists, and scheduled runs never picked up.  Manual,
 * one-off and retry runs that never started are kept: they run now.
 */
void
StoreCloseInterrupted(List *live_run_ids)
{
	int			n = list_length(live_run_ids);
	int64	   *ids = palloc(sizeof(int64) * Max(n, 1));
	int			i = 0;
	ListCell   *lc;
	Oid			types[1] = {INT8ARRAYOID};
	Datum		values[1];

	foreach(lc, live_run_ids)
		ids[i++] = *(int64 *) lfirst(lc);
	values[0] = Int8Array(ids, n);

	BeginCatalogWork();
	Exec(psprintf("UPDATE %s.uso_task_run SET status = 'failed', "
				  "finished_at = pg_catalog.clock_timestamp(), "
				  "return_message = CASE WHEN status = 'running' THEN "
				  "'interrupted: the server or the uso_tasks scheduler stopped while this run "
				  "was in progress (crash, immediate shutdown or failover); it was not "
				  "run again' ELSE 'not started: the scheduler stopped before a worker "
				  "picked this run up; a catchup run replaces it' END "
				  "WHERE finished_at IS NULL AND id <> ALL ($1) "
				  "AND (status = 'running' OR trigger IN ('schedule', 'catchup', 'startup'))",
				  SchedSchema),
		 1, types, values, NULL);
	if (SPI_processed > 0)
		ereport(LOG,
				(errmsg("uso_tasks closed " UINT64_FORMAT " run(s) left open by a crash or restart",
						SPI_processed)));
	EndCatalogWork();
}

/* Why a task cannot run at all, or NULL. */
static char *
TaskProblem(HeapTuple tup, TupleDesc desc, Oid *dboid, Oid *roleid)
{
	bool		isnull;
	char	   *database = SPI_getvalue(tup, desc, 16);
	char	   *username = SPI_getvalue(tup, desc, 17);
	Datum		d;

	d = SPI_getbinval(tup, desc, 13, &isnull);
	*dboid = isnull ? InvalidOid : DatumGetObjectId(d);
	d = SPI_getbinval(tup, desc, 14, &isnull);
	*roleid = isnull ? InvalidOid : DatumGetObjectId(d);
	if (!OidIsValid(*dboid))
		return psprintf("database \"%s\" does not exist (dropped?): the task cannot run", database);
	if (!OidIsValid(*roleid))
		return psprintf("role \"%s\" does not exist (dropped?): the task cannot run", username);
	d = SPI_getbinval(tup, desc, 15, &isnull);
	if (isnull || !DatumGetBool(d))
		return psprintf("role \"%s\" cannot log in: uso_tasks workers connect as the task "
						"owner, which needs LOGIN", username);
	if (*dboid != MyDatabaseId)
	{
		char	   *command = SPI_getvalue(tup, desc, 18);
		char	   *config = SPI_getvalue(tup, desc, 19);

		if (command == NULL || strlen(command) >= USO_REMOTE_COMMAND_LEN)
			return psprintf("the command of a task that runs in another database is limited "
							"to %d bytes", USO_REMOTE_COMMAND_LEN - 1);
		if (config != NULL && strlen(config) >= USO_REMOTE_CONFIG_LEN)
			return psprintf("the config of a task that runs in another database is limited "
							"to %d bytes", USO_REMOTE_CONFIG_LEN - 1);
	}
	return NULL;
}

void
StoreLoadTasks(TimestampTz now, bool first)
{
	Oid			types[2] = {OIDOID, INT4OID};
	Datum		values[2];

	values[0] = ObjectIdGetDatum(MyDatabaseId);
	values[1] = Int32GetDatum(uso_default_timeout_ms);

	BeginCatalogWork();
	Exec(psprintf("SELECT t.id, t.name, t.schedule, COALESCE(t.timezone, ''), t.enabled, "
				  "t.next_run_at, t.last_run_at, t.overlap, t.misfire, t.max_retries, "
				  "(pg_catalog.date_part('epoch', t.retry_delay) * 1000000)::int8, "
				  "(pg_catalog.date_part('epoch', t.retry_after) * 1000000)::int8, "
				  "d.oid, r.oid, r.rolcanlogin, t.database, t.username, "
				  "CASE WHEN d.oid <> $1 THEN t.command END, "
				  "CASE WHEN d.oid <> $1 THEN t.config::text END, "
				  "(pg_catalog.date_part('epoch', COALESCE(t.timeout, "
				  "pg_catalog.make_interval(secs => $2::float8 / 1000))) * 1000)::int8 "
				  "FROM %s.uso_task t "
				  "LEFT JOIN pg_catalog.pg_database d ON d.datname = t.database "
				  "LEFT JOIN pg_catalog.pg_roles r ON r.rolname = t.username",
				  SchedSchema), 2, types, values, NULL);

	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		SchedTask  *t;
		bool		found;
		bool		changed;
		char	   *schedule = SPI_getvalue(tup, desc, 3);
		char	   *tzname = SPI_getvalue(tup, desc, 4);
		bool		enabled = DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull));
		char	   *overlap = SPI_getvalue(tup, desc, 8);
		char	   *misfire = SPI_getvalue(tup, desc, 9);
		char		errbuf[USO_SCHEDULE_ERRBUF];

		t = hash_search(SchedTasks, &id, HASH_ENTER, &found);
		if (!found)
		{
			memset(((char *) t) + sizeof(int64), 0, sizeof(SchedTask) - sizeof(int64));
			t->heap_pos = -1;
			t->last_start = DT_NOBEGIN;
			t->next_run = DT_NOEND;
		}
		/* A new task keeps a stored next_run_at (computed when it was written). */
		changed = found && (strcmp(t->schedule_text, schedule) != 0 ||
							strcmp(t->tz_name, tzname) != 0 || t->enabled != enabled);
		if (found)
		{
			pfree(t->name);
			pfree(t->schedule_text);
			pfree(t->tz_name);
			if (t->problem)
				pfree(t->problem);
			if (t->command)
				pfree(t->command);
			if (t->config)
				pfree(t->config);
		}
		t->command = CopyTextOrNull(tup, desc, 18);
		t->config = CopyTextOrNull(tup, desc, 19);
		{
			Datum		d = SPI_getbinval(tup, desc, 20, &isnull);

			t->timeout_ms = isnull ? 0 : (int) Min(DatumGetInt64(d), (int64) INT_MAX);
		}
		t->seen = true;
		t->name = CopyText(tup, desc, 2);
		t->schedule_text = MemoryContextStrdup(SchedContext, schedule);
		t->tz_name = MemoryContextStrdup(SchedContext, tzname);
		t->enabled = enabled;
		t->schedule_ok = UsoScheduleParse(schedule, &t->schedule, errbuf);
		t->tz = tzname[0] ? pg_tzset(tzname) : NULL;
		if (t->tz == NULL)
			t->tz = UsoDefaultTimezone();
		t->last_start = GetTime(tup, desc, 7);
		t->overlap = strcmp(overlap, "parallel") == 0 ? OVERLAP_PARALLEL :
			strcmp(overlap, "queue") == 0 ? OVERLAP_QUEUE : OVERLAP_SKIP;
		t->misfire_skip = strcmp(misfire, "skip") == 0;
		t->max_retries = DatumGetInt32(SPI_getbinval(tup, desc, 10, &isnull));
		t->retry_delay_us = DatumGetInt64(SPI_getbinval(tup, desc, 11, &isnull));
		t->retry_after_us = DatumGetInt64(SPI_getbinval(tup, desc, 12, &isnull));
		t->problem = TaskProblem(tup, desc, &t->dboid, &t->roleid);
		if (t->problem)
			t->problem = MemoryContextStrdup(SchedContext, t->problem);
		else if (!t->schedule_ok)
			t->problem = MemoryContextStrdup(SchedContext,
											 psprintf("invalid schedule: %s", errbuf));
		SchedTaskLoaded(t, changed, GetTime(tup, desc, 6), first, now);
	}
	SchedSweepUnseen();
	EndCatalogWork();
}

void
StoreLoadQueuedRuns(void)
{
	HTAB	   *queued;
	HASHCTL		ctl;
	HASH_SEQ_STATUS seq;
	SchedRun   *run;
	List	   *gone = NIL;
	ListCell   *lc;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(int64);
	ctl.hcxt = CurrentMemoryContext;
	queued = hash_create("uso_tasks queued", 256, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	BeginCatalogWork();
	Exec(psprintf("SELECT id, task_id, attempt, COALESCE(scheduled_for, queued_at), trigger "
				  "FROM %s.uso_task_run WHERE status = 'queued' ORDER BY id",
				  SchedSchema), 0, NULL, NULL, NULL);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));

		hash_search(queued, &id, HASH_ENTER, NULL);
		if (hash_search(SchedRuns, &id, HASH_FIND, NULL) == NULL)
			SchedAddRun(id,
						DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull)),
						DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull)),
						GetTime(tup, desc, 4),
						SPI_getvalue(tup, desc, 5));
	}
	EndCatalogWork();

	/* Waiting runs whose row is no longer queued were cancelled or deleted. */
	hash_seq_init(&seq, SchedRuns);
	while ((run = hash_seq_search(&seq)) != NULL)
	{
		if (!run->dispatched && hash_search(queued, &run->run_id, HASH_FIND, NULL) == NULL)
			gone = lappend(gone, run);
	}
	foreach(lc, gone)
		SchedForgetRun(((SchedRun *) lfirst(lc))->run_id);
	hash_destroy(queued);
}

/*
 * Runs adopted from a previous scheduler process (still executing) count
 * against their task's overlap rule once the tasks are loaded.
 */
void
StoreResolveAdopted(void)
{
	HASH_SEQ_STATUS seq;
	SchedRun   *run;
	int64	   *ids = palloc(sizeof(int64) * Max(hash_get_num_entries(SchedRuns), 1));
	int			n = 0;
	Oid			types[1] = {INT8ARRAYOID};
	Datum		values[1];

	hash_seq_init(&seq, SchedRuns);
	while ((run = hash_seq_search(&seq)) != NULL)
	{
		if (run->task_id == 0)
			ids[n++] = run->run_id;
	}
	if (n == 0)
		return;
	values[0] = Int8Array(ids, n);
	BeginCatalogWork();
	Exec(psprintf("SELECT id, task_id FROM %s.uso_task_run WHERE id = ANY ($1)", SchedSchema),
		 1, types, values, NULL);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int64		run_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		int64		task_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
		SchedTask  *t = SchedLookupTask(task_id);

		run = hash_search(SchedRuns, &run_id, HASH_FIND, NULL);
		if (run == NULL)
			continue;
		run->task_id = task_id;
		if (t != NULL)
		{
			run->counted = true;
			t->active++;
			t->running++;
			t->active_run = run_id;
		}
	}
	EndCatalogWork();
}

void
StoreQueueNewRun(NewRun *run)
{
	MemoryContext old = MemoryContextSwitchTo(PendingContext());
	NewRun	   *copy = palloc(sizeof(NewRun));

	*copy = *run;
	copy->message = run->message ? pstrdup(run->message) : NULL;
	PendingNewRuns = lappend(PendingNewRuns, copy);
	MemoryContextSwitchTo(old);
}

void
StoreQueueClose(int64 run_id, const char *message)
{
	StoreQueueCloseAs(run_id, "failed", message);
}

void
StoreQueueCloseAs(int64 run_id, const char *status, const char *message)
{
	MemoryContext old = MemoryContextSwitchTo(PendingContext());
	ClosedRun  *c = palloc(sizeof(ClosedRun));

	c->run_id = run_id;
	c->status = status;
	c->message = pstrdup(message);
	PendingCloses = lappend(PendingCloses, c);
	MemoryContextSwitchTo(old);
}

void
StoreQueueRemoteStart(int64 run_id)
{
	MemoryContext old = MemoryContextSwitchTo(PendingContext());
	int64	   *id = palloc(sizeof(int64));

	*id = run_id;
	PendingStarts = lappend(PendingStarts, id);
	MemoryContextSwitchTo(old);
}

static const char *
OutcomeStatus(UsoRunOutcome outcome)
{
	switch (outcome)
	{
		case USO_OUTCOME_SUCCEEDED:
			return "succeeded";
		case USO_OUTCOME_TIMED_OUT:
			return "timed_out";
		case USO_OUTCOME_CANCELLED:
			return "cancelled";
		default:
			return "failed";
	}
}

void
StoreQueueRemoteFinish(int64 run_id, UsoRunOutcome outcome, TimestampTz started,
					   const char *sqlstate, const char *tag, const char *message)
{
	MemoryContext old = MemoryContextSwitchTo(PendingContext());
	RemoteFinish *f = palloc(sizeof(RemoteFinish));

	f->run_id = run_id;
	f->status = OutcomeStatus(outcome);
	f->started = started;
	f->sqlstate = sqlstate[0] ? pstrdup(sqlstate) : NULL;
	f->tag = tag[0] ? pstrdup(tag) : NULL;
	f->message = message[0] ? pstrdup(message) : NULL;
	PendingFinishes = lappend(PendingFinishes, f);
	MemoryContextSwitchTo(old);
}

/* Remote runs: mark dispatched ones running, record finished ones. */
static void
FlushRemote(void)
{
	int			n = list_length(PendingStarts);
	int			m = list_length(PendingFinishes);
	int64	   *ids = palloc(sizeof(int64) * Max(n + m, 1));
	int			i = 0;
	ListCell   *lc;

	if (n > 0)
	{
		Oid			types[1] = {INT8ARRAYOID};
		Datum		values[1];

		foreach(lc, PendingStarts)
			ids[i++] = *(int64 *) lfirst(lc);
		values[0] = Int8Array(ids, n);
		Exec(psprintf("UPDATE %s.uso_task_run SET status = 'running', "
					  "started_at = pg_catalog.clock_timestamp() "
					  "WHERE id = ANY ($1) AND status = 'queued'", SchedSchema),
			 1, types, values, NULL);
	}
	if (m > 0)
	{
		Oid			types[6] = {INT8ARRAYOID, TEXTARRAYOID, TIMESTAMPTZARRAYOID,
		TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID};
		Datum		values[6];
		const char **status = palloc(sizeof(char *) * m);
		TimestampTz *started = palloc(sizeof(TimestampTz) * m);
		const char **sqlstate = palloc(sizeof(char *) * m);
		const char **tag = palloc(sizeof(char *) * m);
		const char **message = palloc(sizeof(char *) * m);
		bool	   *ignore;

		i = 0;
		foreach(lc, PendingFinishes)
		{
			RemoteFinish *f = lfirst(lc);

			ids[i] = f->run_id;
			status[i] = f->status;
			started[i] = f->started;
			sqlstate[i] = f->sqlstate;
			tag[i] = f->tag;
			message[i] = f->message;
			i++;
		}
		values[0] = Int8Array(ids, m);
		values[1] = TextArray(status, m, &ignore);
		values[2] = TimeArray(started, m);
		values[3] = TextArray(sqlstate, m, &ignore);
		values[4] = TextArray(tag, m, &ignore);
		values[5] = TextArray(message, m, &ignore);
		Exec(psprintf("UPDATE %s.uso_task_run r SET status = v.status, "
					  "started_at = COALESCE(v.started, r.started_at), "
					  "finished_at = pg_catalog.clock_timestamp(), "
					  "sqlstate = v.sqlstate, "
					  "command_tag = CASE WHEN v.status = 'succeeded' THEN v.tag END, "
					  "return_message = v.message "
					  "FROM unnest($1, $2, $3, $4, $5, $6) "
					  "AS v(id, status, started, sqlstate, tag, message) "
					  "WHERE r.id = v.id AND r.finished_at IS NULL", SchedSchema),
			 6, types, values, NULL);
	}
	PendingStarts = NIL;
	PendingFinishes = NIL;
}

static void
FlushNewRuns(void)
{
	int			n = list_length(PendingNewRuns);
	int64	   *task_ids = palloc(sizeof(int64) * n);
	const char **triggers = palloc(sizeof(char *) * n);
	TimestampTz *slots = palloc(sizeof(TimestampTz) * n);
	const char **statuses = palloc(sizeof(char *) * n);
	int		   *attempts = palloc(sizeof(int) * n);
	const char **messages = palloc(sizeof(char *) * n);
	Oid			types[6] = {INT8ARRAYOID, TEXTARRAYOID, TIMESTAMPTZARRAYOID,
	TEXTARRAYOID, INT4ARRAYOID, TEXTARRAYOID};
	Datum		values[6];
	bool	   *ignore;
	int			i = 0;
	ListCell   *lc;

	foreach(lc, PendingNewRuns)
	{
		NewRun	   *r = lfirst(lc);

		task_ids[i] = r->task_id;
		triggers[i] = r->trigger;
		slots[i] = r->scheduled_for;
		statuses[i] = r->status;
		attempts[i] = r->attempt;
		messages[i] = r->message;
		i++;
	}
	values[0] = Int8Array(task_ids, n);
	values[1] = TextArray(triggers, n, &ignore);
	values[2] = TimeArray(slots, n);
	values[3] = TextArray(statuses, n, &ignore);
	values[4] = Int4Array(attempts, n);
	values[5] = TextArray(messages, n, &ignore);

	/*
	 * Rows of tasks deleted meanwhile are dropped by the join.  The key-share
	 * lock covers a delete that commits after our snapshot: the locked join
	 * skips that task (instead of the foreign key check failing, which
	 * ended the scheduler), and a later delete waits for our commit.
	 */
	Exec(psprintf("INSERT INTO %s.uso_task_run AS r (task_id, trigger, scheduled_for, status, "
				  "attempt, return_message, finished_at) "
				  "SELECT v.task_id, v.trigger, v.slot, v.status, v.attempt, v.message, "
				  "CASE WHEN v.status IN ('queued', 'running') THEN NULL "
				  "ELSE pg_catalog.clock_timestamp() END "
				  "FROM unnest($1, $2, $3, $4, $5, $6) "
				  "AS v(task_id, trigger, slot, status, attempt, message) "
				  "JOIN %s.uso_task t ON t.id = v.task_id FOR KEY SHARE OF t "
				  "ON CONFLICT (task_id, scheduled_for) "
				  "WHERE trigger IN ('schedule', 'catchup') DO NOTHING "
				  "RETURNING r.id, r.task_id, r.attempt, "
				  "COALESCE(r.scheduled_for, r.queued_at), r.trigger, r.status",
				  SchedSchema, SchedSchema),
		 6, types, values, NULL);

	for (uint64 j = 0; j < SPI_processed; j++)
	{
		HeapTuple	tup = SPI_tuptable->vals[j];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *status = SPI_getvalue(tup, desc, 6);
		char	   *trigger = SPI_getvalue(tup, desc, 5);
		TimestampTz due = GetTime(tup, desc, 4);

		if (strcmp(status, "queued") != 0)
			continue;
		/* Scheduled runs are due now whatever their slot was. */
		if (strcmp(trigger, "retry") != 0)
			due = Min(due, GetCurrentTimestamp());
		SchedAddRun(DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull)),
					DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull)),
					DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull)),
					due, trigger);
	}
}

static void
FlushCloses(void)
{
	int			n = list_length(PendingCloses);
	int64	   *ids = palloc(sizeof(int64) * n);
	const char **statuses = palloc(sizeof(char *) * n);
	const char **messages = palloc(sizeof(char *) * n);
	Oid			types[3] = {INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID};
	Datum		values[3];
	bool	   *ignore;
	int			i = 0;
	ListCell   *lc;

	foreach(lc, PendingCloses)
	{
		ClosedRun  *c = lfirst(lc);

		ids[i] = c->run_id;
		statuses[i] = c->status;
		messages[i] = c->message;
		i++;
	}
	values[0] = Int8Array(ids, n);
	values[1] = TextArray(statuses, n, &ignore);
	values[2] = TextArray(messages, n, &ignore);
	Exec(psprintf("UPDATE %s.uso_task_run r SET status = v.status, "
				  "finished_at = pg_catalog.clock_timestamp(), return_message = v.message "
				  "FROM unnest($1, $2, $3) AS v(id, status, message) "
				  "WHERE r.id = v.id AND r.finished_at IS NULL", SchedSchema),
		 3, types, values, NULL);
}

/*
 * Write the next/last run times the scheduler computed.  A row whose
 * schedule, time zone or enabled flag changed since we loaded it is left
 * alone: its writer computed its next_run_at, and our reload follows.
 */
static void
FlushDirtyTasks(void)
{
	int			n = list_length(DirtyTasks);
	int64	   *ids = palloc(sizeof(int64) * n);
	TimestampTz *next = palloc(sizeof(TimestampTz) * n);
	TimestampTz *last = palloc(sizeof(TimestampTz) * n);
	const char **schedules = palloc(sizeof(char *) * n);
	const char **tznames = palloc(sizeof(char *) * n);
	Datum	   *enabled = palloc(sizeof(Datum) * n);
	Oid			types[6] = {INT8ARRAYOID, TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID,
	TEXTARRAYOID, TEXTARRAYOID, BOOLARRAYOID};
	Datum		values[6];
	bool	   *ignore;
	int			i = 0;
	ListCell   *lc;

	foreach(lc, DirtyTasks)
	{
		SchedTask  *t = lfirst(lc);

		ids[i] = t->id;
		next[i] = t->enabled ? t->next_run : DT_NOEND;
		last[i] = t->last_start;
		schedules[i] = t->schedule_text;
		tznames[i] = t->tz_name;
		enabled[i] = BoolGetDatum(t->enabled);
		t->next_dirty = false;
		i++;
	}
	values[0] = Int8Array(ids, n);
	values[1] = TimeArray(next, n);
	values[2] = TimeArray(last, n);
	values[3] = TextArray(schedules, n, &ignore);
	values[4] = TextArray(tznames, n, &ignore);
	values[5] = PointerGetDatum(construct_array(enabled, n, BOOLOID, 1, true, TYPALIGN_CHAR));
	Exec(psprintf("UPDATE %s.uso_task t SET next_run_at = v.next, "
				  "last_run_at = COALESCE(v.last, t.last_run_at) "
				  "FROM unnest($1, $2, $3, $4, $5, $6) "
				  "AS v(id, next, last, schedule, tz, enabled) "
				  "WHERE t.id = v.id AND t.schedule = v.schedule "
				  "AND COALESCE(t.timezone, '') = v.tz AND t.enabled = v.enabled "
				  "AND (t.next_run_at IS DISTINCT FROM v.next "
				  "OR t.last_run_at IS DISTINCT FROM COALESCE(v.last, t.last_run_at))",
				  SchedSchema),
		 6, types, values, NULL);
}

/*
 * Write everything queued by this iteration in one transaction.  Returns
 * false when the catalog is gone (extension dropped).
 */
bool
StoreFlush(void)
{
	if (PendingNewRuns == NIL && PendingCloses == NIL && DirtyTasks == NIL &&
		PendingStarts == NIL && PendingFinishes == NIL)
		return true;

	BeginCatalogWork();
	if (!OidIsValid(get_extension_oid("uso_tasks", true)))
	{
		EndCatalogWork();
		return false;
	}
	/*
	 * The scheduler commits asynchronously (scheduler.c), but how a run
	 * ended is recorded durably: after a crash it must not read as
	 * 'interrupted' when it had finished.
	 */
	if (PendingFinishes != NIL || PendingCloses != NIL)
		(void) set_config_option("synchronous_commit", "on", PGC_SUSET, PGC_S_SESSION,
								 GUC_ACTION_LOCAL, true, 0, false);
	if (PendingStarts != NIL || PendingFinishes != NIL)
		FlushRemote();
	if (PendingCloses != NIL)
		FlushCloses();
	if (PendingNewRuns != NIL)
		FlushNewRuns();
	if (DirtyTasks != NIL)
		FlushDirtyTasks();
	EndCatalogWork();

	PendingNewRuns = NIL;
	PendingCloses = NIL;
	MemoryContextReset(PendingContext());
	list_free(DirtyTasks);
	DirtyTasks = NIL;
	return true;
}
