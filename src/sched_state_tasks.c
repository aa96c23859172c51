/*-------------------------------------------------------------------------
 * sched_state_tasks.c
 *	  The scheduler's state: task rows and queued run rows coming in, its
 *	  life cycle, and views of it for messages and the simulation's checks.
 *	  The run machine itself is in sched_state.c.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "sched_state_int.h"

/* ---------- tasks ---------- */

static void
TaskFreeStrings(SchedState *st, STask *t)
{
	SchedStFree(st, t->name);
	SchedStFree(st, t->schedule_text);
	SchedStFree(st, t->tz_name);
	SchedStFree(st, t->problem);
	SchedStFree(st, t->command);
	SchedStFree(st, t->config);
	t->name = t->schedule_text = t->tz_name = t->problem = t->command = t->config = NULL;
}

static void
QueueFirstAttempt(SchedState *st, STask *t, const char *trigger, TimestampTz slot)
{
	SchedStDecideNewRun(st, t, trigger, slot, "queued", 1, NULL);
}

/*
 * Where a (re)loaded task's next slot lies; see SchedStateTaskRow.  Interval
 * tasks take it from their grid (SchedStRegrid), whatever happened since
 * the slot stored: after downtime, as after a pause or a late wake-up, the
 * slots stay on the same grid (docs/schedule.md, "After downtime").
 */
static void
PlaceLoadedTask(SchedState *st, STask *t, bool changed, TimestampTz stored_next,
				bool first, bool reboot_pending, bool scheduling, TimestampTz now)
{
	if (!t->enabled || !t->schedule_ok)
		t->next_run = DT_NOEND;
	else if (t->schedule.kind == USO_SCHED_REBOOT)
	{
		t->next_run = DT_NOEND;
		if (first && reboot_pending)
			QueueFirstAttempt(st, t, "startup", now);
	}
	else if (!changed && stored_next != DT_NOBEGIN)
	{
		/*
		 * A slot more than a moment before this scheduler started was missed
		 * while no scheduler ran: one catchup run, or none.  One that just
		 * came due (a task created as the scheduler starts) is a plain due
		 * slot.  With scheduling paused nothing is queued: the slot stays
		 * due and runs once scheduling resumes.
		 */
		if (first && stored_next < now - MISSED_SLOT_GRACE && scheduling)
		{
			if (!t->misfire_skip)
			{
				QueueFirstAttempt(st, t, "catchup", stored_next);
				t->last_start = now;
			}
			if (SchedStIsInterval(t))
			{
				/* a task that never ran: its first slot begins the grid */
				if (t->anchor == DT_NOBEGIN)
					t->anchor = stored_next;
				SchedStRegrid(st, t, now);
			}
			else
				t->next_run = UsoScheduleNextFrom(&t->schedule, now, t->last_start, t->tz);
			SchedStMarkDirty(st, t);
		}
		else
			t->next_run = stored_next;
	}
	else
	{
		t->next_run = UsoScheduleNextFrom(&t->schedule, now,
										  SchedStIsInterval(t) ? t->anchor : t->last_start,
										  t->tz);
		SchedStMarkDirty(st, t);
	}
	SchedStHeapUpdate(st, t);
}

