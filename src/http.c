/*-------------------------------------------------------------------------
 * http.c
 *	  uso_http_get, uso_http_post and uso_http_get_json: HTTP through libcurl
 *	  for tasks, limited to the hosts in uso_tasks.http_allowed_hosts.
 *
 * Every hop of a request is checked before anything is sent: the URL is
 * parsed once with libcurl's own URL parser and the very same parsed handle
 * is given to the transfer (CURLOPT_CURLU), so the host we check is the host
 * libcurl connects to.  Redirects are followed here, not by libcurl, so each
 * Location is checked the same way.  Response size, header block and time
 * are capped, and cancel / statement_timeout stop a transfer (curlutil.c).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <curl/curl.h>

#include "access/htup_details.h"
#include "common/jsonapi.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "lib/stringinfo.h"
#include "utils/formatting.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "uso_tasks.h"
#include "curlutil.h"
#include "echo.h"
#include "http_response.h"
#include "http_url.h"

#define USO_HTTP_MAX_REDIRECTS 5
#define USO_HTTP_USER_AGENT "uso_tasks/0.1"


/* What the SQL caller asked for. */
typedef struct HttpRequest
{
	HttpMethod	method;
	const char *url;
	Jsonb	   *headers;		/* NULL when none */
	const char *body;			/* POST only */
	int			body_len;
	const char *content_type;	/* POST only; NULL sends none */
	long		timeout_ms;
} HttpRequest;

/* The raw header block of the last response, filled by HeaderCallback. */
typedef struct HeaderBlock
{
	UsoCurlBuffer buf;
	int			lines;
	bool		too_many;		/* more than USO_HTTP_MAX_HEADER_LINES */
} HeaderBlock;

/* libcurl resources, released in PG_FINALLY whatever happens. */
typedef struct HttpHandles
{
	CURL	   *curl;
	CURLU	   *origin;			/* the URL as given */
	CURLU	   *hop;			/* the URL being fetched */
	struct curl_slist *headers_all;
	struct curl_slist *headers_safe;	/* without credentials, for other origins */
} HttpHandles;

PG_FUNCTION_INFO_V1(uso_http_get);
PG_FUNCTION_INFO_V1(uso_http_post);
PG_FUNCTION_INFO_V1(uso_http_get_json);


/* curl_slist_append that keeps *list valid and errors when out of memory. */
static void
SlistAppend(struct curl_slist **list, const char *line)
{
	struct curl_slist *appended = curl_slist_append(*list, line);

	if (appended == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory building HTTP headers")));
	*list = appended;
}

/* RFC 9110 token characters: what a header name may consist of. */
static bool
IsTokenChar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c >= '0' && c <= '9') || strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/*
 * Headers whose value is a credential: sent to the URL's own origin only,
 * never to another host a redirect points at (as libcurl itself does).
 */
static bool
IsCredentialHeader(const char *name)
{
	return pg_strcasecmp(name, "authorization") == 0 ||
		pg_strcasecmp(name, "proxy-authorization") == 0 ||
		pg_strcasecmp(name, "cookie") == 0;
}

/* Adds "name: value" to the lists (an empty value needs libcurl's "name;"). */
static void
AddHeader(HttpHandles *hd, const char *name, const char *value)
{
	char	   *line = value[0] == '\0' ? psprintf("%s;", name) : psprintf("%s: %s", name, value);

	SlistAppend(&hd->headers_all, line);
	if (!IsCredentialHeader(name))
		SlistAppend(&hd->headers_safe, line);
	pfree(line);
}

/*
 * Turns the headers argument (a JSON object of string values) and the
 * defaults into libcurl header lists.  Headers given by the caller win over
 * the defaults (User-Agent, the content_type argument).
 */
