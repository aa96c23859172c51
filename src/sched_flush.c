/*-------------------------------------------------------------------------
 * sched_flush.c
 *	  The scheduler's catalog writes: what one loop iteration decided (the
 *	  state's decisions: new runs, closed runs, remote runs' starts,
 *	  next/last run times; and remote runs' outcomes the pool reported) is
 *	  written in one transaction of set-based statements.  What it wrote
 *	  comes back to the caller as a StoreFlushResult; nothing here calls
 *	  the scheduler's state.
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

static MemoryContext pending_cxt = NULL;

/*
 * New runs that found their task row locked by another transaction wait
 * here for the next flush (and the ids of tasks whose next/last run times
 * could not be written go back to the caller).  Nothing waits for a row
 * lock, so one role's open transaction delays only its own task.
 */
static List *DeferredNewRuns = NIL;	/* SchedNewRun *, in deferred_cxt */
static MemoryContext deferred_cxt = NULL;

/* What one iteration queues for the catalog lives here until it is written. */
static MemoryContext
PendingContext(void)
{
	if (pending_cxt == NULL)
		pending_cxt = AllocSetContextCreate(TopMemoryContext, "uso_tasks pending writes",
											ALLOCSET_DEFAULT_SIZES);
	return pending_cxt;
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

/*
 * Lock the task rows of ids (mode: "KEY SHARE" or "NO KEY UPDATE") without
 * waiting.  On return locked[i] says whether ids[i] is locked by us, and
 * exists[i] whether the row exists at all (locked or not by someone else).
 */
static void
LockTasksNoWait(int64 *ids, int n, const char *mode, bool *locked, bool *exists)
{
	Oid			types[1] = {INT8ARRAYOID};
	Datum		values[1];
	HTAB	   *seen;
	HASHCTL		ctl;

	typedef struct SeenTask
	{
		int64		id;
		bool		locked;
	} SeenTask;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(SeenTask);
	ctl.hcxt = CurrentMemoryContext;
	seen = hash_create("uso_tasks locked tasks", Max(n, 16), &ctl,
					   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	values[0] = SchedInt8Array(ids, n);
	SchedExec(psprintf("SELECT t.id, l.id IS NOT NULL FROM %s.uso_task t "
					   "LEFT JOIN LATERAL (SELECT x.id FROM %s.uso_task x WHERE x.id = t.id "
					   "FOR %s SKIP LOCKED) l ON true "
					   "WHERE t.id = ANY ($1)", SchedSchema, SchedSchema, mode),
			  1, types, values, NULL);
	for (uint64 j = 0; j < SPI_processed; j++)
	{
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[j],
													 SPI_tuptable->tupdesc, 1, &isnull));
		SeenTask   *st = hash_search(seen, &id, HASH_ENTER, NULL);

		st->locked = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[j],
												SPI_tuptable->tupdesc, 2, &isnull));
	}
	for (int i = 0; i < n; i++)
	{
		SeenTask   *st = hash_search(seen, &ids[i], HASH_FIND, NULL);

		exists[i] = st != NULL;
		locked[i] = st != NULL && st->locked;
	}
	hash_destroy(seen);
}

