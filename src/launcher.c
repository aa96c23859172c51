/*-------------------------------------------------------------------------
 * launcher.c
 *	  The launcher: started by the postmaster once recovery is finished (so
 *	  never on a standby), it starts a scheduler for every database, and
 *	  again whenever CREATE EXTENSION asks for one.
 *
 * The launcher cannot see which databases have the extension (pg_extension
 * is per database), so it starts a scheduler for each connectable database
 * and a scheduler without the extension exits at once, for good.  Schedulers
 * claim their database's slot in shared memory, so a scheduler started twice
 * (launcher restart, crash restart) leaves just one running.
 *
 * The launcher owns the restart policy.  Schedulers are registered with
 * BGW_NEVER_RESTART and report to the launcher (bgw_notify_pid), which
 * keeps their handles.  A scheduler that exits on purpose leaves a note in
 * shared memory (not wanted, no slot, duplicate); one that dies (terminated,
 * FATAL on connect, crash) leaves none.  Before each (re)start the launcher
 * reads pg_database again: a database that is gone, a template or closed to
 * connections gets no scheduler (said once in the log) and its slot is given
 * back; the others are restarted with a growing delay (1 s doubling to 60 s,
 * back to 1 s after a scheduler ran a minute), so nothing loops every second
 * and nothing that should run is given up on.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/tableam.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/pg_database.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/hsearch.h"
#include "utils/snapmgr.h"
#include "utils/fmgroids.h"
#include "utils/timestamp.h"

#include "uso_tasks.h"
#include "launcher.h"
#include "shmem.h"


#define RESTART_MIN_MS	1000
#define RESTART_MAX_MS	(60 * 1000)
#define ADOPTED_POLL_MS 1000

/* What the launcher knows about one database's scheduler. */
typedef struct LauncherDb
{
	Oid			dboid;			/* hash key */
	BackgroundWorkerHandle *handle; /* the scheduler we registered, or NULL */
	pid_t		adopted_pid;	/* one a previous launcher started (polled) */
	bool		start_requested;	/* asked for while one was on its way out */
	TimestampTz next_start;		/* when to (re)start it; 0 = not planned */
	TimestampTz started_at;
	int			backoff_ms;		/* delay before the next restart */
	int			logged;			/* LOGGED_* said once since it last ran */
} LauncherDb;

/* What the log was told about a database, so it is told once. */
#define LOGGED_NO_CONNECTIONS	0x01
#define LOGGED_NO_SLOT			0x02
#define LOGGED_NO_REGISTER		0x04

static HTAB *Dbs = NULL;

void
UsoLauncherRegister(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 5;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "uso_tasks");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "uso_launcher_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "uso_tasks launcher");
	snprintf(worker.bgw_type, BGW_MAXLEN, "uso_tasks launcher");
	RegisterBackgroundWorker(&worker);
}

static LauncherDb *
GetDb(Oid dboid)
{
	bool		found;
	LauncherDb *db = hash_search(Dbs, &dboid, HASH_ENTER, &found);

	if (!found)
	{
		memset(db, 0, sizeof(*db));
		db->dboid = dboid;
		db->backoff_ms = RESTART_MIN_MS;
	}
	return db;
}

/*
 * Register the scheduler of one database as a dynamic worker that the
 * postmaster never restarts: its exit wakes the launcher, which decides.
 */
static BackgroundWorkerHandle *
RegisterScheduler(Oid dboid, const char *dbname)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	MemoryContext old;
	bool		ok;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "uso_tasks");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "uso_scheduler_main");
	/* Its process title (ps): a DBA knows the database by name, not OID. */
	snprintf(worker.bgw_name, BGW_MAXLEN, "uso_tasks scheduler %s (oid %u)", dbname, dboid);
	snprintf(worker.bgw_type, BGW_MAXLEN, "uso_tasks scheduler");
	worker.bgw_main_arg = ObjectIdGetDatum(dboid);
	worker.bgw_notify_pid = MyProcPid;

	old = MemoryContextSwitchTo(TopMemoryContext);
	ok = RegisterDynamicBackgroundWorker(&worker, &handle);
	MemoryContextSwitchTo(old);
	return ok ? handle : NULL;
}

