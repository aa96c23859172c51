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
#include "utils/acl.h"
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
 * that no longer exists.  Runs still queued are kept, scheduled ones too:
 * their slot's next_run_at was already advanced, so closing them would
 * lose the slot.  A queued @reboot run is closed only when this start
 * queues a new one (reboot_pending).
 */
void
StoreCloseInterrupted(int64 *live_ids, int n, bool reboot_pending)
{
	Oid			types[2] = {INT8ARRAYOID, BOOLOID};
	Datum		values[2];

	values[0] = SchedInt8Array(live_ids, n);
	values[1] = BoolGetDatum(reboot_pending);

	SchedBeginCatalogWork();
	SchedExec(psprintf("UPDATE %s.uso_task_run SET status = 'failed', "
				  "finished_at = pg_catalog.clock_timestamp(), "
				  "return_message = CASE WHEN status = 'running' THEN "
				  "'interrupted: the server or the uso_tasks scheduler stopped while this run "
				  "was in progress (crash, immediate shutdown, failover, or a DROP DATABASE that "
				  "failed after stopping it); it was not "
				  "run again' ELSE 'not started: the server restarted before a worker "
				  "picked this run up; the @reboot run of this start replaces it' END "
				  "WHERE finished_at IS NULL AND id <> ALL ($1) "
				  "AND (status = 'running' OR ($2 AND trigger = 'startup'))",
				  SchedSchema),
		 2, types, values, NULL);
	if (SPI_processed > 0)
		ereport(LOG,
				(errmsg("uso_tasks closed " UINT64_FORMAT " run(s) left open by a crash or restart",
						SPI_processed)));
	SchedEndCatalogWork();
}

/*
 * Whether role may CONNECT to database, remembered for the length of a load:
 * a million tasks of a few owners cost a few ACL checks.  The ACL is the one
 * the load's query read (columns 22-24: datacl, datdba, rolsuper), not the
 * syscache's: a REVOKE wakes the schedulers at commit before its cache
 * invalidations are sent, and the reload must see it.  Emptied by
 * StoreOpenTasks (a GRANT or REVOKE on a database makes every scheduler
 * reload, hooks.c).
 */
#define CONNECT_CACHE_SIZE	64

typedef struct ConnectCacheEntry
{
	Oid			roleid;
	Oid			dboid;
	bool		ok;
} ConnectCacheEntry;

static ConnectCacheEntry ConnectCache[CONNECT_CACHE_SIZE];

