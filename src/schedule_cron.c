/*-------------------------------------------------------------------------
 * schedule_cron.c
 *	  The cron half of the schedule parser: 5-field cron, the @ keywords,
 *	  'N seconds', and pg_cron 1.6's grammar for the cron layer
 *	  (USO_GRAMMAR_PG_CRON), plus the check for schedules that never fire.
 *
 * pg_cron's rules, as read from its src/entry.c and job_metadata.c (in our
 * own words, none of its code): fields are lists of '*', n, n-m, '*' '/' s,
 * n-m/s; steps are 1 up to the field's maximum (59, 23, 31, 12, 7); month
 * and weekday names are 3 letters in any case; '$' is the whole
 * day-of-month field; the @ keywords are lower case (hourly daily midnight
 * weekly monthly yearly annually reboot restart); 'N seconds' is 1-59 with
 * an optional '+', blanks optional.  What pg_cron accepts by accident
 * (text after a valid item or after the 5 fields, backward ranges, numbers
 * that wrap around, newlines) is refused here on purpose: docs/cron.md
 * lists each.
 *
 * Pure C like schedule.c (no palloc, no ereport, ASCII only).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "schedule_parse.h"

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
			return fail(errbuf, "%s field \"%.40s\": names are not allowed here, expected a number %d-%d",
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
		return fail(errbuf, "%s field \"%.40s\": unknown %s name \"%.*s\"",
					f->name, item, f->names == month_names ? "month" : "day",
					len > 20 ? 20 : len, s);
	}
	if (!is_digit(*s))
		return fail(errbuf, "%s field \"%.40s\": expected a number %d-%d%s",
					f->name, item, f->min, f->max,
					f->names ? " or a name" : "");
	if (!read_number(p, value, f->name, errbuf))
		return false;
	if (*value < f->min || *value > f->max)
		return fail(errbuf, "%s field \"%.40s\": %d is out of range %d-%d",
					f->name, item, *value, f->min, f->max);
	return true;
}

/*
 * One item of a cron field list: '*', '*' '/' step, value, value-value,
 * value-value/step, or '$' in day-of-month.  Sets its bits in *bits.
 * A step after a single value ('5/10') is refused, as Vixie cron does.
 * Steps go up to the field's span in our grammar ('*' '/60' = minute 0), and up
 * to the field's maximum in pg_cron's (it refuses a step of 60 minutes or 24 hours).
 */
static bool
cron_item(const char *item, int fieldno, uint64 *bits, bool *last_day,
		  bool pgcron, char *errbuf)
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
			return fail(errbuf, "%s field \"%.40s\": '$' (last day of the month) is allowed only in day-of-month",
						f->name, item);
		if (item[1] != '\0')
			return fail(errbuf, "%s field \"%.40s\": unexpected \"%.40s\" after '$'",
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
				return fail(errbuf, "%s field \"%.40s\": range %d-%d is backwards",
							f->name, item, lo, hi);
			ranged = true;
		}
	}
	if (*p == '/')
	{
		const char *sp;

		if (!ranged)
			return fail(errbuf, "%s field \"%.40s\": a step needs a range or '*' before it (write */%s or %d-%d/%s)",
						f->name, item, p + 1, lo, f->max, p + 1);
		p++;
		sp = p;
		if (!is_digit(*p))
			return fail(errbuf, "%s field \"%.40s\": expected a number after '/'",
						f->name, item);
		if (!read_number(&p, &step, f->name, errbuf))
			return false;
		span = fieldno == 4 ? 7 : f->max - f->min + 1;
		if (pgcron)
			span = f->max;
		if (step < 1 || step > span)
			return fail(errbuf, "%s field \"%.40s\": step %.*s must be 1-%d",
						f->name, item, (int) Min(p - sp, 20), sp, span);
	}
	if (*p != '\0')
		return fail(errbuf, "%s field \"%.40s\": unexpected \"%.40s\"",
					f->name, item, p);
	for (v = lo; v <= hi; v += step)
		*bits |= UINT64CONST(1) << (v == 7 && fieldno == 4 ? 0 : v);
	return true;
}

/*
 * A comma-separated cron field into its bitset.  pg_cron takes '$' only as
 * the whole day-of-month field; our grammar also in lists ('1,15,$').
 */
