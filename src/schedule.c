/*-------------------------------------------------------------------------
 * schedule.c
 *	  Parser of the uso_tasks schedule grammar (docs/schedule.md).
 *
 * Pure C: no palloc, no ereport, no catalog, no locale (ASCII only), so it
 * can be compiled into a fuzzer outside the server.  Every error names the
 * part of the input that is wrong.  The fire-time arithmetic lives in
 * schedule_next.c, the English in schedule_describe.c.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdarg.h>

#include "schedule.h"

#define MAX_TOKENS		8

/* A cron field: its name for messages, its range and its names, if any. */
typedef struct CronField
{
	const char *name;
	int			min;
	int			max;
	const char *const *names;	/* 3-letter names for min.., or NULL */
} CronField;

static const char *const month_names[] = {
	"jan", "feb", "mar", "apr", "may", "jun",
	"jul", "aug", "sep", "oct", "nov", "dec", NULL
};
static const char *const day_names[] = {
	"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL
};

static const CronField cron_fields[5] = {
	{"minute", 0, 59, NULL},
	{"hour", 0, 23, NULL},
	{"day-of-month", 1, 31, NULL},
	{"month", 1, 12, month_names},
	{"day-of-week", 0, 7, day_names}
};

/* Interval units of 'every <n> <unit>', PostgreSQL's spellings. */
typedef enum IvUnit
{
	IV_SECOND, IV_MINUTE, IV_HOUR, IV_DAY, IV_WEEK, IV_MONTH, IV_YEAR
} IvUnit;

typedef struct IvUnitName
{
	const char *name;
	IvUnit		unit;
} IvUnitName;

static const IvUnitName iv_units[] = {
	{"s", IV_SECOND}, {"sec", IV_SECOND}, {"secs", IV_SECOND},
	{"second", IV_SECOND}, {"seconds", IV_SECOND},
	{"m", IV_MINUTE}, {"min", IV_MINUTE}, {"mins", IV_MINUTE},
	{"minute", IV_MINUTE}, {"minutes", IV_MINUTE},
	{"h", IV_HOUR}, {"hr", IV_HOUR}, {"hrs", IV_HOUR},
	{"hour", IV_HOUR}, {"hours", IV_HOUR},
	{"d", IV_DAY}, {"day", IV_DAY}, {"days", IV_DAY},
	{"w", IV_WEEK}, {"week", IV_WEEK}, {"weeks", IV_WEEK},
	{"mon", IV_MONTH}, {"mons", IV_MONTH}, {"month", IV_MONTH},
	{"months", IV_MONTH},
	{"y", IV_YEAR}, {"yr", IV_YEAR}, {"yrs", IV_YEAR},
	{"year", IV_YEAR}, {"years", IV_YEAR},
	{NULL, IV_SECOND}
};

/* Upper bounds that keep all later arithmetic far from overflow. */
#define MAX_NUMBER		1000000
#define MAX_IV_MONTHS	(100 * 12)
#define MAX_IV_DAYS		(100 * 366)
#define MAX_IV_USECS	(INT64CONST(100) * 366 * USECS_PER_DAY)

/*
 * Write a message into errbuf and return false, so that callers can say
 * "return fail(...)".
 */
static bool
fail(char *errbuf, const char *fmt,...)
pg_attribute_printf(2, 3);

static bool
fail(char *errbuf, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(errbuf, USO_SCHEDULE_ERRBUF, fmt, ap);
	va_end(ap);
	return false;
}

/* Locale-independent character classes: the grammar is ASCII. */
static inline bool
is_space(char c)
{
	return c == ' ' || c == '\t';
}

static inline bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static inline bool
is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static inline char
to_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

/* Case-insensitive equality of a counted string with a NUL-terminated one. */
static bool
word_eq(const char *s, int len, const char *word)
{
	int			i;

	for (i = 0; i < len; i++)
		if (word[i] == '\0' || to_lower(s[i]) != word[i])
			return false;
	return word[len] == '\0';
}

/*
 * Read an unsigned decimal number at *p, advancing *p.  Values above
 * MAX_NUMBER are reported as too large rather than silently wrapped.
 * Returns false (errbuf set) when there is no number or it is too large.
 */
