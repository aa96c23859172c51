/*-------------------------------------------------------------------------
 * sched_store.c
 *	  The scheduler's catalog reads: tasks, queued runs, runs left open by a
 *	  crash, runs adopted from a previous scheduler process.
 *
 * The scheduler connects as the bootstrap superuser, so it sees every task
 * whatever its row-level security.  All SQL is schema-qualified.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "uso_tasks.h"
#include "catalog.h"
#include "sched.h"
#include "spi_plans.h"


const char *SchedSchema = NULL;

/*
 * Close what a crash or restart left open: runs marked running by a worker
 * that no longer exists, and scheduled runs never picked up.  Manual,
 * one-off and retry runs that never started are kept: they run now.
 */
void
StoreCloseInterrupted(List *live_run_ids)
{
	int			n = list_length(live_run_ids);
	int64	   *ids = palloc(sizeof(int64) * Max(n, 1));
	int			i = 0;
	ListCell   *lc;
	Oid			types[1] = {INT8ARRAYOID};
	Datum		values[1];

	foreach(lc, live_run_ids)
		ids[i++] = *(int64 *) lfirst(lc);
	values[0] = SchedInt8Array(ids, n);

	SchedBeginCatalogWork();
	SchedExec(psprintf("UPDATE %s.uso_task_run SET status = 'failed', "
				  "finished_at = pg_catalog.clock_timestamp(), "
				  "return_message = CASE WHEN status = 'running' THEN "
				  "'interrupted: the server or the uso_tasks scheduler stopped while this run "
				  "was in progress (crash, immediate shutdown, failover, or a DROP DATABASE that "
				  "failed after stopping it); it was not "
				  "run again' ELSE 'not started: the scheduler stopped before a worker "
				  "picked this run up; a catchup run replaces it' END "
				  "WHERE finished_at IS NULL AND id <> ALL ($1) "
				  "AND (status = 'running' OR trigger IN ('schedule', 'catchup', 'startup'))",
				  SchedSchema),
		 1, types, values, NULL);
	if (SPI_processed > 0)
		ereport(LOG,
				(errmsg("uso_tasks closed " UINT64_FORMAT " run(s) left open by a crash or restart",
						SPI_processed)));
	SchedEndCatalogWork();
}

/* Why a task cannot run at all, or NULL. */
static char *
TaskProblem(HeapTuple tup, TupleDesc desc, Oid *dboid, Oid *roleid)
{
	bool		isnull;
	char	   *database = SPI_getvalue(tup, desc, 16);
	char	   *username = SPI_getvalue(tup, desc, 17);
	Datum		d;

	d = SPI_getbinval(tup, desc, 13, &isnull);
	*dboid = isnull ? InvalidOid : DatumGetObjectId(d);
	d = SPI_getbinval(tup, desc, 14, &isnull);
	*roleid = isnull ? InvalidOid : DatumGetObjectId(d);
	if (!OidIsValid(*dboid))
		return psprintf("database \"%s\" does not exist (dropped?): the task cannot run", database);
	if (!OidIsValid(*roleid))
		return psprintf("role \"%s\" does not exist (dropped?): the task cannot run", username);
	d = SPI_getbinval(tup, desc, 15, &isnull);
	if (isnull || !DatumGetBool(d))
		return psprintf("role \"%s\" cannot log in: uso_tasks workers connect as the task "
						"owner, which needs LOGIN", username);
	if (*dboid != MyDatabaseId)
	{
		char	   *command = SPI_getvalue(tup, desc, 18);
		char	   *config = SPI_getvalue(tup, desc, 19);

		if (command == NULL || strlen(command) >= USO_REMOTE_COMMAND_LEN)
			return psprintf("the command of a task that runs in another database is limited "
							"to %d bytes", USO_REMOTE_COMMAND_LEN - 1);
		if (config != NULL && strlen(config) >= USO_REMOTE_CONFIG_LEN)
			return psprintf("the config of a task that runs in another database is limited "
							"to %d bytes", USO_REMOTE_CONFIG_LEN - 1);
	}
	return NULL;
}

