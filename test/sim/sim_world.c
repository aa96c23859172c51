/*-------------------------------------------------------------------------
 * sim_world.c
 *	  The simulation's catalog (what sched_store.c and sched_flush.c do in
 *	  SQL, here on in-memory rows), its pool (a simpler sched_pool.c) and
 *	  the scheduler loop (scheduler.c's steps that reach the state, in the
 *	  same order; see sim.c for what it leaves out).
 *	  The workers and the world's events are in sim_events.c.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdio.h>
#include <stdlib.h>

#include "sim_world.h"

/* ---------- rows ---------- */

SimRow *
RowInsert(SimTask *t, const char *trigger, TimestampTz slot, RowStatus status, int attempt)
{
	SimRow	   *r = calloc(1, sizeof(SimRow));

	r->id = ++W.last_run_id;
	r->task_id = t->id;
	r->trigger = trigger;
	r->scheduled_for = slot;
	r->queued_at = W.now;
	r->started_at = DT_NOBEGIN;
	r->finished_at = DT_NOBEGIN;
	r->status = status;
	r->attempt = attempt;
	r->timeout_ms = t->timeout_ms;
	SchedMapPut(&W.rows, r->id, r);
	if (status == RS_QUEUED)
		SchedMapPut(&W.open, r->id, r);
	else
	{
		r->finished_at = W.now;
		ChainsRunEnded(r, status);	/* uso_run_ended_insert */
	}
	return r;
}

void
RowFinish(SimRow *r, RowStatus status)
{
	SimTask    *t = TaskGet(r->task_id);

	/* A slot's run closed before it started is a lost slot, unless its task cannot run. */
	if (r->started_at == DT_NOBEGIN && status == RS_FAILED && t != NULL &&
		(strcmp(r->trigger, "schedule") == 0 || strcmp(r->trigger, "catchup") == 0) &&
		!t->problem && t->problem_changed_at < r->queued_at)
		Violation("run %lld (%s) of task %lld was closed before it started: its slot is lost",
				  (long long) r->id, r->trigger, (long long) r->task_id);
	r->status = status;
	r->finished_at = W.now;
	SchedMapDelete(&W.open, r->id);
	if (t != NULL)
	{
		t->last_end = status;
		t->last_end_at = W.now;
		t->last_end_attempt = r->attempt;
	}
	ChainsRunEnded(r, status);	/* uso_run_ended, in the same transaction */
}

SimWorker *
WorkerOf(int64 run_id)
{
	for (int i = 0; i < W.n_workers; i++)
		if (W.workers[i].used && !W.workers[i].dead && W.workers[i].run_id == run_id)
			return &W.workers[i];
	return NULL;
}

/* Rows that ended an hour ago go (uso_tasks' retention, only sooner). */
void
Retention(void)
{
	uint32		pos = 0;
	void	   *v;
	int64	   *ids = malloc(sizeof(int64) * (W.rows.count + 1));
	int			n = 0;

	while (SchedMapNext(&W.rows, &pos, &v))
	{
		SimRow	   *r = v;

		if (r->finished_at != DT_NOBEGIN && r->finished_at < W.now - 3600 * SEC)
			ids[n++] = r->id;
	}
	for (int i = 0; i < n; i++)
		free(SchedMapDelete(&W.rows, ids[i]));
	free(ids);
	ChainsCheck(false);
}

/* ---------- the store ---------- */

static void
StoreCloseInterrupted(int64 *live, int nlive, bool reboot_pending)
{
	uint32		pos = 0;
	void	   *v;
	SimRow	   *close[4096];
	int			n = 0;

	while (SchedMapNext(&W.open, &pos, &v) && n < lengthof(close))
	{
		SimRow	   *r = v;
		bool		is_live = false;

		for (int i = 0; i < nlive; i++)
			is_live |= live[i] == r->id;
		if (is_live)
			continue;
		if (r->status == RS_RUNNING ||
			(reboot_pending && strcmp(r->trigger, "startup") == 0))
			close[n++] = r;
	}
	for (int i = 0; i < n; i++)
		RowFinish(close[i], RS_FAILED);
}

static void
FeedTasks(bool first)
{
	uint32		pos = 0;
	void	   *v;
	bool		reboot = first && W.reboot_pending;

	while (SchedMapNext(&W.tasks, &pos, &v))
	{
		SimTask    *t = v;
		SchedTaskRow row;

		if (t->deleted)
			continue;
		memset(&row, 0, sizeof(row));
		row.id = t->id;
		row.name = "task";
		row.schedule_text = t->schedule;
		row.tz_name = t->tz;
		row.tz = t->tzp;
		row.enabled = t->enabled;
		row.problem = t->problem ? "role \"owner\" cannot log in" : NULL;
		row.stored_next = t->next_run_at;
		row.last_start = t->last_run_at;
		row.anchor = t->schedule_anchor;
		row.overlap = t->overlap;
		row.misfire_skip = t->misfire_skip;
		row.dboid = 1;
		row.roleid = 10;
		row.timeout_ms = t->timeout_ms;
		row.max_retries = t->max_retries;
		row.retry_delay_us = t->retry_delay_us;
		row.retry_after_us = t->retry_after_us;
		SchedStateTaskRow(W.state, &row, first, reboot, W.scheduling, W.now);
	}
	SchedStateEndLoad(W.state);
}

