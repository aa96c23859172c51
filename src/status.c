/*-------------------------------------------------------------------------
 * status.c
 *	  uso_scheduler_status(): every scheduler slot in shared memory, and
 *	  this database's even when it has none, with a state saying why not;
 *	  uso_warn_scheduler(): the WARNING of uso_schedule, uso_run_now and the
 *	  admin view when nothing would run what they show or queue;
 *	  uso_pool_starved(): for the admin view, whether this database's runs
 *	  wait because no executor can start (max_worker_processes).
 *
 * Everything is read from shared memory under the shared lock in one copy,
 * so a row is consistent and the scan never waits for a scheduler.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "uso_tasks.h"
#include "shmem.h"
#include "status.h"

PG_FUNCTION_INFO_V1(uso_scheduler_status);
PG_FUNCTION_INFO_V1(uso_warn_scheduler);
PG_FUNCTION_INFO_V1(uso_pool_starved);

#define STARVED_STATE \
	"starved: no background worker slot free (max_worker_processes): runs wait for an executor"

/* A heartbeat older than this means the scheduler is stuck. */
#define STALE_HEARTBEAT_MS	(6 * USO_HEARTBEAT_MS)

typedef struct DbStatus
{
	Oid			dboid;
	bool		has_slot;
	pid_t		pid;			/* 0 = none alive */
	UsoSchedStatus st;
	bool		start_requested;
	bool		starved;		/* no background worker slot for an executor */
	UsoSchedExitReason note;
	int			busy;
	int			idle;
} DbStatus;

typedef struct StatusCopy
{
	int			n;
	pid_t		launcher_pid;
	DbStatus	dbs[USO_MAX_DATABASES + 1];
} StatusCopy;

static DbStatus *
SnapDb(StatusCopy *snap, Oid dboid, bool add)
{
	for (int i = 0; i < snap->n; i++)
		if (snap->dbs[i].dboid == dboid)
			return &snap->dbs[i];
	if (!add || snap->n >= lengthof(snap->dbs))
		return NULL;
	memset(&snap->dbs[snap->n], 0, sizeof(DbStatus));
	snap->dbs[snap->n].dboid = dboid;
	return &snap->dbs[snap->n++];
}

/* Copy what concerns schedulers (and this database) out of shared memory. */
static void
TakeSnapshot(StatusCopy *snap)
{
	snap->n = 0;
	snap->launcher_pid = 0;
	if (!uso_preloaded || UsoShared == NULL)
	{
		(void) SnapDb(snap, MyDatabaseId, true);
		return;
	}
	LWLockAcquire(UsoShared->lock, LW_SHARED);
	snap->launcher_pid = UsoShared->launcher_pid;
	for (int i = 0; i < USO_MAX_DATABASES; i++)
	{
		UsoSchedulerSlot *slot = &UsoShared->schedulers[i];
		DbStatus   *db;

		if (slot->dboid == InvalidOid)
			continue;
		db = SnapDb(snap, slot->dboid, true);
		db->has_slot = true;
		db->pid = slot->pid;
		if (slot->pid != 0 && slot->status.pid == slot->pid)
		{
			db->st = slot->status;
			db->starved = slot->workers_starved;
		}
	}
	(void) SnapDb(snap, MyDatabaseId, true);
	for (int i = 0; i < snap->n; i++)
	{
		DbStatus   *db = &snap->dbs[i];

		for (int j = 0; j < UsoShared->n_start_requests; j++)
			if (UsoShared->start_requests[j] == db->dboid)
				db->start_requested = true;
		for (int j = 0; j < UsoShared->n_launching; j++)
			if (UsoShared->launching[j] == db->dboid)
				db->start_requested = true;
		for (int j = 0; j < USO_MAX_DATABASES; j++)
			if (UsoShared->exit_notes[j].dboid == db->dboid)
				db->note = UsoShared->exit_notes[j].reason;
		for (int j = 0; j < UsoShared->max_workers; j++)
		{
			UsoWorkerSlot *w = &UsoShared->workers[j];

			if (w->sched_dboid != db->dboid)
				continue;
			if (w->state == USO_WORKER_BUSY)
				db->busy++;
			else if (w->state == USO_WORKER_IDLE)
				db->idle++;
		}
	}
	LWLockRelease(UsoShared->lock);

	/*
	 * This transaction asks for the scheduler at commit (CREATE EXTENSION,
	 * uso_scheduler_start): a script that creates the extension and then
	 * schedules in one transaction is not warned about a start to come.
	 */
	if (UsoStartPendingAtCommit())
		SnapDb(snap, MyDatabaseId, false)->start_requested = true;

	/* A slot whose process is gone (crash, kill -9) is not running. */
	for (int i = 0; i < snap->n; i++)
		if (snap->dbs[i].pid != 0 && kill(snap->dbs[i].pid, 0) != 0)
		{
			snap->dbs[i].pid = 0;
			snap->dbs[i].st.heartbeat = 0;
			snap->dbs[i].starved = false;
		}
}

/*
 * running, starved, starting, or "stopped: <reason>"; *ok is true for
 * running and starting (nothing to warn about).
 */
