/*-------------------------------------------------------------------------
 * http_response.h
 *	  What an HTTP response becomes for SQL (http_response.c): its header
 *	  block parsed and capped, its body as text in the database encoding.
 *-------------------------------------------------------------------------
 */
#ifndef USO_HTTP_RESPONSE_H
#define USO_HTTP_RESPONSE_H

#include "postgres.h"

#include "nodes/pg_list.h"

#include "curlutil.h"
#include "http_url.h"

/*
 * A response's header block (real ones have a few dozen lines) is capped so
 * that a flood costs no memory or time; longer header names are not kept.
 */
#define USO_HTTP_MAX_HEADER_BYTES (128 * 1024)
#define USO_HTTP_MAX_HEADER_LINES 1000
#define USO_HTTP_MAX_HEADER_NAME 256

/* What came back from the last hop. */
typedef struct HttpResponse
{
	char	   *url;			/* the request's URL, redacted, for messages */
	int			status;
	List	   *header_names;	/* lower-case, unique */
	List	   *header_values;	/* duplicates joined with ", " */
	char	   *body;			/* in the database encoding */
	int			body_len;
} HttpResponse;

/* The header block of the last hop into resp's names and values. */
extern void UsoHttpParseHeaders(const UsoCurlBuffer *raw, HttpResponse *resp);

/* The value of the (lower-case) header name, or NULL. */
extern const char *UsoHttpResponseHeader(HttpResponse *resp, const char *name);

/* The body into resp as text in the database encoding (errors if it is not text). */
extern void UsoHttpBodyToText(HttpResponse *resp, HttpMethod method, const UsoCurlBuffer *body);

#endif							/* USO_HTTP_RESPONSE_H */
