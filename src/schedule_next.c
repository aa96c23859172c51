/*-------------------------------------------------------------------------
 * schedule_next.c
 *	  Fire-time arithmetic of the uso_tasks schedule grammar.
 *
 * Wall-clock fields are evaluated in the task's time zone through the pg_tz
 * API only (never the session TimeZone).  The cron search skips by fields
 * (month, day, hour, minute) instead of scanning minute by minute, and gives
 * up after SEARCH_YEARS for dates that never come (30 February).
 *
 * DST rules (docs/schedule.md):
 *	- A cron schedule whose hour set is all 24 hours follows elapsed time:
 *	  every local minute that exists and matches fires, so '*' '/5 * * * *'
 *	  fires every 5 real minutes, twice through a repeated hour.
 *	- Any other cron schedule (and T02:00) fires once per matching local
 *	  wall-clock time: a time skipped by spring-forward fires at the jump,
 *	  a repeated time fires at its first occurrence.
 *	- Interval arithmetic adds months and days to the local date (keeping
 *	  the wall-clock time) and the time part as elapsed time, as
 *	  timestamptz + interval does; a local result in a gap fires at the jump.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "port/pg_bitutils.h"
#include "utils/datetime.h"

#include "schedule.h"

/*
 * How far the cron search looks before giving up.  Schedules whose days can
 * never come (30 February) are known at parse time and not searched at all;
 * every other one matches within 28 years or so (29 February on a given
 * weekday, across a century year that is not leap), hence the margin.
 */
#define SEARCH_YEARS	50

/* Seconds from the Unix epoch (pg_time_t) to the PostgreSQL epoch. */
#define EPOCH_DIFF_SECS \
	((pg_time_t) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY)

/* Local wall-clock fields at minute resolution; months 1..12. */
typedef struct LocalTime
{
	int			year;
	int			mon;
	int			mday;
	int			hour;
	int			min;
} LocalTime;

