/*-------------------------------------------------------------------------
 * version.h
 *	  The catalog version this library speaks, and the check that the
 *	  database's catalog (pg_extension.extversion) is that version.
 *-------------------------------------------------------------------------
 */
#ifndef USO_VERSION_H
#define USO_VERSION_H

/*
 * The extension version whose catalog this library reads and writes.  Bump
 * it with every release that changes the catalog (and write the update
 * script): a library and a catalog of different versions never work together.
 */
#define USO_CATALOG_VERSION "0.2"

/*
 * The catalog version of uso_tasks in the current database (palloc'd), or
 * NULL when the extension is not there.  Needs a transaction.
 */
extern char *UsoInstalledVersion(void);

/* True when the installed catalog is the one this library speaks. */
extern bool UsoCatalogVersionMatches(const char **installed);

/*
 * Errors out when the catalog and the library are out of step, saying what
 * to run; for the SQL functions that read or write the catalog.
 */
extern void UsoRequireCatalogVersion(void);

struct UsoSchedulerSlot;

/* The scheduler waits here until the catalog matches (false: exit). */
extern bool UsoAwaitCatalogVersion(struct UsoSchedulerSlot *slot);

#endif							/* USO_VERSION_H */
