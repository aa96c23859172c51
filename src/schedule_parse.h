/*-------------------------------------------------------------------------
 * schedule_parse.h
 *	  Internals shared by the two halves of the schedule parser:
 *	  schedule.c (dispatch, intervals, ISO 8601, times of day) and
 *	  schedule_cron.c (cron fields, @ keywords, 'N seconds', pg_cron's
 *	  grammar).  Not for other modules: they use schedule.h.
 *
 * Pure C like the parser: no palloc, no ereport, ASCII only.
 *-------------------------------------------------------------------------
 */
#ifndef USO_SCHEDULE_PARSE_H
#define USO_SCHEDULE_PARSE_H

#include <stdarg.h>

#include "schedule.h"

#define MAX_TOKENS		8

/* Upper bound of any number in a schedule: keeps arithmetic far from overflow. */
#define MAX_NUMBER		1000000

/*
 * Write a message into errbuf and return false, so that callers can say
 * "return fail(...)".
 */
static inline bool
fail(char *errbuf, const char *fmt,...)
pg_attribute_printf(2, 3);

static inline bool
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
static inline bool
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
static inline bool
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
static inline int
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


/* schedule_cron.c */
extern bool UsoParseCron(char **tok, int ntok, UsoSchedule *out, bool pgcron,
						 char *errbuf);
extern bool UsoParseMacro(char **tok, int ntok, UsoSchedule *out, bool pgcron,
						  char *errbuf);
extern bool UsoSecondsShape(const char *text, int *n, bool *blank_after_second);
extern bool UsoParseSeconds(int n, bool blank_after_second, bool pgcron,
							UsoSchedule *out, char *errbuf);
extern bool UsoParsePgCron(const char *text, char **tok, int ntok,
						   UsoSchedule *out, char *errbuf);

/* schedule_after.c */
extern bool UsoAfterShape(const char *text);
extern bool UsoParseAfter(const char *text, UsoSchedule *out, char *errbuf);

#endif							/* USO_SCHEDULE_PARSE_H */
