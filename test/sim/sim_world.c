/*-------------------------------------------------------------------------
 * sim_world.c
 *	  The simulation's catalog (what sched_store.c and sched_flush.c do in
 *	  SQL, here on in-memory rows), its pool of workers (what sched_pool.c
 *	  and the executor do), the scheduler loop (what scheduler.c's loop
 *	  does, in the same order) and the world's events and faults.
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
		r->finished_at = W.now;
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
static void
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

	SchedStateBeginLoad(W.state);
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
		row.overlap = t->overlap;
		row.misfire_skip = t->misfire_skip;
		row.dboid = 1;
		row.roleid = 10;
		row.timeout_ms = t->timeout_ms;
		row.max_retries = t->max_retries;
		row.retry_delay_us = t->retry_delay_us;
		row.retry_after_us = t->retry_after_us;
		SchedStateTaskRow(W.state, &row, first, reboot, true, W.now);
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
			W.conflicts++;		/* ON CONFLICT DO NOTHING */
			continue;
		}
		if (getenv("SIM_TRACE") && atoll(getenv("SIM_TRACE")) == t->id)
			fprintf(stderr, "trace %lld now %lld: row %s %s slot %lld (last_slot %lld, next_run_at %lld, last_run_at %lld)\n",
					(long long) t->id, (long long) W.now, nr->trigger, nr->status,
					(long long) nr->scheduled_for, (long long) t->last_slot,
					(long long) t->next_run_at, (long long) t->last_run_at);
		CheckNewRun(t, nr);
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

static void
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
	SchedStateAdvance(W.state, W.now, true);
	Flush();
	n = SchedStateCandidates(W.state, &cands, W.now);
	n = PoolDispatch(cands, n, placed, &waiting);
	for (int i = 0; i < n; i++)
		SchedStateDispatched(W.state, placed[i], W.now);
	if (SchedStateHasDecisions(W.state))
		Flush();
	W.f_pool_full += waiting;

	W.wake = SchedStateNextWake(W.state, true, W.now);
	W.wake = Min(W.wake, PoolEnforceTimeouts());
	if (waiting || W.n_deferred > 0 || SchedStateHasDecisions(W.state))
		W.wake = Min(W.wake, W.now + 250 * MS);
	/* WaitLatch's timeout is whole milliseconds, rounded up */
	if (W.wake != DT_NOEND && W.wake > W.now)
		W.wake = W.now + ((W.wake - W.now + 999) / 1000) * 1000;
	CheckAfterIteration();
}

/* ---------- workers: the executor's side ---------- */

/* When the next thing happens to worker w. */
static TimestampTz
WorkerNext(SimWorker *w)
{
	if (!w->used || w->dead || w->has_done)
		return DT_NOEND;
	return w->started == 0 ? w->start_at : w->end_at;
}

static void
WorkerEnd(SimWorker *w, SimRow *r, RowStatus status, SchedOutcome outcome)
{
	if (r != NULL && r->finished_at == DT_NOBEGIN)
		RowFinish(r, status);
	else if (r != NULL)
		Violation("run %lld of task %lld ended twice (its worker finished after it was closed)",
				  (long long) r->id, (long long) r->task_id);
	w->has_done = true;
	w->done = outcome;
	W.latch = true;				/* bgw_notify_pid / the done report wakes the scheduler */
}