void
StoreLoadTasks(TimestampTz now, bool first)
{
	Oid			types[2] = {OIDOID, INT4OID};
	Datum		values[2];

	values[0] = ObjectIdGetDatum(MyDatabaseId);
	values[1] = Int32GetDatum(uso_default_timeout_ms);

	SchedBeginCatalogWork();
	SchedExec(psprintf("SELECT t.id, t.name, t.schedule, COALESCE(t.timezone, ''), t.enabled, "
				  "t.next_run_at, t.last_run_at, t.overlap, t.misfire, t.max_retries, "
				  "(pg_catalog.date_part('epoch', t.retry_delay) * 1000000)::int8, "
				  "(pg_catalog.date_part('epoch', t.retry_after) * 1000000)::int8, "
				  "d.oid, r.oid, r.rolcanlogin, "
				  "COALESCE(t.database, pg_catalog.current_database()), t.username, "
				  "CASE WHEN d.oid <> $1 THEN t.command END, "
				  "CASE WHEN d.oid <> $1 THEN t.config::text END, "
				  "(pg_catalog.date_part('epoch', COALESCE(t.timeout, "
				  "pg_catalog.make_interval(secs => $2::float8 / 1000))) * 1000)::int8 "
				  "FROM %s.uso_task t "
				  "LEFT JOIN pg_catalog.pg_database d "
				  "ON d.datname = COALESCE(t.database, pg_catalog.current_database()) "
				  "LEFT JOIN pg_catalog.pg_roles r ON r.rolname = t.username",
				  SchedSchema), 2, types, values, NULL);

	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		SchedTask  *t;
		bool		found;
		bool		changed;
		char	   *schedule = SPI_getvalue(tup, desc, 3);
		char	   *tzname = SPI_getvalue(tup, desc, 4);
		bool		enabled = DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull));
		char	   *overlap = SPI_getvalue(tup, desc, 8);
		char	   *misfire = SPI_getvalue(tup, desc, 9);
		char		errbuf[USO_SCHEDULE_ERRBUF];

		t = hash_search(SchedTasks, &id, HASH_ENTER, &found);
		if (!found)
		{
			memset(((char *) t) + sizeof(int64), 0, sizeof(SchedTask) - sizeof(int64));
			t->heap_pos = -1;
			t->last_start = DT_NOBEGIN;
			t->next_run = DT_NOEND;
		}
		/* A new task keeps a stored next_run_at (computed when it was written). */
		changed = found && (strcmp(t->schedule_text, schedule) != 0 ||
							strcmp(t->tz_name, tzname) != 0 || t->enabled != enabled);
		if (found)
		{
			pfree(t->name);
			pfree(t->schedule_text);
			pfree(t->tz_name);
			if (t->problem)
				pfree(t->problem);
			if (t->command)
				pfree(t->command);
			if (t->config)
				pfree(t->config);
		}
		t->command = SchedCopyTextOrNull(tup, desc, 18);
		t->config = SchedCopyTextOrNull(tup, desc, 19);
		{
			Datum		d = SPI_getbinval(tup, desc, 20, &isnull);

			t->timeout_ms = isnull ? 0 : (int) Min(DatumGetInt64(d), (int64) INT_MAX);
		}
		t->seen = true;
		t->name = SchedCopyText(tup, desc, 2);
		t->schedule_text = MemoryContextStrdup(SchedContext, schedule);
		t->tz_name = MemoryContextStrdup(SchedContext, tzname);
		t->enabled = enabled;
		t->schedule_ok = UsoScheduleParse(schedule, &t->schedule, errbuf);
		t->tz = tzname[0] ? pg_tzset(tzname) : NULL;
		if (t->tz == NULL)
			t->tz = UsoDefaultTimezone();
		t->last_start = SchedGetTime(tup, desc, 7);
		t->overlap = strcmp(overlap, "parallel") == 0 ? OVERLAP_PARALLEL :
			strcmp(overlap, "queue") == 0 ? OVERLAP_QUEUE : OVERLAP_SKIP;
		t->misfire_skip = strcmp(misfire, "skip") == 0;
		t->max_retries = DatumGetInt32(SPI_getbinval(tup, desc, 10, &isnull));
		t->retry_delay_us = DatumGetInt64(SPI_getbinval(tup, desc, 11, &isnull));
		t->retry_after_us = DatumGetInt64(SPI_getbinval(tup, desc, 12, &isnull));
		t->problem = TaskProblem(tup, desc, &t->dboid, &t->roleid);
		if (t->problem)
			t->problem = MemoryContextStrdup(SchedContext, t->problem);
		else if (!t->schedule_ok)
			t->problem = MemoryContextStrdup(SchedContext,
											 psprintf("invalid schedule: %s", errbuf));
		SchedTaskLoaded(t, changed, SchedGetTime(tup, desc, 6), first, now);
	}
	SchedSweepUnseen();
	SchedEndCatalogWork();
}