static int
CmpRowId(const void *a, const void *b)
{
	int64		x = (*(SimRow *const *) a)->id,
				y = (*(SimRow *const *) b)->id;

	return x < y ? -1 : x > y;
}

static void
FeedQueuedRuns(void)
{
	uint32		pos = 0;
	void	   *v;
	SimRow	  **rows = malloc(sizeof(SimRow *) * (W.open.count + 1));
	int			n = 0;

	while (SchedMapNext(&W.open, &pos, &v))
		if (((SimRow *) v)->status == RS_QUEUED)
			rows[n++] = v;
	qsort(rows, n, sizeof(SimRow *), CmpRowId);
	SchedStateBeginQueued(W.state);
	for (int i = 0; i < n; i++)
		GridQueuedRowFed(rows[i]);
	for (int i = 0; i < n; i++)
		SchedStateQueuedRow(W.state, rows[i]->id, rows[i]->task_id, rows[i]->attempt,
							rows[i]->scheduled_for != DT_NOBEGIN ? rows[i]->scheduled_for :
							rows[i]->queued_at, rows[i]->trigger, W.now);
	SchedStateEndQueued(W.state, W.now);
	free(rows);
}

static bool
SlotTaken(SimTask *t, TimestampTz slot)
{
	for (int i = 0; i < t->n_recent && i < N_RECENT; i++)
		if (t->recent[i] == slot)
			return true;
	return false;
}

