/*-------------------------------------------------------------------------
 * mail.c
 *	  uso_send_mail: a plain-text e-mail sent through uso_tasks.smtp_url with
 *	  libcurl's SMTP client.
 *
 * The message is built here as RFC 5322 text: From, To, Subject (RFC 2047
 * encoded when not plain ASCII), Date, Message-ID, MIME headers, and the body
 * in UTF-8 with CRLF line ends (quoted-printable when it is not short-lined
 * ASCII).  No argument may contain a line break, so no caller can add header
 * fields or recipients of their own.  libcurl does the SMTP dialogue and the
 * dot-stuffing.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <time.h>

#include <curl/curl.h>

#include "common/base64.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "uso_tasks.h"
#include "curlutil.h"
#include "echo.h"

/* One address: the addr-spec for the envelope, the form for the header. */
typedef struct MailAddress
{
	char	   *addr;			/* local@domain */
	char	   *header;			/* "Name <local@domain>" or "local@domain", encoded */
} MailAddress;

/* The message being uploaded by the read callback. */
typedef struct MailUpload
{
	const char *data;
	size_t		len;
	size_t		pos;
} MailUpload;

PG_FUNCTION_INFO_V1(uso_send_mail);
PG_FUNCTION_INFO_V1(uso_check_mail_to);

/* Whether s (len bytes) is all 7-bit ASCII. */
static bool
IsAscii(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
	{
		if (IS_HIGHBIT_SET(s[i]))
			return false;
	}
	return true;
}

/*
 * Appends an RFC 2047 "B" encoding of the UTF-8 string s: encoded words of
 * at most 75 characters, folded onto continuation lines, never splitting a
 * character between two words.
 */
static void
AppendEncodedWords(StringInfo out, const char *s)
{
	size_t		len = strlen(s);
	size_t		pos = 0;

	while (pos < len)
	{
		size_t		chunk = 0;
		char		b64[64 + 1];
		int			n;

		/* 45 bytes encode to 60 base64 characters: 72 with the markers */
		while (pos + chunk < len)
		{
			int			clen = pg_utf_mblen((const unsigned char *) s + pos + chunk);

			if (chunk + clen > 45)
				break;
			chunk += clen;
		}
		if (chunk == 0)			/* a malformed lead byte: take it alone */
			chunk = 1;
		n = pg_b64_encode(s + pos, (int) chunk, b64, sizeof(b64) - 1);
		if (n < 0)
			elog(ERROR, "could not encode mail header");
		b64[n] = '\0';
		if (pos > 0)
			appendStringInfoString(out, "\r\n ");
		appendStringInfo(out, "=?UTF-8?B?%s?=", b64);
		pos += chunk;
	}
}

/* Converts a server-encoded string to UTF-8 (as mail is sent). */
static char *
ToUtf8(const char *s)
{
	return pg_server_to_any(s, strlen(s), PG_UTF8);
}

/*
 * A display name for a header: as it is when it is a plain phrase, quoted
 * when it holds specials, RFC 2047 encoded when it is not ASCII.
 */
static void
AppendDisplayName(StringInfo out, const char *name)
{
	char	   *utf8 = ToUtf8(name);

	if (!IsAscii(utf8, strlen(utf8)))
	{
		AppendEncodedWords(out, utf8);
		return;
	}
	if (strpbrk(utf8, "()<>[]:;@\\,.\"") == NULL)
	{
		appendStringInfoString(out, utf8);
		return;
	}
	appendStringInfoChar(out, '"');
	for (const char *c = utf8; *c; c++)
	{
		if (*c == '"' || *c == '\\')
			appendStringInfoChar(out, '\\');
		appendStringInfoChar(out, *c);
	}
	appendStringInfoChar(out, '"');
}

/*
 * Whether addr is a usable addr-spec: one local part and one domain around
 * the last '@', no spaces, controls or characters that would end the address
 * in an SMTP command or a header.  Non-ASCII is passed on (SMTPUTF8).
 */
