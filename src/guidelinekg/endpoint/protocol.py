"""The SPARQL 1.1 Protocol's side of the endpoint: what a request asks, how a result is answered.

:func:`execute` runs one query on an open store with the request's dataset (``default-graph-uri``,
``named-graph-uri``) and serialises the result in the media type :func:`negotiate` picks from ``Accept``.
:func:`uses_service` decides whether a query would federate (``SERVICE``), which the endpoint and the
``query`` command refuse. Process management and HTTP are :mod:`guidelinekg.endpoint.server`'s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pyoxigraph as ox

RESULT_FORMATS = {
    "application/sparql-results+json": ox.QueryResultsFormat.JSON,
    "application/json": ox.QueryResultsFormat.JSON,
    "application/sparql-results+xml": ox.QueryResultsFormat.XML,
    "application/xml": ox.QueryResultsFormat.XML,
    "text/csv": ox.QueryResultsFormat.CSV,
    "text/tab-separated-values": ox.QueryResultsFormat.TSV,
}
GRAPH_FORMATS = {
    "text/turtle": ox.RdfFormat.TURTLE,
    "application/n-triples": ox.RdfFormat.N_TRIPLES,
    "application/rdf+xml": ox.RdfFormat.RDF_XML,
    "application/ld+json": ox.RdfFormat.JSON_LD,
}


# --- SERVICE detection ----------------------------------------------------------------------------------

_ESCAPE = re.compile(r"\\u([0-9A-Fa-f]{4})|\\U([0-9A-Fa-f]{8})")
_SKIP = re.compile(
    r'"""(?:[^"\\]|\\.|"(?!""))*"""'  # long strings
    r"|'''(?:[^'\\]|\\.|'(?!''))*'''"
    r'|"(?:[^"\\\n\r]|\\.)*"'  # short strings
    r"|'(?:[^'\\\n\r]|\\.)*'"
    r'|<[^<>"{}|^`\\\x00-\x20]*>'  # IRI references
    r"|#[^\n\r]*",  # comments
    re.DOTALL,
)
_SERVICE = re.compile(r"(?<![\w?$@:.\-])SERVICE(?![\w:\-])", re.IGNORECASE)


def uses_service(query: str) -> bool:
    """Whether the SPARQL text uses the ``SERVICE`` keyword (federation).

    >>> uses_service('SELECT * WHERE { SERVICE <http://example.org/sparql> { ?s ?p ?o } }')
    True
    >>> uses_service('SELECT * WHERE { ?s <http://example.org/SERVICE> "SERVICE" } # SERVICE')
    False
    >>> uses_service(r'SELECT * WHERE { \\u0053ERVICE <http://example.org/> { ?s ?p ?o } }')
    True
    """

    def decode(m: re.Match) -> str:
        try:
            return chr(int(m.group(1) or m.group(2), 16))
        except ValueError:  # beyond Unicode: the engine rejects the query anyway
            return "\ufffd"

    text = _ESCAPE.sub(decode, query)
    return bool(_SERVICE.search(_SKIP.sub(" ", text)))


# --- content negotiation --------------------------------------------------------------------------------


def negotiate(accept: str | None, offers: dict) -> str | None:
    """The offered media type the ``Accept`` header prefers (first offer for ``*/*`` or no header)."""
    if not accept or not accept.strip():
        return next(iter(offers))
    ranked = []
    for i, part in enumerate(accept.split(",")):
        fields = [f.strip() for f in part.split(";")]
        media, q = fields[0].lower(), 1.0
        for f in fields[1:]:
            if f.startswith("q="):
                try:
                    q = float(f[2:])
                except ValueError:
                    q = 0.0
        ranked.append((-q, i, media))
    for neg_q, _, media in sorted(ranked):
        if neg_q == 0:
            break
        if media in offers:
            return media
        if media in ("*/*", "application/*", "text/*"):
            prefix = media.split("/")[0]
            for offer in offers:
                if media == "*/*" or offer.startswith(prefix + "/"):
                    return offer
    return None


# --- workers --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueryRequest:
    query: str
    accept: str | None = None
    default_graphs: tuple[str, ...] = ()
    named_graphs: tuple[str, ...] = ()
    union_default_graph: bool = True


@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str
    body: bytes


def text_reply(status: int, message: str) -> Reply:
    return Reply(status, "text/plain; charset=utf-8", (message.rstrip() + "\n").encode())


def execute(store: ox.Store, request: QueryRequest) -> Reply:
    """Run one query on an open store and serialise the result as negotiated."""
    kwargs: dict = {}
    if request.default_graphs:
        kwargs["default_graph"] = [ox.NamedNode(g) for g in request.default_graphs]
    elif request.union_default_graph:
        kwargs["use_default_graph_as_union"] = True
    if request.named_graphs:
        kwargs["named_graphs"] = [ox.NamedNode(g) for g in request.named_graphs]
    try:
        result = store.query(request.query, **kwargs)
        offers = GRAPH_FORMATS if isinstance(result, ox.QueryTriples) else RESULT_FORMATS
        media = negotiate(request.accept, offers)
        if media is None:
            return text_reply(406, f"none of the accepted types is available; offered: {', '.join(offers)}")
        body = result.serialize(format=offers[media])
    except SyntaxError as exc:
        return text_reply(400, f"query syntax error: {exc.msg or exc}")
    except ValueError as exc:
        return text_reply(400, f"bad request: {exc}")
    except Exception as exc:  # noqa: BLE001 - evaluation errors of any kind become a 500 with the message
        return text_reply(500, f"query failed: {exc}")
    return Reply(200, media + ("; charset=utf-8" if media.startswith("text/") else ""), body)
