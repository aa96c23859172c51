/*-------------------------------------------------------------------------
 * schedule.h
 *	  The schedule grammar of uso_tasks: parse once, compute fire times.
 *
 * Pure functions: no catalog access, no ereport, no palloc of their own
 * (the caller owns all memory), so the parser can be fuzzed outside a
 * server and the scheduler can call them in its hot loop.
 *
 * docs/schedule.md is the reference for the grammar and the DST rules.
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
	USO_SCHED_REBOOT,			/* @reboot: once when the scheduler starts */
	USO_SCHED_MANUAL			/* @manual: never by itself (run now only) */
} UsoScheduleKind;

typedef struct UsoSchedule
{
	UsoScheduleKind kind;

	/*
	 * USO_SCHED_CRON, and USO_SCHED_TIME_OF_DAY (filled as the equivalent
	 * 'M H * * *' so both share one search): one bit per allowed value.
	 */
	uint64		minutes;		/* bits 0..59 */
	uint32		hours;			/* bits 0..23 */
	uint32		days;			/* bits 1..31 */
	bool		last_day;		/* '$' in day-of-month */
	uint16		months;			/* bits 1..12 */
	uint8		weekdays;		/* bits 0..6, Sunday = 0 */
	bool		days_star;		/* day-of-month field began with '*' */
	bool		weekdays_star;	/* day-of-week field began with '*' */

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

/* All 24 hours allowed: the cron schedule follows elapsed time across DST. */
#define USO_ALL_HOURS	((uint32) 0xFFFFFF)

/*
 * Parse text into *out.  Returns true on success.  On failure returns false
 * and writes a message naming the bad part into errbuf (which must have room
 * for USO_SCHEDULE_ERRBUF bytes).
 */
#define USO_SCHEDULE_ERRBUF	256
extern bool UsoScheduleParse(const char *text, UsoSchedule *out,
							 char *errbuf);

/* The accepted forms, for error hints and docs. */
#define USO_SCHEDULE_FORMS \
	"Accepted forms: 5-field cron (\"*/5 * * * *\", \"0 2 * * 1-5\", \"0 0 $ * *\"), " \
	"@hourly @daily @midnight @weekly @monthly @yearly @annually @reboot @manual, " \
	"\"N seconds\" (1-59), \"every <n> <unit>\" (\"every 15 minutes\", \"every 3 months\"), " \
	"ISO 8601 durations (\"PT15M\", \"P1D\", \"P3M\"), a time of day (\"T02:00\") " \
	"or both (\"P7D T12:00\")."

/*
 * The first fire time strictly after 'after'.
 *
 * anchor: the start of the last run (interval kinds count from it), or
 * DT_NOBEGIN when the task never ran; an interval task that never ran is due
 * at 'after' itself (the one exception to "strictly after").  Cron and
 * time-of-day kinds ignore the anchor.
 * tz: the time zone wall-clock fields are evaluated in.
 * Returns DT_NOEND when there is none (@reboot, @manual, or an impossible
 * date such as 30 February).
 */
extern TimestampTz UsoScheduleNext(const UsoSchedule *s, TimestampTz after,
								   TimestampTz anchor, pg_tz *tz);

/* Plain English for admin pages: 'every 15 minutes', 'at 02:00 every day'. */
extern void UsoScheduleDescribe(const UsoSchedule *s, char *buf, size_t buflen);

/*
 * Server-side helpers (schedule_sql.c), for everything that takes a schedule
 * or a time zone from SQL: they ereport 22023 (22004 for a NULL schedule)
 * with a message naming the bad part, so callers check before writing.
 * A NULL time zone name means UsoDefaultTimezone().
 */
extern void UsoScheduleParseOrError(const char *text, UsoSchedule *out);
extern pg_tz *UsoTimezoneOrError(const char *name);

#endif							/* USO_SCHEDULE_H */
