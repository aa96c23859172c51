/*-------------------------------------------------------------------------
 * sim_grid.c
 *	  The preview is the behaviour (issue 16): for interval tasks that run
 *	  only at their slots, the scheduler's slots are uso_next_runs'.
 *
 * make simulate-grid (sim grid [seed]) drives the real state module
 * through 15 simulated months (2025-11-29 to 2027-03-01), fast-forwarding
 * the clock from one wake-up to the next, with interval tasks anchored on
 * month ends (P1M, P3M, every 1 month, every 3 months from 01-31, 11-30 and
 * 05-31), across DST in Sim/Europe (Europe/Berlin's rules) and
 * Sim/America (America/New_York's), through scheduler and server restarts
 * (down for seconds to weeks), pauses (uso_tasks.enabled = off) and manual
 * runs.  Every scheduled or catchup row the scheduler writes is checked
 * against the preview, walked exactly as uso_next_runs walks it
 * (UsoScheduleNextFrom(previous, anchor) from the anchor):
 *	- its slot is the preview's next time, or a later one when every time
 *	  in between fell while the scheduler was down or paused (none lost);
 *	- it is decided at its slot (within WaitLatch's millisecond), unless
 *	  its slot fell while the scheduler was down or paused;
 *	- the anchor is the first slot, then the start of the latest manual run
 *	  (the state takes it when it reads the queued row), whose day of month
 *	  is kept from then on;
 *	- between rows, the state's next slot is the preview's next time.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "sim_world.h"

typedef struct GridCase
{
	const char *schedule;
	const char *tz;				/* "" = UTC */
	int			y,
				m,
				d,
				hh,
				mm;				/* created at this local time */
	bool		misfire_skip;
	bool		manual;			/* gets uso_run_now now and then */
} GridCase;

static const GridCase Cases[] = {
	{"P1M", "", 2026, 1, 31, 12, 0, false, false},
	{"every 1 month", "Sim/Europe", 2026, 1, 31, 12, 0, false, false},
	{"P3M", "Sim/America", 2025, 11, 30, 12, 0, false, false},
	{"P3M", "", 2026, 1, 31, 12, 0, false, false},
	{"every 3 months", "Sim/Europe", 2026, 5, 31, 2, 30, false, false},
	{"P1M", "Sim/America", 2026, 1, 31, 2, 30, false, false},
	{"P1M", "Sim/Europe", 2026, 5, 31, 12, 0, true, false},
	{"P3M", "", 2025, 11, 30, 12, 0, true, false},
	{"every 3 months", "Sim/America", 2025, 11, 30, 23, 45, false, false},
	{"P1M T00:15", "Sim/Europe", 2026, 1, 30, 23, 0, false, false},
	{"P1Y", "Sim/Europe", 2026, 2, 28, 6, 0, false, false},
	{"every 1 day", "Sim/Europe", 2026, 3, 28, 2, 30, false, false},
	{"P1D", "Sim/America", 2026, 3, 7, 2, 30, false, false},
	{"PT6H", "Sim/Europe", 2026, 3, 28, 22, 0, false, false},
	{"every 20 minutes", "Sim/America", 2026, 10, 31, 23, 10, false, false},
	{"P7D T12:00", "Sim/America", 2026, 2, 2, 9, 0, false, false},
	{"P1M", "", 2026, 1, 31, 12, 0, false, true},
	{"every 1 day", "Sim/America", 2026, 1, 31, 8, 0, false, true},
	{"every 1 month", "Sim/Europe", 2026, 1, 31, 12, 0, true, true},
};

#define N_CASES		((int) lengthof(Cases))
#define N_SHOWN		6

/* What the check knows of a task: its preview and where the rows are on it. */
typedef struct GridTask
{
	int64		id;
	TimestampTz created;
	TimestampTz anchor;			/* the preview's anchor */
	TimestampTz expect;			/* the preview's next time: the next row's slot */
	TimestampTz pending;		/* a manual run's anchor, not yet applied */
	TimestampTz shown[N_SHOWN];
	int			n_shown;
	int64		rows,
				catchups,
				missed,
				manuals;
} GridTask;

