/*-------------------------------------------------------------------------
 * http_url.h
 *	  URL checks of the HTTP functions (http_url.c).
 *-------------------------------------------------------------------------
 */
#ifndef USO_HTTP_URL_H
#define USO_HTTP_URL_H

#include "postgres.h"

#include <curl/curl.h>

typedef enum HttpMethod
{
	HTTP_GET,
	HTTP_POST
} HttpMethod;

/* "GET" or "POST", for messages. */
extern const char *UsoHttpMethodName(HttpMethod method);

/* url parsed (relative to base when given); NULL and *rc when not a URL. */
extern CURLU *UsoHttpParseUrl(const char *url, CURLU *base, CURLUcode *rc);

/*
 * Errors unless h is an http(s) URL whose host is allowed by
 * uso_tasks.http_allowed_hosts (42501).  url is the request's URL for
 * messages, redirected_to the hop's URL when h came from a Location header.
 */
extern void UsoHttpCheckTarget(CURLU *h, HttpMethod method, const char *url,
							   const char *redirected_to);

/* Whether two URLs have the same scheme, host and port. */
extern bool UsoHttpSameOrigin(CURLU *a, CURLU *b);

#endif							/* USO_HTTP_URL_H */
