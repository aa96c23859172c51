/*-------------------------------------------------------------------------
 * capture.c
 *	  Capture the NOTICE/INFO/WARNING lines a run emits, through
 *	  emit_log_hook, for uso_task_log.
 *
 * A background worker has no client, so a NOTICE below log_min_messages is
 * dropped before any hook sees it.  While capturing, log_min_messages is
 * lowered to INFO; the captured lines are then kept out of the server log
 * unless the original setting would have logged them.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/elog.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "capture.h"

static emit_log_hook_type prev_emit_log_hook = NULL;
static bool hook_installed = false;

static bool capturing = false;
static MemoryContext capture_cxt = NULL;
static List *captured = NIL;
static int	capture_max = 0;
static int	capture_count = 0;
static int64 capture_dropped = 0;
static int	saved_log_min_messages = WARNING;

static const char *
LevelName(int elevel)
{
	switch (elevel)
	{
		case NOTICE:
			return "NOTICE";
		case INFO:
			return "INFO";
		case WARNING:
			return "WARNING";
		default:
			return "LOG";
	}
}

/*
 * Would the original log_min_messages have logged a line of this level?
 * LOG is numerically below INFO but ranks between ERROR and FATAL for the
 * server log (elog.c's is_log_level_output), so with log_min_messages =
 * log no NOTICE, INFO or WARNING is logged.
 */
static bool
ServerWouldLog(int elevel)
{
	if (saved_log_min_messages == LOG || saved_log_min_messages == LOG_SERVER_ONLY)
		return false;
	return elevel >= saved_log_min_messages;
}

static void
uso_emit_log_hook(ErrorData *edata)
{
	if (capturing && (edata->elevel == NOTICE || edata->elevel == INFO ||
					  edata->elevel == WARNING))
	{
		if (capture_count < capture_max)
		{
			MemoryContext old = MemoryContextSwitchTo(capture_cxt);
			UsoLogLine *line = palloc(sizeof(UsoLogLine));

			line->logged_at = GetCurrentTimestamp();
			line->level = LevelName(edata->elevel);
			line->message = pstrdup(edata->message ? edata->message : "");
			captured = lappend(captured, line);
			MemoryContextSwitchTo(old);
			capture_count++;
		}
		else
			capture_dropped++;
		if (!ServerWouldLog(edata->elevel))
			edata->output_to_server = false;
	}
	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

void
UsoCaptureInstallHook(void)
{
	if (hook_installed)
		return;
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = uso_emit_log_hook;
	hook_installed = true;
}

void
UsoCaptureStart(MemoryContext cxt, int max_lines)
{
	capture_cxt = cxt;
	captured = NIL;
	capture_max = max_lines;
	capture_count = 0;
	capture_dropped = 0;
	saved_log_min_messages = log_min_messages;
	if (log_min_messages > INFO || log_min_messages == LOG ||
		log_min_messages == LOG_SERVER_ONLY)
		log_min_messages = INFO;
	capturing = true;
}

List *
UsoCaptureStop(void)
{
	List	   *lines = captured;

	if (!capturing)
		return NIL;
	capturing = false;
	log_min_messages = saved_log_min_messages;
	if (capture_dropped > 0)
	{
		MemoryContext old = MemoryContextSwitchTo(capture_cxt);
		UsoLogLine *line = palloc(sizeof(UsoLogLine));

		line->logged_at = GetCurrentTimestamp();
		line->level = "WARNING";
		line->message = psprintf("%lld more line(s) were not stored "
								 "(uso_tasks.max_log_lines = %d)",
								 (long long) capture_dropped, capture_max);
		lines = lappend(lines, line);
		MemoryContextSwitchTo(old);
	}
	captured = NIL;
	return lines;
}
