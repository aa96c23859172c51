/*-------------------------------------------------------------------------
 * schedule.h
 *	  The schedule grammar of uso_tasks: parse once, compute fire times.
 *
 * Pure functions: no catalog access, no ereport, no palloc of their own
 * (the caller owns all memory), so the parser can be fuzzed outside a
 * server and the scheduler can call them in its hot loop.
 *-------------------------------------------------------------------------
 */
#ifndef USO_SCHEDULE_H
#define USO_SCHEDULE_H

#include "datatype/timestamp.h"
#include "pgtime.h"

/* Longest schedule text we accept; longer input is refused, not truncated. */
#define USO_SCHEDULE_MAX_LEN	256

typedef enum UsoScheduleKind
{
	USO_SCHED_CRON,				/* 5-field cron and the @hourly.. macros */
	USO_SCHED_INTERVAL,			/* 'every <interval>', ISO 8601 P.., 'N seconds' */
	USO_SCHED_TIME_OF_DAY,		/* 'T02:00': daily at a local time */
	USO_SCHED_REBOOT			/* @reboot: once when the scheduler starts */
} UsoScheduleKind;

typedef struct UsoSchedule
{
	UsoScheduleKind kind;

	/* USO_SCHED_CRON: one bit per allowed value */
	uint64		minutes;		/* bits 0..59 */
	uint32		hours;			/* bits 0..23 */
	uint32		days;			/* bits 1..31 */
	bool		last_day;		/* '$' in day-of-month */
	uint16		months;			/* bits 1..12 */
	uint8		weekdays;		/* bits 0..6, Sunday = 0 */
	bool		days_star;		/* day-of-month field was '*' */
	bool		weekdays_star;	/* day-of-week field was '*' */

	/* USO_SCHED_INTERVAL: added to the anchor in the task's time zone */
	int32		iv_months;
	int32		iv_days;
	int64		iv_usecs;

	/*
	 * USO_SCHED_TIME_OF_DAY, or USO_SCHED_INTERVAL with a time of day
	 * ('P7D T12:00': the date from the interval, the time from here).
	 * Minutes after local midnight, or -1 when absent.
	 */
	int			time_of_day;
} UsoSchedule;

/*
 * Parse text into *out.  Returns true on success.  On failure returns false
 * and points *errmsg at a static or caller-buffer message naming the bad
 * part (errbuf must have room for USO_SCHEDULE_ERRBUF bytes).
 */
#define USO_SCHEDULE_ERRBUF	256
extern bool UsoScheduleParse(const char *text, UsoSchedule *out,
							 char *errbuf);

/*
 * The first fire time strictly after 'after'.
 *
 * anchor: the start of the last run (interval kinds count from it), or
 * DT_NOBEGIN when the task never ran; an interval task that never ran is due
 * at 'after' itself.  Cron and time-of-day kinds ignore the anchor.
 * tz: the time zone wall-clock fields are evaluated in.
 * Returns DT_NOEND when there is none (@reboot, or an impossible date such
 * as 30 February).
 */
extern TimestampTz UsoScheduleNext(const UsoSchedule *s, TimestampTz after,
								   TimestampTz anchor, pg_tz *tz);

/* Plain English for admin pages: 'every 15 minutes', 'at 02:00 every day'. */
extern void UsoScheduleDescribe(const UsoSchedule *s, char *buf, size_t buflen);

#endif							/* USO_SCHEDULE_H */
