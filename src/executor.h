/*-------------------------------------------------------------------------
 * executor.h
 *	  Executor workers: long-lived processes, one per (database, owner role)
 *	  at a time, that run the runs their scheduler assigns them.
 *-------------------------------------------------------------------------
 */
#ifndef USO_EXECUTOR_H
#define USO_EXECUTOR_H

#include "fmgr.h"

extern PGDLLEXPORT void uso_executor_main(Datum arg);

/* Inside a run: its id and its task's config (0 / NULL outside a run). */
extern int64 UsoCurrentRunId;
extern char *UsoCurrentTaskConfig;
extern int	UsoCurrentWorkerSlot;

#endif							/* USO_EXECUTOR_H */