static bool
ValidAddrSpec(const char *addr)
{
	const char *at = strrchr(addr, '@');

	if (at == NULL || at == addr || at[1] == '\0')
		return false;
	for (const char *c = addr; *c; c++)
	{
		unsigned char uc = (unsigned char) *c;

		if (uc <= ' ' || uc == 0x7f || strchr("<>()[]\\,;:\"", uc) != NULL)
			return false;
	}
	return at == strchr(addr, '@');	/* exactly one '@' */
}

/*
 * Parses "local@domain", "<local@domain>" or "Name <local@domain>" (the name
 * optionally in double quotes).  what names the argument in errors.
 */
static MailAddress
ParseAddress(const char *text, const char *what)
{
	MailAddress result;
	char	   *s = pstrdup(text);
	char	   *end;
	char	   *lt;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';

	lt = strrchr(s, '<');
	if (lt != NULL)
	{
		char	   *name = s;
		char	   *nend = lt;
		StringInfoData header;

		if (end == s || end[-1] != '>')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid e-mail address \"%s\" in %s", UsoEcho(text), what),
					 errdetail("An address with a name is written Name <local@domain>.")));
		end[-1] = '\0';
		result.addr = pstrdup(lt + 1);
		while (nend > name && (nend[-1] == ' ' || nend[-1] == '\t'))
			nend--;
		*nend = '\0';
		if (nend - name >= 2 && name[0] == '"' && nend[-1] == '"')
		{
			/* an already quoted name: unquote, AppendDisplayName re-quotes */
			char	   *unq = palloc(nend - name);
			char	   *o = unq;

			for (char *c = name + 1; c < nend - 1; c++)
			{
				if (*c == '\\' && c + 1 < nend - 1)
					c++;
				*o++ = *c;
			}
			*o = '\0';
			name = unq;
		}
		initStringInfo(&header);
		if (name[0] != '\0')
		{
			AppendDisplayName(&header, name);
			appendStringInfoChar(&header, ' ');
		}
		appendStringInfo(&header, "<%s>", ToUtf8(result.addr));
		result.header = header.data;
	}
	else
	{
		result.addr = s;
		result.header = ToUtf8(s);
	}

	if (!ValidAddrSpec(result.addr))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid e-mail address \"%s\" in %s", UsoEcho(text), what)));
	result.addr = ToUtf8(result.addr);
	return result;
}

/*
 * Splits a comma-separated recipient list into addresses.  Commas inside a
 * quoted name or inside <...> do not split.  what names the list in errors.
 */
static List *
ParseRecipients(const char *list, const char *what)
{
	List	   *result = NIL;
	const char *start = list;
	bool		quoted = false;
	bool		angle = false;

	for (const char *c = list;; c++)
	{
		if (*c == '"' && (c == list || c[-1] != '\\'))
			quoted = !quoted;
		else if (*c == '<' && !quoted)
			angle = true;
		else if (*c == '>' && !quoted)
			angle = false;
		if (*c == '\0' || (*c == ',' && !quoted && !angle))
		{
			char	   *item = pnstrdup(start, c - start);
			char	   *end = item + strlen(item);

			while (*item == ' ' || *item == '\t')
				item++;
			while (end > item && (end[-1] == ' ' || end[-1] == '\t'))
				*--end = '\0';
			if (*item != '\0')
			{
				MailAddress *a = palloc(sizeof(MailAddress));

				*a = ParseAddress(item, what);
				result = lappend(result, a);
			}
			if (*c == '\0')
				break;
			start = c + 1;
		}
	}
	if (result == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must name at least one e-mail address", what)));
	return result;
}

/*
 * uso_check_mail_to(list text, what text): errors (22023, naming the first
 * bad address, cut) unless list is a recipient list uso_send_mail accepts.
 * The task's alert_mail_to is checked when it is written: an address found
 * bad only at delivery would be retried for ever.
 */
Datum
uso_check_mail_to(PG_FUNCTION_ARGS)
{
	char	   *list;
	const char *what = PG_ARGISNULL(1) ? "recipient" : text_to_cstring(PG_GETARG_TEXT_PP(1));

	if (PG_ARGISNULL(0))
		PG_RETURN_VOID();
	list = text_to_cstring(PG_GETARG_TEXT_PP(0));
	for (const char *c = list; *c; c++)
		if ((unsigned char) *c < 0x20 || *c == 0x7F)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s must not contain control characters", what),
					 errdetail("Character 0x%02X at byte %d.", (unsigned char) *c, (int) (c - list) + 1)));
	(void) ParseRecipients(list, what);
	PG_RETURN_VOID();
}