static void
BuildHeaderLists(HttpRequest *req, HttpHandles *hd)
{
	bool		have_content_type = false;
	bool		have_user_agent = false;

	if (req->headers != NULL)
	{
		JsonbIterator *it;
		JsonbValue	v;
		JsonbIteratorToken tok;
		char	   *name = NULL;

		if (!JB_ROOT_IS_OBJECT(req->headers) || JB_ROOT_IS_SCALAR(req->headers))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("headers must be a JSON object of header names and string values")));

		it = JsonbIteratorInit(&req->headers->root);
		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			if (tok == WJB_KEY)
			{
				name = pnstrdup(v.val.string.val, v.val.string.len);
				if (name[0] == '\0')
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("HTTP header names must not be empty")));
				for (char *c = name; *c; c++)
				{
					if (!IsTokenChar(*c))
						ereport(ERROR,
								(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
								 errmsg("invalid HTTP header name \"%s\"", UsoEcho(name)),
								 errdetail("Header names consist of letters, digits and !#$%%&'*+-.^_`|~.")));
				}
			}
			else if (tok == WJB_VALUE)
			{
				char	   *value;
				char	   *what;

				if (v.type != jbvString)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("value of HTTP header \"%s\" must be a JSON string", UsoEcho(name))));
				what = psprintf("value of HTTP header \"%s\"", UsoEcho(name));
				UsoCheckHeaderValue(v.val.string.val, v.val.string.len, what);
				value = pnstrdup(v.val.string.val, v.val.string.len);
				AddHeader(hd, name, value);
				if (pg_strcasecmp(name, "content-type") == 0)
					have_content_type = true;
				if (pg_strcasecmp(name, "user-agent") == 0)
					have_user_agent = true;
			}
		}
	}

	if (!have_user_agent)
		AddHeader(hd, "User-Agent", USO_HTTP_USER_AGENT);
	/* No "Expect: 100-continue" wait before large bodies. */
	SlistAppend(&hd->headers_all, "Expect:");
	SlistAppend(&hd->headers_safe, "Expect:");
	if (req->method == HTTP_POST && !have_content_type)
	{
		if (req->content_type != NULL)
		{
			UsoCheckHeaderValue(req->content_type, strlen(req->content_type), "content_type");
			AddHeader(hd, "Content-Type", req->content_type);
		}
		else
		{
			/* Suppress libcurl's default application/x-www-form-urlencoded. */
			SlistAppend(&hd->headers_all, "Content-Type:");
			SlistAppend(&hd->headers_safe, "Content-Type:");
		}
	}
}

/* libcurl write callback: collects the body up to the size cap. */
static size_t
BodyCallback(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	size_t		n = size * nmemb;

	if (UsoCurlInterruptPending())
		return 0;
	return UsoCurlBufferAppend((UsoCurlBuffer *) userdata, ptr, n) ? n : 0;
}

/*
 * libcurl header callback: collects the header lines of the last response
 * (a status line starts a new one, e.g. after "100 Continue").
 */
static size_t
HeaderCallback(char *ptr, size_t size, size_t nitems, void *userdata)
{
	HeaderBlock *hb = (HeaderBlock *) userdata;
	size_t		n = size * nitems;

	if (UsoCurlInterruptPending())
		return 0;				/* a flood is stopped as it comes */
	if (n >= 5 && strncmp(ptr, "HTTP/", 5) == 0)
	{
		UsoCurlBufferReset(&hb->buf);
		hb->lines = 0;
	}
	if (++hb->lines > USO_HTTP_MAX_HEADER_LINES)
	{
		hb->too_many = true;
		return 0;
	}
	return UsoCurlBufferAppend(&hb->buf, ptr, n) ? n : 0;
}