static bool
read_number(const char **p, int *value, const char *what, char *errbuf)
{
	const char *s = *p;
	int64		v = 0;

	if (!is_digit(*s))
		return fail(errbuf, "%s: expected a number", what);
	while (is_digit(*s))
	{
		v = v * 10 + (*s - '0');
		if (v > MAX_NUMBER)
			return fail(errbuf, "%s: number is too large", what);
		s++;
	}
	*p = s;
	*value = (int) v;
	return true;
}

/*
 * Split text into whitespace-separated tokens in place (buf is a private
 * copy).  Returns the number of tokens, or MAX_TOKENS + 1 when there are
 * more than MAX_TOKENS.
 */
static int
tokenize(char *buf, char **tokens)
{
	int			n = 0;
	char	   *p = buf;

	for (;;)
	{
		while (is_space(*p))
			*p++ = '\0';
		if (*p == '\0')
			return n;
		if (n == MAX_TOKENS)
			return MAX_TOKENS + 1;
		tokens[n++] = p;
		while (*p != '\0' && !is_space(*p))
			p++;
	}
}

/*
 * One value of a cron field: a number or, where the field has them, a
 * 3-letter name.  'item' is the whole list item, for messages.
 */
static bool
cron_value(const char **p, const CronField *f, const char *item, int *value,
		   char *errbuf)
{
	const char *s = *p;

	if (is_alpha(*s))
	{
		int			len = 0;
		int			i;

		while (is_alpha(s[len]))
			len++;
		if (f->names == NULL)
			return fail(errbuf, "%s field \"%s\": names are not allowed here, expected a number %d-%d",
						f->name, item, f->min, f->max);
		for (i = 0; f->names[i] != NULL; i++)
		{
			if (word_eq(s, len, f->names[i]))
			{
				*value = f->min + i;
				*p = s + len;
				return true;
			}
		}
		return fail(errbuf, "%s field \"%s\": unknown %s name \"%.*s\"",
					f->name, item, f->names == month_names ? "month" : "day",
					len > 20 ? 20 : len, s);
	}
	if (!is_digit(*s))
		return fail(errbuf, "%s field \"%s\": expected a number %d-%d%s",
					f->name, item, f->min, f->max,
					f->names ? " or a name" : "");
	if (!read_number(p, value, f->name, errbuf))
		return false;
	if (*value < f->min || *value > f->max)
		return fail(errbuf, "%s field \"%s\": %d is out of range %d-%d",
					f->name, item, *value, f->min, f->max);
	return true;
}

/*
 * One item of a cron field list: '*', '*' '/' step, value, value-value,
 * value-value/step, or '$' in day-of-month.  Sets its bits in *bits.
 * A step after a single value ('5/10') is refused, as Vixie cron does.
 */
static bool
cron_item(const char *item, int fieldno, uint64 *bits, bool *last_day,
		  char *errbuf)
{
	const CronField *f = &cron_fields[fieldno];
	const char *p = item;
	int			lo,
				hi,
				step = 1,
				span;
	bool		ranged = false;
	int			v;

	if (*item == '\0')
		return fail(errbuf, "%s field: empty item in a list", f->name);
	if (*item == '$')
	{
		if (fieldno != 2)
			return fail(errbuf, "%s field \"%s\": '$' (last day of the month) is allowed only in day-of-month",
						f->name, item);
		if (item[1] != '\0')
			return fail(errbuf, "%s field \"%s\": unexpected \"%s\" after '$'",
						f->name, item, item + 1);
		*last_day = true;
		return true;
	}
	if (*p == '*')
	{
		lo = f->min;
		hi = f->max == 7 ? 6 : f->max;
		ranged = true;
		p++;
	}
	else
	{
		if (!cron_value(&p, f, item, &lo, errbuf))
			return false;
		hi = lo;
		if (*p == '-')
		{
			p++;
			if (!cron_value(&p, f, item, &hi, errbuf))
				return false;
			if (hi < lo)
				return fail(errbuf, "%s field \"%s\": range %d-%d is backwards",
							f->name, item, lo, hi);
			ranged = true;
		}
	}
	if (*p == '/')
	{
		const char *sp;

		if (!ranged)
			return fail(errbuf, "%s field \"%s\": a step needs a range or '*' before it (write */%s or %d-%d/%s)",
						f->name, item, p + 1, lo, f->max, p + 1);
		p++;
		sp = p;
		if (!is_digit(*p))
			return fail(errbuf, "%s field \"%s\": expected a number after '/'",
						f->name, item);
		if (!read_number(&p, &step, f->name, errbuf))
			return false;
		span = fieldno == 4 ? 7 : f->max - f->min + 1;
		if (step < 1 || step > span)
			return fail(errbuf, "%s field \"%s\": step %.*s must be 1-%d",
						f->name, item, (int) (p - sp), sp, span);
	}
	if (*p != '\0')
		return fail(errbuf, "%s field \"%s\": unexpected \"%s\"",
					f->name, item, p);
	for (v = lo; v <= hi; v += step)
		*bits |= UINT64CONST(1) << (v == 7 && fieldno == 4 ? 0 : v);
	return true;
}

