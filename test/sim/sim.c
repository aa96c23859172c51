/*-------------------------------------------------------------------------
 * sim.c
 *	  Deterministic simulation of the scheduler's heart (make simulate).
 *
 * Built from the same sources as the server's state and schedule grammar
 * (src/sched_state*.c, src/sched_map.c, src/schedule.c, schedule_cron.c,
 * schedule_next.c, schedule_after.c; see SIM_SRCS in the Makefile) with a
 * simulated clock, a seeded random generator, an in-memory "catalog" (task
 * rows, run rows, the no-double-slot unique index), a pool of simulated
 * workers and a loop of its own (sim_world.c).  That loop and pool are
 * written after scheduler.c's and sched_pool.c's, not compiled from them:
 * what only the server's do (pending chain followers, the outcome fold,
 * the busy-period floor, role and database caps with one owner and one
 * database here, worker retirement, failed worker starts, other
 * databases' runs) is not simulated (issue 23 item 1).  Faults: worker deaths (also
 * after their success committed), runs that ignore their timeout, runs that
 * hit it, cancels, pauses (uso_tasks.enabled = off), scheduler restarts
 * (state rebuilt from the catalog rows only, workers surviving or not),
 * clock jumps forward, catalog edits and
 * deletions while runs are in flight, owners losing LOGIN, pool
 * exhaustion, and every overlap and misfire policy.  The invariants are
 * checked after every loop iteration (sim_check.c).
 *
 *   sim [hours] [seed]    prints "simulated N h: R runs, V invariant violations"
 *   sim grid [seed]       the grid invariant over 15 months (sim_grid.c)
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "sim_world.h"

World		W;

/* ---------- randomness and reporting ---------- */

static uint64 rng = 1;

uint64
Rnd64(void)
{
	/* xorshift64*: small, fast, and the same on every machine */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * UINT64CONST(2685821657736338717);
}

double
RndF(void)
{
	return (Rnd64() >> 11) * (1.0 / 9007199254740992.0);
}

int
RndI(int n)
{
	return (int) (Rnd64() % (uint64) n);
}

void
Violation(const char *fmt,...)
{
	va_list		ap;

	W.violations++;
	if (getenv("SIM_VERBOSE") && W.violations <= 20)
	{
		va_start(ap, fmt);
		fprintf(stderr, "violation at %lld: ", (long long) W.now);
		vfprintf(stderr, fmt, ap);
		fprintf(stderr, "\n");
		va_end(ap);
	}
	if (W.violations > 1)
		return;
	va_start(ap, fmt);
	vsnprintf(W.first_violation, sizeof(W.first_violation), fmt, ap);
	va_end(ap);
	W.first_violation_at = W.now;
}

/* ---------- the state's host ---------- */

