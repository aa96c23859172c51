/*-------------------------------------------------------------------------
 * exec_sql.h
 *	  Run a task's SQL text the way a client's simple query would run it.
 *-------------------------------------------------------------------------
 */
#ifndef USO_EXEC_SQL_H
#define USO_EXEC_SQL_H

typedef struct UsoSqlResult
{
	char	   *command_tag;	/* of the last statement, e.g. "INSERT 0 1" */
	char	   *single_value;	/* the value when it returned one row of one column */
	uint64		nrows;			/* rows the last statement returned */
} UsoSqlResult;

/*
 * Runs every statement of sql inside the current transaction as top-level
 * statements (so CALL of a procedure that COMMITs works), and fills *result.
 * Errors propagate.
 */
extern void UsoExecuteSql(const char *sql, UsoSqlResult *result);

#endif							/* USO_EXEC_SQL_H */
