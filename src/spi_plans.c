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
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "utils/memutils.h"

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

int
UsoExecKept(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls)
{
	int			ret = SPI_execute_plan(UsoKeptPlan(sql, nargs, types), values, nulls,
									   false, 0);

	if (ret < 0)
		elog(ERROR, "uso_tasks catalog statement failed (%s): %s",
			 SPI_result_code_string(ret), sql);
	return ret;
}
