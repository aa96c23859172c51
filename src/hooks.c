/*-------------------------------------------------------------------------
 * hooks.c
 *	  Utility hook: stop a database's scheduler and workers when the
 *	  extension or the database is dropped, and start one for a database
 *	  created from a template that has the extension.
 *
 * DROP DATABASE fails while other sessions are connected, and ours would
 * be, so they are asked to leave first -- but only when the drop is going
 * to proceed: the caller may drop the database and nobody else is
 * connected.  A DROP DATABASE that fails anyway after that (a session that
 * connected in between, a prepared transaction, a replication slot) asks
 * the launcher to start the scheduler again, which closes what the stop
 * left open.  DROP EXTENSION stops the scheduler at commit (a rolled back
 * DROP changes nothing).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/backend_status.h"
#include "utils/syscache.h"
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

/* Is pid one of the uso_tasks processes (scheduler or worker)? */
static bool
IsOurProcess(pid_t pid)
{
	bool		ours = false;

	LWLockAcquire(UsoShared->lock, LW_SHARED);
	for (int i = 0; i < USO_MAX_DATABASES && !ours; i++)
		ours = UsoShared->schedulers[i].pid == pid;
	for (int i = 0; i < UsoShared->max_workers && !ours; i++)
		ours = UsoShared->workers[i].state != USO_WORKER_FREE &&
			UsoShared->workers[i].pid == pid;
	LWLockRelease(UsoShared->lock);
	return ours;
}

/*
 * Is a session other than ours (and autovacuum, which DROP DATABASE stops
 * itself) connected to the database?  Then DROP DATABASE without FORCE
 * fails, and our processes must stay.
 */
static bool
OtherSessionsConnected(Oid dboid)
{
	int			n;

	pgstat_clear_backend_activity_snapshot();
	n = pgstat_fetch_stat_numbackends();
	for (int i = 1; i <= n; i++)
	{
		LocalPgBackendStatus *local = pgstat_fetch_stat_local_beentry(i);
		PgBackendStatus *be;

		if (local == NULL)
			continue;
		be = &local->backendStatus;
		if (be->st_databaseid != dboid || be->st_procpid == 0 ||
			be->st_procpid == MyProcPid || be->st_backendType == B_AUTOVAC_WORKER)
			continue;
		if (!IsOurProcess(be->st_procpid))
			return true;
	}
	return false;
}

/*
 * Will this DROP DATABASE proceed, as far as can be told before it runs?
 * The checks are PostgreSQL's own, in their order: not in a transaction
 * block nor a function, the database exists, the caller owns it (or is
 * superuser), it is not a template nor the current database, and, without
 * FORCE, nobody else is connected.
 */
static bool
DropWillProceed(DropdbStmt *stmt, Oid dboid, ProcessUtilityContext context)
{
	HeapTuple	tup;
	bool		istemplate;
	bool		force = false;
	ListCell   *lc;

	if (context != PROCESS_UTILITY_TOPLEVEL || IsTransactionBlock())
		return false;
	if (!OidIsValid(dboid) || dboid == MyDatabaseId ||
		!pg_database_ownercheck(dboid, GetUserId()))
		return false;
	tup = SearchSysCache1(DATABASEOID, ObjectIdGetDatum(dboid));
	if (!HeapTupleIsValid(tup))
		return false;
	istemplate = ((Form_pg_database) GETSTRUCT(tup))->datistemplate;
	ReleaseSysCache(tup);
	if (istemplate)
		return false;
	foreach(lc, stmt->options)
	{
		DefElem    *opt = lfirst_node(DefElem, lc);

		if (strcmp(opt->defname, "force") == 0)
			force = true;
	}
	return force || !OtherSessionsConnected(dboid);
}

/* Run the statement through the next hook or the standard one. */
static void
CallNext(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
		 ProcessUtilityContext context, ParamListInfo params,
		 QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
							queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
								queryEnv, dest, qc);
}

/* Does ALTER DATABASE change whether the database may have a scheduler? */
static bool
ChangesSchedulability(AlterDatabaseStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->options)
	{
		DefElem    *opt = lfirst_node(DefElem, lc);

		if (strcmp(opt->defname, "allow_connections") == 0 ||
			strcmp(opt->defname, "is_template") == 0)
			return true;
	}
	return false;
}

/*
 * Does the statement change whether some task can run: a role's LOGIN, a
 * role created, renamed or dropped (tasks name their owner), CONNECT on a
 * database granted or revoked, a database renamed or opened to connections?
 * Or who may act as whom (a role granted or revoked: the fair share counts
 * the roles one login may act as together)?  All that is worked out when a
 * scheduler loads its tasks, so these make every scheduler reload at commit
 * (and retire its idle workers): a right given back counts from the next run.
 */
static bool
ChangesWhoCanRun(Node *parsetree)
{
	switch (nodeTag(parsetree))
	{
		case T_CreateRoleStmt:
		case T_AlterRoleStmt:
		case T_DropRoleStmt:
		case T_GrantRoleStmt:	/* who may act as whom: the fair share */
			return true;
		case T_RenameStmt:
			return ((RenameStmt *) parsetree)->renameType == OBJECT_ROLE ||
				((RenameStmt *) parsetree)->renameType == OBJECT_DATABASE;
		case T_GrantStmt:
			return ((GrantStmt *) parsetree)->objtype == OBJECT_DATABASE;
		case T_AlterDatabaseStmt:
			return ChangesSchedulability((AlterDatabaseStmt *) parsetree);
		default:
			return false;
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
		DropdbStmt *stmt = (DropdbStmt *) parsetree;
		Oid			dboid = get_database_oid(stmt->dbname, true);

		if (DropWillProceed(stmt, dboid, context))
		{
			StopDatabaseProcesses(dboid);
			PG_TRY();
			{
				CallNext(pstmt, queryString, readOnlyTree, context, params,
						 queryEnv, dest, qc);
			}
			PG_CATCH();
			{
				/* The database stays: so does its scheduler. */
				UsoRequestSchedulerStart(dboid);
				PG_RE_THROW();
			}
			PG_END_TRY();
			return;
		}
	}

	CallNext(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);

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
	if (ChangesWhoCanRun(parsetree))
		UsoWakeAllAtCommit();
	/* Connections allowed again, or no longer a template: it may want one. */
	if (IsA(parsetree, AlterDatabaseStmt) &&
		ChangesSchedulability((AlterDatabaseStmt *) parsetree))
	{
		RegisterCallbackOnce();
		start_at_commit = get_database_oid(((AlterDatabaseStmt *) parsetree)->dbname, true);
	}
}

void
UsoHooksInstall(void)
{
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = uso_ProcessUtility;
}