/* Is a scheduler of db registered or running, as far as we know? */
static bool
Running(LauncherDb *db)
{
	return db->handle != NULL || db->adopted_pid != 0;
}

/* Pid of the live scheduler holding the database's slot, or 0. */
static pid_t
SlotPid(Oid dboid, bool *stopping)
{
	UsoSchedulerSlot *slot;
	pid_t		pid = 0;

	LWLockAcquire(UsoShared->lock, LW_SHARED);
	slot = UsoFindScheduler(dboid);
	if (slot != NULL && slot->pid != 0 && kill(slot->pid, 0) == 0)
	{
		pid = slot->pid;
		if (stopping)
			*stopping = slot->stop_requested;
	}
	LWLockRelease(UsoShared->lock);
	return pid;
}

/* Plan a restart after the current delay, and grow the delay. */
static void
PlanRestart(LauncherDb *db, TimestampTz now)
{
	/* A scheduler that ran for a while before it died starts a new series. */
	if (db->started_at != 0 &&
		TimestampDifferenceExceeds(db->started_at, now, RESTART_MAX_MS))
		db->backoff_ms = RESTART_MIN_MS;
	db->next_start = TimestampTzPlusMilliseconds(now, db->backoff_ms);
	db->backoff_ms = Min(db->backoff_ms * 2, RESTART_MAX_MS);
}

/* A start request (CREATE EXTENSION, CREATE/ALTER DATABASE, failed DROP DATABASE). */
static void
HandleStartRequest(Oid dboid, TimestampTz now)
{
	LauncherDb *db = GetDb(dboid);
	bool		stopping = false;

	if (Running(db))
	{
		/* One on its way out (stop requested, or not in its slot yet) restarts. */
		if (SlotPid(dboid, &stopping) == 0 || stopping)
			db->start_requested = true;
		return;
	}
	db->next_start = now;
	db->backoff_ms = RESTART_MIN_MS;
	db->logged = 0;				/* asked again: say again why not, if so */
}

/* A scheduler we know of stopped: restart it, later, or not at all. */
static void
HandleStopped(LauncherDb *db, TimestampTz now)
{
	UsoSchedExitReason reason = UsoTakeSchedulerExit(db->dboid);
	pid_t		other;

	if (db->handle != NULL)
	{
		pfree(db->handle);
		db->handle = NULL;
	}
	db->adopted_pid = 0;

	/* It got as far as its slot: a problem seen before is over. */
	if (reason != USO_SCHED_EXIT_NO_SLOT)
		db->logged = 0;
	if (db->start_requested)
	{
		db->start_requested = false;
		db->next_start = now;
		return;
	}
	switch (reason)
	{
		case USO_SCHED_EXIT_UNWANTED:
			db->next_start = 0;	/* until a start request */
			db->backoff_ms = RESTART_MIN_MS;
			break;
		case USO_SCHED_EXIT_DUPLICATE:
			other = SlotPid(db->dboid, NULL);
			if (other != 0)
				db->adopted_pid = other;
			else
				db->next_start = now;
			break;
		case USO_SCHED_EXIT_NO_SLOT:
			if (!(db->logged & LOGGED_NO_SLOT))
				ereport(WARNING,
						(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
						 errmsg("uso_tasks supports at most %d databases with schedulers; "
								"the database with OID %u waits for a free slot", USO_MAX_DATABASES,
								db->dboid),
						 errhint("DROP EXTENSION uso_tasks in a database that does not need it.")));
			db->logged |= LOGGED_NO_SLOT;
			PlanRestart(db, now);
			break;
		case USO_SCHED_EXIT_NONE:
			PlanRestart(db, now);
			break;
	}
}

/*
 * Read a database's pg_database row; false when there is none.  A table
 * scan with this transaction's catalog snapshot, not the syscache: a start
 * request is sent at commit, before the committing backend's invalidation
 * messages, so a cached row could still say ALLOW_CONNECTIONS false.
 */