/* The state's memory, counted here too: destroying it must return every byte. */
static void *
HostAlloc(size_t size)
{
	size_t	   *p = malloc(size + 16);

	if (p == NULL)
	{
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	p[0] = size;
	W.state_outstanding += size;
	return (char *) p + 16;
}

static void
HostFree(void *p)
{
	size_t	   *h = (size_t *) ((char *) p - 16);

	W.state_outstanding -= h[0];
	free(h);
}

static void
HostFail(const char *msg)
{
	Violation("transition refused: %s", msg);
	/* Like the server: the scheduler restarts and rebuilds its state. */
	W.fail_restart = true;
}

static const SchedHost SimHost = {HostAlloc, HostFree, HostFail, RndF};

void *
MapAlloc(void *arg, size_t size)
{
	void	   *p = malloc(size);

	if (p == NULL)
		exit(2);
	return p;
}

void
MapFree(void *arg, void *p)
{
	free(p);
}

/* ---------- tasks ---------- */

static const char *const CronForms[] = {
	"* * * * *", "*/5 * * * *", "*/15 * * * *", "7 * * * *", "0 * * * *",
	"30 2 * * *", "0 0 $ * *", "0 9 * * MON-FRI", "15 3 * JAN-DEC SUN",
	"0 */2 * * *", "@hourly", "@daily", "45 1 * * *", "T02:30", "T09:00",
	"*/2 * * * *", "59 23 * * *", "0 12 1,15 * *"
};
static const char *const IntervalForms[] = {
	"30 seconds", "every 10 minutes", "PT30M", "every 2 hours", "P1D",
	"every 1 day", "P1D T12:00", "every 3 minutes", "PT45S"
};
const char *const TzNames[3] = {"", "Sim/Europe", "Sim/South"};

const char *
RandomSchedule(void)
{
	int			r = RndI(100);

	if (r < 60)
		return CronForms[RndI(lengthof(CronForms))];
	if (r < 90)
		return IntervalForms[RndI(lengthof(IntervalForms))];
	return r < 95 ? "@reboot" : "@manual";
}

void
TaskParse(SimTask *t)
{
	char		errbuf[USO_SCHEDULE_ERRBUF];

	t->parsed_ok = UsoScheduleParse(t->schedule, &t->parsed, errbuf);
	if (!t->parsed_ok)
	{
		fprintf(stderr, "sim: bad schedule %s: %s\n", t->schedule, errbuf);
		exit(2);
	}
	t->tzp = t->tz[0] ? SimZone(t->tz) : NULL;
}

/*
 * What uso_create_task / uso_alter_task write: next_run_at from now, on the
 * grid of schedule_anchor when it has one (uso_task_validate, then
 * uso_task_grid; a changed schedule has reset the anchor).
 */
void
TaskComputeNext(SimTask *t)
{
	TimestampTz n = UsoScheduleNextFrom(&t->parsed, W.now,
										t->schedule_anchor != DT_NOBEGIN ?
										t->schedule_anchor : t->last_run_at, t->tzp);

	t->next_run_at = (!t->enabled || n == DT_NOEND) ? DT_NOBEGIN : n;
}

SimTask *
TaskCreate(void)
{
	SimTask    *t = calloc(1, sizeof(SimTask));

	t->id = ++W.last_task_id;
	strlcpy(t->schedule, RandomSchedule(), sizeof(t->schedule));
	ChainsMaybeFollow(t);
	strlcpy(t->tz, TzNames[RndI(3)], sizeof(t->tz));
	t->enabled = RndI(20) != 0;
	t->overlap = (SchedOverlap) RndI(3);
	t->misfire_skip = RndI(2) == 0;
	/* Retries only where runs do not overlap: the check pairs a retry with its failure. */
	t->max_retries = t->overlap != OVERLAP_PARALLEL && RndI(3) == 0 ? 1 + RndI(3) : 0;
	t->retry_delay_us = (int64) (1 + RndI(30)) * SEC;
	t->retry_after_us = (int64) (10 + RndI(300)) * SEC;
	t->timeout_ms = RndI(4) == 0 ? 0 : (5 + RndI(120)) * 1000;
	t->last_run_at = DT_NOBEGIN;
	t->schedule_anchor = DT_NOBEGIN;
	t->last_slot = DT_NOBEGIN;
	t->changed_at = W.now;
	TaskParse(t);
	TaskComputeNext(t);
	SchedMapPut(&W.tasks, t->id, t);
	W.n_tasks++;
	return t;
}

SimTask *
TaskGet(int64 id)
{
	SimTask    *t = SchedMapGet(&W.tasks, id);

	return (t != NULL && !t->deleted) ? t : NULL;
}

/* A random live task, or NULL. */
SimTask *
TaskRandom(void)
{
	for (int tries = 0; tries < 20; tries++)
	{
		SimTask    *t = TaskGet(1 + (int64) RndI((int) W.last_task_id));

		if (t != NULL)
			return t;
	}
	return NULL;
}

/* ---------- the scheduler process ---------- */

void
SchedulerStart(void)
{
	W.state = SchedStateCreate(&SimHost, 1, W.grace_us);
	W.sched_up = true;
	W.first = true;
	W.latch = true;
	W.wake = W.now;
	W.fail_restart = false;
}

void
SchedulerStop(void)
{
	if (W.state != NULL)
	{
		SchedStateDestroy(W.state);
		/* Everything the state allocated comes back: nothing leaked with churn. */
		if (W.state_outstanding != 0)
			Violation("the scheduler's state leaked %zu bytes over its life",
					  W.state_outstanding);
		W.state_outstanding = 0;
	}
	W.state = NULL;
	W.sched_up = false;
	/* the store's deferred writes lived in the process */
	for (int i = 0; i < W.n_deferred; i++)
		free(W.deferred[i].message);
	W.n_deferred = 0;
}

static void
Usage(void)
{
	fprintf(stderr, "usage: sim [hours] [seed]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	double		hours = argc > 1 ? atof(argv[1]) : 24;
	uint64		seed = argc > 2 ? strtoull(argv[2], NULL, 10) : 1;
	int			ntasks = argc > 3 ? atoi(argv[3]) : 3000;
	clock_t		c0 = clock();

	if (argc > 1 && strcmp(argv[1], "grid") == 0)
	{
		rng = (argc > 2 ? strtoull(argv[2], NULL, 10) : 1) * UINT64CONST(0x9E3779B97F4A7C15) + 1;
		return GridMain(argc > 2 ? strtoull(argv[2], NULL, 10) : 1);
	}
	if (hours <= 0 || ntasks <= 0)
		Usage();
	rng = seed * UINT64CONST(0x9E3779B97F4A7C15) + 1;
	for (int i = 0; i < 8; i++)
		(void) Rnd64();
	memset(&W, 0, sizeof(W));
	W.seed = seed;
	W.scheduling = true;
	/* 2026-03-28 12:00 UTC: both zones change their clocks the next day. */
	W.now = (TimestampTz) (date2j(2026, 3, 28) - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY +
		12 * USECS_PER_HOUR;
	W.end = W.now + (TimestampTz) (hours * 3600.0 * SEC);
	W.grace_us = 2 * SEC;
	W.n_workers = 16 + RndI(17);
	SchedMapInit(&W.tasks, MapAlloc, MapFree, NULL);
	SchedMapInit(&W.rows, MapAlloc, MapFree, NULL);
	SchedMapInit(&W.open, MapAlloc, MapFree, NULL);
	for (int i = 0; i < ntasks; i++)
		TaskCreate();
	W.reboot_pending = true;
	SchedulerStart();

	SimRun();
	ChainsCheck(true);
	SchedulerStop();

	printf("simulated %g h: %lld runs, %lld invariant violations\n",
		   hours, (long long) W.runs_started, (long long) W.violations);
	printf("  seed %llu, %d tasks at start, %lld created, %lld deleted, %d workers, "
		   "%.1f s wall\n",
		   (unsigned long long) seed, ntasks, (long long) W.n_tasks - ntasks,
		   (long long) W.deleted, W.n_workers, (double) (clock() - c0) / CLOCKS_PER_SEC);
	printf("  faults: %lld worker deaths (%lld after commit), %lld killed past timeout, "
		   "%lld own timeouts, %lld failures, %lld cancels, %lld restarts (%lld with the server), "
		   "%lld clock jumps, %lld pauses, %lld edits, %lld owner LOGIN changes, %lld task rows locked "
		   "(%lld writes deferred), %lld iterations with the pool full\n",
		   (long long) W.f_deaths, (long long) W.f_after_commit, (long long) W.f_killed,
		   (long long) W.f_own_timeouts, (long long) W.f_failures, (long long) W.f_cancels,
		   (long long) W.f_restarts, (long long) W.f_server_restarts, (long long) W.f_jumps,
		   (long long) W.f_pauses, (long long) W.f_edits, (long long) W.f_problems, (long long) W.f_locks,
		   (long long) W.f_deferred, (long long) W.f_pool_full);
	printf("  rows: %lld skipped, %lld catchup, %lld retries, %lld slot conflicts; "
		   "%lld loop iterations; state memory peak %zu bytes\n",
		   (long long) W.skipped, (long long) W.catchups, (long long) W.retries,
		   (long long) W.conflicts, (long long) W.iterations, W.peak_bytes);
	ChainsReport();
	if (W.violations > 0)
	{
		printf("first violation at +%.3f s: %s\n  replay: make simulate HOURS=%g SEED=%llu\n",
			   (double) (W.first_violation_at - (W.end - (TimestampTz) (hours * 3600.0 * SEC))) / SEC,
			   W.first_violation, hours, (unsigned long long) seed);
		return 1;
	}
	return 0;
}
