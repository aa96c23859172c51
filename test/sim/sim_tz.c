/*-------------------------------------------------------------------------
 * sim_tz.c
 *	  What the schedule grammar needs of the server outside it: calendar
 *	  arithmetic (date2j, j2date, j2day, day_tab) and three synthetic time
 *	  zones with daylight saving rules, so the simulation crosses DST
 *	  transitions deterministically without the server's tz database.
 *
 *	  "Sim/Europe": Europe/Berlin's rules, UTC+1, UTC+2 from the last Sunday
 *	  of March 01:00 UTC to the last Sunday of October 01:00 UTC.
 *	  "Sim/South": UTC+11 (daylight) until the last Sunday of March 10:00
 *	  UTC, UTC+10 until the last Sunday of October 10:00 UTC (a fall-back).
 *	  "Sim/America": America/New_York's rules, UTC-5, UTC-4 from the second
 *	  Sunday of March 07:00 UTC to the first Sunday of November 06:00 UTC.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "datatype/timestamp.h"
#include "pgtime.h"
#include "utils/datetime.h"

#include "sim.h"

const int	day_tab[2][13] = {
	{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31, 0},
	{31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31, 0}
};

/* Days since 1970-01-01 of a civil date (proleptic Gregorian). */
static int64
days_from_civil(int64 y, int m, int d)
{
	int64		era,
				yoe,
				doy,
				doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void
civil_from_days(int64 z, int *y, int *m, int *d)
{
	int64		era,
				doe,
				yoe,
				doy,
				mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int) (doy - (153 * mp + 2) / 5 + 1);
	*m = (int) (mp < 10 ? mp + 3 : mp - 9);
	*y = (int) (yoe + era * 400 + (*m <= 2));
}

int
date2j(int year, int month, int day)
{
	return (int) (days_from_civil(year, month, day) + UNIX_EPOCH_JDATE);
}

void
j2date(int jd, int *year, int *month, int *day)
{
	civil_from_days((int64) jd - UNIX_EPOCH_JDATE, year, month, day);
}

int
j2day(int jd)
{
	int			d = (jd + 1) % 7;

	return d < 0 ? d + 7 : d;
}

struct pg_tz
{
	const char *name;
	long		std_off;
	long		dst_off;
	int			a_mon,			/* the first transition of the year */
				a_nth,			/* the nth Sunday of the month, 0 = the last */
				a_hour;			/* at this UTC hour */
	int			b_mon,			/* the second */
				b_nth,
				b_hour;
	bool		northern;		/* daylight between the two dates */
};

static struct pg_tz Zones[3] = {
	{"Sim/Europe", 3600, 7200, 3, 0, 1, 10, 0, 1, true},
	{"Sim/South", 36000, 39600, 3, 0, 10, 10, 0, 10, false},
	{"Sim/America", -18000, -14400, 3, 2, 7, 11, 1, 6, true},
};

pg_tz *
SimZone(const char *name)
{
	for (int i = 0; i < (int) lengthof(Zones); i++)
		if (strcmp(Zones[i].name, name) == 0)
			return &Zones[i];
	return NULL;
}

/* Unix seconds of the nth (0: the last) Sunday of (year, month) at hour UTC. */
static pg_time_t
nth_sunday(int year, int month, int nth, int hour)
{
	int			jd;

	if (nth == 0)
	{
		jd = date2j(year, month,
					day_tab[(year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)) ? 1 : 0][month - 1]);
		jd -= j2day(jd);
	}
	else
	{
		jd = date2j(year, month, 1);
		jd += (7 - j2day(jd)) % 7 + 7 * (nth - 1);
	}
	return ((pg_time_t) (jd - UNIX_EPOCH_JDATE)) * 86400 + hour * 3600;
}

static bool
in_daylight(const pg_tz *tz, pg_time_t t, int year)
{
	pg_time_t	a = nth_sunday(year, tz->a_mon, tz->a_nth, tz->a_hour);
	pg_time_t	b = nth_sunday(year, tz->b_mon, tz->b_nth, tz->b_hour);
	bool		between = t >= a && t < b;

	return tz->northern ? between : !between;
}

static int
year_of(pg_time_t t)
{
	int			y,
				m,
				d;

	civil_from_days(t >= 0 ? t / 86400 : -((-t + 86399) / 86400), &y, &m, &d);
	return y;
}

static long
offset_at(const pg_tz *tz, pg_time_t t)
{
	return in_daylight(tz, t, year_of(t)) ? tz->dst_off : tz->std_off;
}

struct pg_tm *
pg_localtime(const pg_time_t *timep, const pg_tz *tz)
{
	static struct pg_tm tm;
	long		off = offset_at(tz, *timep);
	pg_time_t	local = *timep + off;
	int64		days = local >= 0 ? local / 86400 : -((-local + 86399) / 86400);
	int64		secs = local - days * 86400;

	memset(&tm, 0, sizeof(tm));
	civil_from_days(days, &tm.tm_year, &tm.tm_mon, &tm.tm_mday);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	tm.tm_hour = (int) (secs / 3600);
	tm.tm_min = (int) (secs / 60 % 60);
	tm.tm_sec = (int) (secs % 60);
	tm.tm_gmtoff = off;
	tm.tm_isdst = off == tz->dst_off;
	tm.tm_zone = tz->name;
	return &tm;
}

int
pg_next_dst_boundary(const pg_time_t *timep, long int *before_gmtoff, int *before_isdst,
					 pg_time_t *boundary, long int *after_gmtoff, int *after_isdst,
					 const pg_tz *tz)
{
	int			y = year_of(*timep);
	pg_time_t	cands[4] = {nth_sunday(y, tz->a_mon, tz->a_nth, tz->a_hour),
		nth_sunday(y, tz->b_mon, tz->b_nth, tz->b_hour),
		nth_sunday(y + 1, tz->a_mon, tz->a_nth, tz->a_hour),
		nth_sunday(y + 1, tz->b_mon, tz->b_nth, tz->b_hour)};

	*before_gmtoff = offset_at(tz, *timep);
	*before_isdst = *before_gmtoff == tz->dst_off;
	for (int i = 0; i < 4; i++)
	{
		if (cands[i] > *timep)
		{
			*boundary = cands[i];
			*after_gmtoff = offset_at(tz, cands[i]);
			*after_isdst = *after_gmtoff == tz->dst_off;
			return 1;
		}
	}
	return 0;
}
