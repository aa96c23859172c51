/*-------------------------------------------------------------------------
 * sched_state_int.h
 *	  Inside the scheduler's state: its structs and the helpers its two
 *	  files share (sched_state.c: the run machine, time, dispatch and
 *	  decisions; sched_state_tasks.c: loading rows, life cycle, views).
 *	  Nothing outside them includes this.
 *-------------------------------------------------------------------------
 */
#ifndef USO_SCHED_STATE_INT_H
#define USO_SCHED_STATE_INT_H

#include "sched_map.h"
#include "sched_state.h"

/* How far in the past a stored next_run_at must be to count as missed. */
#define MISSED_SLOT_GRACE	(INT64CONST(1000) * 1000)

typedef struct STask
{
	int64		id;
	char	   *name;
	char	   *schedule_text;
	char	   *tz_name;
	char	   *problem;
	char	   *command;
	char	   *config;
	UsoSchedule schedule;
	bool		schedule_ok;
	pg_tz	   *tz;
	bool		enabled;
	TimestampTz next_run;		/* DT_NOEND: never */
	TimestampTz last_start;		/* DT_NOBEGIN: never ran */

	/*
	 * Interval kinds: the origin of the grid of slots, anchor + k * interval
	 * (UsoScheduleNextFrom), so month steps keep its day of month and
	 * downtime does not move the slots.  The first run's slot, or the start
	 * of the latest manual or one-off run; DT_NOBEGIN: never ran.
	 */
	TimestampTz anchor;
	SchedOverlap overlap;
	bool		misfire_skip;
	Oid			dboid;
	Oid			roleid;
	int			timeout_ms;
	int			max_retries;
	int64		retry_delay_us;
	int64		retry_after_us;
	int			active;			/* READY + DISPATCHED runs */
	int			running;		/* DISPATCHED runs */
	int			unwritten;		/* queued runs decided, not yet written */
	int64		active_run;		/* one of them, for messages */
	int			heap_pos;		/* index in the due heap, -1 when absent */
	bool		seen;
	bool		dirty;
	uint32		cand_mark;		/* SchedStateCandidates' pass that took a run */
} STask;

typedef struct SRun
{
	int64		run_id;
	int64		task_id;
	int			attempt;
	TimestampTz due;
	TimestampTz deadline;		/* DISPATCHED with a timeout: backstop wake-up */
	SchedRunState state;
	bool		seen;
	bool		new_grid;		/* manual or one-off: its start re-anchors the grid */
	struct SRun *prev,
			   *next;
} SRun;

typedef struct RunList
{
	SRun	   *head,
			   *tail;
	int			count;
} RunList;

struct SchedState
{
	const SchedHost *host;
	Oid			local_dboid;
	int64		grace_us;
	size_t		bytes;
	SchedMap	tasks;
	SchedMap	runs;
	STask	  **heap;
	int			heap_size,
				heap_cap;
	RunList		lists[SR_ENDED];	/* WAITING, READY, DISPATCHED */
	uint32		cand_pass;
	SchedCandidate *cands;
	int			cands_cap;
	int64	   *dirty_ids;
	int			n_dirty_ids,
				cap_dirty_ids;
	SchedDecisions dec;
};

typedef union AllocHeader
{
	size_t		size;
	double		align;
	int64		align2;
} AllocHeader;

extern void *SchedStAlloc(SchedState *st, size_t size);
extern void SchedStFree(SchedState *st, void *p);
extern char *SchedStStrdup(SchedState *st, const char *s);
extern void SchedStReserve(SchedState *st, void **arr, int *cap, int n, size_t elem);
extern void *SchedStMapAlloc(void *arg, size_t size);
extern void SchedStMapFree(void *arg, void *p);
extern void SchedStHeapUpdate(SchedState *st, STask *t);
extern void SchedStHeapRemove(SchedState *st, STask *t);
extern void SchedStMarkDirty(SchedState *st, STask *t);
extern void SchedStDecideNewRun(SchedState *st, STask *t, const char *trigger, TimestampTz slot,
								const char *status, int attempt, const char *message);
extern void SchedStAddRun(SchedState *st, int64 run_id, int64 task_id, int attempt,
						  TimestampTz due, const char *trigger, TimestampTz now);
extern bool SchedStIsInterval(const STask *t);
extern void SchedStRegrid(SchedState *st, STask *t, TimestampTz now);

#endif							/* USO_SCHED_STATE_INT_H */
