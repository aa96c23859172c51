/*-------------------------------------------------------------------------
 * sim_check.c
 *	  The simulation's invariants, checked against the catalog (the ground
 *	  truth) and the workers after every scheduler loop iteration, and on
 *	  every row the scheduler writes:
 *	  - no (task, slot) is decided twice, and none is lost (cron and
 *	    time-of-day kinds) except while the scheduler was down or the clock
 *	    jumped, or because the task was edited;
 *	  - a retry follows a failure (not a success), at its retry_delay
 *	    (doubling, capped, within its jitter) after it;
 *	  - no run lives past its timeout + grace, and the scheduler wakes by then;
 *	  - the next wake-up is never later than a task's next slot, a timed run
 *	    or a timeout;
 *	  - every queued row is known to the scheduler, every running row has
 *	    its worker, every run the scheduler holds has its row or its worker,
 *	    and no run is closed while its worker still runs it;
 *	  - the state's memory follows what it holds, and all of it comes back
 *	    when it is destroyed (sim.c).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdio.h>

#include "sim_world.h"

void
Excuse(TimestampTz from, TimestampTz until)
{
	int			i = W.n_excuses++ % lengthof(W.excuses);

	W.excuses[i][0] = from - SEC;
	W.excuses[i][1] = until;
}

bool
Excused(TimestampTz t)
{
	for (int i = 0; i < Min(W.n_excuses, (int) lengthof(W.excuses)); i++)
		if (t >= W.excuses[i][0] && t <= W.excuses[i][1])
			return true;
	return false;
}

/* A retry, when it is decided (its write may wait for a row lock). */
void
CheckRetry(SimTask *t, const SchedNewRun *nr)
{
	{
		int64		d = Max(t->retry_delay_us, 1000);
		TimestampTz lo,
					hi;

		for (int i = 2; i < nr->attempt && d < 3600 * SEC; i++)
			d *= 2;
		d = Min(d, 3600 * SEC);
		lo = t->last_end_at + (int64) (0.8 * d) - MS;
		hi = t->last_end_at + (int64) (1.2 * d) + MS;
		if (t->last_end != RS_FAILED && t->last_end != RS_TIMED_OUT)
			Violation("task %lld: a retry (attempt %d) was queued after a run that %s",
					  (long long) t->id, nr->attempt,
					  t->last_end == RS_SUCCEEDED ? "succeeded" : "did not fail");
		else if (nr->attempt != t->last_end_attempt + 1)
			Violation("task %lld: retry attempt %d after attempt %d failed",
					  (long long) t->id, nr->attempt, t->last_end_attempt);
		else if (nr->scheduled_for < lo || nr->scheduled_for > hi)
			Violation("task %lld: retry %d due %.3f s after the failure, retry_delay %.3f s",
					  (long long) t->id, nr->attempt,
					  (double) (nr->scheduled_for - t->last_end_at) / SEC,
					  (double) t->retry_delay_us / SEC);
	}
}

/* A scheduled or catchup row, when it is written. */
void
CheckNewRun(SimTask *t, const SchedNewRun *nr)
{
	if (strcmp(nr->trigger, "schedule") != 0 && strcmp(nr->trigger, "catchup") != 0)
		return;
	if (strcmp(nr->trigger, "schedule") == 0 && nr->scheduled_for > W.now)
		Violation("task %lld: slot %lld decided before it came", (long long) t->id,
				  (long long) nr->scheduled_for);
	if (t->last_slot != DT_NOBEGIN && t->changed_at < t->last_slot &&
		(t->parsed.kind == USO_SCHED_CRON || t->parsed.kind == USO_SCHED_TIME_OF_DAY))
	{
		TimestampTz e = UsoScheduleNext(&t->parsed, t->last_slot, DT_NOBEGIN, t->tzp);

		/*
		 * A slot already gone when the scheduler handled the one before (it
		 * was late, e.g. that one was retry_after's, just before a cron slot)
		 * is skipped by design: the README's "skip the slots already gone".
		 */
		if (e < nr->scheduled_for && !Excused(e) && e > t->last_slot_at)
			Violation("task %lld (%s): slot at +%.0f s lost: the next row is for +%.0f s",
					  (long long) t->id, t->schedule,
					  (double) (e - t->last_slot) / SEC,
					  (double) (nr->scheduled_for - t->last_slot) / SEC);
	}
}

void
CheckClose(SimRow *r)
{
	SimWorker  *w = WorkerOf(r->id);

	if (w != NULL && !w->has_done && w->started != 0)
		Violation("run %lld closed while its worker still runs it", (long long) r->id);
}

typedef struct WakeCheck
{
	TimestampTz wake;
	int64		bad_task;
	TimestampTz bad_at;
} WakeCheck;

static void
CheckTaskWake(const SchedTaskView *v, void *arg)
{
	WakeCheck  *c = arg;

	/* WaitLatch sleeps whole milliseconds: the wake-up may round up by less than one */
	if (W.scheduling && v->enabled && v->next_run != DT_NOEND && v->next_run < c->wake - MS &&
		c->bad_task == 0)
	{
		c->bad_task = v->id;
		c->bad_at = v->next_run;
	}
}

