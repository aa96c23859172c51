/*-------------------------------------------------------------------------
 * schedule_fuzz.c
 *	  Fuzz the schedule parser and describer outside the server.
 *
 * Built and run by test/fuzz/run_schedule_fuzz.sh with AddressSanitizer and
 * UBSan.  Inputs are random byte strings, random sequences of grammar
 * tokens, and mutations of valid schedules.  Checks: no crash, no overrun, a
 * failure always says why, a success is a sane struct, parsing is
 * deterministic, and the description is non-empty.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdio.h>
#include <stdlib.h>

#include "schedule.h"

static const char *const pieces[] = {
	"*", "*/", "/", ",", "-", "$", "@", " ", " ", " ", "\t", "0", "1", "5", "7",
	"12", "23", "29", "31", "59", "60", "99", "100000000", "jan", "DEC", "sun",
	"SAT", "mon", "@daily", "@yearly", "@reboot", "@manual", "every", "second",
	"seconds", "minutes", "h", "mon", "years", "P", "T", "D", "M", "W", "Y",
	"H", "S", ":", "00", "02:00", "and", ".", "x", "\x01", "\xc3\xb6", "e",
	"@restart", "@DAILY", "+", "second ", "30", "02:00:30", "12:00", "PT6H", "P1DT12H"
};

static const char *const valid[] = {
	"*/5 * * * *", "0 2 * * 1-5", "0 0 $ * *", "0 0 1 */3 *", "@hourly",
	"30 seconds", "every 15 minutes", "every 3 months", "PT15M", "P1DT12H",
	"T02:00", "P7D T12:00", "0 9-17/2 1,15 JAN-MAR MON-FRI", "5seconds",
	"+7 second", "@restart", "PT6H T12:00", "PT15M T00:05", "T02:00:30", "12:00",
	"0 0 30 2 *", "0 0 31 4,6,9,11 *", "*/59 */23 */31 */12 */7"
};

static unsigned long long rng = 88172645463325252ULL;

static unsigned
rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned) (rng % n);
}

static void
make_input(char *buf, size_t cap)
{
	size_t		len = 0;
	int			mode = rnd(3);

	buf[0] = '\0';
	if (mode == 0)
	{
		size_t		n = rnd(40);

		while (len < n && len + 1 < cap)
			buf[len++] = (char) (1 + rnd(255));
	}
	else if (mode == 1)
	{
		int			n = rnd(14);

		while (n-- > 0)
		{
			const char *p = pieces[rnd(lengthof(pieces))];
			size_t		l = strlen(p);

			if (len + l + 1 >= cap)
				break;
			memcpy(buf + len, p, l);
			len += l;
		}
	}
	else
	{
		const char *v = valid[rnd(lengthof(valid))];
		int			edits = 1 + rnd(3);

		len = strlen(v);
		memcpy(buf, v, len);
		while (edits-- > 0 && len > 0)
		{
			size_t		at = rnd((unsigned) len);

			switch (rnd(3))
			{
				case 0:			/* replace a byte */
					buf[at] = "*/,-$ 0159xT:P"[rnd(14)];
					break;
				case 1:			/* delete a byte */
					memmove(buf + at, buf + at + 1, len - at);
					len--;
					break;
				default:		/* duplicate a byte */
					if (len + 2 < cap)
					{
						memmove(buf + at + 1, buf + at, len - at);
						len++;
					}
			}
		}
	}
	buf[len] = '\0';
}

/*
 * The properties every input must have: parsing is deterministic, a refusal
 * says why, an accepted schedule has sane fields and a description.  Returns
 * 1 (after printing the input) on a violation, else 0; *accepted is set.
 */