/* A comma-separated cron field into its bitset. */
static bool
cron_field(char *tok, int fieldno, uint64 *bits, bool *last_day, char *errbuf)
{
	char	   *item = tok;

	*bits = 0;
	for (;;)
	{
		char	   *comma = strchr(item, ',');

		if (comma)
			*comma = '\0';
		if (!cron_item(item, fieldno, bits, last_day, errbuf))
			return false;
		if (!comma)
			return true;
		item = comma + 1;
	}
}

/* The five fields of a cron expression, already split into tokens. */
static bool
parse_cron(char **tok, int ntok, UsoSchedule *out, char *errbuf)
{
	uint64		bits[5];
	bool		last_day = false;
	int			i;

	if (ntok > 5)
		return fail(errbuf, "too many fields: a cron schedule has 5 (minute hour day-of-month month day-of-week), unexpected \"%s\" after them",
					tok[5]);
	if (ntok < 5)
		return fail(errbuf, "too few fields: a cron schedule has 5 (minute hour day-of-month month day-of-week), found %d",
					ntok);
	for (i = 0; i < 5; i++)
	{
		bool		star = tok[i][0] == '*';

		if (!cron_field(tok[i], i, &bits[i], &last_day, errbuf))
			return false;
		if (i == 2)
			out->days_star = star;
		if (i == 4)
			out->weekdays_star = star;
	}
	out->kind = USO_SCHED_CRON;
	out->minutes = bits[0];
	out->hours = (uint32) bits[1];
	out->days = (uint32) bits[2];
	out->last_day = last_day;
	out->months = (uint16) bits[3];
	out->weekdays = (uint8) bits[4];
	return true;
}

/* Fill the cron fields of a daily schedule at hh:mm (time-of-day kinds). */
static void
set_daily(UsoSchedule *out, int hour, int minute)
{
	out->minutes = UINT64CONST(1) << minute;
	out->hours = (uint32) 1 << hour;
	out->days = 0xFFFFFFFE;		/* 1..31 */
	out->months = 0x1FFE;		/* 1..12 */
	out->weekdays = 0x7F;
	out->days_star = true;
	out->weekdays_star = true;
	out->time_of_day = hour * 60 + minute;
}

/* 'T02:00', 'T2:00', 'T02:00:00': a local time of day. */
static bool
parse_time_of_day(const char *tok, int *hour, int *minute, char *errbuf)
{
	const char *p = tok + 1;
	int			sec = 0;

	if (!is_digit(*p) || (is_digit(p[1]) && is_digit(p[2])))
		return fail(errbuf, "time of day \"%s\": expected T<hour>:<minute> such as T02:00", tok);
	if (!read_number(&p, hour, "time of day", errbuf))
		return false;
	if (*p != ':' || !is_digit(p[1]) || !is_digit(p[2]) || is_digit(p[3]))
		return fail(errbuf, "time of day \"%s\": expected T<hour>:<minute> with two-digit minutes, such as T02:00", tok);
	p++;
	if (!read_number(&p, minute, "time of day", errbuf))
		return false;
	if (*p == ':')
	{
		p++;
		if (!is_digit(p[0]) || !is_digit(p[1]) || is_digit(p[2]))
			return fail(errbuf, "time of day \"%s\": expected two-digit seconds", tok);
		if (!read_number(&p, &sec, "time of day", errbuf))
			return false;
	}
	if (*p != '\0')
		return fail(errbuf, "time of day \"%s\": unexpected \"%s\"", tok, p);
	if (*hour > 23)
		return fail(errbuf, "time of day \"%s\": hour %d is out of range 0-23", tok, *hour);
	if (*minute > 59)
		return fail(errbuf, "time of day \"%s\": minute %d is out of range 0-59", tok, *minute);
	if (sec != 0)
		return fail(errbuf, "time of day \"%s\": seconds must be 00", tok);
	return true;
}