typedef enum GridEventKind
{
	GE_CREATE,
	GE_RESTART,
	GE_PAUSE,
	GE_RESUME,
	GE_MANUAL
} GridEventKind;

typedef struct GridEvent
{
	TimestampTz at;
	GridEventKind kind;
	int			task;			/* GE_CREATE, GE_MANUAL: index into Cases */
	TimestampTz length;			/* GE_RESTART: downtime */
	bool		server;
} GridEvent;

static GridTask G[N_CASES];
static GridEvent *Events;
static int	n_events,
			cap_events;
static int64 n_restarts,
			n_pauses,
			n_manual;

static TimestampTz
UtcTime(int y, int m, int d, int hh, int mm)
{
	return (TimestampTz) (date2j(y, m, d) - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY +
		hh * USECS_PER_HOUR + mm * USECS_PER_MINUTE;
}

/* Unix seconds <-> our microseconds */
#define UNIX_SECS(t)	((pg_time_t) ((t) / SEC) + \
						 (pg_time_t) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * 86400)

static long
OffsetAt(TimestampTz t, pg_tz *tz)
{
	pg_time_t	s = UNIX_SECS(t);

	return tz == NULL ? 0 : pg_localtime(&s, tz)->tm_gmtoff;
}

/* A local time (not in a gap) as an instant. */
static TimestampTz
LocalToUtc(int y, int m, int d, int hh, int mm, pg_tz *tz)
{
	TimestampTz local = UtcTime(y, m, d, hh, mm);
	TimestampTz guess = local - OffsetAt(local, tz) * SEC;

	return local - OffsetAt(guess, tz) * SEC;
}

static void
LocalText(TimestampTz t, pg_tz *tz, char *buf, size_t len)
{
	TimestampTz local = t + OffsetAt(t, tz) * SEC;
	int64		days = local / USECS_PER_DAY;
	int64		rem = local - days * USECS_PER_DAY;
	int			y,
				m,
				d;

	j2date((int) (days + POSTGRES_EPOCH_JDATE), &y, &m, &d);
	snprintf(buf, len, "%04d-%02d-%02d %02d:%02d", y, m, d,
			 (int) (rem / USECS_PER_HOUR), (int) (rem / USECS_PER_MINUTE % 60));
}

static GridTask *
GridOf(int64 id)
{
	for (int i = 0; i < N_CASES; i++)
		if (G[i].id == id)
			return &G[i];
	return NULL;
}

/* One step of the preview: uso_next_runs' loop (schedule_sql.c). */
static TimestampTz
PreviewStep(SimTask *t, GridTask *g, TimestampTz prev)
{
	return UsoScheduleNextFrom(&t->parsed, prev, g->anchor, t->tzp);
}

static void
ApplyPending(GridTask *g, SimTask *t)
{
	if (g->pending == DT_NOBEGIN)
		return;
	g->anchor = g->pending;
	g->expect = PreviewStep(t, g, g->anchor);
	g->pending = DT_NOBEGIN;
	g->manuals++;
}

/* sim_world.c's FeedQueuedRuns: a manual row the state reads re-anchors its task. */
void
GridQueuedRowFed(SimRow *r)
{
	GridTask   *g;

	if (!W.grid || r->fed)
		return;
	r->fed = true;
	g = GridOf(r->task_id);
	if (g != NULL && strcmp(r->trigger, "manual") == 0)
		g->pending = W.now;
}

