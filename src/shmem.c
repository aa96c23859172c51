/*-------------------------------------------------------------------------
 * shmem.c
 *	  Shared state of uso_tasks.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "shmem.h"

void
UsoShmemInit(void)
{
}
