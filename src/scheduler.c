/*-------------------------------------------------------------------------
 * scheduler.c
 *	  The per-database scheduler: its startup and slot, and the loop that
 *	  orchestrates the rest.  The state (sched_state.c: tasks, due heap, runs,
 *	  ready queue) decides; the store (sched_store.c, sched_flush.c) reads
 *	  rows and writes decisions; the pool (sched_pool.c) reports ended runs
 *	  and places ready ones; the clock (sched_clock.c) gives now and sleeps.
 *	  Only this file calls the state, and none of them calls back into it
 *	  or into this file.  One shortcut between them: the store hands the
 *	  role actors it reads with the tasks straight to the pool
 *	  (StoreReadActors -> PoolAddActors), as they are read in one pass.
 *
 * Idle costs nothing: with nothing due the loop sleeps until the next due
 * time.  Catalog changes arrive as a flag in shared memory set at commit by
 * a trigger on uso_task; the scheduler's own writes (next_run_at,
 * last_run_at) do not fire it.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <signal.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
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
#include "common/hashfn.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "uso_tasks.h"
#include "version.h"
#include "catalog.h"
#include "sched.h"

static void SchedulerLoop(void);

/* The shortest sleep after a busy iteration before a due time wakes it (sched loop). */
#define USO_BUSY_PERIOD_US	1000
/*
 * Run ends are counted (uso_task_stats) and alerted in batches, at most this
 * long after the scheduler saw a run end or a wake (uso_cancel of a queued
 * run ends it without a worker); uso_deliver_alerts folds what is left too.
 */
#define USO_FOLD_PERIOD_US	200000
#define USO_FOLD_BATCH		20000	/* uso_fold_outcomes' batch */

PGDLLEXPORT void uso_scheduler_main(Datum arg);

static UsoSchedulerSlot *MySchedSlot = NULL;

/*
 * Set when pg_database changed (a database dropped, created or renamed), as
 * this process's transactions take in the invalidations: tasks are bound to
 * a database's OID, so the tasks are read again before the next dispatch,
 * and a task whose database went shows why from its first run on instead of
 * a worker failing to connect.
 */
static bool DatabasesChanged = false;
static uint64 DatabasesSeen = 0;	/* DatabasesDigest() the tasks were read with */

static void
DatabasesChangedCallback(Datum arg, int cacheid, uint32 hashvalue)
{
	DatabasesChanged = true;
}

/*
 * A digest of every database's (OID, name).  pg_database also changes when
 * VACUUM advances a datfrozenxid; only a change of this digest reloads the
 * tasks, which for a million tasks takes seconds.
 */
static uint64
DatabasesDigest(void)
{
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tup;
	uint64		digest = 0;

	StartTransactionCommand();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);
		uint64		one = hash_bytes_extended((const unsigned char *) NameStr(db->datname),
											  strlen(NameStr(db->datname)), db->oid);

		digest += one;			/* order-free: the scan order is not fixed */
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	return digest;
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
			/* Another database's slot: its @reboot runs are not ours. */
			if (slot->dboid != dboid)
				slot->reboot_done = false;
			slot->dboid = dboid;
			slot->pid = MyProcPid;
			slot->latch = MyLatch;
			slot->stop_requested = false;
			slot->catalog_changed = false;
			slot->runs_queued = false;
			slot->runs_waiting = 0;
			slot->workers_starved = false;
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

/* ---------- the loop: the only place that calls store, state and pool ---------- */

static SchedState *State = NULL;
static MemoryContext SchedContext = NULL;	/* the state's memory, for the process's life */

static void *
HostAlloc(size_t size)
{
	return MemoryContextAllocHuge(SchedContext, size);
}

static void
HostFree(void *p)
{
	pfree(p);
}

static void
HostFail(const char *msg)
{
	/* An impossible transition: restart the scheduler rather than go on wrong. */
	ereport(ERROR,
			(errcode(ERRCODE_INTERNAL_ERROR),
			 errmsg("%s", msg),
			 errhint("The scheduler restarts and rebuilds its state from the catalog.")));
}

static double
HostRandom(void)
{
	return pg_prng_double(&pg_global_prng_state);
}

static const SchedHost ServerHost = {HostAlloc, HostFree, HostFail, HostRandom};

/*
 * The slot's reboot_done, under the lock as shmem.h says of every slot
 * field: ClaimSlot of the next scheduler to take the slot writes it too,
 * and the lock is what orders that write after this one.  Read on the
 * first iteration only and written once, so the lock costs nothing.
 */
static bool
RebootDone(void)
{
	bool		done;

	LWLockAcquire(UsoShared->lock, LW_SHARED);
	done = MySchedSlot->reboot_done;
	LWLockRelease(UsoShared->lock);
	return done;
}

