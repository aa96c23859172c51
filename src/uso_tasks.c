/*-------------------------------------------------------------------------
 * uso_tasks.c
 *	  Module entry point: settings, and the hooks that need preloading.
 *
 * The runtime (shared memory, launcher) only exists when the library is in
 * shared_preload_libraries.  Loaded any other way (CREATE EXTENSION without
 * preloading) the module still defines its settings so SHOW works, and the
 * install script refuses with a hint via uso_assert_preloaded().
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "uso_tasks.h"
#include "status.h"
#include "shmem.h"
#include "launcher.h"

PG_MODULE_MAGIC;

char	   *uso_timezone = NULL;
int			uso_max_workers = 8;
int			uso_default_timeout_ms = 3600 * 1000;
int			uso_max_log_lines = 1000;
int			uso_max_log_bytes = 64 * 1024;
int			uso_worker_idle_timeout_ms = 60 * 1000;
int			uso_timeout_grace_ms = 30 * 1000;
int			uso_max_workers_per_database = 0;
int			uso_max_workers_per_role = 0;
int			uso_run_retention_s = 30 * 86400;
static int	uso_max_chain_length = 100;
bool		uso_scheduler_enabled = true;
char	   *uso_http_allowed_hosts = NULL;
int			uso_http_max_bytes = 10 * 1024 * 1024;
int			uso_http_timeout_ms = 30 * 1000;
char	   *uso_smtp_url = NULL;
char	   *uso_smtp_from = NULL;

bool		uso_preloaded = false;

void		_PG_init(void);

static bool
check_uso_timezone(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || **newval == '\0')
		return true;
	if (pg_tzset(*newval) == NULL)
	{
		GUC_check_errdetail("Time zone \"%s\" is not known.", *newval);
		return false;
	}
	return true;
}

/* Settings fixed at server start exist only when preloaded (else FATAL). */
static void
DefinePostmasterSettings(void)
{
	DefineCustomIntVariable("uso_tasks.max_workers",
							"Most executor workers running tasks at once, all databases together.",
							"Also bounded by max_worker_processes.",
							&uso_max_workers, 8, 1, 256, PGC_POSTMASTER, 0,
							NULL, NULL, NULL);
}

