/*-------------------------------------------------------------------------
 * scheduler.c
 *	  The per-database scheduler: keeps every task's next fire time in a
 *	  min-heap, sleeps on its latch until the earliest one (or until a
 *	  catalog change, uso_run_now() or a finishing worker wakes it), queues
 *	  due runs, hands them to executor workers and keeps the books.
 *
 * Idle costs nothing: with nothing due the loop sleeps until the next due
 * time.  Catalog changes arrive as a flag in shared memory set at commit by
 * a trigger on uso_task; the scheduler's own writes (next_run_at,
 * last_run_at) do not fire it.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "common/pg_prng.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "uso_tasks.h"
#include "version.h"
#include "catalog.h"
#include "sched.h"

PGDLLEXPORT void uso_scheduler_main(Datum arg);

HTAB	   *SchedTasks = NULL;
HTAB	   *SchedRuns = NULL;
List	   *ReadyRuns = NIL;
List	   *DirtyTasks = NIL;
MemoryContext SchedContext = NULL;
static List *TimedRuns = NIL;	/* SchedRun *, due later (uso_run_at, retries) */

static SchedTask **Heap = NULL;
static int	HeapSize = 0;
static int	HeapCap = 0;

static UsoSchedulerSlot *MySchedSlot = NULL;

/* How far in the past a stored next_run_at must be to count as missed. */
#define MISSED_SLOT_GRACE	(INT64CONST(1000) * 1000)

/* ---------- the due heap ---------- */

static inline bool
HeapLess(int a, int b)
{
	return Heap[a]->next_run < Heap[b]->next_run;
}

static void
HeapSwap(int a, int b)
{
	SchedTask  *t = Heap[a];

	Heap[a] = Heap[b];
	Heap[b] = t;
	Heap[a]->heap_pos = a;
	Heap[b]->heap_pos = b;
}

