"""The values of the compiled engine's expressions (:class:`Val`), the subexpressions bound once per row
(:class:`Lets`), and constants. See :mod:`guidelinekg.engine.sqlexpr`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rdflib.term import Literal, URIRef

from guidelinekg.engine import sqlnum
from guidelinekg.engine.sqlterms import RANKS, SEP, XSD, iri, literal, sql_str

_NUMERIC = "(" + ", ".join(sql_str(t) for t in RANKS) + ")"
_TIMES = f"('{XSD}dateTime', '{XSD}dateTimeStamp')"
_ATOM = re.compile(r"""^(?:[a-z][a-z0-9_]*\."[^"]*"|'[^']*'|-?[0-9.]+|TRUE|FALSE|NULL|"""
                   r"""CAST\((?:NULL|-?[0-9.e+]+) AS [A-Z]+\))$""")
_LET = re.compile(r'"(__l\d+)"')
NULL_TERM = "CAST(NULL AS VARCHAR)"


class Unsupported(Exception):
    """A SPARQL construct the compiler does not translate."""


@dataclass(frozen=True)
class Val:
    kind: str  # term | bool | num | str
    sql: str  # num: the exact value, a HUGEINT scaled by 10^18 (sqlnum)
    aux: str = ""  # num: SQL for the rank; str: SQL for the tag
    dbl: str = ""  # num: the value as a DOUBLE


class Lets:
    """The subexpressions of one expression, each computed once per row, level by level."""

    def __init__(self, alias: str, counter):
        self.alias = alias
        self.counter = counter
        self.items: list[tuple[str, str, int]] = []  # name, SQL, level
        self.levels: dict[str, int] = {}
        self.known: dict[str, str] = {}  # SQL -> the reference bound to it

    def bind(self, sql: str) -> str:
        if _ATOM.match(sql):
            return sql
        if sql in self.known:
            return self.known[sql]
        name = f"__l{next(self.counter)}"
        self.levels[name] = 1 + max((self.levels.get(n, 0) for n in _LET.findall(sql)), default=0)
        self.items.append((name, sql, self.levels[name]))
        self.known[sql] = ref = f'{self.alias}."{name}"'
        return ref

    def layers(self, sql: str) -> str:
        """``sql`` (a relation) with the bound subexpressions added, a projection per level."""
        for level in range(1, max(self.levels.values(), default=0) + 1):
            cols = ", ".join(f'{s} AS "{n}"' for n, s, lv in self.items if lv == level)
            sql = f"SELECT {self.alias}.*, {cols} FROM ({sql}) AS {self.alias}"
        return sql


def const(term) -> Val:
    if isinstance(term, URIRef):
        return Val("term", sql_str(iri(str(term))))
    if isinstance(term, Literal):
        dt = str(term.datatype) if term.datatype else None
        if term.language:
            return Val("str", sql_str(str(term)), sql_str("@" + term.language.lower()))
        if dt is None or dt == XSD + "string":
            return Val("str", sql_str(str(term)), "''")
        if dt in RANKS:
            value = literal(str(term), dt).partition(SEP)[2]
            try:
                float(value)
            except ValueError:
                return Val("term", sql_str(literal(str(term), dt)))
            fixed, dbl = sqlnum.constant(value, RANKS[dt])
            return Val("num", fixed, str(RANKS[dt]), dbl)
        if dt == XSD + "boolean" and str(term) in ("true", "false", "1", "0"):
            return Val("bool", "TRUE" if str(term) in ("true", "1") else "FALSE")
        return Val("term", sql_str(literal(str(term), dt)))
    raise Unsupported(f"constant {term!r}")


def col(name: str) -> str:
    return '"v_' + name.replace('"', '""') + '"'


class Env(dict):
    """Variable name -> SQL for its term; ``maybe`` holds the names that may be unbound."""

    def __init__(self, items=(), maybe=(), typed=None):
        super().__init__(items)
        self.maybe = set(maybe)
        self.typed = dict(typed or getattr(items, "typed", {}))  # name -> Val, a BIND's value in its own type

    def merged(self, inner: Env) -> Env:
        """``inner`` over this (outer) scope."""
        env = Env(self, self.maybe)
        env.update(inner)
        env.maybe = (env.maybe - set(inner)) | inner.maybe
        env.typed = {k: v for k, v in self.typed.items() if k not in inner}
        env.typed.update(getattr(inner, "typed", {}))
        return env


@dataclass
class Rel:
    sql: str
    vars: dict[str, bool] = field(default_factory=dict)  # name -> may be unbound

    @property
    def unit(self) -> bool:
        return not self.vars and self.sql == UNIT.sql


UNIT = Rel("SELECT 1 AS __unit")
