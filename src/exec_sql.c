/*-------------------------------------------------------------------------
 * exec_sql.c
 *	  Run SQL text in an executor worker as a client's simple query would:
 *	  parse, analyze, plan and run each statement through an unnamed portal
 *	  at top level.
 *
 * Why portals and not SPI: procedures that COMMIT need a non-atomic top-level
 * context, utility commands such as VACUUM need isTopLevel, and the command
 * tag (INSERT 0 1) is what pg_cron users expect as the run's message.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/printtup.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "commands/portalcmds.h"
#include "nodes/parsenodes.h"
#include "parser/analyze.h"
#include "tcop/cmdtag.h"
#include "tcop/pquery.h"
#include "tcop/tcopprot.h"
#include "tcop/utility.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/portal.h"
#include "utils/snapmgr.h"

#include "command_rules.h"
#include "exec_sql.h"

/* Receiver that keeps the first column of the first row and counts rows. */
typedef struct CaptureReceiver
{
	DestReceiver pub;
	MemoryContext cxt;			/* where the captured value lives */
	uint64		nrows;
	int			ncolumns;
	char	   *first_value;
} CaptureReceiver;

static bool
capture_receive(TupleTableSlot *slot, DestReceiver *self)
{
	CaptureReceiver *r = (CaptureReceiver *) self;

	if (r->nrows++ == 0 && slot->tts_tupleDescriptor->natts >= 1)
	{
		bool		isnull;
		Datum		value = slot_getattr(slot, 1, &isnull);

		r->ncolumns = slot->tts_tupleDescriptor->natts;
		/* A void result (SELECT pg_sleep(1)) is no value: the tag is the message. */
		if (!isnull && TupleDescAttr(slot->tts_tupleDescriptor, 0)->atttypid != VOIDOID)
		{
			Oid			typoutput;
			bool		typisvarlena;
			MemoryContext old = MemoryContextSwitchTo(r->cxt);

			getTypeOutputInfo(TupleDescAttr(slot->tts_tupleDescriptor, 0)->atttypid,
							  &typoutput, &typisvarlena);
			r->first_value = OidOutputFunctionCall(typoutput, value);
			MemoryContextSwitchTo(old);
		}
	}
	return true;
}

static void
capture_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
	CaptureReceiver *r = (CaptureReceiver *) self;

	r->nrows = 0;
	r->ncolumns = typeinfo ? typeinfo->natts : 0;
	r->first_value = NULL;
}

static void
capture_shutdown(DestReceiver *self)
{
}

static void
capture_destroy(DestReceiver *self)
{
}

/* The tag as a client sees it: "INSERT 0 3", "SELECT 1", "CALL". */
static char *
CompletionString(const QueryCompletion *qc)
{
	const char *name = GetCommandTagName(qc->commandTag);

	if (!command_tag_display_rowcount(qc->commandTag))
		return pstrdup(name);
	if (qc->commandTag == CMDTAG_INSERT)
		return psprintf("%s 0 " UINT64_FORMAT, name, qc->nprocessed);
	return psprintf("%s " UINT64_FORMAT, name, qc->nprocessed);
}

void
UsoExecuteSql(const char *sql, UsoSqlResult *result)
{
	MemoryContext caller_cxt = CurrentMemoryContext;
	List	   *parsetrees;
	ListCell   *lc;
	CaptureReceiver receiver;

	memset(result, 0, sizeof(*result));
	memset(&receiver, 0, sizeof(receiver));
	receiver.pub.receiveSlot = capture_receive;
	receiver.pub.rStartup = capture_startup;
	receiver.pub.rShutdown = capture_shutdown;
	receiver.pub.rDestroy = capture_destroy;
	receiver.pub.mydest = DestNone;
	receiver.cxt = caller_cxt;

	parsetrees = pg_parse_query(sql);
	if (parsetrees == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("task command contains no statement")));

	/*
	 * All statements run at top level in one transaction: one that commits
	 * by itself (VACUUM, CREATE DATABASE) would make a later failure keep
	 * half the work, so the whole list is checked before the first runs.
	 */
	UsoCheckCommandRules(parsetrees);

	/*
	 * The caller's context must outlive the transactions a procedure may
	 * commit: the parse trees and the result live there.
	 */
	foreach(lc, parsetrees)
	{
		RawStmt    *parsetree = lfirst_node(RawStmt, lc);
		bool		snapshot_set = false;
		List	   *querytrees;
		List	   *plantrees;
		Portal		portal;
		QueryCompletion qc;
		CommandTag	tag;
		int16		format = 0;

		CHECK_FOR_INTERRUPTS();
		tag = CreateCommandTag(parsetree->stmt);
		if (analyze_requires_snapshot(parsetree))
		{
			PushActiveSnapshot(GetTransactionSnapshot());
			snapshot_set = true;
		}
		querytrees = pg_analyze_and_rewrite_fixedparams(parsetree, sql,
														NULL, 0, NULL);
		plantrees = pg_plan_queries(querytrees, sql,
									CURSOR_OPT_PARALLEL_OK, NULL);
		if (snapshot_set)
			PopActiveSnapshot();

		portal = CreatePortal("", true, true);
		portal->visible = false;
		PortalDefineQuery(portal, NULL, sql, tag, plantrees, NULL);
		PortalStart(portal, NULL, 0, InvalidSnapshot);
		PortalSetResultFormat(portal, 1, &format);

		InitializeQueryCompletion(&qc);
		(void) PortalRun(portal, FETCH_ALL, true, true,
						 &receiver.pub, &receiver.pub, &qc);
		PortalDrop(portal, false);

		/* Later statements see what earlier ones did. */
		if (lnext(parsetrees, lc) != NULL)
			CommandCounterIncrement();
		else
		{
			MemoryContext o = MemoryContextSwitchTo(caller_cxt);

			result->command_tag = CompletionString(&qc);
			result->nrows = receiver.nrows;
			if (receiver.nrows == 1 && receiver.ncolumns == 1 &&
				receiver.first_value != NULL)
				result->single_value = pstrdup(receiver.first_value);
			MemoryContextSwitchTo(o);
		}
	}
}
