/*-------------------------------------------------------------------------
 * hooks.c
 *	  Utility hook: stop a database's scheduler and workers when the
 *	  extension or the database is dropped, and start one for a database
 *	  created from a template that has the extension.
 *
 * DROP DATABASE fails while other sessions are connected, and ours would
 * be, so they are asked to leave first.  DROP EXTENSION stops the scheduler
 * at commit (a rolled back DROP changes nothing).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"
#include "utils/timestamp.h"

#include "uso_tasks.h"
#include "lock_guard.h"
#include "office_adopt.h"
#include "shmem.h"

static ProcessUtility_hook_type prev_ProcessUtility = NULL;
static bool stop_at_commit = false;
static Oid	start_at_commit = InvalidOid;	/* a database just created */
static bool xact_cb_registered = false;

static void
hooks_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT && stop_at_commit)
		UsoRequestSchedulerStop(MyDatabaseId, true);
	/* Its scheduler exits at once unless the template had the extension. */
	if (event == XACT_EVENT_COMMIT && OidIsValid(start_at_commit))
		UsoRequestSchedulerStart(start_at_commit);
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT)
	{
		stop_at_commit = false;
		start_at_commit = InvalidOid;
	}
}

static void
RegisterCallbackOnce(void)
{
	if (!xact_cb_registered)
	{
		RegisterXactCallback(hooks_xact_callback, NULL);
		xact_cb_registered = true;
	}
}

static bool
DropsOurExtension(DropStmt *stmt)
{
	ListCell   *lc;

	if (stmt->removeType != OBJECT_EXTENSION)
		return false;
	foreach(lc, stmt->objects)
	{
		Node	   *obj = lfirst(lc);

		if (IsA(obj, String) && strcmp(strVal(obj), "uso_tasks") == 0)
			return true;
	}
	return false;
}

/* Ask the database's uso_tasks processes to exit and wait a little for them. */
static void
StopDatabaseProcesses(Oid dboid)
{
	TimestampTz start = GetCurrentTimestamp();

	UsoRequestSchedulerStop(dboid, true);
	while (!TimestampDifferenceExceeds(start, GetCurrentTimestamp(), 5000))
	{
		bool		any = false;

		LWLockAcquire(UsoShared->lock, LW_SHARED);
		for (int i = 0; i < USO_MAX_DATABASES && !any; i++)
			any = UsoShared->schedulers[i].dboid == dboid && UsoShared->schedulers[i].pid != 0;
		for (int i = 0; i < UsoShared->max_workers && !any; i++)
			any = UsoShared->workers[i].state != USO_WORKER_FREE &&
				UsoShared->workers[i].dboid == dboid && UsoShared->workers[i].pid != 0;
		LWLockRelease(UsoShared->lock);
		if (!any)
			break;
		pg_usleep(10000L);
		CHECK_FOR_INTERRUPTS();
	}
}

static void
uso_ProcessUtility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
				   ProcessUtilityContext context, ParamListInfo params,
				   QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;

	if (IsA(parsetree, LockStmt))
		UsoGuardLockStmt((LockStmt *) parsetree);
	if (IsA(parsetree, DropdbStmt))
	{
		Oid			dboid = get_database_oid(((DropdbStmt *) parsetree)->dbname, true);

		if (OidIsValid(dboid))
			StopDatabaseProcesses(dboid);
	}

	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
							queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
								queryEnv, dest, qc);

	if (IsA(parsetree, DropStmt) && DropsOurExtension((DropStmt *) parsetree))
	{
		RegisterCallbackOnce();
		stop_at_commit = true;
	}
	if (IsA(parsetree, AlterExtensionStmt) &&
		strcmp(((AlterExtensionStmt *) parsetree)->extname, "uso_tasks") == 0)
		UsoAfterUpdate();
	if (IsA(parsetree, CreatedbStmt))
	{
		RegisterCallbackOnce();
		start_at_commit = get_database_oid(((CreatedbStmt *) parsetree)->dbname, true);
	}
}

void
UsoHooksInstall(void)
{
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = uso_ProcessUtility;
}