void
GridCheckRow(SimTask *t, const SchedNewRun *nr)
{
	GridTask   *g = GridOf(t->id);
	TimestampTz slot = nr->scheduled_for;
	bool		catchup = strcmp(nr->trigger, "catchup") == 0;
	char		a[32],
				b[32];
	int			steps = 0;

	if (g == NULL)
		return;
	/* A catchup belongs to the grid before a manual run read in the same start. */
	if (!catchup)
		ApplyPending(g, t);
	while (g->expect < slot && steps++ < 1000000)
	{
		if (!Excused(g->expect))
		{
			LocalText(g->expect, t->tzp, a, sizeof(a));
			LocalText(slot, t->tzp, b, sizeof(b));
			Violation("task %lld (%s, %s): its slot %s was lost, the next row is for %s",
					  (long long) t->id, t->schedule, t->tz, a, b);
			break;
		}
		g->missed++;
		g->expect = PreviewStep(t, g, g->expect);
	}
	if (g->expect != slot)
	{
		LocalText(g->expect, t->tzp, a, sizeof(a));
		LocalText(slot, t->tzp, b, sizeof(b));
		Violation("task %lld (%s, %s): a %s row for %s, off the preview (its next time is %s)",
				  (long long) t->id, t->schedule, t->tz, nr->trigger, b, a);
	}
	else if (!catchup && W.now - slot > MS && !Excused(slot))
	{
		LocalText(slot, t->tzp, b, sizeof(b));
		Violation("task %lld (%s): slot %s decided %.3f s late", (long long) t->id,
				  t->schedule, b, (double) (W.now - slot) / SEC);
	}
	if (g->n_shown < N_SHOWN)
		g->shown[g->n_shown++] = slot;
	g->rows++;
	g->catchups += catchup;
	g->expect = PreviewStep(t, g, slot);
	if (catchup)
		ApplyPending(g, t);
}

/* After each iteration: the state's next slot is the preview's next time. */
static void
GridAfterIteration(void)
{
	for (int i = 0; i < N_CASES; i++)
	{
		GridTask   *g = &G[i];
		SimTask    *t = g->id ? TaskGet(g->id) : NULL;
		SchedTaskView v;

		if (t == NULL)
			continue;
		ApplyPending(g, t);
		if (!W.scheduling || g->expect <= W.now || !SchedStateGetTask(W.state, t->id, &v))
			continue;
		if (v.next_run != g->expect)
		{
			char		a[32],
						b[32];

			LocalText(v.next_run, t->tzp, a, sizeof(a));
			LocalText(g->expect, t->tzp, b, sizeof(b));
			Violation("task %lld (%s, %s): the scheduler's next slot is %s, the preview's %s",
					  (long long) t->id, t->schedule, t->tz, a, b);
		}
	}
}

static void
AddEvent(TimestampTz at, GridEventKind kind, int task, TimestampTz length, bool server)
{
	if (n_events == cap_events)
	{
		cap_events = cap_events ? cap_events * 2 : 64;
		Events = realloc(Events, sizeof(GridEvent) * cap_events);
	}
	Events[n_events].at = at;
	Events[n_events].kind = kind;
	Events[n_events].task = task;
	Events[n_events].length = length;
	Events[n_events].server = server;
	n_events++;
}

static int
CmpEvent(const void *a, const void *b)
{
	const GridEvent *x = a,
			   *y = b;

	return x->at < y->at ? -1 : x->at > y->at ? 1 : (int) x->kind - (int) y->kind;
}

static TimestampTz
RandomLength(void)
{
	int			r = RndI(10);

	if (r < 5)
		return (TimestampTz) (1 + RndI(600)) * SEC;	/* seconds to minutes */
	if (r < 8)
		return (TimestampTz) (3600 + RndI(3 * 86400)) * SEC;	/* hours to days */
	return (TimestampTz) (86400 + RndI(45 * 86400)) * SEC;	/* across a month end */
}