/* sched_flush.c's StoreFlush, then what scheduler.c's Flush feeds back. */
static void
Flush(void)
{
	SchedDecisions *d = SchedStateTakeDecisions(W.state);

	for (int i = 0; i < d->n_closes; i++)
	{
		SimRow	   *r = SchedMapGet(&W.open, d->closes[i].run_id);

		if (r == NULL)
			continue;			/* WHERE finished_at IS NULL */
		CheckClose(r);
		if (strcmp(d->closes[i].status, "timed_out") == 0)
			RowFinish(r, RS_TIMED_OUT);
		else
			RowFinish(r, RS_FAILED);
	}
	/* What was deferred last time goes first, in order, then this time's. */
	int			nold = W.n_deferred;
	int			total = nold + d->n_new_runs;
	SchedNewRun *pending = malloc(sizeof(SchedNewRun) * (total + 1));
	int64	   *dirty_again = malloc(sizeof(int64) * (d->n_dirty + 1));
	int			n_dirty_again = 0;

	memcpy(pending, W.deferred, sizeof(SchedNewRun) * nold);
	for (int i = 0; i < d->n_new_runs; i++)
	{
		SimTask    *t = TaskGet(d->new_runs[i].task_id);

		pending[nold + i] = d->new_runs[i];
		/* the state's message goes at ClearDecisions: the copy owns its own */
		pending[nold + i].message = d->new_runs[i].message ? strdup(d->new_runs[i].message) : NULL;
		if (t != NULL && strcmp(d->new_runs[i].trigger, "retry") == 0)
			CheckRetry(t, &d->new_runs[i]);
	}
	W.n_deferred = 0;
	for (int i = 0; i < total; i++)
	{
		SchedNewRun *nr = &pending[i];
		SimTask    *t = TaskGet(nr->task_id);
		bool		queued = strcmp(nr->status, "queued") == 0;
		bool		slotted = strcmp(nr->trigger, "schedule") == 0 ||
			strcmp(nr->trigger, "catchup") == 0;
		SimRow	   *r;

		/* FOR KEY SHARE SKIP LOCKED: a row another transaction holds waits */
		if (t != NULL && t->locked_until > W.now)
		{
			if (W.n_deferred == W.cap_deferred)
			{
				W.cap_deferred = W.cap_deferred ? W.cap_deferred * 2 : 64;
				W.deferred = realloc(W.deferred, sizeof(SchedNewRun) * W.cap_deferred);
			}
			W.deferred[W.n_deferred++] = *nr;
			W.f_deferred++;
			continue;
		}
		if (queued)
			SchedStateNewRunSettled(W.state, nr->task_id);
		if (t == NULL)
			continue;			/* the task is gone: the foreign key */
		if (slotted && SlotTaken(t, nr->scheduled_for))
		{
			/*
			 * ON CONFLICT DO NOTHING keeps the row, but a slot decided twice
			 * runs twice once the first row is gone (deleted, record_runs).
			 */
			W.conflicts++;
			Violation("task %lld: slot %lld decided twice", (long long) t->id,
					  (long long) nr->scheduled_for);
			continue;
		}
		if (getenv("SIM_TRACE") && atoll(getenv("SIM_TRACE")) == t->id)
			fprintf(stderr, "trace %lld now %lld: row %s %s slot %lld (last_slot %lld, next_run_at %lld, last_run_at %lld)\n",
					(long long) t->id, (long long) W.now, nr->trigger, nr->status,
					(long long) nr->scheduled_for, (long long) t->last_slot,
					(long long) t->next_run_at, (long long) t->last_run_at);
		CheckNewRun(t, nr);
		ChainsCheckNewRun(t, nr);
		if (W.grid && slotted)
			GridCheckRow(t, nr);
		if (slotted)
		{
			t->recent[t->n_recent++ % N_RECENT] = nr->scheduled_for;
			t->last_slot = Max(t->last_slot, nr->scheduled_for);
			t->last_slot_at = W.now;
		}
		r = RowInsert(t, nr->trigger, nr->scheduled_for,
					  queued ? RS_QUEUED : strcmp(nr->status, "skipped") == 0 ?
					  RS_SKIPPED : RS_FAILED, nr->attempt);
		W.skipped += r->status == RS_SKIPPED;
		W.catchups += strcmp(nr->trigger, "catchup") == 0;
		W.retries += strcmp(nr->trigger, "retry") == 0;
		if (queued)
			SchedStateRunInserted(W.state, r->id, r->task_id, r->attempt,
								  r->scheduled_for != DT_NOBEGIN ? r->scheduled_for : r->queued_at,
								  r->trigger, W.now);
	}
	for (int i = 0; i < total; i++)
	{
		bool		kept = false;

		for (int k = 0; k < W.n_deferred && !kept; k++)
			kept = W.deferred[k].message == pending[i].message && pending[i].message != NULL;
		if (!kept)
			free(pending[i].message);
	}
	free(pending);
	for (int i = 0; i < d->n_dirty; i++)
	{
		SchedDirty *w = &d->dirty[i];
		SimTask    *t = TaskGet(w->id);

		if (t != NULL && t->locked_until > W.now)
		{
			dirty_again[n_dirty_again++] = w->id;	/* NO KEY UPDATE SKIP LOCKED */
			continue;
		}
		/* Left alone when its schedule, time zone or enabled flag changed since. */
		if (t == NULL || strcmp(t->schedule, w->schedule_text) != 0 ||
			strcmp(t->tz, w->tz_name) != 0 || t->enabled != w->enabled)
			continue;
		t->next_run_at = w->next == DT_NOEND ? DT_NOBEGIN : w->next;
		if (getenv("SIM_TRACE") && atoll(getenv("SIM_TRACE")) == t->id)
			fprintf(stderr, "trace %lld now %lld: next_run_at %lld last %lld\n", (long long) t->id,
					(long long) W.now, (long long) t->next_run_at, (long long) w->last);
		if (w->last != DT_NOBEGIN)
			t->last_run_at = w->last;
		if (w->anchor != DT_NOBEGIN)
			t->schedule_anchor = w->anchor;
	}
	SchedStateClearDecisions(W.state);
	for (int i = 0; i < n_dirty_again; i++)
		SchedStateMarkDirty(W.state, dirty_again[i]);
	free(dirty_again);
}

/* ---------- the pool ---------- */

static int
PoolCollect(int64 *ids, SchedOutcome *outcomes)
{
	int			n = 0;

	for (int i = 0; i < W.n_workers; i++)
	{
		SimWorker  *w = &W.workers[i];

		if (!w->used)
			continue;
		if (w->has_done)
		{
			ids[n] = w->run_id;
			outcomes[n++] = w->done;
			w->used = false;
		}
		else if (w->dead)
		{
			ids[n] = w->run_id;
			outcomes[n++] = w->killed ? SO_TIMEOUT_KILLED : SO_DIED;
			w->used = false;
		}
	}
	return n;
}

static Behavior
RandomBehavior(int timeout_ms)
{
	int			r = RndI(1000);

	if (W.grid)
		return B_SUCCEED;		/* the grid's runs start at their slots, nothing else */
	if (r < 60)
		return B_FAIL;
	if (r < 75)
		return B_DIE;
	if (r < 85)
		return B_DIE_AFTER_COMMIT;
	if (r < 100 && timeout_ms > 0)
		return B_HANG;
	if (r < 120 && timeout_ms > 0)
		return B_OWN_TIMEOUT;
	return B_SUCCEED;
}

