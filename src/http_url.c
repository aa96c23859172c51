/*-------------------------------------------------------------------------
 * http_url.c
 *	  Where the HTTP functions may go: URL parsing with libcurl's own parser,
 *	  the http/https scheme rule and the uso_tasks.http_allowed_hosts list.
 *
 * The parsed CURLU handle checked here is the one handed to the transfer
 * (CURLOPT_CURLU), so no difference between two URL parsers can make the
 * checked host differ from the host connected to.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <curl/curl.h>

#include "utils/formatting.h"

#include "uso_tasks.h"
#include "http_url.h"
#include "echo.h"

/* "GET" or "POST", for messages. */
const char *
UsoHttpMethodName(HttpMethod method)
{
	return method == HTTP_POST ? "POST" : "GET";
}

/*
 * Parses url (relative to base when given) with libcurl's parser.  Returns
 * NULL and the reason in *rc when it is not a URL; any scheme is accepted
 * here so that the caller can name a refused scheme precisely.
 */
CURLU *
UsoHttpParseUrl(const char *url, CURLU *base, CURLUcode *rc)
{
	CURLU	   *h = base ? curl_url_dup(base) : curl_url();

	if (h == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory parsing URL")));
	*rc = curl_url_set(h, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME);
	if (*rc != CURLUE_OK)
	{
		curl_url_cleanup(h);
		return NULL;
	}
	return h;
}

/* One part of a parsed URL, lower-cased, palloc'd; NULL when absent. */
static char *
UrlPart(CURLU *h, CURLUPart part, unsigned int flags)
{
	char	   *value = NULL;
	char	   *result;

	if (curl_url_get(h, part, &value, flags) != CURLUE_OK || value == NULL)
		return NULL;
	result = asc_tolower(value, strlen(value));
	curl_free(value);
	return result;
}

/* Host names compare without a final dot: "example.org." is "example.org". */
static void
StripFinalDot(char *host)
{
	size_t		len = strlen(host);

	if (len > 1 && host[len - 1] == '.')
		host[len - 1] = '\0';
}

/*
 * Whether host (lower-case, as libcurl parsed it; IPv6 in brackets) on port
 * is in uso_tasks.http_allowed_hosts.  Entries are "host" (any port),
 * "host:port", "[v6]" or "[v6]:port", or "*" for every host.  *host_listed
 * says whether the host is there with some other port, so that a refusal can
 * name what is wrong: the port, not the host.
 */
static bool
HostAllowed(const char *host, const char *port, bool *host_listed)
{
	const char *setting = uso_http_allowed_hosts ? uso_http_allowed_hosts : "";
	char	   *list = asc_tolower(setting, strlen(setting));
	char	   *save = NULL;

	*host_listed = false;
	for (char *entry = strtok_r(list, ",", &save); entry != NULL;
		 entry = strtok_r(NULL, ",", &save))
	{
		char	   *ehost;
		char	   *eport = NULL;
		char	   *end;
		char	   *colon;

		while (*entry == ' ' || *entry == '\t')
			entry++;
		end = entry + strlen(entry);
		while (end > entry && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		if (*entry == '\0')
			continue;
		if (strcmp(entry, "*") == 0)
			return true;

		if (entry[0] == '[')
		{
			char	   *close = strchr(entry, ']');

			if (close == NULL)
				continue;
			if (close[1] == ':')
				eport = close + 2;
			else if (close[1] != '\0')
				continue;
			close[1] = '\0';
			ehost = entry;
		}
		else if ((colon = strchr(entry, ':')) != NULL && strchr(colon + 1, ':') == NULL)
		{
			*colon = '\0';
			eport = colon + 1;
			ehost = entry;
		}
		else if (colon != NULL)
			ehost = psprintf("[%s]", entry);	/* a bare IPv6 address */
		else
			ehost = entry;

		StripFinalDot(ehost);
		if (strcmp(ehost, host) != 0)
			continue;
		*host_listed = true;
		if (eport == NULL || strtol(eport, NULL, 10) == strtol(port, NULL, 10))
			return true;
	}
	return false;
}

/*
 * Refuses, before anything is sent, a URL whose scheme is not http(s) or
 * whose host is not allowed.  redirected_to is the hop's URL when it came
 * from a Location header.
 */
void
UsoHttpCheckTarget(CURLU *h, HttpMethod method, const char *url, const char *redirected_to)
{
	char	   *scheme = UrlPart(h, CURLUPART_SCHEME, 0);
	char	   *host;
	char	   *port;
	bool		host_listed;

	if (scheme == NULL || (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0))
	{
		if (redirected_to)
			ereport(ERROR,
					(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
					 errmsg("HTTP %s %s redirected to unsupported URL scheme \"%s\"",
							UsoHttpMethodName(method), url, UsoEcho(scheme)),
					 errdetail("Only http and https URLs are followed.")));
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("URL scheme \"%s\" is not supported", UsoEcho(scheme)),
				 errdetail("Only http and https URLs can be requested.")));
	}

	host = UrlPart(h, CURLUPART_HOST, 0);
	if (host == NULL || host[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("URL \"%s\" has no host", redirected_to ? redirected_to : url)));
	StripFinalDot(host);
	port = UrlPart(h, CURLUPART_PORT, CURLU_DEFAULT_PORT);

	if (HostAllowed(host, port ? port : "0", &host_listed))
		return;
	if (host_listed)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("port %s of host \"%s\" is not allowed by uso_tasks.http_allowed_hosts",
						port ? port : "0", UsoEcho(host)),
				 redirected_to
				 ? errdetail("HTTP %s %s was redirected to %s; the redirect was not followed.",
							 UsoHttpMethodName(method), url, redirected_to)
				 : errdetail("HTTP %s %s was refused before connecting.",
							 UsoHttpMethodName(method), url),
				 errhint("The host is allowed on other ports only; a superuser can add a "
						 "host:port entry to uso_tasks.http_allowed_hosts.")));
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("host \"%s\" is not allowed by uso_tasks.http_allowed_hosts", UsoEcho(host)),
			 redirected_to
			 ? errdetail("HTTP %s %s was redirected to %s; the redirect was not followed.",
						 UsoHttpMethodName(method), url, redirected_to)
			 : errdetail("HTTP %s %s was refused before connecting.",
						 UsoHttpMethodName(method), url),
			 errhint("A superuser can add the host to uso_tasks.http_allowed_hosts "
					 "(a comma-separated list of host or host:port entries).")));
}

/* Whether two URLs have the same scheme, host and port. */
bool
UsoHttpSameOrigin(CURLU *a, CURLU *b)
{
	CURLUPart	parts[] = {CURLUPART_SCHEME, CURLUPART_HOST, CURLUPART_PORT};

	for (int i = 0; i < lengthof(parts); i++)
	{
		char	   *x = UrlPart(a, parts[i], CURLU_DEFAULT_PORT);
		char	   *y = UrlPart(b, parts[i], CURLU_DEFAULT_PORT);

		if (x == NULL || y == NULL || strcmp(x, y) != 0)
			return false;
	}
	return true;
}
