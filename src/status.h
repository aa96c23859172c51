/*-------------------------------------------------------------------------
 * status.h
 *	  Scheduler status (uso_scheduler_status) and the warning the API gives
 *	  when no scheduler will run what it queues.
 *-------------------------------------------------------------------------
 */
#ifndef USO_STATUS_H
#define USO_STATUS_H

/* WARNING (with what to do) when this database's scheduler is not running. */
extern void UsoWarnScheduler(void);

/* Operations settings (alerts.c), defined with the others at load. */
extern void UsoDefineOperationsSettings(void);

#endif							/* USO_STATUS_H */
