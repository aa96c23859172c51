/*-------------------------------------------------------------------------
 * shmem.h
 *	  Shared state of uso_tasks: scheduler slots and the run queue.
 *-------------------------------------------------------------------------
 */
#ifndef USO_SHMEM_H
#define USO_SHMEM_H

extern void UsoShmemInit(void);

#endif							/* USO_SHMEM_H */