static inline int64
floor_div(int64 a, int64 b)
{
	int64		q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static inline int
days_in_month(int year, int mon)
{
	return day_tab[isleap(year) ? 1 : 0][mon - 1];
}

/* Lowest set bit of mask at or above 'from', or -1. */
static inline int
next_bit(uint64 mask, int from)
{
	if (from > 63)
		return -1;
	mask >>= from;
	return mask == 0 ? -1 : from + pg_rightmost_one_pos64(mask);
}

/* Local microseconds since 2000-01-01 00:00 (local) into fields. */
static void
local_split(int64 lts, LocalTime *lt)
{
	int64		days = floor_div(lts, USECS_PER_DAY);
	int64		rem = lts - days * USECS_PER_DAY;

	j2date((int) (days + POSTGRES_EPOCH_JDATE), &lt->year, &lt->mon, &lt->mday);
	lt->hour = (int) (rem / USECS_PER_HOUR);
	lt->min = (int) ((rem / USECS_PER_MINUTE) % 60);
}

static int64
local_join(const LocalTime *lt)
{
	return (int64) (date2j(lt->year, lt->mon, lt->mday) - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY +
		lt->hour * USECS_PER_HOUR + lt->min * USECS_PER_MINUTE;
}

/*
 * The UTC offset (seconds east) in force at instant t, and the next
 * transition after t (DT_NOEND when none is known).
 */
static long
offset_at(TimestampTz t, pg_tz *tz, TimestampTz *boundary)
{
	pg_time_t	secs = (pg_time_t) floor_div(t, USECS_PER_SEC) + EPOCH_DIFF_SECS;
	long		before_off,
				after_off;
	int			before_dst,
				after_dst;
	pg_time_t	b;
	int			r;

	*boundary = DT_NOEND;
	if (tz == NULL)
		return 0;
	r = pg_next_dst_boundary(&secs, &before_off, &before_dst, &b,
							 &after_off, &after_dst, tz);
	if (r < 0)
	{
		struct pg_tm *tm = pg_localtime(&secs, tz);

		return tm ? tm->tm_gmtoff : 0;
	}
	if (r == 1)
		*boundary = (TimestampTz) (b - EPOCH_DIFF_SECS) * USECS_PER_SEC;
	return before_off;
}

/*
 * The instant of a local wall-clock time: the usual one when it exists
 * once; the first occurrence when a fall-back repeats it; the transition
 * instant (the jump) when spring-forward skips it.
 */
static TimestampTz
resolve_local(int64 lts, pg_tz *tz)
{
	pg_time_t	mytime = (pg_time_t) floor_div(lts, USECS_PER_SEC) + EPOCH_DIFF_SECS;
	int64		frac = lts - floor_div(lts, USECS_PER_SEC) * USECS_PER_SEC;
	pg_time_t	prev = mytime - SECS_PER_DAY;
	pg_time_t	boundary,
				beforetime,
				aftertime,
				result;
	long		before_off,
				after_off;
	int			before_dst,
				after_dst;
	int			r;

	if (tz == NULL)
		return lts;
	/* zones never move more than a day, transitions are days apart */
	r = pg_next_dst_boundary(&prev, &before_off, &before_dst, &boundary,
							 &after_off, &after_dst, tz);
	if (r < 0)
		return lts;
	beforetime = mytime - before_off;
	if (r == 0)
		result = beforetime;
	else
	{
		aftertime = mytime - after_off;
		if (beforetime < boundary && aftertime < boundary)
			result = beforetime;
		else if (beforetime >= boundary && aftertime >= boundary)
			result = aftertime;
		else if (beforetime >= boundary)
		{
			/* skipped by spring-forward: at the jump, whole second */
			return (TimestampTz) (boundary - EPOCH_DIFF_SECS) * USECS_PER_SEC;
		}
		else
			result = beforetime;	/* repeated: the first occurrence */
	}
	return (TimestampTz) (result - EPOCH_DIFF_SECS) * USECS_PER_SEC + frac;
}

/* Vixie cron's day rule: both fields restricted means either may match. */
static bool
day_matches(const UsoSchedule *s, int year, int mon, int mday)
{
	bool		dom = ((s->days >> mday) & 1) != 0 ||
		(s->last_day && mday == days_in_month(year, mon));
	bool		dow = true;

	if (s->weekdays != 0x7F)
		dow = ((s->weekdays >> j2day(date2j(year, mon, mday))) & 1) != 0;
	if (s->days_star || s->weekdays_star)
		return dom && dow;
	return dom || dow;
}

/* Move to the start of the next day. */
static inline void
next_day(LocalTime *lt)
{
	lt->hour = 0;
	lt->min = 0;
	if (++lt->mday > days_in_month(lt->year, lt->mon))
	{
		lt->mday = 1;
		if (++lt->mon > 12)
		{
			lt->mon = 1;
			lt->year++;
		}
	}
}

/*
 * Advance *lt to the first local minute at or after it that matches the cron
 * fields, skipping whole months, days and hours that cannot match.  Returns
 * false when nothing matches within SEARCH_YEARS.
 */
static bool
next_match_local(const UsoSchedule *s, LocalTime *lt)
{
	int			limit = lt->year + SEARCH_YEARS;

	for (;;)
	{
		int			b;

		if (lt->year > limit)
			return false;
		if (((s->months >> lt->mon) & 1) == 0)
		{
			b = next_bit(s->months, lt->mon + 1);
			if (b < 0)
			{
				lt->year++;
				b = next_bit(s->months, 1);
			}
			lt->mon = b;
			lt->mday = 1;
			lt->hour = 0;
			lt->min = 0;
			continue;
		}
		if (!day_matches(s, lt->year, lt->mon, lt->mday))
		{
			next_day(lt);
			continue;
		}
		b = next_bit(s->hours, lt->hour);
		if (b < 0)
		{
			next_day(lt);
			continue;
		}
		if (b != lt->hour)
		{
			lt->hour = b;
			lt->min = 0;
		}
		b = next_bit(s->minutes, lt->min);
		if (b < 0)
		{
			lt->min = 0;
			if (++lt->hour > 23)
				next_day(lt);
			continue;
		}
		lt->min = b;
		return true;
	}
}

/* The first whole local minute strictly after local time lts. */
static inline int64
minute_after(int64 lts)
{
	return (floor_div(lts, USECS_PER_MINUTE) + 1) * USECS_PER_MINUTE;
}

/* Cron with all 24 hours: every existing matching local minute fires. */
static TimestampTz
next_elapsed(const UsoSchedule *s, TimestampTz after, pg_tz *tz)
{
	int			segments;
	TimestampTz probe = after;	/* where the offset is looked up */

	for (segments = 0; segments < 64; segments++)
	{
		TimestampTz boundary;
		long		off = offset_at(probe, tz, &boundary);
		LocalTime	lt;
		TimestampTz t;

		local_split(minute_after(after + off * USECS_PER_SEC), &lt);
		if (!next_match_local(s, &lt))
			return DT_NOEND;
		t = local_join(&lt) - off * USECS_PER_SEC;
		if (boundary == DT_NOEND || t < boundary)
			return t;
		/* the offset changes first: search again from the transition */
		after = boundary - 1;
		probe = boundary;
	}
	return DT_NOEND;
}

/* Any other cron (and T02:00): once per matching wall-clock time. */
static TimestampTz
next_wallclock(const UsoSchedule *s, TimestampTz after, pg_tz *tz)
{
	TimestampTz boundary;
	long		off = offset_at(after, tz, &boundary);
	int64		start = minute_after(after + off * USECS_PER_SEC);
	int			tries;

	/*
	 * Local times of a repeated hour resolve to their first occurrence, which
	 * may lie before 'after' (when after is in the second pass): step on.
	 */
	for (tries = 0; tries < 2000; tries++)
	{
		LocalTime	lt;
		int64		lts;
		TimestampTz t;

		local_split(start, &lt);
		if (!next_match_local(s, &lt))
			return DT_NOEND;
		lts = local_join(&lt);
		t = resolve_local(lts, tz);
		if (t > after)
			return t;
		start = lts + USECS_PER_MINUTE;
	}
	return DT_NOEND;
}

/*
 * anchor + k * interval in the time zone: months (clamped to the month's
 * length, from the anchor's own day of month) and days on the local date,
 * keeping its wall-clock time, then the time part as elapsed time.  With a
 * time of day, the local date of that result at that time.
 */
static TimestampTz
interval_step(const UsoSchedule *s, TimestampTz anchor, int64 k, pg_tz *tz)
{
	TimestampTz boundary;
	long		off = offset_at(anchor, tz, &boundary);
	int64		lts = anchor + off * USECS_PER_SEC;
	int64		days = floor_div(lts, USECS_PER_DAY);
	int64		rem = lts - days * USECS_PER_DAY;
	int			y,
				m,
				d;
	int64		jd;
	int64		r;

	j2date((int) (days + POSTGRES_EPOCH_JDATE), &y, &m, &d);
	if (s->iv_months != 0)
	{
		int64		total = (int64) y * 12 + (m - 1) + k * s->iv_months;

		if (total > (int64) 300000 * 12)
			return DT_NOEND;
		y = (int) (total / 12);
		m = (int) (total % 12) + 1;
		if (d > days_in_month(y, m))
			d = days_in_month(y, m);
	}
	jd = date2j(y, m, d) + k * s->iv_days;
	if (jd > TIMESTAMP_END_JULIAN)
		return DT_NOEND;
	if (s->time_of_day >= 0)
		return resolve_local((jd - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY +
							 s->time_of_day * USECS_PER_MINUTE +
							 s->time_of_day_sec * USECS_PER_SEC, tz);
	if (s->iv_months != 0 || s->iv_days != 0)
		r = resolve_local((jd - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY + rem, tz);
	else
		r = anchor;
	if (k > 0 && s->iv_usecs > (END_TIMESTAMP - r) / k)
		return DT_NOEND;
	return r + k * s->iv_usecs;
}

/*
 * Interval kinds: the first anchor + k * interval (k >= 1) after 'after'.
 * The number of steps is estimated from the mean length, then corrected,
 * so a task that was down for years costs a few steps, not thousands.
 */
static TimestampTz
next_interval(const UsoSchedule *s, TimestampTz after, TimestampTz anchor,
			  pg_tz *tz)
{
	double		approx = s->iv_months * (365.2425 / 12.0) * (double) USECS_PER_DAY +
		s->iv_days * (double) USECS_PER_DAY + (double) s->iv_usecs;
	int64		k = 1;
	int			guard;
	TimestampTz t;

	/* pure elapsed time ('every 15 minutes', 'PT1H', '30 seconds') */
	if (s->iv_months == 0 && s->iv_days == 0 && s->time_of_day < 0)
	{
		if (after >= anchor)
			k = (after - anchor) / s->iv_usecs + 1;
		if (s->iv_usecs > (END_TIMESTAMP - anchor) / k)
			return DT_NOEND;
		return anchor + k * s->iv_usecs;
	}
	if (after > anchor)
	{
		double		est = (double) (after - anchor) / approx;

		if (est > 1e12)
			return DT_NOEND;
		k = (int64) est - 1;
		if (k < 1)
			k = 1;
	}
	for (guard = 0; guard < 1000; guard++)
	{
		t = interval_step(s, anchor, k, tz);
		if (t == DT_NOEND)
			return DT_NOEND;
		if (t > after)
			break;
		k++;
	}
	if (guard == 1000)
		return DT_NOEND;
	while (k > 1)
	{
		TimestampTz prev = interval_step(s, anchor, k - 1, tz);

		if (prev <= after)
			break;
		t = prev;
		k--;
	}
	return t;
}

/*
 * A daily time of day with seconds ('T02:00:30'): the minute search from
 * 'after' minus the seconds, then the seconds added, so the result is the
 * first such time strictly after 'after'.
 */
static TimestampTz
next_daily(const UsoSchedule *s, TimestampTz after, pg_tz *tz)
{
	int64		sec = (int64) s->time_of_day_sec * USECS_PER_SEC;
	TimestampTz t = next_wallclock(s, after - sec, tz);

	return t == DT_NOEND ? DT_NOEND : t + sec;
}

/*
 * The first fire time strictly after 'after', on the grid of 'anchor'
 * (schedule.h has the contract).
 */
TimestampTz
UsoScheduleNextFrom(const UsoSchedule *s, TimestampTz after, TimestampTz anchor,
					pg_tz *tz)
{
	TimestampTz t;

	if (TIMESTAMP_NOT_FINITE(after))
		return DT_NOEND;
	switch (s->kind)
	{
		case USO_SCHED_CRON:
			if (s->never_fires)
				return DT_NOEND;
			t = s->hours == USO_ALL_HOURS ? next_elapsed(s, after, tz)
				: next_wallclock(s, after, tz);
			break;
		case USO_SCHED_TIME_OF_DAY:
			t = next_daily(s, after, tz);
			break;
		case USO_SCHED_INTERVAL:
			if (TIMESTAMP_IS_NOEND(anchor))
				return DT_NOEND;
			if (TIMESTAMP_IS_NOBEGIN(anchor))
			{
				UsoSchedule daily;

				/* never ran: due now, or at the next time of day if any */
				if (s->time_of_day < 0)
					return after;
				memset(&daily, 0, sizeof(daily));
				daily.kind = USO_SCHED_TIME_OF_DAY;
				daily.minutes = UINT64CONST(1) << (s->time_of_day % 60);
				daily.hours = (uint32) 1 << (s->time_of_day / 60);
				daily.days = 0xFFFFFFFE;
				daily.months = 0x1FFE;
				daily.weekdays = 0x7F;
				daily.days_star = daily.weekdays_star = true;
				daily.time_of_day = s->time_of_day;
				daily.time_of_day_sec = s->time_of_day_sec;
				t = next_daily(&daily, after, tz);
			}
			else
				t = next_interval(s, after, anchor, tz);
			break;
		default:
			return DT_NOEND;
	}
	if (!IS_VALID_TIMESTAMP(t))
		return DT_NOEND;
	return t;
}

/* The older entry point: the same arithmetic (schedule.h). */
TimestampTz
UsoScheduleNext(const UsoSchedule *s, TimestampTz after, TimestampTz anchor,
				pg_tz *tz)
{
	return UsoScheduleNextFrom(s, after, anchor, tz);
}
