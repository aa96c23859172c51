/*-------------------------------------------------------------------------
 * office_adopt.h
 *	  The USO pack of uso_tasks 0.1 becomes extension uso_office.
 *-------------------------------------------------------------------------
 */
#ifndef USO_OFFICE_ADOPT_H
#define USO_OFFICE_ADOPT_H

/*
 * After ALTER EXTENSION uso_tasks UPDATE: adopt the pack if it is there, and
 * wake the scheduler at commit.
 */
extern void UsoAfterUpdate(void);

#endif							/* USO_OFFICE_ADOPT_H */