/* Remote runs: mark dispatched ones running, record finished ones. */
static void
FlushRemote(int64 *starts, int n)
{
	int			m = list_length(PendingFinishes);
	int64	   *ids = palloc(sizeof(int64) * Max(m, 1));
	int			i = 0;
	ListCell   *lc;

	if (n > 0)
	{
		Oid			types[1] = {INT8ARRAYOID};
		Datum		values[1];

		values[0] = SchedInt8Array(starts, n);
		SchedExec(psprintf("UPDATE %s.uso_task_run SET status = 'running', "
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
		values[0] = SchedInt8Array(ids, m);
		values[1] = SchedTextArray(status, m, &ignore);
		values[2] = SchedTimeArray(started, m);
		values[3] = SchedTextArray(sqlstate, m, &ignore);
		values[4] = SchedTextArray(tag, m, &ignore);
		values[5] = SchedTextArray(message, m, &ignore);
		SchedExec(psprintf("UPDATE %s.uso_task_run r SET status = v.status, "
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
	PendingFinishes = NIL;
}

static void
FlushNewRuns(List *pending, List **deferred, StoreFlushResult *res)
{
	int			total = list_length(pending);
	int64	   *all_ids = palloc(sizeof(int64) * total);
	bool	   *locked = palloc(sizeof(bool) * total);
	bool	   *exists = palloc(sizeof(bool) * total);
	int			n = 0;
	int64	   *task_ids = palloc(sizeof(int64) * total);
	const char **triggers = palloc(sizeof(char *) * total);
	TimestampTz *slots = palloc(sizeof(TimestampTz) * total);
	const char **statuses = palloc(sizeof(char *) * total);
	int		   *attempts = palloc(sizeof(int) * total);
	const char **messages = palloc(sizeof(char *) * total);
	Oid			types[6] = {INT8ARRAYOID, TEXTARRAYOID, TIMESTAMPTZARRAYOID,
	TEXTARRAYOID, INT4ARRAYOID, TEXTARRAYOID};
	Datum		values[6];
	bool	   *ignore;
	int			i = 0;
	ListCell   *lc;

	/*
	 * Key-share lock the tasks first, skipping rows another transaction
	 * holds (an open uso_alter_task, a DELETE not yet committed): their runs
	 * wait for the next flush instead of this statement waiting for the
	 * lock, which would stall every other task of the database.  The lock
	 * also covers a delete that commits after our snapshot: the foreign key
	 * check then finds the row we hold.  Runs of tasks that are gone are
	 * dropped.
	 */
	foreach(lc, pending)
		all_ids[i++] = ((SchedNewRun *) lfirst(lc))->task_id;
	LockTasksNoWait(all_ids, total, "KEY SHARE", locked, exists);
	i = 0;
	foreach(lc, pending)
	{
		SchedNewRun *r = lfirst(lc);
		int			k = foreach_current_index(lc);
		bool		queued = strcmp(r->status, "queued") == 0;

		if (!locked[k] && exists[k])
		{
			*deferred = lappend(*deferred, r);
			continue;
		}
		/* Written below (or dropped: its task is gone): it is settled. */
		if (queued)
			res->settled[res->n_settled++] = r->task_id;
		if (!locked[k])
			continue;
		task_ids[i] = r->task_id;
		triggers[i] = r->trigger;
		slots[i] = r->scheduled_for;
		statuses[i] = r->status;
		attempts[i] = r->attempt;
		messages[i] = r->message;
		i++;
	}
	n = i;
	if (n == 0)
		return;
	values[0] = SchedInt8Array(task_ids, n);
	values[1] = SchedTextArray(triggers, n, &ignore);
	values[2] = SchedTimeArray(slots, n);
	values[3] = SchedTextArray(statuses, n, &ignore);
	values[4] = SchedInt4Array(attempts, n);
	values[5] = SchedTextArray(messages, n, &ignore);

	SchedExec(psprintf("INSERT INTO %s.uso_task_run AS r (task_id, trigger, scheduled_for, status, "
				  "attempt, return_message, finished_at) "
				  "SELECT v.task_id, v.trigger, v.slot, v.status, v.attempt, v.message, "
				  "CASE WHEN v.status IN ('queued', 'running') THEN NULL "
				  "ELSE pg_catalog.clock_timestamp() END "
				  "FROM unnest($1, $2, $3, $4, $5, $6) "
				  "AS v(task_id, trigger, slot, status, attempt, message) "
				  "ON CONFLICT (task_id, scheduled_for) "
				  "WHERE trigger IN ('schedule', 'catchup') DO NOTHING "
				  "RETURNING r.id, r.task_id, r.attempt, "
				  "COALESCE(r.scheduled_for, r.queued_at), r.trigger, r.status",
				  SchedSchema),
		 6, types, values, NULL);

	for (uint64 j = 0; j < SPI_processed; j++)
	{
		HeapTuple	tup = SPI_tuptable->vals[j];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *status = SPI_getvalue(tup, desc, 6);
		char	   *trigger = SPI_getvalue(tup, desc, 5);
		TimestampTz due = SchedGetTime(tup, desc, 4);

		StoreRunRow *w;

		if (strcmp(status, "queued") != 0)
			continue;
		w = &res->written[res->n_written++];
		w->run_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		w->task_id = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
		w->attempt = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
		w->due = due;
		w->trigger = MemoryContextStrdup(res->cxt, trigger);
	}
}

static void
FlushCloses(SchedClose *closes, int n)
{
	int64	   *ids = palloc(sizeof(int64) * n);
	const char **statuses = palloc(sizeof(char *) * n);
	const char **messages = palloc(sizeof(char *) * n);
	Oid			types[3] = {INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID};
	Datum		values[3];
	bool	   *ignore;
	for (int i = 0; i < n; i++)
	{
		ids[i] = closes[i].run_id;
		statuses[i] = closes[i].status;
		messages[i] = closes[i].message;
	}
	values[0] = SchedInt8Array(ids, n);
	values[1] = SchedTextArray(statuses, n, &ignore);
	values[2] = SchedTextArray(messages, n, &ignore);
	SchedExec(psprintf("UPDATE %s.uso_task_run r SET status = v.status, "
				  "finished_at = pg_catalog.clock_timestamp(), return_message = v.message "
				  "FROM unnest($1, $2, $3) AS v(id, status, message) "
				  "WHERE r.id = v.id AND r.finished_at IS NULL", SchedSchema),
		 3, types, values, NULL);
}

/*
 * Write the next/last run times and grid anchors the scheduler computed.  A
 * row whose schedule, time zone or enabled flag changed since we loaded it
 * is left alone: its writer computed its next_run_at (and reset its
 * anchor), and our reload follows.
 */
#define FLUSH_DIRTY_CHUNK	10000

static void
FlushDirtyTasks(SchedDirty *dirty, int total, StoreFlushResult *res)
{
	int64	   *all_ids = palloc(sizeof(int64) * total);
	bool	   *locked = palloc(sizeof(bool) * total);
	bool	   *exists = palloc(sizeof(bool) * total);
	int			n;
	int64	   *ids = palloc(sizeof(int64) * total);
	TimestampTz *next = palloc(sizeof(TimestampTz) * total);
	TimestampTz *last = palloc(sizeof(TimestampTz) * total);
	TimestampTz *anchor = palloc(sizeof(TimestampTz) * total);
	const char **schedules = palloc(sizeof(char *) * total);
	const char **tznames = palloc(sizeof(char *) * total);
	Datum	   *enabled = palloc(sizeof(Datum) * total);
	Oid			types[7] = {INT8ARRAYOID, TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID,
	TEXTARRAYOID, TEXTARRAYOID, BOOLARRAYOID, TIMESTAMPTZARRAYOID};
	Datum		values[7];
	bool	   *ignore;
	int			i = 0;

	/* As for new runs: a row someone else holds is written next time. */
	for (int k = 0; k < total; k++)
		all_ids[k] = dirty[k].id;
	LockTasksNoWait(all_ids, total, "NO KEY UPDATE", locked, exists);
	for (int k = 0; k < total; k++)
	{
		SchedDirty *t = &dirty[k];

		if (!locked[k])
		{
			if (exists[k])
				res->deferred_dirty[res->n_deferred_dirty++] = t->id;
			continue;
		}
		ids[i] = t->id;
		next[i] = t->next;
		last[i] = t->last;
		anchor[i] = t->anchor;
		schedules[i] = t->schedule_text;
		tznames[i] = t->tz_name;
		enabled[i] = BoolGetDatum(t->enabled);
		i++;
	}
	n = i;
	if (n == 0)
		return;
	values[0] = SchedInt8Array(ids, n);
	values[1] = SchedTimeArray(next, n);
	values[2] = SchedTimeArray(last, n);
	values[3] = SchedTextArray(schedules, n, &ignore);
	values[4] = SchedTextArray(tznames, n, &ignore);
	values[5] = PointerGetDatum(construct_array(enabled, n, BOOLOID, 1, true, TYPALIGN_CHAR));
	values[6] = SchedTimeArray(anchor, n);
	SchedExec(psprintf("UPDATE %s.uso_task t SET next_run_at = v.next, "
				  "last_run_at = COALESCE(v.last, t.last_run_at), "
				  "schedule_anchor = COALESCE(v.anchor, t.schedule_anchor) "
				  "FROM unnest($1, $2, $3, $4, $5, $6, $7) "
				  "AS v(id, next, last, schedule, tz, enabled, anchor) "
				  "WHERE t.id = v.id AND t.schedule = v.schedule "
				  "AND COALESCE(t.timezone, '') = v.tz AND t.enabled = v.enabled "
				  "AND (t.next_run_at IS DISTINCT FROM v.next "
				  "OR t.last_run_at IS DISTINCT FROM COALESCE(v.last, t.last_run_at) "
				  "OR t.schedule_anchor IS DISTINCT FROM COALESCE(v.anchor, t.schedule_anchor))",
				  SchedSchema),
		 7, types, values, NULL);
}

bool
StoreHasDeferred(void)
{
	return DeferredNewRuns != NIL;
}

/* Whether a deferred new run has this trigger ("startup": an @reboot run). */
bool
StoreHasDeferredTrigger(const char *trigger)
{
	ListCell   *lc;

	foreach(lc, DeferredNewRuns)
	{
		SchedNewRun *nr = lfirst(lc);

		if (strcmp(nr->trigger, trigger) == 0)
			return true;
	}
	return false;
}

/*
 * Write the decisions d (and the remote outcomes queued here) in one
 * transaction; what was written is in *res, allocated in the caller's
 * memory context.  Returns false when the catalog is gone (extension
 * dropped).
 */
bool
StoreFlush(SchedDecisions *d, StoreFlushResult *res)
{
	List	   *pending = DeferredNewRuns;
	List	   *deferred_runs = NIL;
	MemoryContext prev_deferred_cxt = deferred_cxt;
	MemoryContext old;
	ListCell   *lc;
	int			total;

	memset(res, 0, sizeof(*res));
	res->cxt = CurrentMemoryContext;
	/* What was deferred last time is tried again first, in order. */
	for (int i = 0; i < d->n_new_runs; i++)
		pending = lappend(pending, &d->new_runs[i]);
	DeferredNewRuns = NIL;
	total = list_length(pending);

	if (pending == NIL && d->n_closes == 0 && d->n_dirty == 0 &&
		d->n_remote_starts == 0 && PendingFinishes == NIL)
		return true;

	res->written = palloc(sizeof(StoreRunRow) * Max(total, 1));
	res->settled = palloc(sizeof(int64) * Max(total, 1));
	res->deferred_dirty = palloc(sizeof(int64) * Max(d->n_dirty, 1));

	SchedBeginCatalogWork();
	if (!OidIsValid(get_extension_oid("uso_tasks", true)))
	{
		SchedEndCatalogWork();
		return false;
	}
	/*
	 * The scheduler commits asynchronously (scheduler.c), but how a run
	 * ended is recorded durably: after a crash it must not read as
	 * 'interrupted' when it had finished.
	 */
	if (PendingFinishes != NIL || d->n_closes > 0)
		(void) set_config_option("synchronous_commit", "on", PGC_SUSET, PGC_S_SESSION,
								 GUC_ACTION_LOCAL, true, 0, false);
	if (d->n_remote_starts > 0 || PendingFinishes != NIL)
		FlushRemote(d->remote_starts, d->n_remote_starts);
	if (d->n_closes > 0)
		FlushCloses(d->closes, d->n_closes);
	if (pending != NIL)
		FlushNewRuns(pending, &deferred_runs, res);
	/*
	 * In pieces, each in memory of its own: after a load of a million
	 * tasks every one may be dirty, and one statement's arrays of them all
	 * would double the scheduler's memory for a moment.
	 */
	for (int off = 0; off < d->n_dirty; off += FLUSH_DIRTY_CHUNK)
	{
		MemoryContext chunk = AllocSetContextCreate(CurrentMemoryContext, "uso_tasks dirty tasks",
													 ALLOCSET_DEFAULT_SIZES);
		MemoryContext old = MemoryContextSwitchTo(chunk);

		FlushDirtyTasks(d->dirty + off, Min(FLUSH_DIRTY_CHUNK, d->n_dirty - off), res);
		MemoryContextSwitchTo(old);
		MemoryContextDelete(chunk);
	}

	/* Keep what must wait beyond this iteration's memory. */
	deferred_cxt = NULL;
	if (deferred_runs != NIL)
	{
		deferred_cxt = AllocSetContextCreate(TopMemoryContext, "uso_tasks deferred writes",
											 ALLOCSET_SMALL_SIZES);
		old = MemoryContextSwitchTo(deferred_cxt);
		foreach(lc, deferred_runs)
		{
			SchedNewRun *copy = palloc(sizeof(SchedNewRun));

			*copy = *(SchedNewRun *) lfirst(lc);
			copy->message = copy->message ? pstrdup(copy->message) : NULL;
			DeferredNewRuns = lappend(DeferredNewRuns, copy);
		}
		MemoryContextSwitchTo(old);
	}
	SchedEndCatalogWork();

	MemoryContextReset(PendingContext());
	if (prev_deferred_cxt != NULL)
		MemoryContextDelete(prev_deferred_cxt);
	return true;
}
