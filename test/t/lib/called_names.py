"""Every function and operator name the extension's SQL calls (issue 21).

Usage: /usr/bin/python3 called_names.py FILE...   (*.sql scripts, *.c sources, *.so)
Prints "f NAME" and "o SYMBOL" lines, sorted and unique, for
t/120_planted_overloads.pl, which plants overloads of each.  Derived at test
time from the shipped scripts and the C sources, so the list cannot go stale.

SQL scripts are parsed with pglast (Debian's python3-pglast): every FuncCall
and operator in top-level statements, in SQL-language and PL/pgSQL bodies
(pglast.parse_plpgsql, every expression in it) and in every string literal
that parses as SQL (EXECUTE strings, format() templates, commands of the
tasks a script registers).  Constructs that imply an operator (IN, BETWEEN,
LIKE, CASE x WHEN, NULLIF, IS DISTINCT FROM) add it.  What does not parse,
and the SQL literals of the C sources, also go through a regex -- an
identifier followed by "(" and runs of operator characters -- an
over-approximation: planting an overload of a name nobody calls is harmless,
missing one is not.  Without pglast the regex alone is used (stderr says so).
"""
import re
import sys

try:
    import pglast
    from pglast import ast
    from pglast.visitors import Visitor
except ImportError:  # the regex alone still over-approximates
    pglast = None

funcs = set()
ops = set()

IDENT_CALL = re.compile(r'(?<![A-Za-z0-9_$"])([A-Za-z_][A-Za-z0-9_$]*)\s*\(')
OP_RUN = re.compile(r'(?<=[\s\w)\'"])([+\-*/<>=~!@#%^&|`?]{1,3})(?=[\s\w(\'"$])')
# Words followed by "(" that are syntax, not calls.
NOT_CALLS = {
    'select', 'from', 'where', 'and', 'or', 'not', 'in', 'exists', 'values', 'as', 'on', 'using',
    'returns', 'table', 'into', 'if', 'when', 'then', 'else', 'case', 'end', 'array', 'row', 'with',
    'over', 'filter', 'within', 'join', 'by', 'set', 'default', 'check', 'unique', 'primary', 'key',
    'references', 'foreign', 'index', 'create', 'function', 'procedure', 'trigger', 'view', 'is',
    'any', 'all', 'some', 'cast', 'coalesce', 'greatest', 'least', 'nullif', 'return', 'query',
    'execute', 'perform', 'call', 'do', 'returning', 'union', 'except', 'intersect', 'lateral',
    'begin', 'loop', 'while', 'for', 'elsif', 'raise', 'exception', 'constraint', 'include',
    'partition', 'order', 'group', 'having', 'limit', 'offset', 'window', 'distinct', 'between',
    'like', 'ilike', 'similar', 'to', 'insert', 'update', 'delete', 'grouping', 'sets', 'cube',
    'rollup', 'alter', 'drop', 'grant', 'revoke', 'comment', 'language', 'immutable', 'stable',
    'volatile', 'strict', 'security', 'definer', 'invoker', 'cost', 'rows', 'support', 'parallel',
    'type', 'domain', 'sequence', 'schema', 'extension', 'role', 'owner', 'notify', 'listen',
}
OP_NOISE = {'--', '/*', '*/', '*', '::', ':=', '=>', '|', '`', '?', '@', '#', '@@'}


def regex_names(text):
    for m in IDENT_CALL.finditer(text):
        w = m.group(1).lower()
        if w not in NOT_CALLS:
            funcs.add(w)
    for m in OP_RUN.finditer(text):
        o = m.group(1)
        if o not in OP_NOISE:
            ops.add(o)


def op_name(names):
    return names[-1].sval if names else None


