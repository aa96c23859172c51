/*-------------------------------------------------------------------------
 * sched_state.h
 *	  The scheduler's heart: every task it knows, the due-time heap, every
 *	  run from queued to ended, the ready queue, and the decisions they lead
 *	  to.  Events go in (task rows loaded, runs queued, workers started or
 *	  finished, time advanced); decisions come out (rows to insert, runs to
 *	  close, tasks whose next/last run times to write, runs to dispatch, the
 *	  next wake-up).
 *
 * No SPI, no shared memory, no ereport, no palloc of its own: memory comes
 * through SchedHost, so the same source builds into the server (palloc in
 * the scheduler's context) and into the simulation (malloc), see
 * test/sim/.  Times are int64 microseconds (TimestampTz); DT_NOEND = never.
 *-------------------------------------------------------------------------
 */
#ifndef USO_SCHED_STATE_H
#define USO_SCHED_STATE_H

#include "datatype/timestamp.h"
#include "schedule.h"

/* What the state needs from its host. */
typedef struct SchedHost
{
	void	   *(*alloc) (size_t size);	/* never returns NULL */
	void		(*free) (void *p);
	void		(*fail) (const char *msg);	/* a forbidden transition; no return */
	double		(*random) (void);	/* [0, 1), for retry jitter */
} SchedHost;

typedef enum SchedOverlap
{
	OVERLAP_SKIP,
	OVERLAP_QUEUE,
	OVERLAP_PARALLEL
} SchedOverlap;

/*
 * A run's life in the scheduler.  A run row is WAITING while its due time
 * (uso_run_at, a retry's delay) lies ahead, READY when due and waiting for
 * a worker, DISPATCHED once a worker has it, and ENDED when its worker
 * reported (or died, or its row went away); ended runs are forgotten.
 */
typedef enum SchedRunState
{
	SR_WAITING,
	SR_READY,
	SR_DISPATCHED,
	SR_ENDED
} SchedRunState;

/* How a run ended, as the loop reports it. */
typedef enum SchedOutcome
{
	SO_SUCCEEDED,
	SO_FAILED,
	SO_TIMED_OUT,				/* the worker's own timeout timer fired */
	SO_CANCELLED,				/* uso_cancel, or its row went away */
	SO_DIED,					/* the worker exited without a report */
	SO_TIMEOUT_KILLED,			/* the backstop terminated it */
	SO_NEVER_CONNECTED			/* the worker could not connect */
} SchedOutcome;

/* One task row, as the store read it (strings are copied). */
typedef struct SchedTaskRow
{
	int64		id;
	const char *name;
	const char *schedule_text;
	const char *tz_name;		/* "" = the default time zone */
	pg_tz	   *tz;				/* resolved by the caller */
	bool		enabled;
	const char *problem;		/* why it cannot run, or NULL */
	TimestampTz stored_next;	/* DT_NOBEGIN = NULL */
	TimestampTz last_start;		/* DT_NOBEGIN = NULL */
	TimestampTz anchor;			/* schedule_anchor, DT_NOBEGIN = NULL */
	SchedOverlap overlap;
	bool		misfire_skip;
	Oid			dboid;
	Oid			roleid;
	const char *command;		/* tasks of another database only, else NULL */
	const char *config;			/* likewise */
	int			timeout_ms;		/* 0 = none */
	int			max_retries;
	int64		retry_delay_us;
	int64		retry_after_us;
} SchedTaskRow;

/* A run row to insert. */
typedef struct SchedNewRun
{
	int64		task_id;
	const char *trigger;		/* static string */
	TimestampTz scheduled_for;	/* DT_NOBEGIN = NULL */
	const char *status;			/* queued, skipped or failed (static) */
	int			attempt;
	char	   *message;		/* for skipped and failed rows, or NULL */
} SchedNewRun;

/* A run row to close. */
typedef struct SchedClose
{
	int64		run_id;
	const char *status;			/* failed or timed_out (static) */
	char	   *message;
} SchedClose;

/* A task whose next_run_at / last_run_at to write. */
typedef struct SchedDirty
{
	int64		id;
	TimestampTz next;			/* DT_NOEND = NULL */
	TimestampTz last;			/* DT_NOBEGIN = keep */
	TimestampTz anchor;			/* schedule_anchor; DT_NOBEGIN = keep */
	const char *schedule_text;	/* as loaded: the write is skipped if changed */
	const char *tz_name;
	bool		enabled;
} SchedDirty;

/* A ready run the pool may place, with what the pool needs of its task. */
typedef struct SchedCandidate
{
	int64		run_id;
	int64		task_id;
	Oid			dboid;
	Oid			roleid;
	const char *name;
	const char *command;
	const char *config;
	int			timeout_ms;
} SchedCandidate;

/* What the state decided since the last SchedStateClearDecisions. */
typedef struct SchedDecisions
{
	SchedNewRun *new_runs;
	int			n_new_runs;
	SchedClose *closes;
	int			n_closes;
	SchedDirty *dirty;			/* filled by SchedStateTakeDecisions */
	int			n_dirty;
	int64	   *remote_starts;	/* dispatched runs of another database */
	int			n_remote_starts;
	int			cap_new_runs,
				cap_closes,
				cap_dirty,
				cap_remote_starts;
} SchedDecisions;

