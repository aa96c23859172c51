/*-------------------------------------------------------------------------
 * sim_events.c
 *	  The simulation's workers (what the executor does with a run: start it,
 *	  end it, die, hang, time out, be cancelled), the world's events (run
 *	  now, run at, cancels, edits, deletions, row locks, owners losing
 *	  LOGIN), its faults (restarts, clock jumps, pauses) and the main loop.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdio.h>
#include <stdlib.h>

#include "sim_world.h"

/* ---------- workers: the executor's side ---------- */

/* When the next thing happens to worker w. */
TimestampTz
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

void
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
		ChainsRunStarted(r);
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
			next_pause,
			pause_until,
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
			t->schedule_anchor = DT_NOBEGIN;	/* uso_task_grid */
			ChainsMaybeFollow(t);
			break;
		case 1:
			t->enabled = !t->enabled;
			break;
		case 2:
			strlcpy(t->tz, TzNames[RndI(3)], sizeof(t->tz));
			t->schedule_anchor = DT_NOBEGIN;
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

/* uso_tasks.enabled = off for a while (ALTER SYSTEM, SIGHUP): scheduled runs wait. */
static void
Pause(void)
{
	W.f_pauses++;
	W.scheduling = false;
	pause_until = W.now + (TimestampTz) (1 + RndI(300)) * SEC;
	Excuse(W.now, pause_until + SEC);
	W.latch = true;
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
	next_pause = W.now + (TimestampTz) (1800 + RndI(5400)) * SEC;
	pause_until = DT_NOEND;
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
		next = Min(next, Min(next_pause, pause_until));
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
		if (W.now >= pause_until)
		{
			W.scheduling = true;
			W.latch = true;
			pause_until = DT_NOEND;
		}
		if (W.now >= next_pause)
		{
			if (W.scheduling)
				Pause();
			next_pause = W.now + (TimestampTz) (1800 + RndI(5400)) * SEC;
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