/* Add n units to the interval fields, refusing absurd lengths. */
static bool
add_interval(UsoSchedule *out, int n, IvUnit unit, const char *tok,
			 char *errbuf)
{
	switch (unit)
	{
		case IV_SECOND:
			out->iv_usecs += (int64) n * USECS_PER_SEC;
			break;
		case IV_MINUTE:
			out->iv_usecs += (int64) n * USECS_PER_MINUTE;
			break;
		case IV_HOUR:
			out->iv_usecs += (int64) n * USECS_PER_HOUR;
			break;
		case IV_DAY:
			out->iv_days += n;
			break;
		case IV_WEEK:
			out->iv_days += n * 7;
			break;
		case IV_MONTH:
			out->iv_months += n;
			break;
		case IV_YEAR:
			out->iv_months += n * 12;
			break;
	}
	if (out->iv_months > MAX_IV_MONTHS || out->iv_days > MAX_IV_DAYS ||
		out->iv_usecs > MAX_IV_USECS)
		return fail(errbuf, "\"%s\" is too long (at most 100 years)", tok);
	return true;
}

/* The interval must be longer than zero once all parts are added. */
static bool
check_positive(const UsoSchedule *out, const char *kind, const char *what,
			   char *errbuf)
{
	if (out->iv_months == 0 && out->iv_days == 0 && out->iv_usecs == 0)
		return fail(errbuf, "%s \"%s\" must be longer than zero", kind, what);
	return true;
}

/*
 * ISO 8601 duration: P[nY][nM][nW][nD][T[nH][nM][nS]], designators in that
 * order, whole numbers only (USO's run_every values).
 */
static bool
parse_iso_duration(const char *tok, UsoSchedule *out, char *errbuf)
{
	static const char date_des[] = "YMWD";
	static const char time_des[] = "HMS";
	static const IvUnit date_units[] = {IV_YEAR, IV_MONTH, IV_WEEK, IV_DAY};
	static const IvUnit time_units[] = {IV_HOUR, IV_MINUTE, IV_SECOND};
	const char *p = tok + 1;
	int			pos = 0;		/* next allowed designator index */
	bool		in_time = false;
	bool		any = false;
	bool		any_time = false;

	while (*p != '\0')
	{
		const char *des = in_time ? time_des : date_des;
		const char *d;
		int			n;
		char		c;

		if (to_lower(*p) == 't' && !in_time)
		{
			in_time = true;
			pos = 0;
			p++;
			continue;
		}
		if (!is_digit(*p))
			return fail(errbuf, "duration \"%s\": unexpected \"%s\"", tok, p);
		if (!read_number(&p, &n, "duration", errbuf))
			return false;
		if (*p == '.' || *p == ',')
			return fail(errbuf, "duration \"%s\": fractions are not supported, use a smaller unit", tok);
		c = *p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p;
		d = c != '\0' ? strchr(des, c) : NULL;
		if (d == NULL)
			return fail(errbuf, "duration \"%s\": %d needs a unit designator (%s)", tok, n,
						in_time ? "H, M or S after T" : "Y, M, W or D; T before hours");
		if (d - des < pos)
			return fail(errbuf, "duration \"%s\": designator %c is out of order or repeated", tok, c);
		pos = (int) (d - des) + 1;
		if (!add_interval(out, n, in_time ? time_units[d - des] : date_units[d - des],
						  tok, errbuf))
			return false;
		any = true;
		if (in_time)
			any_time = true;
		p++;
	}
	if (in_time && !any_time)
		return fail(errbuf, "duration \"%s\": no hours, minutes or seconds after T (e.g. PT15M)", tok);
	if (!any)
		return fail(errbuf, "duration \"%s\": no components after P (e.g. P1D, PT15M, P3M)", tok);
	return check_positive(out, "duration", tok, errbuf);
}

/*
 * 'every <n> <unit> [<n> <unit> ...]' (the text after 'every').  A unit
 * without a number means one of it ('every hour').
 */
