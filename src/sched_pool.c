/*-------------------------------------------------------------------------
 * sched_pool.c
 *	  The scheduler's side of the executor pool: hand ready runs to idle
 *	  workers of the right (database, role), start new workers up to
 *	  uso_tasks.max_workers, retire idle ones of other keys when the pool is
 *	  full, and notice finished runs and dead workers.
 *
 * Workers this scheduler started report to it (bgw_notify_pid), so their
 * exit wakes it.  Workers adopted from a previous scheduler process have no
 * handle and are checked every loop instead.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/lwlock.h"
#include "utils/memutils.h"

#include "uso_tasks.h"
#include "sched.h"
#include "sched_pool_view.h"

static bool warned_no_slots = false;

/* Handles of the workers this process registered, by slot number. */
static BackgroundWorkerHandle **Handles = NULL;

static void
EnsureHandles(void)
{
	if (Handles == NULL)
		Handles = MemoryContextAllocZero(TopMemoryContext,
										 sizeof(BackgroundWorkerHandle *) * UsoShared->max_workers);
}

/*
 * After a scheduler restart its workers may still be running: their runs
 * are returned so overlap rules and bookkeeping stay right (the caller
 * adopts them), and slots whose process died with the previous scheduler
 * are freed (their runs are closed at startup).
 */
int
PoolAdoptLiveWorkers(int64 **run_ids)
{
	int64	   *ids = palloc(sizeof(int64) * Max(UsoShared->max_workers, 1));
	int			n = 0;

	EnsureHandles();
	LWLockAcquire(UsoShared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < UsoShared->max_workers; i++)
	{
		UsoWorkerSlot *w = &UsoShared->workers[i];

		if (w->state == USO_WORKER_FREE || w->sched_dboid != MyDatabaseId)
			continue;
		if (w->pid == 0 || kill(w->pid, 0) != 0)
		{
			memset(w, 0, offsetof(UsoWorkerSlot, generation));
			continue;
		}
		if (w->run_id != 0)
			ids[n++] = w->run_id;
	}
	LWLockRelease(UsoShared->lock);
	*run_ids = ids;
	return n;
}

bool
PoolHasUnwatchedWorkers(void)
{
	bool		result = false;

	EnsureHandles();
	LWLockAcquire(UsoShared->lock, LW_SHARED);
	for (int i = 0; i < UsoShared->max_workers && !result; i++)
	{
		UsoWorkerSlot *w = &UsoShared->workers[i];

		if (w->state != USO_WORKER_FREE && w->sched_dboid == MyDatabaseId &&
			Handles[i] == NULL)
			result = true;
	}
	LWLockRelease(UsoShared->lock);
	return result;
}

/* Is the process of slot i gone? */
static bool
WorkerGone(int i, UsoWorkerSlot *w)
{
	pid_t		pid;

	if (Handles[i] != NULL)
		return GetBackgroundWorkerPid(Handles[i], &pid) == BGWH_STOPPED;
	if (w->state == USO_WORKER_STARTING)
		return false;
	return w->pid == 0 || kill(w->pid, 0) != 0;
}


/*
 * The backstop behind the executor's own timeout timer: a run still
 * going uso_tasks.timeout_grace after its timeout ignores cancel requests
 * (e.g. stuck in code that does not check for interrupts), so its worker is
 * terminated.  Returns when the next such deadline falls (DT_NOEND: none).
 */
TimestampTz
PoolEnforceTimeouts(TimestampTz now)
{
	TimestampTz next = DT_NOEND;
	pid_t		victims[64];
	int			n = 0;

	LWLockAcquire(UsoShared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < UsoShared->max_workers; i++)
	{
		UsoWorkerSlot *w = &UsoShared->workers[i];
		TimestampTz deadline;

		if (w->sched_dboid != MyDatabaseId || w->state != USO_WORKER_BUSY ||
			w->run_id == 0 || w->run_timeout_ms <= 0 || w->run_started == 0 ||
			w->pid == 0 || w->timeout_killed)
			continue;
		deadline = w->run_started +
			((int64) w->run_timeout_ms + uso_timeout_grace_ms) * 1000;
		if (deadline <= now && n < lengthof(victims))
		{
			w->timeout_killed = true;
			victims[n++] = w->pid;
		}
		else
			next = Min(next, deadline);
	}
	LWLockRelease(UsoShared->lock);
	for (int i = 0; i < n; i++)
	{
		ereport(LOG,
				(errmsg("uso_tasks terminates executor %d: its run ignored its timeout", (int) victims[i])));
		kill(victims[i], SIGTERM);
	}
	return next;
}

