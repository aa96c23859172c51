/*-------------------------------------------------------------------------
 * api_errors.c
 *	  Errors of the task API that speak to the caller, not about our code.
 *
 * uso_schedule, uso_alter_task, uso_unschedule, uso_enable, uso_disable and
 * the work behind cron.schedule / cron.unschedule / cron.alter_job are
 * PL/pgSQL (their *_body functions) and validate through the BEFORE trigger
 * on uso_task.  An error there used to reach the user with a CONTEXT block
 * quoting our internal INSERT ... jsonb_populate_record(...) statement and
 * PL/pgSQL line numbers, in psql and in the server log.  PL/pgSQL's RAISE
 * cannot leave its own frames out, so the API functions are these C
 * functions: each calls its body and, when the body fails with an error about
 * the caller's input, reports the same error (SQLSTATE, message, detail,
 * hint, column, constraint) again without the context our frames added.  The
 * caller's own frames (a DO block, the caller's function) are added back by
 * errfinish as for any error raised here.
 *
 * Errors that are not about the input (internal errors, out of memory,
 * cancels, deadlocks, serialization failures) keep their full context: that
 * is what a developer needs to find the bug.
 *
 * Warnings raised while a body runs (a schedule that never fires in the
 * pg_cron layer, a POSIX-style time zone) lose their context too, through
 * emit_log_hook, so the server log shows what the user needs and nothing of
 * our statements.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_proc.h"
#include "fmgr.h"
#include "nodes/value.h"
#include "parser/parse_func.h"
#include "utils/builtins.h"
#include "utils/elog.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "uso_tasks.h"

/* How many API calls are running in this backend (nested calls count). */
static int	api_depth = 0;
static emit_log_hook_type prev_emit_log_hook = NULL;
static bool hook_installed = false;

typedef struct ApiBody
{
	FmgrInfo	flinfo;
} ApiBody;

/*
 * Errors whose context is kept: they are about the system or our code, not
 * about what the caller passed.
 */
static bool
ErrorIsInternal(int sqlerrcode)
{
	int			category = ERRCODE_TO_CATEGORY(sqlerrcode);

	return category == ERRCODE_TO_CATEGORY(ERRCODE_INTERNAL_ERROR) ||
		category == ERRCODE_TO_CATEGORY(ERRCODE_SYSTEM_ERROR) ||
		category == ERRCODE_TO_CATEGORY(ERRCODE_INSUFFICIENT_RESOURCES) ||
		category == ERRCODE_TO_CATEGORY(ERRCODE_PROGRAM_LIMIT_EXCEEDED) ||
		category == ERRCODE_TO_CATEGORY(ERRCODE_OPERATOR_INTERVENTION) ||
		category == ERRCODE_TO_CATEGORY(ERRCODE_TRANSACTION_ROLLBACK);
}

/*
 * The body of the calling API function: in the private schema, the given
 * name, the same argument types (the API function's own schema is one other
 * roles may create in).  Looked up once per call site.
 */
static ApiBody *
LookupBody(FunctionCallInfo fcinfo, const char *body_name)
{
	ApiBody    *body = (ApiBody *) fcinfo->flinfo->fn_extra;
	HeapTuple	tup;
	Form_pg_proc proc;
	Oid			body_oid;

	if (body != NULL)
		return body;

	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fcinfo->flinfo->fn_oid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for function %u", fcinfo->flinfo->fn_oid);
	proc = (Form_pg_proc) GETSTRUCT(tup);
	body_oid = LookupFuncName(list_make2(makeString(pstrdup(USO_PRIVATE_SCHEMA)), makeString(pstrdup(body_name))),
							  proc->pronargs, proc->proargtypes.values, false);
	ReleaseSysCache(tup);

	body = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(ApiBody));
	fmgr_info_cxt(body_oid, &body->flinfo, fcinfo->flinfo->fn_mcxt);
	fcinfo->flinfo->fn_extra = body;
	return body;
}

/*
 * Call the body with our arguments.  skip_frames: how many of the caller's
 * context frames are ours too (1 for the cron.* SQL functions that call the
 * uso_cron_* functions, 0 otherwise).
 */
static Datum
CallBody(FunctionCallInfo fcinfo, const char *body_name, int skip_frames)
{
	ApiBody    *body = LookupBody(fcinfo, body_name);
	LOCAL_FCINFO(inner, FUNC_MAX_ARGS);
	MemoryContext cxt = CurrentMemoryContext;
	volatile Datum result = (Datum) 0;

	InitFunctionCallInfoData(*inner, &body->flinfo, PG_NARGS(), PG_GET_COLLATION(),
							 fcinfo->context, fcinfo->resultinfo);
	for (int i = 0; i < PG_NARGS(); i++)
		inner->args[i] = fcinfo->args[i];

	api_depth++;
	PG_TRY();
	{
		result = FunctionCallInvoke(inner);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		api_depth--;
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		if (ErrorIsInternal(edata->sqlerrcode))
			PG_RE_THROW();
		FlushErrorState();

		/* What our statements and PL/pgSQL lines added goes. */
		edata->context = NULL;
		edata->internalquery = NULL;
		edata->internalpos = 0;
		edata->cursorpos = 0;
		for (int i = 0; i < skip_frames && error_context_stack != NULL; i++)
			error_context_stack = error_context_stack->previous;
		ThrowErrorData(edata);
		/* ThrowErrorData returns only for levels below ERROR. */
		pg_unreachable();
	}
	PG_END_TRY();
	api_depth--;

	fcinfo->isnull = inner->isnull;
	return result;
}

static void
ApiEmitLogHook(ErrorData *edata)
{
	if (api_depth > 0 && edata->elevel < ERROR)
		edata->context = NULL;
	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

void
UsoApiErrorsInstallHook(void)
{
	if (hook_installed)
		return;
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = ApiEmitLogHook;
	hook_installed = true;
}

#define USO_API_FUNCTION(sym, body, skip) \
	PG_FUNCTION_INFO_V1(sym); \
	Datum sym(PG_FUNCTION_ARGS) { return CallBody(fcinfo, body, skip); }

USO_API_FUNCTION(uso_schedule_api, "uso_schedule_body", 0)
USO_API_FUNCTION(uso_alter_task_api, "uso_alter_task_body", 0)
USO_API_FUNCTION(uso_unschedule_api, "uso_unschedule_body", 0)
USO_API_FUNCTION(uso_enable_api, "uso_enable_body", 0)
USO_API_FUNCTION(uso_disable_api, "uso_disable_body", 0)
USO_API_FUNCTION(uso_cron_schedule_api, "uso_cron_schedule_body", 1)
USO_API_FUNCTION(uso_cron_unschedule_api, "uso_cron_unschedule_body", 1)
USO_API_FUNCTION(uso_cron_alter_job_api, "uso_cron_alter_job_body", 1)