/*
 * Appends the body in UTF-8 with CRLF line ends: 7bit when it is ASCII with
 * lines of at most 998 octets (RFC 5322's limit), else quoted-printable.
 * Returns the Content-Transfer-Encoding used.
 */
static const char *
AppendBody(StringInfo out, const char *body)
{
	char	   *utf8 = ToUtf8(body);
	StringInfoData crlf;
	bool		plain;
	int			linelen = 0;
	const char *c;

	/* normalise CRLF, CR and LF to CRLF, and end with one */
	initStringInfo(&crlf);
	for (c = utf8; *c; c++)
	{
		if (*c == '\r' || *c == '\n')
		{
			appendStringInfoString(&crlf, "\r\n");
			if (c[0] == '\r' && c[1] == '\n')
				c++;
		}
		else
			appendStringInfoChar(&crlf, *c);
	}
	if (crlf.len < 2 || strcmp(crlf.data + crlf.len - 2, "\r\n") != 0)
		appendStringInfoString(&crlf, "\r\n");

	plain = IsAscii(crlf.data, crlf.len);
	for (c = crlf.data; plain && *c; c++)
	{
		linelen = (*c == '\n') ? 0 : linelen + 1;
		if (linelen > 998)
			plain = false;
	}
	if (plain)
	{
		appendBinaryStringInfo(out, crlf.data, crlf.len);
		return "7bit";
	}

	/* RFC 2045 quoted-printable, output lines of at most 76 characters */
	linelen = 0;
	for (c = crlf.data; *c; c++)
	{
		unsigned char uc = (unsigned char) *c;
		char		enc[4];
		int			enclen;

		if (c[0] == '\r' && c[1] == '\n')
		{
			appendStringInfoString(out, "\r\n");
			linelen = 0;
			c++;
			continue;
		}
		if ((uc >= 33 && uc <= 126 && uc != '=') ||
			((uc == ' ' || uc == '\t') && !(c[1] == '\r' && c[2] == '\n')))
		{
			enc[0] = (char) uc;
			enclen = 1;
		}
		else
		{
			snprintf(enc, sizeof(enc), "=%02X", uc);
			enclen = 3;
		}
		if (linelen + enclen > 75)
		{
			appendStringInfoString(out, "=\r\n");
			linelen = 0;
		}
		appendBinaryStringInfo(out, enc, enclen);
		linelen += enclen;
	}
	return "quoted-printable";
}

