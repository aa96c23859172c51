/*-------------------------------------------------------------------------
 * curlutil.c
 *	  libcurl plumbing shared by the HTTP and mail functions: one-time global
 *	  initialisation, safe default options, interrupt handling, buffers that
 *	  callbacks can fill without throwing, and argument checks.
 *
 * libcurl calls back into us from inside curl_easy_perform; an ereport there
 * would longjmp through libcurl's frames and leave its state undefined.  So
 * nothing in a callback may throw: callbacks only set flags and return a
 * value that makes libcurl stop, and the caller turns the flags into errors.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "miscadmin.h"
#include "utils/memutils.h"

#include "curlutil.h"
#include "echo.h"

static bool curl_initialized = false;

/*
 * Called by libcurl during a transfer, at least about once a second even when
 * no data flows.  A non-zero return aborts the transfer with
 * CURLE_ABORTED_BY_CALLBACK; only cancel and terminate requests count, as the
 * other reasons for InterruptPending would not throw afterwards.
 */
bool
UsoCurlInterruptPending(void)
{
	return QueryCancelPending || ProcDiePending;
}

static int
UsoCurlProgress(void *clientp, curl_off_t dltotal, curl_off_t dlnow,
				curl_off_t ultotal, curl_off_t ulnow)
{
	return UsoCurlInterruptPending() ? 1 : 0;
}

/*
 * Prepares an empty buffer whose bytes live in the current memory context.
 * The limit is clamped so the contents always fit in a text datum.
 */
void
UsoCurlBufferInit(UsoCurlBuffer *buf, size_t limit)
{
	buf->cxt = CurrentMemoryContext;
	buf->cap = 1024;
	buf->data = MemoryContextAlloc(buf->cxt, buf->cap);
	buf->data[0] = '\0';
	buf->len = 0;
	buf->limit = Min(limit, (size_t) (MaxAllocSize - VARHDRSZ - 1));
	buf->too_big = false;
	buf->out_of_memory = false;
}

/* Forgets the contents, e.g. between the hops of a redirect chain. */
void
UsoCurlBufferReset(UsoCurlBuffer *buf)
{
	buf->len = 0;
	buf->data[0] = '\0';
	buf->too_big = false;
	buf->out_of_memory = false;
}

/*
 * Appends n bytes unless that would pass the limit.  Safe inside libcurl
 * callbacks: allocation failure is reported through the return value.
 */
bool
UsoCurlBufferAppend(UsoCurlBuffer *buf, const char *bytes, size_t n)
{
	if (n > buf->limit - buf->len)
	{
		buf->too_big = true;
		return false;
	}
	if (buf->len + n + 1 > buf->cap)
	{
		size_t		newcap = Max(buf->cap * 2, buf->len + n + 1);
		char	   *newdata;

		newcap = Min(newcap, buf->limit + 1);
		newdata = MemoryContextAllocExtended(buf->cxt, newcap, MCXT_ALLOC_NO_OOM);
		if (newdata == NULL)
		{
			buf->out_of_memory = true;
			return false;
		}
		memcpy(newdata, buf->data, buf->len);
		pfree(buf->data);
		buf->data = newdata;
		buf->cap = newcap;
	}
	memcpy(buf->data + buf->len, bytes, n);
	buf->len += n;
	buf->data[buf->len] = '\0';
	return true;
}

/*
 * Creates an easy handle configured the way every uso_tasks transfer needs:
 *  - CURLOPT_NOSIGNAL, because libcurl's SIGALRM-based DNS timeouts would
 *    clash with the backend's own SIGALRM (statement_timeout);
 *  - a progress callback so cancel, statement_timeout and terminate stop a
 *    transfer within about a second;
 *  - no proxy taken from the postmaster's environment, so where a request
 *    goes depends only on the URL the allow list was checked against;
 *  - only the named protocols, also for anything libcurl would follow.
 */