static int
PoolDispatch(SchedCandidate *c, int n, int64 *placed, bool *waiting)
{
	int			k = 0;

	*waiting = false;
	for (int i = 0; i < n; i++)
	{
		SimWorker  *w = NULL;

		for (int j = 0; j < W.n_workers && w == NULL; j++)
			if (!W.workers[j].used)
				w = &W.workers[j];
		if (w == NULL)
		{
			*waiting = true;
			break;
		}
		memset(w, 0, sizeof(*w));
		w->used = true;
		w->run_id = c[i].run_id;
		w->start_at = W.now + (1 + RndI(50)) * MS;
		w->end_at = DT_NOEND;
		w->b = RandomBehavior(c[i].timeout_ms);
		w->timeout_ms = c[i].timeout_ms;
		placed[k++] = c[i].run_id;
	}
	return k;
}

static TimestampTz
PoolEnforceTimeouts(void)
{
	TimestampTz next = DT_NOEND;

	for (int i = 0; i < W.n_workers; i++)
	{
		SimWorker  *w = &W.workers[i];
		TimestampTz deadline;

		if (!w->used || w->dead || w->has_done || w->started == 0)
			continue;
		if (w->timeout_ms <= 0)
			continue;
		deadline = w->started + w->timeout_ms * MS + W.grace_us;
		if (deadline <= W.now)
		{
			/* SIGTERM; its exit wakes the scheduler (bgw_notify_pid) */
			w->dead = w->killed = true;
			W.latch = true;
			W.f_killed++;
		}
		else
			next = Min(next, deadline);
	}
	return next;
}

/* ---------- the loop: scheduler.c's SchedulerLoop, one iteration ---------- */

void
Iterate(void)
{
	bool		catalog_changed = W.catalog_changed || W.first;
	bool		runs_queued = W.runs_queued || W.first;
	int64		ids[MAX_WORKERS * 2];
	SchedOutcome outcomes[MAX_WORKERS * 2];
	SchedCandidate *cands;
	int64		placed[MAX_WORKERS];
	bool		waiting;
	int			n;

	W.catalog_changed = W.runs_queued = false;
	W.iterations++;
	if (W.first)
	{
		int64		live[MAX_WORKERS];
		int			nlive = 0;

		for (int i = 0; i < W.n_workers; i++)
			if (W.workers[i].used && !W.workers[i].dead && !W.workers[i].has_done)
				live[nlive++] = W.workers[i].run_id;
			else
				W.workers[i].used = false;	/* a previous process's leftovers */
		StoreCloseInterrupted(live, nlive, W.reboot_pending);
		FeedTasks(true);
		for (int i = 0; i < nlive; i++)
		{
			SimRow	   *r = SchedMapGet(&W.rows, live[i]);

			if (r != NULL)
				SchedStateAdoptRun(W.state, r->id, r->task_id, r->attempt, W.now);
		}
	}
	else if (catalog_changed)
		FeedTasks(false);
	if (runs_queued)
		FeedQueuedRuns();
	if (W.first)
		W.reboot_pending = false;
	W.first = false;

	n = PoolCollect(ids, outcomes);
	for (int i = 0; i < n; i++)
	{
		/* scheduler.c's FeedPoolEvents: a dead worker's finished row says how it ended */
		SimRow	   *r = SchedMapGet(&W.rows, ids[i]);

		if ((outcomes[i] == SO_DIED || outcomes[i] == SO_TIMEOUT_KILLED) &&
			r != NULL && r->finished_at != DT_NOBEGIN)
			outcomes[i] = r->status == RS_SUCCEEDED ? SO_SUCCEEDED :
				r->status == RS_CANCELLED ? SO_CANCELLED :
				r->status == RS_TIMED_OUT ? SO_TIMED_OUT : SO_FAILED;
		SchedStateRunEnded(W.state, ids[i], outcomes[i], W.now);
	}
	SchedStateAdvance(W.state, W.now, W.scheduling);
	Flush();
	n = SchedStateCandidates(W.state, &cands, W.now);
	n = PoolDispatch(cands, n, placed, &waiting);
	for (int i = 0; i < n; i++)
		SchedStateDispatched(W.state, placed[i], W.now);
	if (SchedStateHasDecisions(W.state))
		Flush();
	W.f_pool_full += waiting;

	W.wake = SchedStateNextWake(W.state, W.scheduling, W.now);
	W.wake = Min(W.wake, PoolEnforceTimeouts());
	if (waiting || W.n_deferred > 0 || SchedStateHasDecisions(W.state))
		W.wake = Min(W.wake, W.now + 250 * MS);
	/* WaitLatch's timeout is whole milliseconds, rounded up */
	if (W.wake != DT_NOEND && W.wake > W.now)
		W.wake = W.now + ((W.wake - W.now + 999) / 1000) * 1000;
	CheckAfterIteration();
}

