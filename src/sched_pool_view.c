/*-------------------------------------------------------------------------
 * sched_pool_view.c
 *	  Fair share of the executor pool: the caps of a database and of the
 *	  roles one login may act as, and one dispatch's view of who holds how
 *	  many slots, taken once under the lock and updated by each placement.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/lwlock.h"
#include "utils/memutils.h"

#include "uso_tasks.h"
#include "sched.h"
#include "sched_pool_view.h"

/* The most workers that may run at once, all databases together. */
int
PoolLimit(void)
{
	return Min(uso_max_workers, UsoShared->max_workers);
}

/*
 * The most workers the runs of one database, and the tasks of one owner
 * role, may hold: by default they leave a quarter (databases) or half
 * (roles) of the pool to the others, so that one role running many long
 * tasks never makes another database's or role's run wait for a worker.
 */
static int
DatabaseCap(void)
{
	int			limit = PoolLimit();
	int			cap = uso_max_workers_per_database > 0 ? uso_max_workers_per_database :
		limit - Max(1, limit / 4);

	return Max(1, Min(cap, limit));
}

static int
RoleCap(void)
{
	int			limit = PoolLimit();
	int			cap = uso_max_workers_per_role > 0 ? uso_max_workers_per_role : limit / 2;

	return Max(1, Min(cap, limit));
}


RoleCount *
ViewRole(PoolView *v, Oid roleid)
{
	for (int i = 0; i < v->n_roles; i++)
		if (v->roles[i].roleid == roleid)
			return &v->roles[i];
	return NULL;
}

static void
ViewAddRole(PoolView *v, Oid roleid)
{
	if (ViewRole(v, roleid) != NULL)
		return;
	if (v->n_roles == v->roles_cap)
	{
		v->roles_cap *= 2;
		v->roles = repalloc(v->roles, sizeof(RoleCount) * v->roles_cap);
	}
	v->roles[v->n_roles].roleid = roleid;
	v->roles[v->n_roles].held = 0;
	v->roles[v->n_roles].had_turn = false;
	v->n_roles++;
}

DbCount *
ViewDb(PoolView *v, Oid dboid)
{
	for (int i = 0; i < v->n_dbs; i++)
		if (v->dbs[i].dboid == dboid)
			return &v->dbs[i];
	return NULL;
}

static void
ViewAddDb(PoolView *v, Oid dboid)
{
	if (ViewDb(v, dboid) != NULL)
		return;
	if (v->n_dbs == v->dbs_cap)
	{
		v->dbs_cap *= 2;
		v->dbs = repalloc(v->dbs, sizeof(DbCount) * v->dbs_cap);
	}
	v->dbs[v->n_dbs].dboid = dboid;
	v->dbs[v->n_dbs++].held = 0;
}

/* Whether c's owner, or a login that may act as it, holds its cap. */
bool
RoleAtCap(PoolView *v, const SchedCandidate *c)
{
	const RoleActors *ra = PoolFindActors(c->roleid);

	if (ViewRole(v, c->roleid)->held >= v->role_cap)
		return true;
	for (int k = 0; ra != NULL && k < ra->n; k++)
		if (ViewRole(v, ra->actors[k])->held >= v->role_cap)
			return true;
	return false;
}

/* c was placed: it counts for its owner, those who may act as it, its database. */
void
ViewPlaced(PoolView *v, const SchedCandidate *c)
{
	const RoleActors *ra = PoolFindActors(c->roleid);
	RoleCount  *rc = ViewRole(v, c->roleid);

	rc->held++;
	rc->had_turn = true;
	for (int k = 0; ra != NULL && k < ra->n; k++)
		ViewRole(v, ra->actors[k])->held++;
	ViewDb(v, c->dboid)->held++;
}

/*
 * The shares: when other databases wait for room, this one takes no more
 * than an even share of the pool, so a freed worker goes to them (their
 * scheduler retires our idle worker and starts its own) rather than
 * straight back to us.  Caller holds the lock.
 */
void
TakeView(PoolView *v, SchedCandidate *cands, int n)
{
	int			others_waiting = 0;
	int			share;

	memset(v, 0, sizeof(*v));
	v->limit = PoolLimit();
	v->role_cap = RoleCap();
	v->free_slots = palloc(sizeof(int) * Max(UsoShared->max_workers, 1));
	v->roles_cap = 16;
	v->roles = palloc(sizeof(RoleCount) * v->roles_cap);
	v->dbs_cap = 4;
	v->dbs = palloc(sizeof(DbCount) * v->dbs_cap);
	ViewAddDb(v, MyDatabaseId);
	for (int i = 0; i < n; i++)
	{
		const RoleActors *ra = PoolFindActors(cands[i].roleid);

		ViewAddRole(v, cands[i].roleid);
		for (int k = 0; ra != NULL && k < ra->n; k++)
			ViewAddRole(v, ra->actors[k]);
		if (cands[i].dboid != MyDatabaseId)
		{
			ViewAddDb(v, cands[i].dboid);
			v->any_remote = true;
		}
	}
	for (int i = 0; i < UsoShared->max_workers; i++)
	{
		UsoWorkerSlot *w = &UsoShared->workers[i];
		RoleCount  *rc;
		DbCount    *dc;

		if (w->state == USO_WORKER_FREE)
		{
			/*
			 * A worker that exited after its last run may leave a report its
			 * scheduler has not collected yet: the slot is not free until
			 * then, or that run would never end for its scheduler.
			 */
			if (w->done_run_id == 0)
				v->free_slots[v->n_free++] = i;
			continue;
		}
		v->live++;
		if (SlotHoldsWork(w))
		{
			/*
			 * A run counts against the database it runs in, whichever
			 * scheduler placed it: runs stored here but run elsewhere do not
			 * use up this database's share.
			 */
			if ((dc = ViewDb(v, w->dboid)) != NULL)
				dc->held++;
			if ((rc = ViewRole(v, w->roleid)) != NULL)
				rc->held++;
			for (int k = 0; k < w->n_actors && k < USO_MAX_ACTORS; k++)
				if ((rc = ViewRole(v, w->actors[k])) != NULL)
					rc->held++;
		}
	}
	for (int i = 0; i < USO_MAX_DATABASES; i++)
	{
		UsoSchedulerSlot *s = &UsoShared->schedulers[i];

		if (OidIsValid(s->dboid) && s->dboid != MyDatabaseId && s->pid != 0 &&
			s->runs_waiting > 0)
			others_waiting++;
	}
	share = others_waiting > 0 ? Max(1, v->limit / (others_waiting + 1)) : v->limit;
	v->db_cap = Min(DatabaseCap(), share);
}