static void
SetRebootDone(void)
{
	LWLockAcquire(UsoShared->lock, LW_EXCLUSIVE);
	MySchedSlot->reboot_done = true;
	LWLockRelease(UsoShared->lock);
}

/* Task rows -> state. */
static void
FeedTasks(bool first, TimestampTz now)
{
	SchedTaskRow *rows;
	int			n;
	int64		n_loaded = 0;
	bool		reboot_pending = first && !RebootDone();

	StoreReadActors();
	StoreOpenTasks();
	while ((n = StoreNextTasks(&rows)) > 0)
	{
		n_loaded += n;
		for (int i = 0; i < n; i++)
			SchedStateTaskRow(State, &rows[i], first, reboot_pending, uso_scheduler_enabled, now);
		CHECK_FOR_INTERRUPTS();
	}
	SchedStateEndLoad(State);
	StoreCloseTasks();
#ifdef __GLIBC__
	/*
	 * A load of many tasks frees as much as it keeps (the batches, the old
	 * copies of changed rows, the state's arrays as they grew): give it back
	 * to the system rather than keep it resident for the process's life.
	 */
	if (n_loaded >= 100000)
		malloc_trim(0);
#endif
}

/* Queued run rows -> state. */
static void
FeedQueuedRuns(TimestampTz now)
{
	StoreRunRow *rows;
	int			n = StoreReadQueuedRuns(&rows);

	SchedStateBeginQueued(State);
	for (int i = 0; i < n; i++)
		SchedStateQueuedRow(State, rows[i].run_id, rows[i].task_id, rows[i].attempt,
							rows[i].due, rows[i].trigger, now);
	SchedStateEndQueued(State, now);
}

/* What the pool saw end -> store (remote outcomes) and state.  Returns how many. */
static int
FeedPoolEvents(TimestampTz now)
{
	PoolEvent  *ev;
	int			n = PoolCollect(&ev);
	int64	   *died = palloc(sizeof(int64) * Max(n, 1));
	int			ndied = 0;

	/*
	 * A worker that died may have committed its run's end first: its row,
	 * not its death, says how the run ended (no failure, no retry).
	 */
	for (int i = 0; i < n; i++)
		if (ev[i].outcome == SO_DIED || ev[i].outcome == SO_TIMEOUT_KILLED)
			died[ndied++] = ev[i].run_id;
	if (ndied > 0)
	{
		StoreRunEnd *ends;
		int			k = StoreReadRunEnds(died, ndied, &ends);

		for (int j = 0; j < k; j++)
			for (int i = 0; i < n; i++)
				if (ev[i].run_id == ends[j].run_id &&
					(ev[i].outcome == SO_DIED || ev[i].outcome == SO_TIMEOUT_KILLED))
					ev[i].outcome = ends[j].outcome;
	}
	for (int i = 0; i < n; i++)
	{
		if (ev[i].remote)
			StoreQueueRemoteFinish(ev[i].run_id, ev[i].remote_outcome, ev[i].started,
								   ev[i].sqlstate, ev[i].tag, ev[i].message);
		SchedStateRunEnded(State, ev[i].run_id, ev[i].outcome, now);
	}
	return n;
}

/* State's decisions -> store; what was written -> state.  False: catalog gone. */
static bool
Flush(void)
{
	StoreFlushResult res;
	TimestampTz now;

	if (!StoreFlush(SchedStateTakeDecisions(State), &res))
		return false;
	SchedStateClearDecisions(State);
	now = SchedNow();
	for (int i = 0; i < res.n_settled; i++)
		SchedStateNewRunSettled(State, res.settled[i]);
	for (int i = 0; i < res.n_written; i++)
		SchedStateRunInserted(State, res.written[i].run_id, res.written[i].task_id,
							  res.written[i].attempt, res.written[i].due,
							  res.written[i].trigger, now);
	for (int i = 0; i < res.n_deferred_dirty; i++)
		SchedStateMarkDirty(State, res.deferred_dirty[i]);
	return true;
}

