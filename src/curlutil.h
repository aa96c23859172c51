/*-------------------------------------------------------------------------
 * curlutil.h
 *	  libcurl plumbing shared by the HTTP (http.c) and mail (mail.c) functions.
 *-------------------------------------------------------------------------
 */
#ifndef USO_CURLUTIL_H
#define USO_CURLUTIL_H

#include "postgres.h"

#include <curl/curl.h>

#include "datatype/timestamp.h"

/*
 * A growable byte buffer filled from libcurl callbacks.  Growing it never
 * throws (an ereport would longjmp through libcurl), so the callbacks can
 * report "full" or "out of memory" by returning a short count instead.
 */
typedef struct UsoCurlBuffer
{
	MemoryContext cxt;			/* where data lives */
	char	   *data;			/* always NUL-terminated */
	size_t		len;
	size_t		cap;
	size_t		limit;			/* most bytes accepted */
	bool		too_big;		/* a write went past limit */
	bool		out_of_memory;	/* growing failed */
} UsoCurlBuffer;

/* Makes an empty buffer in the current memory context. */
extern void UsoCurlBufferInit(UsoCurlBuffer *buf, size_t limit);

/* Empties a buffer (keeps its memory). */
extern void UsoCurlBufferReset(UsoCurlBuffer *buf);

/* Appends bytes; false (and a flag set) when over the limit or out of memory. */
extern bool UsoCurlBufferAppend(UsoCurlBuffer *buf, const char *bytes, size_t n);

/*
 * A new easy handle with the options every uso_tasks transfer needs: no
 * signals, an error buffer, cancel/terminate checks, no proxy from the
 * environment, the given protocols only.  Never returns NULL.
 */
extern CURL *UsoCurlEasyInit(char *errbuf, const char *protocols);

/*
 * Whether a cancel (statement_timeout included) or terminate request waits:
 * callbacks check it to stop a transfer without throwing inside libcurl.
 */
extern bool UsoCurlInterruptPending(void);

/*
 * After curl_easy_perform returned CURLE_ABORTED_BY_CALLBACK: lets a pending
 * cancel or terminate request throw its own error, else reports what was
 * interrupted.
 */
extern void UsoCurlInterrupted(const char *what) pg_attribute_noreturn();

/* The URL held by h for messages: no user name, password, query or fragment; cut. */
extern char *UsoCurlRedactedUrl(CURLU *h);

/* Milliseconds of a timeout interval argument (22023 unless positive). */
extern long UsoIntervalToTimeoutMs(const Interval *span, const char *argname);

/* Errors with 22023 when value holds CR, LF or NUL (header injection). */
extern void UsoCheckHeaderValue(const char *value, int len, const char *what);

#endif							/* USO_CURLUTIL_H */
