/*-------------------------------------------------------------------------
 * alert_delivery.c
 *	  CALL uso_deliver_alerts(max_alerts, INOUT sent): the loop that sends
 *	  the outbox's alerts, committing between its steps.
 *
 * Each step is a private SQL function with a pinned search_path
 * (sql/install/95_operations.sql): fold the run ends not yet counted, claim
 * the next alert, send it, record how that went.  The loop is in C because it
 * must commit between the steps (the claim before the send, so no lock is held
 * while a mail server or webhook takes its time), and a PL/pgSQL procedure
 * that commits cannot pin its search_path with SET; this one runs as the
 * extension's owner (the built-in task), so its statements name the private
 * schema, pass exact types and resolve nothing through a search_path.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"

#include "uso_tasks.h"

PG_FUNCTION_INFO_V1(uso_deliver_alerts);

#define Q(sql)	("SELECT " USO_PRIVATE_SCHEMA "." sql)

/* One row, one column of a statement that must return exactly that. */
static char *
QueryValue(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls)
{
	if (SPI_execute_with_args(sql, nargs, types, values, nulls, false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "uso_tasks alert delivery: \"%s\" returned no row", sql);
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

Datum
uso_deliver_alerts(PG_FUNCTION_ARGS)
{
	int32		max_alerts = PG_ARGISNULL(0) ? 100 : PG_GETARG_INT32(0);
	int32		sent = 0;
	int32		tried = 0;
	bool		nonatomic;
	char	   *admin;

	/* Inside a transaction block or a function, SPI_commit() refuses (2D000). */
	nonatomic = fcinfo->context != NULL && IsA(fcinfo->context, CallContext) &&
		!castNode(CallContext, fcinfo->context)->atomic;

	/*
	 * In the non-atomic case the SPI procedure context outlives each commit,
	 * so the claimed alert's strings (palloc'd there by SPI_getvalue) are
	 * still there for the send that follows the claim's commit.
	 */
	SPI_connect_ext(nonatomic ? SPI_OPT_NONATOMIC : 0);

	admin = QueryValue(Q("uso_is_admin()"), 0, NULL, NULL, NULL);
	if (admin == NULL || strcmp(admin, "t") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only superusers and members of uso_admin may deliver alerts")));

	(void) QueryValue(Q("uso_fold_outcomes(true)"), 0, NULL, NULL, NULL);
	SPI_commit();

	while (tried < max_alerts)
	{
		Oid			send_types[4] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID};
		Datum		send_values[4];
		char		send_nulls[4];
		Oid			done_types[2] = {INT8OID, TEXTOID};
		Datum		done_values[2];
		char		done_nulls[2] = {' ', ' '};
		char	   *id;
		char	   *err;
		TupleDesc	desc;
		HeapTuple	tup;

		CHECK_FOR_INTERRUPTS();
		if (SPI_execute("SELECT c.id, c.channel, c.recipient, c.subject, c.body FROM "
						USO_PRIVATE_SCHEMA ".uso_claim_alert() c", false, 1) != SPI_OK_SELECT ||
			SPI_processed != 1)
			elog(ERROR, "uso_tasks alert delivery could not claim an alert");
		desc = SPI_tuptable->tupdesc;
		tup = SPI_tuptable->vals[0];
		id = SPI_getvalue(tup, desc, 1);
		if (id == NULL)
			break;
		for (int i = 0; i < 4; i++)
		{
			char	   *v = SPI_getvalue(tup, desc, i + 2);

			send_values[i] = v ? CStringGetTextDatum(v) : (Datum) 0;
			send_nulls[i] = v ? ' ' : 'n';
		}
		SPI_commit();

		/* No lock is held here: the send may take as long as the server does. */
		err = QueryValue(Q("uso_send_alert($1, $2, $3, $4)"), 4, send_types, send_values, send_nulls);

		done_values[0] = DirectFunctionCall1(int8in, CStringGetDatum(id));
		done_values[1] = err ? CStringGetTextDatum(err) : (Datum) 0;
		done_nulls[1] = err ? ' ' : 'n';
		if (SPI_execute_with_args(Q("uso_alert_done($1, $2)"), 2, done_types, done_values,
								  done_nulls, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "uso_tasks alert delivery could not record alert %s", id);
		SPI_commit();

		tried++;
		if (err == NULL)
			sent++;
	}
	SPI_finish();

	/* A procedure's output parameters come back as one record (here: sent). */
	{
		TupleDesc	desc = CreateTemplateTupleDesc(1);
		Datum		value = Int32GetDatum(sent);
		bool		isnull = false;

		TupleDescInitEntry(desc, (AttrNumber) 1, "sent", INT4OID, -1, 0);
		desc = BlessTupleDesc(desc);
		PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, &value, &isnull)));
	}
}
