/*-------------------------------------------------------------------------
 * sched_state.c
 *	  The scheduler's state and its one run state machine (sched_state.h).
 *
 * The counts the overlap rule reads: a task's "active" runs are its READY
 * and DISPATCHED ones and its "running" runs the DISPATCHED ones, both kept
 * by RunMove alone; "unwritten" are the queued runs decided but not yet
 * written, which count against the overlap rule like written ones.  Those
 * have no run id yet, so they are not in the run machine: SchedStDecideNewRun
 * counts them and SchedStateNewRunSettled uncounts them once the flush has
 * written or dropped their row.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "sched_state_int.h"

/* ---------- memory: every byte counted, so the simulation can bound it ---------- */

void *
SchedStAlloc(SchedState *st, size_t size)
{
	AllocHeader *h = st->host->alloc(sizeof(AllocHeader) + size);

	h->size = size;
	st->bytes += size;
	return h + 1;
}

void
SchedStFree(SchedState *st, void *p)
{
	AllocHeader *h;

	if (p == NULL)
		return;
	h = ((AllocHeader *) p) - 1;
	st->bytes -= h->size;
	st->host->free(h);
}

char *
SchedStStrdup(SchedState *st, const char *s)
{
	size_t		n;
	char	   *c;

	if (s == NULL)
		return NULL;
	n = strlen(s) + 1;
	c = SchedStAlloc(st, n);
	memcpy(c, s, n);
	return c;
}

void *
SchedStMapAlloc(void *arg, size_t size)
{
	return SchedStAlloc(arg, size);
}

void
SchedStMapFree(void *arg, void *p)
{
	SchedStFree(arg, p);
}

/* Grow an array of elements of size elem to hold at least n + 1. */
void
SchedStReserve(SchedState *st, void **arr, int *cap, int n, size_t elem)
{
	void	   *grown;
	int			newcap;

	if (n < *cap)
		return;
	newcap = *cap ? *cap * 2 : 64;
	grown = SchedStAlloc(st, elem * newcap);
	if (*arr)
	{
		memcpy(grown, *arr, elem * n);
		SchedStFree(st, *arr);
	}
	*arr = grown;
	*cap = newcap;
}

static void
Fail(SchedState *st, const char *fmt,...) pg_attribute_printf(2, 3);

static void
Fail(SchedState *st, const char *fmt,...)
{
	char		buf[256];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	st->host->fail(buf);
}

/* ---------- the due heap ---------- */

static inline bool
HeapLess(SchedState *st, int a, int b)
{
	return st->heap[a]->next_run < st->heap[b]->next_run;
}

static void
HeapSwap(SchedState *st, int a, int b)
{
	STask	   *t = st->heap[a];

	st->heap[a] = st->heap[b];
	st->heap[b] = t;
	st->heap[a]->heap_pos = a;
	st->heap[b]->heap_pos = b;
}

