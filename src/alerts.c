/*-------------------------------------------------------------------------
 * alerts.c
 *	  Settings of the operations features (alerts, log lines) and the LOG
 *	  line of a finished run.
 *
 * The events themselves are decided in SQL (sql/install/95_operations.sql):
 * the trigger that sees every run end queues it in the transaction that
 * records the run, whoever writes it (executor, scheduler, uso_cancel()),
 * and the fold counts the queue and decides the alerts, off the run's path.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "uso_tasks.h"
#include "status.h"

PG_FUNCTION_INFO_V1(uso_log_run);

static char *uso_notify_events = NULL;
static char *uso_log_runs = NULL;
static char *uso_alert_mail_to = NULL;
static char *uso_alert_webhook_url = NULL;
static char *uso_admin_url = NULL;
static int	uso_alert_interval_s = 900;
static int	uso_alert_max_recipients = 10;
static int	uso_alert_max_per_role = 50;

static bool
check_one_of(char **newval, const char *const *allowed)
{
	for (int i = 0; allowed[i] != NULL; i++)
		if (strcmp(*newval, allowed[i]) == 0)
			return true;
	GUC_check_errdetail("Allowed values are none, failures and all.");
	return false;
}

static bool
check_levels(char **newval, void **extra, GucSource source)
{
	static const char *const allowed[] = {"none", "failures", "all", NULL};

	return check_one_of(newval, allowed);
}

void
UsoDefineOperationsSettings(void)
{
	/* PGC_SUSET: a task owner must not silence or redirect the alerts. */
	DefineCustomStringVariable("uso_tasks.notify_events",
							   "Which run ends are announced with NOTIFY on channel uso_task_events: none, failures, all.",
							   "failures: failures after the last retry, tasks gone missing, recoveries; all adds every finished run.",
							   &uso_notify_events, "failures", PGC_SUSET, 0,
							   check_levels, NULL, NULL);
	DefineCustomStringVariable("uso_tasks.log_runs",
							   "Which finished runs get a LOG line: none, failures, all.",
							   "failures: failed, timed-out and cancelled runs; all adds one line per finished run with its duration.",
							   &uso_log_runs, "failures", PGC_SUSET, 0,
							   check_levels, NULL, NULL);
	DefineCustomStringVariable("uso_tasks.alert_mail_to",
							   "Comma-separated addresses mailed about every task's failures, besides the task's own alert_mail_to.",
							   NULL, &uso_alert_mail_to, "", PGC_SUSET, 0,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("uso_tasks.alert_webhook_url",
							   "URL the JSON of every alert is POSTed to (host in uso_tasks.http_allowed_hosts); empty: none.",
							   NULL, &uso_alert_webhook_url, "", PGC_SUSET, GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("uso_tasks.admin_url",
							   "Link to a task's admin page put in alert mails; {task} is replaced by the task name.",
							   NULL, &uso_admin_url, "", PGC_SUSET, 0,
							   NULL, NULL, NULL);
	DefineCustomIntVariable("uso_tasks.alert_interval",
							"Least time between two alert mails (or webhook calls) about one task; events meanwhile are gathered into the next.",
							NULL, &uso_alert_interval_s, 900, 1, 7 * 86400,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("uso_tasks.alert_max_recipients",
							"Most addresses a task's alert_mail_to may name.",
							"A longer list is refused when written; one written before is cut to this many when mailed.",
							&uso_alert_max_recipients, 10, 1, 1000,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("uso_tasks.alert_max_per_role",
							"Most alerts the tasks of one owner raise per uso_tasks.alert_interval; later ones are kept as suppressed and not sent.",
							NULL, &uso_alert_max_per_role, 50, 1, 1000000,
							PGC_SUSET, 0, NULL, NULL, NULL);
}

static const char *
ArgOr(FunctionCallInfo fcinfo, int n, const char *dflt)
{
	return PG_ARGISNULL(n) ? dflt : text_to_cstring(PG_GETARG_TEXT_PP(n));
}

/*
 * uso_log_run(database, task, run_id, status, sqlstate, message, duration):
 * one line in the style of autovacuum's and pg_cron's, without the
 * trigger's CONTEXT (the line names everything already).
 */
Datum
uso_log_run(PG_FUNCTION_ARGS)
{
	const char *database = ArgOr(fcinfo, 0, "?");
	const char *task = ArgOr(fcinfo, 1, "?");
	int64		run_id = PG_ARGISNULL(2) ? 0 : PG_GETARG_INT64(2);
	const char *status = ArgOr(fcinfo, 3, "?");
	const char *sqlstate = ArgOr(fcinfo, 4, NULL);
	char	   *message = PG_ARGISNULL(5) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(5));
	char	   *nl;

	if (message != NULL && (nl = strchr(message, '\n')) != NULL)
		*nl = '\0';
	if (strcmp(status, "succeeded") == 0 || strcmp(status, "skipped") == 0)
	{
		if (PG_ARGISNULL(6))
			ereport(LOG,
					(errhidestmt(true), errhidecontext(true),
					 errmsg("uso_tasks: task \"%s\" in database \"%s\", run " INT64_FORMAT ": %s",
							task, database, run_id, status)));
		else
			ereport(LOG,
					(errhidestmt(true), errhidecontext(true),
					 errmsg("uso_tasks: task \"%s\" in database \"%s\", run " INT64_FORMAT ": %s in %.3f s",
							task, database, run_id, status, PG_GETARG_FLOAT8(6))));
	}
	else
		ereport(LOG,
				(errhidestmt(true), errhidecontext(true),
				 errmsg("uso_tasks: task \"%s\" in database \"%s\", run " INT64_FORMAT ": %s, SQLSTATE %s: %s",
						task, database, run_id, status, sqlstate ? sqlstate : "-",
						message ? message : "(no message)")));
	PG_RETURN_VOID();
}
