"""SPARQL graph patterns, from rdflib's algebra, as DuckDB SQL over a triple table.

A pattern compiles to a :class:`Rel`: a ``SELECT`` with a column per variable (``"v_name"``) and, for each,
whether it may be unbound (``NULL``). Joins follow SPARQL's compatibility (an unbound variable joins
anything), which is plain equality, and so a hash join, whenever both sides always bind it. EXISTS is a
correlated subquery: inside it, a variable the enclosing solution binds is that value (SPARQL's
substitution), at any depth of nesting.

The constructs compiled are those the rules use: basic graph patterns, property paths (sequence,
alternative, inverse, ``*``, ``+``, ``?``), joins, OPTIONAL, UNION, FILTER, BIND, VALUES, sub-SELECT,
DISTINCT, GROUP BY with COUNT/SUM/AVG/MIN/MAX/SAMPLE/GROUP_CONCAT, EXISTS and NOT EXISTS. Anything else
raises :class:`~guidelinekg.engine.sqlexpr.Unsupported` naming it.
"""

from __future__ import annotations

import hashlib
import itertools

from rdflib.paths import AlternativePath, InvPath, MulPath, Path, SequencePath
from rdflib.plugins.sparql.algebra import translateGroupGraphPattern
from rdflib.term import BNode, Literal, URIRef, Variable

from guidelinekg.engine import sqlgroups
from guidelinekg.engine.sqlexpr import ExprCompiler, Unsupported, Val, const
from guidelinekg.engine.sqlvalues import UNIT, Env, Rel, col

TABLE = "triples"  # a view of every triple (s, p, o), for a pattern whose predicate is a variable


def pred_table(predicate: str) -> str:
    """The table (s, o) of one predicate's triples: the store is partitioned by predicate, so that DuckDB
    scans only the triples a pattern can match and its optimizer knows each predicate's cardinality."""
    return '"p_' + hashlib.sha1(predicate.encode()).hexdigest()[:20] + '"'


