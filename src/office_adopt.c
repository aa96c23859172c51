/*-------------------------------------------------------------------------
 * office_adopt.c
 *	  After ALTER EXTENSION uso_tasks UPDATE: make the USO pack that
 *	  uso_tasks 0.1 installed as part of itself the extension uso_office.
 *
 * PostgreSQL runs no CREATE EXTENSION inside an extension script, so the
 * update script cannot install uso_office; the utility hook calls this right
 * after a successful ALTER EXTENSION uso_tasks UPDATE, in the same
 * transaction.  When schema uso is still a member of uso_tasks, it runs
 * CREATE EXTENSION uso_office VERSION '0.1' (the adopting version: it moves
 * the pack's objects, rows and all, from uso_tasks to uso_office) and then
 * ALTER EXTENSION uso_office UPDATE to the current version.  Anything that
 * fails aborts the whole ALTER, so a database is never left half-split.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "utils/builtins.h"

#include "catalog.h"
#include "office_adopt.h"
#include "shmem.h"

static void
AdoptOfficePack(void)
{
	bool		isnull;
	bool		pending;
	char	   *schema;
	int			nestlevel;

	/*
	 * This runs in the session of whoever ran ALTER EXTENSION (a superuser),
	 * under its search_path: a database default the database's owner set
	 * (ALTER DATABASE ... SET search_path = hers, pg_catalog) would put her
	 * operators before pg_catalog's (t/131_review_update_hook.pl).
	 */
	nestlevel = UsoPinSearchPath();
	SPI_connect();
	if (SPI_execute("SELECT pg_catalog.quote_ident(n.nspname), "
					"  EXISTS (SELECT FROM pg_catalog.pg_depend d "
					"          JOIN pg_catalog.pg_namespace s ON s.oid = d.objid "
					"          WHERE d.classid = 'pg_catalog.pg_namespace'::pg_catalog.regclass "
					"            AND s.nspname = 'uso' "
					"            AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass "
					"            AND d.refobjid = e.oid AND d.deptype = 'e') "
					"  AND NOT EXISTS (SELECT FROM pg_catalog.pg_extension o WHERE o.extname = 'uso_office') "
					"FROM pg_catalog.pg_extension e "
					"JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace "
					"WHERE e.extname = 'uso_tasks'", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "uso_tasks could not look for the USO pack");
	if (SPI_processed == 0)
	{
		SPI_finish();
		UsoUnpinSearchPath(nestlevel);
		return;
	}
	schema = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	pending = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	if (pending)
	{
		ereport(NOTICE,
				(errmsg("the USO task pack of uso_tasks 0.1 is now extension uso_office"),
				 errdetail("Its schema uso, with every row, and its 17 tasks, with their runs, are kept; "
						   "DROP EXTENSION uso_office removes them.")));
		if (SPI_execute(psprintf("CREATE EXTENSION uso_office VERSION '0.1' SCHEMA %s", schema),
						false, 0) != SPI_OK_UTILITY ||
			SPI_execute("ALTER EXTENSION uso_office UPDATE", false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "uso_tasks could not install uso_office over the USO pack");
	}
	SPI_finish();
	UsoUnpinSearchPath(nestlevel);
}

/*
 * After ALTER EXTENSION uso_tasks UPDATE: adopt the pack, and wake the
 * scheduler at commit, which may be waiting for this catalog version.
 */
void
UsoAfterUpdate(void)
{
	AdoptOfficePack();
	UsoWakeAtCommit(true, true);
}