static bool
ReadDatabase(Oid dboid, bool *allowconn, bool *istemplate, char **name)
{
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;
	bool		found = false;

	ScanKeyInit(&key, Anum_pg_database_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(dboid));
	rel = table_open(DatabaseRelationId, AccessShareLock);
	/* No index: connected to no database, the launcher cannot open one. */
	scan = systable_beginscan(rel, DatabaseOidIndexId, false, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		Form_pg_database form = (Form_pg_database) GETSTRUCT(tup);

		found = true;
		*allowconn = form->datallowconn;
		*istemplate = form->datistemplate;
		*name = pstrdup(NameStr(form->datname));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * Start the schedulers whose time has come, if their database may have one.
 * Returns the next planned start (DT_NOEND: none).
 */
static TimestampTz
StartDue(TimestampTz now)
{
	HASH_SEQ_STATUS seq;
	LauncherDb *db;
	List	   *due = NIL;
	ListCell   *lc;
	TimestampTz next = DT_NOEND;

	hash_seq_init(&seq, Dbs);
	while ((db = hash_seq_search(&seq)) != NULL)
	{
		if (Running(db) || db->next_start == 0)
			continue;
		if (db->next_start <= now)
			due = lappend(due, db);
		else
			next = Min(next, db->next_start);
	}
	if (due == NIL)
		return next;

	StartTransactionCommand();
	foreach(lc, due)
	{
		bool		exists,
					allowconn = false,
					istemplate = false;
		char	   *name = NULL;

		db = lfirst(lc);
		exists = ReadDatabase(db->dboid, &allowconn, &istemplate, &name);
		if (!exists || istemplate || !allowconn)
		{
			/* Nothing to run there: no restart, and its slot is free again. */
			db->next_start = 0;
			UsoFreeSchedulerSlot(db->dboid);
			if (exists && !allowconn && !(db->logged & LOGGED_NO_CONNECTIONS))
				ereport(LOG,
						(errmsg("uso_tasks starts no scheduler for database \"%s\": "
								"it does not allow connections", name),
						 errhint("ALTER DATABASE \"%s\" ALLOW_CONNECTIONS true starts it.",
								 name)));
			if (!allowconn)
				db->logged |= LOGGED_NO_CONNECTIONS;
			if (!exists)
				hash_search(Dbs, &db->dboid, HASH_REMOVE, NULL);
			continue;
		}
		(void) UsoTakeSchedulerExit(db->dboid);	/* a stale note is not this one's */
		db->handle = RegisterScheduler(db->dboid, name);
		if (db->handle == NULL)
		{
			if (!(db->logged & LOGGED_NO_REGISTER))
				ereport(WARNING,
						(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
						 errmsg("uso_tasks could not start a scheduler for database \"%s\"; "
								"it tries again", name),
						 errhint("Increase max_worker_processes.")));
			db->logged |= LOGGED_NO_REGISTER;
			db->started_at = 0;
			PlanRestart(db, now);
			next = Min(next, db->next_start);
			continue;
		}
		db->next_start = 0;
		db->started_at = now;
		db->logged &= ~LOGGED_NO_REGISTER;
		elog(DEBUG1, "uso_tasks launcher registered a scheduler for database %u", db->dboid);
	}
	CommitTransactionCommand();
	list_free(due);
	return next;
}

/*
 * Publish the starts in hand: a scheduler due (planned for now or earlier),
 * registered but not in its slot yet, or asked for while the old one is on
 * its way out.  From a start request to the new scheduler in its slot,
 * status says "starting", not "stopped".
 */
static void
PublishLaunching(TimestampTz now)
{
	HASH_SEQ_STATUS seq;
	LauncherDb *db;
	int			n = 0;

	LWLockAcquire(UsoShared->lock, LW_EXCLUSIVE);
	hash_seq_init(&seq, Dbs);
	while ((db = hash_seq_search(&seq)) != NULL)
	{
		UsoSchedulerSlot *slot = UsoFindScheduler(db->dboid);
		bool		in_slot = slot != NULL && slot->pid != 0;
		bool		due = db->next_start != 0 && db->next_start <= now;

		if (((db->handle != NULL && !in_slot) || db->start_requested || due) &&
			n < USO_MAX_DATABASES)
			UsoShared->launching[n++] = db->dboid;
	}
	UsoShared->n_launching = n;
	LWLockRelease(UsoShared->lock);
}

/* Notice the schedulers that stopped; true when some are polled (adopted). */
static bool
CheckStopped(TimestampTz now)
{
	HASH_SEQ_STATUS seq;
	LauncherDb *db;
	bool		polled = false;

	hash_seq_init(&seq, Dbs);
	while ((db = hash_seq_search(&seq)) != NULL)
	{
		bool		stopped = false;

		if (db->handle != NULL)
		{
			pid_t		pid;
			BgwHandleStatus st = GetBackgroundWorkerPid(db->handle, &pid);

			if (st == BGWH_POSTMASTER_DIED)
				proc_exit(1);
			stopped = st == BGWH_STOPPED;
		}
		else if (db->adopted_pid != 0)
		{
			stopped = SlotPid(db->dboid, NULL) != db->adopted_pid;
			polled |= !stopped;
		}
		if (stopped)
			HandleStopped(db, now);
	}
	return polled;
}

/*
 * At launcher start: adopt the schedulers a previous launcher started (they
 * report to nobody now, so they are polled), and plan a start for every
 * other connectable, non-template database.
 */
static void
PlanAllSchedulers(TimestampTz now)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	List	   *dboids = NIL;
	ListCell   *lc;

	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);

		if (db->datallowconn && !db->datistemplate)
		{
			MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

			dboids = lappend_oid(dboids, db->oid);
			MemoryContextSwitchTo(old);
		}
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	PopActiveSnapshot();
	CommitTransactionCommand();

	foreach(lc, dboids)
	{
		LauncherDb *db = GetDb(lfirst_oid(lc));
		pid_t		pid = SlotPid(db->dboid, NULL);

		if (pid != 0)
			db->adopted_pid = pid;
		else
			db->next_start = now;
	}
	list_free(dboids);
}