/*
 * Collect runs that ended and workers that died, as events for the caller
 * (array in the caller's memory context).
 */
int
PoolCollect(PoolEvent **events)
{
	PoolEvent  *ev = palloc0(sizeof(PoolEvent) * UsoShared->max_workers * 2);
	int			n = 0;
	bool		reload = false;

	EnsureHandles();
	LWLockAcquire(UsoShared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < UsoShared->max_workers; i++)
	{
		UsoWorkerSlot *w = &UsoShared->workers[i];

		if (w->sched_dboid != MyDatabaseId)
			continue;
		if (w->done_run_id != 0)
		{
			PoolEvent  *e = &ev[n++];

			e->run_id = w->done_run_id;
			e->outcome = w->done_outcome == USO_OUTCOME_SUCCEEDED ? SO_SUCCEEDED :
				w->done_outcome == USO_OUTCOME_TIMED_OUT ? SO_TIMED_OUT :
				w->done_outcome == USO_OUTCOME_CANCELLED ? SO_CANCELLED : SO_FAILED;
			e->remote = w->dboid != MyDatabaseId && w->done_outcome != USO_OUTCOME_NONE;
			if (e->remote)
			{
				e->remote_outcome = w->done_outcome;
				e->started = w->done_started;
				memcpy(e->sqlstate, w->done_sqlstate, sizeof(w->done_sqlstate));
				memcpy(e->tag, w->done_tag, sizeof(w->done_tag));
				memcpy(e->message, w->done_message, sizeof(w->done_message));
			}
			w->done_run_id = 0;
		}
		if (w->state != USO_WORKER_FREE && WorkerGone(i, w))
		{
			if (w->run_id != 0)
			{
				PoolEvent  *e = &ev[n++];

				e->run_id = w->run_id;
				e->outcome = w->timeout_killed ? SO_TIMEOUT_KILLED :
					!w->connected ? SO_NEVER_CONNECTED : SO_DIED;
				/*
				 * Its role or database went away: reload, so the task shows
				 * why and its next runs fail at once with that reason.
				 */
				if (!w->connected)
					reload = true;
			}
			w->state = USO_WORKER_FREE;
			w->run_id = 0;
			w->pid = 0;
			w->latch = NULL;
			w->connected = false;
			if (Handles[i] != NULL)
			{
				pfree(Handles[i]);
				Handles[i] = NULL;
			}
		}
	}
	if (reload)
		UsoFindScheduler(MyDatabaseId)->catalog_changed = true;
	LWLockRelease(UsoShared->lock);
	*events = ev;
	return n;
}

/* Register a dynamic executor for slot i; false when the postmaster refuses. */
static bool
StartWorker(int i)
{
	BackgroundWorker worker;
	UsoWorkerSlot *w = &UsoShared->workers[i];

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "uso_tasks");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "uso_executor_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "uso_tasks worker %d", i);
	snprintf(worker.bgw_type, BGW_MAXLEN, "uso_tasks worker");
	worker.bgw_main_arg = Int32GetDatum(i);
	memcpy(worker.bgw_extra, &w->generation, sizeof(uint32));
	worker.bgw_notify_pid = MyProcPid;
	{
		/* The handle outlives this loop iteration's memory. */
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
		bool		ok = RegisterDynamicBackgroundWorker(&worker, &Handles[i]);

		MemoryContextSwitchTo(old);
		return ok;
	}
}

/* A run in another database gets its task through the slot. */
static void
FillRemoteTask(UsoWorkerSlot *w, const SchedCandidate *t)
{
	if (t->dboid == MyDatabaseId)
		return;
	strlcpy(w->task_name, t->name, sizeof(w->task_name));
	strlcpy(w->command, t->command ? t->command : "", sizeof(w->command));
	strlcpy(w->config, t->config ? t->config : "", sizeof(w->config));
	w->timeout_ms = t->timeout_ms;
	w->done_message[0] = '\0';
}

/*
 * An idle worker of ours for (dboid, roleid), and failing that any other
 * idle one (any database's: the pool is shared), or -1.  Caller holds the
 * lock.
 */
static void
FindIdle(Oid dboid, Oid roleid, int *mine, int *other)
{
	*mine = *other = -1;
	for (int i = 0; i < UsoShared->max_workers; i++)
	{
		UsoWorkerSlot *w = &UsoShared->workers[i];

		if (!SlotIdle(w))
			continue;
		if (w->sched_dboid == MyDatabaseId && w->dboid == dboid && w->roleid == roleid)
		{
			*mine = i;
			return;
		}
		if (*other < 0)
			*other = i;
	}
}

