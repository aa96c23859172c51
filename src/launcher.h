/*-------------------------------------------------------------------------
 * launcher.h
 *	  The postmaster-registered worker that starts one scheduler per database.
 *-------------------------------------------------------------------------
 */
#ifndef USO_LAUNCHER_H
#define USO_LAUNCHER_H

extern void UsoLauncherRegister(void);

#endif							/* USO_LAUNCHER_H */
