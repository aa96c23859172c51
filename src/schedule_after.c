/*-------------------------------------------------------------------------
 * schedule_after.c
 *	  The chain forms of the schedule grammar: 'after <task>' (each time a
 *	  run of <task> succeeds) and 'after <task> fails' (each time one ends
 *	  failed or timed out after its last retry).  docs/schedule.md, "Tasks
 *	  that follow tasks".
 *
 * The parser only checks the shape: whether the task exists, is visible to
 * the caller and closes no cycle is the catalog's business (uso_task_check).
 * Task names are any text in the server's encoding, so unlike the clock
 * forms this one is not ASCII-only; a name that ends in " fails" or has surrounding
 * blanks is written in double quotes, "" standing for a quote.
 * Pure C, like the rest of the parser.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "schedule_parse.h"

/*
 * How many bytes of s to echo in a message: at most max, not cutting a
 * multibyte character in two (a name may be in any server encoding, whose
 * trailing bytes all have the high bit set, as UTF-8's do).
 */
static int
echo_len(const char *s, int max)
{
	int			n = (int) strnlen(s, max + 1);

	if (n <= max)
		return n;
	n = max;
	while (n > 0 && ((unsigned char) s[n] & 0x80) != 0)
		n--;
	return n;
}

/* Does text (after leading blanks) begin with the word "after"? */
bool
UsoAfterShape(const char *text)
{
	while (is_space(*text))
		text++;
	return word_eq(text, 5, "after") && (text[5] == '\0' || is_space(text[5]));
}

/* Length of a quoted name starting at p (p[0] == '"'), or -1 when unclosed. */
static int
quoted_len(const char *p)
{
	int			i = 1;

	for (;;)
	{
		if (p[i] == '\0')
			return -1;
		if (p[i] == '"')
		{
			if (p[i + 1] != '"')
				return i + 1;
			i++;
		}
		i++;
	}
}

bool
UsoParseAfter(const char *text, UsoSchedule *out, char *errbuf)
{
	const char *p = text;
	const char *name;
	const char *end;
	int			len;

	while (is_space(*p))
		p++;
	p += 5;
	while (is_space(*p))
		p++;
	end = p + strlen(p);
	while (end > p && is_space(end[-1]))
		end--;
	if (end == p)
		return fail(errbuf, "\"after\" needs a task name: write \"after <task>\" or \"after <task> fails\"");

	out->kind = USO_SCHED_AFTER;
	name = p;
	if (*p == '"')
	{
		const char *rest;

		len = quoted_len(p);
		if (len < 0)
			return fail(errbuf, "the quoted task name after \"after\" has no closing quote");
		rest = p + len;
		while (is_space(*rest))
			rest++;
		if (rest < end)
		{
			if (end - rest == 5 && word_eq(rest, 5, "fails"))
				out->after_fails = true;
			else
				return fail(errbuf, "unexpected \"%.*s\" after the task name: only \"fails\" may follow it",
							echo_len(rest, 40), rest);
		}
		if (len == 2)
			return fail(errbuf, "the task name after \"after\" is empty");
	}
	else
	{
		/* "... fails" at the end, after a blank, is the failure form */
		if (end - p > 6 && word_eq(end - 5, 5, "fails") && is_space(end[-6]))
		{
			out->after_fails = true;
			end -= 6;
			while (end > p && is_space(end[-1]))
				end--;
		}
		len = (int) (end - p);
	}
	/* No length rule of its own: a name longer than a task name can be names no task (42704). */
	out->after_off = (uint16) (name - text);
	out->after_len = (uint16) len;
	return true;
}

bool
UsoScheduleAfterName(const char *text, const UsoSchedule *s, char *buf, size_t buflen)
{
	const char *p;
	size_t		n = 0;
	int			len;

	if (s->kind != USO_SCHED_AFTER || buflen == 0)
		return false;
	p = text + s->after_off;
	len = s->after_len;
	if (len >= 2 && p[0] == '"')
	{
		/* unquote: drop the outer quotes, "" is one quote */
		for (int i = 1; i < len - 1 && n + 1 < buflen; i++)
		{
			buf[n++] = p[i];
			if (p[i] == '"')
				i++;
		}
	}
	else
	{
		n = Min((size_t) len, buflen - 1);
		memcpy(buf, p, n);
	}
	buf[n] = '\0';
	return true;
}
