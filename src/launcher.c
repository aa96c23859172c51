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
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/tableam.h"
#include "access/table.h"
#include "access/xact.h"
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
#include "utils/snapmgr.h"

#include "uso_tasks.h"
#include "launcher.h"
#include "shmem.h"

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

/*
 * Start the scheduler of one database as a dynamic worker.  It is restarted
 * by the postmaster one second after it dies abnormally (e.g. when it is
 * terminated), and not after a clean exit (no extension, extension dropped).
 */
bool
UsoStartSchedulerWorker(Oid dboid)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 1;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "uso_tasks");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "uso_scheduler_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "uso_tasks scheduler %u", dboid);
	snprintf(worker.bgw_type, BGW_MAXLEN, "uso_tasks scheduler");
	worker.bgw_main_arg = ObjectIdGetDatum(dboid);
	worker.bgw_notify_pid = 0;

	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
	{
		ereport(WARNING,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("uso_tasks could not start a scheduler for database %u", dboid),
				 errhint("Increase max_worker_processes.")));
		return false;
	}
	return true;
}

/* Start a scheduler for every connectable, non-template database. */
static void
StartAllSchedulers(void)
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
		UsoStartSchedulerWorker(lfirst_oid(lc));
	list_free(dboids);
}

void
uso_launcher_main(Datum arg)
{
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("uso_tasks launcher");

	LWLockAcquire(UsoShared->lock, LW_EXCLUSIVE);
	UsoShared->launcher_pid = MyProcPid;
	UsoShared->launcher_latch = MyLatch;
	LWLockRelease(UsoShared->lock);

	StartAllSchedulers();

	while (!ShutdownRequestPending)
	{
		Oid			requests[USO_MAX_DATABASES];
		int			n;

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
		LWLockRelease(UsoShared->lock);

		for (int i = 0; i < n; i++)
		{
			bool		running;

			LWLockAcquire(UsoShared->lock, LW_SHARED);
			running = UsoFindScheduler(requests[i]) != NULL;
			LWLockRelease(UsoShared->lock);
			if (!running)
				UsoStartSchedulerWorker(requests[i]);
		}

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_EXIT_ON_PM_DEATH, -1L,
						 PG_WAIT_EXTENSION);
		CHECK_FOR_INTERRUPTS();
	}

	LWLockAcquire(UsoShared->lock, LW_EXCLUSIVE);
	UsoShared->launcher_latch = NULL;
	UsoShared->launcher_pid = 0;
	LWLockRelease(UsoShared->lock);
	/* Non-zero: a terminated launcher is restarted by the postmaster. */
	proc_exit(1);
}