static void
PlanEvents(TimestampTz start, TimestampTz end)
{
	TimestampTz span = end - start - 2 * USECS_PER_DAY;

	for (int i = 0; i < N_CASES; i++)
	{
		pg_tz	   *tz = Cases[i].tz[0] ? SimZone(Cases[i].tz) : NULL;
		TimestampTz c = LocalToUtc(Cases[i].y, Cases[i].m, Cases[i].d, Cases[i].hh,
								   Cases[i].mm, tz);

		AddEvent(c, GE_CREATE, i, 0, false);
		for (int k = 0; Cases[i].manual && k < 5; k++)
			AddEvent(c + (TimestampTz) (RndF() * (double) (end - c)), GE_MANUAL, i, 0, false);
	}
	/* The cases: downtime across 02-28, a pause across 04-30, short ones. */
	AddEvent(UtcTime(2026, 2, 27, 0, 0), GE_RESTART, 0, 3 * USECS_PER_DAY, true);
	AddEvent(UtcTime(2026, 4, 29, 0, 0), GE_PAUSE, 0, 3 * USECS_PER_DAY, false);
	AddEvent(UtcTime(2026, 11, 1, 5, 50), GE_RESTART, 0, 60 * SEC, true);
	AddEvent(UtcTime(2026, 11, 2, 9, 3), GE_PAUSE, 0, 70 * SEC, false);
	for (int k = 0; k < 14; k++)
	{
		AddEvent(start + USECS_PER_DAY + (TimestampTz) (RndF() * span), GE_RESTART, 0,
				 RandomLength(), RndI(2) == 0);
		AddEvent(start + USECS_PER_DAY + (TimestampTz) (RndF() * span), GE_PAUSE, 0,
				 RandomLength(), false);
	}
	qsort(Events, n_events, sizeof(GridEvent), CmpEvent);
}

static void
CreateTask(int i)
{
	SimTask    *t = calloc(1, sizeof(SimTask));

	t->id = ++W.last_task_id;
	strlcpy(t->schedule, Cases[i].schedule, sizeof(t->schedule));
	strlcpy(t->tz, Cases[i].tz, sizeof(t->tz));
	t->enabled = true;
	t->overlap = OVERLAP_SKIP;
	t->misfire_skip = Cases[i].misfire_skip;
	t->retry_delay_us = 60 * SEC;
	t->retry_after_us = 86400 * SEC;
	t->last_run_at = DT_NOBEGIN;
	t->schedule_anchor = DT_NOBEGIN;
	t->last_slot = DT_NOBEGIN;
	t->changed_at = W.now;
	TaskParse(t);
	TaskComputeNext(t);
	SchedMapPut(&W.tasks, t->id, t);
	W.n_tasks++;
	G[i].id = t->id;
	G[i].created = W.now;
	/* A task that never ran is due at once (or at its time of day): that slot begins the grid. */
	G[i].anchor = t->next_run_at;
	G[i].expect = t->next_run_at;
	G[i].pending = DT_NOBEGIN;
	W.catalog_changed = W.latch = true;
}

static void
DoEvent(const GridEvent *e)
{
	switch (e->kind)
	{
		case GE_CREATE:
			CreateTask(e->task);
			break;
		case GE_MANUAL:
			if (TaskGet(G[e->task].id) == NULL)
				break;
			(void) RowInsert(TaskGet(G[e->task].id), "manual", DT_NOBEGIN, RS_QUEUED, 1);
			W.runs_queued = W.latch = true;
			n_manual++;
			break;
		case GE_RESTART:
			if (!W.sched_up)
				break;
			n_restarts++;
			SchedulerStop();
			if (e->server)
			{
				for (int i = 0; i < W.n_workers; i++)
					W.workers[i].used = false;
				W.reboot_pending = true;
			}
			W.up_at = W.now + e->length;
			Excuse(W.now, W.up_at + SEC);
			break;
		case GE_PAUSE:
			if (!W.scheduling)
				break;
			n_pauses++;
			W.scheduling = false;
			W.latch = true;		/* the SIGHUP */
			Excuse(W.now, W.now + e->length + SEC);
			/* the caller sorts it in among the events still to come */
			AddEvent(W.now + e->length, GE_RESUME, 0, 0, false);
			break;
		case GE_RESUME:
			W.scheduling = true;
			W.latch = true;
			break;
	}
}

