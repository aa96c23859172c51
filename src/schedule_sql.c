/*-------------------------------------------------------------------------
 * schedule_sql.c
 *	  SQL-callable functions over the schedule grammar: uso_next_runs,
 *	  uso_describe_schedule, uso_validate_schedule, uso_schedule_next,
 *	  uso_validate_timezone, uso_bench_schedule, uso_validate_cron_schedule,
 *	  uso_schedule_never_fires, uso_timezone_warning; and the ereport-ing
 *	  helpers the management API shares (UsoScheduleParseOrError,
 *	  UsoTimezoneOrError, UsoTimezoneWarning).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "schedule.h"
#include "echo.h"
#include "uso_tasks.h"

/* How much of a bad schedule is echoed back in the error message. */
#define ECHO_MAX_CHARS	60
/*
 * How much of each part of the schedule the parser's explanation quotes
 * (between double quotes) is kept in the message.
 */
#define ECHO_PART_MAX	40

PG_FUNCTION_INFO_V1(uso_next_runs);
PG_FUNCTION_INFO_V1(uso_describe_schedule);
PG_FUNCTION_INFO_V1(uso_validate_schedule);
PG_FUNCTION_INFO_V1(uso_schedule_next);
PG_FUNCTION_INFO_V1(uso_validate_timezone);
PG_FUNCTION_INFO_V1(uso_bench_schedule);
PG_FUNCTION_INFO_V1(uso_validate_cron_schedule);
PG_FUNCTION_INFO_V1(uso_schedule_never_fires);
PG_FUNCTION_INFO_V1(uso_timezone_warning);
PG_FUNCTION_INFO_V1(uso_schedule_follows);
PG_FUNCTION_INFO_V1(uso_schedule_follows_failures);

/*
 * The schedule text as it can safely appear inside an error message: at
 * most ECHO_MAX_CHARS characters (cut on a character boundary, '...' added)
 * with control characters shown as \xNN.
 */
static char *
echo_text(const char *text)
{
	return UsoEchoN(text, ECHO_MAX_CHARS);
}

/*
 * The parser's explanation of a bad schedule, for a message: its own words
 * whole, but each part of the schedule it quotes cut to ECHO_PART_MAX bytes
 * ('...' added), control characters shown as \xNN, and nothing of a
 * character its fixed-size buffer cut in two.
 */
static char *
echo_reason(const char *reason)
{
	int			len = strlen(reason);
	int			valid = pg_encoding_verifymbstr(GetDatabaseEncoding(), reason, len);
	bool		quoted = false;
	int			part = 0;
	StringInfoData buf;
	int			i = 0;

	initStringInfo(&buf);
	while (i < valid)
	{
		unsigned char c = (unsigned char) reason[i];
		int			l = pg_mblen(reason + i);

		if (i + l > valid)
			break;
		if (c == '"')
		{
			quoted = !quoted;
			part = 0;
		}
		else if (quoted && part + l > ECHO_PART_MAX)
		{
			if (part <= ECHO_PART_MAX)
				appendStringInfoString(&buf, "...");
			part = ECHO_PART_MAX + 1;
			i += l;
			continue;
		}
		else if (quoted)
			part += l;
		if (c < 0x20 || c == 0x7F)
			appendStringInfo(&buf, "\\x%02X", c);
		else
			appendBinaryStringInfo(&buf, reason + i, l);
		i += l;
	}
	return buf.data;
}

/*
 * Parse a schedule or raise 22023 naming the bad part, with a hint listing
 * the accepted forms.  For everything in the extension that takes a
 * schedule (the management API calls it before writing anything).
 */
void
UsoScheduleParseOrError(const char *text, UsoSchedule *out)
{
	UsoScheduleParseGrammarOrError(text, USO_GRAMMAR_USO, out);
}

/* The same in a given grammar; the hint lists that grammar's forms. */
void
UsoScheduleParseGrammarOrError(const char *text, UsoGrammar grammar,
							   UsoSchedule *out)
{
	char		errbuf[USO_SCHEDULE_ERRBUF];

	if (text == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("schedule must not be NULL"),
				 grammar == USO_GRAMMAR_USO ?
				 errhint("Use '@manual' for a task that runs only when asked.") : 0));
	if (!UsoScheduleParseGrammar(text, grammar, out, errbuf))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid schedule \"%s\": %s", echo_text(text),
						echo_reason(errbuf)),
				 errhint("%s", grammar == USO_GRAMMAR_USO ? USO_SCHEDULE_FORMS
						 : USO_PG_CRON_FORMS)));
}