static bool
cron_field(char *tok, int fieldno, uint64 *bits, bool *last_day, bool pgcron,
		   char *errbuf)
{
	char	   *item = tok;

	*bits = 0;
	if (pgcron && fieldno == 2 && strchr(tok, '$') != NULL && strcmp(tok, "$") != 0)
		return fail(errbuf, "day-of-month field \"%.40s\": pg_cron takes '$' (last day of the month) only as the whole field",
					tok);
	for (;;)
	{
		char	   *comma = strchr(item, ',');

		if (comma)
			*comma = '\0';
		if (!cron_item(item, fieldno, bits, last_day, pgcron, errbuf))
			return false;
		if (!comma)
			return true;
		item = comma + 1;
	}
}

/*
 * True when some allowed month has some allowed day of month, so that the
 * day rule can be met (the day of week alone never makes a schedule
 * impossible: every date falls on every weekday in some year).  29 February
 * counts: it comes in leap years.
 */
static bool
cron_days_possible(const UsoSchedule *s)
{
	static const int longest[13] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int			m;

	/* both fields restricted: either may match, and any weekday will come */
	if (!s->days_star && !s->weekdays_star && s->weekdays != 0)
		return true;
	if (s->last_day)
		return true;
	for (m = 1; m <= 12; m++)
		if (((s->months >> m) & 1) &&
			(s->days & (((uint32) 2 << longest[m]) - 2)) != 0)
			return true;
	return false;
}

/* The five fields of a cron expression, already split into tokens. */
bool
UsoParseCron(char **tok, int ntok, UsoSchedule *out, bool pgcron, char *errbuf)
{
	uint64		bits[5];
	bool		last_day = false;
	int			i;

	if (ntok > 5)
		return fail(errbuf, "too many fields: a cron schedule has 5 (minute hour day-of-month month day-of-week), unexpected \"%.40s\" after them",
					tok[5]);
	if (ntok < 5)
		return fail(errbuf, "too few fields: a cron schedule has 5 (minute hour day-of-month month day-of-week), found %d",
					ntok);
	for (i = 0; i < 5; i++)
	{
		bool		star = tok[i][0] == '*';

		if (!cron_field(tok[i], i, &bits[i], &last_day, pgcron, errbuf))
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
	out->never_fires = !cron_days_possible(out);
	return true;
}


/*
 * '@hourly' and friends; @reboot (and its alias @restart) and @manual are
 * kinds of their own.  pg_cron matches its keywords case-sensitively and has
 * no @manual; our grammar takes any case.  Text after the keyword is refused
 * in both (pg_cron ignores it: a deliberate difference, docs/cron.md).
 */
bool
UsoParseMacro(char **tok, int ntok, UsoSchedule *out, bool pgcron, char *errbuf)
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
		{"@restart", NULL},
		{"@manual", NULL},
		{NULL, NULL}
	};
	int			i;

	for (i = 0; macros[i].name != NULL; i++)
		if (word_eq(tok[0], (int) strlen(tok[0]), macros[i].name))
			break;
	if (macros[i].name == NULL)
		return fail(errbuf, "unknown macro \"%.40s\" (@hourly @daily @midnight @weekly @monthly @yearly @annually @reboot %s)",
					tok[0], pgcron ? "@restart" : "@manual");
	if (pgcron && strcmp(macros[i].name, "@manual") == 0)
		return fail(errbuf, "@manual is a uso_tasks schedule, which pg_cron does not accept: create such a task with uso_schedule()");
	if (pgcron && strcmp(tok[0], macros[i].name) != 0)
		return fail(errbuf, "pg_cron's @ keywords are lower case: write %s", macros[i].name);
	if (ntok > 1)
		return fail(errbuf, "unexpected \"%.40s\" after %s", tok[1], macros[i].name);
	if (macros[i].cron == NULL)
		out->kind = strcmp(macros[i].name, "@manual") == 0 ? USO_SCHED_MANUAL : USO_SCHED_REBOOT;
	else
	{
		char		buf[16];
		char	   *ctok[MAX_TOKENS];
		int			n;

		strlcpy(buf, macros[i].cron, sizeof(buf));
		n = tokenize(buf, ctok);
		return UsoParseCron(ctok, n, out, false, errbuf);
	}
	return true;
}


/*
 * pg_cron's interval form: [blanks] ['+'] digits [blanks] 'second' or
 * 'seconds' in any case [blanks] -- so '5 seconds', '5seconds', '+5 second'
 * and '5 SECONDS ' all are.  Returns false when the text has another shape.
 * *n is the number (MAX_NUMBER + 1 for anything larger); *blank_after_second
 * says that blanks follow the singular 'second', the one spelling of this
 * shape pg_cron refuses ('5 second ').
 */
