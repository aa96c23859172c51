/*-------------------------------------------------------------------------
 * sim_world.h
 *	  The simulated world: catalog rows, workers, the scheduler process.
 *-------------------------------------------------------------------------
 */
#ifndef USO_SIM_WORLD_H
#define USO_SIM_WORLD_H

#include "datatype/timestamp.h"
#include "utils/datetime.h"

#include "sched_map.h"
#include "sched_state.h"
#include "schedule.h"
#include "sim.h"

#define SEC			INT64CONST(1000000)
#define MS			INT64CONST(1000)
#define N_RECENT	16

typedef enum RowStatus
{
	RS_QUEUED,
	RS_RUNNING,
	RS_SUCCEEDED,
	RS_FAILED,
	RS_TIMED_OUT,
	RS_CANCELLED,
	RS_SKIPPED
} RowStatus;

/* A uso_task row, and what the checks remember of it. */
typedef struct SimTask
{
	int64		id;
	char		schedule[64];
	char		tz[16];
	bool		enabled;
	TimestampTz next_run_at;	/* DT_NOBEGIN = NULL */
	TimestampTz last_run_at;	/* DT_NOBEGIN = NULL */
	TimestampTz schedule_anchor;	/* DT_NOBEGIN = NULL */
	SchedOverlap overlap;
	bool		misfire_skip;
	int			max_retries;
	int64		retry_delay_us;
	int64		retry_after_us;
	int			timeout_ms;
	bool		problem;		/* owner cannot log in */
	TimestampTz problem_changed_at;
	bool		deleted;
	TimestampTz locked_until;	/* another transaction holds the row (FOR UPDATE) */
	/* checks */
	UsoSchedule parsed;
	bool		parsed_ok;
	pg_tz	   *tzp;
	TimestampTz changed_at;		/* last edit */
	TimestampTz last_slot;		/* latest schedule/catchup row's slot */
	TimestampTz last_slot_at;	/* when the scheduler decided it */
	TimestampTz recent[N_RECENT];	/* slots recorded lately: the unique index */
	int			n_recent;
	RowStatus	last_end;		/* how its latest run ended */
	TimestampTz last_end_at;
	int			last_end_attempt;
	/* chains (sim_chains.c) */
	int64		follows;		/* 'after t<follows>', 0: not a follower */
	bool		follows_fail;	/* ... 'fails' */
	bool		listed;			/* in sim_chains.c's list of followers */
} SimTask;

/* A uso_task_run row. */
typedef struct SimRow
{
	int64		id;
	int64		task_id;
	const char *trigger;
	TimestampTz scheduled_for;	/* DT_NOBEGIN = NULL */
	TimestampTz queued_at;
	TimestampTz started_at;
	TimestampTz finished_at;	/* DT_NOBEGIN = open */
	RowStatus	status;
	int			attempt;
	int			timeout_ms;
	int64		caused_by;		/* trigger chain: the run whose end queued it */
	bool		fed;			/* the scheduler has read it (sim_grid.c) */
} SimRow;

typedef enum Behavior
{
	B_SUCCEED,
	B_FAIL,
	B_DIE,						/* the worker exits mid-run */
	B_DIE_AFTER_COMMIT,			/* ... after its success committed */
	B_HANG,						/* ignores its timeout and cancels */
	B_OWN_TIMEOUT				/* runs into its statement timeout */
} Behavior;

typedef struct SimWorker
{
	bool		used;
	int64		run_id;
	TimestampTz start_at;		/* connects and marks the row running */
	TimestampTz started;		/* 0 until then */
	TimestampTz end_at;
	Behavior	b;
	bool		cancel;
	bool		dead;
	bool		killed;
	bool		has_done;
	SchedOutcome done;
	int			timeout_ms;		/* as the executor sets it in its slot */
} SimWorker;

#define MAX_WORKERS 32

