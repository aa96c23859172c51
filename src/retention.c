/*-------------------------------------------------------------------------
 * retention.c
 *	  uso_purge_runs_batch(): one bounded batch of run-history purging, the
 *	  building block of uso_purge_runs(); and the housekeeping procedure
 *	  uso_purge_runs_batched(), which commits after each batch.
 *
 * The runs to purge are chosen as the caller, so row-level security limits
 * a role to the runs of its own tasks (members of uso_admin see all), and
 * are then deleted as the superuser with FOR UPDATE SKIP LOCKED: a row some
 * other transaction holds is left for a later batch instead of making the
 * purge (and anything queued behind it) wait.  Only finished runs are ever
 * deleted; their log lines go by the foreign key's cascade.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "nodes/parsenodes.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "uso_tasks.h"
#include "catalog.h"

PG_FUNCTION_INFO_V1(uso_purge_runs_batch);
PG_FUNCTION_INFO_V1(uso_purge_runs_batched);

#define USO_PURGE_MAX_BATCH 1000000

/*
 * The cutoff instant: now() - older_than, or now() - uso_tasks.run_retention
 * when older_than is NULL.  A negative age would purge runs that have not
 * happened yet: refused.
 */
static TimestampTz
PurgeCutoff(FunctionCallInfo fcinfo)
{
	Interval   *older_than;
	Interval	zero;

	if (PG_ARGISNULL(0))
	{
		older_than = palloc0(sizeof(Interval));
		older_than->time = (int64) uso_run_retention_s * USECS_PER_SEC;
	}
	else
		older_than = PG_GETARG_INTERVAL_P(0);

	memset(&zero, 0, sizeof(zero));
	if (DatumGetInt32(DirectFunctionCall2(interval_cmp, IntervalPGetDatum(older_than),
										  IntervalPGetDatum(&zero))) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("older_than must not be negative"),
				 errhint("Runs finished before now() - older_than are purged; '0' purges every finished run.")));

	/* Raises 22008 (timestamp out of range) for an absurd age such as 300000 years. */
	return DatumGetTimestampTz(DirectFunctionCall2(timestamptz_mi_interval,
												   TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()),
												   IntervalPGetDatum(older_than)));
}

/*
 * uso_purge_runs_batch(older_than interval, batch_size int) returns bigint:
 * deletes at most batch_size finished runs the caller may see that either
 * finished before now() - older_than or lie beyond their task's keep_runs
 * newest finished runs.  Returns how many it deleted; 0 means nothing (not
 * locked by someone else) is left to purge.
 */