/* Hand run t to the idle worker of slot i; caller holds the lock. */
static void
SetSlotActors(UsoWorkerSlot *w, const SchedCandidate *t)
{
	const RoleActors *ra = PoolFindActors(t->roleid);

	w->n_actors = ra != NULL ? ra->n : 0;
	if (w->n_actors > 0)
		memcpy(w->actors, ra->actors, sizeof(Oid) * w->n_actors);
}

static void
AssignIdle(int i, const SchedCandidate *t)
{
	UsoWorkerSlot *w = &UsoShared->workers[i];

	FillRemoteTask(w, t);
	SetSlotActors(w, t);
	w->run_id = t->run_id;
	w->cancel_requested = false;
	w->timeout_killed = false;
	w->run_started = 0;
	w->progress = -1;
	w->state = USO_WORKER_BUSY;
}

/* Reserve free slot i for a new worker that will run t; caller holds the lock. */
static void
ReserveSlot(int i, const SchedCandidate *t)
{
	UsoWorkerSlot *w = &UsoShared->workers[i];

	w->state = USO_WORKER_STARTING;
	w->connected = false;
	w->dboid = t->dboid;
	w->roleid = t->roleid;
	w->sched_dboid = MyDatabaseId;
	w->pid = 0;
	w->latch = NULL;
	w->run_id = t->run_id;
	w->cancel_requested = false;
	w->timeout_killed = false;
	w->run_started = 0;
	w->done_run_id = 0;
	w->progress = -1;
	w->generation++;
	FillRemoteTask(w, t);
	SetSlotActors(w, t);
}

void
PoolRetireIdle(void)
{
	Latch	  **latches = palloc(sizeof(Latch *) * Max(UsoShared->max_workers, 1));
	int			n = 0;

	LWLockAcquire(UsoShared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < UsoShared->max_workers; i++)
	{
		UsoWorkerSlot *w = &UsoShared->workers[i];

		if (w->sched_dboid != MyDatabaseId || !SlotIdle(w))
			continue;
		w->state = USO_WORKER_EXITING;
		if (w->latch != NULL)
			latches[n++] = w->latch;
	}
	LWLockRelease(UsoShared->lock);
	for (int i = 0; i < n; i++)
		SetLatch(latches[i]);
	pfree(latches);
}

/*
 * Tell the other schedulers how many of our runs wait for room, and the
 * status view whether no executor could start (max_worker_processes).
 */
static void
PublishWaiting(int waiting, bool starved)
{
	static int	published = 0;
	static bool published_starved = false;

	if (waiting == published && starved == published_starved)
		return;
	LWLockAcquire(UsoShared->lock, LW_EXCLUSIVE);
	{
		UsoSchedulerSlot *me = UsoFindScheduler(MyDatabaseId);

		if (me != NULL)
		{
			me->runs_waiting = waiting;
			me->workers_starved = starved;
		}
	}
	LWLockRelease(UsoShared->lock);
	published = waiting;
	published_starved = starved;
}

/*
 * The postmaster is out of background worker slots (max_worker_processes):
 * give slot i back and make room as when our pool is full.
 */
static void
StartFailed(int i, const SchedCandidate *t)
{
	int			mine,
				other;
	Latch	   *latch = NULL;

	LWLockAcquire(UsoShared->lock, LW_EXCLUSIVE);
	UsoShared->workers[i].state = USO_WORKER_FREE;
	UsoShared->workers[i].run_id = 0;
	FindIdle(t->dboid, t->roleid, &mine, &other);
	if (other >= 0)
	{
		UsoShared->workers[other].state = USO_WORKER_EXITING;
		latch = UsoShared->workers[other].latch;
	}
	LWLockRelease(UsoShared->lock);
	if (latch != NULL)
		SetLatch(latch);
	if (!warned_no_slots)
	{
		ereport(LOG,
				(errmsg("uso_tasks could not start an executor worker: "
						"max_worker_processes is exhausted"),
				 errhint("Raise max_worker_processes above uso_tasks.max_workers + "
						 "the number of databases + 2.")));
		warned_no_slots = true;
	}
}

/*
 * Hand ready runs to workers, in order: to an idle worker of the run's
 * (database, role), or a new one in a free slot, within the pool's limit
 * and the shares of its database and role (DatabaseCap, RoleCap); when the
 * pool is full an idle worker of another owner is retired to make room.
 * Owners take turns: a first pass places at most one run per role before a
 * second pass places the rest, so one role's long queue does not keep
 * another role's run waiting.  The walk stops as soon as nothing more can
 * be placed (this database holds its share, or the pool is full with
 * nothing idle).  Runs that find no worker stay ready with the caller for
 * the next iteration (a finishing worker wakes us; a poll covers room freed
 * elsewhere: *waiting_for_room).  Returns how many went into placed[].
 */