class PatternCompiler:
    def __init__(self):
        self._ids = itertools.count()
        self.predicates: set[str] = set()  # the IRIs of the predicates whose tables the SQL reads
        self.reads_all = False  # whether the SQL reads the view of every triple (TABLE)
        self.expr = ExprCompiler(self._exists, self._ids)

    def table(self, predicate: URIRef) -> str:
        self.predicates.add(str(predicate))
        return pred_table(str(predicate))

    def alias(self) -> str:
        return f"a{next(self._ids)}"

    def env_of(self, rel: Rel, alias: str, outer: Env) -> Env:
        inner = Env({v: f"{alias}.{col(v)}" for v in rel.vars}, {v for v, m in rel.vars.items() if m})
        return outer.merged(inner)

    # -- entry point
    def compile(self, node, outer: Env | None = None) -> Rel:
        outer = outer if outer is not None else Env()
        name = getattr(node, "name", type(node).__name__)
        method = getattr(self, "_" + name, None)
        if method is None:
            raise Unsupported(f"graph pattern {name}")
        return method(node, outer)

    def _exists(self, graph, env: Env) -> str:
        if getattr(graph, "name", "") == "GroupGraphPatternSub":
            graph = translateGroupGraphPattern(graph)
        rel = self.compile(graph, env)
        return f"EXISTS ({rel.sql})" if not rel.unit else "TRUE"

    # -- basic graph patterns and paths
    def _BGP(self, node, outer: Env) -> Rel:
        if not node.triples:
            return UNIT
        froms, conds = [], []
        bound: dict[str, str] = {}
        blanks: dict[str, str] = {}
        for s, p, o in node.triples:
            a = self.alias()
            if isinstance(p, Path):
                froms.append(f"({self.path(p, self._domain(node.triples, s, o))}) AS {a}")
                slots = ((s, "s"), (o, "o"))
            elif isinstance(p, URIRef):
                froms.append(f"{self.table(p)} AS {a}")
                slots = ((s, "s"), (o, "o"))
            else:
                self.reads_all = True
                froms.append(f"{TABLE} AS {a}")
                slots = ((s, "s"), (p, "p"), (o, "o"))
            for term, column in slots:
                ref = f"{a}.{column}"
                if isinstance(term, BNode):
                    name = blanks.setdefault(str(term), f"_b{next(self._ids)}")
                    term = Variable(name)
                    if name in bound:
                        conds.append(f"{ref} = {bound[name]}")
                    else:
                        bound[name] = ref
                    continue
                if isinstance(term, Variable):
                    name = str(term)
                    if name in bound:
                        conds.append(f"{ref} = {bound[name]}")
                        continue
                    bound[name] = ref
                    if name in outer:
                        if name in outer.maybe:
                            conds.append(f"({outer[name]} IS NULL OR {ref} = {outer[name]})")
                        else:
                            conds.append(f"{ref} = {outer[name]}")
                    continue
                if isinstance(term, Literal) and column != "o":
                    conds.append("FALSE")  # a literal is never a subject or predicate
                    continue
                conds.append(f"{ref} = {self.expr.term(const(term))}")
        names = [n for n in bound if not n.startswith("_b")]
        select = ", ".join(f"{bound[n]} AS {col(n)}" for n in names) or "1 AS __unit_bgp"
        where = f" WHERE {' AND '.join(conds)}" if conds else ""
        return Rel(f"SELECT {select} FROM {', '.join(froms)}{where}", {n: False for n in names})

    def _domain(self, triples, s, o) -> str | None:
        """Nodes a path's zero-length step may start from: a superset of what its subject (or object, the
        same node) can be bound to, read from a constant or from another pattern of the group that binds
        it; ``None``: every node of the graph."""
        for end in (s, o):
            if isinstance(end, (URIRef, Literal)):
                return f"SELECT {self.expr.term(const(end))} AS n"
        for end in (s, o):
            if not isinstance(end, Variable):
                continue
            for ts, tp, to in triples:
                if isinstance(tp, URIRef) and end in (ts, to):
                    return f"SELECT DISTINCT {'s' if ts == end else 'o'} AS n FROM {self.table(tp)}"
        return None

    def path(self, p, domain: str | None = None) -> str:
        """SQL for the (s, o) pairs a property path relates; ``domain``: see :meth:`_domain`."""
        if isinstance(p, URIRef):
            return f"SELECT s, o FROM {self.table(p)}"
        if isinstance(p, InvPath):
            return f"SELECT o AS s, s AS o FROM ({self.path(p.arg, domain)})"
        if isinstance(p, SequencePath):
            parts = [self.path(p.args[0], domain)]
            for step in p.args[1:]:
                parts.append(self.path(step, f"SELECT DISTINCT o AS n FROM ({parts[-1]})"))
            aliases = [self.alias() for _ in parts]
            sql = f"({parts[0]}) AS {aliases[0]}"
            for prev, a, part in zip(aliases, aliases[1:], parts[1:]):
                sql += f" JOIN ({part}) AS {a} ON {prev}.o = {a}.s"
            return f"SELECT {aliases[0]}.s, {aliases[-1]}.o FROM {sql}"
        if isinstance(p, AlternativePath):
            return " UNION ALL ".join(f"SELECT s, o FROM ({self.path(a, domain)})" for a in p.args)
        if isinstance(p, MulPath):
            step = self.path(p.path)
            if not domain:
                self.reads_all = True
            nodes = domain or f"SELECT s AS n FROM {TABLE} UNION SELECT o FROM {TABLE}"
            if p.mod == "?":
                return f"SELECT s, o FROM ({step}) UNION SELECT n, n FROM ({nodes})"
            r = self.alias()
            closure = (f"WITH RECURSIVE {r}(s, o) AS (SELECT s, o FROM ({step}) UNION "
                       f"SELECT {r}.s, x.o FROM {r} JOIN ({step}) AS x ON {r}.o = x.s) SELECT s, o FROM {r}")
            if p.mod == "+":
                return closure
            return f"SELECT s, o FROM ({closure}) UNION SELECT n, n FROM ({nodes})"
        raise Unsupported(f"property path {p!r}")

    # -- combinations
    def _join_sql(self, a: Rel, b: Rel, kind: str, outer: Env, keep: str = "") -> Rel:
        la, ra = self.alias(), self.alias()
        conds, cols, out = [], [], {}
        if keep:
            cols.append(f"{la}.{keep}")
        for v, maybe in a.vars.items():
            if v in b.vars:
                bm = b.vars[v]
                if not maybe and not bm:
                    conds.append(f"{la}.{col(v)} = {ra}.{col(v)}")
                    cols.append(f"{la}.{col(v)} AS {col(v)}")
                else:
                    conds.append(f"({la}.{col(v)} IS NULL OR {ra}.{col(v)} IS NULL OR {la}.{col(v)} = {ra}.{col(v)})")
                    cols.append(f"coalesce({la}.{col(v)}, {ra}.{col(v)}) AS {col(v)}")
                out[v] = maybe and bm if kind == "JOIN" else maybe
            else:
                cols.append(f"{la}.{col(v)}")
                out[v] = maybe
        for v, maybe in b.vars.items():
            if v not in a.vars:
                cols.append(f"{ra}.{col(v)}")
                out[v] = maybe or kind != "JOIN"
        on = " AND ".join(conds) or "TRUE"
        select = ", ".join(cols) or "1 AS __unit"
        return Rel(f"SELECT {select} FROM ({a.sql}) AS {la} {kind} ({b.sql}) AS {ra} ON {on}", out)

    def _Join(self, node, outer: Env) -> Rel:
        a = self.compile(node.p1, outer)
        b = self.compile(node.p2, outer)
        if a.unit:
            return b
        if b.unit:
            return a
        return self._join_sql(a, b, "JOIN", outer)

    def _LeftJoin(self, node, outer: Env) -> Rel:
        a = self.compile(node.p1, outer)
        b = self.compile(node.p2, outer)
        expr = node.expr
        if expr is None or getattr(expr, "name", "") == "TrueFilter":
            return self._join_sql(a, b, "LEFT JOIN", outer)
        # OPTIONAL { ... FILTER(e) }: the left rows numbered, joined with the right, filtered by e (with its
        # subexpressions bound once), and the matches joined back to the left rows by number
        rid = "__rid" + str(next(self._ids))
        x = self.alias()
        numbered = Rel(f"SELECT {x}.*, row_number() OVER () AS {rid} FROM ({a.sql}) AS {x}", dict(a.vars))
        joined = self._join_sql(numbered, b, "JOIN", outer, keep=rid)
        f = self.alias()
        with self.expr.scope(f) as lets:
            test = lets.bind(self.expr.ebv(self.expr.compile(expr, self.env_of(joined, f, outer))))
        right_only = [v for v in b.vars if v not in a.vars]
        shared = [v for v in b.vars if v in a.vars]
        matches = (f"SELECT {f}.{rid}, " + ", ".join([f"{f}.{col(v)}" for v in right_only + shared] or ["1 AS __unit"])
                   + f" FROM ({lets.layers(joined.sql)}) AS {f} WHERE {test}")
        la, ra = self.alias(), self.alias()
        cols = [f"coalesce({la}.{col(v)}, {ra}.{col(v)}) AS {col(v)}" if v in shared and a.vars[v] else f"{la}.{col(v)}"
                for v in a.vars] + [f"{ra}.{col(v)}" for v in right_only]
        out = dict(a.vars)
        out.update({v: True for v in right_only})
        return Rel(f"SELECT {', '.join(cols) or '1 AS __unit'} FROM ({numbered.sql}) AS {la} "
                   f"LEFT JOIN ({matches}) AS {ra} ON {la}.{rid} = {ra}.{rid}", out)

    def _Filter(self, node, outer: Env) -> Rel:
        return self._chain(node, outer)

    def _Extend(self, node, outer: Env) -> Rel:
        return self._chain(node, outer)

    def _chain(self, node, outer: Env) -> Rel:
        """A run of BINDs and FILTERs over one pattern, as one projection scope: a BIND's value is a bound
        subexpression the later ones read in its own SQL type (a number stays a number), and the filters
        hold together at the end (a BIND keeps the rows it is given, so this is the same as filtering
        where each FILTER stands)."""
        steps = []
        while getattr(node, "name", "") in ("Filter", "Extend"):
            steps.append(node)
            node = node.p
        rel = self.compile(node, outer)
        f = self.alias()
        env = self.env_of(rel, f, outer)
        vars_ = dict(rel.vars)
        tests, bound = [], []
        with self.expr.scope(f) as lets:
            for step in reversed(steps):
                if step.name == "Filter":
                    tests.append(lets.bind(self.expr.ebv(self.expr.compile(step.expr, env))))
                    for name in required(step.expr) & set(vars_):
                        vars_[name] = False  # a row the filter keeps binds it
                    continue
                name = str(step.var)
                if name in vars_:
                    raise Unsupported(f"BIND to ?{name}, which is already bound")
                value = self.expr.compile(step.expr, env)
                term = lets.bind(self.expr.term(value))
                env = Env(env, env.maybe | {name})
                env[name] = term
                env.typed = {**env.typed, name: value}
                # a BIND of a variable is as bound as it; of a constant, always; of anything else, maybe not
                vars_[name] = (vars_.get(str(step.expr), True) if isinstance(step.expr, Variable)
                               else not _never_error(value))
                bound.append((name, term))
        cols = [f"{f}.{col(v)}" for v in rel.vars] + [f"{term} AS {col(name)}" for name, term in bound]
        where = f" WHERE {' AND '.join(tests)}" if tests else ""
        return Rel(f"SELECT {', '.join(cols) or '1 AS __unit'} FROM ({lets.layers(rel.sql)}) AS {f}{where}", vars_)

    def columns(self, rel: Rel, alias: str) -> str:
        return ", ".join(f"{alias}.{col(v)}" for v in rel.vars) or "1 AS __unit"

    def _Union(self, node, outer: Env) -> Rel:
        a, b = self.compile(node.p1, outer), self.compile(node.p2, outer)
        names = list(dict.fromkeys([*a.vars, *b.vars]))
        def side(rel: Rel) -> str:
            x = self.alias()
            cols = ", ".join(f"{x}.{col(v)}" if v in rel.vars else f"CAST(NULL AS VARCHAR) AS {col(v)}"
                             for v in names) or "1 AS __unit"
            return f"SELECT {cols} FROM ({rel.sql}) AS {x}"
        vars_ = {v: a.vars.get(v, True) or b.vars.get(v, True) for v in names}
        return Rel(f"{side(a)} UNION ALL {side(b)}", vars_)

    def _Project(self, node, outer: Env) -> Rel:
        names = [str(v) for v in node.PV]
        inner_outer = Env({k: v for k, v in outer.items() if k in names}, outer.maybe)
        rel = self.compile(node.p, inner_outer)
        x = self.alias()
        cols = ", ".join(f"{x}.{col(v)}" if v in rel.vars else f"CAST(NULL AS VARCHAR) AS {col(v)}"
                         for v in names) or "1 AS __unit"
        return Rel(f"SELECT {cols} FROM ({rel.sql}) AS {x}", {v: rel.vars.get(v, True) for v in names})

    def _Distinct(self, node, outer: Env) -> Rel:
        rel = self.compile(node.p, outer)
        return Rel(f"SELECT DISTINCT * FROM ({rel.sql})", dict(rel.vars))

    def _Reduced(self, node, outer: Env) -> Rel:
        return self.compile(node.p, outer)

    def _ToMultiSet(self, node, outer: Env) -> Rel:
        return self.compile(node.p, outer)

    def _SubSelect(self, node, outer: Env) -> Rel:
        return self.compile(node.p, outer)

    def _values(self, node, outer: Env) -> Rel:
        names = list(dict.fromkeys(str(v) for row in node.res for v in row))
        if not node.res:
            return Rel("SELECT 1 AS __unit WHERE FALSE", {})
        rows = []
        for row in node.res:
            cells = []
            for n in names:
                value = row.get(Variable(n), "UNDEF")
                cells.append("CAST(NULL AS VARCHAR)" if value == "UNDEF" else self.expr.term(const(value)))
            rows.append("(" + ", ".join(cells) + ")")
        maybe = {n: any(row.get(Variable(n), "UNDEF") == "UNDEF" for row in node.res) for n in names}
        x = self.alias()
        return Rel(f"SELECT * FROM (VALUES {', '.join(rows)}) AS {x}({', '.join(col(n) for n in names)})", maybe)

    def _AggregateJoin(self, node, outer: Env) -> Rel:
        return sqlgroups.aggregate_join(self, node, outer)

    def _Group(self, node, outer: Env) -> Rel:
        raise Unsupported("GROUP BY without aggregates")


def required(e) -> set[str]:
    """Variables a FILTER's expression cannot be true without (it is an error, so false, when one is
    unbound): after the filter they are bound, and joins on them are equi-joins. Conservative: only
    BOUND, comparisons of variables (or their STR) and the conjunctions and disjunctions of those."""
    name = getattr(e, "name", "")
    if name == "Builtin_BOUND":
        return {str(e.arg)}
    if name == "ConditionalAndExpression":
        out = required(e.expr)
        for other in e.other or []:
            out |= required(other)
        return out
    if name == "ConditionalOrExpression":
        out = required(e.expr)
        for other in e.other or []:
            out &= required(other)
        return out
    if name == "RelationalExpression" and e.op not in ("IN", "NOT IN"):
        return {str(x) for x in (_operand_var(e.expr), _operand_var(e.other)) if x is not None}
    return set()


def _operand_var(e):
    if isinstance(e, Variable):
        return e
    if getattr(e, "name", "") == "Builtin_STR" and isinstance(e.arg, Variable):
        return e.arg
    return None


def _never_error(value: Val) -> bool:
    """An expression that always has a value (a constant): its variable is never unbound."""
    return value.sql.startswith("'") and value.kind in ("term", "str") or value.sql in ("TRUE", "FALSE")