bool
UsoSecondsShape(const char *text, int *n, bool *blank_after_second)
{
	const char *p = text;
	int64		v = 0;
	bool		plural;

	while (is_space(*p))
		p++;
	if (*p == '+')
		p++;
	if (!is_digit(*p))
		return false;
	while (is_digit(*p))
	{
		if (v <= MAX_NUMBER)
			v = v * 10 + (*p - '0');
		p++;
	}
	while (is_space(*p))
		p++;
	if (!word_eq(p, 6, "second"))
		return false;
	p += 6;
	plural = to_lower(*p) == 's';
	if (plural)
		p++;
	*blank_after_second = !plural && is_space(*p);
	while (is_space(*p))
		p++;
	if (*p != '\0')
		return false;
	*n = v > MAX_NUMBER ? MAX_NUMBER + 1 : (int) v;
	return true;
}

/* 'N seconds' of seconds_shape: 1-59 seconds, elapsed time. */
bool
UsoParseSeconds(int n, bool blank_after_second, bool pgcron, UsoSchedule *out,
			  char *errbuf)
{
	if (n > MAX_NUMBER)
		return fail(errbuf, "seconds: number is too large (seconds must be 1-59)");
	if (n < 1 || n > 59)
		return fail(errbuf, pgcron ?
					"%d seconds: pg_cron takes 1-59 seconds; write longer intervals in cron format, such as */2 * * * *" :
					"%d seconds: seconds must be 1-59 (use \"every <n> minutes\" for longer)", n);
	if (pgcron && blank_after_second)
		return fail(errbuf, "\"%d second\" followed by blanks: pg_cron refuses this spelling; remove the blanks or write \"%d seconds\"",
					n, n);
	out->kind = USO_SCHED_INTERVAL;
	out->iv_usecs = (int64) n * USECS_PER_SEC;
	return true;
}


/*
 * pg_cron's grammar (USO_GRAMMAR_PG_CRON), the text already tokenized: the
 * 'N seconds' form, its @ keywords, else 5-field cron with its limits.
 */
bool
UsoParsePgCron(const char *text, char **tok, int ntok, UsoSchedule *out,
			  char *errbuf)
{
	int			n;
	bool		blank_after;

	if (UsoSecondsShape(text, &n, &blank_after))
		return UsoParseSeconds(n, blank_after, true, out, errbuf);
	if (tok[0][0] == '@')
		return UsoParseMacro(tok, ntok, out, true, errbuf);
	if (ntok < 5 && !is_digit(tok[0][0]) && tok[0][0] != '*')
		return fail(errbuf, "unrecognized schedule \"%.40s\"", tok[0]);
	return UsoParseCron(tok, ntok, out, true, errbuf);
}


/* Ordinal day numbers that never-fire reasons need: only 30th and 31st. */
static const char *
day_ordinal(int d)
{
	return d == 31 ? "31st" : d == 30 ? "30th" : d == 29 ? "29th" : "such";
}

/*
 * Why a schedule never fires (schedule.h).  Only cron kinds can: every
 * allowed day of month is past the end of every allowed month, and the day
 * of week cannot rescue it (the rule is AND when a field begins with '*').
 */
const char *
UsoScheduleNeverFires(const UsoSchedule *s, char *buf, size_t buflen)
{
	static const char *const names[13] = {"", "January", "February", "March",
		"April", "May", "June", "July", "August", "September", "October",
	"November", "December"};
	size_t		len = 0;
	int			nmonths = 0;
	int			i = 0;
	int			m,
				d,
				ndays = 0;

	if (s->kind != USO_SCHED_CRON || !s->never_fires || buflen == 0)
		return NULL;
	buf[0] = '\0';
	for (m = 1; m <= 12; m++)
		nmonths += (s->months >> m) & 1;
	for (m = 1; m <= 12; m++)
	{
		if (((s->months >> m) & 1) == 0)
			continue;
		len += snprintf(buf + len, buflen > len ? buflen - len : 0, "%s%s",
						i == 0 ? "" : i == nmonths - 1 ? " and " : ", ", names[m]);
		i++;
		if (len >= buflen)
			return buf;
	}
	len += snprintf(buf + len, buflen > len ? buflen - len : 0, " %s no ",
					nmonths == 1 ? "has" : "have");
	for (d = 1; d <= 31; d++)
	{
		if (((s->days >> d) & 1) == 0 || len >= buflen)
			continue;
		len += snprintf(buf + len, buflen - len, "%s%s", ndays++ == 0 ? "" : " or ",
						day_ordinal(d));
	}
	return buf;
}