/* Turns a failed curl_easy_perform into the matching SQL error. */
static void pg_attribute_noreturn()
ReportTransferError(CURLcode rc, const char *errbuf, HttpMethod method,
					HttpResponse *resp, const UsoCurlBuffer *body,
					const HeaderBlock *hb, long timeout_ms)
{
	const UsoCurlBuffer *headers = &hb->buf;

	/* A callback that saw a cancel stops the transfer with a write error. */
	if (rc == CURLE_ABORTED_BY_CALLBACK || UsoCurlInterruptPending())
		UsoCurlInterrupted(psprintf("HTTP %s %s", UsoHttpMethodName(method), resp->url));
	if (hb->too_many)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("HTTP response from %s has more than %d header lines",
						resp->url, USO_HTTP_MAX_HEADER_LINES)));
	if (headers->too_big)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("HTTP response headers from %s exceed %zu bytes",
						resp->url, headers->limit)));
	if (rc == CURLE_FILESIZE_EXCEEDED || body->too_big)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("HTTP response from %s exceeds uso_tasks.http_max_bytes (%zu bytes)",
						resp->url, body->limit)));
	if (body->out_of_memory || headers->out_of_memory)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory reading HTTP response from %s", resp->url)));
	if (rc == CURLE_OPERATION_TIMEDOUT)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("HTTP %s %s timed out after %ld ms",
						UsoHttpMethodName(method), resp->url, timeout_ms),
				 errhint("Pass a longer timeout, or raise uso_tasks.http_timeout.")));
	ereport(ERROR,
			(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
			 errmsg("HTTP %s %s failed: %s", UsoHttpMethodName(method), resp->url,
					curl_easy_strerror(rc)),
			 errbuf[0] ? errdetail("%s", errbuf) : 0));
}

/* True for the statuses whose Location is followed. */
static bool
IsRedirect(long status)
{
	return status == 301 || status == 302 || status == 303 ||
		status == 307 || status == 308;
}

/*
 * Runs the request, following up to USO_HTTP_MAX_REDIRECTS redirects, and
 * fills resp from the last response.  libcurl resources go into hd, for
 * HttpPerform to release.
 */
static void
HttpTransfer(HttpHandles *hd, HttpRequest *req, HttpResponse *resp)
{
	char		errbuf[CURL_ERROR_SIZE];
	UsoCurlBuffer body;
	HeaderBlock headers;
	CURLUcode	urc;
	HttpMethod	method = req->method;
	TimestampTz deadline;
	char	   *hop_url = NULL;

	UsoCurlBufferInit(&body, (size_t) uso_http_max_bytes);
	UsoCurlBufferInit(&headers.buf, Min((size_t) uso_http_max_bytes, USO_HTTP_MAX_HEADER_BYTES));
	headers.lines = 0;
	headers.too_many = false;

	hd->origin = UsoHttpParseUrl(req->url, NULL, &urc);
	if (hd->origin == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid URL \"%s\": %s", UsoEcho(req->url), curl_url_strerror(urc))));
	resp->url = UsoCurlRedactedUrl(hd->origin);
	/* all arguments are checked before the allow list is consulted */
	BuildHeaderLists(req, hd);
	UsoHttpCheckTarget(hd->origin, method, resp->url, NULL);

	hd->curl = UsoCurlEasyInit(errbuf, "http,https");
	curl_easy_setopt(hd->curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(hd->curl, CURLOPT_WRITEFUNCTION, BodyCallback);
	curl_easy_setopt(hd->curl, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(hd->curl, CURLOPT_HEADERFUNCTION, HeaderCallback);
	curl_easy_setopt(hd->curl, CURLOPT_HEADERDATA, &headers);
	curl_easy_setopt(hd->curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) body.limit);
	/* decoded bytes are what the size cap counts, so no gzip bombs */
	curl_easy_setopt(hd->curl, CURLOPT_ACCEPT_ENCODING, "");

	hd->hop = curl_url_dup(hd->origin);
	if (hd->hop == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory parsing URL")));
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), req->timeout_ms);

	for (int hops = 0;; hops++)
	{
		CURLcode	rc;
		long		status = 0;
		long		remaining_ms;
		const char *location;
		CURLU	   *next;

		if (hops > 0)
			UsoHttpCheckTarget(hd->hop, method, resp->url, hop_url);
		curl_easy_setopt(hd->curl, CURLOPT_CURLU, hd->hop);
		curl_easy_setopt(hd->curl, CURLOPT_HTTPHEADER,
						 UsoHttpSameOrigin(hd->origin, hd->hop) ? hd->headers_all : hd->headers_safe);
		if (method == HTTP_POST)
		{
			curl_easy_setopt(hd->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) req->body_len);
			curl_easy_setopt(hd->curl, CURLOPT_POSTFIELDS, req->body);
		}
		else
			curl_easy_setopt(hd->curl, CURLOPT_HTTPGET, 1L);

		remaining_ms = (long) ((deadline - GetCurrentTimestamp()) / 1000);
		if (remaining_ms <= 0)
			ReportTransferError(CURLE_OPERATION_TIMEDOUT, "", req->method, resp,
								&body, &headers, req->timeout_ms);
		curl_easy_setopt(hd->curl, CURLOPT_TIMEOUT_MS, remaining_ms);
		curl_easy_setopt(hd->curl, CURLOPT_CONNECTTIMEOUT_MS, remaining_ms);

		UsoCurlBufferReset(&body);
		UsoCurlBufferReset(&headers.buf);
		headers.lines = 0;
		headers.too_many = false;
		errbuf[0] = '\0';
		rc = curl_easy_perform(hd->curl);
		if (rc != CURLE_OK)
			ReportTransferError(rc, errbuf, req->method, resp, &body, &headers,
								req->timeout_ms);
		CHECK_FOR_INTERRUPTS();

		curl_easy_getinfo(hd->curl, CURLINFO_RESPONSE_CODE, &status);
		resp->status = (int) status;
		UsoHttpParseHeaders(&headers.buf, resp);
		location = UsoHttpResponseHeader(resp, "location");
		if (!IsRedirect(status) || location == NULL)
			break;

		if (hops == USO_HTTP_MAX_REDIRECTS)
			ereport(ERROR,
					(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
					 errmsg("HTTP %s %s was redirected more than %d times",
							UsoHttpMethodName(req->method), resp->url, USO_HTTP_MAX_REDIRECTS)));
		next = UsoHttpParseUrl(location, hd->hop, &urc);
		if (next == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
					 errmsg("HTTP %s %s was redirected to an invalid URL: %s",
							UsoHttpMethodName(req->method), resp->url, curl_url_strerror(urc)),
					 errdetail("Location: %s", UsoEcho(location))));
		/* the easy handle must never point at a freed URL handle */
		curl_easy_setopt(hd->curl, CURLOPT_CURLU, next);
		curl_url_cleanup(hd->hop);
		hd->hop = next;
		hop_url = UsoCurlRedactedUrl(next);
		/* as browsers and libcurl do: 303 always, 301/302 for POST, turn to GET */
		if (status == 303 || ((status == 301 || status == 302) && method == HTTP_POST))
			method = HTTP_GET;
	}
	UsoHttpBodyToText(resp, req->method, &body);
}