static int
check_one(const char *in, bool *accepted)
{
	UsoSchedule a,
				b;
	char		err1[USO_SCHEDULE_ERRBUF],
				err2[USO_SCHEDULE_ERRBUF];
	char		desc[200];
	bool		ok;

	*accepted = false;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	ok = UsoScheduleParse(in, &a, err1);
	if (ok != UsoScheduleParse(in, &b, err2) ||
		(ok && memcmp(&a, &b, sizeof(a)) != 0))
	{
		fprintf(stderr, "not deterministic: \"%s\"\n", in);
		return 1;
	}
	if (!ok)
	{
		if (err1[0] == '\0')
		{
			fprintf(stderr, "failure without a message: \"%s\"\n", in);
			return 1;
		}
		return 0;
	}
	*accepted = true;
	if ((a.kind == USO_SCHED_CRON || a.kind == USO_SCHED_TIME_OF_DAY) &&
		(a.minutes == 0 || a.hours == 0 || (a.days == 0 && !a.last_day) ||
		 a.months == 0 || a.weekdays == 0 ||
		 (a.minutes >> 60) != 0 || (a.hours >> 24) != 0 ||
		 (a.days & 1) != 0 || (a.months & 0xE001) != 0 || (a.weekdays & 0x80) != 0))
	{
		fprintf(stderr, "bad cron bits: \"%s\"\n", in);
		return 1;
	}
	if (a.kind == USO_SCHED_INTERVAL &&
		(a.iv_months < 0 || a.iv_days < 0 || a.iv_usecs < 0 ||
		 a.iv_months + a.iv_days + a.iv_usecs == 0))
	{
		fprintf(stderr, "bad interval: \"%s\"\n", in);
		return 1;
	}
	UsoScheduleDescribe(&a, desc, sizeof(desc));
	if (desc[0] == '\0')
	{
		fprintf(stderr, "empty description: \"%s\"\n", in);
		return 1;
	}
	if (a.never_fires != (UsoScheduleNeverFires(&a, desc, sizeof(desc)) != NULL))
	{
		fprintf(stderr, "never-fires flag and reason disagree: \"%s\"\n", in);
		return 1;
	}
	return 0;
}

/*
 * The two grammars agree: whatever pg_cron's accepts, ours accepts with the
 * same meaning (the same struct), so a pg_cron job runs as it would there.
 */
static int
check_grammars(const char *in, bool *accepted)
{
	UsoSchedule c,
				u;
	char		err[USO_SCHEDULE_ERRBUF];

	memset(&c, 0, sizeof(c));
	memset(&u, 0, sizeof(u));
	*accepted = UsoScheduleParseGrammar(in, USO_GRAMMAR_PG_CRON, &c, err);
	if (!*accepted)
	{
		if (err[0] == '\0')
		{
			fprintf(stderr, "pg_cron grammar: failure without a message: \"%s\"\n", in);
			return 1;
		}
		return 0;
	}
	if (!UsoScheduleParse(in, &u, err) || memcmp(&c, &u, sizeof(c)) != 0)
	{
		fprintf(stderr, "pg_cron grammar accepts \"%s\" but ours %s\n", in,
				memcmp(&c, &u, sizeof(c)) != 0 ? "parses it differently" : "refuses it");
		return 1;
	}
	return 0;
}

#ifdef USO_LIBFUZZER
/* libFuzzer entry point (test/fuzz/run_libfuzzer.sh). */
int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		in[4096];
	bool		accepted;

	if (size >= sizeof(in))
		size = sizeof(in) - 1;
	memcpy(in, data, size);
	in[size] = '\0';
	if (check_one(in, &accepted) != 0 || check_grammars(in, &accepted) != 0)
		abort();
	return 0;
}
#else
int
main(int argc, char **argv)
{
	long		iterations = argc > 1 ? atol(argv[1]) : 1000000;
	long		i;
	long		accepted = 0;
	long		cron_accepted = 0;
	char		in[USO_SCHEDULE_MAX_LEN * 2];

	for (i = 0; i < iterations; i++)
	{
		bool		ok;

		make_input(in, sizeof(in));
		if (check_one(in, &ok) != 0)
			return 1;
		accepted += ok ? 1 : 0;
		if (check_grammars(in, &ok) != 0)
			return 1;
		cron_accepted += ok ? 1 : 0;
	}
	printf("schedule fuzz: %ld inputs, %ld accepted (%ld by the pg_cron grammar), no failures\n",
		   iterations, accepted, cron_accepted);
	return 0;
}
#endif
