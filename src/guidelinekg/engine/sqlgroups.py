"""GROUP BY and aggregates for the pattern compiler (:mod:`guidelinekg.engine.sqlalgebra`).

COUNT, SUM, AVG, MIN, MAX, SAMPLE and GROUP_CONCAT over a relation's rows, in SPARQL's semantics: a value
that is not a number makes SUM and AVG an error; MIN and MAX order terms as SPARQL's ORDER BY does; a
group key is a variable (GROUP BY an expression is refused).
"""

from __future__ import annotations

from rdflib.term import Variable

from guidelinekg.engine import sqlnum
from guidelinekg.engine.sqlterms import XSD, sql_str
from guidelinekg.engine.sqlvalues import Env, Rel, Unsupported, Val, col


def aggregate_join(self, node, outer: Env) -> Rel:
    """GROUP BY and its aggregates (``self``: the pattern compiler)."""
    group = node.p
    if getattr(group, "name", "") != "Group":
        raise Unsupported("an aggregate without a group")
    rel = self.compile(group.p, outer)
    g = self.alias()
    env = self.env_of(rel, g, outer)
    keys = [str(k) for k in group.expr or []]
    for k in group.expr or []:
        if not isinstance(k, Variable):
            raise Unsupported("GROUP BY an expression")
    cols, out = [], {}
    with self.expr.scope(g) as lets:
        for agg in node.A:
            res = str(agg.res)
            sql = _aggregate(self, agg, env, keys)
            cols.append(f"{sql} AS {col(res)}")
            # a group key is as bound as in the rows grouped (with GROUP BY, no rows make no group); a
            # count is always bound; any other aggregate may be an error
            out[res] = _maybe_unbound(agg, rel, keys)
    group_by = f" GROUP BY {', '.join(env.get(k, 'NULL') for k in keys)}" if keys else ""
    return Rel(f"SELECT {', '.join(cols)} FROM ({lets.layers(rel.sql)}) AS {g}{group_by}", out)


def _maybe_unbound(agg, rel: Rel, keys: list[str]) -> bool:
    """Whether an aggregate's result may be unbound. With GROUP BY every group has rows, so a group key,
    or MIN, MAX or SAMPLE of a variable every row binds, is bound; a count always is."""
    if agg.name == "Aggregate_Count":
        return False
    arg = str(agg.vars) if isinstance(agg.vars, Variable) else None
    if keys and arg in rel.vars and agg.name in ("Aggregate_Sample", "Aggregate_Min", "Aggregate_Max"):
        return rel.vars[arg]
    return True


def _aggregate(self, agg, env: Env, keys: list[str]) -> str:
    kind, x = agg.name, self.expr
    distinct = "DISTINCT " if agg.get("distinct") == "DISTINCT" else ""
    if kind == "Aggregate_Sample" and isinstance(agg.vars, Variable) and str(agg.vars) in keys:
        return env[str(agg.vars)]
    if kind == "Aggregate_Count":
        counted = "*" if agg.vars == "*" else distinct + x.term(x.compile(agg.vars, env))
        if agg.vars == "*" and distinct:
            raise Unsupported("COUNT(DISTINCT *)")
        return f"('\"{XSD}integer' || chr(31) || CAST(count({counted}) AS VARCHAR))"
    value: Val = x.compile(agg.vars, env)
    if kind in ("Aggregate_Min", "Aggregate_Max"):
        t = x.term(value)
        n = x.num(Val("term", t))
        kind_order = x.let(f"(CASE WHEN left({t}, 1) = '_' THEN 1 WHEN left({t}, 1) = '<' THEN 2 "
                           f"WHEN {n.dbl} IS NOT NULL THEN 3 ELSE 4 END)")
        fn = "arg_min" if kind == "Aggregate_Min" else "arg_max"
        # SPARQL's order: blank nodes, IRIs, numbers by value (exactly where they are decimals), others
        return f"{fn}({t}, {{'c': {kind_order}, 'd': {n.dbl}, 'f': {n.sql}, 's': {t}}})"
    if kind == "Aggregate_Sample":
        return f"min({x.term(value)})"
    if kind in ("Aggregate_Sum", "Aggregate_Avg"):
        t = x.term(value)
        num = x.num(value)
        ok = f"count({distinct}{t}) = count({distinct}{num.dbl})"  # a value that is not a number: an error
        rank = f"coalesce(max({num.aux}), 1)"
        inline = sqlnum.Numbers(lambda sql: sql, Val, guarded=False)  # over aggregates: nothing to bind per row
        total = Val("num", f"coalesce(CAST(sum({distinct}{num.sql}) AS HUGEINT), CAST(0 AS HUGEINT))", rank,
                    f"coalesce(sum({distinct}{num.dbl}), 0)")
        if kind == "Aggregate_Sum":
            return f"(CASE WHEN {ok} THEN {inline.term(total)} END)"
        n = inline.from_count(f"count({distinct}{num.dbl})")
        mean = inline.arith("/", total, n)
        return (f"(CASE WHEN {ok} THEN CASE WHEN count({distinct}{num.dbl}) = 0 "
                f"THEN '\"{XSD}integer' || chr(31) || '0' ELSE {inline.term(mean)} END END)")
    if kind == "Aggregate_GroupConcat":
        s = x.string(value)
        sep = agg.get("separator")
        sep_sql = sql_str(" " if sep is None else str(sep))
        # SPARQL leaves the order unspecified; sorted here, so that it is the same on every run
        return f"('\"' || chr(31) || coalesce(string_agg({distinct}{s.sql}, {sep_sql} ORDER BY {s.sql}), ''))"
    raise Unsupported(f"aggregate {kind}")
