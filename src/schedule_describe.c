/*-------------------------------------------------------------------------
 * schedule_describe.c
 *	  Plain English for a parsed schedule, as an admin page shows it:
 *	  'every 15 minutes', 'at 02:00 every day', 'at 09:00 on Monday to
 *	  Friday', 'once a quarter (every 3 months)'.
 *
 * Works on the parsed struct, so equivalent spellings ('PT1H', '@hourly',
 * '0 * * * *', 'every 1 hour') read the same.  Pure C like the parser.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdarg.h>

#include "port/pg_bitutils.h"

#include "schedule.h"

/* A bounded string builder over the caller's buffer. */
typedef struct Out
{
	char	   *buf;
	size_t		len;
	size_t		cap;
} Out;

static void
put(Out *o, const char *fmt,...)
pg_attribute_printf(2, 3);

static void
put(Out *o, const char *fmt,...)
{
	va_list		ap;
	int			n;

	if (o->len + 1 >= o->cap)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->len = Min(o->len + n, o->cap - 1);
}

static const char *const month_name[] = {
	"", "January", "February", "March", "April", "May", "June", "July",
	"August", "September", "October", "November", "December"
};
static const char *const day_name[] = {
	"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
	"Saturday"
};

#define ALL_MINUTES		((UINT64CONST(1) << 60) - 1)
#define ALL_DAYS		((uint32) 0xFFFFFFFE)
#define ALL_MONTHS		((uint16) 0x1FFE)
#define ALL_WEEKDAYS	((uint8) 0x7F)

static int
popcount(uint64 m)
{
	return pg_popcount64(m);
}

static int
lowest(uint64 m)
{
	return pg_rightmost_one_pos64(m);
}

static int
highest(uint64 m)
{
	return pg_leftmost_one_pos64(m);
}

/*
 * The step s when mask is exactly {lo, lo+s, lo+2s, ...} up to hi with
 * s > 1 and at least two values, else 0.
 */
static int
step_of(uint64 mask, int lo, int hi)
{
	int			s;

	if (popcount(mask) < 2 || lowest(mask) != lo)
		return 0;
	s = lowest(mask >> (lo + 1)) + 1;
	if (s < 2)
		return 0;
	{
		uint64		expect = 0;
		int			v;

		for (v = lo; v <= hi; v += s)
			expect |= UINT64CONST(1) << v;
		return expect == mask ? s : 0;
	}
}

/* True when the set bits from lo are one contiguous run. */
static bool
contiguous(uint64 mask)
{
	uint64		shifted = mask >> lowest(mask);

	return (shifted & (shifted + 1)) == 0;
}

static const char *
ordinal_suffix(int n)
{
	if (n % 100 >= 11 && n % 100 <= 13)
		return "th";
	switch (n % 10)
	{
		case 1:
			return "st";
		case 2:
			return "nd";
		case 3:
			return "rd";
		default:
			return "th";
	}
}

/* "a, b and c" of the set bits, each printed by fmt with the value. */
static void
put_list(Out *o, uint64 mask, const char *fmt)
{
	int			n = popcount(mask);
	int			i = 0;
	int			v;

	for (v = 0; v < 64; v++)
	{
		if (((mask >> v) & 1) == 0)
			continue;
		if (i > 0)
			put(o, i == n - 1 ? " and " : ", ");
		put(o, fmt, v);
		i++;
	}
}

/* Weekday names Monday first; a run of three or more as "Monday to Friday". */
static void
put_weekdays(Out *o, uint8 wd)
{
	/* rotate so Monday is bit 0 and Sunday bit 6 */
	uint64		m = ((uint64) (wd >> 1)) | ((uint64) (wd & 1) << 6);
	int			n = popcount(m);
	int			i = 0;
	int			v;

	if (n >= 3 && contiguous(m))
	{
		put(o, "%s to %s", day_name[(lowest(m) + 1) % 7],
			day_name[(highest(m) + 1) % 7]);
		return;
	}
	for (v = 0; v < 7; v++)
	{
		if (((m >> v) & 1) == 0)
			continue;
		if (i > 0)
			put(o, i == n - 1 ? " and " : ", ");
		put(o, "%s", day_name[(v + 1) % 7]);
		i++;
	}
}

static void
put_months(Out *o, uint16 months)
{
	int			s = step_of(months, 1, 12);

	if (months == ALL_MONTHS)
		put(o, "every month");
	else if (s > 0 && 12 % s == 0 && popcount(months) >= 3)
		put(o, "every %d%s month", s, ordinal_suffix(s));
	else if (popcount(months) >= 3 && contiguous(months))
		put(o, "%s to %s", month_name[lowest(months)], month_name[highest(months)]);
	else
	{
		int			n = popcount(months);
		int			i = 0;
		int			v;

		for (v = 1; v <= 12; v++)
		{
			if (((months >> v) & 1) == 0)
				continue;
			if (i > 0)
				put(o, i == n - 1 ? " and " : ", ");
			put(o, "%s", month_name[v]);
			i++;
		}
	}
}