int
PoolDispatch(SchedCandidate *cands, int n, int64 *placed, bool *waiting_for_room)
{
	PoolView	v;
	bool	   *done;
	int		   *started;		/* candidate index per slot reserved, or -1 */
	Latch	  **latches;
	int			nlatches = 0;
	int			nplaced = 0;
	int			room_waiting = 0;
	bool		stop = false;
	bool		start_failed = false;

	*waiting_for_room = false;
	if (n == 0)
	{
		PublishWaiting(0, false);
		return 0;
	}
	EnsureHandles();
	done = palloc0(sizeof(bool) * n);
	started = palloc(sizeof(int) * Max(UsoShared->max_workers, 1));
	latches = palloc(sizeof(Latch *) * Max(UsoShared->max_workers, 1));
	for (int i = 0; i < UsoShared->max_workers; i++)
		started[i] = -1;

	LWLockAcquire(UsoShared->lock, LW_EXCLUSIVE);
	TakeView(&v, cands, n);
	for (int pass = 0; pass < 2 && !stop; pass++)
	{
		for (int i = 0; i < n && !stop; i++)
		{
			SchedCandidate *c = &cands[i];
			RoleCount  *rc = ViewRole(&v, c->roleid);
			int			mine,
						other;

			if (done[i] || (pass == 0 && rc->had_turn))
				continue;
			if (ViewDb(&v, c->dboid)->held >= v.db_cap)
			{
				*waiting_for_room = true;
				/* Every candidate runs in this database: none fits now. */
				if (!v.any_remote)
				{
					stop = true;
					break;
				}
				continue;
			}
			/* Waits for its owner's runs (or a login's that may act as it), not for room. */
			if (RoleAtCap(&v, c))
			{
				*waiting_for_room = true;
				continue;
			}
			FindIdle(c->dboid, c->roleid, &mine, &other);
			if (mine >= 0)
			{
				AssignIdle(mine, c);
				if (UsoShared->workers[mine].latch != NULL)
					latches[nlatches++] = UsoShared->workers[mine].latch;
			}
			else if (v.next_free < v.n_free && v.live < v.limit)
			{
				int			slot = v.free_slots[v.next_free++];

				ReserveSlot(slot, c);
				started[slot] = i;
				v.live++;
			}
			else if (other >= 0)
			{
				/* Full: make room by retiring an idle worker of another owner. */
				UsoShared->workers[other].state = USO_WORKER_EXITING;
				if (UsoShared->workers[other].latch != NULL)
					latches[nlatches++] = UsoShared->workers[other].latch;
				*waiting_for_room = true;
				continue;
			}
			else
			{
				/* Full, nothing idle anywhere: nothing else fits either. */
				*waiting_for_room = true;
				stop = true;
				break;
			}
			done[i] = true;
			ViewPlaced(&v, c);
		}
	}
	/*
	 * What the other schedulers see as our runs waiting for room (and make
	 * room for, by taking a smaller share): not the runs that wait because
	 * their owner holds its cap, which room elsewhere would not start.
	 */
	for (int i = 0; i < n; i++)
		if (!done[i] && !RoleAtCap(&v, &cands[i]))
			room_waiting++;
	LWLockRelease(UsoShared->lock);

	/* New workers are registered outside the lock, then the runs are listed in order. */
	for (int slot = 0; slot < UsoShared->max_workers; slot++)
	{
		if (started[slot] < 0)
			continue;
		if (Handles[slot] != NULL)
		{
			pfree(Handles[slot]);
			Handles[slot] = NULL;
		}
		if (!StartWorker(slot))
		{
			start_failed = true;
			StartFailed(slot, &cands[started[slot]]);
			done[started[slot]] = false;
			*waiting_for_room = true;
		}
	}
	for (int i = 0; i < n; i++)
		if (done[i])
			placed[nplaced++] = cands[i].run_id;
	for (int i = 0; i < nlatches; i++)
		SetLatch(latches[i]);
	pfree(done);
	pfree(started);
	pfree(latches);
	pfree(v.free_slots);
	pfree(v.roles);
	pfree(v.dbs);
	PublishWaiting(*waiting_for_room ? room_waiting : 0, start_failed);
	return nplaced;
}
