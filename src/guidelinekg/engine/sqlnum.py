"""SPARQL numbers in the compiled engine's SQL, with the arithmetic Oxigraph does.

A number is a :class:`~guidelinekg.engine.sqlexpr.Val` of kind ``num`` with three SQL parts:

* ``sql``: an ``xsd:integer`` or ``xsd:decimal`` as a ``HUGEINT`` scaled by 10^18, the representation
  Oxigraph uses, so sums, products and quotients are exact where Oxigraph's are (64.6 * 15 is 969, not
  968.9999999999999, whose FLOOR would round a dose down); ``NULL`` for a float or double;
* ``aux``: the rank of its type (1 integer, 2 decimal, 3 float, 4 double), from SPARQL's type promotion;
* ``dbl``: its value as a ``DOUBLE`` (the arithmetic of floats and doubles).

As in Oxigraph, a decimal product needing more than 18 fractional digits is an error, a quotient is
truncated to 18 digits, and a division by zero is an error. Values past about 1.7 * 10^20 overflow the
scaled ``HUGEINT`` and are errors here (Oxigraph's integers overflow at 9.2 * 10^18).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from guidelinekg.engine.sqlterms import RANKS, SEP, XSD

S = "CAST('1000000000000000000' AS HUGEINT)"  # 10^18
G = "CAST('1000000000' AS HUGEINT)"  # 10^9
NULL_FIX = "CAST(NULL AS HUGEINT)"
NULL_DBL = "CAST(NULL AS DOUBLE)"

# lexical form (of an integer or a decimal) -> scaled HUGEINT; digits past the 18th are dropped
FIX_MACRO = (
    "CREATE OR REPLACE MACRO g_fix(lex) AS CASE WHEN regexp_full_match(lex, '[+-]?(\\d+(\\.\\d*)?|\\.\\d+)') "
    "THEN try((CASE WHEN left(lex, 1) = '-' THEN -1 ELSE 1 END) * ("
    f"CAST(coalesce(nullif(regexp_extract(lex, '^[+-]?(\\d*)', 1), ''), '0') AS HUGEINT) * {S} + "
    "CAST(rpad(left(regexp_extract(lex, '\\.(\\d*)$', 1), 18), 18, '0') AS HUGEINT))) END"
)
# scaled HUGEINT -> canonical decimal lexical form ("969", "3.5", "-0.25")
FIXTEXT_MACRO = (
    "CREATE OR REPLACE MACRO g_fixtext(v) AS (CASE WHEN v < 0 THEN '-' ELSE '' END) || "
    f"CAST(abs(v) // {S} AS VARCHAR) || CASE WHEN abs(v) % {S} = 0 THEN '' "
    f"ELSE '.' || rtrim(lpad(CAST(abs(v) % {S} AS VARCHAR), 18, '0'), '0') END"
)
MACROS = [FIX_MACRO, FIXTEXT_MACRO]


def constant(text: str, rank: int):
    """The SQL parts of a numeric constant: (fixed, dbl)."""
    value = float(text)
    if rank <= 2:
        try:
            scaled = int(Decimal(text) * (10 ** 18))
        except InvalidOperation:
            return NULL_FIX, f"CAST({value!r} AS DOUBLE)"
        return f"CAST('{scaled}' AS HUGEINT)", f"CAST({value!r} AS DOUBLE)"
    return NULL_FIX, f"CAST('{text}' AS DOUBLE)"


class Numbers:
    """Numeric operations; ``let`` binds a subexpression once (see sqlexpr.Lets)."""

    def __init__(self, let, val, guarded: bool = True):
        self.let = let
        self.Val = val  # the Val class (kept here to avoid an import cycle)
        # try() turns an overflow into NULL (an error); DuckDB allows no aggregate inside it
        self.t = "try" if guarded else ""

    def make(self, fixed: str, rank: str, dbl: str | None = None):
        if dbl is None:
            dbl = f"(CAST({fixed} AS DOUBLE) / 1e18)"
        return self.Val("num", self.let(fixed), rank, self.let(dbl))

    def from_term(self, t: str, tag: str, lex: str):
        rank = self.let(f"g_rank({tag})")
        fixed = self.let(f"(CASE WHEN {rank} <= 2 THEN g_fix({lex}) END)")
        dbl = self.let(f"(CASE WHEN {rank} <= 2 THEN CAST({fixed} AS DOUBLE) / 1e18 "
                       f"WHEN {rank} > 2 THEN TRY_CAST({lex} AS DOUBLE) END)")
        return self.Val("num", fixed, rank, dbl)

    def from_count(self, count: str):
        """An xsd:integer from a SQL integer expression (a count, a length)."""
        return self.make(f"(CAST({count} AS HUGEINT) * {S})", "1", f"CAST({count} AS DOUBLE)")

    @staticmethod
    def exact(*vals) -> str:
        """SQL true when every operand is an integer or a decimal (the scaled arithmetic applies)."""
        ranks = [v.aux for v in vals]
        if all(r.isdigit() for r in ranks):
            return "TRUE" if all(int(r) <= 2 for r in ranks) else "FALSE"
        return "(" + " AND ".join(f"{r} <= 2" for r in ranks) + ")"

    @staticmethod
    def rank(a, b, floor: int = 0) -> str:
        if a.aux.isdigit() and b.aux.isdigit():
            return str(max(int(a.aux), int(b.aux), floor))
        return f"greatest({a.aux}, {b.aux}{', ' + str(floor) if floor else ''})"

    def term(self, v) -> str:
        """The literal of a number, in the canonical form of its type."""
        r = v.aux
        integer = f"'\"{XSD}integer{SEP}' || CAST({v.sql} // {S} AS VARCHAR)"
        decimal = f"'\"{XSD}decimal{SEP}' || g_fixtext({v.sql})"
        double = f"'\"{XSD}double{SEP}' || g_dbl({v.dbl})"
        floating = f"'\"{XSD}float{SEP}' || g_dbl({v.dbl})"
        if r.isdigit():
            return {"1": integer, "2": decimal, "3": floating, "4": double}[r]
        return f"(CASE {r} WHEN 1 THEN {integer} WHEN 2 THEN {decimal} WHEN 3 THEN {floating} WHEN 4 THEN {double} END)"

    def arith(self, op: str, a, b):
        exact = self.exact(a, b)
        rank = self.let(self.rank(a, b, 2 if op == "/" else 0))
        if op in ("+", "-"):
            fixed = f"{self.t}({a.sql} {op} {b.sql})"
        elif op == "*":
            fixed = self._times(a.sql, b.sql)
        else:
            fixed = self._divide(a.sql, b.sql)
        fixed = fixed if exact == "TRUE" else f"(CASE WHEN {exact} THEN {fixed} END)"
        dbl_op = f"({a.dbl} {op} {b.dbl})" if op != "/" else f"(CASE WHEN {b.dbl} <> 0 THEN {a.dbl} / {b.dbl} END)"
        dbl = f"(CASE WHEN {exact} THEN CAST({self.let(fixed)} AS DOUBLE) / 1e18 ELSE {dbl_op} END)"
        return self.make(fixed, rank, dbl)

    def _times(self, a: str, b: str) -> str:
        """The exact product of two scaled values, or NULL when it needs more than 18 fractional digits or
        overflows: with |a| = a1 + a0 and |b| = b1 + b0 (whole and fractional parts, scaled), the product
        is a1*b1 + a1*b0 + a0*b1 + a0*b0, each of which fits unless the product does."""
        aa, bb = self.let(f"abs({a})"), self.let(f"abs({b})")
        a1, a0, b1, b0 = f"({aa} // {S})", f"({aa} % {S})", f"({bb} // {S})", f"({bb} % {S})"
        small = self.let(f"({a0} * {b0})")
        whole = f"{self.t}({a1} * {b1} * {S} + {a1} * {b0} + {a0} * {b1} + {small} // {S})"
        return f"(CASE WHEN {small} % {S} = 0 THEN sign({a}) * sign({b}) * {whole} END)"

    def _divide(self, a: str, b: str) -> str:
        """The quotient truncated to 18 fractional digits (NULL for a division by zero): a long division
        in steps of 10^9."""
        aa, bb = self.let(f"abs({a})"), self.let(f"abs({b})")
        r0 = self.let(f"({aa} % nullif({bb}, 0))")
        r1 = self.let(f"({self.t}({r0} * {G}) % {bb})")
        digits = f"{self.t}(({aa} // {bb}) * {S} + ({self.t}({r0} * {G}) // {bb}) * {G} + {self.t}({r1} * {G}) // {bb})"
        return f"(CASE WHEN {bb} <> 0 THEN sign({a}) * sign({b}) * {digits} END)"

    def negate(self, v):
        return self.make(f"(-{v.sql})", v.aux, f"(-{v.dbl})")

    def absolute(self, v):
        return self.make(f"abs({v.sql})", v.aux, f"abs({v.dbl})")

    def floor(self, v):
        f = f"(CASE WHEN {v.sql} >= 0 OR {v.sql} % {S} = 0 THEN ({v.sql} // {S}) * {S} ELSE ({v.sql} // {S} - 1) * {S} END)"
        return self._whole(v, f, f"floor({v.dbl})")

    def ceil(self, v):
        f = f"(CASE WHEN {v.sql} <= 0 OR {v.sql} % {S} = 0 THEN ({v.sql} // {S}) * {S} ELSE ({v.sql} // {S} + 1) * {S} END)"
        return self._whole(v, f, f"ceil({v.dbl})")

    def round(self, v):
        half = self.let(f"{self.t}({v.sql} + {S} // 2)")
        f = f"(CASE WHEN {half} >= 0 OR {half} % {S} = 0 THEN ({half} // {S}) * {S} ELSE ({half} // {S} - 1) * {S} END)"
        return self._whole(v, f, f"floor({v.dbl} + 0.5)")

    def truncate(self, v):
        """xsd:integer(v): toward zero."""
        fixed = f"(CASE WHEN {v.aux} <= 2 THEN ({v.sql} // {S}) * {S} ELSE {self.t}(CAST(trunc({v.dbl}) AS HUGEINT) * {S}) END)"
        return self.make(fixed, "1", f"trunc({v.dbl})")

    def _whole(self, v, fixed: str, dbl: str):
        exact = self.exact(v)
        fixed = fixed if exact == "TRUE" else f"(CASE WHEN {exact} THEN {fixed} END)"
        return self.make(fixed, v.aux, f"(CASE WHEN {exact} THEN CAST({self.let(fixed)} AS DOUBLE) / 1e18 ELSE {dbl} END)")

    def less(self, a, b) -> str:
        exact = self.exact(a, b)
        if exact == "TRUE":
            return f"({a.sql} < {b.sql})"
        return f"(CASE WHEN {exact} THEN {a.sql} < {b.sql} ELSE {a.dbl} < {b.dbl} END)"

    def equal(self, a, b) -> str:
        exact = self.exact(a, b)
        if exact == "TRUE":
            return f"({a.sql} = {b.sql})"
        return f"(CASE WHEN {exact} THEN {a.sql} = {b.sql} ELSE {a.dbl} = {b.dbl} END)"

    def ebv(self, v) -> str:
        return f"({v.dbl} <> 0 AND NOT isnan({v.dbl}))"

    def from_double(self, dbl: str, rank: int):
        """A number of the given rank from a SQL DOUBLE (a cast from a double or a parsed lexical form)."""
        if rank <= 2:
            return self.make(f"{self.t}(CAST(round({dbl} * 1e18) AS HUGEINT))", str(rank), dbl)
        return self.make(NULL_FIX, str(rank), dbl)


def rank_of(datatype: str) -> int | None:
    return RANKS.get(datatype)