/* HttpTransfer with every libcurl resource released, error or not. */
static void
HttpPerform(HttpRequest *req, HttpResponse *resp)
{
	HttpHandles *hd = palloc0(sizeof(HttpHandles));

	PG_TRY();
	{
		HttpTransfer(hd, req, resp);
	}
	PG_FINALLY();
	{
		if (hd->curl)
			curl_easy_cleanup(hd->curl);
		if (hd->hop)
			curl_url_cleanup(hd->hop);
		if (hd->origin)
			curl_url_cleanup(hd->origin);
		curl_slist_free_all(hd->headers_all);
		curl_slist_free_all(hd->headers_safe);
	}
	PG_END_TRY();
}

/* The timeout argument in ms, or uso_tasks.http_timeout when it is NULL. */
static long
TimeoutArg(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		return uso_http_timeout_ms;
	return UsoIntervalToTimeoutMs(PG_GETARG_INTERVAL_P(argno), "timeout");
}

/* The response headers as a JSON object of strings. */
static Jsonb *
HeadersToJsonb(HttpResponse *resp)
{
	JsonbParseState *state = NULL;
	JsonbValue *result;
	ListCell   *nc,
			   *vc;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	forboth(nc, resp->header_names, vc, resp->header_values)
	{
		JsonbValue	k;
		JsonbValue	v;

		k.type = jbvString;
		k.val.string.val = lfirst(nc);
		k.val.string.len = strlen(lfirst(nc));
		v.type = jbvString;
		v.val.string.val = lfirst(vc);
		v.val.string.len = strlen(lfirst(vc));
		pushJsonbValue(&state, WJB_KEY, &k);
		pushJsonbValue(&state, WJB_VALUE, &v);
	}
	result = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(result);
}

