/*-------------------------------------------------------------------------
 * command_check.c
 *	  uso_command_missing(command): the first function or procedure a task's
 *	  command calls that does not exist, for the admin view's 'missing'
 *	  status (Waldur's "Task not found in registry").
 *
 * Only the names are checked (any argument count), and only in the current
 * database; a command that does not parse is not 'missing' (its run fails
 * with the syntax error, which says more).  Other errors of the parse are
 * raised: the admin view failing on out of memory or a cancel is right,
 * reporting such a task as not missing would hide the error.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "commands/dbcommands.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "nodes/parsenodes.h"
#include "parser/parser.h"
#include "utils/acl.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(uso_command_missing);

/*
 * Expressions nested deeper than this are not searched (a command such as
 * 'SELECT 1+1+...+1' would otherwise exhaust the stack and make the admin
 * view fail for everyone): such a command is reported as not missing.
 */
#define MISSING_MAX_DEPTH 1000

/*
 * The errors that say the command's text does not parse: syntax errors and
 * the grammar's other refusals (class 42), bad literals and escapes (22),
 * forms the grammar knows but refuses (0A), and a parse too deep for the
 * stack.  Anything else (out of memory, a cancel, an internal error) is
 * not an answer about the command and propagates.
 */
static bool
IsParseError(int sqlerrcode)
{
	int			category = ERRCODE_TO_CATEGORY(sqlerrcode);

	return category == ERRCODE_SYNTAX_ERROR_OR_ACCESS_RULE_VIOLATION ||
		category == ERRCODE_DATA_EXCEPTION ||
		category == ERRCODE_FEATURE_NOT_SUPPORTED ||
		sqlerrcode == ERRCODE_STATEMENT_TOO_COMPLEX;
}

typedef struct MissingContext
{
	char	   *missing;
	int			depth;
} MissingContext;

/*
 * Whether a function or procedure of that (possibly qualified) name exists.
 * It must never raise an error, since the admin view calls it for every
 * task: names the lookup would refuse are decided here first.  A name with
 * too many dots, or in another database, cannot exist; a schema the caller
 * may not use is not searched and counts as existing (the caller cannot
 * tell, and the task runs as its owner, who may).
 */
static bool
FunctionExists(List *funcname)
{
	FuncCandidateList c;
	int			n = list_length(funcname);

	if (n > 3)
		return false;
	if (n == 3 && strcmp(strVal(linitial(funcname)),
						 get_database_name(MyDatabaseId)) != 0)
		return false;
	if (n >= 2)
	{
		Oid			nsp = get_namespace_oid(strVal(list_nth(funcname, n - 2)), true);

		if (!OidIsValid(nsp))
			return false;
		if (pg_namespace_aclcheck(nsp, GetUserId(), ACL_USAGE) != ACLCHECK_OK)
			return true;
	}
	c = FuncnameGetCandidates(funcname, -1, NIL, false, false, false, true);
	return c != NULL;
}

static bool
find_missing_walker(Node *node, void *context)
{
	MissingContext *cxt = (MissingContext *) context;

	bool		done;

	if (node == NULL || cxt->missing != NULL)
		return false;
	if (cxt->depth >= MISSING_MAX_DEPTH)
		return true;
	if (IsA(node, FuncCall))
	{
		FuncCall   *fc = (FuncCall *) node;

		if (!FunctionExists(fc->funcname))
		{
			cxt->missing = NameListToString(fc->funcname);
			return true;
		}
	}
	cxt->depth++;
	done = raw_expression_tree_walker(node, find_missing_walker, context);
	cxt->depth--;
	return done;
}

Datum
uso_command_missing(PG_FUNCTION_ARGS)
{
	char	   *command = text_to_cstring(PG_GETARG_TEXT_PP(0));
	List	   *stmts = NIL;
	MissingContext cxt = {NULL, 0};
	ListCell   *lc;
	MemoryContext oldcxt = CurrentMemoryContext;

	PG_TRY();
	{
		stmts = raw_parser(command, RAW_PARSE_DEFAULT);
	}
	PG_CATCH();
	{
		/* Read in place: copying the error could fail when it is out of memory. */
		if (!IsParseError(geterrcode()))
			PG_RE_THROW();
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
