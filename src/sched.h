/*-------------------------------------------------------------------------
 * sched.h
 *	  The server side of the per-database scheduler, around its state
 *	  (sched_state.c): the store (sched_store.c reads, sched_flush.c
 *	  writes, sched_sql.c what both share), the pool (sched_pool.c) and the
 *	  clock (sched_clock.c).  scheduler.c is the only file that calls them
 *	  all; none of them calls back into it or into the state (the store
 *	  does feed the pool the role actors it reads: StoreReadActors).
 *-------------------------------------------------------------------------
 */
#ifndef USO_SCHED_H
#define USO_SCHED_H

#include "datatype/timestamp.h"
#include "access/htup.h"
#include "access/tupdesc.h"
#include "nodes/pg_list.h"

#include "schedule.h"
#include "sched_state.h"
#include "shmem.h"

/* ---------- the store: sched_store.c (reads) ---------- */

extern const char *SchedSchema;

/* A queued run row, or one the flush wrote. */
typedef struct StoreRunRow
{
	int64		run_id;
	int64		task_id;
	int			attempt;
	TimestampTz due;			/* COALESCE(scheduled_for, queued_at) */
	const char *trigger;
} StoreRunRow;

/*
 * Rows are returned in the caller's memory context.  Closing what a crash
 * left open keeps the runs of live_ids (still executing) and queued runs
 * (they run now); an @reboot run still queued is closed only when a new
 * one replaces it (reboot_pending).
 */
extern void StoreCloseInterrupted(int64 *live_ids, int n, bool reboot_pending);
extern void StoreOpenTasks(void);
extern int	StoreNextTasks(SchedTaskRow **rows);
extern void StoreCloseTasks(void);
extern void StoreReadActors(void);
extern int	StoreReadQueuedRuns(StoreRunRow **rows);
extern int	StoreReadRunTasks(int64 *run_ids, int n, StoreRunRow **rows);

/* How a run ended according to its (finished) row. */
typedef struct StoreRunEnd
{
	int64		run_id;
	SchedOutcome outcome;
} StoreRunEnd;

extern int	StoreQueuePendingFollowers(void);
extern int	StoreFoldOutcomes(void);
extern int	StoreReadRunEnds(int64 *run_ids, int n, StoreRunEnd **ends);

/* ---------- the store: sched_flush.c (writes) ---------- */

typedef struct StoreFlushResult
{
	MemoryContext cxt;			/* where these arrays live */
	StoreRunRow *written;		/* queued runs inserted */
	int			n_written;
	int64	   *settled;		/* a task id per queued new run written or dropped */
	int			n_settled;
	int64	   *deferred_dirty; /* tasks whose next/last run could not be written */
	int			n_deferred_dirty;
} StoreFlushResult;

extern void StoreQueueRemoteFinish(int64 run_id, UsoRunOutcome outcome,
								   TimestampTz started, const char *sqlstate,
								   const char *tag, const char *message);
extern bool StoreFlush(SchedDecisions *d, StoreFlushResult *res);
extern bool StoreHasDeferred(void);
extern bool StoreHasDeferredTrigger(const char *trigger);

/* ---------- sched_sql.c ---------- */

extern void SchedBeginCatalogWork(void);
extern void SchedEndCatalogWork(void);
extern void SchedExec(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls);
extern Datum SchedInt8Array(int64 *v, int n);
extern Datum SchedInt4Array(int *v, int n);
extern Datum SchedTextArray(const char **v, int n, bool **nulls_out);
extern Datum SchedTimeArray(TimestampTz *v, int n);
extern char *SchedCopyText(MemoryContext cxt, HeapTuple tup, TupleDesc desc, int col);
extern char *SchedCopyTextOrNull(MemoryContext cxt, HeapTuple tup, TupleDesc desc, int col);
extern TimestampTz SchedGetTime(HeapTuple tup, TupleDesc desc, int col);

/* ---------- the pool: sched_pool.c ---------- */

/* A run that ended or whose worker died, as the pool saw it. */
typedef struct PoolEvent
{
	int64		run_id;
	SchedOutcome outcome;
	bool		remote;			/* another database's: record its outcome */
	UsoRunOutcome remote_outcome;
	TimestampTz started;
	char		sqlstate[6];
	char		tag[64];
	char		message[USO_REMOTE_MESSAGE_LEN];
} PoolEvent;

/* Live runs of this database's workers (after a scheduler restart). */
extern int	PoolAdoptLiveWorkers(int64 **run_ids);
extern int	PoolCollect(PoolEvent **events);
/* Place candidates in order; placed[] gets the run ids handed to a worker. */
extern int	PoolDispatch(SchedCandidate *cands, int n, int64 *placed, bool *waiting_for_room);
/*
 * Owner role -> the login roles (not superusers) that may SET ROLE to it,
 * loaded with the tasks in roleid order (sched_actors.c).
 */
typedef struct RoleActors
{
	Oid			roleid;
	int			n;
	Oid			actors[USO_MAX_ACTORS];
} RoleActors;

/* Every idle worker of this scheduler exits (roles or rights changed). */
extern void PoolRetireIdle(void);
extern void PoolResetActors(void);
extern void PoolAddActors(Oid roleid, const Oid *actors, int n);
extern const RoleActors *PoolFindActors(Oid roleid);
extern TimestampTz PoolEnforceTimeouts(TimestampTz now);
extern bool PoolHasUnwatchedWorkers(void);

/* ---------- the clock: sched_clock.c ---------- */

/*
 * Every "now" and every sleep of the scheduler's loop (the state's
 * decisions, the pool's timeouts, the status heartbeat) goes through the
 * clock, so a test build can replace it by pointing sched_clock at its own
 * (TimescaleDB's bgw timer is the model).  None does yet: the simulation
 * (test/sim) does not compile scheduler.c and gives the state its own
 * clock.  Not through it: the wait for the slot at startup (ClaimSlot) and
 * the times written into run rows (the database's clock_timestamp()).
 * wait: sleep until the latch is set or timeout_ms passes (-1: no timeout).
 */
typedef struct SchedClock
{
	TimestampTz (*now) (void);
	void		(*wait) (long timeout_ms);
} SchedClock;

extern const SchedClock *sched_clock;

static inline TimestampTz
SchedNow(void)
{
	return sched_clock->now();
}

/* sched_status.c: heartbeat for uso_scheduler_status; returns the sleep, capped. */
extern long SchedStatusBeat(long timeout_ms, int tasks_loaded, int runs_queued,
							int runs_running);

#endif							/* USO_SCHED_H */