int
GridMain(uint64 seed)
{
	TimestampTz start = UtcTime(2025, 11, 29, 0, 0);
	clock_t		c0 = clock();
	int			next = 0;
	int			same_time = 0;
	TimestampTz last = 0;
	TimestampTz next_retention;
	int64		rows = 0,
				catchups = 0,
				missed = 0;

	memset(&W, 0, sizeof(W));
	W.seed = seed;
	W.grid = true;
	W.scheduling = true;
	W.now = start;
	W.end = UtcTime(2027, 3, 1, 0, 0);
	W.grace_us = 2 * SEC;
	W.n_workers = 8;
	SchedMapInit(&W.tasks, MapAlloc, MapFree, NULL);
	SchedMapInit(&W.rows, MapAlloc, MapFree, NULL);
	SchedMapInit(&W.open, MapAlloc, MapFree, NULL);
	PlanEvents(start, W.end);
	W.reboot_pending = true;
	SchedulerStart();
	next_retention = W.now + USECS_PER_DAY;

	while (W.now < W.end)
	{
		TimestampTz t;
		bool		stepped = false;

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
			GridAfterIteration();
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
				break;
			}
			continue;
		}
		t = Min(W.end, next_retention);
		if (next < n_events)
			t = Min(t, Events[next].at);
		t = Min(t, W.sched_up ? W.wake : W.up_at);
		for (int i = 0; i < W.n_workers; i++)
			t = Min(t, WorkerNext(&W.workers[i]));
		W.now = Max(W.now, t);
		if (!W.sched_up && W.now >= W.up_at)
			SchedulerStart();
		while (next < n_events && Events[next].at <= W.now)
		{
			GridEvent	e = Events[next++];

			DoEvent(&e);
			/* a resume added behind: keep the rest in order */
			qsort(Events + next, n_events - next, sizeof(GridEvent), CmpEvent);
		}
		if (W.now >= next_retention)
		{
			Retention();
			next_retention = W.now + USECS_PER_DAY;
		}
	}

	/* No slot before the end was lost either. */
	for (int i = 0; i < N_CASES; i++)
	{
		SimTask    *t = TaskGet(G[i].id);
		GridTask   *g = &G[i];
		char		buf[32];

		if (t == NULL)
			continue;
		while (g->expect < W.end - 2 * SEC)
		{
			if (!Excused(g->expect))
			{
				LocalText(g->expect, t->tzp, buf, sizeof(buf));
				Violation("task %lld (%s, %s): its slot %s never came", (long long) t->id,
						  t->schedule, t->tz, buf);
				break;
			}
			g->missed++;
			g->expect = PreviewStep(t, g, g->expect);
		}
		rows += g->rows;
		catchups += g->catchups;
		missed += g->missed;
		printf("  %-17s %-12s from %s%s%s:", t->schedule, t->tz[0] ? t->tz : "UTC",
			   (LocalText(g->created, t->tzp, buf, sizeof(buf)), buf),
			   t->misfire_skip ? ", misfire skip" : "",
			   Cases[i].manual ? ", manual runs" : "");
		for (int k = 0; k < g->n_shown; k++)
		{
			LocalText(g->shown[k], t->tzp, buf, sizeof(buf));
			printf(" %s", buf + 5);
		}
		printf(" ... (%lld rows, %lld catchup, %lld missed while down or paused, "
			   "%lld re-anchored by a manual run)\n", (long long) g->rows,
			   (long long) g->catchups, (long long) g->missed, (long long) g->manuals);
	}
	SchedulerStop();
	printf("grid simulation 2025-11-29 to 2027-03-01: %d interval tasks, %lld rows on the preview "
		   "(%lld catchup), %lld slots missed while down or paused, %lld restarts, %lld pauses, "
		   "%lld manual runs, %lld invariant violations\n",
		   N_CASES, (long long) rows, (long long) catchups, (long long) missed,
		   (long long) n_restarts, (long long) n_pauses, (long long) n_manual,
		   (long long) W.violations);
	printf("  seed %llu, %lld loop iterations, %.1f s wall\n", (unsigned long long) seed,
		   (long long) W.iterations, (double) (clock() - c0) / CLOCKS_PER_SEC);
	if (W.violations > 0)
	{
		printf("first violation: %s\n  replay: make simulate-grid SEED=%llu\n",
			   W.first_violation, (unsigned long long) seed);
		return 1;
	}
	return 0;
}