void
uso_launcher_main(Datum arg)
{
	HASHCTL		ctl;

	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("uso_tasks launcher");

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(LauncherDb);
	ctl.hcxt = TopMemoryContext;
	Dbs = hash_create("uso_tasks launcher databases", 64, &ctl,
					  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	LWLockAcquire(UsoShared->lock, LW_EXCLUSIVE);
	UsoShared->launcher_pid = MyProcPid;
	UsoShared->launcher_latch = MyLatch;
	LWLockRelease(UsoShared->lock);

	PlanAllSchedulers(GetCurrentTimestamp());
	PublishLaunching(GetCurrentTimestamp());

	while (!ShutdownRequestPending)
	{
		Oid			requests[USO_MAX_DATABASES];
		int			n;
		TimestampTz now;
		TimestampTz next;
		bool		polled;
		long		timeout_ms = -1;

		ResetLatch(MyLatch);
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		LWLockAcquire(UsoShared->lock, LW_EXCLUSIVE);
		n = UsoShared->n_start_requests;
		memcpy(requests, UsoShared->start_requests, sizeof(Oid) * n);
		UsoShared->n_start_requests = 0;
		/* In hand from now on: PublishLaunching below says what became of them. */
		for (int i = 0; i < n && UsoShared->n_launching < USO_MAX_DATABASES; i++)
			UsoShared->launching[UsoShared->n_launching++] = requests[i];
		LWLockRelease(UsoShared->lock);

		now = GetCurrentTimestamp();
		for (int i = 0; i < n; i++)
			HandleStartRequest(requests[i], now);
		polled = CheckStopped(now);
		next = StartDue(now);
		PublishLaunching(now);

		now = GetCurrentTimestamp();
		if (next != DT_NOEND)
			timeout_ms = (long) Max((next - now + 999) / 1000, 0);
		if (polled && (timeout_ms < 0 || timeout_ms > ADOPTED_POLL_MS))
			timeout_ms = ADOPTED_POLL_MS;
		if (timeout_ms != 0)
			(void) WaitLatch(MyLatch,
							 WL_LATCH_SET | WL_EXIT_ON_PM_DEATH |
							 (timeout_ms > 0 ? WL_TIMEOUT : 0),
							 timeout_ms, PG_WAIT_EXTENSION);
		CHECK_FOR_INTERRUPTS();
	}

	LWLockAcquire(UsoShared->lock, LW_EXCLUSIVE);
	UsoShared->launcher_latch = NULL;
	UsoShared->launcher_pid = 0;
	LWLockRelease(UsoShared->lock);
	/* Non-zero: a terminated launcher is restarted by the postmaster. */
	proc_exit(1);
}
