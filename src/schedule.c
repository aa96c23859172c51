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

#include "schedule_parse.h"

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
#define MAX_IV_MONTHS	(100 * 12)
#define MAX_IV_DAYS		(100 * 366)
#define MAX_IV_USECS	(INT64CONST(100) * 366 * USECS_PER_DAY)

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

/*
 * True when a token is a time of day: 'T02:00' (any token starting with T and
 * a digit, or a lone 'T', so that bad ones get a message about times), or
 * USO's run_at spelling without the T, '12:00' (digits then ':').
 */
static bool
is_time_token(const char *tok)
{
	if (to_lower(tok[0]) == 't')
		return is_digit(tok[1]) || tok[1] == '\0';
	if (!is_digit(tok[0]))
		return false;
	while (is_digit(*tok))
		tok++;
	return *tok == ':';
}

/*
 * 'T02:00', 'T2:00', 'T02:00:30', '02:00', '2:00:30': a local time of day,
 * to the second.
 */
static bool
parse_time_of_day(const char *tok, int *hour, int *minute, int *sec,
				  char *errbuf)
{
	const char *p = to_lower(tok[0]) == 't' ? tok + 1 : tok;

	*sec = 0;
	if (!is_digit(*p) || (is_digit(p[1]) && is_digit(p[2])))
		return fail(errbuf, "time of day \"%.40s\": expected T<hour>:<minute> such as T02:00", tok);
	if (!read_number(&p, hour, "time of day", errbuf))
		return false;
	if (*p != ':' || !is_digit(p[1]) || !is_digit(p[2]) || is_digit(p[3]))
		return fail(errbuf, "time of day \"%.40s\": expected T<hour>:<minute> with two-digit minutes, such as T02:00", tok);
	p++;
	if (!read_number(&p, minute, "time of day", errbuf))
		return false;
	if (*p == ':')
	{
		p++;
		if (!is_digit(p[0]) || !is_digit(p[1]) || is_digit(p[2]))
			return fail(errbuf, "time of day \"%.40s\": expected two-digit seconds, such as T02:00:30", tok);
		if (!read_number(&p, sec, "time of day", errbuf))
			return false;
	}
	if (*p == '.' || *p == ',')
		return fail(errbuf, "time of day \"%.40s\": fractions of a second are not supported", tok);
	if (*p != '\0')
		return fail(errbuf, "time of day \"%.40s\": unexpected \"%.40s\"", tok, p);
	if (*hour > 23)
		return fail(errbuf, "time of day \"%.40s\": hour %d is out of range 0-23", tok, *hour);
	if (*minute > 59)
		return fail(errbuf, "time of day \"%.40s\": minute %d is out of range 0-59", tok, *minute);
	if (*sec > 59)
		return fail(errbuf, "time of day \"%.40s\": second %d is out of range 0-59", tok, *sec);
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
		return fail(errbuf, "\"%.40s\" is too long (at most 100 years)", tok);
	return true;
}

/* The interval must be longer than zero once all parts are added. */
static bool
check_positive(const UsoSchedule *out, const char *kind, const char *what,
			   char *errbuf)
{
	if (out->iv_months == 0 && out->iv_days == 0 && out->iv_usecs == 0)
		return fail(errbuf, "%s \"%.40s\" must be longer than zero", kind, what);
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
		int			n = 0;
		char		c;

		if (to_lower(*p) == 't' && !in_time)
		{
			in_time = true;
			pos = 0;
			p++;
			continue;
		}
		if (!is_digit(*p))
			return fail(errbuf, "duration \"%.40s\": unexpected \"%.40s\"", tok, p);
		if (!read_number(&p, &n, "duration", errbuf))
			return false;
		if (*p == '.' || *p == ',')
			return fail(errbuf, "duration \"%.40s\": fractions are not supported, use a smaller unit", tok);
		c = *p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p;
		d = c != '\0' ? strchr(des, c) : NULL;
		if (d == NULL)
			return fail(errbuf, "duration \"%.40s\": %d needs a unit designator (%s)", tok, n,
						in_time ? "H, M or S after T" : "Y, M, W or D; T before hours");
		if (d - des < pos)
			return fail(errbuf, "duration \"%.40s\": designator %c is out of order or repeated", tok, c);
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
		return fail(errbuf, "duration \"%.40s\": no hours, minutes or seconds after T (e.g. PT15M)", tok);
	if (!any)
		return fail(errbuf, "duration \"%.40s\": no components after P (e.g. P1D, PT15M, P3M)", tok);
	return check_positive(out, "duration", tok, errbuf);
}

