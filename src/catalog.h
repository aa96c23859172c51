/*-------------------------------------------------------------------------
 * catalog.h
 *	  Access to the uso_tasks tables from C.
 *-------------------------------------------------------------------------
 */
#ifndef USO_CATALOG_H
#define USO_CATALOG_H

typedef struct UsoSuperSave
{
	Oid			userid;
	int			sec_context;
} UsoSuperSave;

/*
 * The extension's schema, quoted for SQL text (cached per process), or NULL
 * when the extension does not exist in this database.  Needs a transaction.
 */
extern const char *UsoCatalogSchema(void);
extern void UsoCatalogSchemaReset(void);

/*
 * Catalog writes of the engine are made as the bootstrap superuser, whatever
 * role the process runs as (tasks run as their owner, who may not write the
 * catalog), with search_path-proof SQL (everything schema-qualified).
 */
extern void UsoBecomeSuperuser(UsoSuperSave *save);
extern void UsoRestoreUser(const UsoSuperSave *save);

#endif							/* USO_CATALOG_H */
