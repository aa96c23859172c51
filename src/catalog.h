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
	int			guc_nestlevel;	/* of the pinned search_path */
} UsoSuperSave;

/*
 * The extension's schema, quoted for SQL text (cached per process), or NULL
 * when the extension does not exist in this database.  Needs a transaction.
 */
extern const char *UsoCatalogSchema(void);

/*
 * Catalog writes of the engine are made as the bootstrap superuser, whatever
 * role the process runs as (tasks run as their owner, who may not write the
 * catalog), with search_path-proof SQL (everything schema-qualified).
 * UsoBecomeSuperuser also pins search_path to pg_catalog, pg_temp until
 * UsoRestoreUser: otherwise an unqualified operator such as "=" would be
 * looked up in whatever search_path the session has, which a task's owner
 * controls (SET search_path in the command, ALTER ROLE ... SET), and an
 * operator planted there would run as the superuser.
 */
extern void UsoBecomeSuperuser(UsoSuperSave *save);
extern void UsoRestoreUser(const UsoSuperSave *save);

/*
 * Pin search_path to pg_catalog, pg_temp for SQL the engine runs as the
 * caller; returns the GUC nest level to pass to UsoUnpinSearchPath.
 */
extern int	UsoPinSearchPath(void);
extern void UsoUnpinSearchPath(int nestlevel);

#endif							/* USO_CATALOG_H */
