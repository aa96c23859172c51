/*-------------------------------------------------------------------------
 * echo.h
 *	  Values quoted back in messages: cut short, control characters escaped,
 *	  secrets in URLs hidden (echo.c).
 *-------------------------------------------------------------------------
 */
#ifndef USO_ECHO_H
#define USO_ECHO_H

#include "postgres.h"

/* Most bytes of a value a message quotes (a URL, an address, a name). */
#define USO_ECHO_MAX_BYTES	100

/* Most bytes of a whole message, detail or hint the task API passes on. */
#define USO_ECHO_MESSAGE_MAX_BYTES	1000

/*
 * value cut to at most max_bytes bytes on a character boundary, "..." added
 * when cut (for a message's detail written by PostgreSQL or libcurl).
 */
extern char *UsoCut(const char *value, int max_bytes);

/*
 * value as a message may quote it: at most max_bytes bytes, cut on a
 * character boundary with "..." added, control characters, '"' and '\'
 * escaped (\xNN, \", \\).  Never NULL; palloc'd.
 */
extern char *UsoEchoN(const char *value, int max_bytes);

/* UsoEchoN with USO_ECHO_MAX_BYTES. */
#define UsoEcho(value) UsoEchoN((value), USO_ECHO_MAX_BYTES)

/*
 * A URL as a message may show it: user name and password left out, the
 * query replaced by "?...", the fragment dropped; hide_path also replaces
 * the path by "/..." (a webhook's token often lives there).  Cut as UsoEcho.
 * A text libcurl cannot parse as a URL shows as "(URL)".
 */
extern char *UsoEchoUrl(const char *url, bool hide_path);

#endif							/* USO_ECHO_H */
