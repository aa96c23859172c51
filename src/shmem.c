/*-------------------------------------------------------------------------
 * shmem.c
 *	  Shared state of uso_tasks and the commit-time wake-ups.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/xact.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/shmem.h"

#include "uso_tasks.h"
#include "shmem.h"

UsoSharedState *UsoShared = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* Pending wake-ups of this backend's current transaction. */
static bool pending_catalog_changed = false;
static bool pending_all_changed = false;	/* every database's scheduler */
static bool pending_runs_queued = false;
static bool pending_chains = false;
static bool pending_start = false;
static bool xact_callback_registered = false;

static Size
UsoShmemSize(void)
{
	return add_size(offsetof(UsoSharedState, workers),
					mul_size(sizeof(UsoWorkerSlot), uso_max_workers));
}

static void
uso_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(UsoShmemSize());
	RequestNamedLWLockTranche("uso_tasks", 1);
}

static void
uso_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	UsoShared = ShmemInitStruct("uso_tasks", UsoShmemSize(), &found);
	if (!found)
	{
		memset(UsoShared, 0, UsoShmemSize());
		UsoShared->lock = &(GetNamedLWLockTranche("uso_tasks"))->lock;
		UsoShared->max_workers = uso_max_workers;
		ConditionVariableInit(&UsoShared->run_finished);
	}
	LWLockRelease(AddinShmemInitLock);
}

/* Called from _PG_init when preloading. */
void
UsoShmemInit(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = uso_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = uso_shmem_startup;
}

/* Backends started by exec (EXEC_BACKEND builds) find the struct again. */
void
UsoShmemAttach(void)
{
	if (UsoShared == NULL)
		uso_shmem_startup();
}

UsoSchedulerSlot *
UsoFindScheduler(Oid dboid)
{
	for (int i = 0; i < USO_MAX_DATABASES; i++)
	{
		if (UsoShared->schedulers[i].dboid == dboid)
			return &UsoShared->schedulers[i];
	}
	return NULL;
}

Latch *
UsoSchedulerLatch(Oid dboid)
{
	UsoSchedulerSlot *slot = UsoFindScheduler(dboid);

	return slot != NULL ? slot->latch : NULL;
}

void
UsoWakeScheduler(Oid dboid, bool catalog_changed, bool runs_queued)
{
	UsoSchedulerSlot *slot;
	Latch	   *latch = NULL;

	if (UsoShared == NULL)
		return;
	LWLockAcquire(UsoShared->lock, LW_EXCLUSIVE);
	slot = UsoFindScheduler(dboid);
	if (slot != NULL)
	{
		slot->catalog_changed |= catalog_changed;
		slot->runs_queued |= runs_queued;
		latch = slot->latch;
	}
	LWLockRelease(UsoShared->lock);
	if (latch != NULL)
		SetLatch(latch);
}

/*
 * Every scheduler reloads its tasks: a role or a database changed in a way
 * (LOGIN given back, CONNECT granted again, a role created under a name a
 * task runs as) that decides whether tasks can run, in any database.
 */
static void
WakeAllSchedulers(void)
{
	Latch	   *latches[USO_MAX_DATABASES];
	int			n = 0;

	if (UsoShared == NULL)
		return;
	LWLockAcquire(UsoShared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < USO_MAX_DATABASES; i++)
	{
		UsoSchedulerSlot *slot = &UsoShared->schedulers[i];

		if (slot->dboid == InvalidOid)
			continue;
		slot->catalog_changed = true;
		slot->roles_changed = true;
		if (slot->latch != NULL)
			latches[n++] = slot->latch;
	}
	LWLockRelease(UsoShared->lock);
	for (int i = 0; i < n; i++)
		SetLatch(latches[i]);
}

static void
WakeForChains(Oid dboid)
{
	UsoSchedulerSlot *slot;
	Latch	   *latch = NULL;

	if (UsoShared == NULL)
		return;
	LWLockAcquire(UsoShared->lock, LW_EXCLUSIVE);
	slot = UsoFindScheduler(dboid);
	if (slot != NULL)
	{
		slot->chains_pending = true;
		latch = slot->latch;
	}
	LWLockRelease(UsoShared->lock);
	if (latch != NULL)
		SetLatch(latch);
}

void
UsoRequestSchedulerStart(Oid dboid)
{
	Latch	   *latch;
	bool		queued = false;

	if (UsoShared == NULL)
		return;
	LWLockAcquire(UsoShared->lock, LW_EXCLUSIVE);
	/* A database asked twice before the launcher looked needs one entry. */
	for (int i = 0; i < UsoShared->n_start_requests && !queued; i++)
		queued = UsoShared->start_requests[i] == dboid;
	if (!queued && UsoShared->n_start_requests < USO_MAX_DATABASES)
		UsoShared->start_requests[UsoShared->n_start_requests++] = dboid;
	latch = UsoShared->launcher_latch;
	LWLockRelease(UsoShared->lock);
	if (latch != NULL)
		SetLatch(latch);
}

