/*-------------------------------------------------------------------------
 * version.c
 *	  Library and catalog in step.
 *
 * The .so and the catalog are installed separately: `make install` or a
 * package upgrade replaces the library, and only ALTER EXTENSION uso_tasks
 * UPDATE brings each database's catalog along (or, after a package
 * downgrade, the catalog is newer than the library).  A library that wrote a
 * catalog of another version could corrupt it, so the scheduler waits and the
 * C functions that touch the catalog refuse, both saying what to run, until
 * pg_extension.extversion equals USO_CATALOG_VERSION.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "commands/dbcommands.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "shmem.h"
#include "version.h"

PG_FUNCTION_INFO_V1(uso_library_version);

/* "0.10" > "0.9": versions compare as dot-separated numbers. */
static int
CompareVersions(const char *a, const char *b)
{
	while (*a || *b)
	{
		long		x = strtol(a, (char **) &a, 10);
		long		y = strtol(b, (char **) &b, 10);

		if (x != y)
			return x < y ? -1 : 1;
		if (*a == '.')
			a++;
		if (*b == '.')
			b++;
		if (!isdigit((unsigned char) *a) && !isdigit((unsigned char) *b))
			return strcmp(a, b);
	}
	return 0;
}

/* What to run: ALTER for an older catalog, the matching library for a newer one. */
static int
CatalogHint(const char *installed, const char *dbname)
{
	if (CompareVersions(installed, USO_CATALOG_VERSION) < 0)
		return errhint("Run ALTER EXTENSION uso_tasks UPDATE in %s%s%s.",
					   dbname ? "database \"" : "this database", dbname ? dbname : "",
					   dbname ? "\"" : "");
	return errhint("The catalog is newer than the library: install uso_tasks %s and restart "
				   "PostgreSQL (a catalog is never downgraded).", installed);
}

char *
UsoInstalledVersion(void)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	char	   *version = NULL;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum("uso_tasks"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, Anum_pg_extension_extversion,
									 RelationGetDescr(rel), &isnull);

		if (!isnull)
			version = text_to_cstring(DatumGetTextPP(d));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return version;
}

bool
UsoCatalogVersionMatches(const char **installed)
{
	char	   *version = UsoInstalledVersion();

	if (installed)
		*installed = version;
	/* No extension: nothing to be out of step with (callers say so). */
	return version == NULL || strcmp(version, USO_CATALOG_VERSION) == 0;
}

void
UsoRequireCatalogVersion(void)
{
	const char *installed;

	if (!UsoCatalogVersionMatches(&installed))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("uso_tasks catalog version %s does not match the library's version %s",
						installed, USO_CATALOG_VERSION),
				 errdetail("Tasks are not scheduled or run in this database until the two match."),
				 CatalogHint(installed, NULL)));
}

/* uso_library_version() returns text: the catalog version this library speaks. */
Datum
uso_library_version(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(USO_CATALOG_VERSION));
}

/*
 * The scheduler's gate: returns true once the catalog is the version this
 * library speaks, false when the scheduler should exit (extension dropped,
 * stop requested).  Until then it logs once what to run and waits, woken by
 * a catalog change (ALTER EXTENSION wakes it at commit) or every 10 s.
 */
bool
UsoAwaitCatalogVersion(UsoSchedulerSlot *slot)
{
	bool		logged = false;
	char	   *dbname;

	StartTransactionCommand();
	dbname = MemoryContextStrdup(TopMemoryContext, get_database_name(MyDatabaseId));
	CommitTransactionCommand();
	for (;;)
	{
		char	   *installed;
		bool		stop;

		CHECK_FOR_INTERRUPTS();
		LWLockAcquire(UsoShared->lock, LW_EXCLUSIVE);
		stop = slot->stop_requested;
		slot->catalog_changed = false;
		LWLockRelease(UsoShared->lock);
		if (stop)
			return false;

		StartTransactionCommand();
		installed = UsoInstalledVersion();
		if (installed == NULL || strcmp(installed, USO_CATALOG_VERSION) == 0)
		{
			bool		found = installed != NULL;

			CommitTransactionCommand();
			if (logged && found)
				ereport(LOG,
						(errmsg("uso_tasks catalog of database \"%s\" is now version %s: scheduling resumes",
								dbname, USO_CATALOG_VERSION)));
			return found;
		}
		if (!logged)
			ereport(LOG,
					(errmsg("uso_tasks scheduler of database \"%s\" waits: its catalog is version %s, the library speaks %s",
							dbname, installed, USO_CATALOG_VERSION),
					 errdetail("No task is scheduled or run in this database until the two match; the catalog is not written."),
					 CatalogHint(installed, dbname)));
		logged = true;
		CommitTransactionCommand();
		pgstat_report_activity(STATE_IDLE, NULL);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 10000L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
