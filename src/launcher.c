/*-------------------------------------------------------------------------
 * launcher.c
 *	  The launcher worker.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "launcher.h"

void
UsoLauncherRegister(void)
{
}