/*
 * 'every <n> <unit> [<n> <unit> ...]' (the text after 'every'), parts
 * separated by blanks, commas or one 'and'.  Only the first part may leave
 * out its number ('every hour'): 'every 1 hour hour' is a typo, not two hours.
 */
static bool
parse_every(const char *text, UsoSchedule *out, char *errbuf)
{
	const char *p;
	bool		any = false;
	bool		after_and = false;

	while (is_space(*text))
		text++;
	p = text;
	for (;;)
	{
		int			n = 1;
		const char *w;
		int			len = 0;
		int			i;
		bool		had_number;

		while (is_space(*p) || *p == ',')
			p++;
		if (*p == '\0')
			break;
		if (any && word_eq(p, 3, "and") && (is_space(p[3])))
		{
			if (after_and)
				return fail(errbuf, "interval \"%.40s\": \"and\" twice in a row", text);
			after_and = true;
			p += 3;
			continue;
		}
		if (*p == '-' || *p == '+')
			return fail(errbuf, "interval \"%.40s\": expected a positive whole number", text);
		had_number = is_digit(*p);
		if (had_number)
		{
			if (!read_number(&p, &n, "every", errbuf))
				return false;
			if (*p == '.')
				return fail(errbuf, "interval \"%.40s\": fractions are not supported, use a smaller unit", text);
			while (is_space(*p))
				p++;
		}
		w = p;
		while (is_alpha(w[len]))
			len++;
		if (len == 0)
		{
			if (*w == '\0')
				return fail(errbuf, "interval \"%.40s\": %d needs a unit (seconds, minutes, hours, days, weeks, months, years)", text, n);
			return fail(errbuf, "interval \"%.40s\": unexpected \"%.40s\"", text, w);
		}
		for (i = 0; iv_units[i].name != NULL; i++)
			if (word_eq(w, len, iv_units[i].name))
				break;
		if (iv_units[i].name == NULL)
			return fail(errbuf, "interval \"%.40s\": unknown unit \"%.*s\" (seconds, minutes, hours, days, weeks, months, years)",
						text, len > 20 ? 20 : len, w);
		if (any && !had_number)
			return fail(errbuf, "interval \"%.40s\": \"%.*s\" needs a number (e.g. every 1 hour 30 minutes)",
						text, len > 20 ? 20 : len, w);
		if (!add_interval(out, n, iv_units[i].unit, text, errbuf))
			return false;
		any = true;
		after_and = false;
		p = w + len;
	}
	if (!any)
		return fail(errbuf, "\"every\" needs an interval, e.g. every 15 minutes");
	if (after_and)
		return fail(errbuf, "interval \"%.40s\": nothing after \"and\"", text);
	return check_positive(out, "interval", text, errbuf);
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
 * A duration under a day with a time of day ('PT6H T12:00'): the local
 * times of day on the grid of that step through that time, the same every
 * day -- 00:00, 06:00, 12:00, 18:00 -- i.e. the cron schedule
 * '0 0,6,12,18 * * *', and parsed into exactly that.  The step must give the
 * same times every day: whole hours dividing 24, or minutes dividing 60.
 */
static bool
parse_grid(const char *dur, const char *tod, int hour, int minute, int sec,
		   UsoSchedule *out, char *errbuf)
{
	int64		step;
	int			v;

	if (out->iv_usecs % USECS_PER_MINUTE != 0 || sec != 0)
		return fail(errbuf, "duration \"%.40s\" with time of day \"%.40s\": a duration under a day with a time of day repeats at whole minutes: leave out the seconds",
					dur, tod);
	step = out->iv_usecs / USECS_PER_MINUTE;
	memset(out, 0, sizeof(*out));
	out->time_of_day = -1;
	if (step % 60 == 0 && (24 * 60) % step == 0)
	{
		int			h = (int) (step / 60);

		for (v = hour % h; v < 24; v += h)
			out->hours |= (uint32) 1 << v;
		out->minutes = UINT64CONST(1) << minute;
	}
	else if (60 % step == 0)
	{
		for (v = minute % (int) step; v < 60; v += (int) step)
			out->minutes |= UINT64CONST(1) << v;
		out->hours = USO_ALL_HOURS;
	}
	else
		return fail(errbuf, "duration \"%.40s\" with time of day \"%.40s\": a duration under a day must repeat the same times every day: whole hours dividing 24 (PT6H T12:00) or minutes dividing 60 (PT15M T00:05); or leave out the time of day",
					dur, tod);
	out->kind = USO_SCHED_CRON;
	out->days = 0xFFFFFFFE;
	out->months = 0x1FFE;
	out->weekdays = 0x7F;
	out->days_star = true;
	out->weekdays_star = true;
	return true;
}

/*
 * An ISO 8601 duration, optionally followed by a time of day: 'P7D T12:00',
 * 'P1M 00:15', 'PT6H T12:00'.
 */
static bool
parse_duration_form(char **tok, int ntok, UsoSchedule *out, char *errbuf)
{
	int			h,
				m,
				sec;

	out->kind = USO_SCHED_INTERVAL;
	if (ntok > 2)
		return fail(errbuf, "unexpected \"%.40s\" after \"%.40s %.40s\"", tok[2], tok[0], tok[1]);
	if (!parse_iso_duration(tok[0], out, errbuf))
		return false;
	if (ntok == 1)
		return true;
	if (!is_time_token(tok[1]))
		return fail(errbuf, "unexpected \"%.40s\" after duration \"%.40s\" (a time of day such as T12:00 may follow)",
					tok[1], tok[0]);
	if (!parse_time_of_day(tok[1], &h, &m, &sec, errbuf))
		return false;
	if (out->iv_usecs != 0 && out->iv_months == 0 && out->iv_days == 0)
		return parse_grid(tok[0], tok[1], h, m, sec, out, errbuf);
	if (out->iv_usecs != 0)
	{
		/*
		 * 'P1DT12H T02:00': the time of day fixes the time, so the duration's
		 * hours have no sensible meaning.  USO's scheduler adds them and then
		 * replaces the time, which gives whole days: say which.
		 */
		int64		carry = ((int64) (h * 3600 + m * 60 + sec) * USECS_PER_SEC + out->iv_usecs) / USECS_PER_DAY;
		char		fix[64];

		if (out->iv_months != 0)
			snprintf(fix, sizeof(fix), "P%dM", out->iv_months);
		else
			fix[0] = '\0';
		if (out->iv_days + carry != 0)
			snprintf(fix + strlen(fix), sizeof(fix) - strlen(fix), "%s%dD",
					 fix[0] ? "" : "P", (int) (out->iv_days + carry));
		return fail(errbuf, "duration \"%.40s\" with time of day \"%.40s\": the duration must then be whole days, weeks, months or years; USO itself runs this as \"%s %.40s\": write that, or leave out the time of day",
					tok[0], tok[1], fix, tok[1]);
	}
	out->time_of_day = h * 60 + m;
	out->time_of_day_sec = sec;
	return true;
}

/*
 * Parse a schedule (see schedule.h).  The text is checked for length and
 * control characters first, then dispatched on its first token: '@' macro,
 * 'N seconds', 'every', 'P' duration, a time of day, else cron.
 */
bool
UsoScheduleParseGrammar(const char *text, UsoGrammar grammar, UsoSchedule *out,
						char *errbuf)
{
	char		buf[USO_SCHEDULE_MAX_LEN + 1];
	char	   *tok[MAX_TOKENS];
	size_t		len;
	int			ntok;
	size_t		i;
	int			n;
	bool		blank_after;

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
	}
	/* Both grammars: pg_cron has no chains, but its layer takes ours. */
	if (UsoAfterShape(text))
		return UsoParseAfter(text, out, errbuf);
	for (i = 0; i < len; i++)
		if ((unsigned char) text[i] >= 0x80)
			return fail(errbuf, "non-ASCII character at position %zu", i + 1);
	memcpy(buf, text, len + 1);
	ntok = tokenize(buf, tok);
	if (ntok == 0)
		return fail(errbuf, "the schedule is empty");
	if (ntok > MAX_TOKENS)
		return fail(errbuf, "too many fields: a cron schedule has 5 (minute hour day-of-month month day-of-week)");

	if (grammar == USO_GRAMMAR_PG_CRON)
	{
		UsoSchedule ours;
		char		ourerr[USO_SCHEDULE_ERRBUF];

		if (UsoParsePgCron(text, tok, ntok, out, errbuf))
			return true;
		/* one of our own forms: say so rather than how it fails as cron */
		if (tok[0][0] != '*' && tok[0][0] != '@' &&
			!UsoSecondsShape(text, &n, &blank_after) &&
			UsoScheduleParseGrammar(text, USO_GRAMMAR_USO, &ours, ourerr) &&
			(ours.kind != USO_SCHED_CRON || !is_digit(tok[0][0])))
			fail(errbuf, "\"%.40s\" is a uso_tasks schedule, which pg_cron does not accept: create such a task with uso_schedule(), or write it in cron format",
				 text);
		memset(out, 0, sizeof(*out));
		return false;
	}

	if (tok[0][0] == '@')
		return UsoParseMacro(tok, ntok, out, false, errbuf);

	if (UsoSecondsShape(text, &n, &blank_after))
		return UsoParseSeconds(n, blank_after, false, out, errbuf);

	if (word_eq(tok[0], (int) strlen(tok[0]), "every"))
	{
		out->kind = USO_SCHED_INTERVAL;
		/* re-read from the original text: units may be glued or spaced */
		return parse_every(text + (tok[0] - buf) + 5, out, errbuf);
	}

	if (to_lower(tok[0][0]) == 'p')
		return parse_duration_form(tok, ntok, out, errbuf);

	if (is_time_token(tok[0]))
	{
		int			h,
					m,
					sec;

		if (ntok > 1)
			return fail(errbuf, "unexpected \"%.40s\" after time of day \"%.40s\"", tok[1], tok[0]);
		if (!parse_time_of_day(tok[0], &h, &m, &sec, errbuf))
			return false;
		out->kind = USO_SCHED_TIME_OF_DAY;
		set_daily(out, h, m);
		out->time_of_day_sec = sec;
		return true;
	}

	if (ntok == 2 && is_unit_word(tok[1]))
	{
		const char *p = tok[0];

		if (!word_eq(tok[1], (int) strlen(tok[1]), "seconds") &&
			!word_eq(tok[1], (int) strlen(tok[1]), "second"))
			return fail(errbuf, "\"%.40s %.40s\" needs \"every\": write \"every %.40s %.40s\"",
						tok[0], tok[1], tok[0], tok[1]);
		if (!read_number(&p, &n, "seconds", errbuf) || *p != '\0')
			return fail(errbuf, "\"%.40s\": expected a whole number of seconds 1-59", tok[0]);
	}

	if (ntok < 5 && !is_digit(tok[0][0]) && tok[0][0] != '*')
		return fail(errbuf, "unrecognized schedule \"%.40s\"", tok[0]);
	return UsoParseCron(tok, ntok, out, false, errbuf);
}

/* Our own grammar (see schedule.h). */
bool
UsoScheduleParse(const char *text, UsoSchedule *out, char *errbuf)
{
	return UsoScheduleParseGrammar(text, USO_GRAMMAR_USO, out, errbuf);
}