static void
DefineSettings(void)
{
	DefineCustomStringVariable("uso_tasks.timezone",
							   "Time zone cron and time-of-day schedules are evaluated in.",
							   "Empty means the server's TimeZone. A task's own timezone overrides it.",
							   &uso_timezone, "", PGC_SIGHUP, 0,
							   check_uso_timezone, NULL, NULL);
	DefineCustomIntVariable("uso_tasks.default_timeout",
							"Statement timeout of a run whose task sets none; 0 means no limit.",
							NULL, &uso_default_timeout_ms, 3600 * 1000, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("uso_tasks.max_log_lines",
							"Most log lines stored per run; further lines are counted, not stored.",
							NULL, &uso_max_log_lines, 1000, 0, 1000000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("uso_tasks.worker_idle_timeout",
							"How long an idle executor worker waits for work before it exits.",
							NULL, &uso_worker_idle_timeout_ms, 60 * 1000, 100, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("uso_tasks.timeout_grace",
							"How long past its timeout a run that ignores cancel may go on before its worker is terminated.",
							NULL, &uso_timeout_grace_ms, 30 * 1000, 100, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("uso_tasks.max_workers_per_database",
							"Most executor workers the runs of one database may hold at once.",
							"0 means uso_tasks.max_workers less a quarter (at least 1), so other databases always find room.",
							&uso_max_workers_per_database, 0, 0, 256,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("uso_tasks.max_workers_per_role",
							"Most executor workers the tasks of one owner role may hold at once, all databases together.",
							"0 means half of uso_tasks.max_workers (at least 1), so other roles always find room.",
							&uso_max_workers_per_role, 0, 0, 256,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("uso_tasks.run_retention",
							"Age after which finished runs and their log lines are purged.",
							NULL, &uso_run_retention_s, 30 * 86400, 60, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	/* Read in SQL (uso_queue_follower); PGC_SUSET: no task lifts it. */
	DefineCustomIntVariable("uso_tasks.max_chain_length",
							"Most runs in one chain of tasks that follow tasks ('after <task>').",
							"The run that would be one more is recorded as skipped, with a message that says so.",
							&uso_max_chain_length, 100, 1, 10000,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("uso_tasks.enabled",
							 "Whether schedulers start scheduled runs (manual runs always work).",
							 NULL, &uso_scheduler_enabled, true, PGC_SIGHUP, 0,
							 NULL, NULL, NULL);
	DefineCustomStringVariable("uso_tasks.http_allowed_hosts",
							   "Comma-separated host names the HTTP functions may reach; empty allows none.",
							   "An entry '*' allows every host.",
							   &uso_http_allowed_hosts, "", PGC_SUSET, GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);
	DefineCustomIntVariable("uso_tasks.http_max_bytes",
							"Largest HTTP response body accepted.",
							NULL, &uso_http_max_bytes, 10 * 1024 * 1024, 1024, INT_MAX,
							PGC_SUSET, GUC_UNIT_BYTE, NULL, NULL, NULL);
	DefineCustomIntVariable("uso_tasks.http_timeout",
							"Longest an HTTP request may take when the call gives no timeout.",
							NULL, &uso_http_timeout_ms, 30 * 1000, 1, INT_MAX,
							PGC_SUSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomStringVariable("uso_tasks.smtp_url",
							   "SMTP server mail is sent through, e.g. smtp://127.0.0.1:2525.",
							   NULL, &uso_smtp_url, "", PGC_SUSET, GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("uso_tasks.smtp_from",
							   "Sender address of mail sent by tasks.",
							   NULL, &uso_smtp_from, "uso-tasks@localhost", PGC_SUSET, 0,
							   NULL, NULL, NULL);
	DefineCustomIntVariable("uso_tasks.max_log_bytes",
							"Most bytes of log lines stored per run; each line is also cut at 8 kB.",
							"Further lines are counted, not stored; a last line says how much was dropped.",
							&uso_max_log_bytes, 64 * 1024, 1024, 64 * 1024 * 1024,
							PGC_SIGHUP, GUC_UNIT_BYTE, NULL, NULL, NULL);
}

void
_PG_init(void)
{
	DefineSettings();
	UsoDefineOperationsSettings();
	if (process_shared_preload_libraries_in_progress)
		DefinePostmasterSettings();
	/* After every definition: reserving drops the placeholders of undefined ones. */
	MarkGUCPrefixReserved("uso_tasks");

	if (!process_shared_preload_libraries_in_progress)
		return;

	uso_preloaded = true;
	UsoShmemInit();
	UsoLauncherRegister();
	UsoHooksInstall();
	UsoApiErrorsInstallHook();
}

void
UsoRequirePreload(void)
{
	if (!uso_preloaded)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("uso_tasks must be loaded via shared_preload_libraries"),
				 errhint("Add uso_tasks to shared_preload_libraries in postgresql.conf "
						 "(shared_preload_libraries = 'uso_tasks') and restart the server.")));
}

/*
 * The time zone of tasks without their own: uso_tasks.timezone, else the
 * server's TimeZone as configured (its reset value), never a client's SET
 * TimeZone, so a session and the scheduler compute the same next run.
 */
pg_tz *
UsoDefaultTimezone(void)
{
	const char *server_tz;

	if (uso_timezone != NULL && uso_timezone[0] != '\0')
	{
		pg_tz	   *tz = pg_tzset(uso_timezone);

		if (tz != NULL)
			return tz;
	}
	server_tz = GetConfigOptionResetString("TimeZone");
	if (server_tz != NULL)
	{
		pg_tz	   *tz = pg_tzset(server_tz);

		if (tz != NULL)
			return tz;
	}
	return session_timezone;
}

PG_FUNCTION_INFO_V1(uso_assert_preloaded);

/*
 * Called first by the install script, so CREATE EXTENSION without
 * preloading fails with a hint instead of creating a scheduler that never runs.
 */
Datum
uso_assert_preloaded(PG_FUNCTION_ARGS)
{
	UsoRequirePreload();
	PG_RETURN_VOID();
}