static bool
MayConnect(HeapTuple tup, TupleDesc desc, Oid roleid, Oid dboid)
{
	ConnectCacheEntry *e = &ConnectCache[(roleid * 31 + dboid) % CONNECT_CACHE_SIZE];

	if (e->roleid != roleid || e->dboid != dboid)
	{
		bool		acl_null;
		bool		isnull;
		Datum		d = SPI_getbinval(tup, desc, 22, &acl_null);
		Oid			datdba = DatumGetObjectId(SPI_getbinval(tup, desc, 23, &isnull));
		bool		rolsuper = DatumGetBool(SPI_getbinval(tup, desc, 24, &isnull));
		Acl		   *acl = acl_null ? acldefault(OBJECT_DATABASE, datdba) : DatumGetAclP(d);

		e->roleid = roleid;
		e->dboid = dboid;
		e->ok = rolsuper || aclmask(acl, roleid, datdba, ACL_CONNECT, ACLMASK_ANY) != 0;
	}
	return e->ok;
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
	{
		/* Bound by OID: a database that took the name over is another one (column 25). */
		d = SPI_getbinval(tup, desc, 25, &isnull);
		if (!isnull)
			return psprintf("database \"%s\", which the task was scheduled in, was dropped, and the "
							"database of that name now (OID %u) is another one: the task does not run "
							"in it; to run it there, its owner schedules it again naming that database",
							database, DatumGetObjectId(d));
		return psprintf("database \"%s\" does not exist (dropped?): the task cannot run", database);
	}
	if (!OidIsValid(*roleid))
		return psprintf("role \"%s\" does not exist (dropped?): the task cannot run", username);
	d = SPI_getbinval(tup, desc, 15, &isnull);
	if (isnull || !DatumGetBool(d))
		return psprintf("role \"%s\" cannot log in: uso_tasks workers connect as the task "
						"owner, which needs LOGIN", username);
	/* The write was checked for CONNECT (uso_task_validate): it was revoked since. */
	if (!MayConnect(tup, desc, *roleid, *dboid))
		return psprintf("CONNECT on database \"%s\" was revoked for role \"%s\": the task "
						"cannot run until it is granted again", database, username);
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

/*
 * Every task row of this scheduler, read in batches through a cursor: a
 * load of a million tasks never holds the whole result and its copies at
 * once next to the state (StoreOpenTasks, StoreNextTasks until it returns
 * 0, StoreCloseTasks, all in one transaction).
 */
#define STORE_TASK_BATCH	10000

static Portal TaskCursor = NULL;
static MemoryContext TaskBatchCxt = NULL;

void
StoreOpenTasks(void)
{
	Oid			types[2] = {OIDOID, INT4OID};
	Datum		values[2];

	values[0] = ObjectIdGetDatum(MyDatabaseId);
	values[1] = Int32GetDatum(uso_default_timeout_ms);

	MemSet(ConnectCache, 0, sizeof(ConnectCache));
	SchedBeginCatalogWork();
	TaskBatchCxt = AllocSetContextCreate(TopTransactionContext, "uso_tasks task rows",
										 ALLOCSET_DEFAULT_SIZES);
	TaskCursor = SPI_cursor_open_with_args(NULL, psprintf("SELECT t.id, t.name, t.schedule, COALESCE(t.timezone, ''), t.enabled, "
				  "t.next_run_at, t.last_run_at, t.overlap, t.misfire, t.max_retries, "
				  "(pg_catalog.date_part('epoch', t.retry_delay) * 1000000)::int8, "
				  "(pg_catalog.date_part('epoch', t.retry_after) * 1000000)::int8, "
				  "d.oid, r.oid, r.rolcanlogin, "
				  "COALESCE(d.datname, t.database, pg_catalog.current_database()), t.username, "
				  "CASE WHEN d.oid <> $1 THEN t.command END, "
				  "CASE WHEN d.oid <> $1 THEN t.config::text END, "
				  "(pg_catalog.date_part('epoch', COALESCE(t.timeout, "
				  "pg_catalog.make_interval(secs => $2::float8 / 1000))) * 1000)::int8, "
				  "t.schedule_anchor, d.datacl, d.datdba, r.rolsuper, "
				  "CASE WHEN d.oid IS NULL THEN (SELECT d2.oid FROM pg_catalog.pg_database d2 "
				  "WHERE d2.datname OPERATOR(pg_catalog.=) t.database) END "
				  "FROM %s.uso_task t "
				  /* By OID (issue 21): a rename is followed, a re-created name is not. */
				  "LEFT JOIN pg_catalog.pg_database d "
				  "ON d.oid = CASE WHEN t.database IS NULL THEN $1 ELSE t.database_oid END "
				  "LEFT JOIN pg_catalog.pg_roles r ON r.rolname = t.username",
				  SchedSchema), 2, types, values, NULL, true, CURSOR_OPT_NO_SCROLL);
	if (TaskCursor == NULL)
		elog(ERROR, "uso_tasks could not read the tasks");
}

/*
 * For every role with members: the login roles (not superusers) that may
 * SET ROLE to it, directly or through other roles, for the pool's fair
 * share (PoolAddActors).  Read with every load; a GRANT or REVOKE of a role
 * makes every scheduler load again (hooks.c).
 */
void
StoreReadActors(void)
{
	SchedBeginCatalogWork();
	PoolResetActors();
	if (SPI_execute("WITH RECURSIVE acts(owner, member) AS ("
					" SELECT a.roleid, a.member FROM pg_catalog.pg_auth_members a"
					" UNION"
					" SELECT x.owner, a.member FROM acts x"
					" JOIN pg_catalog.pg_auth_members a ON a.roleid OPERATOR(pg_catalog.=) x.member)"
					" SELECT x.owner, pg_catalog.array_agg(m.oid ORDER BY m.oid)"
					" FROM acts x JOIN pg_catalog.pg_authid m ON m.oid OPERATOR(pg_catalog.=) x.member"
					" AND m.rolcanlogin AND NOT m.rolsuper"
					" WHERE x.owner OPERATOR(pg_catalog.<>) x.member"
					" GROUP BY x.owner ORDER BY x.owner", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "uso_tasks could not read role memberships");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		bool		isnull;
		Oid			owner = DatumGetObjectId(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
		ArrayType  *arr = DatumGetArrayTypeP(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull));
		Datum	   *elems;
		int			nelems;
		Oid			actors[USO_MAX_ACTORS];

		deconstruct_array(arr, OIDOID, sizeof(Oid), true, TYPALIGN_INT, &elems, NULL, &nelems);
		for (int k = 0; k < nelems && k < USO_MAX_ACTORS; k++)
			actors[k] = DatumGetObjectId(elems[k]);
		PoolAddActors(owner, actors, Min(nelems, USO_MAX_ACTORS));
	}
	SchedEndCatalogWork();
}

/* The next batch of task rows (valid until the next call); 0 at the end. */
int
StoreNextTasks(SchedTaskRow **rows_out)
{
	MemoryContext cxt = TaskBatchCxt;
	SchedTaskRow *rows;
	int			n;

	MemoryContextReset(TaskBatchCxt);
	SPI_cursor_fetch(TaskCursor, true, STORE_TASK_BATCH);
	n = (int) SPI_processed;
	rows = MemoryContextAlloc(cxt, sizeof(SchedTaskRow) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		SchedTaskRow *row = &rows[i];
		char	   *overlap = SPI_getvalue(tup, desc, 8);
		char	   *misfire = SPI_getvalue(tup, desc, 9);
		char	   *problem;
		Datum		d;

		row->id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		row->name = SchedCopyText(cxt, tup, desc, 2);
		row->schedule_text = SchedCopyText(cxt, tup, desc, 3);
		row->tz_name = SchedCopyText(cxt, tup, desc, 4);
		row->enabled = DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull));
		row->stored_next = SchedGetTime(tup, desc, 6);
		row->last_start = SchedGetTime(tup, desc, 7);
		row->anchor = SchedGetTime(tup, desc, 21);
		row->overlap = strcmp(overlap, "parallel") == 0 ? OVERLAP_PARALLEL :
			strcmp(overlap, "queue") == 0 ? OVERLAP_QUEUE : OVERLAP_SKIP;
		row->misfire_skip = strcmp(misfire, "skip") == 0;
		row->max_retries = DatumGetInt32(SPI_getbinval(tup, desc, 10, &isnull));
		row->retry_delay_us = DatumGetInt64(SPI_getbinval(tup, desc, 11, &isnull));
		row->retry_after_us = DatumGetInt64(SPI_getbinval(tup, desc, 12, &isnull));
		problem = TaskProblem(tup, desc, &row->dboid, &row->roleid);
		row->problem = problem ? MemoryContextStrdup(cxt, problem) : NULL;
		row->command = SchedCopyTextOrNull(cxt, tup, desc, 18);
		row->config = SchedCopyTextOrNull(cxt, tup, desc, 19);
		d = SPI_getbinval(tup, desc, 20, &isnull);
		row->timeout_ms = isnull ? 0 : (int) Min(DatumGetInt64(d), (int64) INT_MAX);
		row->tz = row->tz_name[0] ? pg_tzset(row->tz_name) : NULL;
		if (row->tz == NULL)
			row->tz = UsoDefaultTimezone();
	}
	SPI_freetuptable(SPI_tuptable);
	*rows_out = rows;
	return n;
}