/* An RFC 5322 date-time for now, in UTC (no locale-dependent names). */
static char *
MailDate(void)
{
	static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t		now = time(NULL);
	struct tm	tm;

	gmtime_r(&now, &tm);
	return psprintf("%s, %02d %s %04d %02d:%02d:%02d +0000",
					days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900,
					tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* A globally unique Message-ID in the sender's domain: <time.random@domain>. */
static char *
MakeMessageId(const char *sender_addr)
{
	const char *domain = strrchr(sender_addr, '@') + 1;
	uint8		rnd[8];

	if (!pg_strong_random(rnd, sizeof(rnd)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random Message-ID")));
	return psprintf("<%llx.%02x%02x%02x%02x%02x%02x%02x%02x@%s>",
					(unsigned long long) GetCurrentTimestamp(),
					rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7],
					domain);
}

/* libcurl read callback: hands out the message. */
static size_t
UploadCallback(char *buffer, size_t size, size_t nitems, void *userdata)
{
	MailUpload *up = (MailUpload *) userdata;
	size_t		n = Min(size * nitems, up->len - up->pos);

	memcpy(buffer, up->data + up->pos, n);
	up->pos += n;
	return n;
}

/* libcurl resources of one send, released in PG_FINALLY. */
typedef struct MailHandles
{
	CURL	   *curl;
	CURLU	   *url;
	struct curl_slist *rcpt;
} MailHandles;

/*
 * Hands the message to the SMTP server: envelope sender, one RCPT per
 * recipient (any refused recipient fails the whole send, so nothing goes
 * out half-addressed), then DATA.  Resources go into hd for the caller to
 * release.
 */
static void
SmtpTransfer(MailHandles *hd, const char *sender, List *recipients,
			 const StringInfo message)
{
	char		errbuf[CURL_ERROR_SIZE];
	MailUpload	up = {message->data, message->len, 0};
	char	   *shown;
	char	   *scheme = NULL;
	ListCell   *lc;
	CURLcode	rc;

	hd->url = curl_url();
	if (hd->url == NULL ||
		curl_url_set(hd->url, CURLUPART_URL, uso_smtp_url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
		curl_url_get(hd->url, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
		(strcmp(scheme, "smtp") != 0 && strcmp(scheme, "smtps") != 0))
	{
		curl_free(scheme);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("uso_tasks.smtp_url is not an smtp:// or smtps:// URL")));
	}
	curl_free(scheme);
	shown = UsoCurlRedactedUrl(hd->url);

	foreach(lc, recipients)
	{
		struct curl_slist *appended;
		char	   *line = psprintf("<%s>", ((MailAddress *) lfirst(lc))->addr);

		appended = curl_slist_append(hd->rcpt, line);
		if (appended == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory building the recipient list")));
		hd->rcpt = appended;
	}

	hd->curl = UsoCurlEasyInit(errbuf, "smtp,smtps");
	curl_easy_setopt(hd->curl, CURLOPT_CURLU, hd->url);
	/* STARTTLS when the server offers it; smtps:// for TLS always */
	curl_easy_setopt(hd->curl, CURLOPT_USE_SSL, (long) CURLUSESSL_TRY);
	curl_easy_setopt(hd->curl, CURLOPT_MAIL_FROM, psprintf("<%s>", sender));
	curl_easy_setopt(hd->curl, CURLOPT_MAIL_RCPT, hd->rcpt);
	curl_easy_setopt(hd->curl, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(hd->curl, CURLOPT_READFUNCTION, UploadCallback);
	curl_easy_setopt(hd->curl, CURLOPT_READDATA, &up);
	curl_easy_setopt(hd->curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t) message->len);
	curl_easy_setopt(hd->curl, CURLOPT_TIMEOUT_MS, (long) uso_http_timeout_ms);

	rc = curl_easy_perform(hd->curl);
	if (rc == CURLE_ABORTED_BY_CALLBACK)
		UsoCurlInterrupted(psprintf("sending mail through %s", shown));
	if (rc == CURLE_OPERATION_TIMEDOUT)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("sending mail through %s timed out after %d ms",
						shown, uso_http_timeout_ms)));
	if (rc != CURLE_OK)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("sending mail through %s failed: %s", shown, curl_easy_strerror(rc)),
				 errbuf[0] ? errdetail("%s", errbuf) : 0));
}

