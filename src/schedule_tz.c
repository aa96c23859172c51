/*-------------------------------------------------------------------------
 * schedule_tz.c
 *	  Time zone names that do not mean what they seem to.
 *
 * PostgreSQL takes a time zone name it does not find in the IANA database
 * as a POSIX TZ specification: 'CET+1' is "zone CET, one hour WEST of
 * Greenwich", i.e. UTC-01:00 -- the opposite of what most people mean by
 * it.  The Etc/GMT+N zones of the IANA database use the same sign.  Such a
 * name is accepted (it is a valid zone), but whoever writes it deserves a
 * warning that says what it means and which name to write instead.
 *
 * Server-side (palloc, the pg_tz API), but no catalog access.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "pgtime.h"
#include "utils/datetime.h"

#include "schedule.h"

/* The place to suggest for a zone abbreviation people put in POSIX specs. */
static const struct
{
	const char *abbrev;
	const char *what;
	const char *iana;
}			suggestions[] = {
	{"CET", "Central European Time", "Europe/Berlin"},
	{"CEST", "Central European Time", "Europe/Berlin"},
	{"MET", "Central European Time", "Europe/Berlin"},
	{"MEST", "Central European Time", "Europe/Berlin"},
	{"EET", "Eastern European Time", "Europe/Athens"},
	{"EEST", "Eastern European Time", "Europe/Athens"},
	{"WET", "Western European Time", "Europe/Lisbon"},
	{"WEST", "Western European Time", "Europe/Lisbon"},
	{"BST", "British time", "Europe/London"},
	{"MSK", "Moscow time", "Europe/Moscow"},
	{"EST", "US Eastern time", "America/New_York"},
	{"EDT", "US Eastern time", "America/New_York"},
	{"CST", "US Central time", "America/Chicago"},
	{"CDT", "US Central time", "America/Chicago"},
	{"MST", "US Mountain time", "America/Denver"},
	{"MDT", "US Mountain time", "America/Denver"},
	{"PST", "US Pacific time", "America/Los_Angeles"},
	{"PDT", "US Pacific time", "America/Los_Angeles"},
	{"IST", "India Standard Time", "Asia/Kolkata"},
	{"JST", "Japan Standard Time", "Asia/Tokyo"},
	{"AEST", "Australian Eastern time", "Australia/Sydney"},
	{NULL, NULL, NULL}
};

/* IANA names of POSIX shape that mean what US readers expect: no warning. */
static const char *const posix_shaped_iana[] = {
	"EST5EDT", "CST6CDT", "MST7MDT", "PST8PDT", NULL
};

/* "+01:00", "-05:30": an offset in seconds east of Greenwich, ISO style. */
static void
append_offset(StringInfo buf, long secs_east)
{
	long		a = secs_east < 0 ? -secs_east : secs_east;

	appendStringInfo(buf, "UTC%c%02ld:%02ld", secs_east < 0 ? '-' : '+',
					 a / 3600, a / 60 % 60);
}

/* The UTC offset of tz at a UTC instant given as year, month, day. */
static long
offset_on(pg_tz *tz, int year, int month, int day, bool *isdst)
{
	pg_time_t	t = (pg_time_t) (date2j(year, month, day) - UNIX_EPOCH_JDATE) * SECS_PER_DAY;
	struct pg_tm *tm = pg_localtime(&t, tz);

	*isdst = tm != NULL && tm->tm_isdst > 0;
	return tm ? tm->tm_gmtoff : 0;
}

/*
 * The length of the zone abbreviation a POSIX specification starts with
 * ('CET' in 'CET+1', '<+01>' in '<+01>-1') when a number follows it, else 0.
 */
static int
posix_prefix(const char *name)
{
	int			n = 0;

	if (name[0] == '<')
	{
		const char *close = strchr(name, '>');

		if (close == NULL)
			return 0;
		n = (int) (close - name) + 1;
	}
	else
	{
		while ((name[n] >= 'A' && name[n] <= 'Z') || (name[n] >= 'a' && name[n] <= 'z'))
			n++;
		if (n < 3)
			return 0;
	}
	if (name[n] == '+' || name[n] == '-')
		return (name[n + 1] >= '0' && name[n + 1] <= '9') ? n : 0;
	return (name[n] >= '0' && name[n] <= '9') ? n : 0;
}

/* See schedule.h. */
char *
UsoTimezoneWarning(const char *name, pg_tz *tz)
{
	StringInfoData buf;
	bool		etc_gmt;
	int			plen;
	long		winter,
				summer;
	bool		wdst,
				sdst;
	bool		placed = false;
	int			i;

	if (name == NULL || tz == NULL)
		return NULL;
	etc_gmt = pg_strncasecmp(name, "Etc/GMT", 7) == 0 &&
		(name[7] == '+' || name[7] == '-') && name[8] >= '1' && name[8] <= '9';
	plen = etc_gmt ? 0 : posix_prefix(name);
	if (!etc_gmt && plen == 0)
		return NULL;
	for (i = 0; posix_shaped_iana[i] != NULL; i++)
		if (pg_strcasecmp(name, posix_shaped_iana[i]) == 0)
			return NULL;

	/* January and July of a recent year: standard and summer time, if any */
	winter = offset_on(tz, 2026, 1, 15, &wdst);
	summer = offset_on(tz, 2026, 7, 15, &sdst);
	if (winter == 0 && summer == 0)
		return NULL;			/* 'GMT+0', 'UTC0': no offset, no trap */

	initStringInfo(&buf);
	if (etc_gmt)
	{
		appendStringInfo(&buf, "time zone \"%s\" means ", name);
		append_offset(&buf, winter);
		appendStringInfoString(&buf, ": the sign of the Etc/GMT zones is POSIX's, + lies west of Greenwich");
	}
	else
	{
		appendStringInfo(&buf, "time zone \"%s\" is a POSIX-style specification, not a zone name: it means ", name);
		append_offset(&buf, winter);
		if (winter != summer || wdst || sdst)
		{
			appendStringInfoString(&buf, " (");
			append_offset(&buf, wdst ? winter : summer);
			appendStringInfoString(&buf, " in summer, switching on the dates the specification gives or else by the United States' rules)");
		}
		else
			appendStringInfoString(&buf, " all year, without daylight saving time");
		appendStringInfoString(&buf, "; in POSIX rules a + offset lies west of Greenwich");
	}

	/*
	 * What to write instead: the place the abbreviation stands for; without
	 * one ('UTC+3', 'Etc/GMT+1'), a place or the fixed zone of what the name
	 * reads as in ISO style (UTC+03:00 is 'Etc/GMT-3').
	 */
	for (i = 0; !etc_gmt && suggestions[i].abbrev != NULL; i++)
	{
		if ((int) strlen(suggestions[i].abbrev) == plen &&
			pg_strncasecmp(name, suggestions[i].abbrev, plen) == 0)
		{
			appendStringInfo(&buf, ". For %s use '%s'", suggestions[i].what,
							 suggestions[i].iana);
			placed = true;
			break;
		}
	}
	if (!placed)
	{
		appendStringInfoString(&buf, ". Use a place name from pg_timezone_names, such as 'Europe/Berlin'");
		if (winter == summer && winter % 3600 == 0)
		{
			appendStringInfoString(&buf, "; for ");
			append_offset(&buf, -winter);
			appendStringInfo(&buf, " all year write 'Etc/GMT%+ld'", winter / 3600);
		}
	}
	appendStringInfoChar(&buf, '.');
	return buf.data;
}
