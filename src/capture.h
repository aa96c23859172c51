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

/* Start collecting into cxt, storing at most max_lines lines. */
extern void UsoCaptureStart(MemoryContext cxt, int max_lines);
/* Stop collecting; returns the lines (a final line counts dropped ones). */
extern List *UsoCaptureStop(void);
/* Install the emit_log_hook (once per process). */
extern void UsoCaptureInstallHook(void);

#endif							/* USO_CAPTURE_H */