static void
HeapUp(int i)
{
	while (i > 0 && HeapLess(i, (i - 1) / 2))
	{
		HeapSwap(i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void
HeapDown(int i)
{
	for (;;)
	{
		int			l = 2 * i + 1,
					r = l + 1,
					m = i;

		if (l < HeapSize && HeapLess(l, m))
			m = l;
		if (r < HeapSize && HeapLess(r, m))
			m = r;
		if (m == i)
			break;
		HeapSwap(i, m);
		i = m;
	}
}

static void
HeapRemove(SchedTask *t)
{
	int			i = t->heap_pos;

	if (i < 0)
		return;
	t->heap_pos = -1;
	HeapSize--;
	if (i == HeapSize)
		return;
	Heap[i] = Heap[HeapSize];
	Heap[i]->heap_pos = i;
	HeapUp(i);
	HeapDown(Heap[i]->heap_pos);
}

/* Put a task in the heap at its next_run, or take it out when it has none. */
static void
HeapUpdate(SchedTask *t)
{
	if (!t->enabled || t->next_run == DT_NOEND)
	{
		HeapRemove(t);
		return;
	}
	if (t->heap_pos < 0)
	{
		if (HeapSize == HeapCap)
		{
			HeapCap = HeapCap ? HeapCap * 2 : 1024;
			Heap = Heap ? repalloc_huge(Heap, sizeof(SchedTask *) * HeapCap)
				: MemoryContextAllocHuge(TopMemoryContext, sizeof(SchedTask *) * HeapCap);
		}
		Heap[HeapSize] = t;
		t->heap_pos = HeapSize++;
		HeapUp(t->heap_pos);
		return;
	}
	HeapUp(t->heap_pos);
	HeapDown(t->heap_pos);
}

/* ---------- tasks and runs ---------- */

SchedTask *
SchedLookupTask(int64 id)
{
	return hash_search(SchedTasks, &id, HASH_FIND, NULL);
}

/*
 * Queued runs not yet in the catalog count against the overlap rule like
 * runs that are: a run waiting for its task row's lock is still this slot's
 * run.
 */
void
SchedCountUnwritten(int64 task_id, int delta)
{
	SchedTask  *t = SchedLookupTask(task_id);

	if (t != NULL)
		t->unwritten = Max(t->unwritten + delta, 0);
}

/* Remember to write next_run_at / last_run_at of t at the next flush. */
void
SchedMarkDirty(SchedTask *t)
{
	if (!t->next_dirty)
	{
		MemoryContext old = MemoryContextSwitchTo(SchedContext);

		t->next_dirty = true;
		DirtyTasks = lappend(DirtyTasks, t);
		MemoryContextSwitchTo(old);
	}
}

static bool
IsIntervalKind(const SchedTask *t)
{
	return t->schedule_ok && t->schedule.kind == USO_SCHED_INTERVAL;
}

/*
 * A run of an interval task started: a manual or one-off run moves the next
 * scheduled one to now + interval; a scheduled run counts from its slot, so
 * the period does not drift by the dispatch delay.
 */
static void
AnchorIntervalTask(SchedTask *t, TimestampTz slot, TimestampTz now, bool started)
{
	TimestampTz anchor = now;

	if (!IsIntervalKind(t))
		return;
	/*
	 * A scheduled run counts from its slot, and a late one skips to the first
	 * slot of the same grid after now: tasks late together (a pause, a busy
	 * server) keep their own phase instead of falling into lockstep.
	 */
	if (slot != DT_NOBEGIN && slot <= now)
		anchor = slot;
	/* last_run_at is the anchor, so next_run_at = last_run_at + k * interval. */
	if (started)
		t->last_start = anchor;
	t->next_run = UsoScheduleNext(&t->schedule, now, anchor, t->tz);
	HeapUpdate(t);
	SchedMarkDirty(t);
}

/*
 * A run counts against its task's overlap rule from when it is due, not
 * while it waits for a later time (uso_run_at, a retry's delay).
 */
static void
CountActive(SchedTask *t, SchedRun *run)
{
	if (run->counted)
		return;
	run->counted = true;
	t->active++;
	t->active_run = run->run_id;
}

void
SchedAddRun(int64 run_id, int64 task_id, int attempt, TimestampTz due,
			const char *trigger)
{
	SchedRun   *run;
	bool		found;
	SchedTask  *t = SchedLookupTask(task_id);
	TimestampTz now = GetCurrentTimestamp();

	run = hash_search(SchedRuns, &run_id, HASH_ENTER, &found);
	if (found)
		return;
	run->task_id = task_id;
	run->attempt = attempt;
	run->due = due;
	run->dispatched = false;
	run->counted = false;
	if (t != NULL && due <= now)
	{
		CountActive(t, run);
		if (strcmp(trigger, "manual") == 0 || strcmp(trigger, "once") == 0)
		{
			t->last_start = now;
			SchedMarkDirty(t);
			AnchorIntervalTask(t, DT_NOBEGIN, now, true);
		}
	}
	{
		MemoryContext old = MemoryContextSwitchTo(SchedContext);

		if (due <= now)
			ReadyRuns = lappend(ReadyRuns, run);
		else
			TimedRuns = lappend(TimedRuns, run);
		MemoryContextSwitchTo(old);
	}
}

/* Capped exponential backoff with +-20% jitter. */
static int64
RetryDelay(const SchedTask *t, int attempt)
{
	int64		delay = Max(t->retry_delay_us, 1000);
	const int64 cap = INT64CONST(3600) * USECS_PER_SEC;

	for (int i = 1; i < attempt && delay < cap; i++)
		delay *= 2;
	delay = Min(delay, cap);
	return (int64) (delay * (0.8 + 0.4 * pg_prng_double(&pg_global_prng_state)));
}

/*
 * A worker finished a run (or died with it): update counts, close it when
 * the worker could not, schedule a retry, and pull the next run forward to
 * failure + retry_after.
 */
void
SchedRunEnded(int64 run_id, UsoRunOutcome outcome, const char *died_message)
{
	SchedRun   *run = hash_search(SchedRuns, &run_id, HASH_FIND, NULL);
	SchedTask  *t;
	TimestampTz now = GetCurrentTimestamp();

	if (run == NULL)
		return;
	t = SchedLookupTask(run->task_id);
	if (died_message != NULL)
		StoreQueueClose(run_id, died_message);
	if (t != NULL)
	{
		if (run->counted)
			t->active = Max(t->active - 1, 0);
		if (run->dispatched)
			t->running = Max(t->running - 1, 0);
		if (outcome == USO_OUTCOME_FAILED || outcome == USO_OUTCOME_TIMED_OUT ||
			died_message != NULL)
		{
			if (run->attempt <= t->max_retries)
			{
				NewRun		nr = {0};

				nr.task_id = t->id;
				nr.trigger = "retry";
				nr.scheduled_for = now + RetryDelay(t, run->attempt);
				nr.status = "queued";
				nr.attempt = run->attempt + 1;
				StoreQueueNewRun(&nr);
			}
			else if (t->enabled && t->next_run != DT_NOEND &&
					 t->next_run > now + t->retry_after_us)
			{
				t->next_run = now + t->retry_after_us;
				SchedMarkDirty(t);
				HeapUpdate(t);
			}
		}
	}
	hash_search(SchedRuns, &run_id, HASH_REMOVE, NULL);
}

/* Queue the first attempt of a run of t for the given slot. */
static void
QueueFirstAttempt(SchedTask *t, const char *trigger, TimestampTz slot)
{
	NewRun		nr = {0};

	nr.task_id = t->id;
	nr.trigger = trigger;
	nr.scheduled_for = slot;
	nr.status = "queued";
	nr.attempt = 1;
	StoreQueueNewRun(&nr);
}

/* Drop a task from memory (deleted from the catalog). */
static void
ForgetTask(SchedTask *t)
{
	HeapRemove(t);
	hash_search(SchedTasks, &t->id, HASH_REMOVE, NULL);
}

/*
 * Called by the store after (re)loading a task row.  first: the scheduler
 * just started, so a stored next_run_at in the past is a missed slot.
 */
void
SchedTaskLoaded(SchedTask *t, bool changed, TimestampTz stored_next,
				bool first, TimestampTz now)
{
	if (!t->enabled || !t->schedule_ok)
	{
		t->next_run = DT_NOEND;
		HeapUpdate(t);
		return;
	}
	if (t->schedule.kind == USO_SCHED_REBOOT)
	{
		t->next_run = DT_NOEND;
		HeapUpdate(t);
		if (first && !MySchedSlot->reboot_done)
			QueueFirstAttempt(t, "startup", now);
		return;
	}
	if (!changed && stored_next != DT_NOBEGIN)
	{
		/*
		 * A slot more than a moment before this scheduler started was missed
		 * while no scheduler ran: one catchup run, or none.  One that just
		 * came due (a task created as the scheduler starts) is a plain due
		 * slot.  With scheduling paused nothing is queued: the slot stays
		 * due and runs once scheduling resumes.
		 */
		if (first && stored_next < now - MISSED_SLOT_GRACE && uso_scheduler_enabled)
		{
			if (!t->misfire_skip)
			{
				QueueFirstAttempt(t, "catchup", stored_next);
				t->last_start = now;
			}
			t->next_run = UsoScheduleNext(&t->schedule, now,
										  IsIntervalKind(t) ? now : t->last_start, t->tz);
			SchedMarkDirty(t);
		}
		else
			t->next_run = stored_next;
	}
	else
	{
		t->next_run = UsoScheduleNext(&t->schedule, now, t->last_start, t->tz);
		SchedMarkDirty(t);
	}
	HeapUpdate(t);
}

/* Queue (or skip) every task whose next fire time has come. */
static void
ProcessDue(TimestampTz now)
{
	while (HeapSize > 0 && Heap[0]->next_run <= now)
	{
		SchedTask  *t = Heap[0];
		TimestampTz slot = t->next_run;
		NewRun		nr = {0};

		nr.task_id = t->id;
		nr.trigger = "schedule";
		nr.scheduled_for = slot;
		nr.attempt = 1;
		if (t->problem != NULL)
		{
			nr.status = "failed";
			nr.message = t->problem;
		}
		else if (t->active + t->unwritten > 0 &&
				 (t->overlap == OVERLAP_SKIP ||
				  (t->overlap == OVERLAP_QUEUE && t->active + t->unwritten > 1)))
		{
			nr.status = "skipped";
			nr.message = psprintf("skipped: run %lld of this task is still in progress",
								  (long long) t->active_run);
		}
		else
		{
			nr.status = "queued";
			t->last_start = now;
		}
		StoreQueueNewRun(&nr);

		if (IsIntervalKind(t))
			AnchorIntervalTask(t, slot, now, strcmp(nr.status, "queued") == 0);
		else
		{
			TimestampTz next = UsoScheduleNext(&t->schedule, slot, t->last_start, t->tz);

			if (next <= now)	/* we are late: skip the slots already gone */
				next = UsoScheduleNext(&t->schedule, now, t->last_start, t->tz);
			t->next_run = next;
			HeapUpdate(t);
		}
		SchedMarkDirty(t);
	}
}

/* Move timed runs (uso_run_at, retries) whose time has come to the ready list. */
static TimestampTz
PromoteTimedRuns(TimestampTz now)
{
	List	   *keep = NIL;
	ListCell   *lc;
	TimestampTz earliest = DT_NOEND;
	MemoryContext old = MemoryContextSwitchTo(SchedContext);

	foreach(lc, TimedRuns)
	{
		SchedRun   *run = lfirst(lc);

		if (run->due <= now)
		{
			SchedTask  *t = SchedLookupTask(run->task_id);

			if (t != NULL)
			{
				CountActive(t, run);
				t->last_start = now;
				SchedMarkDirty(t);
				AnchorIntervalTask(t, DT_NOBEGIN, now, true);
			}
			ReadyRuns = lappend(ReadyRuns, run);
		}
		else
		{
			keep = lappend(keep, run);
			earliest = Min(earliest, run->due);
		}
	}
	list_free(TimedRuns);
	TimedRuns = keep;
	MemoryContextSwitchTo(old);
	return earliest;
}

/* Forget a waiting run whose row went away (cancelled, task dropped). */
void
SchedForgetRun(int64 run_id)
{
	SchedRun   *run = hash_search(SchedRuns, &run_id, HASH_FIND, NULL);

	if (run == NULL || run->dispatched)
		return;
	TimedRuns = list_delete_ptr(TimedRuns, run);
	ReadyRuns = list_delete_ptr(ReadyRuns, run);
	SchedRunEnded(run_id, USO_OUTCOME_CANCELLED, NULL);
}

/* Remove tasks not seen by the last full load. */
void
SchedSweepUnseen(void)
{
	HASH_SEQ_STATUS seq;
	SchedTask  *t;
	List	   *gone = NIL;
	ListCell   *lc;

	hash_seq_init(&seq, SchedTasks);
	while ((t = hash_seq_search(&seq)) != NULL)
	{
		if (!t->seen)
			gone = lappend(gone, t);
		t->seen = false;
	}
	foreach(lc, gone)
		ForgetTask(lfirst(lc));
	list_free(gone);
}

/* ---------- the worker ---------- */

/*
 * Take the database's slot in shared memory.  The exits before it is taken
 * leave a note for the launcher, which decides whether and when to try
 * again (and logs why, once).
 */
static void
ClaimSlot(Oid dboid)
{
	TimestampTz start = GetCurrentTimestamp();

	for (;;)
	{
		UsoSchedulerSlot *slot;
		bool		busy = false;

		LWLockAcquire(UsoShared->lock, LW_EXCLUSIVE);
		slot = UsoFindScheduler(dboid);
		if (slot != NULL && slot->pid != 0 && slot->pid != MyProcPid &&
			kill(slot->pid, 0) == 0)
			busy = true;
		else
		{
			if (slot == NULL)
			{
				slot = UsoFindScheduler(InvalidOid);
				/* A slot another database used: its @reboot state is not ours. */
				if (slot != NULL)
					slot->reboot_done = false;
			}
			if (slot == NULL)
			{
				LWLockRelease(UsoShared->lock);
				UsoNoteSchedulerExit(dboid, USO_SCHED_EXIT_NO_SLOT);
				proc_exit(0);
			}
			slot->dboid = dboid;
			slot->pid = MyProcPid;
			slot->latch = MyLatch;
			slot->stop_requested = false;
			slot->catalog_changed = false;
			slot->runs_queued = false;
			slot->runs_waiting = 0;
			MySchedSlot = slot;
		}
		LWLockRelease(UsoShared->lock);
		if (!busy)
			return;
		/* Another scheduler runs here; wait only while it is on its way out. */
		if (!slot->stop_requested)
		{
			UsoNoteSchedulerExit(dboid, USO_SCHED_EXIT_DUPLICATE);
			proc_exit(0);
		}
		/* Stuck on its way out: no note, so the launcher tries again later. */
		if (TimestampDifferenceExceeds(start, GetCurrentTimestamp(), 10000))
			proc_exit(1);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 50L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

static void
ReleaseSlot(int code, Datum arg)
{
	if (MySchedSlot == NULL)
		return;
	LWLockAcquire(UsoShared->lock, LW_EXCLUSIVE);
	if (MySchedSlot->pid == MyProcPid)
	{
		MySchedSlot->pid = 0;
		MySchedSlot->latch = NULL;
		/* A clean exit (stop, no extension) gives the slot back. */
		if (code == 0)
			MySchedSlot->dboid = InvalidOid;
	}
	LWLockRelease(UsoShared->lock);
	/*
	 * Every clean exit means this database wants no scheduler (no extension,
	 * a template, extension or database dropped): the launcher starts one
	 * again only when asked.  Any other exit is restarted by the launcher.
	 */
	if (code == 0)
		UsoNoteSchedulerExit(DatumGetObjectId(arg), USO_SCHED_EXIT_UNWANTED);
}

static void
InitState(void)
{
	HASHCTL		ctl;

	SchedContext = AllocSetContextCreate(TopMemoryContext, "uso_tasks scheduler",
										 ALLOCSET_DEFAULT_SIZES);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(SchedTask);
	ctl.hcxt = TopMemoryContext;
	SchedTasks = hash_create("uso_tasks tasks", 1024, &ctl,
							 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	ctl.entrysize = sizeof(SchedRun);
	SchedRuns = hash_create("uso_tasks runs", 1024, &ctl,
							HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

/* ALTER EXTENSION uso_tasks UPDATE under a running scheduler (a newer catalog). */
static bool
CatalogStillMatches(void)
{
	bool		ok;

	StartTransactionCommand();
	ok = UsoCatalogVersionMatches(NULL);
	CommitTransactionCommand();
	return ok;
}

void
uso_scheduler_main(Datum arg)
{
	Oid			dboid = DatumGetObjectId(arg);
	bool		first = true;
	MemoryContext loop_cxt;

	pqsignal(SIGTERM, die);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	UsoShmemAttach();

	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	pgstat_report_appname("uso_tasks scheduler");
	/*
	 * The scheduler runs as the bootstrap superuser: a database or role
	 * default search_path (ALTER DATABASE ... SET search_path) must not let
	 * anyone's operators or functions into its statements.
	 */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);
	/*
	 * Its writes need no WAL flush of their own: a run it queued is acted on
	 * only by transactions whose commit flushes the WAL up to and past it,
	 * and a lost next_run_at is a missed slot, caught up at restart.
	 */
	SetConfigOption("synchronous_commit", "off", PGC_SUSET, PGC_S_SESSION);

	/*
	 * Without the extension in this database there is nothing to do, ever.
	 * Nor in a template: a connected scheduler would block CREATE DATABASE
	 * ... TEMPLATE; the databases made from it get their own scheduler.
	 */
	StartTransactionCommand();
	SchedSchema = UsoCatalogSchema();
	{
		HeapTuple	tup = SearchSysCache1(DATABASEOID, ObjectIdGetDatum(dboid));

		if (HeapTupleIsValid(tup))
		{
			if (((Form_pg_database) GETSTRUCT(tup))->datistemplate)
				SchedSchema = NULL;
			ReleaseSysCache(tup);
		}
	}
	CommitTransactionCommand();
	if (SchedSchema == NULL)
	{
		UsoNoteSchedulerExit(dboid, USO_SCHED_EXIT_UNWANTED);
		proc_exit(0);
	}

	/*
	 * Only a database with the extension takes one of the USO_MAX_DATABASES
	 * slots: on a server with many databases, those without it never crowd
	 * out one that has it.
	 */
	ClaimSlot(dboid);
	before_shmem_exit(ReleaseSlot, ObjectIdGetDatum(dboid));
	/* A library and a catalog of different versions never work together. */
	if (!UsoAwaitCatalogVersion(MySchedSlot))
		proc_exit(0);

	InitState();
	loop_cxt = AllocSetContextCreate(TopMemoryContext, "uso_tasks scheduler loop",
									 ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		bool		catalog_changed;
		bool		runs_queued;
		bool		stop;
		TimestampTz now;
		TimestampTz wake;
		long		timeout_ms;

		MemoryContextSwitchTo(loop_cxt);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		LWLockAcquire(UsoShared->lock, LW_EXCLUSIVE);
		catalog_changed = MySchedSlot->catalog_changed || first;
		runs_queued = MySchedSlot->runs_queued || first;
		stop = MySchedSlot->stop_requested;
		MySchedSlot->catalog_changed = false;
		MySchedSlot->runs_queued = false;
		LWLockRelease(UsoShared->lock);
		if (stop)
			proc_exit(0);

		now = GetCurrentTimestamp();
		if (first)
		{
			List	   *live = NIL;

			PoolAdoptLiveWorkers();
			PoolCountLive(&live);
			StoreCloseInterrupted(live);
		}
		if (catalog_changed && !first && !CatalogStillMatches())
			proc_exit(1);		/* restarted: waits in UsoAwaitCatalogVersion */
		if (catalog_changed)
			StoreLoadTasks(now, first);
		if (first)
			StoreResolveAdopted();
		if (runs_queued)
			StoreLoadQueuedRuns();
		if (first)
			MySchedSlot->reboot_done = true;
		first = false;

		PoolCollect();
		now = GetCurrentTimestamp();
		if (uso_scheduler_enabled)
			ProcessDue(now);
		wake = PromoteTimedRuns(now);
		if (!StoreFlush())
		{
			/* The extension went away under us (DROP EXTENSION). */
			proc_exit(0);
		}
		PoolDispatch();

		if (uso_scheduler_enabled && HeapSize > 0)
			wake = Min(wake, Heap[0]->next_run);
		wake = Min(wake, PoolEnforceTimeouts(GetCurrentTimestamp()));
		now = GetCurrentTimestamp();
		/* Finishing workers wake us; retiring ones elsewhere and adopted ones do not. */
		/* Writes deferred by another transaction's row lock are retried soon. */
		if (PoolWaitingForRoom || PoolHasUnwatchedWorkers() || StoreHasDeferred())
			wake = Min(wake, now + 250 * 1000);
		if (wake == DT_NOEND)
			timeout_ms = -1;
		else if (wake <= now)
			timeout_ms = 0;
		else
			timeout_ms = (long) Min((wake - now + 999) / 1000, (int64) 3600 * 1000);

		timeout_ms = SchedStatusBeat(timeout_ms);

		MemoryContextReset(loop_cxt);
		if (timeout_ms != 0)
		{
			(void) WaitLatch(MyLatch,
							 WL_LATCH_SET | WL_EXIT_ON_PM_DEATH |
							 (timeout_ms > 0 ? WL_TIMEOUT : 0),
							 timeout_ms, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
		}
	}
}
