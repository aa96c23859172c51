/*-------------------------------------------------------------------------
 * catalog.c
 *	  Shared helpers for reading and writing the uso_tasks tables.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_authid.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/rel.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "catalog.h"

static char *schema_cache = NULL;

/* pg_extension.extnamespace of our extension (get_extension_schema is static). */
static Oid
ExtensionSchemaOid(Oid extoid)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			nsp = InvalidOid;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(extoid));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
		nsp = ((Form_pg_extension) GETSTRUCT(tup))->extnamespace;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return nsp;
}

const char *
UsoCatalogSchema(void)
{
	Oid			extoid;
	char	   *name;

	if (schema_cache != NULL)
		return schema_cache;
	extoid = get_extension_oid("uso_tasks", true);
	if (!OidIsValid(extoid))
		return NULL;
	name = get_namespace_name(ExtensionSchemaOid(extoid));
	if (name == NULL)
		return NULL;
	schema_cache = MemoryContextStrdup(TopMemoryContext, quote_identifier(name));
	return schema_cache;
}

int
UsoPinSearchPath(void)
{
	int			nestlevel = NewGUCNestLevel();

	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}

void
UsoUnpinSearchPath(int nestlevel)
{
	AtEOXact_GUC(false, nestlevel);
}

void
UsoBecomeSuperuser(UsoSuperSave *save)
{
	GetUserIdAndSecContext(&save->userid, &save->sec_context);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID,
						   save->sec_context | SECURITY_LOCAL_USERID_CHANGE);
	save->guc_nestlevel = UsoPinSearchPath();
}

void
UsoRestoreUser(const UsoSuperSave *save)
{
	UsoUnpinSearchPath(save->guc_nestlevel);
	SetUserIdAndSecContext(save->userid, save->sec_context);
}
