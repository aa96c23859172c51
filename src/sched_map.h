/*-------------------------------------------------------------------------
 * sched_map.h
 *	  A small int64 -> pointer hash map (open addressing, linear probing,
 *	  backward-shift deletion) for the scheduler's state.  Plain C: memory
 *	  comes from the caller's allocator, so it builds outside the server.
 *-------------------------------------------------------------------------
 */
#ifndef USO_SCHED_MAP_H
#define USO_SCHED_MAP_H

#include "c.h"

typedef struct SchedMapSlot
{
	int64		key;
	void	   *value;			/* NULL = empty */
} SchedMapSlot;

typedef struct SchedMap
{
	SchedMapSlot *slots;
	uint32		cap;			/* a power of two, or 0 */
	uint32		count;
	void	   *(*alloc) (void *arg, size_t size);
	void		(*free) (void *arg, void *p);
	void	   *arg;
} SchedMap;

extern void SchedMapInit(SchedMap *m, void *(*alloc) (void *, size_t),
						 void (*free) (void *, void *), void *arg);
extern void SchedMapDestroy(SchedMap *m);
extern void *SchedMapGet(const SchedMap *m, int64 key);
extern void SchedMapPut(SchedMap *m, int64 key, void *value);	/* value != NULL */
extern void *SchedMapDelete(SchedMap *m, int64 key);

/* Iterate: for (i = 0; SchedMapNext(m, &i, &v);) ... (no changes meanwhile). */
extern bool SchedMapNext(const SchedMap *m, uint32 *pos, void **value);

#endif							/* USO_SCHED_MAP_H */
