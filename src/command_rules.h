/*-------------------------------------------------------------------------
 * command_rules.h
 *	  What a task's command may contain (see command_rules.c).
 *-------------------------------------------------------------------------
 */
#ifndef USO_COMMAND_RULES_H
#define USO_COMMAND_RULES_H

#include "nodes/pg_list.h"

/*
 * Raises 22023 when the parsed command (a list of RawStmt) uses transaction
 * control, or has several statements and one of them cannot run inside a
 * transaction block.  Call it before running the first statement.
 */
extern void UsoCheckCommandRules(List *parsetrees);

/* PostgreSQL's name for a statement refused in a transaction block, or NULL. */
extern const char *UsoTopLevelOnlyName(Node *stmt);

#endif							/* USO_COMMAND_RULES_H */
