"""RDF terms as the compiled engine's SQL values, and the SQL macros that read them.

The compiled engine (:mod:`guidelinekg.engine.sqlstore`) keeps every term in one ``VARCHAR``, so that a
join on a variable is a join on one column and term equality is string equality:

* an IRI is ``<`` followed by the IRI;
* a blank node is ``_:`` followed by its label;
* a literal is ``"``, its tag, the unit separator (U+001F), then its lexical form. The tag is empty for
  a simple literal (``xsd:string``), ``@`` and the language for a language-tagged string, else the
  datatype IRI. The lexical form comes last, so a lexical form holding U+001F still reads back whole.

Numeric and boolean literals are stored in the canonical form Oxigraph gives them when it loads data
(``"45.0"^^xsd:decimal`` is ``45``, ``"1"^^xsd:boolean`` is ``true``), so the two engines hold the same
terms. The macros (:data:`MACROS`) give SPARQL's view of a term: its lexical form, its numeric value
and type, its order. An expression that is an error in SPARQL is ``NULL`` in SQL.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

XSD = "http://www.w3.org/2001/XMLSchema#"
RDF_LANG_STRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"
SEP = "\x1f"

INTEGER_TYPES = tuple(XSD + t for t in (
    "integer", "int", "long", "short", "byte", "nonNegativeInteger", "positiveInteger", "nonPositiveInteger",
    "negativeInteger", "unsignedLong", "unsignedInt", "unsignedShort", "unsignedByte"))
# SPARQL's numeric type promotion, as a rank: the result of an operation has the higher rank of its operands
RANKS = {**{t: 1 for t in INTEGER_TYPES}, XSD + "decimal": 2, XSD + "float": 3, XSD + "double": 4}
RANK_TYPES = {1: XSD + "integer", 2: XSD + "decimal", 3: XSD + "float", 4: XSD + "double"}


def sql_str(text: str) -> str:
    """A SQL string constant."""
    return "'" + text.replace("'", "''") + "'"


def iri(value: str) -> str:
    return "<" + value


def literal(lex: str, datatype: str | None = None, language: str | None = None) -> str:
    if language:
        return '"@' + language.lower() + SEP + lex
    if not datatype or datatype == XSD + "string":
        return '"' + SEP + lex
    return '"' + datatype + SEP + canonical_lexical(lex, datatype)


def canonical_lexical(lex: str, datatype: str) -> str:
    """The lexical form Oxigraph stores for a literal of a numeric or boolean type; others unchanged. A form
    that is not valid for its type is kept as written (the term is then not a number)."""
    rank = RANKS.get(datatype)
    try:
        if rank == 1:
            return str(int(lex.strip(), 10))
        if rank == 2:
            return decimal_text(Decimal(lex.strip()))
        if rank in (3, 4):
            return double_text(float(lex.strip()))
    except (ValueError, InvalidOperation):
        return lex
    if datatype == XSD + "boolean":
        return {"1": "true", "0": "false"}.get(lex.strip(), lex.strip())
    return lex


def decimal_text(value: Decimal) -> str:
    if not value.is_finite():
        raise InvalidOperation
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def double_text(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "INF" if value > 0 else "-INF"
    if value == int(value) and abs(value) < 1e16:
        return str(int(value))
    return repr(value).replace("e+", "e")


def from_oxigraph(term) -> str:
    """The SQL value of a pyoxigraph term."""
    import pyoxigraph as ox

    if isinstance(term, ox.NamedNode):
        return "<" + term.value
    if isinstance(term, ox.BlankNode):
        return "_:" + term.value
    if term.language:
        return literal(term.value, language=term.language)
    return literal(term.value, term.datatype.value)


def to_ntriples(value: str) -> str:
    """The N-Triples form of a SQL term value."""
    head = value[:1]
    if head == "<":
        return "<" + value[1:] + ">"
    if head == "_":
        return value
    tag, _, lex = value[1:].partition(SEP)
    escaped = lex.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    if not tag:
        return f'"{escaped}"'
    if tag.startswith("@"):
        return f'"{escaped}"{tag}'
    return f'"{escaped}"^^<{tag}>'


def _in(values) -> str:
    return "(" + ", ".join(sql_str(v) for v in values) + ")"


_NUMERIC = _in(RANKS)
_S = "chr(31)"

_TYPES = list(RANKS)
_TYPE_LIST = "[" + ", ".join(sql_str(t) for t in _TYPES) + "]"
_RANK_LIST = "[" + ", ".join(str(RANKS[t]) for t in _TYPES) + "]"
_S = "chr(31)"

# Scalar macros, expanded by DuckDB where they are used (g_ is for "guidelinekg term"). Each reads its
# argument a few times at most and calls no other macro, so that an expression over them stays small: the
# compiler binds a term's facets (tag, lexical form, rank, number) once per row (sqlexpr.Lets).
MACROS = [
    f"CREATE OR REPLACE MACRO g_tag(t) AS CASE WHEN left(t, 1) = '\"' THEN substr(t, 2, instr(t, {_S}) - 2) END",
    f"CREATE OR REPLACE MACRO g_lex(t) AS CASE WHEN left(t, 1) = '\"' THEN substr(t, instr(t, {_S}) + 1) "
    f"WHEN left(t, 1) = '<' THEN substr(t, 2) END",
    # the lexical form and the tag of a string literal (simple or language-tagged), else NULL (an error)
    f"CREATE OR REPLACE MACRO g_slex(t) AS CASE WHEN left(t, 2) = '\"{SEP}' OR left(t, 2) = '\"@' "
    f"THEN substr(t, instr(t, {_S}) + 1) END",
    f"CREATE OR REPLACE MACRO g_stag(t) AS CASE WHEN left(t, 2) = '\"{SEP}' THEN '' WHEN left(t, 2) = '\"@' "
    f"THEN substr(t, 2, instr(t, {_S}) - 2) END",
    # the numeric rank of a tag (1 integer, 2 decimal, 3 float, 4 double), NULL for any other
    f"CREATE OR REPLACE MACRO g_rank(tag) AS {_RANK_LIST}[list_position({_TYPE_LIST}, tag)]",
    # a number as the canonical lexical form Oxigraph gives its type
    "CREATE OR REPLACE MACRO g_dec(v) AS CASE WHEN isinf(v) OR isnan(v) THEN NULL "
    "WHEN v = trunc(v) AND abs(v) < 1e18 THEN CAST(CAST(v AS HUGEINT) AS VARCHAR) "
    "WHEN abs(v) >= 1e-4 AND abs(v) < 1e15 THEN CAST(v AS VARCHAR) "
    "ELSE rtrim(rtrim(printf('%.18f', v), '0'), '.') END",
    "CREATE OR REPLACE MACRO g_dbl(v) AS CASE WHEN isnan(v) THEN 'NaN' WHEN isinf(v) AND v > 0 THEN 'INF' "
    "WHEN isinf(v) THEN '-INF' WHEN v = trunc(v) AND abs(v) < 1e16 THEN CAST(CAST(v AS HUGEINT) AS VARCHAR) "
    "ELSE replace(CAST(v AS VARCHAR), 'e+', 'e') END",
    f"CREATE OR REPLACE MACRO g_mknum(v, r) AS CASE r "
    f"WHEN 1 THEN '\"{XSD}integer{SEP}' || CAST(CAST(v AS HUGEINT) AS VARCHAR) "
    f"WHEN 2 THEN '\"{XSD}decimal{SEP}' || g_dec(v) "
    f"WHEN 3 THEN '\"{XSD}float{SEP}' || g_dbl(v) "
    f"WHEN 4 THEN '\"{XSD}double{SEP}' || g_dbl(v) END",
    f"CREATE OR REPLACE MACRO g_bool(b) AS CASE WHEN b THEN '\"{XSD}boolean{SEP}true' "
    f"WHEN NOT b THEN '\"{XSD}boolean{SEP}false' END",
]
