/*-------------------------------------------------------------------------
 * sched_status.c
 *	  The scheduler's heartbeat and counts for uso_scheduler_status.
 *
 * Called once per loop, just before the scheduler sleeps: it writes what
 * the status view shows into the scheduler's shared memory slot (never to
 * disk) and caps the sleep at USO_HEARTBEAT_MS, so an idle scheduler still
 * beats and a stale heartbeat means a stuck or dead one.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/timestamp.h"

#include "sched.h"
#include "shmem.h"

long
SchedStatusBeat(long timeout_ms, int tasks_loaded, int runs_queued, int runs_running)
{
	UsoSchedulerSlot *slot;
	TimestampTz now = SchedNow();

	if (timeout_ms < 0 || timeout_ms > USO_HEARTBEAT_MS)
		timeout_ms = USO_HEARTBEAT_MS;

	LWLockAcquire(UsoShared->lock, LW_EXCLUSIVE);
	slot = UsoFindScheduler(MyDatabaseId);
	if (slot != NULL && slot->pid == MyProcPid)
	{
		slot->status.pid = MyProcPid;
		slot->status.started_at = MyStartTimestamp;
		slot->status.heartbeat = now;
		slot->status.next_wakeup = TimestampTzPlusMilliseconds(now, timeout_ms);
		slot->status.tasks_loaded = tasks_loaded;
		slot->status.runs_queued = runs_queued;
		slot->status.runs_running = runs_running;
	}
	LWLockRelease(UsoShared->lock);
	return timeout_ms;
}