typedef struct SchedState SchedState;

extern SchedState *SchedStateCreate(const SchedHost *host, Oid local_dboid,
									int64 timeout_grace_us);
extern void SchedStateDestroy(SchedState *st);
extern void SchedStateSetTimeoutGrace(SchedState *st, int64 grace_us);

/*
 * Task rows: a full load is one Row per task, then End (tasks not seen
 * are dropped).  first: the scheduler just started, so a stored next_run_at
 * well in the past is a missed slot, and @reboot tasks run when
 * reboot_pending.  scheduling: uso_tasks.enabled.
 */
extern void SchedStateTaskRow(SchedState *st, const SchedTaskRow *row, bool first,
							  bool reboot_pending, bool scheduling, TimestampTz now);
extern void SchedStateEndLoad(SchedState *st);

/*
 * Queued run rows: Begin, one Row per queued row, End (runs waiting for a
 * worker whose row is no longer queued were cancelled: forgotten).  A row
 * inserted by our own write is reported with SchedStateRunInserted.
 */
extern void SchedStateBeginQueued(SchedState *st);
extern void SchedStateQueuedRow(SchedState *st, int64 run_id, int64 task_id, int attempt,
								TimestampTz due, const char *trigger, TimestampTz now);
extern void SchedStateEndQueued(SchedState *st, TimestampTz now);

/*
 * Results of a write: each queued new run decided for task_id was written or
 * dropped (Settled, once per run), and the rows written (Inserted).
 */
extern void SchedStateNewRunSettled(SchedState *st, int64 task_id);
extern void SchedStateRunInserted(SchedState *st, int64 run_id, int64 task_id, int attempt,
								  TimestampTz due, const char *trigger, TimestampTz now);
/* A task's next/last run times could not be written yet: write them next time. */
extern void SchedStateMarkDirty(SchedState *st, int64 task_id);

/* A run a previous scheduler process dispatched, still executing. */
extern void SchedStateAdoptRun(SchedState *st, int64 run_id, int64 task_id, int attempt,
							   TimestampTz now);

/* Workers. */
extern void SchedStateDispatched(SchedState *st, int64 run_id, TimestampTz now);
extern void SchedStateRunEnded(SchedState *st, int64 run_id, SchedOutcome outcome,
							   TimestampTz now);

/* Time: queue (or skip) what came due, move timed runs whose time came to ready. */
extern void SchedStateAdvance(SchedState *st, TimestampTz now, bool scheduling);

/*
 * The ready runs a worker may take now, in queue order: at most one per
 * task that does not run in parallel, none of a task already running.
 * Runs of tasks that cannot run are closed (a decision) instead.
 * The array lives until the next call.
 */
extern int	SchedStateCandidates(SchedState *st, SchedCandidate **out, TimestampTz now);

/* Decisions: take (fills dirty), write them, clear. */
extern SchedDecisions *SchedStateTakeDecisions(SchedState *st);
extern bool SchedStateHasDecisions(SchedState *st);
extern void SchedStateClearDecisions(SchedState *st);

/*
 * The earliest time something is due: a task's next slot (when scheduling),
 * a waiting run, a dispatched run's timeout backstop.  DT_NOEND: none.
 */
extern TimestampTz SchedStateNextWake(SchedState *st, bool scheduling, TimestampTz now);

/* Introspection, for the simulation's invariants and for messages. */
typedef struct SchedTaskView
{
	int64		id;
	TimestampTz next_run;
	TimestampTz last_start;
	TimestampTz anchor;			/* interval kinds: the grid's origin */
	int			active;
	int			running;
	int			unwritten;
	bool		enabled;
	bool		has_problem;
	SchedOverlap overlap;
	UsoScheduleKind kind;
	bool		schedule_ok;
} SchedTaskView;

typedef struct SchedRunView
{
	int64		run_id;
	int64		task_id;
	int			attempt;
	TimestampTz due;
	SchedRunState state;
	TimestampTz deadline;		/* the backstop's wake-up, DT_NOEND: none */
} SchedRunView;

extern bool SchedStateGetTask(SchedState *st, int64 id, SchedTaskView *out);
extern bool SchedStateGetRun(SchedState *st, int64 run_id, SchedRunView *out);
extern int	SchedStateTaskCount(SchedState *st);
extern int	SchedStateRunCount(SchedState *st);
extern size_t SchedStateBytes(SchedState *st);
/* Call fn for every run (any order). */
extern void SchedStateForEachRun(SchedState *st, void (*fn) (const SchedRunView *, void *),
								 void *arg);
extern void SchedStateForEachTask(SchedState *st, void (*fn) (const SchedTaskView *, void *),
								  void *arg);
extern int64 SchedRetryDelay(int64 retry_delay_us, int attempt, double r);

#endif							/* USO_SCHED_STATE_H */