void
StoreCloseTasks(void)
{
	SPI_cursor_close(TaskCursor);
	TaskCursor = NULL;
	MemoryContextDelete(TaskBatchCxt);
	TaskBatchCxt = NULL;
	SchedEndCatalogWork();
}

static int
ReadRunRows(const char *sql, int nargs, Oid *types, Datum *values, StoreRunRow **rows_out)
{
	MemoryContext cxt = CurrentMemoryContext;
	StoreRunRow *rows;
	int			n;

	SchedBeginCatalogWork();
	SchedExec(sql, nargs, types, values, NULL);
	n = (int) SPI_processed;
	rows = MemoryContextAllocHuge(cxt, sizeof(StoreRunRow) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;

		rows[i].run_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		rows[i].task_id = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
		rows[i].attempt = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
		rows[i].due = SchedGetTime(tup, desc, 4);
		rows[i].trigger = SchedCopyText(cxt, tup, desc, 5);
	}
	SchedEndCatalogWork();
	*rows_out = rows;
	return n;
}

/* Every queued run row, in id order. */
int
StoreReadQueuedRuns(StoreRunRow **rows)
{
	return ReadRunRows(psprintf("SELECT id, task_id, attempt, COALESCE(scheduled_for, queued_at), "
								"trigger FROM %s.uso_task_run WHERE status = 'queued' ORDER BY id",
								SchedSchema), 0, NULL, NULL, rows);
}