Datum
uso_purge_runs_batch(PG_FUNCTION_ARGS)
{
	TimestampTz cutoff;
	int32		batch;
	const char *schema;
	Oid			types[2] = {TIMESTAMPTZOID, INT4OID};
	Datum		values[2];
	Oid			del_types[1] = {INT8ARRAYOID};
	Datum		del_values[1];
	bool		isnull;
	Datum		ids;
	int64		deleted;
	UsoSuperSave save;
	int			nestlevel;

	UsoRequirePreload();
	cutoff = PurgeCutoff(fcinfo);
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("batch_size must not be NULL")));
	batch = PG_GETARG_INT32(1);
	if (batch < 1 || batch > USO_PURGE_MAX_BATCH)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch_size must be between 1 and %d (got %d)",
						USO_PURGE_MAX_BATCH, batch)));

	SPI_connect();
	schema = UsoCatalogSchema();
	if (schema == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("extension \"uso_tasks\" does not exist in this database")));

	/* Our SQL below resolves no name through the caller's search_path. */
	nestlevel = UsoPinSearchPath();

	/* As the caller: row-level security decides whose runs are candidates. */
	values[0] = TimestampTzGetDatum(cutoff);
	values[1] = Int32GetDatum(batch);
	if (SPI_execute_with_args(psprintf(
			"SELECT pg_catalog.array_agg(u.id) FROM ("
			"  (SELECT r.id FROM %s.uso_task_run r"
			"   WHERE r.finished_at OPERATOR(pg_catalog.<) $1"
			"   ORDER BY r.finished_at LIMIT $2)"
			"  UNION"
			"  (SELECT c.id FROM %s.uso_task t CROSS JOIN LATERAL"
			"     (SELECT r.id FROM %s.uso_task_run r"
			"      WHERE r.task_id OPERATOR(pg_catalog.=) t.id AND r.finished_at IS NOT NULL"
			"      ORDER BY r.id DESC OFFSET t.keep_runs LIMIT $2) c"
			"   LIMIT $2)"
			"  LIMIT $2) u",
			schema, schema, schema),
							  2, types, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "uso_tasks could not select the runs to purge");
	ids = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
	{
		UsoUnpinSearchPath(nestlevel);
		SPI_finish();
		PG_RETURN_INT64(0);
	}

	/* As the superuser: delete those still finished, skipping locked rows. */
	del_values[0] = ids;
	UsoBecomeSuperuser(&save);
	if (SPI_execute_with_args(psprintf(
			"DELETE FROM %s.uso_task_run r USING"
			" (SELECT x.id FROM %s.uso_task_run x"
			"  WHERE x.id OPERATOR(pg_catalog.=) ANY ($1) AND x.finished_at IS NOT NULL"
			"  FOR UPDATE SKIP LOCKED) d"
			" WHERE r.id OPERATOR(pg_catalog.=) d.id",
			schema, schema),
							  1, del_types, del_values, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "uso_tasks could not purge runs");
	UsoRestoreUser(&save);
	deleted = (int64) SPI_processed;
	UsoUnpinSearchPath(nestlevel);
	SPI_finish();
	PG_RETURN_INT64(deleted);
}

/*
 * CALL uso_purge_runs_batched(older_than interval, batch_size int): batches
 * of uso_purge_runs_batch() until one deletes nothing, committing after each
 * so no batch's locks outlive it.  In C rather than PL/pgSQL because a
 * procedure that commits may not pin its search_path with SET, and this one
 * runs as the extension's owner (the housekeeping task): its only query names
 * the private schema and passes exact types, so no search_path is consulted.
 */
Datum
uso_purge_runs_batched(PG_FUNCTION_ARGS)
{
	Oid			types[2] = {INTERVALOID, INT4OID};
	Datum		values[2];
	char		nulls[2] = {' ', ' '};
	Interval	older_than;
	int64		total = 0;
	int64		n;
	bool		isnull;
	bool		nonatomic;

	/* Inside a transaction block or a function, SPI_commit() refuses (2D000). */
	nonatomic = fcinfo->context != NULL && IsA(fcinfo->context, CallContext) &&
		!castNode(CallContext, fcinfo->context)->atomic;

	/* A copy on the stack: the argument's memory need not outlive a commit. */
	if (PG_ARGISNULL(0))
		nulls[0] = 'n';
	else
		older_than = *PG_GETARG_INTERVAL_P(0);
	values[0] = IntervalPGetDatum(&older_than);
	if (PG_ARGISNULL(1))
		nulls[1] = 'n';
	values[1] = PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1);

	SPI_connect_ext(nonatomic ? SPI_OPT_NONATOMIC : 0);
	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		if (SPI_execute_with_args("SELECT " USO_PRIVATE_SCHEMA ".uso_purge_runs_batch($1, $2)",
								  2, types, values, nulls, false, 1) != SPI_OK_SELECT ||
			SPI_processed != 1)
			elog(ERROR, "uso_tasks could not purge a batch of runs");
		n = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		total += isnull ? 0 : n;
		SPI_commit();
		if (isnull || n == 0)
			break;
	}
	SPI_finish();
	ereport(NOTICE, (errmsg("purged " INT64_FORMAT " runs", total)));
	PG_RETURN_VOID();
}