/* Builds the uso_http_response row the SQL function returns. */
static Datum
ResponseDatum(FunctionCallInfo fcinfo, HttpResponse *resp)
{
	TupleDesc	tupdesc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("function returning uso_http_response called in a context "
						"that cannot accept a row")));
	tupdesc = BlessTupleDesc(tupdesc);
	values[0] = Int32GetDatum(resp->status);
	values[1] = JsonbPGetDatum(HeadersToJsonb(resp));
	values[2] = PointerGetDatum(cstring_to_text_with_len(resp->body, resp->body_len));
	return HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls));
}

/* Fills the parts of a request common to every function. */
static void
InitRequest(HttpRequest *req, HttpMethod method, FunctionCallInfo fcinfo,
			int headers_arg, int timeout_arg)
{
	memset(req, 0, sizeof(*req));
	req->method = method;
	req->url = text_to_cstring(PG_GETARG_TEXT_PP(0));
	req->headers = PG_ARGISNULL(headers_arg) ? NULL : PG_GETARG_JSONB_P(headers_arg);
	req->timeout_ms = TimeoutArg(fcinfo, timeout_arg);
}

/*
 * uso_http_get(url, headers, timeout) returns uso_http_response.
 * Any status is returned as a row, 404 and 500 included; only a transfer
 * that could not complete is an error.  A NULL url gives NULL.
 */
Datum
uso_http_get(PG_FUNCTION_ARGS)
{
	HttpRequest req;
	HttpResponse resp = {0};

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	InitRequest(&req, HTTP_GET, fcinfo, 1, 2);
	HttpPerform(&req, &resp);
	PG_RETURN_DATUM(ResponseDatum(fcinfo, &resp));
}

/*
 * uso_http_post(url, body, content_type, headers, timeout) returns
 * uso_http_response.  A NULL body sends an empty one; a NULL content_type
 * sends no Content-Type header.  A NULL url gives NULL.
 */
Datum
uso_http_post(PG_FUNCTION_ARGS)
{
	HttpRequest req;
	HttpResponse resp = {0};

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	InitRequest(&req, HTTP_POST, fcinfo, 3, 4);
	if (!PG_ARGISNULL(1))
	{
		text	   *body = PG_GETARG_TEXT_PP(1);

		req.body = VARDATA_ANY(body);
		req.body_len = VARSIZE_ANY_EXHDR(body);
	}
	else
		req.body = "";
	req.content_type = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	HttpPerform(&req, &resp);
	PG_RETURN_DATUM(ResponseDatum(fcinfo, &resp));
}

/*
 * uso_http_get_json(url, headers, timeout) returns jsonb: the body of a 2xx
 * response parsed as JSON (NULL for 204 No Content).  Any other status, and
 * a body that is not JSON, is an error naming the URL, so a task can use the
 * result directly.
 */
Datum
uso_http_get_json(PG_FUNCTION_ARGS)
{
	HttpRequest req;
	HttpResponse resp = {0};
	JsonLexContext *lex;
	JsonParseErrorType jerr;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	InitRequest(&req, HTTP_GET, fcinfo, 1, 2);
	HttpPerform(&req, &resp);

	if (resp.status < 200 || resp.status > 299)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("HTTP GET %s returned status %d", resp.url, resp.status),
				 resp.body_len > 0
				 ? errdetail("%.*s", pg_mbcharcliplen(resp.body, resp.body_len, 200), resp.body)
				 : 0));
	if (resp.status == 204)
		PG_RETURN_NULL();

	/* Check first so a parse error can name the URL (jsonb_in would not). */
	lex = makeJsonLexContextCstringLen(resp.body, resp.body_len, GetDatabaseEncoding(), true);
	jerr = pg_parse_json(lex, &nullSemAction);
	if (jerr != JSON_SUCCESS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("HTTP GET %s returned malformed JSON", resp.url),
				 errdetail("%s", UsoCut(json_errdetail(jerr, lex), USO_ECHO_MAX_BYTES))));
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(resp.body)));
}
