/*-------------------------------------------------------------------------
 * spi_plans.h
 *	  Kept SPI plans of the engine's own catalog statements, so the
 *	  scheduler and the executors parse and plan each of them once per
 *	  process instead of once per use.
 *-------------------------------------------------------------------------
 */
#ifndef USO_SPI_PLANS_H
#define USO_SPI_PLANS_H

#include "executor/spi.h"

/*
 * The kept generic plan of sql (parameters of the given types), prepared on
 * first use.  Callers are inside SPI_connect.  The plan cache revalidates
 * kept plans when the tables under them change.
 */
extern SPIPlanPtr UsoKeptPlan(const char *sql, int nargs, Oid *types);

/*
 * UsoKeptPlan + SPI_execute_plan, planned without sequential scans (see
 * spi_plans.c); ERROR when the statement fails.
 */
extern int	UsoExecKept(const char *sql, int nargs, Oid *types, Datum *values,
						const char *nulls);

#endif							/* USO_SPI_PLANS_H */