void
SchedStateTaskRow(SchedState *st, const SchedTaskRow *row, bool first,
				  bool reboot_pending, bool scheduling, TimestampTz now)
{
	STask	   *t = SchedMapGet(&st->tasks, row->id);
	bool		changed = false;
	bool		regrid = true;
	bool		behind;
	char		errbuf[USO_SCHEDULE_ERRBUF];

	if (t == NULL)
	{
		t = SchedStAlloc(st, sizeof(STask));
		memset(t, 0, sizeof(STask));
		t->id = row->id;
		t->heap_pos = -1;
		SchedMapPut(&st->tasks, t->id, t);
	}
	else
	{
		/* A new task keeps a stored next_run_at (computed when it was written). */
		regrid = strcmp(t->schedule_text, row->schedule_text) != 0 ||
			strcmp(t->tz_name, row->tz_name) != 0;
		changed = regrid || t->enabled != row->enabled;
		TaskFreeStrings(st, t);
	}
	/*
	 * A task whose write is still to come (deferred by a row lock) is ahead
	 * of its row: its slot and last start are the ones that count, or the
	 * reload would decide a slot again and move last_run_at back.
	 */
	behind = t->dirty;
	t->seen = true;
	t->name = SchedStStrdup(st, row->name);
	t->schedule_text = SchedStStrdup(st, row->schedule_text);
	t->tz_name = SchedStStrdup(st, row->tz_name);
	t->command = SchedStStrdup(st, row->command);
	t->config = SchedStStrdup(st, row->config);
	t->tz = row->tz;
	t->enabled = row->enabled;
	t->schedule_ok = UsoScheduleParse(row->schedule_text, &t->schedule, errbuf);
	if (!behind || row->last_start > t->last_start)
		t->last_start = row->last_start;

	/*
	 * The grid's anchor: the stored one, else (never written, or reset by a
	 * change of schedule or time zone, uso_task_grid) the last start, which
	 * is what next_run_at was computed from.  A task that is behind keeps
	 * its own while its schedule stays.
	 */
	if (regrid || !behind)
		t->anchor = row->anchor != DT_NOBEGIN ? row->anchor : row->last_start;
	t->overlap = row->overlap;
	t->misfire_skip = row->misfire_skip;
	t->dboid = row->dboid;
	t->roleid = row->roleid;
	t->timeout_ms = row->timeout_ms;
	t->max_retries = row->max_retries;
	t->retry_delay_us = row->retry_delay_us;
	t->retry_after_us = row->retry_after_us;
	if (row->problem != NULL)
		t->problem = SchedStStrdup(st, row->problem);
	else if (!t->schedule_ok)
	{
		char		buf[USO_SCHEDULE_ERRBUF + 32];

		snprintf(buf, sizeof(buf), "invalid schedule: %s", errbuf);
		t->problem = SchedStStrdup(st, buf);
	}
	PlaceLoadedTask(st, t, changed, behind && !changed ? t->next_run : row->stored_next,
					first, reboot_pending, scheduling, now);
}

void
SchedStateEndLoad(SchedState *st)
{
	uint32		pos = 0;
	void	   *v;
	int64	   *gone = NULL;
	int			n = 0,
				cap = 0;

	while (SchedMapNext(&st->tasks, &pos, &v))
	{
		STask	   *t = v;

		if (!t->seen)
		{
			SchedStReserve(st, (void **) &gone, &cap, n, sizeof(int64));
			gone[n++] = t->id;
		}
		t->seen = false;
	}
	/* Deleted tasks: everything they held goes (their runs end on their own). */
	for (int i = 0; i < n; i++)
	{
		STask	   *t = SchedMapDelete(&st->tasks, gone[i]);

		SchedStHeapRemove(st, t);
		TaskFreeStrings(st, t);
		SchedStFree(st, t);
	}
	SchedStFree(st, gone);
}

/* ---------- queued run rows ---------- */

void
SchedStateBeginQueued(SchedState *st)
{
	uint32		pos = 0;
	void	   *v;

	while (SchedMapNext(&st->runs, &pos, &v))
		((SRun *) v)->seen = false;
}

void
SchedStateQueuedRow(SchedState *st, int64 run_id, int64 task_id, int attempt,
					TimestampTz due, const char *trigger, TimestampTz now)
{
	SRun	   *r = SchedMapGet(&st->runs, run_id);

	if (r != NULL)
		r->seen = true;
	else
		SchedStAddRun(st, run_id, task_id, attempt, due, trigger, now);
}

/* Waiting runs whose row is no longer queued were cancelled or deleted. */
void
SchedStateEndQueued(SchedState *st, TimestampTz now)
{
	for (int l = SR_WAITING; l <= SR_READY; l++)
	{
		SRun	   *r = st->lists[l].head;

		while (r != NULL)
		{
			SRun	   *next = r->next;

			if (!r->seen)
				SchedStateRunEnded(st, r->run_id, SO_CANCELLED, now);
			r = next;
		}
	}
}

void
SchedStateNewRunSettled(SchedState *st, int64 task_id)
{
	STask	   *t = SchedMapGet(&st->tasks, task_id);

	/* Written or dropped, it no longer counts as unwritten: a row or nothing. */
	if (t != NULL && t->unwritten > 0)
		t->unwritten--;
}

void
SchedStateRunInserted(SchedState *st, int64 run_id, int64 task_id, int attempt,
					  TimestampTz due, const char *trigger, TimestampTz now)
{
	SchedStAddRun(st, run_id, task_id, attempt, due, trigger, now);
}