static void
HeapUp(SchedState *st, int i)
{
	while (i > 0 && HeapLess(st, i, (i - 1) / 2))
	{
		HeapSwap(st, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void
HeapDown(SchedState *st, int i)
{
	for (;;)
	{
		int			l = 2 * i + 1,
					r = l + 1,
					m = i;

		if (l < st->heap_size && HeapLess(st, l, m))
			m = l;
		if (r < st->heap_size && HeapLess(st, r, m))
			m = r;
		if (m == i)
			break;
		HeapSwap(st, i, m);
		i = m;
	}
}

void
SchedStHeapRemove(SchedState *st, STask *t)
{
	int			i = t->heap_pos;

	if (i < 0)
		return;
	t->heap_pos = -1;
	st->heap_size--;
	if (i == st->heap_size)
		return;
	st->heap[i] = st->heap[st->heap_size];
	st->heap[i]->heap_pos = i;
	HeapUp(st, i);
	HeapDown(st, st->heap[i]->heap_pos);
}

/* Put a task in the heap at its next_run, or take it out when it has none. */
void
SchedStHeapUpdate(SchedState *st, STask *t)
{
	if (!t->enabled || t->next_run == DT_NOEND)
	{
		SchedStHeapRemove(st, t);
		return;
	}
	if (t->heap_pos < 0)
	{
		SchedStReserve(st, (void **) &st->heap, &st->heap_cap, st->heap_size, sizeof(STask *));
		st->heap[st->heap_size] = t;
		t->heap_pos = st->heap_size++;
	}
	HeapUp(st, t->heap_pos);
	HeapDown(st, t->heap_pos);
}

/* ---------- decisions ---------- */

void
SchedStMarkDirty(SchedState *st, STask *t)
{
	if (t->dirty)
		return;
	t->dirty = true;
	SchedStReserve(st, (void **) &st->dirty_ids, &st->cap_dirty_ids, st->n_dirty_ids, sizeof(int64));
	st->dirty_ids[st->n_dirty_ids++] = t->id;
}

void
SchedStDecideNewRun(SchedState *st, STask *t, const char *trigger, TimestampTz slot,
			 const char *status, int attempt, const char *message)
{
	SchedDecisions *d = &st->dec;
	SchedNewRun *nr;

	SchedStReserve(st, (void **) &d->new_runs, &d->cap_new_runs, d->n_new_runs, sizeof(SchedNewRun));
	nr = &d->new_runs[d->n_new_runs++];
	nr->task_id = t->id;
	nr->trigger = trigger;
	nr->scheduled_for = slot;
	nr->status = status;
	nr->attempt = attempt;
	nr->message = SchedStStrdup(st, message);
	if (strcmp(status, "queued") == 0)
		t->unwritten++;
}

static void
DecideClose(SchedState *st, int64 run_id, const char *status, const char *message)
{
	SchedDecisions *d = &st->dec;
	SchedClose *c;

	SchedStReserve(st, (void **) &d->closes, &d->cap_closes, d->n_closes, sizeof(SchedClose));
	c = &d->closes[d->n_closes++];
	c->run_id = run_id;
	c->status = status;
	c->message = SchedStStrdup(st, message);
}

/* ---------- runs: the one transition function ---------- */

static void
ListUnlink(RunList *l, SRun *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		l->head = r->next;
	if (r->next)
		r->next->prev = r->prev;
	else
		l->tail = r->prev;
	r->prev = r->next = NULL;
	l->count--;
}

static void
ListAppend(RunList *l, SRun *r)
{
	r->next = NULL;
	r->prev = l->tail;
	if (l->tail)
		l->tail->next = r;
	else
		l->head = r;
	l->tail = r;
	l->count++;
}

static const char *const RunStateNames[] = {"waiting", "ready", "dispatched", "ended"};

/*
 * Move a run to another state, keeping its list and its task's counts.
 * Allowed: waiting -> ready -> dispatched -> ended, and waiting or ready ->
 * ended (cancelled, its row went away, its task cannot run).
 */
static void
RunMove(SchedState *st, SRun *r, SchedRunState to, TimestampTz now)
{
	static const bool allowed[4][4] = {
		/* to: waiting ready  dispatched ended */
		{false, true, false, true}, /* from waiting */
		{false, false, true, true}, /* from ready */
		{false, false, false, true},	/* from dispatched */
		{false, false, false, false},	/* from ended */
	};
	SchedRunState from = r->state;
	STask	   *t = SchedMapGet(&st->tasks, r->task_id);

	if (!allowed[from][to])
	{
		Assert(false);
		Fail(st, "uso_tasks scheduler: run %lld cannot go from %s to %s",
			 (long long) r->run_id, RunStateNames[from], RunStateNames[to]);
		return;
	}
	ListUnlink(&st->lists[from], r);
	if (to != SR_ENDED)
		ListAppend(&st->lists[to], r);
	r->state = to;
	if (t == NULL)
		return;
	if (from == SR_WAITING && to == SR_READY)
	{
		t->active++;
		t->active_run = r->run_id;
	}
	else if (to == SR_DISPATCHED)
	{
		t->running++;
		r->deadline = t->timeout_ms > 0 ?
			now + (int64) t->timeout_ms * 1000 + st->grace_us : DT_NOEND;
	}
	else if (to == SR_ENDED)
	{
		if (from != SR_WAITING)
			t->active--;
		if (from == SR_DISPATCHED)
			t->running--;
		if (t->active < 0 || t->running < 0)
			Fail(st, "uso_tasks scheduler: task %lld counts below zero", (long long) t->id);
	}
}

/* A new run enters the machine as waiting; callers move it on. */
static SRun *
RunCreate(SchedState *st, int64 run_id, int64 task_id, int attempt, TimestampTz due)
{
	SRun	   *r = SchedStAlloc(st, sizeof(SRun));

	memset(r, 0, sizeof(SRun));
	r->run_id = run_id;
	r->task_id = task_id;
	r->attempt = attempt;
	r->due = due;
	r->deadline = DT_NOEND;
	r->state = SR_WAITING;
	ListAppend(&st->lists[SR_WAITING], r);
	SchedMapPut(&st->runs, run_id, r);
	return r;
}

static void
RunFree(SchedState *st, SRun *r)
{
	Assert(r->state == SR_ENDED);
	SchedMapDelete(&st->runs, r->run_id);
	SchedStFree(st, r);
}

bool
SchedStIsInterval(const STask *t)
{
	return t->schedule_ok && t->schedule.kind == USO_SCHED_INTERVAL;
}

/*
 * An interval task's next slot: the first of its grid (anchor + k *
 * interval, docs/schedule.md) after now.  The same function as the preview
 * (uso_next_runs), from the same anchor, so what the admin page shows is
 * what happens: month steps keep the anchor's day of month (01-31 -> 02-28
 * -> 03-31), and a late, paused or restarted scheduler skips to the next
 * slot of the same grid, so tasks late together keep their own phase.
 */
void
SchedStRegrid(SchedState *st, STask *t, TimestampTz now)
{
	t->next_run = UsoScheduleNextFrom(&t->schedule, now, t->anchor, t->tz);
	SchedStHeapUpdate(st, t);
	SchedStMarkDirty(st, t);
}

/*
 * A run became due: it starts as far as last_run_at is concerned.  A manual
 * or one-off run of an interval task starts a new grid at its start (USO's
 * rule: it moves the next run); a retry repeats its slot's run and leaves
 * the grid alone.
 */
static void
RunBecameReady(SchedState *st, SRun *r, TimestampTz now)
{
	STask	   *t = SchedMapGet(&st->tasks, r->task_id);

	RunMove(st, r, SR_READY, now);
	if (t != NULL)
	{
		t->last_start = now;
		SchedStMarkDirty(st, t);
		if (r->new_grid && SchedStIsInterval(t))
		{
			t->anchor = now;
			SchedStRegrid(st, t, now);
		}
	}
}

void
SchedStAddRun(SchedState *st, int64 run_id, int64 task_id, int attempt, TimestampTz due,
	   const char *trigger, TimestampTz now)
{
	SRun	   *r;

	if (SchedMapGet(&st->runs, run_id) != NULL)
		return;
	/* Scheduled runs are due now whatever their slot was. */
	if (strcmp(trigger, "retry") != 0 && strcmp(trigger, "once") != 0)
		due = Min(due, now);
	r = RunCreate(st, run_id, task_id, attempt, due);
	r->seen = true;
	r->new_grid = strcmp(trigger, "manual") == 0 || strcmp(trigger, "once") == 0;
	if (due > now)
		return;
	/* A chain run starts the follower now (last_run_at), as a manual one; only those move a grid. */
	if (r->new_grid || strcmp(trigger, "chain") == 0)
		RunBecameReady(st, r, now);
	else
		RunMove(st, r, SR_READY, now);
}

int64
SchedRetryDelay(int64 retry_delay_us, int attempt, double r)
{
	int64		delay = Max(retry_delay_us, 1000);
	const int64 cap = INT64CONST(3600) * USECS_PER_SEC;

	for (int i = 1; i < attempt && delay < cap; i++)
		delay *= 2;
	delay = Min(delay, cap);
	/* +-20% jitter, so retries of tasks that failed together spread out */
	return (int64) (delay * (0.8 + 0.4 * r));
}

static const char *
EndMessage(SchedOutcome outcome)
{
	switch (outcome)
	{
		case SO_NEVER_CONNECTED:
			return "the executor worker could not connect to the task's database as its "
				"owner (role or database dropped, or connection refused); see the "
				"server log";
		case SO_DIED:
			return "the executor worker running this run exited before it finished "
				"(terminated by pg_terminate_backend or crashed)";
		case SO_TIMEOUT_KILLED:
			return "run exceeded its timeout and did not respond to cancel; "
				"its worker was terminated";
		default:
			return NULL;
	}
}

void
SchedStateRunEnded(SchedState *st, int64 run_id, SchedOutcome outcome, TimestampTz now)
{
	SRun	   *r = SchedMapGet(&st->runs, run_id);
	STask	   *t;
	const char *msg = EndMessage(outcome);

	if (r == NULL)
		return;
	t = SchedMapGet(&st->tasks, r->task_id);
	/* The worker could not record the end itself: we do. */
	if (msg != NULL)
		DecideClose(st, run_id, outcome == SO_TIMEOUT_KILLED ? "timed_out" : "failed", msg);
	RunMove(st, r, SR_ENDED, now);
	if (t != NULL && outcome != SO_SUCCEEDED && outcome != SO_CANCELLED)
	{
		if (r->attempt <= t->max_retries)
			SchedStDecideNewRun(st, t, "retry",
						 now + SchedRetryDelay(t->retry_delay_us, r->attempt,
											   st->host->random()),
						 "queued", r->attempt + 1, NULL);
		else if (t->enabled && t->next_run != DT_NOEND &&
				 t->next_run > now + t->retry_after_us)
		{
			/* Out of retries: the next slot comes forward to retry_after. */
			t->next_run = now + t->retry_after_us;
			SchedStMarkDirty(st, t);
			SchedStHeapUpdate(st, t);
		}
	}
	RunFree(st, r);
}

void
SchedStateDispatched(SchedState *st, int64 run_id, TimestampTz now)
{
	SRun	   *r = SchedMapGet(&st->runs, run_id);
	STask	   *t;

	if (r == NULL)
	{
		Fail(st, "uso_tasks scheduler: dispatched run %lld is unknown", (long long) run_id);
		return;
	}
	RunMove(st, r, SR_DISPATCHED, now);
	t = SchedMapGet(&st->tasks, r->task_id);
	if (t != NULL && t->dboid != st->local_dboid)
	{
		SchedDecisions *d = &st->dec;

		SchedStReserve(st, (void **) &d->remote_starts, &d->cap_remote_starts, d->n_remote_starts,
				sizeof(int64));
		d->remote_starts[d->n_remote_starts++] = run_id;
	}
}

void
SchedStateAdoptRun(SchedState *st, int64 run_id, int64 task_id, int attempt,
				   TimestampTz now)
{
	SRun	   *r;

	if (SchedMapGet(&st->runs, run_id) != NULL)
		return;
	/* its attempt counts: a failure retries only what is left of max_retries */
	r = RunCreate(st, run_id, task_id, attempt, now);
	RunMove(st, r, SR_READY, now);
	RunMove(st, r, SR_DISPATCHED, now);
}

/* ---------- time ---------- */

/* Queue (or skip) every task whose next fire time has come. */
static void
ProcessDue(SchedState *st, TimestampTz now)
{
	while (st->heap_size > 0 && st->heap[0]->next_run <= now)
	{
		STask	   *t = st->heap[0];
		TimestampTz slot = t->next_run;
		int			busy = t->active + t->unwritten;
		bool		queued = false;

		if (t->problem != NULL)
			SchedStDecideNewRun(st, t, "schedule", slot, "failed", 1, t->problem);
		else if (busy > 0 && (t->overlap == OVERLAP_SKIP ||
							  (t->overlap == OVERLAP_QUEUE && busy > 1)))
		{
			char		msg[96];

			snprintf(msg, sizeof(msg), "skipped: run %lld of this task is still in progress",
					 (long long) t->active_run);
			SchedStDecideNewRun(st, t, "schedule", slot, "skipped", 1, msg);
		}
		else
		{
			SchedStDecideNewRun(st, t, "schedule", slot, "queued", 1, NULL);
			t->last_start = now;
			queued = true;
		}

		if (SchedStIsInterval(t))
		{
			/* The first run's slot begins the grid; later slots are on it. */
			if (t->anchor == DT_NOBEGIN)
				t->anchor = slot;
			if (queued)
				t->last_start = slot;
			SchedStRegrid(st, t, now);
		}
		else
		{
			TimestampTz next = UsoScheduleNext(&t->schedule, slot, t->last_start, t->tz);

			if (next <= now)	/* we are late: skip the slots already gone */
				next = UsoScheduleNext(&t->schedule, now, t->last_start, t->tz);
			t->next_run = next;
			SchedStHeapUpdate(st, t);
		}
		SchedStMarkDirty(st, t);
	}
}

void
SchedStateAdvance(SchedState *st, TimestampTz now, bool scheduling)
{
	SRun	   *r;

	if (scheduling)
		ProcessDue(st, now);
	/* Timed runs (uso_run_at, retries) whose time has come. */
	r = st->lists[SR_WAITING].head;
	while (r != NULL)
	{
		SRun	   *next = r->next;

		if (r->due <= now)
			RunBecameReady(st, r, now);
		r = next;
	}
	/*
	 * The timeout backstop's wake-up passed: the pool now knows when the
	 * worker really started and keeps the exact deadline; ours is re-armed
	 * in case the worker had not even started yet.
	 */
	for (r = st->lists[SR_DISPATCHED].head; r != NULL; r = r->next)
	{
		STask	   *t = SchedMapGet(&st->tasks, r->task_id);

		if (r->deadline <= now)
			r->deadline = (t != NULL && t->timeout_ms > 0) ?
				now + (int64) t->timeout_ms * 1000 + st->grace_us : DT_NOEND;
	}
}

TimestampTz
SchedStateNextWake(SchedState *st, bool scheduling, TimestampTz now)
{
	TimestampTz wake = DT_NOEND;
	SRun	   *r;

	if (scheduling && st->heap_size > 0)
		wake = st->heap[0]->next_run;
	for (r = st->lists[SR_WAITING].head; r != NULL; r = r->next)
		wake = Min(wake, r->due);
	for (r = st->lists[SR_DISPATCHED].head; r != NULL; r = r->next)
		wake = Min(wake, r->deadline);
	return wake;
}

/* ---------- dispatch ---------- */

int
SchedStateCandidates(SchedState *st, SchedCandidate **out, TimestampTz now)
{
	int			n = 0;
	SRun	   *r = st->lists[SR_READY].head;

	st->cand_pass++;
	while (r != NULL)
	{
		SRun	   *next = r->next;
		STask	   *t = SchedMapGet(&st->tasks, r->task_id);

		if (t == NULL)
			SchedStateRunEnded(st, r->run_id, SO_CANCELLED, now);
		else if (t->problem != NULL)
		{
			DecideClose(st, r->run_id, "failed", t->problem);
			SchedStateRunEnded(st, r->run_id, SO_CANCELLED, now);
		}
		else if (t->overlap != OVERLAP_PARALLEL &&
				 (t->running > 0 || t->cand_mark == st->cand_pass))
			;					/* waits for the task's running run (skip/queue) */
		else
		{
			SchedCandidate *c;

			SchedStReserve(st, (void **) &st->cands, &st->cands_cap, n, sizeof(SchedCandidate));
			c = &st->cands[n++];
			c->run_id = r->run_id;
			c->task_id = t->id;
			c->dboid = t->dboid;
			c->roleid = t->roleid;
			c->name = t->name;
			c->command = t->command;
			c->config = t->config;
			c->timeout_ms = t->timeout_ms;
			t->cand_mark = st->cand_pass;
		}
		r = next;
	}
	*out = st->cands;
	return n;
}

/* ---------- decisions ---------- */

SchedDecisions *
SchedStateTakeDecisions(SchedState *st)
{
	SchedDecisions *d = &st->dec;

	d->n_dirty = 0;
	for (int i = 0; i < st->n_dirty_ids; i++)
	{
		STask	   *t = SchedMapGet(&st->tasks, st->dirty_ids[i]);
		SchedDirty *w;

		if (t == NULL || !t->dirty)
			continue;
		t->dirty = false;
		SchedStReserve(st, (void **) &d->dirty, &d->cap_dirty, d->n_dirty, sizeof(SchedDirty));
		w = &d->dirty[d->n_dirty++];
		w->id = t->id;
		w->next = t->enabled ? t->next_run : DT_NOEND;
		w->last = t->last_start;
		w->anchor = SchedStIsInterval(t) ? t->anchor : DT_NOBEGIN;
		w->schedule_text = t->schedule_text;
		w->tz_name = t->tz_name;
		w->enabled = t->enabled;
	}
	st->n_dirty_ids = 0;
	return d;
}

bool
SchedStateHasDecisions(SchedState *st)
{
	return st->dec.n_new_runs > 0 || st->dec.n_closes > 0 || st->n_dirty_ids > 0 ||
		st->dec.n_dirty > 0 || st->dec.n_remote_starts > 0;
}

void
SchedStateClearDecisions(SchedState *st)
{
	SchedDecisions *d = &st->dec;

	for (int i = 0; i < d->n_new_runs; i++)
		SchedStFree(st, d->new_runs[i].message);
	for (int i = 0; i < d->n_closes; i++)
		SchedStFree(st, d->closes[i].message);
	d->n_new_runs = d->n_closes = d->n_dirty = d->n_remote_starts = 0;
}

