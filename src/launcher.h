/*-------------------------------------------------------------------------
 * launcher.h
 *	  The postmaster-registered worker that starts one scheduler per database.
 *-------------------------------------------------------------------------
 */
#ifndef USO_LAUNCHER_H
#define USO_LAUNCHER_H

#include "fmgr.h"

extern void UsoLauncherRegister(void);

extern PGDLLEXPORT void uso_launcher_main(Datum arg);

#endif							/* USO_LAUNCHER_H */