typedef struct World
{
	uint64		seed;
	TimestampTz now;
	TimestampTz end;
	int64		grace_us;
	SchedMap	tasks;			/* id -> SimTask */
	SchedMap	rows;			/* id -> SimRow, kept an hour after they end */
	SchedMap	open;			/* id -> SimRow, queued or running */
	int64		last_task_id;
	int64		last_run_id;
	SimWorker	workers[MAX_WORKERS];
	int			n_workers;

	bool		grid;			/* sim_grid.c's world: only its checks, runs succeed */

	/* the scheduler process */
	SchedState *state;
	bool		scheduling;		/* uso_tasks.enabled */
	bool		sched_up;
	bool		first;
	bool		latch;
	bool		catalog_changed;
	bool		runs_queued;
	bool		reboot_pending;
	bool		fail_restart;
	TimestampTz wake;
	TimestampTz up_at;			/* while down: when it comes back */

	/* figures */
	int64		violations;
	char		first_violation[512];
	TimestampTz first_violation_at;
	int64		runs_started,
				iterations,
				n_tasks,
				deleted,
				skipped,
				catchups,
				retries,
				conflicts;
	int64		f_deaths,
				f_after_commit,
				f_killed,
				f_own_timeouts,
				f_failures,
				f_cancels,
				f_restarts,
				f_server_restarts,
				f_jumps,
				f_pauses,
				f_edits,
				f_problems,
				f_pool_full;
	size_t		peak_bytes;
	size_t		state_outstanding;	/* bytes the state holds, as its host counts */
	SchedNewRun *deferred;		/* new runs whose task row was locked (the store's) */
	int			n_deferred;
	int			cap_deferred;
	int64		f_locks,
				f_deferred;
	TimestampTz excuses[256][2];	/* restart / jump windows of the last days */
	int			n_excuses;
} World;

extern World W;

extern uint64 Rnd64(void);
extern double RndF(void);
extern int	RndI(int n);
extern void Violation(const char *fmt,...) pg_attribute_printf(1, 2);
extern void *MapAlloc(void *arg, size_t size);
extern void MapFree(void *arg, void *p);
extern SimTask *TaskCreate(void);
extern SimTask *TaskGet(int64 id);
extern SimTask *TaskRandom(void);
extern void SchedulerStart(void);
extern void SchedulerStop(void);
extern const char *const TzNames[3];
extern const char *RandomSchedule(void);
extern void TaskParse(SimTask *t);
extern void TaskComputeNext(SimTask *t);
extern void Excuse(TimestampTz from, TimestampTz until);
extern bool Excused(TimestampTz t);

/* sim_world.c */
extern void Iterate(void);
extern void Retention(void);

/* sim_events.c */
extern void SimRun(void);
extern SimRow *RowInsert(SimTask *t, const char *trigger, TimestampTz slot, RowStatus status,
						 int attempt);
extern void RowFinish(SimRow *r, RowStatus status);
extern SimWorker *WorkerOf(int64 run_id);
extern TimestampTz WorkerNext(SimWorker *w);
extern void WorkerStep(SimWorker *w);

/* sim_grid.c: the grid invariant (make simulate-grid) */
extern int	GridMain(uint64 seed);
extern void GridCheckRow(SimTask *t, const SchedNewRun *nr);
extern void GridQueuedRowFed(SimRow *r);

/* sim_chains.c */
extern void ChainsMaybeFollow(SimTask *t);
extern void ChainsRunEnded(SimRow *r, RowStatus status);
extern void ChainsRunStarted(SimRow *r);
extern void ChainsCheck(bool at_end);
extern void ChainsCheckNewRun(SimTask *t, const SchedNewRun *nr);
extern void ChainsReport(void);

/* sim_check.c */
extern void CheckAfterIteration(void);
extern void CheckNewRun(SimTask *t, const SchedNewRun *nr);
extern void CheckRetry(SimTask *t, const SchedNewRun *nr);
extern void CheckDeferred(void);
extern void CheckClose(SimRow *r);

#endif							/* USO_SIM_WORLD_H */
