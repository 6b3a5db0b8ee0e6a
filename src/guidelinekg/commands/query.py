"""Run a SPARQL query over the shipped vocabulary and guidelines plus your data files (run provenance,
cohort N-Quads, patient RDF, other content), with parameters bound as RDF terms.

FILE is a .rq file or the name of a library query in queries/library/ (e.g. recommendations-by-grade;
--list shows them). Each --param NAME=VALUE binds the query variable ?NAME to an RDF term, never by
editing the query text: <iri>, a prefixed name (gkg:, loinc:, prov:, xsd:, the content's own prefixes) or a bare absolute
IRI is an IRI; "text", "text"@en and "1.5"^^xsd:decimal are literals; a plain number is a typed number;
anything else is a string. Library queries declare their parameters' types (e.g. a date): a typed
parameter is checked however it is written (asOf=2026-01-15, asOf="2026-01-15" and
asOf="2026-01-15"^^xsd:date bind the same date; "2026-02-30"^^xsd:date, <http://x> or 20260115 are
refused), and a literal typed xsd:date, xsd:integer, xsd:decimal ... whose text is not of its type is
refused for any parameter.

--data reads Turtle (.ttl), N-Triples (.nt), N-Quads (.nq), TriG (.trig), JSON-LD (.jsonld, .json) and
RDF/XML (.rdf); a directory, as a cohort --out (its provenance.trig.gz) or a guideline folder (the RDF files
under it, but .json: a vignette's patient). The default graph is the merge of all of it, named graphs included; GRAPH still sees the
named graphs. SERVICE is refused unless --allow-service: input never makes the tool reach the network.

SELECT results print as an aligned table (compact IRIs), CSV (full IRIs) or SPARQL 1.1 Query Results
JSON; ASK prints true or false; CONSTRUCT and DESCRIBE print sorted N-Triples. Rows of a query without
ORDER BY are sorted, so the output is the same on every run.

Exit codes: 0 done (whatever the number of rows), 2 unusable input (unreadable file, syntax error with
line and column, unknown parameter, SERVICE refused).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

FORMATS = ("table", "csv", "json")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("query", nargs="?", metavar="FILE", help="a .rq file or a library query name")
    parser.add_argument("--param", "-p", action="append", default=[], metavar="NAME=VALUE",
                        help="bind ?NAME to an RDF term (repeatable)")
    parser.add_argument("--data", "-d", action="append", default=[], type=Path, metavar="PATH",
                        help="an RDF file to query with the shipped content (repeatable)")
    parser.add_argument("--format", "-f", choices=FORMATS, default="table",
                        help="SELECT output: table (default), csv or json")
    parser.add_argument("--no-guidelines", action="store_true",
                        help="leave out the shipped guideline content (the vocabulary is always loaded)")
    parser.add_argument("--allow-service", action="store_true",
                        help="allow SERVICE calls to remote SPARQL endpoints")
    parser.add_argument("--list", action="store_true", help="list the library queries and their parameters")


def _list_library() -> str:
    from guidelinekg.endpoint.query import QueryText, library_queries

    blocks = []
    for path in library_queries():
        header = QueryText.read(path).header
        purpose = (header.get("purpose") or "").split(". ")[0].rstrip(".") + "."
        params = ", ".join(f"{p.name} ({p.type}{'' if p.required else ', optional'})" for p in header.params)
        blocks.append(f"{path.stem}\n    {purpose}\n    params: {params or 'none'}\n")
    return "\n".join(blocks)


def run(args: argparse.Namespace) -> int:
    from guidelinekg.errors import InputError

    if args.list:
        _write(_list_library())
        return 0
    if not args.query:
        raise InputError("give a query FILE or a library query name", hint="guidelinekg query --list")
    from guidelinekg.endpoint.query import QueryText, load_dataset, parse_params, run_query

    query = QueryText.resolve(args.query)
    params = parse_params(args.param, query.header)
    store = load_dataset(args.data, shipped_guidelines=not args.no_guidelines)
    result = run_query(store, query, params, allow_service=args.allow_service)
    _write(render(result, args.format))
    return 0


def render(result, fmt: str) -> str:
    """The text of a :class:`~guidelinekg.endpoint.query.QueryResult` in ``fmt`` (table, csv or json)."""
    if result.form == "graph":
        return "".join(line + "\n" for line in result.triples)
    if result.form == "ask":
        if fmt == "json":
            return _json({"head": {}, "boolean": result.boolean})
        return ("true" if result.boolean else "false") + "\n"
    return {"table": _table, "csv": _csv, "json": _results_json}[fmt](result)


def _compact(term) -> str:
    import pyoxigraph as ox

    from guidelinekg.endpoint.query import display_prefixes

    if term is None:
        return ""
    if isinstance(term, ox.NamedNode):
        for prefix, namespace in display_prefixes().items():
            local = term.value[len(namespace):]
            if term.value.startswith(namespace) and local and not any(c in local for c in "/#?"):
                return f"{prefix}:{local}"
        return f"<{term.value}>"
    if isinstance(term, ox.BlankNode):
        return f"_:{term.value}"
    return term.value.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")


def _table(result) -> str:
    cells = [list(result.variables)] + [[_compact(t) for t in row] for row in result.rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(result.variables))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    n = len(result.rows)
    lines.append(f"({n} row{'' if n == 1 else 's'})")
    return "\n".join(lines) + "\n"


def _csv(result) -> str:
    """SPARQL 1.1 Query Results CSV: full IRIs, lexical forms, CRLF line ends."""
    import csv
    import io

    import pyoxigraph as ox

    def cell(t) -> str:
        if t is None:
            return ""
        return f"_:{t.value}" if isinstance(t, ox.BlankNode) else t.value

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(result.variables)
    writer.writerows([cell(t) for t in row] for row in result.rows)
    return buffer.getvalue()


def _results_json(result) -> str:
    """SPARQL 1.1 Query Results JSON; xsd:string literals carry no datatype (RDF 1.1 simple literals)."""
    import pyoxigraph as ox

    def term(t) -> dict:
        if isinstance(t, ox.NamedNode):
            return {"type": "uri", "value": t.value}
        if isinstance(t, ox.BlankNode):
            return {"type": "bnode", "value": t.value}
        out = {"type": "literal", "value": t.value}
        if t.language:
            out["xml:lang"] = t.language
        elif t.datatype.value != "http://www.w3.org/2001/XMLSchema#string":
            out["datatype"] = t.datatype.value
        return out

    bindings = [{v: term(t) for v, t in zip(result.variables, row) if t is not None} for row in result.rows]
    return _json({"head": {"vars": list(result.variables)}, "results": {"bindings": bindings}})


def _json(obj) -> str:
    import json

    return json.dumps(obj, ensure_ascii=False, indent=2) + "\n"


def _write(text: str) -> None:
    sys.stdout.flush()
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is not None:  # UTF-8 whatever the terminal's locale: labels hold ≤, ≥ and dashes
        buffer.write(text.encode("utf-8"))
        buffer.flush()
    else:
        sys.stdout.write(text)