/* SmtpTransfer with every libcurl resource released, error or not. */
static void
SmtpSend(const char *sender, List *recipients, const StringInfo message)
{
	MailHandles *hd = palloc0(sizeof(MailHandles));

	PG_TRY();
	{
		SmtpTransfer(hd, sender, recipients, message);
	}
	PG_FINALLY();
	{
		if (hd->curl)
			curl_easy_cleanup(hd->curl);
		if (hd->url)
			curl_url_cleanup(hd->url);
		curl_slist_free_all(hd->rcpt);
	}
	PG_END_TRY();
}

/* A required text argument as a C string, or a 22004 error naming it. */
static char *
RequiredArg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", name)));
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

/*
 * uso_send_mail(recipient, subject, body, sender) returns text: sends one
 * plain-text message to every address of the comma-separated recipient list
 * and returns its Message-ID (with the angle brackets, as in the header).
 * sender defaults to uso_tasks.smtp_from.
 */
Datum
uso_send_mail(PG_FUNCTION_ARGS)
{
	char	   *recipient = RequiredArg(fcinfo, 0, "recipient");
	char	   *subject = RequiredArg(fcinfo, 1, "subject");
	char	   *body = RequiredArg(fcinfo, 2, "body");
	char	   *sender_text;
	MailAddress sender;
	List	   *recipients;
	StringInfoData msg;
	char	   *message_id;
	char	   *subject8;
	ListCell   *lc;
	const char *cte;
	StringInfoData body_part;

	sender_text = PG_ARGISNULL(3) ? uso_smtp_from : text_to_cstring(PG_GETARG_TEXT_PP(3));
	if (sender_text == NULL || sender_text[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no sender address: uso_tasks.smtp_from is empty"),
				 errhint("Pass sender, or set uso_tasks.smtp_from.")));

	/* refuse anything that could start a header line of its own */
	UsoCheckHeaderValue(recipient, strlen(recipient), "recipient");
	UsoCheckHeaderValue(subject, strlen(subject), "subject");
	UsoCheckHeaderValue(sender_text, strlen(sender_text), "sender");
	recipients = ParseRecipients(recipient, "recipient");
	sender = ParseAddress(sender_text, "sender");

	if (uso_smtp_url == NULL || uso_smtp_url[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("uso_tasks.smtp_url is not set"),
				 errhint("A superuser can set it, e.g. ALTER SYSTEM SET uso_tasks.smtp_url = "
						 "'smtp://mail.example.org:25'; SELECT pg_reload_conf();")));

	message_id = MakeMessageId(sender.addr);
	initStringInfo(&msg);
	appendStringInfo(&msg, "Date: %s\r\n", MailDate());
	appendStringInfo(&msg, "From: %s\r\n", sender.header);
	appendStringInfoString(&msg, "To: ");
	foreach(lc, recipients)
	{
		if (lc != list_head(recipients))
			appendStringInfoString(&msg, ",\r\n ");
		appendStringInfoString(&msg, ((MailAddress *) lfirst(lc))->header);
	}
	appendStringInfoString(&msg, "\r\nSubject: ");
	subject8 = ToUtf8(subject);
	if (IsAscii(subject8, strlen(subject8)) && strlen(subject8) <= 900 &&
		strstr(subject8, "=?") == NULL)
		appendStringInfoString(&msg, subject8);
	else
		AppendEncodedWords(&msg, subject8);
	appendStringInfo(&msg, "\r\nMessage-ID: %s\r\n", message_id);
	appendStringInfoString(&msg, "MIME-Version: 1.0\r\n"
						   "Content-Type: text/plain; charset=utf-8\r\n"
						   "Auto-Submitted: auto-generated\r\n");
	initStringInfo(&body_part);
	cte = AppendBody(&body_part, body);
	appendStringInfo(&msg, "Content-Transfer-Encoding: %s\r\n\r\n", cte);
	appendBinaryStringInfo(&msg, body_part.data, body_part.len);

	SmtpSend(sender.addr, recipients, &msg);
	PG_RETURN_TEXT_P(cstring_to_text(message_id));
}
