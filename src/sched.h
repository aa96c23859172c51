/*-------------------------------------------------------------------------
 * sched.h
 *	  Internals of the per-database scheduler, shared by scheduler.c (the
 *	  loop and due-time bookkeeping), sched_pool.c (executor workers) and
 *	  sched_store.c (its catalog reads and batched writes).
 *-------------------------------------------------------------------------
 */
#ifndef USO_SCHED_H
#define USO_SCHED_H

#include "datatype/timestamp.h"
#include "access/htup.h"
#include "access/tupdesc.h"
#include "nodes/pg_list.h"
#include "utils/hsearch.h"

#include "schedule.h"
#include "shmem.h"

typedef enum SchedOverlap
{
	OVERLAP_SKIP,
	OVERLAP_QUEUE,
	OVERLAP_PARALLEL
} SchedOverlap;

/* One task as the scheduler keeps it in memory. */
typedef struct SchedTask
{
	int64		id;				/* hash key */
	char	   *name;
	char	   *schedule_text;
	char	   *tz_name;
	UsoSchedule schedule;
	bool		schedule_ok;
	pg_tz	   *tz;
	bool		enabled;
	char	   *problem;		/* why it cannot run (role dropped...), or NULL */
	TimestampTz next_run;		/* DT_NOEND: never */
	TimestampTz last_start;		/* DT_NOBEGIN: never ran */
	SchedOverlap overlap;
	bool		misfire_skip;
	Oid			dboid;
	Oid			roleid;
	char	   *command;		/* tasks in another database only */
	char	   *config;			/* likewise */
	int			timeout_ms;		/* likewise; 0 = none */
	int			max_retries;
	int64		retry_delay_us;
	int64		retry_after_us;
	int			active;			/* runs due and waiting for a worker, or running */
	int			running;		/* runs handed to a worker */
	int			unwritten;		/* queued runs not yet inserted (row locked) */
	int64		active_run;		/* one of them, for messages */
	int			heap_pos;		/* index in the due heap, -1 when absent */
	bool		seen;			/* mark for reloads */
	bool		next_dirty;		/* next_run/last_start to be written */
} SchedTask;

/* A run the scheduler knows about, until its worker reports it ended. */
typedef struct SchedRun
{
	int64		run_id;			/* hash key */
	int64		task_id;
	int			attempt;
	TimestampTz due;			/* may not start before this */
	bool		counted;		/* counted in its task's active */
	bool		dispatched;
} SchedRun;

/* A row to insert into uso_task_run. */
typedef struct NewRun
{
	int64		task_id;
	const char *trigger;
	TimestampTz scheduled_for;	/* DT_NOBEGIN = NULL */
	const char *status;			/* queued, skipped or failed */
	int			attempt;
	const char *message;		/* for skipped and failed rows */
} NewRun;

/* A run to close as failed, e.g. when its worker died. */
typedef struct ClosedRun
{
	int64		run_id;
	const char *status;			/* failed or timed_out */
	const char *message;
} ClosedRun;

/* scheduler.c */
extern HTAB *SchedTasks;
extern HTAB *SchedRuns;
extern List *ReadyRuns;			/* SchedRun *, FIFO, due now */
extern List *DirtyTasks;		/* SchedTask * whose next/last run must be written */
extern MemoryContext SchedContext;	/* lives as long as the scheduler */
extern void SchedMarkDirty(SchedTask *t);
extern void SchedTaskLoaded(SchedTask *t, bool changed, TimestampTz stored_next,
							bool first, TimestampTz now);
extern void SchedForgetRun(int64 run_id);
extern void SchedSweepUnseen(void);
extern SchedTask *SchedLookupTask(int64 id);
extern void SchedCountUnwritten(int64 task_id, int delta);
extern void SchedRunEnded(int64 run_id, UsoRunOutcome outcome, const char *died_message);
extern void SchedAddRun(int64 run_id, int64 task_id, int attempt, TimestampTz due,
						const char *trigger);

/* sched_store.c (reads) and sched_flush.c (writes) */
extern const char *SchedSchema;
extern void StoreCloseInterrupted(List *live_run_ids);
extern void StoreLoadTasks(TimestampTz now, bool first);
extern void StoreLoadQueuedRuns(void);
extern void StoreResolveAdopted(void);
extern void StoreQueueNewRun(NewRun *run);
extern void StoreQueueClose(int64 run_id, const char *message);
extern void StoreQueueCloseAs(int64 run_id, const char *status, const char *message);
extern void StoreQueueRemoteStart(int64 run_id);
extern void StoreQueueRemoteFinish(int64 run_id, UsoRunOutcome outcome,
								   TimestampTz started, const char *sqlstate,
								   const char *tag, const char *message);
extern bool StoreFlush(void);
extern bool StoreHasDeferred(void);

/* sched_sql.c */
extern void SchedBeginCatalogWork(void);
extern void SchedEndCatalogWork(void);
extern void SchedExec(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls);
extern Datum SchedInt8Array(int64 *v, int n);
extern Datum SchedInt4Array(int *v, int n);
extern Datum SchedTextArray(const char **v, int n, bool **nulls_out);
extern Datum SchedTimeArray(TimestampTz *v, int n);
extern char *SchedCopyText(HeapTuple tup, TupleDesc desc, int col);
extern char *SchedCopyTextOrNull(HeapTuple tup, TupleDesc desc, int col);
extern TimestampTz SchedGetTime(HeapTuple tup, TupleDesc desc, int col);

/* sched_pool.c */
extern void PoolAdoptLiveWorkers(void);
extern void PoolCollect(void);
extern void PoolDispatch(void);
extern bool PoolWaitingForRoom;
extern TimestampTz PoolEnforceTimeouts(TimestampTz now);
extern bool PoolHasUnwatchedWorkers(void);
extern void PoolCountLive(List **run_ids);

/* sched_status.c: heartbeat for uso_scheduler_status; returns the sleep, capped. */
extern long SchedStatusBeat(long timeout_ms);

#endif							/* USO_SCHED_H */