static void
WorkerStep(SimWorker *w)
{
	SimRow	   *r = SchedMapGet(&W.open, w->run_id);

	if (w->started == 0)
	{
		/* The executor takes the run only while its row is queued. */
		if (r == NULL || r->status != RS_QUEUED)
		{
			w->has_done = true;
			w->done = SO_CANCELLED;
			W.latch = true;
			return;
		}
		w->started = W.now;
		w->timeout_ms = r->timeout_ms;
		r->status = RS_RUNNING;
		r->started_at = W.now;
		W.runs_started++;
		if (w->cancel)
			w->end_at = W.now + 10 * MS;
		else if (w->b == B_HANG)
			w->end_at = DT_NOEND;
		else if (w->b == B_OWN_TIMEOUT)
			w->end_at = W.now + r->timeout_ms * MS;
		else
		{
			int			k = RndI(100);

			/* mostly short runs, a few long ones that hold a worker */
			w->end_at = W.now + (k < 80 ? 5 * MS + (int64) (RndF() * 300 * MS) :
								 k < 98 ? 300 * MS + (int64) (RndF() * 5 * SEC) :
								 5 * SEC + (int64) (RndF() * 55 * SEC));
		}
		/* a run that would outlast its timeout runs into it */
		if (r->timeout_ms > 0 && w->b != B_HANG &&
			w->end_at > W.now + r->timeout_ms * MS)
		{
			w->end_at = W.now + r->timeout_ms * MS;
			w->b = B_OWN_TIMEOUT;
		}
		return;
	}
	if (w->cancel && w->b != B_HANG)
	{
		WorkerEnd(w, r, RS_CANCELLED, SO_CANCELLED);
		return;
	}
	switch (w->b)
	{
		case B_SUCCEED:
			WorkerEnd(w, r, RS_SUCCEEDED, SO_SUCCEEDED);
			break;
		case B_FAIL:
			W.f_failures++;
			WorkerEnd(w, r, RS_FAILED, SO_FAILED);
			break;
		case B_OWN_TIMEOUT:
			W.f_own_timeouts++;
			WorkerEnd(w, r, RS_TIMED_OUT, SO_TIMED_OUT);
			break;
		case B_DIE_AFTER_COMMIT:
			W.f_after_commit++;
			WorkerEnd(w, r, RS_SUCCEEDED, SO_SUCCEEDED);
			w->has_done = false;
			/* FALLTHROUGH */
		case B_DIE:
			W.f_deaths++;
			w->dead = true;
			W.latch = true;
			break;
		case B_HANG:
			break;
	}
}

/* ---------- the world's events ---------- */

static TimestampTz next_event,
			next_restart,
			next_jump,
			next_retention;

static void
CancelRandom(void)
{
	uint32		pos = 0;
	void	   *v;
	int			skip = W.open.count ? RndI((int) W.open.count) : 0;

	while (SchedMapNext(&W.open, &pos, &v))
	{
		SimRow	   *r = v;
		SimWorker  *w;

		if (skip-- > 0)
			continue;
		W.f_cancels++;
		w = WorkerOf(r->id);
		if (r->status == RS_QUEUED)
		{
			/* uso_cancel of a queued run closes it and wakes the scheduler */
			RowFinish(r, RS_CANCELLED);
			W.runs_queued = W.latch = true;
		}
		if (w != NULL)
			w->cancel = true;
		return;
	}
}

static void
EditRandom(void)
{
	SimTask    *t = TaskRandom();

	if (t == NULL)
		return;
	W.f_edits++;
	switch (RndI(5))
	{
		case 0:
			strlcpy(t->schedule, RandomSchedule(), sizeof(t->schedule));
			break;
		case 1:
			t->enabled = !t->enabled;
			break;
		case 2:
			strlcpy(t->tz, TzNames[RndI(3)], sizeof(t->tz));
			break;
		case 3:
			t->overlap = (SchedOverlap) RndI(3);
			if (t->overlap == OVERLAP_PARALLEL)
				t->max_retries = 0;
			break;
		default:
			t->misfire_skip = !t->misfire_skip;
			break;
	}
	t->changed_at = W.now;
	TaskParse(t);
	TaskComputeNext(t);
	W.catalog_changed = W.latch = true;
}

static void
WorldEvent(void)
{
	int			r = RndI(100);
	SimTask    *t = TaskRandom();

	if (r < 30 && t != NULL)
	{
		(void) RowInsert(t, "manual", DT_NOBEGIN, RS_QUEUED, 1);	/* uso_run_now */
		W.runs_queued = W.latch = true;
	}
	else if (r < 40 && t != NULL)
	{
		(void) RowInsert(t, "once", W.now + (1 + RndI(600)) * SEC, RS_QUEUED, 1);	/* uso_run_at */
		W.runs_queued = W.latch = true;
	}
	else if (r < 55)
		CancelRandom();
	else if (r < 75)
		EditRandom();
	else if (r < 85 && t != NULL)
	{
		/* DELETE FROM uso_task: its runs go with it (ON DELETE CASCADE) */
		uint32		pos = 0;
		void	   *v;
		int64		gone[256];
		int			n = 0;

		while (SchedMapNext(&W.open, &pos, &v) && n < lengthof(gone))
			if (((SimRow *) v)->task_id == t->id)
				gone[n++] = ((SimRow *) v)->id;
		for (int i = 0; i < n; i++)
		{
			SchedMapDelete(&W.open, gone[i]);
			free(SchedMapDelete(&W.rows, gone[i]));
		}
		t->deleted = true;
		W.deleted++;
		(void) TaskCreate();
		W.catalog_changed = W.latch = true;
	}
	else if (r < 88 && t != NULL)
	{
		/* open transactions hold task rows (an uso_alter_task not committed yet) */
		for (int k = 0; k < 20; k++)
		{
			SimTask    *l = TaskRandom();

			if (l == NULL)
				continue;
			l->locked_until = W.now + (TimestampTz) (500 + RndI(30000)) * MS;
			W.f_locks++;
		}
	}
	else if (r < 92 && t != NULL)
	{
		t->problem = !t->problem;	/* ALTER ROLE owner NOLOGIN / LOGIN */
		t->problem_changed_at = W.now;
		W.f_problems++;
		W.catalog_changed = W.latch = true;
	}
	else
	{
		(void) TaskCreate();
		W.catalog_changed = W.latch = true;
	}
}