/* "the first day", "day 15", "days 1 and 15", "the last day". */
static void
put_days(Out *o, uint32 days, bool last_day)
{
	int			n = popcount(days);
	int			s = step_of(days, 1, 31);

	if (n == 0 && last_day)
		put(o, "the last day");
	else if (n == 1 && !last_day && days == (1u << 1))
		put(o, "the first day");
	else if (n == 1 && !last_day)
		put(o, "day %d", lowest(days));
	else if (s > 0 && !last_day)
		put(o, "every %d%s day", s, ordinal_suffix(s));
	else if (n >= 3 && contiguous(days) && !last_day)
		put(o, "days %d to %d", lowest(days), highest(days));
	else if (last_day)
	{
		int			v;
		const char *sep = "days ";

		for (v = 1; v <= 31; v++)
			if ((days >> v) & 1)
			{
				put(o, "%s%d", sep, v);
				sep = ", ";
			}
		put(o, " and the last day");
	}
	else
	{
		put(o, "days ");
		put_list(o, days, "%d");
	}
}

/* The day part of a cron schedule, or nothing when it is every day. */
static void
put_cron_days(Out *o, const UsoSchedule *s, bool time_is_every)
{
	bool		dom_r = s->days != ALL_DAYS || s->last_day;
	bool		dow_r = s->weekdays != ALL_WEEKDAYS;
	bool		mon_r = s->months != ALL_MONTHS;

	if (!dom_r && !dow_r)
	{
		if (mon_r)
		{
			put(o, time_is_every ? " in " : " every day in ");
			put_months(o, s->months);
		}
		else if (!time_is_every)
			put(o, " every day");
		return;
	}
	if (dom_r)
	{
		/* '1 January', 'the last day of February', 'day 15 of every month' */
		put(o, " on ");
		if (popcount(s->months) == 1 && popcount(s->days) == 1 && !s->last_day)
			put(o, "%d %s", lowest(s->days), month_name[lowest(s->months)]);
		else
		{
			put_days(o, s->days, s->last_day);
			put(o, " of ");
			put_months(o, s->months);
		}
		if (dow_r)
		{
			/* Vixie: OR when both are restricted, AND when one began with '*' */
			put(o, (s->days_star || s->weekdays_star) ? " if it is a " : " and on every ");
			put_weekdays(o, s->weekdays);
		}
		return;
	}
	put(o, " on ");
	put_weekdays(o, s->weekdays);
	if (mon_r)
	{
		put(o, " in ");
		put_months(o, s->months);
	}
}

/*
 * The time part of a cron schedule.  Returns true when it reads as a
 * repetition ('every 15 minutes'), which needs no 'every day' after it.
 */
static bool
put_cron_times(Out *o, const UsoSchedule *s)
{
	uint64		m = s->minutes;
	uint32		h = s->hours;
	int			nm = popcount(m);
	int			nh = popcount(h);
	int			mstep = step_of(m, 0, 59);
	int			hstep = step_of(h, 0, 23);

	if (h == USO_ALL_HOURS)
	{
		if (m == ALL_MINUTES)
			put(o, "every minute");
		else if (mstep > 0 && 60 % mstep == 0)
			put(o, "every %d minutes", mstep);
		else if (nm == 1 && m == 1)
			put(o, "every hour");
		else if (nm == 1)
			put(o, "at %d minutes past every hour", lowest(m));
		else
		{
			put(o, "at minutes ");
			put_list(o, m, "%d");
			put(o, " past every hour");
		}
		return true;
	}
	if (nm == 1 && nh >= 3 && hstep > 0 && 24 % hstep == 0)
	{
		if (m == 1)
			put(o, "every %d hours", hstep);
		else
			put(o, "every %d hours at %d minutes past", hstep, lowest(m));
		return true;
	}
	if (nm * nh <= 4)
	{
		int			i = 0;
		int			hv,
					mv;

		put(o, "at ");
		for (hv = 0; hv < 24; hv++)
			for (mv = 0; mv < 60; mv++)
				if (((h >> hv) & 1) && ((m >> mv) & 1))
				{
					if (i > 0)
						put(o, i == nm * nh - 1 ? " and " : ", ");
					put(o, "%02d:%02d", hv, mv);
					i++;
				}
		return false;
	}
	if (m == ALL_MINUTES || (mstep > 0 && 60 % mstep == 0))
	{
		if (m == ALL_MINUTES)
			put(o, "every minute");
		else
			put(o, "every %d minutes", mstep);
		if (contiguous(h))
			put(o, " from %02d:00 to %02d:%02d", lowest(h), highest(h), highest(m));
		else
		{
			put(o, " during hours ");
			put_list(o, h, "%02d");
		}
		return false;
	}
	put(o, "at minutes ");
	put_list(o, m, "%d");
	put(o, " past hours ");
	put_list(o, h, "%02d");
	return false;
}

