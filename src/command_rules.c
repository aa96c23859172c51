/*-------------------------------------------------------------------------
 * command_rules.c
 *	  What a task's command may contain: no transaction control, and a
 *	  statement that cannot run inside a transaction block only as the whole
 *	  command.
 *
 * A run executes its command's statements one after the other at top level
 * in one transaction (exec_sql.c).  A statement that PostgreSQL refuses
 * inside a transaction block (it calls PreventInTransactionBlock: VACUUM,
 * CREATE DATABASE, ...) passes that check there and commits, or does what
 * no rollback undoes, in the middle of the command: with a later statement
 * failing, the run is recorded failed and yet half of its work stays.
 * PostgreSQL's simple-query protocol refuses such a statement in a string of
 * several statements (they form one implicit transaction block), and so do
 * we, before the first statement runs and already when the task is created
 * or changed (uso_check_command, from the uso_task trigger).
 *
 * The list follows the callers of PreventInTransactionBlock in PostgreSQL
 * 15.  Some depend on the catalog (CLUSTER or REINDEX of a partitioned
 * table, DROP SUBSCRIPTION of one with a slot): those are looked up without
 * locks under the current search_path, so the check at creation (the trigger
 * pins search_path) is best effort and the one at run time decides.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_subscription.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/parser.h"
#include "tcop/cmdtag.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "command_rules.h"

PG_FUNCTION_INFO_V1(uso_check_command);

/* A boolean option as the statement's own option parser would read it. */
static bool
OptionBool(List *options, const char *name, bool dflt)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *def = lfirst_node(DefElem, lc);
		bool		result;

		if (strcmp(def->defname, name) != 0)
			continue;
		if (def->arg == NULL)
			return true;
		if (IsA(def->arg, Boolean))
			return boolVal(def->arg);
		if (IsA(def->arg, Integer))
			return intVal(def->arg) != 0;
		/* A bad value makes the statement itself fail: keep the default. */
		if (IsA(def->arg, String) && parse_bool(strVal(def->arg), &result))
			return result;
		return dflt;
	}
	return dflt;
}

static bool
HasOption(List *options, const char *name)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		if (strcmp(lfirst_node(DefElem, lc)->defname, name) == 0)
			return true;
	}
	return false;
}

/* The relkind of a relation the statement names, or 0 when not found. */
static char
RelkindOf(RangeVar *rv)
{
	Oid			relid = RangeVarGetRelid(rv, NoLock, true);

	return OidIsValid(relid) ? get_rel_relkind(relid) : '\0';
}

/* Whether this database has a subscription of that name with a slot. */
static bool
SubscriptionHasSlot(const char *subname)
{
	HeapTuple	tup;
	bool		isnull = true;

	tup = SearchSysCache2(SUBSCRIPTIONNAME, ObjectIdGetDatum(MyDatabaseId),
						  CStringGetDatum(subname));
	if (!HeapTupleIsValid(tup))
		return false;
	(void) SysCacheGetAttr(SUBSCRIPTIONNAME, tup,
						   Anum_pg_subscription_subslotname, &isnull);
	ReleaseSysCache(tup);
	return !isnull;
}

/*
 * The name PostgreSQL gives the statement when it refuses it inside a
 * transaction block, or NULL when it may run inside one.
 */
