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

/*
 * Longest schedule text we accept; longer input is refused, not truncated.
 * pg_cron refuses 1000 characters and more, and a valid cron line with long
 * lists ('0,1,2,...,59 0,1,...,23 ...') can exceed 300, so the limit is
 * pg_cron's.
 */
#define USO_SCHEDULE_MAX_LEN	999

/*
 * Which grammar to parse.  USO_GRAMMAR_USO is uso_tasks' own (everything
 * pg_cron accepts, minus the deliberate refusals listed in docs/cron.md,
 * plus 'every ...', ISO 8601 forms, times of day and @manual).
 * USO_GRAMMAR_PG_CRON is what pg_cron 1.6 accepts, exactly, for the cron
 * layer (cron.schedule, cron.alter_job): 5-field cron with pg_cron's step
 * limits (at most the field's maximum), '$' only as a whole day-of-month
 * field, pg_cron's lower-case @ keywords (with @restart), and 'N seconds'.
 * A text both grammars accept parses to the same struct.
 */
typedef enum UsoGrammar
{
	USO_GRAMMAR_USO,
	USO_GRAMMAR_PG_CRON
} UsoGrammar;

typedef enum UsoScheduleKind
{
	USO_SCHED_CRON,				/* 5-field cron and the @hourly.. macros */
	USO_SCHED_INTERVAL,			/* 'every <interval>', ISO 8601 P.., 'N seconds' */
	USO_SCHED_TIME_OF_DAY,		/* 'T02:00': daily at a local time */
	USO_SCHED_REBOOT,			/* @reboot: once when the scheduler starts */
	USO_SCHED_MANUAL,			/* @manual: never by itself (run now only) */
	USO_SCHED_AFTER				/* 'after <task> [fails]': when another task's run ends */
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

	/*
	 * USO_SCHED_CRON: no allowed month has any allowed day ('0 0 30 2 *'),
	 * so it never fires; UsoScheduleNeverFires() says why.
	 */
	bool		never_fires;

	/* USO_SCHED_INTERVAL: added to the anchor in the task's time zone */
	int32		iv_months;
	int32		iv_days;
	int64		iv_usecs;

	/*
	 * USO_SCHED_TIME_OF_DAY, or USO_SCHED_INTERVAL with a time of day
	 * ('P7D T12:00': the date from the interval, the time from here).
	 * Minutes after local midnight, or -1 when absent; and the seconds
	 * within that minute ('T02:00:30'), 0-59.
	 */
	int			time_of_day;
	int			time_of_day_sec;

	/*
	 * USO_SCHED_AFTER: where the predecessor's name lies in the text (byte
	 * offset and length, quotes included when quoted; see
	 * UsoScheduleAfterName), and whether the task follows its failures
	 * ('after X fails') rather than its successes.  The text, not the
	 * struct, holds the name: a struct per loaded task stays small.
	 */
	uint16		after_off;
	uint16		after_len;
	bool		after_fails;
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
/* The same, in the grammar given (UsoScheduleParse is USO_GRAMMAR_USO). */
extern bool UsoScheduleParseGrammar(const char *text, UsoGrammar grammar,
									UsoSchedule *out, char *errbuf);

/*
 * Why a parsed schedule can never fire by the clock, or NULL when it can
 * (or is @reboot / @manual, which are not meant to).  The reason is written
 * into buf: 'February has no 30th', 'April, June, September and November
 * have no 31st'.
 */
extern const char *UsoScheduleNeverFires(const UsoSchedule *s, char *buf,
										 size_t buflen);

/* The accepted forms, for error hints and docs. */
#define USO_SCHEDULE_FORMS \
	"Accepted forms: 5-field cron (\"*/5 * * * *\", \"0 2 * * 1-5\", \"0 0 $ * *\"), " \
	"@hourly @daily @midnight @weekly @monthly @yearly @annually @reboot @manual, " \
	"\"N seconds\" (1-59), \"every <n> <unit>\" (\"every 15 minutes\", \"every 3 months\"), " \
	"ISO 8601 durations (\"PT15M\", \"P1D\", \"P3M\"), a time of day (\"T02:00\") " \
	"or both (\"P7D T12:00\"); \"after <task>\" and \"after <task> fails\" follow another task."

/* The forms the pg_cron layer accepts (USO_GRAMMAR_PG_CRON). */
#define USO_PG_CRON_FORMS \
	"pg_cron accepts 5-field cron (\"*/5 * * * *\", \"0 0 $ * *\"), " \
	"@hourly @daily @midnight @weekly @monthly @yearly @annually @reboot @restart " \
	"and \"N seconds\" (1-59)."

/*
 * UsoScheduleNextFrom: the first fire time strictly after 'after', counted
 * from an anchor.  This is the one function fire times come from: the
 * preview (uso_next_runs) and the scheduler must both use it, so that what
 * the admin page shows is what happens.
 *
 * anchor: the instant the period counts from -- the start (slot) of the run
 * that began the current grid, NOT simply the previous run.  Interval kinds
 * fire at anchor + k * interval for k = 1, 2, ... (the anchor itself is a
 * run that already happened), and the result is the first of those strictly
 * after 'after':
 *	- months are added to the anchor's local date and the anchor's day of
 *	  month is kept, clamped to the month's length: P1M from 01-31 gives
 *	  02-28, 03-31, 04-30, 05-31 (never 03-28: each step is computed from
 *	  the anchor, not from the previous clamped result);
 *	- days are added to the local date keeping the anchor's wall-clock time
 *	  (a time skipped by spring-forward fires at the jump that day only);
 *	- the time part (hours, minutes, seconds) is added as elapsed time;
 *	- with a time of day ('P1M T00:15'): the local date of anchor + k *
 *	  interval, at that time.
 * So calling it again with the result as 'after' and the SAME anchor walks
 * the grid; keep the anchor until the grid is meant to move.  The grid
 * moves when the caller says so: a manual (or one-off) run of an interval
 * task makes that run's start the new anchor (its day of month becomes the
 * kept day).  Whether downtime moves it is the caller's policy, not this
 * function's.
 * anchor = DT_NOBEGIN: the task never ran; an interval task is then due at
 * 'after' itself (the one exception to "strictly after"), or with a time of
 * day at the next such local time.  DT_NOEND: nothing.
 * Cron and time-of-day kinds ignore the anchor (the clock alone decides).
 * tz: the time zone wall-clock fields are evaluated in.
 * Returns DT_NOEND when there is no next time (@reboot, @manual, a schedule
 * that never fires, or beyond the timestamp range).
 * Cost: O(1) for elapsed-time intervals, a few steps otherwise, even for an
 * anchor years back.
 */
extern TimestampTz UsoScheduleNextFrom(const UsoSchedule *s, TimestampTz after,
									   TimestampTz anchor, pg_tz *tz);

/*
 * The older name, same arithmetic.  The scheduler passes its stored anchor
 * (uso_task.schedule_anchor, sched_state.c's SchedStRegrid); a caller that
 * passed the last start instead would get a grid that restarts at every
 * run, so month steps would drift after a clamped month (01-31 -> 02-28 ->
 * 03-28).
 */
extern TimestampTz UsoScheduleNext(const UsoSchedule *s, TimestampTz after,
								   TimestampTz anchor, pg_tz *tz);

/*
 * The predecessor's name of an 'after' schedule parsed from text, unquoted,
 * into buf (NUL-terminated; any name a schedule can hold fits in
 * USO_AFTER_NAME_BUF bytes).  False when s is not an 'after' schedule.
 */
#define USO_AFTER_NAME_BUF	(USO_SCHEDULE_MAX_LEN + 1)
extern bool UsoScheduleAfterName(const char *text, const UsoSchedule *s,
								 char *buf, size_t buflen);

/* Plain English for admin pages: 'every 15 minutes', 'at 02:00 every day'. */
extern void UsoScheduleDescribe(const UsoSchedule *s, char *buf, size_t buflen);
/* The same, given the text s was parsed from: names an 'after' schedule's task. */
extern void UsoScheduleDescribeText(const char *text, const UsoSchedule *s, char *buf,
									size_t buflen);

/*
 * Server-side helpers (schedule_sql.c), for everything that takes a schedule
 * or a time zone from SQL: they ereport 22023 (22004 for a NULL schedule)
 * with a message naming the bad part, so callers check before writing.
 * A NULL time zone name means UsoDefaultTimezone().
 */
extern void UsoScheduleParseOrError(const char *text, UsoSchedule *out);
extern void UsoScheduleParseGrammarOrError(const char *text, UsoGrammar grammar,
										   UsoSchedule *out);
extern pg_tz *UsoTimezoneOrError(const char *name);

/*
 * A warning (palloc'd) for a time zone name that does not mean what it
 * seems to, or NULL: POSIX-style specifications such as 'CET+1' (UTC-01:00:
 * in POSIX rules + lies west of Greenwich) and the Etc/GMT+N zones, whose
 * sign is POSIX's too.  The text says what the name means and suggests an
 * IANA name.  tz is the zone the name resolved to (UsoTimezoneOrError).
 */
extern char *UsoTimezoneWarning(const char *name, pg_tz *tz);

#endif							/* USO_SCHEDULE_H */
