/*-------------------------------------------------------------------------
 * sched_clock.c
 *	  The scheduler's clock: the real one reads GetCurrentTimestamp and
 *	  sleeps on the process latch.  The scheduler's loop asks SchedNow()
 *	  and sleeps through sched_clock->wait, so a test build can put a
 *	  simulated clock in their place by assigning sched_clock (see sched.h
 *	  for what does not go through it).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "sched.h"

static TimestampTz
RealNow(void)
{
	return GetCurrentTimestamp();
}

static void
RealWait(long timeout_ms)
{
	if (timeout_ms == 0)
		return;
	(void) WaitLatch(MyLatch,
					 WL_LATCH_SET | WL_EXIT_ON_PM_DEATH | (timeout_ms > 0 ? WL_TIMEOUT : 0),
					 timeout_ms, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
}

static const SchedClock RealClock = {RealNow, RealWait};

const SchedClock *sched_clock = &RealClock;