/* A period in words: 'every 15 minutes', 'once a day', 'once a quarter...'. */
static void
put_period(Out *o, const UsoSchedule *s)
{
	int32		mo = s->iv_months;
	int32		d = s->iv_days;
	int64		secs = s->iv_usecs / USECS_PER_SEC;

	if (mo == 0 && d == 0)
	{
		if (secs % 3600 == 0)
			put(o, secs == 3600 ? "every hour" : "every %d hours", (int) (secs / 3600));
		else if (secs % 60 == 0)
			put(o, secs == 60 ? "every minute" : "every %d minutes", (int) (secs / 60));
		else
			put(o, secs == 1 ? "every second" : "every %d seconds", (int) secs);
	}
	else if (mo == 0 && secs == 0)
	{
		if (d == 1)
			put(o, "once a day");
		else if (d == 7)
			put(o, "once a week");
		else if (d % 7 == 0)
			put(o, "every %d weeks", d / 7);
		else
			put(o, "every %d days", d);
	}
	else if (d == 0 && secs == 0)
	{
		if (mo == 1)
			put(o, "once a month");
		else if (mo == 3)
			put(o, "once a quarter (every 3 months)");
		else if (mo == 12)
			put(o, "once a year");
		else if (mo % 12 == 0)
			put(o, "every %d years", mo / 12);
		else
			put(o, "every %d months", mo);
	}
	else
	{
		/* 'every 1 month, 2 days and 12 hours' */
		static const char *const unit[] = {"month", "day", "hour", "minute", "second"};
		int64		val[5];
		int			n = 0;
		int			i;
		int			done = 0;

		val[0] = mo;
		val[1] = d;
		val[2] = secs / 3600;
		val[3] = secs % 3600 / 60;
		val[4] = secs % 60;
		for (i = 0; i < 5; i++)
			n += val[i] != 0;
		put(o, "every ");
		for (i = 0; i < 5; i++)
		{
			if (val[i] == 0)
				continue;
			if (done > 0)
				put(o, done == n - 1 ? " and " : ", ");
			put(o, "%d %s%s", (int) val[i], unit[i], val[i] == 1 ? "" : "s");
			done++;
		}
	}
}

/* '02:00', or '02:00:30' when the time has seconds. */
static void
put_time_of_day(Out *o, const UsoSchedule *s)
{
	put(o, "%02d:%02d", s->time_of_day / 60, s->time_of_day % 60);
	if (s->time_of_day_sec != 0)
		put(o, ":%02d", s->time_of_day_sec);
}

/*
 * Describe a parsed schedule into buf (always NUL-terminated; cut short if
 * buflen is too small -- 200 bytes is plenty for every form).
 */
void
UsoScheduleDescribe(const UsoSchedule *s, char *buf, size_t buflen)
{
	Out			o = {buf, 0, buflen};

	if (buflen == 0)
		return;
	buf[0] = '\0';
	switch (s->kind)
	{
		case USO_SCHED_REBOOT:
			put(&o, "when the scheduler starts");
			break;
		case USO_SCHED_MANUAL:
			put(&o, "on demand");
			break;
		case USO_SCHED_AFTER:
			/* the name is in the text: UsoScheduleDescribeText says it */
			put(&o, s->after_fails ? "after another task fails" : "after another task succeeds");
			break;
		case USO_SCHED_TIME_OF_DAY:
			put(&o, "at ");
			put_time_of_day(&o, s);
			put(&o, " every day");
			break;
		case USO_SCHED_INTERVAL:
			put_period(&o, s);
			if (s->time_of_day >= 0)
			{
				put(&o, " at ");
				put_time_of_day(&o, s);
			}
			break;
		case USO_SCHED_CRON:
			put_cron_days(&o, s, put_cron_times(&o, s));
			if (s->never_fires)
			{
				char		why[160];

				/* say it where the admin reads the schedule */
				put(&o, " (never: %s)", UsoScheduleNeverFires(s, why, sizeof(why)));
			}
			break;
	}
}

/*
 * As UsoScheduleDescribe, naming the predecessor of an 'after' schedule
 * (which only the text holds): 'after CreateCallProjects succeeds'.
 */
void
UsoScheduleDescribeText(const char *text, const UsoSchedule *s, char *buf, size_t buflen)
{
	char		name[USO_AFTER_NAME_BUF];

	if (!UsoScheduleAfterName(text, s, name, sizeof(name)))
	{
		UsoScheduleDescribe(s, buf, buflen);
		return;
	}
	snprintf(buf, buflen, "after %s %s", name, s->after_fails ? "fails" : "succeeds");
}