void
UsoNoteSchedulerExit(Oid dboid, UsoSchedExitReason reason)
{
	UsoSchedExitNote *note = NULL;

	LWLockAcquire(UsoShared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < USO_MAX_DATABASES && note == NULL; i++)
		if (UsoShared->exit_notes[i].dboid == dboid)
			note = &UsoShared->exit_notes[i];
	for (int i = 0; i < USO_MAX_DATABASES && note == NULL; i++)
		if (UsoShared->exit_notes[i].dboid == InvalidOid)
			note = &UsoShared->exit_notes[i];
	/* Full (more databases exiting at once than slots): no note, a restart. */
	if (note != NULL)
	{
		note->dboid = dboid;
		note->reason = reason;
	}
	LWLockRelease(UsoShared->lock);
}

UsoSchedExitReason
UsoTakeSchedulerExit(Oid dboid)
{
	UsoSchedExitReason reason = USO_SCHED_EXIT_NONE;

	LWLockAcquire(UsoShared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < USO_MAX_DATABASES; i++)
	{
		if (UsoShared->exit_notes[i].dboid == dboid)
		{
			reason = UsoShared->exit_notes[i].reason;
			UsoShared->exit_notes[i].dboid = InvalidOid;
			UsoShared->exit_notes[i].reason = USO_SCHED_EXIT_NONE;
		}
	}
	LWLockRelease(UsoShared->lock);
	return reason;
}

void
UsoFreeSchedulerSlot(Oid dboid)
{
	UsoSchedulerSlot *slot;

	LWLockAcquire(UsoShared->lock, LW_EXCLUSIVE);
	slot = UsoFindScheduler(dboid);
	if (slot != NULL && slot->pid == 0)
	{
		slot->dboid = InvalidOid;
		slot->latch = NULL;
	}
	LWLockRelease(UsoShared->lock);
}

void
UsoRequestSchedulerStop(Oid dboid, bool terminate_workers)
{
	UsoSchedulerSlot *slot;
	Latch	   *latch = NULL;
	pid_t		pids[256];
	int			npids = 0;

	if (UsoShared == NULL)
		return;
	LWLockAcquire(UsoShared->lock, LW_EXCLUSIVE);
	slot = UsoFindScheduler(dboid);
	if (slot != NULL)
	{
		slot->stop_requested = true;
		latch = slot->latch;
	}
	if (terminate_workers)
	{
		for (int i = 0; i < UsoShared->max_workers; i++)
		{
			UsoWorkerSlot *w = &UsoShared->workers[i];

			if (w->state != USO_WORKER_FREE && w->pid != 0 &&
				(w->dboid == dboid || w->sched_dboid == dboid) &&
				npids < lengthof(pids))
				pids[npids++] = w->pid;
		}
	}
	LWLockRelease(UsoShared->lock);
	if (latch != NULL)
		SetLatch(latch);
	for (int i = 0; i < npids; i++)
		kill(pids[i], SIGTERM);
}

static void
uso_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (pending_chains)
				WakeForChains(MyDatabaseId);
			if (pending_catalog_changed || pending_runs_queued)
				UsoWakeScheduler(MyDatabaseId, pending_catalog_changed,
								 pending_runs_queued);
			if (pending_start)
				UsoRequestSchedulerStart(MyDatabaseId);
			if (pending_all_changed)
				WakeAllSchedulers();
			/* FALLTHROUGH */
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			pending_catalog_changed = false;
			pending_runs_queued = false;
			pending_chains = false;
			pending_start = false;
			pending_all_changed = false;
			break;
		default:
			break;
	}
}

static void
RegisterWakeCallback(void)
{
	if (!xact_callback_registered)
	{
		RegisterXactCallback(uso_xact_callback, NULL);
		xact_callback_registered = true;
	}
}

void
UsoWakeAtCommit(bool catalog_changed, bool runs_queued)
{
	RegisterWakeCallback();
	pending_catalog_changed |= catalog_changed;
	pending_runs_queued |= runs_queued;
}

void
UsoWakeAllAtCommit(void)
{
	RegisterWakeCallback();
	pending_all_changed = true;
}

void
UsoChainsPendingAtCommit(void)
{
	RegisterWakeCallback();
	pending_chains = true;
}

void
UsoStartAtCommit(void)
{
	RegisterWakeCallback();
	pending_start = true;
}

bool
UsoStartPendingAtCommit(void)
{
	return pending_start;
}
