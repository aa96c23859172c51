/*-------------------------------------------------------------------------
 * sched_actors.c
 *	  Who may act as each task owner, for the pool's fair share.
 *
 * One login that is a member of four roles could otherwise hold four roles'
 * caps of workers at once: the caps of sched_pool.c count together every
 * role one login may act as (docs/security.md, "Fair share").  The scheduler
 * reads the memberships with every load of its tasks (StoreReadActors), and
 * any GRANT or REVOKE of a role makes every scheduler load again (hooks.c).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "sched.h"

/* Sorted by roleid (StoreReadActors reads them in that order). */
static RoleActors *Actors = NULL;
static int	NActors = 0;
static int	ActorsCap = 0;

void
PoolResetActors(void)
{
	NActors = 0;
}

void
PoolAddActors(Oid roleid, const Oid *actors, int n)
{
	RoleActors *ra;

	if (NActors == ActorsCap)
	{
		ActorsCap = Max(16, ActorsCap * 2);
		Actors = Actors == NULL
			? MemoryContextAlloc(TopMemoryContext, sizeof(RoleActors) * ActorsCap)
			: repalloc(Actors, sizeof(RoleActors) * ActorsCap);
	}
	ra = &Actors[NActors++];
	ra->roleid = roleid;
	ra->n = Min(n, USO_MAX_ACTORS);
	memcpy(ra->actors, actors, sizeof(Oid) * ra->n);
}

const RoleActors *
PoolFindActors(Oid roleid)
{
	int			lo = 0,
				hi = NActors - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;

		if (Actors[mid].roleid == roleid)
			return &Actors[mid];
		if (Actors[mid].roleid < roleid)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