/*
 * A time zone by name, or the uso_tasks.timezone default for NULL; raises
 * 22023 for a name the server does not know.
 */
pg_tz *
UsoTimezoneOrError(const char *name)
{
	pg_tz	   *tz;

	if (name == NULL)
		return UsoDefaultTimezone();
	tz = strlen(name) <= TZ_STRLEN_MAX ? pg_tzset(name) : NULL;
	if (tz == NULL || !pg_tz_acceptable(tz))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time zone \"%s\" is not recognized", echo_text(name)),
				 errhint("Use a name from pg_timezone_names, such as 'UTC' or 'Europe/Berlin'.")));
	return tz;
}

static char *
text_arg_or_null(FunctionCallInfo fcinfo, int argno)
{
	return PG_ARGISNULL(argno) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

static void
require_finite(TimestampTz t, const char *what)
{
	if (TIMESTAMP_NOT_FINITE(t))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a finite timestamp", what)));
}

/*
 * uso_next_runs(schedule, after, n, timezone): the next n fire times after
 * 'after', as a preview.  Interval kinds count from 'after' itself (as if
 * the task had just started), so 'every 15 minutes' from 12:00 gives 12:15,
 * 12:30, ...: each row is UsoScheduleNextFrom(previous row, anchor =
 * 'after'), exactly what the scheduler computes for a task anchored there,
 * so month steps keep the anchor's day (P1M from 01-31: 02-28, 03-31).
 * NULL schedule, after or n give no rows.
 */
Datum
uso_next_runs(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	UsoSchedule sched;
	TimestampTz after;
	TimestampTz t;
	pg_tz	   *tz;
	int			n;
	int			i;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_NULL();
	UsoScheduleParseOrError(text_arg_or_null(fcinfo, 0), &sched);
	after = PG_GETARG_TIMESTAMPTZ(1);
	require_finite(after, "after");
	n = PG_GETARG_INT32(2);
	if (n < 1 || n > 1000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("n must be between 1 and 1000, not %d", n)));
	tz = UsoTimezoneOrError(text_arg_or_null(fcinfo, 3));

	t = after;
	for (i = 0; i < n; i++)
	{
		Datum		value;
		bool		isnull = false;

		CHECK_FOR_INTERRUPTS();
		/* the scheduler's own arithmetic, on the grid anchored at 'after' */
		t = UsoScheduleNextFrom(&sched, t, after, tz);
		if (t == DT_NOEND)
			break;
		value = TimestampTzGetDatum(t);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value, &isnull);
	}
	PG_RETURN_NULL();
}

/* uso_describe_schedule(schedule): plain English for admin pages. */
Datum
uso_describe_schedule(PG_FUNCTION_ARGS)
{
	UsoSchedule sched;
	char	   *str = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char		buf[USO_AFTER_NAME_BUF + 32];

	UsoScheduleParseOrError(str, &sched);
	UsoScheduleDescribeText(str, &sched, buf, sizeof(buf));
	PG_RETURN_TEXT_P(cstring_to_text(buf));
}

/* uso_validate_schedule(schedule): raises on anything but a valid schedule. */
Datum
uso_validate_schedule(PG_FUNCTION_ARGS)
{
	UsoSchedule sched;

	UsoScheduleParseOrError(text_arg_or_null(fcinfo, 0), &sched);
	PG_RETURN_VOID();
}

/*
 * uso_schedule_next(schedule, after, anchor, timezone): the stored
 * next_run_at of a task.  anchor NULL = never ran; NULL result = no next
 * time (@reboot, @manual, impossible dates).
 */
Datum
uso_schedule_next(PG_FUNCTION_ARGS)
{
	UsoSchedule sched;
	TimestampTz after;
	TimestampTz anchor = DT_NOBEGIN;
	TimestampTz t;
	pg_tz	   *tz;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	UsoScheduleParseOrError(text_arg_or_null(fcinfo, 0), &sched);
	after = PG_GETARG_TIMESTAMPTZ(1);
	require_finite(after, "after");
	if (!PG_ARGISNULL(2))
	{
		anchor = PG_GETARG_TIMESTAMPTZ(2);
		require_finite(anchor, "anchor");
	}
	tz = UsoTimezoneOrError(text_arg_or_null(fcinfo, 3));
	t = UsoScheduleNext(&sched, after, anchor, tz);
	if (t == DT_NOEND)
		PG_RETURN_NULL();
	PG_RETURN_TIMESTAMPTZ(t);
}