const char *
UsoTopLevelOnlyName(Node *stmt)
{
	switch (nodeTag(stmt))
	{
		case T_VacuumStmt:
			/* ANALYZE alone runs inside a transaction block. */
			return ((VacuumStmt *) stmt)->is_vacuumcmd ? "VACUUM" : NULL;
		case T_ClusterStmt:
			{
				ClusterStmt *c = (ClusterStmt *) stmt;

				if (c->relation == NULL ||
					RelkindOf(c->relation) == RELKIND_PARTITIONED_TABLE)
					return "CLUSTER";
				return NULL;
			}
		case T_ReindexStmt:
			{
				ReindexStmt *r = (ReindexStmt *) stmt;

				if (OptionBool(r->params, "concurrently", false))
					return "REINDEX CONCURRENTLY";
				switch (r->kind)
				{
					case REINDEX_OBJECT_SCHEMA:
						return "REINDEX SCHEMA";
					case REINDEX_OBJECT_SYSTEM:
						return "REINDEX SYSTEM";
					case REINDEX_OBJECT_DATABASE:
						return "REINDEX DATABASE";
					case REINDEX_OBJECT_TABLE:
						return RelkindOf(r->relation) == RELKIND_PARTITIONED_TABLE ?
							"REINDEX TABLE" : NULL;
					case REINDEX_OBJECT_INDEX:
						return RelkindOf(r->relation) == RELKIND_PARTITIONED_INDEX ?
							"REINDEX INDEX" : NULL;
				}
				return NULL;
			}
		case T_IndexStmt:
			return ((IndexStmt *) stmt)->concurrent ? "CREATE INDEX CONCURRENTLY" : NULL;
		case T_DropStmt:
			{
				DropStmt   *d = (DropStmt *) stmt;

				return d->removeType == OBJECT_INDEX && d->concurrent ?
					"DROP INDEX CONCURRENTLY" : NULL;
			}
		case T_AlterTableStmt:
			{
				ListCell   *lc;

				foreach(lc, ((AlterTableStmt *) stmt)->cmds)
				{
					AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

					if (cmd->subtype == AT_DetachPartition &&
						((PartitionCmd *) cmd->def)->concurrent)
						return "ALTER TABLE ... DETACH CONCURRENTLY";
				}
				return NULL;
			}
		case T_CreatedbStmt:
			return "CREATE DATABASE";
		case T_DropdbStmt:
			return "DROP DATABASE";
		case T_AlterDatabaseStmt:
			return HasOption(((AlterDatabaseStmt *) stmt)->options, "tablespace") ?
				"ALTER DATABASE SET TABLESPACE" : NULL;
		case T_CreateTableSpaceStmt:
			return "CREATE TABLESPACE";
		case T_DropTableSpaceStmt:
			return "DROP TABLESPACE";
		case T_AlterSystemStmt:
			return "ALTER SYSTEM";
		case T_DiscardStmt:
			return ((DiscardStmt *) stmt)->target == DISCARD_ALL ? "DISCARD ALL" : NULL;
		case T_CreateSubscriptionStmt:
			{
				List	   *opts = ((CreateSubscriptionStmt *) stmt)->options;

				/* connect = false makes create_slot default to false. */
				if (OptionBool(opts, "create_slot", OptionBool(opts, "connect", true)))
					return "CREATE SUBSCRIPTION ... WITH (create_slot = true)";
				return NULL;
			}
		case T_AlterSubscriptionStmt:
			{
				AlterSubscriptionStmt *a = (AlterSubscriptionStmt *) stmt;

				switch (a->kind)
				{
					case ALTER_SUBSCRIPTION_SET_PUBLICATION:
					case ALTER_SUBSCRIPTION_ADD_PUBLICATION:
					case ALTER_SUBSCRIPTION_DROP_PUBLICATION:
						return OptionBool(a->options, "refresh", true) ?
							"ALTER SUBSCRIPTION with refresh" : NULL;
					case ALTER_SUBSCRIPTION_REFRESH:
						return "ALTER SUBSCRIPTION ... REFRESH";
					default:
						return NULL;
				}
			}
		case T_DropSubscriptionStmt:
			return SubscriptionHasSlot(((DropSubscriptionStmt *) stmt)->subname) ?
				"DROP SUBSCRIPTION" : NULL;
		default:
			return NULL;
	}
}

void
UsoCheckCommandRules(List *parsetrees)
{
	ListCell   *lc;
	bool		several = list_length(parsetrees) > 1;

	/* Transaction control first: it is refused even as the whole command. */
	foreach(lc, parsetrees)
	{
		Node	   *stmt = lfirst_node(RawStmt, lc)->stmt;

		if (IsA(stmt, TransactionStmt))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("task commands cannot use BEGIN, COMMIT or ROLLBACK"),
					 errdetail("The command contains %s.",
							   GetCommandTagName(CreateCommandTag(stmt))),
					 errhint("Each run is a transaction of its own; to commit "
							 "in steps, CALL a procedure that COMMITs.")));
	}
	if (!several)
		return;
	foreach(lc, parsetrees)
	{
		const char *name = UsoTopLevelOnlyName(lfirst_node(RawStmt, lc)->stmt);

		if (name != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s cannot run inside a multi-statement command", name),
					 errdetail("The statements of a command run in one transaction, and %s "
							   "cannot run inside a transaction block: a later failure "
							   "would not undo what it did.", name),
					 errhint("Make it the whole command of a task of its own, and put "
							 "the other statements into another task or a procedure.")));
	}
}

/*
 * uso_check_command(command): raises the error a run of this command would
 * fail with for breaking the rules above.  A command that does not parse
 * passes, as it did before these rules: its run fails with the syntax error,
 * which says more.
 */
Datum
uso_check_command(PG_FUNCTION_ARGS)
{
	char	   *command = text_to_cstring(PG_GETARG_TEXT_PP(0));
	MemoryContext oldcxt = CurrentMemoryContext;
	List	   *stmts = NIL;
	bool		parsed = false;

	PG_TRY();
	{
		stmts = raw_parser(command, RAW_PARSE_DEFAULT);
		parsed = true;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		/* Interrupts and resource errors are not the command's fault. */
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED ||
			ERRCODE_TO_CATEGORY(edata->sqlerrcode) == ERRCODE_OPERATOR_INTERVENTION ||
			ERRCODE_TO_CATEGORY(edata->sqlerrcode) == ERRCODE_INSUFFICIENT_RESOURCES)
			PG_RE_THROW();
		FlushErrorState();
		FreeErrorData(edata);
	}
	PG_END_TRY();

	if (parsed)
		UsoCheckCommandRules(stmts);
	PG_RETURN_VOID();
}
