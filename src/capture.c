/*-------------------------------------------------------------------------
 * capture.c
 *	  Capture the NOTICE/INFO/WARNING lines a run emits, through
 *	  emit_log_hook, for uso_task_log.
 *
 * A background worker has no client, so a NOTICE below log_min_messages is
 * dropped before any hook sees it.  While capturing, log_min_messages is
 * lowered to INFO; the captured lines are then kept out of the server log
 * unless the original setting would have logged them.
 *
 * What is stored is bounded, so no run's output can fill the catalog or make
 * the views that read it fail for everyone (a 100 MB NOTICE is a message
 * PostgreSQL has already built, but it is not copied): at most
 * uso_tasks.max_log_lines lines and uso_tasks.max_log_bytes bytes per run,
 * each line cut at USO_MAX_TEXT_BYTES, and a last line saying what was left
 * out.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "mb/pg_wchar.h"
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
static size_t capture_max_bytes = 0;
static size_t capture_bytes = 0;	/* stored so far */
static int64 capture_dropped_bytes = 0;	/* of dropped and cut lines */
static bool capture_bytes_hit = false;	/* a line was cut or dropped for bytes */
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

/* A copy cut at maxbytes (at least 4), at a character boundary. */
char *
UsoClipText(const char *s, size_t maxbytes)
{
	size_t		len = strlen(s);
	int			keep;

	if (len <= maxbytes)
		return pstrdup(s);
	Assert(maxbytes >= 4);
	keep = pg_mbcliplen(s, (int) Min(len, (size_t) INT_MAX), (int) (maxbytes - 3));
	return psprintf("%.*s...", keep, s);
}

/* Keep the line if the run's budget allows, cut to what is left of it. */
static void
CaptureLine(ErrorData *edata)
{
	const char *message = edata->message ? edata->message : "";
	size_t		len = strlen(message);
	size_t		room = capture_max_bytes - capture_bytes;
	MemoryContext old;
	UsoLogLine *line;

	/* Not worth a line: a few bytes of a message cut off. */
	if (capture_count >= capture_max || (room < 64 && room < len))
	{
		if (capture_count < capture_max)
			capture_bytes_hit = true;
		capture_dropped++;
		capture_dropped_bytes += len;
		return;
	}
	old = MemoryContextSwitchTo(capture_cxt);
	line = palloc(sizeof(UsoLogLine));
	line->logged_at = GetCurrentTimestamp();
	line->level = LevelName(edata->elevel);
	line->message = UsoClipText(message, Min(room, (size_t) USO_MAX_TEXT_BYTES));
	captured = lappend(captured, line);
	MemoryContextSwitchTo(old);
	capture_count++;
	capture_bytes += strlen(line->message);
	if (strlen(line->message) < len)
	{
		capture_bytes_hit = true;
		capture_dropped_bytes += len - strlen(line->message);
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
		CaptureLine(edata);
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
UsoCaptureStart(MemoryContext cxt, int max_lines, int max_bytes)
{
	capture_cxt = cxt;
	captured = NIL;
	capture_max = max_lines;
	capture_count = 0;
	capture_dropped = 0;
	capture_max_bytes = (size_t) Max(max_bytes, 0);
	capture_bytes = 0;
	capture_dropped_bytes = 0;
	capture_bytes_hit = false;
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
	if (capture_dropped > 0 || capture_bytes_hit)
	{
		MemoryContext old = MemoryContextSwitchTo(capture_cxt);
		UsoLogLine *line = palloc(sizeof(UsoLogLine));

		line->logged_at = GetCurrentTimestamp();
		line->level = "WARNING";
		if (!capture_bytes_hit)
			line->message = psprintf("%lld more line(s) were not stored "
									 "(uso_tasks.max_log_lines = %d)",
									 (long long) capture_dropped, capture_max);
		else
			line->message = psprintf("%lld more line(s) were not stored and %lld byte(s) "
									 "of log were left out (uso_tasks.max_log_lines = %d, "
									 "uso_tasks.max_log_bytes = %zu, each line is cut at %d bytes)",
									 (long long) capture_dropped,
									 (long long) capture_dropped_bytes,
									 capture_max, capture_max_bytes, USO_MAX_TEXT_BYTES);
		lines = lappend(lines, line);
		MemoryContextSwitchTo(old);
	}
	captured = NIL;
	return lines;
}
