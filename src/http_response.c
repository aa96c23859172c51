/*-------------------------------------------------------------------------
 * http_response.c
 *	  The response side of the HTTP functions (http.c): the header block of a
 *	  hop parsed into names and values under the caps, and the body turned
 *	  into text of the database encoding, whatever charset the server named.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "lib/stringinfo.h"
#include "utils/formatting.h"
#include "utils/hsearch.h"

#include "uso_tasks.h"
#include "echo.h"
#include "http_response.h"

/*
 * Makes bytes from the network safe to store as text: header bytes that are
 * not valid in the database encoding become '?'.
 */
static char *
SanitizedText(const char *s, int len)
{
	char	   *result = pnstrdup(s, len);

	if (!pg_verifymbstr(result, len, true))
	{
		for (char *c = result; *c; c++)
		{
			if (IS_HIGHBIT_SET(*c))
				*c = '?';
		}
	}
	return result;
}

/* A header name seen in the response, and where its value is. */
typedef struct HeaderSeen
{
	char		name[USO_HTTP_MAX_HEADER_NAME];	/* lower case; the hash key */
	int			index;			/* into the values array */
} HeaderSeen;

/*
 * Splits the raw header block into lower-case names and values.  A repeated
 * header is joined into one value with ", " (RFC 9110's list form), so the
 * result is a plain JSON object of strings.  Linear in the size of the
 * block: names are found through a hash table and values grow in place.
 */
void
UsoHttpParseHeaders(const UsoCurlBuffer *raw, HttpResponse *resp)
{
	const char *p = raw->data;
	const char *stop = raw->data + raw->len;
	HASHCTL		ctl;
	HTAB	   *seen;
	StringInfoData *values;
	char	  **names;
	int			nvalues = 0;
	int			maxvalues = USO_HTTP_MAX_HEADER_LINES;
	StringInfo	last_value = NULL;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = USO_HTTP_MAX_HEADER_NAME;
	ctl.entrysize = sizeof(HeaderSeen);
	ctl.hcxt = CurrentMemoryContext;
	seen = hash_create("uso_tasks HTTP headers", 64, &ctl,
					   HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	values = palloc(sizeof(StringInfoData) * maxvalues);
	names = palloc(sizeof(char *) * maxvalues);

	while (p < stop)
	{
		const char *eol = memchr(p, '\n', stop - p);
		const char *end = eol ? eol : stop;
		const char *line = p;
		const char *colon;

		CHECK_FOR_INTERRUPTS();
		p = eol ? eol + 1 : stop;
		while (end > line && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if (end == line || (end - line >= 5 && strncmp(line, "HTTP/", 5) == 0))
			continue;
		if (*line == ' ' || *line == '\t')
		{
			/* obsolete line folding: continues the previous value */
			while (line < end && (*line == ' ' || *line == '\t'))
				line++;
			if (last_value != NULL)
			{
				appendStringInfoChar(last_value, ' ');
				appendStringInfoString(last_value, SanitizedText(line, end - line));
			}
			continue;
		}
		colon = memchr(line, ':', end - line);
		if (colon == NULL || colon == line || colon - line >= USO_HTTP_MAX_HEADER_NAME)
		{
			last_value = NULL;
			continue;
		}
		{
			char	   *name = SanitizedText(line, colon - line);
			const char *v = colon + 1;
			HeaderSeen *entry;
			bool		found;

			name = asc_tolower(name, strlen(name));
			while (v < end && (*v == ' ' || *v == '\t'))
				v++;
			entry = hash_search(seen, name, HASH_ENTER, &found);
			if (found)
			{
				last_value = &values[entry->index];
				appendStringInfoString(last_value, ", ");
			}
			else
			{
				/* Lines are capped while received, so this always fits. */
				if (nvalues == maxvalues)
					break;
				entry->index = nvalues;
				names[nvalues] = name;
				last_value = &values[nvalues++];
				initStringInfo(last_value);
			}
			appendStringInfoString(last_value, SanitizedText(v, end - v));
		}
	}

	resp->header_names = NIL;
	resp->header_values = NIL;
	for (int i = 0; i < nvalues; i++)
	{
		resp->header_names = lappend(resp->header_names, names[i]);
		resp->header_values = lappend(resp->header_values, values[i].data);
	}
	hash_destroy(seen);
}

/* The value of a response header (name in lower case), or NULL. */
const char *
UsoHttpResponseHeader(HttpResponse *resp, const char *name)
{
	ListCell   *nc,
			   *vc;

	forboth(nc, resp->header_names, vc, resp->header_values)
	{
		if (strcmp(lfirst(nc), name) == 0)
			return lfirst(vc);
	}
	return NULL;
}

/* The charset parameter of a Content-Type value as an encoding id, or -1. */
static int
CharsetEncoding(const char *content_type)
{
	const char *p;
	char	   *name;
	size_t		len;

	if (content_type == NULL)
		return -1;
	for (p = content_type; *p; p++)
	{
		if (pg_strncasecmp(p, "charset=", 8) == 0)
			break;
	}
	if (*p == '\0')
		return -1;
	p += 8;
	if (*p == '"')
		p++;
	len = strcspn(p, "\"; \t");
	name = pnstrdup(p, len);
	return pg_char_to_encoding(name);
}

/*
 * Stores the body as text in the database encoding: converted from the
 * response's declared charset when PostgreSQL knows it, else checked to be
 * valid as it is.  Binary bodies (NUL bytes, invalid sequences) are refused.
 */
void
UsoHttpBodyToText(HttpResponse *resp, HttpMethod method, const UsoCurlBuffer *body)
{
	int			enc = CharsetEncoding(UsoHttpResponseHeader(resp, "content-type"));
	int			dbenc = GetDatabaseEncoding();

	if (enc >= 0 && enc != dbenc)
	{
		if (!pg_verify_mbstr(enc, body->data, body->len, true))
			ereport(ERROR,
					(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
					 errmsg("HTTP %s %s returned a body that is not valid %s",
							UsoHttpMethodName(method), resp->url, pg_encoding_to_char(enc))));
		resp->body = pg_any_to_server(body->data, body->len, enc);
		resp->body_len = strlen(resp->body);
		return;
	}
	if (!pg_verifymbstr(body->data, body->len, true))
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("HTTP %s %s returned a body that is not valid %s",
						UsoHttpMethodName(method), resp->url, GetDatabaseEncodingName()),
				 errhint("Only text responses are supported; binary bodies cannot be returned.")));
	resp->body = body->data;
	resp->body_len = body->len;
}