void
StoreLoadQueuedRuns(void)
{
	HTAB	   *queued;
	HASHCTL		ctl;
	HASH_SEQ_STATUS seq;
	SchedRun   *run;
	List	   *gone = NIL;
	ListCell   *lc;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(int64);
	ctl.hcxt = CurrentMemoryContext;
	queued = hash_create("uso_tasks queued", 256, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	SchedBeginCatalogWork();
	SchedExec(psprintf("SELECT id, task_id, attempt, COALESCE(scheduled_for, queued_at), trigger "
				  "FROM %s.uso_task_run WHERE status = 'queued' ORDER BY id",
				  SchedSchema), 0, NULL, NULL, NULL);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));

		hash_search(queued, &id, HASH_ENTER, NULL);
		if (hash_search(SchedRuns, &id, HASH_FIND, NULL) == NULL)
			SchedAddRun(id,
						DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull)),
						DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull)),
						SchedGetTime(tup, desc, 4),
						SPI_getvalue(tup, desc, 5));
	}
	SchedEndCatalogWork();

	/* Waiting runs whose row is no longer queued were cancelled or deleted. */
	hash_seq_init(&seq, SchedRuns);
	while ((run = hash_seq_search(&seq)) != NULL)
	{
		if (!run->dispatched && hash_search(queued, &run->run_id, HASH_FIND, NULL) == NULL)
			gone = lappend(gone, run);
	}
	foreach(lc, gone)
		SchedForgetRun(((SchedRun *) lfirst(lc))->run_id);
	hash_destroy(queued);
}

/*
 * Runs adopted from a previous scheduler process (still executing) count
 * against their task's overlap rule once the tasks are loaded.
 */
void
StoreResolveAdopted(void)
{
	HASH_SEQ_STATUS seq;
	SchedRun   *run;
	int64	   *ids = palloc(sizeof(int64) * Max(hash_get_num_entries(SchedRuns), 1));
	int			n = 0;
	Oid			types[1] = {INT8ARRAYOID};
	Datum		values[1];

	hash_seq_init(&seq, SchedRuns);
	while ((run = hash_seq_search(&seq)) != NULL)
	{
		if (run->task_id == 0)
			ids[n++] = run->run_id;
	}
	if (n == 0)
		return;
	values[0] = SchedInt8Array(ids, n);
	SchedBeginCatalogWork();
	SchedExec(psprintf("SELECT id, task_id FROM %s.uso_task_run WHERE id = ANY ($1)", SchedSchema),
		 1, types, values, NULL);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int64		run_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		int64		task_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
		SchedTask  *t = SchedLookupTask(task_id);

		run = hash_search(SchedRuns, &run_id, HASH_FIND, NULL);
		if (run == NULL)
			continue;
		run->task_id = task_id;
		if (t != NULL)
		{
			run->counted = true;
			t->active++;
			t->running++;
			t->active_run = run_id;
		}
	}
	SchedEndCatalogWork();
}
