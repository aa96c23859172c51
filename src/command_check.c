/*-------------------------------------------------------------------------
 * command_check.c
 *	  uso_command_missing(command): the first function or procedure a task's
 *	  command calls that does not exist, for the admin view's 'missing'
 *	  status (Waldur's "Task not found in registry").
 *
 * Only the names are checked (any argument count), and only in the current
 * database; a command that does not parse is not 'missing' (its run fails
 * with the syntax error, which says more).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "fmgr.h"
#include "nodes/nodeFuncs.h"
#include "nodes/parsenodes.h"
#include "parser/parser.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(uso_command_missing);

typedef struct MissingContext
{
	char	   *missing;
} MissingContext;

static bool
FunctionExists(List *funcname)
{
	FuncCandidateList c;

	c = FuncnameGetCandidates(funcname, -1, NIL, false, false, false, true);
	return c != NULL;
}

static bool
find_missing_walker(Node *node, void *context)
{
	MissingContext *cxt = (MissingContext *) context;

	if (node == NULL || cxt->missing != NULL)
		return false;
	if (IsA(node, FuncCall))
	{
		FuncCall   *fc = (FuncCall *) node;

		if (!FunctionExists(fc->funcname))
		{
			cxt->missing = NameListToString(fc->funcname);
			return true;
		}
	}
	return raw_expression_tree_walker(node, find_missing_walker, context);
}

Datum
uso_command_missing(PG_FUNCTION_ARGS)
{
	char	   *command = text_to_cstring(PG_GETARG_TEXT_PP(0));
	List	   *stmts = NIL;
	MissingContext cxt = {NULL};
	ListCell   *lc;
	MemoryContext oldcxt = CurrentMemoryContext;

	PG_TRY();
	{
		stmts = raw_parser(command, RAW_PARSE_DEFAULT);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(oldcxt);
		FlushErrorState();
		stmts = NIL;
	}
	PG_END_TRY();

	foreach(lc, stmts)
	{
		Node	   *stmt = lfirst_node(RawStmt, lc)->stmt;

		if (IsA(stmt, CallStmt))
			(void) find_missing_walker((Node *) ((CallStmt *) stmt)->funccall, &cxt);
		else if (IsA(stmt, SelectStmt) || IsA(stmt, InsertStmt) ||
				 IsA(stmt, UpdateStmt) || IsA(stmt, DeleteStmt))
			(void) raw_expression_tree_walker(stmt, find_missing_walker, &cxt);
		if (cxt.missing != NULL)
			break;
	}
	if (cxt.missing == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(cxt.missing));
}
