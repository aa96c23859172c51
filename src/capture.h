/*-------------------------------------------------------------------------
 * capture.h
 *	  Collect the messages (NOTICE, INFO, WARNING) a run raises.
 *-------------------------------------------------------------------------
 */
#ifndef USO_CAPTURE_H
#define USO_CAPTURE_H

#include "datatype/timestamp.h"
#include "nodes/pg_list.h"

typedef struct UsoLogLine
{
	TimestampTz logged_at;
	const char *level;
	char	   *message;
} UsoLogLine;

/*
 * The most bytes of one text a run leaves in the catalog: its return
 * message, each error field, each log line.
 */
#define USO_MAX_TEXT_BYTES 8192

/*
 * Start collecting into cxt, storing at most max_lines lines and max_bytes
 * bytes of them (each line cut at USO_MAX_TEXT_BYTES).
 */
extern void UsoCaptureStart(MemoryContext cxt, int max_lines, int max_bytes);
/* Stop collecting; returns the lines (a final line counts dropped ones). */
extern List *UsoCaptureStop(void);
/*
 * A copy of s (in the current memory context) of at most maxbytes bytes:
 * cut at a character boundary and ended with "..." when longer.
 */
extern char *UsoClipText(const char *s, size_t maxbytes);
/* Install the emit_log_hook (once per process). */
extern void UsoCaptureInstallHook(void);

#endif							/* USO_CAPTURE_H */
