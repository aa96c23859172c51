/*-------------------------------------------------------------------------
 * sched_pool_view.h
 *	  The pool's fair-share view (sched_pool_view.c), shared by the
 *	  dispatch in sched_pool.c only.
 *-------------------------------------------------------------------------
 */
#ifndef USO_SCHED_POOL_VIEW_H
#define USO_SCHED_POOL_VIEW_H

#include "uso_tasks.h"
#include "sched.h"

/* A slot holds work (a run, or is starting for one). */
static inline bool
SlotHoldsWork(const UsoWorkerSlot *w)
{
	return w->state == USO_WORKER_BUSY || w->state == USO_WORKER_STARTING;
}

/* A slot whose worker waits for a run (and has no report left to collect). */
static inline bool
SlotIdle(const UsoWorkerSlot *w)
{
	return w->state == USO_WORKER_IDLE && w->run_id == 0 && w->done_run_id == 0;
}

/*
 * What one dispatch knows of a role among its candidates' owners and the
 * logins that may act as them.
 */
typedef struct RoleCount
{
	Oid			roleid;
	int			held;			/* slots holding work it may act as, all databases */
	bool		had_turn;		/* placed a run in this dispatch (as owner) */
} RoleCount;

/* What one dispatch knows of a database its candidates run in. */
typedef struct DbCount
{
	Oid			dboid;
	int			held;			/* slots holding work running in it */
} DbCount;

/*
 * One dispatch's view of the pool, taken under the lock once: every
 * placement updates it instead of rescanning the slots, so a dispatch costs
 * one slot scan plus one step per ready run (it was a lock acquisition and
 * a scan of every slot per ready run, on every wake: quadratic in the ready
 * list with all workers busy).
 */
typedef struct PoolView
{
	int			live;			/* slots in use */
	DbCount    *dbs;			/* the databases candidates run in */
	int			n_dbs;
	int			dbs_cap;
	int			db_cap;			/* most one database may hold now */
	bool		any_remote;		/* a candidate runs in another database */
	int			role_cap;
	int			limit;
	int		   *free_slots;		/* FREE, no report left, ascending */
	int			n_free;
	int			next_free;
	RoleCount  *roles;
	int			n_roles;
	int			roles_cap;
} PoolView;

/* The most workers that may run at once, all databases together. */
extern int	PoolLimit(void);
extern RoleCount *ViewRole(PoolView *v, Oid roleid);
extern DbCount *ViewDb(PoolView *v, Oid dboid);
extern bool RoleAtCap(PoolView *v, const SchedCandidate *c);
extern void ViewPlaced(PoolView *v, const SchedCandidate *c);
extern void TakeView(PoolView *v, SchedCandidate *cands, int n);

#endif							/* USO_SCHED_POOL_VIEW_H */
