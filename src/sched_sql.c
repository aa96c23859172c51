/*-------------------------------------------------------------------------
 * sched_sql.c
 *	  What the scheduler's catalog code shares: a transaction around catalog
 *	  work, kept-plan execution, and building array parameters for the
 *	  set-based statements.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "uso_tasks.h"
#include "catalog.h"
#include "sched.h"
#include "spi_plans.h"

static MemoryContext catalog_work_caller_cxt = NULL;

void
SchedBeginCatalogWork(void)
{
	/* Commit leaves TopMemoryContext current: the loop's context comes back. */
	catalog_work_caller_cxt = CurrentMemoryContext;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
}

void
SchedEndCatalogWork(void)
{
	PopActiveSnapshot();
	SPI_finish();
	CommitTransactionCommand();
	pgstat_report_stat(false);
	MemoryContextSwitchTo(catalog_work_caller_cxt);
}

void
SchedExec(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls)
{
	/* Kept plans: these statements run on every wake (spi_plans.c). */
	(void) UsoExecKept(sql, nargs, types, values, nulls);
}

Datum
SchedInt8Array(int64 *v, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = Int64GetDatum(v[i]);
	return PointerGetDatum(construct_array(d, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

Datum
SchedTextArray(const char **v, int n, bool **nulls_out)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	bool	   *nulls = palloc0(sizeof(bool) * Max(n, 1));
	int			dims[1] = {n};
	int			lbs[1] = {1};

	for (int i = 0; i < n; i++)
	{
		if (v[i] == NULL)
		{
			nulls[i] = true;
			d[i] = (Datum) 0;
		}
		else
			d[i] = CStringGetTextDatum(v[i]);
	}
	*nulls_out = nulls;
	return PointerGetDatum(construct_md_array(d, nulls, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
}

/* timestamptz[], DT_NOBEGIN / DT_NOEND meaning NULL. */
Datum
SchedTimeArray(TimestampTz *v, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	bool	   *nulls = palloc0(sizeof(bool) * Max(n, 1));
	int			dims[1] = {n};
	int			lbs[1] = {1};

	for (int i = 0; i < n; i++)
	{
		if (v[i] == DT_NOBEGIN || v[i] == DT_NOEND)
			nulls[i] = true;
		else
			d[i] = TimestampTzGetDatum(v[i]);
	}
	return PointerGetDatum(construct_md_array(d, nulls, 1, dims, lbs, TIMESTAMPTZOID, 8,
											  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

Datum
SchedInt4Array(int *v, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = Int32GetDatum(v[i]);
	return PointerGetDatum(construct_array(d, n, INT4OID, 4, true, TYPALIGN_INT));
}

/* Text of a column copied into cxt (SPI's memory goes at commit). */
char *
SchedCopyText(MemoryContext cxt, HeapTuple tup, TupleDesc desc, int col)
{
	char	   *v = SPI_getvalue(tup, desc, col);

	return MemoryContextStrdup(cxt, v ? v : "");
}

char *
SchedCopyTextOrNull(MemoryContext cxt, HeapTuple tup, TupleDesc desc, int col)
{
	char	   *v = SPI_getvalue(tup, desc, col);

	return v ? MemoryContextStrdup(cxt, v) : NULL;
}

TimestampTz
SchedGetTime(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? DT_NOBEGIN : DatumGetTimestampTz(d);
}
