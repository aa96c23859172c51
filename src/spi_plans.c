/*-------------------------------------------------------------------------
 * spi_plans.c
 *	  Kept SPI plans of the engine's own catalog statements.
 *
 * The scheduler and every executor run the same handful of statements for
 * every run (queue it, mark it running, record how it ended).  Parsing and
 * planning them on each use was most of the engine's CPU per run, more than
 * a trivial task itself; a generic plan kept per statement text removes it.
 * The texts are few (they differ only by the extension's schema), so a
 * linear list is enough.
 *
 * A generic plan lives until an invalidation (DDL, or autovacuum updating
 * the table's statistics), and the planner prefers a sequential scan for a
 * small table even for a primary-key lookup.  A plan made while uso_task
 * had a few rows (a fresh install, a cleared table) then ran on as a scan
 * of every task per run, and `id = ANY($1)` as a scan of every task per id:
 * quadratic, with 6,000 tasks the scheduler did nothing else.  So these
 * statements are planned with enable_seqscan off (and jit off, which a
 * "disabled" cost would trigger).  The settings are made only when a plan
 * is about to be built, not on every execution.  A statement that reads a
 * whole table is not kept here: the scheduler's load of every task is a
 * cursor (sched_store.c), planned as the planner likes.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/plancache.h"

#include "spi_plans.h"

#define USO_MAX_KEPT_PLANS 32

typedef struct KeptPlan
{
	char	   *sql;
	SPIPlanPtr	plan;
} KeptPlan;

static KeptPlan Kept[USO_MAX_KEPT_PLANS];
static int	NumKept = 0;

SPIPlanPtr
UsoKeptPlan(const char *sql, int nargs, Oid *types)
{
	SPIPlanPtr	plan;

	for (int i = 0; i < NumKept; i++)
		if (strcmp(Kept[i].sql, sql) == 0)
			return Kept[i].plan;

	/*
	 * Generic plans: with custom ones (the default for the first uses) the
	 * plan cache would still plan on every execution.
	 */
	plan = SPI_prepare_cursor(sql, nargs, types, CURSOR_OPT_GENERIC_PLAN);
	if (plan == NULL)
		elog(ERROR, "uso_tasks could not prepare a catalog statement (%s): %s",
			 SPI_result_code_string(SPI_result), sql);
	if (NumKept == USO_MAX_KEPT_PLANS)
		return plan;			/* not kept: freed with the SPI procedure context */
	SPI_keepplan(plan);
	Kept[NumKept].sql = MemoryContextStrdup(TopMemoryContext, sql);
	Kept[NumKept].plan = plan;
	NumKept++;
	return plan;
}

/* Will executing plan build a generic plan (first use, or invalidated)? */
static bool
NeedsPlanning(SPIPlanPtr plan)
{
	ListCell   *lc;

	foreach(lc, SPI_plan_get_plan_sources(plan))
	{
		CachedPlanSource *ps = (CachedPlanSource *) lfirst(lc);

		if (!ps->is_valid || ps->gplan == NULL || !ps->gplan->is_valid)
			return true;
	}
	return false;
}

int
UsoExecKept(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls)
{
	SPIPlanPtr	plan = UsoKeptPlan(sql, nargs, types);
	int			ret;

	if (NeedsPlanning(plan))
	{
		int			nest = NewGUCNestLevel();

		(void) set_config_option("enable_seqscan", "off", PGC_SUSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
		/* A plan with a scan left in it costs "disabled": no JIT for that. */
		(void) set_config_option("jit", "off", PGC_SUSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
		ret = SPI_execute_plan(plan, values, nulls, false, 0);
		AtEOXact_GUC(true, nest);
	}
	else
		ret = SPI_execute_plan(plan, values, nulls, false, 0);
	if (ret < 0)
		elog(ERROR, "uso_tasks catalog statement failed (%s): %s",
			 SPI_result_code_string(ret), sql);
	return ret;
}