static void
Restart(void)
{
	bool		server = RndI(2) == 0;
	TimestampTz down = (TimestampTz) RndI(300) * SEC;

	W.f_restarts++;
	if (getenv("SIM_TRACE"))
		fprintf(stderr, "trace restart at %lld (server %d) down %lld\n", (long long) W.now, server, (long long) down);
	SchedulerStop();
	if (server)
	{
		/* The whole server: every worker goes, @reboot tasks run again. */
		W.f_server_restarts++;
		for (int i = 0; i < W.n_workers; i++)
			W.workers[i].used = false;
		W.reboot_pending = true;
	}
	W.up_at = W.now + down;
	Excuse(W.now, W.up_at + SEC);
}

static void
Jump(void)
{
	TimestampTz by = (TimestampTz) (60 + RndI(1800)) * SEC;

	W.f_jumps++;
	if (getenv("SIM_TRACE"))
		fprintf(stderr, "trace jump at %lld by %lld\n", (long long) W.now, (long long) by);
	Excuse(W.now, W.now + by + SEC);
	W.now += by;
	W.latch = true;
}

void
SimRun(void)
{
	int			same_time = 0;
	TimestampTz last = 0;

	next_event = W.now + (TimestampTz) RndI(20) * SEC;
	next_restart = W.now + (TimestampTz) (1200 + RndI(5400)) * SEC;
	next_jump = W.now + (TimestampTz) (2400 + RndI(7200)) * SEC;
	next_retention = W.now + 600 * SEC;

	while (W.now < W.end)
	{
		TimestampTz next;
		bool		stepped = false;

		/* What workers do up to now happens first (after a clock jump: all of it). */
		for (int i = 0; i < W.n_workers; i++)
			if (WorkerNext(&W.workers[i]) <= W.now)
			{
				WorkerStep(&W.workers[i]);
				stepped = true;
			}
		if (stepped)
			continue;
		if (W.sched_up && (W.latch || W.now >= W.wake))
		{
			W.latch = false;
			Iterate();
			W.peak_bytes = Max(W.peak_bytes, SchedStateBytes(W.state));
			if (W.fail_restart)
			{
				SchedulerStop();
				SchedulerStart();
			}
			same_time = W.now == last ? same_time + 1 : 0;
			last = W.now;
			if (same_time > 1000)
			{
				Violation("the scheduler loops without sleeping");
				return;
			}
			continue;
		}
		next = Min(W.end, Min(next_event, Min(next_restart, Min(next_jump, next_retention))));
		next = Min(next, W.sched_up ? W.wake : W.up_at);
		for (int i = 0; i < W.n_workers; i++)
			next = Min(next, WorkerNext(&W.workers[i]));
		W.now = Max(W.now, next);
		if (!W.sched_up && W.now >= W.up_at)
			SchedulerStart();
		if (W.now >= next_event)
		{
			WorldEvent();
			next_event = W.now + (TimestampTz) (1 + RndI(40)) * SEC;
		}
		if (W.now >= next_restart)
		{
			Restart();
			next_restart = W.now + (TimestampTz) (1200 + RndI(5400)) * SEC;
		}
		if (W.now >= next_jump)
		{
			Jump();
			next_jump = W.now + (TimestampTz) (2400 + RndI(7200)) * SEC;
		}
		if (W.now >= next_retention)
		{
			Retention();
			next_retention = W.now + 600 * SEC;
		}
	}
}
