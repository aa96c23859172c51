/*-------------------------------------------------------------------------
 * uso_tasks.h
 *	  Settings and entry points shared by the parts of uso_tasks.
 *-------------------------------------------------------------------------
 */
#ifndef USO_TASKS_H
#define USO_TASKS_H

#include "postgres.h"

/*
 * The schema of the engine's internals (sql/schema/uso_tasks.sql): only the
 * extension's owner may create in it, so a call into it cannot be captured
 * by an overload another role planted (docs/security.md).
 */
#define USO_PRIVATE_SCHEMA "_uso_tasks"

/* GUCs (uso_tasks.c) */
extern char *uso_timezone;
extern int	uso_max_workers;
extern int	uso_default_timeout_ms;
extern int	uso_max_log_lines;
extern int	uso_max_log_bytes;
extern int	uso_worker_idle_timeout_ms;
extern int	uso_timeout_grace_ms;
extern int	uso_max_workers_per_database;
extern int	uso_max_workers_per_role;
extern int	uso_run_retention_s;
extern bool uso_scheduler_enabled;
extern char *uso_http_allowed_hosts;
extern int	uso_http_max_bytes;
extern int	uso_http_timeout_ms;
extern char *uso_smtp_url;
extern char *uso_smtp_from;

/* True when loaded through shared_preload_libraries (workers and shmem exist). */
extern bool uso_preloaded;

/* Utility hook (hooks.c). */
extern void UsoHooksInstall(void);

/* Warnings raised inside the task API lose our context (api_errors.c). */
extern void UsoApiErrorsInstallHook(void);

/* Errors out with a hint when the library was not preloaded. */
extern void UsoRequirePreload(void);

/* The uso_tasks.timezone setting resolved, or the server's time zone. */
extern struct pg_tz *UsoDefaultTimezone(void);

#endif							/* USO_TASKS_H */