/* Ready runs -> pool; what it placed -> state.  Returns: runs wait for room. */
static bool
Dispatch(int *nplaced)
{
	SchedCandidate *cands;
	int			n = SchedStateCandidates(State, &cands, SchedNow());
	int64	   *placed = palloc(sizeof(int64) * Max(n, 1));
	bool		waiting;
	int			k = PoolDispatch(cands, n, placed, &waiting);
	TimestampTz now = SchedNow();

	for (int i = 0; i < k; i++)
		SchedStateDispatched(State, placed[i], now);
	*nplaced = k;
	return waiting;
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

/*
 * read -> state -> write -> results back -> pool -> state -> sleep until
 * the state's next wake-up.  The wake-up is computed last, after every
 * write of the iteration: a retry, a run_at or a dispatched run's timeout
 * created by this iteration is in it.
 */
/* For the status view: runs waiting for their time or a worker, and dispatched ones. */
static void
CountRunStates(const SchedRunView *run, void *arg)
{
	int		   *counts = arg;

	if (run->state == SR_DISPATCHED)
		counts[1]++;
	else if (run->state != SR_ENDED)
		counts[0]++;
}

static void
SchedulerLoop(void)
{
	bool		first = true;
	bool		chains_pending = false;	/* entries left in uso_chain_pending */
	bool		fold_pending = false;	/* run ends not yet folded */
	bool		reboot_unwritten = false;	/* @reboot runs decided, not all committed */
	TimestampTz folded_at = 0;
	MemoryContext loop_cxt;

	SchedContext = AllocSetContextCreate(TopMemoryContext, "uso_tasks scheduler",
										 ALLOCSET_DEFAULT_SIZES);
	State = SchedStateCreate(&ServerHost, MyDatabaseId, (int64) uso_timeout_grace_ms * 1000);
	loop_cxt = AllocSetContextCreate(TopMemoryContext, "uso_tasks scheduler loop",
									 ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		bool		catalog_changed;
		bool		roles_changed;
		bool		runs_queued;
		bool		stop;
		bool		waiting;
		bool		busy;
		int			nplaced = 0;
		TimestampTz iter_start;
		TimestampTz now;
		TimestampTz wake;
		long		timeout_ms;

		MemoryContextSwitchTo(loop_cxt);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			SchedStateSetTimeoutGrace(State, (int64) uso_timeout_grace_ms * 1000);
		}

		LWLockAcquire(UsoShared->lock, LW_EXCLUSIVE);
		catalog_changed = MySchedSlot->catalog_changed || first;
		roles_changed = MySchedSlot->roles_changed;
		MySchedSlot->roles_changed = false;
		runs_queued = MySchedSlot->runs_queued || first;
		chains_pending |= MySchedSlot->chains_pending || first;
		MySchedSlot->chains_pending = false;
		stop = MySchedSlot->stop_requested;
		MySchedSlot->catalog_changed = false;
		MySchedSlot->runs_queued = false;
		LWLockRelease(UsoShared->lock);
		if (stop)
			proc_exit(0);

		now = SchedNow();
		if (first)
		{
			int64	   *live;
			int			nlive = PoolAdoptLiveWorkers(&live);
			StoreRunRow *adopted;
			int			nadopted;

			StoreCloseInterrupted(live, nlive, !RebootDone());
			DatabasesSeen = DatabasesDigest();
			FeedTasks(true, now);
			/* Runs a previous scheduler process dispatched count once tasks are known. */
			nadopted = StoreReadRunTasks(live, nlive, &adopted);
			for (int i = 0; i < nadopted; i++)
				SchedStateAdoptRun(State, adopted[i].run_id, adopted[i].task_id,
								   adopted[i].attempt, now);
		}
		else if (catalog_changed)
		{
			if (!CatalogStillMatches())
				proc_exit(1);	/* restarted: waits in UsoAwaitCatalogVersion */
			FeedTasks(false, now);
			/*
			 * An idle worker stays connected as a role that was dropped, made
			 * NOLOGIN or lost CONNECT; a task that can no longer run is not
			 * dispatched to it, so it would never notice: retire them all
			 * (the next run of each owner starts a fresh one).
			 */
			if (roles_changed)
				PoolRetireIdle();
		}
		/*
		 * Followers' runs whose task row was locked when the run they follow
		 * ended: queued here once the lock goes (a wake says there are some).
		 */
		if (chains_pending)
		{
			chains_pending = StoreQueuePendingFollowers() > 0;
			runs_queued = true;
		}
		if (runs_queued)
			FeedQueuedRuns(now);
		reboot_unwritten |= first && !RebootDone();
		first = false;

		iter_start = SchedNow();
		if (FeedPoolEvents(iter_start) > 0)
			fold_pending = true;
		if (DatabasesChanged)
		{
			uint64		digest;

			DatabasesChanged = false;
			digest = DatabasesDigest();
			if (digest != DatabasesSeen)
			{
				DatabasesSeen = digest;
				FeedTasks(false, SchedNow());
			}
		}
		SchedStateAdvance(State, SchedNow(), uso_scheduler_enabled);
		busy = SchedStateHasDecisions(State);
		if (!Flush())
			proc_exit(0);		/* the extension went away under us (DROP EXTENSION) */
		waiting = Dispatch(&nplaced);
		busy = busy || nplaced > 0;
		fold_pending |= busy || runs_queued || catalog_changed;
		/* What dispatching decided (closes, remote starts) is written now, not at some later wake. */
		if (SchedStateHasDecisions(State) && !Flush())
			proc_exit(0);
		/*
		 * This start's @reboot runs are decided once: done only when they
		 * are committed (none waits for its task row's lock).  An ERROR
		 * before (the process exits, and is started again) decides them
		 * again, replacing a queued one already written
		 * (StoreCloseInterrupted), so none is lost.
		 */
		if (reboot_unwritten && !StoreHasDeferredTrigger("startup"))
		{
			SetRebootDone();
			reboot_unwritten = false;
		}

		now = SchedNow();
		if (fold_pending && (now - folded_at >= USO_FOLD_PERIOD_US || now < folded_at))
		{
			/* a full batch: more wait (USO_FOLD_BATCH rows per call) */
			fold_pending = StoreFoldOutcomes() >= USO_FOLD_BATCH;
			folded_at = now;
			now = SchedNow();
		}
		wake = SchedStateNextWake(State, uso_scheduler_enabled, now);
		wake = Min(wake, PoolEnforceTimeouts(now));
		if (fold_pending)
			wake = Min(wake, folded_at + USO_FOLD_PERIOD_US);
		/* Finishing workers wake us; retiring ones elsewhere and adopted ones do not. */
		/*
		 * Writes deferred by another transaction's row lock are retried soon:
		 * new runs the store keeps, next/last run times the state keeps.
		 */
		if (waiting || PoolHasUnwatchedWorkers() || StoreHasDeferred() || chains_pending ||
			SchedStateHasDecisions(State))
			wake = Min(wake, now + 250 * 1000);
		/*
		 * Under load, due times are taken in batches: an iteration that wrote
		 * or dispatched something sleeps at least USO_BUSY_PERIOD_US from its
		 * start before the next due time wakes it, so runs due within that
		 * period share one transaction and one dispatch (at 6,000 runs/s
		 * with spread due times an iteration per due run cost ~370 us of
		 * scheduler CPU per run).  Latch wakes (a run ended, uso_run_now,
		 * a catalog change) are not delayed.
		 */
		if (busy && wake != DT_NOEND)
			wake = Max(wake, iter_start + USO_BUSY_PERIOD_US);
		if (wake == DT_NOEND)
			timeout_ms = -1;
		else if (wake <= now)
			timeout_ms = 0;
		else
			timeout_ms = (long) Min((wake - now + 999) / 1000, (int64) 3600 * 1000);

		/*
		 * The heartbeat of uso_scheduler_status: at most every few seconds,
		 * even idle.  Its run counts walk every run, so under load (many
		 * short iterations a second) they are recounted at most every
		 * 250 ms; before a longer sleep they are always exact.
		 */
		{
			static int	counts[2] = {0, 0};	/* queued, running */
			static TimestampTz counted_at = 0;

			if (timeout_ms < 0 || timeout_ms >= 250 ||
				now - counted_at >= 250 * 1000 || now < counted_at)
			{
				counts[0] = counts[1] = 0;
				SchedStateForEachRun(State, CountRunStates, counts);
				counted_at = now;
			}
			timeout_ms = SchedStatusBeat(timeout_ms, SchedStateTaskCount(State),
										 counts[0], counts[1]);
		}

		MemoryContextReset(loop_cxt);
		sched_clock->wait(timeout_ms);
	}
}

void
uso_scheduler_main(Datum arg)
{
	Oid			dboid = DatumGetObjectId(arg);

	pqsignal(SIGTERM, die);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	/* pg_cancel_backend has no statement to cancel here (pg_cron's launcher does the same) */
	pqsignal(SIGINT, SIG_IGN);
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
	 * Nor may the database's owner stop it with a default that fails every
	 * statement of its own (ALTER DATABASE ... SET
	 * default_transaction_read_only = on, statement_timeout = 1ms): writing
	 * the catalog is its job, and its statements are short by design
	 * (t/134_review_db_defaults.pl).
	 */
	SetConfigOption("default_transaction_read_only", "off", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("statement_timeout", "0", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("lock_timeout", "0", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("idle_in_transaction_session_timeout", "0", PGC_SUSET, PGC_S_OVERRIDE);
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
	CacheRegisterSyscacheCallback(DATABASEOID, DatabasesChangedCallback, (Datum) 0);
	before_shmem_exit(ReleaseSlot, ObjectIdGetDatum(dboid));
	/* A library and a catalog of different versions never work together. */
	if (!UsoAwaitCatalogVersion(MySchedSlot))
		proc_exit(0);

	SchedulerLoop();
}