static bool
parse_every(const char *text, UsoSchedule *out, char *errbuf)
{
	const char *p;
	bool		any = false;

	while (is_space(*text))
		text++;
	p = text;
	for (;;)
	{
		int			n = 1;
		const char *w;
		int			len = 0;
		int			i;

		while (is_space(*p) || *p == ',')
			p++;
		if (*p == '\0')
			break;
		if (any && word_eq(p, 3, "and") && (is_space(p[3])))
		{
			p += 3;
			continue;
		}
		if (*p == '-' || *p == '+')
			return fail(errbuf, "interval \"%s\": expected a positive whole number", text);
		if (is_digit(*p))
		{
			if (!read_number(&p, &n, "every", errbuf))
				return false;
			if (*p == '.')
				return fail(errbuf, "interval \"%s\": fractions are not supported, use a smaller unit", text);
			while (is_space(*p))
				p++;
		}
		w = p;
		while (is_alpha(w[len]))
			len++;
		if (len == 0)
		{
			if (*w == '\0')
				return fail(errbuf, "interval \"%s\": %d needs a unit (seconds, minutes, hours, days, weeks, months, years)", text, n);
			return fail(errbuf, "interval \"%s\": unexpected \"%s\"", text, w);
		}
		for (i = 0; iv_units[i].name != NULL; i++)
			if (word_eq(w, len, iv_units[i].name))
				break;
		if (iv_units[i].name == NULL)
			return fail(errbuf, "interval \"%s\": unknown unit \"%.*s\" (seconds, minutes, hours, days, weeks, months, years)",
						text, len > 20 ? 20 : len, w);
		if (!add_interval(out, n, iv_units[i].unit, text, errbuf))
			return false;
		any = true;
		p = w + len;
	}
	if (!any)
		return fail(errbuf, "\"every\" needs an interval, e.g. every 15 minutes");
	return check_positive(out, "interval", text, errbuf);
}

/* '@hourly' and friends; @reboot and @manual are kinds of their own. */
static bool
parse_macro(char **tok, int ntok, UsoSchedule *out, char *errbuf)
{
	static const struct
	{
		const char *name;
		const char *cron;
	}			macros[] = {
		{"@hourly", "0 * * * *"},
		{"@daily", "0 0 * * *"},
		{"@midnight", "0 0 * * *"},
		{"@weekly", "0 0 * * 0"},
		{"@monthly", "0 0 1 * *"},
		{"@yearly", "0 0 1 1 *"},
		{"@annually", "0 0 1 1 *"},
		{"@reboot", NULL},
		{"@manual", NULL},
		{NULL, NULL}
	};
	int			i;

	for (i = 0; macros[i].name != NULL; i++)
		if (word_eq(tok[0], (int) strlen(tok[0]), macros[i].name))
			break;
	if (macros[i].name == NULL)
		return fail(errbuf, "unknown macro \"%.40s\" (@hourly @daily @midnight @weekly @monthly @yearly @annually @reboot @manual)",
					tok[0]);
	if (ntok > 1)
		return fail(errbuf, "unexpected \"%s\" after %s", tok[1], macros[i].name);
	if (strcmp(macros[i].name, "@reboot") == 0)
		out->kind = USO_SCHED_REBOOT;
	else if (strcmp(macros[i].name, "@manual") == 0)
		out->kind = USO_SCHED_MANUAL;
	else
	{
		char		buf[16];
		char	   *ctok[MAX_TOKENS];
		int			n;

		strlcpy(buf, macros[i].cron, sizeof(buf));
		n = tokenize(buf, ctok);
		return parse_cron(ctok, n, out, errbuf);
	}
	return true;
}

/* True when a token looks like a unit word of 'N <unit>'. */
static bool
is_unit_word(const char *tok)
{
	int			i;

	for (i = 0; iv_units[i].name != NULL; i++)
		if (strlen(iv_units[i].name) > 2 &&
			word_eq(tok, (int) strlen(tok), iv_units[i].name))
			return true;
	return false;
}

/*
 * Parse a schedule (see schedule.h).  The text is checked for length and
 * control characters first, then dispatched on its first token: '@' macro,
 * 'P' duration, 'T' time of day, 'every', 'N seconds', else cron.
 */
