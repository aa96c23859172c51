/*-------------------------------------------------------------------------
 * lock_guard.c
 *	  Keeps roles other than superusers from taking table locks on the
 *	  engine's tables that would stall the scheduler and every other role's
 *	  runs.
 *
 * PostgreSQL lets whoever has table-level UPDATE, DELETE or TRUNCATE on a
 * table LOCK it in any mode.  Every role has DELETE on uso_task and
 * uso_task_run (it deletes its own tasks and finished runs, limited by
 * row-level security), so `LOCK TABLE uso_task IN ACCESS EXCLUSIVE MODE`
 * would stop the scheduler, which reads and writes both tables for every
 * role, for as long as the locker's transaction lasts.  The same lock
 * reached through a view (LOCK on a view locks the tables it reads) is
 * refused as well.  Modes up to ROW EXCLUSIVE are what reads and writes of
 * rows take anyway, so they stay allowed.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "nodes/parsenodes.h"
#include "rewrite/rewriteHandler.h"
#include "storage/lmgr.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "lock_guard.h"

/* Views nest; a cycle is impossible, but a bound keeps the walk cheap. */
#define MAX_VIEW_DEPTH	32

typedef struct ReachContext
{
	Oid			extoid;
	int			depth;
} ReachContext;

static bool RelationReachesEngine(Oid relid, ReachContext *cxt);

/* The mode as LOCK spells it. */
static const char *
LockModeSqlName(LOCKMODE mode)
{
	static const char *const names[] = {
		"", "ACCESS SHARE", "ROW SHARE", "ROW EXCLUSIVE", "SHARE UPDATE EXCLUSIVE",
		"SHARE", "SHARE ROW EXCLUSIVE", "EXCLUSIVE", "ACCESS EXCLUSIVE"
	};

	return mode >= 1 && mode < lengthof(names) ? names[mode] : "this";
}

static bool
reach_walker(Node *node, ReachContext *cxt)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
	{
		Query	   *query = (Query *) node;
		ListCell   *lc;

		foreach(lc, query->rtable)
		{
			RangeTblEntry *rte = lfirst(lc);

			if (rte->rtekind == RTE_RELATION && RelationReachesEngine(rte->relid, cxt))
				return true;
		}
		return query_tree_walker(query, reach_walker, cxt, 0);
	}
	return expression_tree_walker(node, reach_walker, cxt);
}

/*
 * Is relid one of the extension's tables, or a view that LOCK would
 * recurse from into one of them?
 */
static bool
RelationReachesEngine(Oid relid, ReachContext *cxt)
{
	Relation	rel;
	bool		result = false;

	if (getExtensionOfObject(RelationRelationId, relid) == cxt->extoid)
		return true;
	if (get_rel_relkind(relid) != RELKIND_VIEW || cxt->depth >= MAX_VIEW_DEPTH)
		return false;

	rel = relation_open(relid, AccessShareLock);
	cxt->depth++;
	result = reach_walker((Node *) get_view_query(rel), cxt);
	cxt->depth--;
	relation_close(rel, AccessShareLock);
	return result;
}

/*
 * Called by the utility hook before a LOCK statement runs: refuse it when
 * it would lock one of the extension's tables in a mode stronger than ROW
 * EXCLUSIVE and the caller is not a superuser.
 */
void
UsoGuardLockStmt(LockStmt *stmt)
{
	ReachContext cxt;
	ListCell   *lc;

	if (stmt->mode <= RowExclusiveLock || superuser())
		return;
	cxt.extoid = get_extension_oid("uso_tasks", true);
	cxt.depth = 0;
	if (!OidIsValid(cxt.extoid))
		return;

	foreach(lc, stmt->relations)
	{
		RangeVar   *rv = lfirst_node(RangeVar, lc);
		Oid			relid = RangeVarGetRelid(rv, NoLock, true);

		/* A missing relation is LOCK's own error to report. */
		if (OidIsValid(relid) && RelationReachesEngine(relid, &cxt))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("only a superuser may lock \"%s\" in %s mode",
							rv->relname, LockModeSqlName(stmt->mode)),
					 errdetail("The uso_tasks scheduler reads and writes this table for every "
							   "role's tasks; a lock stronger than ROW EXCLUSIVE would stall them all."),
					 errhint("Lock the rows of your own tasks instead (SELECT ... FOR UPDATE), "
							 "or use the uso_* functions.")));
	}
}