if pglast is not None:
    class Names(Visitor):
        def visit_FuncCall(self, ancestors, node):
            funcs.add(node.funcname[-1].sval.lower())

        def visit_A_Expr(self, ancestors, node):
            name = op_name(node.name)
            kind = node.kind
            K = ast.A_Expr_Kind if hasattr(ast, 'A_Expr_Kind') else None
            kname = getattr(kind, 'name', str(kind))
            if kname in ('AEXPR_BETWEEN', 'AEXPR_NOT_BETWEEN', 'AEXPR_BETWEEN_SYM',
                         'AEXPR_NOT_BETWEEN_SYM'):
                ops.update(('>=', '<=', '<', '>'))
            elif kname in ('AEXPR_DISTINCT', 'AEXPR_NOT_DISTINCT', 'AEXPR_NULLIF'):
                ops.add('=')
            elif kname == 'AEXPR_SIMILAR':
                ops.add('~')
                funcs.add('similar_to_escape')
            elif name:
                ops.add(name)

        def visit_SubLink(self, ancestors, node):
            if node.operName:
                ops.add(op_name(node.operName))
            elif getattr(node.subLinkType, 'name', '') in ('ANY_SUBLINK', 'ALL_SUBLINK'):
                ops.add('=')

        def visit_CaseExpr(self, ancestors, node):
            if node.arg is not None:
                ops.add('=')

        def visit_A_Const(self, ancestors, node):
            val = getattr(node, 'val', None)
            s = getattr(val, 'sval', None)
            if isinstance(s, str) and len(s) > 6:
                sql_text(s, quiet=True)

        def visit_CreateFunctionStmt(self, ancestors, node):
            lang, body = 'sql', None
            for opt in node.options or ():
                if opt.defname == 'language':
                    lang = opt.arg.sval.lower()
                elif opt.defname == 'as':
                    items = opt.arg if isinstance(opt.arg, tuple) else (opt.arg,)
                    if len(items) == 1 and hasattr(items[0], 'sval'):
                        body = items[0].sval
            if body is None:
                return
            if lang == 'plpgsql':
                plpgsql_body(body)
            elif lang == 'sql':
                sql_text(body)
            # C functions: their names are in pg_proc, planted as the extension's own

        def visit_DoStmt(self, ancestors, node):
            for opt in node.args or ():
                if opt.defname == 'as':
                    plpgsql_body(opt.arg.sval, do=True)


def sql_text(text, quiet=False):
    """Names in SQL text; what pglast cannot parse goes through the regex."""
    if pglast is None:
        regex_names(text)
        return
    for candidate in (text, 'SELECT ' + text):
        try:
            tree = pglast.parse_sql(candidate)
        except Exception:
            continue
        Names()(tree)
        return
    if not quiet or IDENT_CALL.search(text):
        regex_names(text)


def plpgsql_expressions(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == 'PLpgSQL_expr' and isinstance(value, dict) and 'query' in value:
                yield value['query']
            else:
                yield from plpgsql_expressions(value)
    elif isinstance(node, list):
        for item in node:
            yield from plpgsql_expressions(item)


def plpgsql_body(body, do=False):
    src = ('DO $uso_body$' + body + '$uso_body$' if do else
           'CREATE FUNCTION uso_body() RETURNS void LANGUAGE plpgsql AS $uso_body$' + body + '$uso_body$')
    try:
        parsed = pglast.parse_plpgsql(src)
    except Exception:
        regex_names(body)
        return
    for q in plpgsql_expressions(parsed):
        # "a := expr", "x = expr": the assignment's right side
        m = re.match(r'^\s*[A-Za-z_][A-Za-z0-9_.\[\]]*\s*:?=(?!=)\s*(.*)$', q, re.S)
        sql_text(q)
        if m:
            sql_text(m.group(1))
    # PL/pgSQL's own operators in conditions parse as expressions above;
    # the regex over the whole body catches dynamic SQL built by concatenation.
    regex_names(body)


C_STRINGS = re.compile(r'"((?:[^"\\\n]|\\.)*)"((?:\s*"(?:[^"\\\n]|\\.)*")*)')


def c_sql(text):
    """SQL in the C sources' string literals (adjacent literals joined)."""
    for m in C_STRINGS.finditer(text):
        s = m.group(1) + ''.join(re.findall(r'"((?:[^"\\\n]|\\.)*)"', m.group(2)))
        s = s.encode().decode('unicode_escape', errors='ignore')
        if re.search(r'\b(SELECT|INSERT|UPDATE|DELETE|WITH|CALL|PERFORM|EXECUTE|FROM|WHERE|SET)\b', s,
                     re.I) or IDENT_CALL.search(s):
            sql_text(s, quiet=True)
            regex_names(s)


def main(paths):
    if pglast is None:
        print('called_names.py: no pglast: names by regex only', file=sys.stderr)
    for p in paths:
        if p.endswith('.so'):
            # the built library: its string constants, adjacent C literals
            # already joined by the compiler -- the SQL the C code runs
            with open(p, 'rb') as fh:
                data = fh.read()
            for run in re.findall(rb'[\t\n\x20-\x7e]{8,}', data):
                s = run.decode('ascii')
                if re.search(r'\b(SELECT|INSERT|UPDATE|DELETE|WITH|CALL|FROM|WHERE)\b', s):
                    sql_text(s, quiet=True)
                if '(' in s:
                    regex_names(s)   # pieces of queries put together at run time too
            continue
        with open(p, encoding='utf-8', errors='replace') as fh:
            text = fh.read()
        if p.endswith('.c') or p.endswith('.h'):
            c_sql(text)
            continue
        text = text.replace('@extschema@', 'extschema')
        text = re.sub(r'^\\', '-- \\\\', text, flags=re.M)
        sql_text(text)
        regex_names(re.sub(r'--[^\n]*', '', text))
    for f in sorted(funcs):
        print('f', f)
    for o in sorted(ops):
        print('o', o)


if __name__ == '__main__':
    main(sys.argv[1:])
