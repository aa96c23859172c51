/*-------------------------------------------------------------------------
 * sched_map.c
 *	  int64 -> pointer hash map of the scheduler's state (sched_map.h).
 *
 * No tombstones: deletion shifts the following cluster back, so a map that
 * sees endless churn (tasks created and deleted, runs coming and going)
 * never degrades and never grows beyond twice its peak population.
 *-------------------------------------------------------------------------
 */
#include "c.h"

#include "sched_map.h"

static inline uint32
HashKey(int64 key)
{
	uint64		h = (uint64) key;

	/* splitmix64's finaliser: ids are sequential, spread them */
	h ^= h >> 30;
	h *= UINT64CONST(0xbf58476d1ce4e5b9);
	h ^= h >> 27;
	h *= UINT64CONST(0x94d049bb133111eb);
	h ^= h >> 31;
	return (uint32) h;
}

void
SchedMapInit(SchedMap *m, void *(*alloc) (void *, size_t),
			 void (*free) (void *, void *), void *arg)
{
	m->slots = NULL;
	m->cap = 0;
	m->count = 0;
	m->alloc = alloc;
	m->free = free;
	m->arg = arg;
}

void
SchedMapDestroy(SchedMap *m)
{
	if (m->slots)
		m->free(m->arg, m->slots);
	m->slots = NULL;
	m->cap = m->count = 0;
}

static void
Resize(SchedMap *m, uint32 cap)
{
	SchedMapSlot *old = m->slots;
	uint32		oldcap = m->cap;

	m->slots = m->alloc(m->arg, sizeof(SchedMapSlot) * cap);
	memset(m->slots, 0, sizeof(SchedMapSlot) * cap);
	m->cap = cap;
	m->count = 0;
	for (uint32 i = 0; i < oldcap; i++)
		if (old[i].value != NULL)
			SchedMapPut(m, old[i].key, old[i].value);
	if (old)
		m->free(m->arg, old);
}

void *
SchedMapGet(const SchedMap *m, int64 key)
{
	uint32		mask,
				i;

	if (m->cap == 0)
		return NULL;
	mask = m->cap - 1;
	for (i = HashKey(key) & mask; m->slots[i].value != NULL; i = (i + 1) & mask)
		if (m->slots[i].key == key)
			return m->slots[i].value;
	return NULL;
}

void
SchedMapPut(SchedMap *m, int64 key, void *value)
{
	uint32		mask,
				i;

	if ((m->count + 1) * 4 > m->cap * 3)
		Resize(m, m->cap ? m->cap * 2 : 64);
	mask = m->cap - 1;
	for (i = HashKey(key) & mask; m->slots[i].value != NULL; i = (i + 1) & mask)
		if (m->slots[i].key == key)
		{
			m->slots[i].value = value;
			return;
		}
	m->slots[i].key = key;
	m->slots[i].value = value;
	m->count++;
}

void *
SchedMapDelete(SchedMap *m, int64 key)
{
	uint32		mask,
				i,
				j;
	void	   *value;

	if (m->cap == 0)
		return NULL;
	mask = m->cap - 1;
	for (i = HashKey(key) & mask; m->slots[i].value != NULL; i = (i + 1) & mask)
		if (m->slots[i].key == key)
			break;
	if (m->slots[i].value == NULL)
		return NULL;
	value = m->slots[i].value;
	m->slots[i].value = NULL;
	m->count--;
	/* Shift back entries whose home lies at or before the hole. */
	for (j = (i + 1) & mask; m->slots[j].value != NULL; j = (j + 1) & mask)
	{
		uint32		home = HashKey(m->slots[j].key) & mask;

		if (((j - home) & mask) >= ((j - i) & mask))
		{
			m->slots[i] = m->slots[j];
			m->slots[j].value = NULL;
			i = j;
		}
	}
	/* Shrink after a mass deletion so memory follows the population. */
	if (m->cap > 64 && m->count * 8 < m->cap)
		Resize(m, m->cap / 2);
	return value;
}

bool
SchedMapNext(const SchedMap *m, uint32 *pos, void **value)
{
	while (*pos < m->cap)
	{
		uint32		i = (*pos)++;

		if (m->slots[i].value != NULL)
		{
			*value = m->slots[i].value;
			return true;
		}
	}
	return false;
}