/* uso_validate_timezone(tz): the canonical spelling, or 22023. */
Datum
uso_validate_timezone(PG_FUNCTION_ARGS)
{
	pg_tz	   *tz = UsoTimezoneOrError(text_to_cstring(PG_GETARG_TEXT_PP(0)));

	PG_RETURN_TEXT_P(cstring_to_text(pg_get_timezone_name(tz)));
}

/*
 * uso_bench_schedule(schedule, n, timezone): seconds spent on n next-time
 * computations from instants 59 s apart starting 2026-01-01 00:00 UTC
 * (anchor = that start for interval kinds).  For test/bench only.
 */
Datum
uso_bench_schedule(PG_FUNCTION_ARGS)
{
	UsoSchedule sched;
	pg_tz	   *tz;
	int			n;
	int			i;
	instr_time	start,
				duration;
	/* 2026-01-01 00:00:00 UTC */
	TimestampTz base = (TimestampTz) (26 * 365 + 7) * USECS_PER_DAY;
	volatile TimestampTz sink = 0;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	UsoScheduleParseOrError(text_arg_or_null(fcinfo, 0), &sched);
	n = PG_GETARG_INT32(1);
	if (n < 1 || n > 100000000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("n must be between 1 and 100000000, not %d", n)));
	tz = UsoTimezoneOrError(text_arg_or_null(fcinfo, 2));

	INSTR_TIME_SET_CURRENT(start);
	for (i = 0; i < n; i++)
	{
		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		sink += UsoScheduleNext(&sched, base + (int64) i * 59 * USECS_PER_SEC,
								base, tz);
	}
	INSTR_TIME_SET_CURRENT(duration);
	INSTR_TIME_SUBTRACT(duration, start);
	(void) sink;
	PG_RETURN_FLOAT8(INSTR_TIME_GET_DOUBLE(duration));
}

/*
 * uso_validate_cron_schedule(schedule): raises 22023 naming the bad part
 * unless pg_cron 1.6 would accept the schedule (USO_GRAMMAR_PG_CRON); for
 * the cron layer (cron.schedule, cron.alter_job).
 */
Datum
uso_validate_cron_schedule(PG_FUNCTION_ARGS)
{
	UsoSchedule sched;

	UsoScheduleParseGrammarOrError(text_arg_or_null(fcinfo, 0), USO_GRAMMAR_PG_CRON,
								   &sched);
	PG_RETURN_VOID();
}

/*
 * uso_schedule_never_fires(schedule): NULL, or why the schedule can never
 * fire by the clock ('February has no 30th').  Raises for a bad schedule.
 */
Datum
uso_schedule_never_fires(PG_FUNCTION_ARGS)
{
	UsoSchedule sched;
	char		buf[200];
	const char *why;

	UsoScheduleParseOrError(text_to_cstring(PG_GETARG_TEXT_PP(0)), &sched);
	why = UsoScheduleNeverFires(&sched, buf, sizeof(buf));
	if (why == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(why));
}

/*
 * uso_timezone_warning(tz): NULL, or a warning for a time zone name that
 * does not mean what it seems to (UsoTimezoneWarning).  Raises 22023 for a
 * name the server does not know.
 */
Datum
uso_timezone_warning(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	pg_tz	   *tz = UsoTimezoneOrError(name);
	char	   *warning = UsoTimezoneWarning(name, tz);

	if (warning == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(warning));
}

/*
 * uso_schedule_follows(schedule): the task an 'after' schedule follows
 * (unquoted), or NULL for every other form.  Raises for a bad schedule.
 */
Datum
uso_schedule_follows(PG_FUNCTION_ARGS)
{
	UsoSchedule sched;
	char	   *str = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char		name[USO_AFTER_NAME_BUF];

	UsoScheduleParseOrError(str, &sched);
	if (!UsoScheduleAfterName(str, &sched, name, sizeof(name)))
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(name));
}

/* uso_schedule_follows_failures(schedule): 'after X fails'; NULL unless an 'after' form. */
Datum
uso_schedule_follows_failures(PG_FUNCTION_ARGS)
{
	UsoSchedule sched;

	UsoScheduleParseOrError(text_to_cstring(PG_GETARG_TEXT_PP(0)), &sched);
	if (sched.kind != USO_SCHED_AFTER)
		PG_RETURN_NULL();
	PG_RETURN_BOOL(sched.after_fails);
}
