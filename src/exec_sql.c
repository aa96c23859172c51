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

#include "access/detoast.h"
#include "access/printtup.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "commands/portalcmds.h"
#include "nodes/parsenodes.h"
#include "parser/analyze.h"
#include "tcop/cmdtag.h"
#include "tcop/pquery.h"
#include "tcop/tcopprot.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/portal.h"
#include "utils/snapmgr.h"

#include "capture.h"
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

/*
 * The first value as text of at most USO_MAX_TEXT_BYTES bytes.  A large
 * text-like value is not converted whole (a task's SELECT of 700 MB would
 * otherwise be copied twice into the worker's memory for an 8 kB message):
 * only its first bytes are detoasted.  A value of another type is converted
 * and cut, unless it is so large (jsonb of 700 MB) that its output function
 * would build all of it: then it is described instead.
 */
#define USO_MAX_CONVERTED_BYTES (1024 * 1024)

static char *
CappedOutput(Datum value, Oid typid)
{
	Oid			typoutput;
	bool		typisvarlena;

	getTypeOutputInfo(typid, &typoutput, &typisvarlena);
	if (typisvarlena && toast_raw_datum_size(value) > USO_MAX_TEXT_BYTES)
	{
		Size		size = toast_raw_datum_size(value) - VARHDRSZ;

		/* Output functions that print the stored bytes as they are. */
		if (typoutput == F_TEXTOUT || typoutput == F_VARCHAROUT ||
			typoutput == F_BPCHAROUT || typoutput == F_JSON_OUT)
		{
			text	   *head = DatumGetTextPSlice(value, 0, USO_MAX_TEXT_BYTES);
			char	   *s = text_to_cstring(head);

			/* The slice may end inside a character: cut at the last whole one. */
			return psprintf("%.*s...", pg_mbcliplen(s, strlen(s), USO_MAX_TEXT_BYTES - 3), s);
		}
		if (size > USO_MAX_CONVERTED_BYTES)
			return psprintf("(a value of type %s, %zu bytes, too large to store as the run's message)",
							format_type_be(typid), (size_t) size);
	}
	return UsoClipText(OidOutputFunctionCall(typoutput, value), USO_MAX_TEXT_BYTES);
}

static bool
capture_receive(TupleTableSlot *slot, DestReceiver *self)
{
	CaptureReceiver *r = (CaptureReceiver *) self;

	if (r->nrows++ == 0 && slot->tts_tupleDescriptor->natts >= 1)
	{
		bool		isnull;
		Datum		value = slot_getattr(slot, 1, &isnull);
		Oid			typid = TupleDescAttr(slot->tts_tupleDescriptor, 0)->atttypid;

		r->ncolumns = slot->tts_tupleDescriptor->natts;
		/* A void result (SELECT pg_sleep(1)) is no value: the tag is the message. */
		if (!isnull && typid != VOIDOID)
		{
			MemoryContext old = MemoryContextSwitchTo(r->cxt);

			r->first_value = CappedOutput(value, typid);
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
				result->single_value = receiver.first_value;
			MemoryContextSwitchTo(o);
		}
	}
}