void
SchedStateMarkDirty(SchedState *st, int64 task_id)
{
	STask	   *t = SchedMapGet(&st->tasks, task_id);

	if (t != NULL)
		SchedStMarkDirty(st, t);
}

/* ---------- life cycle ---------- */

SchedState *
SchedStateCreate(const SchedHost *host, Oid local_dboid, int64 timeout_grace_us)
{
	AllocHeader *h = host->alloc(sizeof(AllocHeader) + sizeof(SchedState));
	SchedState *st = (SchedState *) (h + 1);

	memset(st, 0, sizeof(SchedState));
	h->size = sizeof(SchedState);
	st->host = host;
	st->local_dboid = local_dboid;
	st->grace_us = timeout_grace_us;
	st->bytes = sizeof(SchedState);
	SchedMapInit(&st->tasks, SchedStMapAlloc, SchedStMapFree, st);
	SchedMapInit(&st->runs, SchedStMapAlloc, SchedStMapFree, st);
	return st;
}

void
SchedStateSetTimeoutGrace(SchedState *st, int64 grace_us)
{
	st->grace_us = grace_us;
}

void
SchedStateDestroy(SchedState *st)
{
	uint32		pos = 0;
	void	   *v;

	SchedStateClearDecisions(st);
	while (SchedMapNext(&st->tasks, &pos, &v))
	{
		TaskFreeStrings(st, v);
		SchedStFree(st, v);
	}
	pos = 0;
	while (SchedMapNext(&st->runs, &pos, &v))
		SchedStFree(st, v);
	SchedMapDestroy(&st->tasks);
	SchedMapDestroy(&st->runs);
	SchedStFree(st, st->heap);
	SchedStFree(st, st->cands);
	SchedStFree(st, st->dirty_ids);
	SchedStFree(st, st->dec.new_runs);
	SchedStFree(st, st->dec.closes);
	SchedStFree(st, st->dec.dirty);
	SchedStFree(st, st->dec.remote_starts);
	st->host->free(((AllocHeader *) st) - 1);
}

/* ---------- views ---------- */

static void
ViewTask(const STask *t, SchedTaskView *out)
{
	out->id = t->id;
	out->next_run = t->next_run;
	out->last_start = t->last_start;
	out->anchor = t->anchor;
	out->active = t->active;
	out->running = t->running;
	out->unwritten = t->unwritten;
	out->enabled = t->enabled;
	out->has_problem = t->problem != NULL;
	out->overlap = t->overlap;
	out->kind = t->schedule.kind;
	out->schedule_ok = t->schedule_ok;
}

static void
ViewRun(const SRun *r, SchedRunView *out)
{
	out->run_id = r->run_id;
	out->task_id = r->task_id;
	out->attempt = r->attempt;
	out->due = r->due;
	out->state = r->state;
	out->deadline = r->deadline;
}

bool
SchedStateGetTask(SchedState *st, int64 id, SchedTaskView *out)
{
	STask	   *t = SchedMapGet(&st->tasks, id);

	if (t != NULL)
		ViewTask(t, out);
	return t != NULL;
}

bool
SchedStateGetRun(SchedState *st, int64 run_id, SchedRunView *out)
{
	SRun	   *r = SchedMapGet(&st->runs, run_id);

	if (r != NULL)
		ViewRun(r, out);
	return r != NULL;
}

int
SchedStateTaskCount(SchedState *st)
{
	return (int) st->tasks.count;
}

int
SchedStateRunCount(SchedState *st)
{
	return (int) st->runs.count;
}

size_t
SchedStateBytes(SchedState *st)
{
	return st->bytes;
}

void
SchedStateForEachRun(SchedState *st, void (*fn) (const SchedRunView *, void *), void *arg)
{
	uint32		pos = 0;
	void	   *v;
	SchedRunView view;

	while (SchedMapNext(&st->runs, &pos, &v))
	{
		ViewRun(v, &view);
		fn(&view, arg);
	}
}

void
SchedStateForEachTask(SchedState *st, void (*fn) (const SchedTaskView *, void *), void *arg)
{
	uint32		pos = 0;
	void	   *v;
	SchedTaskView view;

	while (SchedMapNext(&st->tasks, &pos, &v))
	{
		ViewTask(v, &view);
		fn(&view, arg);
	}
}