/* The rows of the given runs (those adopted from a previous scheduler process). */
int
StoreReadRunTasks(int64 *run_ids, int n, StoreRunRow **rows)
{
	Oid			types[1] = {INT8ARRAYOID};
	Datum		values[1];

	if (n == 0)
	{
		*rows = NULL;
		return 0;
	}
	values[0] = SchedInt8Array(run_ids, n);
	return ReadRunRows(psprintf("SELECT id, task_id, attempt, COALESCE(scheduled_for, queued_at), "
								"trigger FROM %s.uso_task_run WHERE id = ANY ($1)", SchedSchema),
					   1, types, values, rows);
}

/*
 * How the given runs ended, as their rows say: a worker that died after its
 * end committed (in its session reset, or at the backstop's deadline) left
 * a finished row, and that, not the death, is how the run ended.  Runs
 * whose rows are still open are left out.
 */
int
StoreReadRunEnds(int64 *run_ids, int n, StoreRunEnd **ends)
{
	Oid			types[1] = {INT8ARRAYOID};
	Datum		values[1];
	MemoryContext cxt = CurrentMemoryContext;
	StoreRunEnd *rows;
	int			k;

	values[0] = SchedInt8Array(run_ids, n);
	SchedBeginCatalogWork();
	SchedExec(psprintf("SELECT id, status FROM %s.uso_task_run "
					   "WHERE id = ANY ($1) AND finished_at IS NOT NULL", SchedSchema),
			  1, types, values, NULL);
	k = (int) SPI_processed;
	rows = MemoryContextAlloc(cxt, sizeof(StoreRunEnd) * Max(k, 1));
	for (int i = 0; i < k; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *status = SPI_getvalue(tup, desc, 2);

		rows[i].run_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		rows[i].outcome = strcmp(status, "succeeded") == 0 ? SO_SUCCEEDED :
			strcmp(status, "cancelled") == 0 ? SO_CANCELLED :
			strcmp(status, "timed_out") == 0 ? SO_TIMED_OUT : SO_FAILED;
	}
	SchedEndCatalogWork();
	*ends = rows;
	return k;
}

/*
 * Queue the followers' runs that waited for their task row's lock
 * (uso_chain_pending, sql/install/96_chains.sql).  Returns how many still
 * wait: the caller tries again soon.
 */
int
StoreQueuePendingFollowers(void)
{
	int			left = 0;

	SchedBeginCatalogWork();
	SchedExec("SELECT " USO_PRIVATE_SCHEMA ".uso_queue_pending_followers()", 0, NULL, NULL, NULL);
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		left = isnull ? 0 : DatumGetInt32(d);
	}
	SchedEndCatalogWork();
	return left;
}

/*
 * Count the run ends queued in uso_run_outcome into uso_task_stats and
 * decide their alerts (uso_fold_outcomes, sql/install/95_operations.sql), in
 * a transaction of its own: the run ends themselves never write a shared
 * row.  The fold waits for no lock (another fold running makes it a no-op).
 * Returns how many run ends it counted: one batch at most.
 */
int
StoreFoldOutcomes(void)
{
	int			n = 0;

	SchedBeginCatalogWork();
	SchedExec("SELECT " USO_PRIVATE_SCHEMA ".uso_fold_outcomes()", 0, NULL, NULL, NULL);
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		n = isnull ? 0 : DatumGetInt32(d);
	}
	SchedEndCatalogWork();
	return n;
}
