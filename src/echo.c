/*-------------------------------------------------------------------------
 * echo.c
 *	  Values quoted back in messages.
 *
 * An error that quotes its input whole lets one bad call write megabytes to
 * the server log and to a run's record (a 10 MB URL made a 10 MB log line),
 * and quotes secrets (a webhook token, an SMTP password) to whoever reads
 * the message.  Every message that quotes a caller's value goes through
 * UsoEcho, every URL through UsoEchoUrl.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <curl/curl.h>

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include "echo.h"

PG_FUNCTION_INFO_V1(uso_redact_url);

char *
UsoCut(const char *value, int max_bytes)
{
	size_t		len;
	int			valid;
	int			clip;

	if (value == NULL)
		return pstrdup("");
	len = strlen(value);
	valid = (int) Min(len, (size_t) max_bytes + MAX_MULTIBYTE_CHAR_LEN);
	valid = pg_encoding_verifymbstr(GetDatabaseEncoding(), value, valid);
	clip = pg_mbcliplen(value, valid, max_bytes);
	if ((size_t) clip == len)
		return pstrdup(value);
	return psprintf("%.*s...", clip, value);
}

char *
UsoEchoN(const char *value, int max_bytes)
{
	size_t		len;
	int			valid;
	int			clip;
	StringInfoData buf;

	if (value == NULL)
		return pstrdup("");
	len = strlen(value);
	/* Only the head is looked at: a 1 GB value costs no more than a short one. */
	valid = (int) Min(len, (size_t) max_bytes + MAX_MULTIBYTE_CHAR_LEN);
	/* Bytes that are not valid in the encoding end the quote. */
	valid = pg_encoding_verifymbstr(GetDatabaseEncoding(), value, valid);
	clip = pg_mbcliplen(value, valid, max_bytes);

	initStringInfo(&buf);
	for (int i = 0; i < clip; i++)
	{
		unsigned char c = (unsigned char) value[i];

		if (c < 0x20 || c == 0x7F)
			appendStringInfo(&buf, "\\x%02X", c);
		else if (c == '"' || c == '\\')
			appendStringInfo(&buf, "\\%c", c);
		else
			appendStringInfoChar(&buf, (char) c);
	}
	if ((size_t) clip < len)
		appendStringInfoString(&buf, "...");
	return buf.data;
}

char *
UsoEchoUrl(const char *url, bool hide_path)
{
	CURLU	   *h = curl_url();
	char	   *scheme = NULL;
	char	   *host = NULL;
	char	   *port = NULL;
	char	   *path = NULL;
	char	   *query = NULL;
	char	   *result;
	StringInfoData buf;

	if (url != NULL && strlen(url) > 64 * 1024)
	{
		curl_url_cleanup(h);
		return psprintf("(URL of %zu bytes)", strlen(url));
	}
	if (h == NULL || url == NULL ||
		curl_url_set(h, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
		curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
		curl_url_get(h, CURLUPART_HOST, &host, 0) != CURLUE_OK)
	{
		curl_free(scheme);
		curl_url_cleanup(h);
		return pstrdup("(URL)");
	}
	curl_url_get(h, CURLUPART_PORT, &port, 0);
	curl_url_get(h, CURLUPART_PATH, &path, 0);
	curl_url_get(h, CURLUPART_QUERY, &query, 0);

	initStringInfo(&buf);
	appendStringInfo(&buf, "%s://%s", scheme, host);
	if (port != NULL)
		appendStringInfo(&buf, ":%s", port);
	if (path != NULL && strcmp(path, "/") != 0 && path[0] != '\0')
		appendStringInfoString(&buf, hide_path ? "/..." : path);
	if (query != NULL && query[0] != '\0')
		appendStringInfoString(&buf, "?...");
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_free(query);
	curl_url_cleanup(h);

	result = UsoEcho(buf.data);
	pfree(buf.data);
	return result;
}

/* SQL: uso_redact_url(url text) RETURNS text, for the views (uso_alerts). */
Datum
uso_redact_url(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(UsoEchoUrl(text_to_cstring(PG_GETARG_TEXT_PP(0)), true)));
}