bool
UsoScheduleParse(const char *text, UsoSchedule *out, char *errbuf)
{
	char		buf[USO_SCHEDULE_MAX_LEN + 1];
	char	   *tok[MAX_TOKENS];
	size_t		len;
	int			ntok;
	size_t		i;

	memset(out, 0, sizeof(*out));
	out->time_of_day = -1;
	errbuf[0] = '\0';

	if (text == NULL)
		return fail(errbuf, "the schedule is empty");
	len = strlen(text);
	if (len > USO_SCHEDULE_MAX_LEN)
		return fail(errbuf, "too long (%zu characters, at most %d)",
					len, USO_SCHEDULE_MAX_LEN);
	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) text[i];

		if ((c < 0x20 && c != '\t') || c == 0x7F)
			return fail(errbuf, "control character 0x%02X at position %zu",
						c, i + 1);
		if (c >= 0x80)
			return fail(errbuf, "non-ASCII character at position %zu", i + 1);
	}
	memcpy(buf, text, len + 1);
	ntok = tokenize(buf, tok);
	if (ntok == 0)
		return fail(errbuf, "the schedule is empty");
	if (ntok > MAX_TOKENS)
		return fail(errbuf, "too many fields: a cron schedule has 5 (minute hour day-of-month month day-of-week)");

	if (tok[0][0] == '@')
		return parse_macro(tok, ntok, out, errbuf);

	if (word_eq(tok[0], (int) strlen(tok[0]), "every"))
	{
		out->kind = USO_SCHED_INTERVAL;
		/* re-read from the original text: units may be glued or spaced */
		return parse_every(text + (tok[0] - buf) + 5, out, errbuf);
	}

	if (to_lower(tok[0][0]) == 'p')
	{
		out->kind = USO_SCHED_INTERVAL;
		if (ntok > 2)
			return fail(errbuf, "unexpected \"%s\" after \"%s %s\"", tok[2], tok[0], tok[1]);
		if (!parse_iso_duration(tok[0], out, errbuf))
			return false;
		if (ntok == 2)
		{
			int			h,
						m;

			if (to_lower(tok[1][0]) != 't')
				return fail(errbuf, "unexpected \"%s\" after duration \"%s\" (a time of day such as T12:00 may follow)",
							tok[1], tok[0]);
			if (out->iv_usecs != 0)
				return fail(errbuf, "duration \"%s\": with a time of day the duration must be whole days, weeks, months or years",
							tok[0]);
			if (!parse_time_of_day(tok[1], &h, &m, errbuf))
				return false;
			out->time_of_day = h * 60 + m;
		}
		return true;
	}

	if (to_lower(tok[0][0]) == 't' && (is_digit(tok[0][1]) || tok[0][1] == '\0'))
	{
		int			h,
					m;

		if (ntok > 1)
			return fail(errbuf, "unexpected \"%s\" after time of day \"%s\"", tok[1], tok[0]);
		if (!parse_time_of_day(tok[0], &h, &m, errbuf))
			return false;
		out->kind = USO_SCHED_TIME_OF_DAY;
		set_daily(out, h, m);
		return true;
	}

	if (ntok == 2 && is_unit_word(tok[1]))
	{
		const char *p = tok[0];
		int			n;

		if (!word_eq(tok[1], (int) strlen(tok[1]), "seconds") &&
			!word_eq(tok[1], (int) strlen(tok[1]), "second"))
			return fail(errbuf, "\"%s %s\" needs \"every\": write \"every %s %s\"",
						tok[0], tok[1], tok[0], tok[1]);
		if (!read_number(&p, &n, "seconds", errbuf) || *p != '\0')
			return fail(errbuf, "\"%s\": expected a whole number of seconds 1-59", tok[0]);
		if (n < 1 || n > 59)
			return fail(errbuf, "%d seconds: seconds must be 1-59 (use \"every <n> minutes\" for longer)", n);
		out->kind = USO_SCHED_INTERVAL;
		out->iv_usecs = (int64) n * USECS_PER_SEC;
		return true;
	}

	if (ntok < 5 && !is_digit(tok[0][0]) && tok[0][0] != '*')
		return fail(errbuf, "unrecognized schedule \"%.40s\"", tok[0]);
	return parse_cron(tok, ntok, out, errbuf);
}
