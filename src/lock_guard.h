/*-------------------------------------------------------------------------
 * lock_guard.h
 *	  Refusing table locks on the engine's tables that would stall others.
 *-------------------------------------------------------------------------
 */
#ifndef USO_LOCK_GUARD_H
#define USO_LOCK_GUARD_H

#include "nodes/parsenodes.h"

extern void UsoGuardLockStmt(LockStmt *stmt);

#endif							/* USO_LOCK_GUARD_H */