static void
CheckRunKnown(const SchedRunView *v, void *arg)
{
	SimRow	   *r = SchedMapGet(&W.open, v->run_id);
	SimTask    *t = TaskGet(v->task_id);
	bool		has_worker = false;

	for (int i = 0; i < W.n_workers; i++)
		has_worker |= W.workers[i].used && W.workers[i].run_id == v->run_id;
	if (t == NULL)
		return;					/* its task and rows are gone; it ends on its own */
	if (v->state == SR_DISPATCHED && !has_worker)
		Violation("run %lld is dispatched in the state but no worker has it",
				  (long long) v->run_id);
	if (v->state != SR_DISPATCHED && (r == NULL || r->status != RS_QUEUED))
		Violation("run %lld waits in the state but its row is %s", (long long) v->run_id,
				  r == NULL ? "closed" : "running");
}

void
CheckAfterIteration(void)
{
	uint32		pos = 0;
	void	   *v;
	size_t		bytes = SchedStateBytes(W.state);
	int			ntasks = SchedStateTaskCount(W.state);
	int			nruns = SchedStateRunCount(W.state);
	WakeCheck	wc = {W.wake, 0, 0};

	/* memory: what the state holds, and capacity for a burst, no more */
	if (bytes > (size_t) (4 << 20) + (size_t) ntasks * 1024 + (size_t) nruns * 512)
		Violation("the state holds %zu bytes for %d tasks and %d runs", bytes, ntasks, nruns);

	/* the catalog's open rows */
	while (SchedMapNext(&W.open, &pos, &v))
	{
		SimRow	   *r = v;
		SchedRunView rv;

		if (r->status == RS_QUEUED)
		{
			TimestampTz due = r->scheduled_for != DT_NOBEGIN ? r->scheduled_for : r->queued_at;

			/*
			 * A row queued by this iteration's own writes (a follower's run,
			 * queued as the scheduler closed its predecessor's) is read by
			 * the next one, which the wake at commit asks for at once.
			 */
			if (!SchedStateGetRun(W.state, r->id, &rv))
			{
				if (!(W.runs_queued && W.latch && r->queued_at == W.now))
					Violation("queued run %lld (%s) of task %lld is unknown to the scheduler",
							  (long long) r->id, r->trigger, (long long) r->task_id);
			}
			else if (rv.state == SR_WAITING && due > W.now && W.wake > due + MS)
				Violation("run %lld (%s) is due at +%.3f s but the scheduler sleeps until +%.3f s",
						  (long long) r->id, r->trigger, (double) (due - W.now) / SEC,
						  (double) (W.wake - W.now) / SEC);
			else if (rv.state == SR_WAITING && due <= W.now)
				Violation("run %lld is due but still waiting", (long long) r->id);
		}
		else
		{
			bool		has_worker = false;

			for (int i = 0; i < W.n_workers; i++)
				has_worker |= W.workers[i].used && W.workers[i].run_id == r->id;
			if (!has_worker)
				Violation("run %lld is running but no worker has it", (long long) r->id);
		}
	}

	/* workers past their timeout */
	for (int i = 0; i < W.n_workers; i++)
	{
		SimWorker  *w = &W.workers[i];
		TimestampTz deadline;

		if (!w->used || w->dead || w->has_done || w->timeout_ms <= 0)
			continue;
		/* not started yet: the scheduler cannot know when it will, but must wake by then */
		deadline = (w->started ? w->started : w->start_at) + w->timeout_ms * MS + W.grace_us;
		if (deadline <= W.now)
			Violation("run %lld lives past its timeout + grace (started %.3f s ago, timeout %d ms, %s)",
					  (long long) w->run_id, (double) (W.now - (w->started ? w->started : w->start_at)) / SEC,
					  w->timeout_ms, w->started ? "running" : "not started");
		else if (W.wake > deadline + MS)
			Violation("run %lld's timeout backstop falls at +%.3f s but the scheduler "
					  "sleeps until +%.3f s", (long long) w->run_id,
					  (double) (deadline - W.now) / SEC, (double) (W.wake - W.now) / SEC);
	}

	CheckDeferred();

	/* the state's runs and its tasks' next slots */
	SchedStateForEachRun(W.state, CheckRunKnown, NULL);
	SchedStateForEachTask(W.state, CheckTaskWake, &wc);
	if (wc.bad_task != 0)
		Violation("task %lld is due at +%.3f s but the scheduler sleeps until +%.3f s",
				  (long long) wc.bad_task, (double) (wc.bad_at - W.now) / SEC,
				  (double) (W.wake - W.now) / SEC);
}

/* A new run deferred by a row lock is written soon after the lock goes. */
void
CheckDeferred(void)
{
	for (int i = 0; i < W.n_deferred; i++)
	{
		SimTask    *t = TaskGet(W.deferred[i].task_id);

		if (t != NULL && t->locked_until + SEC < W.now)
			Violation("task %lld: a %s run deferred by a row lock is still not written "
					  "%.3f s after the lock went", (long long) t->id, W.deferred[i].trigger,
					  (double) (W.now - t->locked_until) / SEC);
	}
}
