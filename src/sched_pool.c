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

/* Set by PoolDispatch when a ready run found no room in the pool. */
bool		PoolWaitingForRoom = false;

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

/* Runs that workers of this database are executing right now. */
void
PoolCountLive(List **run_ids)
{
	LWLockAcquire(UsoShared->lock, LW_SHARED);
	for (int i = 0; i < UsoShared->max_workers; i++)
	{
		UsoWorkerSlot *w = &UsoShared->workers[i];

		if (w->state != USO_WORKER_FREE && w->sched_dboid == MyDatabaseId &&
			w->run_id != 0 && w->pid != 0)
		{
			int64	   *id = MemoryContextAlloc(SchedContext, sizeof(int64));

			*id = w->run_id;
			*run_ids = lappend(*run_ids, id);
		}
	}
	LWLockRelease(UsoShared->lock);
}

/*
 * After a scheduler restart its workers may still be running: their runs
 * are known again so overlap rules and bookkeeping stay right.
 */
void
PoolAdoptLiveWorkers(void)
{
	List	   *live = NIL;
	ListCell   *lc;

	EnsureHandles();
	LWLockAcquire(UsoShared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < UsoShared->max_workers; i++)
	{
		UsoWorkerSlot *w = &UsoShared->workers[i];

		if (w->state == USO_WORKER_FREE || w->sched_dboid != MyDatabaseId)
			continue;
		if (w->pid == 0 || kill(w->pid, 0) != 0)
		{
			/* Died with the previous scheduler; its run is closed at startup. */
			memset(w, 0, offsetof(UsoWorkerSlot, generation));
			continue;
		}
		if (w->run_id != 0)
		{
			int64	   *id = MemoryContextAlloc(SchedContext, sizeof(int64) * 2);

			id[0] = w->run_id;
			live = lappend(live, id);
		}
	}
	LWLockRelease(UsoShared->lock);
	foreach(lc, live)
	{
		SchedRun   *run;
		bool		found;
		int64		run_id = *(int64 *) lfirst(lc);

		run = hash_search(SchedRuns, &run_id, HASH_ENTER, &found);
		run->task_id = 0;		/* unknown until it ends; counts nothing */
		run->attempt = 1;
		run->due = 0;
		run->counted = false;	/* StoreResolveAdopted counts it */
		run->dispatched = true;
	}
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
 * The backstop behind the executor's own statement timeout: a run still
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

typedef struct Ended
{
	int64		run_id;
	UsoRunOutcome outcome;
	bool		died;
	bool		timeout_killed;
	bool		never_connected;
	bool		remote;
	TimestampTz started;
	char		sqlstate[6];
	char		tag[64];
	char		message[USO_REMOTE_MESSAGE_LEN];
} Ended;

/* Collect runs that ended and workers that died. */
void
PoolCollect(void)
{
	Ended	   *ended = palloc(sizeof(Ended) * UsoShared->max_workers * 2);
	int			n = 0;

	EnsureHandles();
	LWLockAcquire(UsoShared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < UsoShared->max_workers; i++)
	{
		UsoWorkerSlot *w = &UsoShared->workers[i];

		if (w->sched_dboid != MyDatabaseId)
			continue;
		if (w->done_run_id != 0)
		{
			ended[n].run_id = w->done_run_id;
			ended[n].outcome = w->done_outcome;
			ended[n].died = false;
			ended[n].timeout_killed = false;
			ended[n].never_connected = false;
			ended[n].remote = w->dboid != MyDatabaseId;
			if (ended[n].remote)
			{
				ended[n].started = w->done_started;
				memcpy(ended[n].sqlstate, w->done_sqlstate, sizeof(w->done_sqlstate));
				memcpy(ended[n].tag, w->done_tag, sizeof(w->done_tag));
				memcpy(ended[n].message, w->done_message, sizeof(w->done_message));
			}
			n++;
			w->done_run_id = 0;
		}
		if (w->state != USO_WORKER_FREE && WorkerGone(i, w))
		{
			if (w->run_id != 0)
			{
				ended[n].run_id = w->run_id;
				ended[n].outcome = USO_OUTCOME_FAILED;
				ended[n].died = true;
				ended[n].timeout_killed = w->timeout_killed;
				ended[n].never_connected = !w->connected;
				ended[n].remote = false;
				n++;
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
	LWLockRelease(UsoShared->lock);

	for (int i = 0; i < n; i++)
	{
		if (ended[i].remote && ended[i].outcome != USO_OUTCOME_NONE)
			StoreQueueRemoteFinish(ended[i].run_id, ended[i].outcome, ended[i].started,
								   ended[i].sqlstate, ended[i].tag, ended[i].message);
		if (ended[i].never_connected)
		{
			/*
			 * Its role or database went away: reload, so the task shows
			 * why and its next runs fail at once with that reason.
			 */
			LWLockAcquire(UsoShared->lock, LW_EXCLUSIVE);
			UsoFindScheduler(MyDatabaseId)->catalog_changed = true;
			LWLockRelease(UsoShared->lock);
			SetLatch(MyLatch);
		}
		if (ended[i].timeout_killed)
		{
			StoreQueueCloseAs(ended[i].run_id, "timed_out",
							  "run exceeded its timeout and did not respond to cancel; "
							  "its worker was terminated");
			SchedRunEnded(ended[i].run_id, USO_OUTCOME_TIMED_OUT, NULL);
			continue;
		}
		SchedRunEnded(ended[i].run_id, ended[i].outcome,
					  !ended[i].died ? NULL :
					  ended[i].never_connected ?
					  "the executor worker could not connect to the task's database as its "
					  "owner (role or database dropped, or connection refused); see the "
					  "server log" :
					  "the executor worker running this run exited before it finished "
					  "(terminated by pg_terminate_backend or crashed)");
	}
	pfree(ended);
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
FillRemoteTask(UsoWorkerSlot *w, SchedTask *t)
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
 * Hand each ready run to a worker.  Runs that find none stay ready, in
 * order, for the next iteration (a finishing worker wakes us).
 */
void
PoolDispatch(void)
{
	List	   *still_ready = NIL;
	ListCell   *lc;
	MemoryContext old;

	PoolWaitingForRoom = false;
	if (ReadyRuns == NIL)
		return;
	EnsureHandles();
	foreach(lc, ReadyRuns)
	{
		SchedRun   *run = lfirst(lc);
		SchedTask  *t = SchedLookupTask(run->task_id);
		int			idle = -1,
					freeslot = -1,
					other_idle = -1,
					live = 0;
		Latch	   *latch = NULL;
		bool		placed = false;

		if (t == NULL)
		{
			SchedRunEnded(run->run_id, USO_OUTCOME_CANCELLED, NULL);
			continue;
		}
		if (t->problem != NULL)
		{
			StoreQueueClose(run->run_id, t->problem);
			SchedRunEnded(run->run_id, USO_OUTCOME_CANCELLED, NULL);
			continue;
		}
		if (t->overlap != OVERLAP_PARALLEL && t->running > 0)
		{
			/* Waits for the task's running run to end (overlap skip/queue). */
			old = MemoryContextSwitchTo(SchedContext);
			still_ready = lappend(still_ready, run);
			MemoryContextSwitchTo(old);
			continue;
		}

		LWLockAcquire(UsoShared->lock, LW_EXCLUSIVE);
		for (int i = 0; i < UsoShared->max_workers; i++)
		{
			UsoWorkerSlot *w = &UsoShared->workers[i];

			if (w->state == USO_WORKER_FREE)
			{
				if (freeslot < 0)
					freeslot = i;
				continue;
			}
			live++;
			if (w->state == USO_WORKER_IDLE && w->run_id == 0 && w->done_run_id == 0)
			{
				if (w->sched_dboid == MyDatabaseId &&
					w->dboid == t->dboid && w->roleid == t->roleid)
				{
					if (idle < 0)
						idle = i;
				}
				else if (other_idle < 0)
					other_idle = i;	/* any database's: the pool is shared */
			}
		}
		if (idle >= 0)
		{
			UsoWorkerSlot *w = &UsoShared->workers[idle];

			FillRemoteTask(w, t);
			w->run_id = run->run_id;
			w->cancel_requested = false;
			w->timeout_killed = false;
			w->run_started = 0;
			w->progress = -1;
			w->state = USO_WORKER_BUSY;
			latch = w->latch;
			placed = true;
		}
		else if (freeslot >= 0 && live < Min(uso_max_workers, UsoShared->max_workers))
		{
			UsoWorkerSlot *w = &UsoShared->workers[freeslot];

			w->state = USO_WORKER_STARTING;
			w->connected = false;
			w->dboid = t->dboid;
			w->roleid = t->roleid;
			w->sched_dboid = MyDatabaseId;
			w->pid = 0;
			w->latch = NULL;
			w->run_id = run->run_id;
			w->cancel_requested = false;
			w->timeout_killed = false;
			w->run_started = 0;
			w->done_run_id = 0;
			w->progress = -1;
			w->generation++;
			FillRemoteTask(w, t);
			placed = true;
		}
		else if (other_idle >= 0)
		{
			/* Full: make room by retiring an idle worker of another owner. */
			UsoShared->workers[other_idle].state = USO_WORKER_EXITING;
			latch = UsoShared->workers[other_idle].latch;
		}
		LWLockRelease(UsoShared->lock);

		if (placed && idle < 0)
		{
			if (Handles[freeslot] != NULL)
			{
				pfree(Handles[freeslot]);
				Handles[freeslot] = NULL;
			}
			if (!StartWorker(freeslot))
			{
				/*
				 * The postmaster is out of background worker slots
				 * (max_worker_processes): make room as when our pool is full.
				 */
				LWLockAcquire(UsoShared->lock, LW_EXCLUSIVE);
				UsoShared->workers[freeslot].state = USO_WORKER_FREE;
				UsoShared->workers[freeslot].run_id = 0;
				if (other_idle >= 0 &&
					UsoShared->workers[other_idle].state == USO_WORKER_IDLE)
				{
					UsoShared->workers[other_idle].state = USO_WORKER_EXITING;
					latch = UsoShared->workers[other_idle].latch;
				}
				LWLockRelease(UsoShared->lock);
				placed = false;
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
		}
		if (latch != NULL)
			SetLatch(latch);
		if (placed)
		{
			run->dispatched = true;
			t->running++;
			if (t->dboid != MyDatabaseId)
				StoreQueueRemoteStart(run->run_id);
		}
		else
		{
			PoolWaitingForRoom = true;
			old = MemoryContextSwitchTo(SchedContext);
			still_ready = lappend(still_ready, run);
			/*
			 * No free slot and no idle worker of any owner: nothing after
			 * this run can be placed either, so stop walking the list.
			 */
			if (freeslot < 0 && other_idle < 0 && idle < 0)
			{
				for_each_cell(lc, ReadyRuns, lnext(ReadyRuns, lc))
					still_ready = lappend(still_ready, lfirst(lc));
				MemoryContextSwitchTo(old);
				break;
			}
			MemoryContextSwitchTo(old);
		}
	}
	list_free(ReadyRuns);
	ReadyRuns = still_ready;
}