static char *
StateOf(const StatusCopy *snap, const DbStatus *db, bool *ok)
{
	TimestampTz now = GetCurrentTimestamp();

	*ok = false;
	if (!uso_preloaded)
		return pstrdup("stopped: uso_tasks is not in shared_preload_libraries");
	if (db->pid != 0 && db->st.heartbeat != 0)
	{
		if (TimestampDifferenceExceeds(db->st.heartbeat, now, STALE_HEARTBEAT_MS))
			return psprintf("stopped: not responding (no heartbeat for %ld s)",
							(long) ((now - db->st.heartbeat) / USECS_PER_SEC));
		/* It runs, but no run can start: a DBA must see it here. */
		if (db->starved)
			return pstrdup(STARVED_STATE);
		*ok = true;
		return pstrdup("running");
	}
	if (db->pid != 0 || db->start_requested)
	{
		/*
		 * In its slot but not looping yet (loading, or awaiting ALTER
		 * EXTENSION UPDATE), or a start the launcher has not carried out yet.
		 */
		*ok = true;
		return pstrdup("starting");
	}
	switch (db->note)
	{
		case USO_SCHED_EXIT_NO_SLOT:
			return psprintf("stopped: all %d scheduler slots are taken by other databases",
							USO_MAX_DATABASES);
		case USO_SCHED_EXIT_UNWANTED:
			return pstrdup("stopped: no uso_tasks extension there, a template, or stop requested");
		case USO_SCHED_EXIT_DUPLICATE:
			*ok = true;
			return pstrdup("starting");
		case USO_SCHED_EXIT_NONE:
			break;
	}
	if (snap->launcher_pid == 0)
		return pstrdup("stopped: the uso_tasks launcher is not running");
	if (db->has_slot)
		return pstrdup("stopped: the scheduler exited; the launcher restarts it after a delay");
	return pstrdup("stopped: no scheduler was started for this database");
}

Datum
uso_scheduler_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	StatusCopy   *snap = palloc(sizeof(StatusCopy));

	InitMaterializedSRF(fcinfo, 0);
	TakeSnapshot(snap);
	for (int i = 0; i < snap->n; i++)
	{
		DbStatus   *db = &snap->dbs[i];
		Datum		values[11];
		bool		nulls[11] = {0};
		char	   *name = get_database_name(db->dboid);
		bool		ok;
		bool		live = db->pid != 0 && db->st.heartbeat != 0;

		if (name == NULL)
			continue;			/* dropped meanwhile */
		values[0] = DirectFunctionCall1(namein, CStringGetDatum(name));
		values[1] = Int32GetDatum((int32) db->pid);
		nulls[1] = db->pid == 0;
		values[2] = TimestampTzGetDatum(db->st.started_at);
		nulls[2] = !live;
		values[3] = TimestampTzGetDatum(db->st.heartbeat);
		nulls[3] = !live;
		values[4] = Int32GetDatum(db->st.tasks_loaded);
		nulls[4] = !live;
		values[5] = Int32GetDatum(db->st.runs_queued);
		nulls[5] = !live;
		values[6] = Int32GetDatum(db->st.runs_running);
		nulls[6] = !live;
		values[7] = Int32GetDatum(db->busy);
		values[8] = Int32GetDatum(db->idle);
		values[9] = TimestampTzGetDatum(db->st.next_wakeup);
		nulls[9] = !live || db->st.next_wakeup == 0;
		values[10] = CStringGetTextDatum(StateOf(snap, db, &ok));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

void
UsoWarnScheduler(void)
{
	StatusCopy   *snap;
	DbStatus   *db;
	char	   *state;
	bool		ok;

	/* CREATE EXTENSION starts the scheduler at commit: nothing to say yet. */
	if (creating_extension)
		return;
	if (!uso_preloaded)
	{
		ereport(WARNING,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("uso_tasks is not loaded via shared_preload_libraries: no task will run"),
				 errhint("Add uso_tasks to shared_preload_libraries in postgresql.conf and restart the server.")));
		return;
	}
	snap = palloc(sizeof(StatusCopy));
	TakeSnapshot(snap);
	db = SnapDb(snap, MyDatabaseId, false);
	state = StateOf(snap, db, &ok);
	if (!ok && db->starved)
		ereport(WARNING,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("the uso_tasks scheduler of database \"%s\" cannot start an executor: "
						"no background worker slot is free, runs wait",
						get_database_name(MyDatabaseId)),
				 errdetail("uso_scheduler_status says: %s.", state),
				 errhint("Raise max_worker_processes above uso_tasks.max_workers + the number of "
						 "databases + 2 (with the other background workers and parallel query) "
						 "and restart the server.")));
	else if (!ok)
		ereport(WARNING,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the uso_tasks scheduler of database \"%s\" is not running: no task will start",
						get_database_name(MyDatabaseId)),
				 errdetail("uso_scheduler_status says: %s.", state),
				 errhint("Look in the server log for why it stopped; SELECT uso_scheduler_start() "
						 "as a superuser, or restart the server, starts it again.")));
	pfree(snap);
}

Datum
uso_warn_scheduler(PG_FUNCTION_ARGS)
{
	UsoWarnScheduler();
	PG_RETURN_BOOL(true);
}

/* Whether this database's scheduler waits for a background worker slot. */
Datum
uso_pool_starved(PG_FUNCTION_ARGS)
{
	StatusCopy *snap;
	bool		starved;

	if (!uso_preloaded || UsoShared == NULL)
		PG_RETURN_BOOL(false);
	snap = palloc(sizeof(StatusCopy));
	TakeSnapshot(snap);
	starved = SnapDb(snap, MyDatabaseId, false)->starved;
	pfree(snap);
	PG_RETURN_BOOL(starved);
}