CURL *
UsoCurlEasyInit(char *errbuf, const char *protocols)
{
	CURL	   *curl;

	if (!curl_initialized)
	{
		CURLcode	rc = curl_global_init(CURL_GLOBAL_ALL);

		if (rc != CURLE_OK)
			ereport(ERROR,
					(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
					 errmsg("could not initialize libcurl: %s", curl_easy_strerror(rc))));
		curl_initialized = true;
	}

	curl = curl_easy_init();
	if (curl == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not create a libcurl handle")));

	errbuf[0] = '\0';
	if (curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
		curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf) != CURLE_OK ||
		curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L) != CURLE_OK ||
		curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, UsoCurlProgress) != CURLE_OK ||
		curl_easy_setopt(curl, CURLOPT_PROXY, "") != CURLE_OK ||
		curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, protocols) != CURLE_OK ||
		curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, protocols) != CURLE_OK)
	{
		curl_easy_cleanup(curl);
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("could not configure libcurl"),
				 errdetail("libcurl %s lacks a required option (7.85 or later is needed).",
						   curl_version_info(CURLVERSION_NOW)->version)));
	}
	return curl;
}

/*
 * The progress callback stopped a transfer because of a cancel or terminate
 * request: let it throw its usual error (canceling statement due to
 * statement timeout, ...).  Should interrupts be held off, the transfer is
 * still over, so say so with the cancel errcode.
 */
void
UsoCurlInterrupted(const char *what)
{
	CHECK_FOR_INTERRUPTS();
	ereport(ERROR,
			(errcode(ERRCODE_QUERY_CANCELED),
			 errmsg("%s was interrupted", what)));
}

/*
 * The URL of h as text for a message: without its user name, password and
 * fragment, its query shown as "?..." (API keys travel there), cut at
 * USO_ECHO_MAX_BYTES, so credentials in a URL never reach the server log or
 * a task's run record, and a 10 MB URL makes no 10 MB log line.
 */
char *
UsoCurlRedactedUrl(CURLU *h)
{
	CURLU	   *copy = curl_url_dup(h);
	char	   *url = NULL;
	char	   *query = NULL;
	char	   *result;

	if (copy == NULL)
		return pstrdup("(URL)");
	curl_url_set(copy, CURLUPART_USER, NULL, 0);
	curl_url_set(copy, CURLUPART_PASSWORD, NULL, 0);
	curl_url_set(copy, CURLUPART_FRAGMENT, NULL, 0);
	if (curl_url_get(copy, CURLUPART_QUERY, &query, 0) == CURLUE_OK && query != NULL)
		curl_url_set(copy, CURLUPART_QUERY, NULL, 0);
	if (curl_url_get(copy, CURLUPART_URL, &url, 0) != CURLUE_OK || url == NULL)
		result = pstrdup("(URL)");
	else
	{
		char	   *cut = UsoEcho(url);

		result = query != NULL ? psprintf("%s?...", cut) : cut;
	}
	curl_free(query);
	curl_free(url);
	curl_url_cleanup(copy);
	return result;
}

/*
 * Turns a timeout interval argument into milliseconds for libcurl.  A month
 * counts as 30 days.  Zero or negative is refused; anything longer than
 * INT_MAX ms (24 days) is clamped, statement_timeout being the real bound.
 */
long
UsoIntervalToTimeoutMs(const Interval *span, const char *argname)
{
	double		ms;

	ms = (double) span->time / 1000.0 +
		((double) span->day + (double) span->month * DAYS_PER_MONTH) * 86400000.0;
	if (ms <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a positive interval", argname)));
	if (ms < 1)
		return 1;
	if (ms > INT_MAX)
		return INT_MAX;
	return (long) ms;
}

/*
 * Header values (and the mail header fields built from arguments) must not
 * contain line breaks: a CR or LF would let the caller start a header of
 * their own, or a NUL would cut the value short where libcurl reads it.
 */
void
UsoCheckHeaderValue(const char *value, int len, const char *what)
{
	for (int i = 0; i < len; i++)
	{
		if (value[i] == '\r' || value[i] == '\n' || value[i] == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s must not contain line breaks", what)));
	}
}
