/*-------------------------------------------------------------------------
 * sim_chains.c
 *	  Tasks that follow tasks, in the simulation.  Some tasks are created
 *	  (or edited) as 'after tN' or 'after tN fails'; the catalog does what
 *	  uso_run_ended does in SQL: when a run of tN ends succeeded (or failed /
 *	  timed out after its last retry) it queues one 'chain' run of each
 *	  enabled follower in the same step, or a skipped one as the follower's
 *	  overlap policy says.  The checks: the scheduler never decides a run of
 *	  a follower by the clock (only retries), a follower is never due, and
 *	  no chain run is lost -- every one is started or closed, also those
 *	  queued while the scheduler was down (found when it starts again).
 *	  Followers only follow older tasks, so no cycle is ever made (the
 *	  catalog refuses cycles, see sql/install/96_chains.sql).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdio.h>
#include <stdlib.h>

#include "sim_world.h"

static int64 *followers;
static int	n_followers,
			cap_followers;

static int64 chain_rows,
			chain_skipped,
			chain_while_down,
			chain_started,
			chain_lost;

/* Maybe make t a follower of an older live task (about 1 task in 15). */
void
ChainsMaybeFollow(SimTask *t)
{
	SimTask    *p = NULL;

	t->follows = 0;
	if (RndI(15) != 0 || t->id < 2)
		return;
	for (int tries = 0; tries < 10 && p == NULL; tries++)
	{
		p = TaskGet(1 + (int64) RndI((int) t->id - 1));
		/* the catalog's 'after' columns resolve names of its own database only */
		if (p != NULL && p->follows == t->id)
			p = NULL;
	}
	if (p == NULL)
		return;
	t->follows = p->id;
	t->follows_fail = RndI(3) == 0;
	snprintf(t->schedule, sizeof(t->schedule), "after t%lld%s", (long long) p->id,
			 t->follows_fail ? " fails" : "");
	if (t->listed)
		return;
	if (n_followers == cap_followers)
	{
		cap_followers = Max(64, cap_followers * 2);
		followers = realloc(followers, sizeof(int64) * cap_followers);
	}
	followers[n_followers++] = t->id;
	t->listed = true;
}

/* Has task f an open row that its overlap policy does not let a new run pass? */
static SimRow *
Busy(SimTask *f)
{
	uint32		pos = 0;
	void	   *v;

	if (f->overlap == OVERLAP_PARALLEL)
		return NULL;
	while (SchedMapNext(&W.open, &pos, &v))
	{
		SimRow	   *r = v;

		if (r->task_id == f->id &&
			(f->overlap == OVERLAP_SKIP || r->status == RS_QUEUED))
			return r;
	}
	return NULL;
}

/* uso_run_ended's follower step: run r of its task ended with status. */
void
ChainsRunEnded(SimRow *r, RowStatus status)
{
	SimTask    *p = TaskGet(r->task_id);
	bool		failure;

	if (p == NULL || n_followers == 0)
		return;
	failure = (status == RS_FAILED || status == RS_TIMED_OUT) && r->attempt > p->max_retries;
	if (status != RS_SUCCEEDED && !failure)
		return;
	for (int i = 0; i < n_followers; i++)
	{
		SimTask    *f = TaskGet(followers[i]);
		SimRow	   *c;

		if (f == NULL || f->follows != p->id || f->follows_fail != failure || !f->enabled)
			continue;
		if (Busy(f) != NULL)
		{
			c = RowInsert(f, "chain", DT_NOBEGIN, RS_SKIPPED, 1);
			chain_skipped++;
		}
		else
		{
			c = RowInsert(f, "chain", DT_NOBEGIN, RS_QUEUED, 1);
			chain_while_down += !W.sched_up;
			W.runs_queued = W.latch = true;
		}
		c->caused_by = r->id;
		chain_rows++;
	}
}

/* The followers' rows that are still open, and their tasks in the state. */
void
ChainsCheck(bool at_end)
{
	uint32		pos = 0;
	void	   *v;

	/* chain runs are never lost: started soon, or closed, even across restarts */
	while (SchedMapNext(&W.open, &pos, &v))
	{
		SimRow	   *r = v;

		if (strcmp(r->trigger, "chain") != 0 || r->status != RS_QUEUED)
			continue;
		if (r->queued_at < W.now - 3600 * SEC)
		{
			chain_lost++;
			Violation("chain run %lld of task %lld (after run %lld) is still queued %.0f s later",
					  (long long) r->id, (long long) r->task_id, (long long) r->caused_by,
					  (double) (W.now - r->queued_at) / SEC);
		}
	}
	if (at_end || W.state == NULL || !W.sched_up)
		return;
	for (int i = 0; i < n_followers; i++)
	{
		SimTask    *f = TaskGet(followers[i]);
		SchedTaskView tv;

		if (f != NULL && f->follows != 0 && SchedStateGetTask(W.state, f->id, &tv) &&
			tv.next_run != DT_NOEND)
			Violation("task %lld follows task %lld but is due by the clock at +%.3f s",
					  (long long) f->id, (long long) f->follows,
					  (double) (tv.next_run - W.now) / SEC);
	}
}

/* A run the scheduler decided: of a follower, only a retry. */
void
ChainsCheckNewRun(SimTask *t, const SchedNewRun *nr)
{
	if (t->follows != 0 && strcmp(nr->trigger, "retry") != 0)
		Violation("task %lld follows task %lld but the scheduler queued a %s run of it",
				  (long long) t->id, (long long) t->follows, nr->trigger);
}

/* A chain row a worker started. */
void
ChainsRunStarted(SimRow *r)
{
	if (strcmp(r->trigger, "chain") == 0)
		chain_started++;
}

void
ChainsReport(void)
{
	printf("  chains: %d followers, %lld chain rows (%lld skipped by overlap, %lld queued while "
		   "the scheduler was down), %lld started, %lld lost\n",
		   n_followers, (long long) chain_rows, (long long) chain_skipped,
		   (long long) chain_while_down, (long long) chain_started, (long long) chain_lost);
}
