"""SPARQL expressions, from rdflib's algebra, as DuckDB SQL over the compiled engine's terms.

An expression compiles to a :class:`Val`: SQL for a term (``term``), a boolean (``bool``), a number with its
type's rank (``num``) or a string literal's lexical form with its tag (``str``). Keeping numbers, booleans
and strings in their own SQL types until a term is needed avoids encoding and parsing them at every step.
A SPARQL error is SQL ``NULL``: SQL's three-valued ``AND``/``OR`` then follow SPARQL's rules for errors in
``&&``/``||``, ``COALESCE`` skips errors, and a ``FILTER`` drops them.

Every operand, and every facet of a term an operator reads (its tag, lexical form, numeric rank and
value), is bound once per row as a column of a projection layer below the expression (:class:`Lets`, an
A-normal form). Written inline, an operand read twice is copied, and nested copies grow the SQL, and
DuckDB's planning time, exponentially.

Anything the compiler does not know raises :class:`Unsupported`, naming the construct.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable

from rdflib.term import BNode, Literal, URIRef, Variable

from guidelinekg.engine import sqlnum
from guidelinekg.engine.sqlfunctions import Functions
from guidelinekg.engine.sqlterms import XSD
from guidelinekg.engine.sqlvalues import _TIMES, NULL_TERM, Lets, Unsupported, Val, const

__all__ = ["ExprCompiler", "Lets", "Unsupported", "Val", "const"]


class ExprCompiler(Functions):
    """Compiles expressions against an environment of variables (name -> SQL of its term). EXISTS is
    compiled by ``exists``, a callback to the pattern compiler: (pattern, env) -> SQL boolean. Within
    :meth:`scope`, operands are bound once (:class:`Lets`); outside one (a join condition), inline."""

    def __init__(self, exists: Callable[[object, dict], str], counter):
        self.exists = exists
        self.counter = counter
        self._lets: list[Lets | None] = [None]
        self.numbers = sqlnum.Numbers(self.let, Val)

    @contextmanager
    def scope(self, alias: str | None):
        lets = Lets(alias, self.counter) if alias else None
        self._lets.append(lets)
        try:
            yield lets
        finally:
            self._lets.pop()

    def let(self, sql: str) -> str:
        lets = self._lets[-1]
        return sql if lets is None else lets.bind(sql)

    # -- conversions between kinds
    def term(self, v: Val) -> str:
        if v.kind == "term":
            return v.sql
        if v.kind == "bool":
            return self.let(f"g_bool({v.sql})")
        if v.kind == "num":
            return self.let(self.numbers.term(v))
        return self.let(f"('\"' || {v.aux} || chr(31) || {v.sql})")

    def tag(self, t: str) -> str:
        return self.let(f"g_tag({t})")

    def lex(self, t: str) -> str:
        return self.let(f"g_lex({t})")

    def num(self, v: Val) -> Val:
        if v.kind == "num":
            return v
        if v.kind != "term":
            return Val("num", sqlnum.NULL_FIX, "CAST(NULL AS INTEGER)", sqlnum.NULL_DBL)
        return self.numbers.from_term(v.sql, self.tag(v.sql), self.lex(v.sql))

    def string(self, v: Val) -> Val:
        """As a string literal (simple or language-tagged); anything else is an error."""
        if v.kind == "str":
            return v
        if v.kind == "term":
            return Val("str", self.let(f"g_slex({v.sql})"), self.let(f"g_stag({v.sql})"))
        return Val("str", NULL_TERM, "''")

    def time(self, t: str) -> str:
        return self.let(f"(CASE WHEN {self.tag(t)} IN {_TIMES} THEN TRY_CAST({self.lex(t)} AS TIMESTAMPTZ) END)")

    def ebv(self, v: Val) -> str:
        if v.kind == "bool":
            return v.sql
        if v.kind == "num":
            return self.let(self.numbers.ebv(v))
        if v.kind == "str":
            return self.let(f"(CASE WHEN {v.aux} = '' THEN length({v.sql}) > 0 END)")
        t = v.sql
        n = self.num(v)
        tag = self.tag(t)
        return self.let(f"(CASE WHEN {tag} = '{XSD}boolean' THEN {self.lex(t)} = 'true' "
                        f"WHEN {n.aux} IS NOT NULL THEN coalesce({self.numbers.ebv(n)}, FALSE) "
                        f"WHEN {tag} = '' THEN length({t}) > 2 END)")

    # -- comparisons
    def equal(self, a: Val, b: Val) -> str:
        if a.kind == b.kind == "num":
            return self.numbers.equal(a, b)
        if a.kind == b.kind == "bool":
            return f"({a.sql} = {b.sql})"
        if a.kind == "str" and b.kind == "str":
            return f"({a.sql} = {b.sql} AND {a.aux} = {b.aux})"
        if a.kind == "num" or b.kind == "num":
            t, n = (a, b) if b.kind == "num" else (b, a)
            tn = self.num(t)
            return (f"(CASE WHEN {self.term(t)} IS NULL THEN NULL WHEN {tn.dbl} IS NOT NULL "
                    f"THEN {self.numbers.equal(tn, n)} ELSE FALSE END)")
        ta, tb = self.term(a), self.term(b)
        if ta.startswith("'<") or tb.startswith("'<"):
            return f"({ta} = {tb})"  # an IRI equals only itself
        na, nb = self.num(Val("term", ta)), self.num(Val("term", tb))
        return self.let(f"(CASE WHEN {ta} IS NULL OR {tb} IS NULL THEN NULL WHEN {ta} = {tb} THEN TRUE "
                        f"WHEN {na.aux} IS NOT NULL AND {nb.aux} IS NOT NULL THEN {self.numbers.equal(na, nb)} "
                        f"WHEN {self.tag(ta)} IN {_TIMES} AND {self.tag(tb)} IN {_TIMES} "
                        f"THEN {self.time(ta)} = {self.time(tb)} ELSE FALSE END)")

    def less(self, a: Val, b: Val) -> str:
        if a.kind == "num" or b.kind == "num":
            return self.numbers.less(self.num(a), self.num(b))
        if a.kind == "str" and b.kind == "str":
            return f"(CASE WHEN {a.aux} = '' AND {b.aux} = '' THEN {a.sql} < {b.sql} END)"
        ta, tb = self.term(a), self.term(b)
        na, nb = self.num(Val("term", ta)), self.num(Val("term", tb))
        tga, tgb = self.tag(ta), self.tag(tb)
        return self.let(f"(CASE WHEN {na.aux} IS NOT NULL AND {nb.aux} IS NOT NULL THEN {self.numbers.less(na, nb)} "
                        f"WHEN {tga} = '' AND {tgb} = '' THEN {ta} < {tb} "
                        f"WHEN {tga} = '{XSD}boolean' AND {tgb} = '{XSD}boolean' THEN {self.lex(ta)} < {self.lex(tb)} "
                        f"WHEN {tga} IN {_TIMES} AND {tgb} IN {_TIMES} THEN {self.time(ta)} < {self.time(tb)} END)")

    # -- entry point
    def compile(self, e, env: dict) -> Val:
        if isinstance(e, Variable):
            typed = getattr(env, "typed", {}).get(str(e))
            return typed if typed is not None else Val("term", env.get(str(e), NULL_TERM))
        if isinstance(e, (URIRef, Literal)):
            return const(e)
        if isinstance(e, BNode):
            raise Unsupported("a blank node in an expression")
        name = getattr(e, "name", type(e).__name__)
        method = getattr(self, "_" + name, None)
        if method is None:
            raise Unsupported(f"expression {name}")
        v = method(e, env)
        return Val(v.kind, self.let(v.sql), self.let(v.aux) if v.aux else v.aux, self.let(v.dbl) if v.dbl else "")

    def c(self, e, env) -> Val:
        return self.compile(e, env)

    def cb(self, e, env) -> str:
        return self.ebv(self.compile(e, env))

    # -- operators
    def _ConditionalOrExpression(self, e, env):
        return Val("bool", "(" + " OR ".join(self.cb(x, env) for x in [e.expr, *(e.other or [])]) + ")")

    def _ConditionalAndExpression(self, e, env):
        return Val("bool", "(" + " AND ".join(self.cb(x, env) for x in [e.expr, *(e.other or [])]) + ")")

    def _UnaryNot(self, e, env):
        return Val("bool", f"(NOT {self.cb(e.expr, env)})")

    def _UnaryMinus(self, e, env):
        return self.numbers.negate(self.num(self.c(e.expr, env)))

    def _UnaryPlus(self, e, env):
        return self.num(self.c(e.expr, env))

    def _RelationalExpression(self, e, env):
        a, op = self.c(e.expr, env), e.op
        if op in ("IN", "NOT IN"):
            test = "(" + " OR ".join(self.equal(a, self.c(o, env)) for o in e.other) + ")" if e.other else "FALSE"
            return Val("bool", test if op == "IN" else f"(NOT {test})")
        b = self.c(e.other, env)
        if op == "=":
            return Val("bool", self.equal(a, b))
        if op == "!=":
            return Val("bool", f"(NOT {self.equal(a, b)})")
        if op == "<":
            return Val("bool", self.less(a, b))
        if op == ">":
            return Val("bool", self.less(b, a))
        if op == "<=":
            return Val("bool", f"({self.less(a, b)} OR {self.equal(a, b)})")
        if op == ">=":
            return Val("bool", f"({self.less(b, a)} OR {self.equal(a, b)})")
        raise Unsupported(f"operator {op}")

    def _arith(self, e, env):
        acc = self.num(self.c(e.expr, env))
        for op, other in zip(e.op, e.other):
            acc = self.numbers.arith(op, acc, self.num(self.c(other, env)))
        return acc

    _AdditiveExpression = _arith
    _MultiplicativeExpression = _arith

    # -- functional forms
    def _Builtin_BOUND(self, e, env):
        return Val("bool", f"({env.get(str(e.arg), 'NULL')} IS NOT NULL)")

    def _Builtin_IF(self, e, env):
        cond = self.cb(e.arg1, env)
        a, b = self.c(e.arg2, env), self.c(e.arg3, env)

        def pick(x: str, y: str) -> str:
            return x if x == y else f"(CASE WHEN {cond} THEN {x} WHEN NOT {cond} THEN {y} END)"
        if a.kind == b.kind and a.kind in ("bool", "num", "str"):
            return Val(a.kind, pick(a.sql, b.sql), pick(a.aux, b.aux) if a.aux else "",
                       pick(a.dbl, b.dbl) if a.dbl else "")
        return Val("term", pick(self.term(a), self.term(b)))

    def _Builtin_COALESCE(self, e, env):
        vals = [self.c(a, env) for a in e.arg]
        if all(v.kind == "str" for v in vals) and len({v.aux for v in vals}) == 1:
            return Val("str", f"coalesce({', '.join(v.sql for v in vals)})", vals[0].aux)
        return Val("term", f"coalesce({', '.join(self.term(v) for v in vals)})")

    def _Builtin_EXISTS(self, e, env):
        return Val("bool", self.exists(e.graph, env))

    def _Builtin_NOTEXISTS(self, e, env):
        return Val("bool", f"(NOT {self.exists(e.graph, env)})")

    def _Builtin_sameTerm(self, e, env):
        return Val("bool", f"({self.term(self.c(e.arg1, env))} = {self.term(self.c(e.arg2, env))})")
