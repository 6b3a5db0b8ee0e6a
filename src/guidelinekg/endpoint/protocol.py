"""The SPARQL 1.1 Protocol's side of the endpoint: what a request asks, how a result is answered.

:func:`execute` runs one query on an open store with the request's dataset (``default-graph-uri``,
``named-graph-uri``, else the query's ``FROM``: :func:`dataset`) and base IRI, and serialises the result in
the media type :func:`negotiate` picks from ``Accept``; an update sent as a query is refused as one
(:func:`update_keyword`). :func:`federation` decides whether a query would federate (``SERVICE``), which
the endpoint and the ``query`` command refuse; :func:`decode_form` reads a request's parameters as UTF-8 or
not at all. The service description is :mod:`guidelinekg.endpoint.description`'s; process management and
HTTP are :mod:`guidelinekg.endpoint.server`'s.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from urllib.parse import parse_qs

import pyoxigraph as ox

from guidelinekg.endpoint.sparqlerrors import syntax_error
from guidelinekg.provenance.storedir import holds_merge

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
_SERVICE_TEXT = re.compile("service", re.IGNORECASE)
_SERVICE_NODES = ("ServiceGraphPattern", "Service")
CALLS_REMOTE = "the query calls a remote endpoint (SERVICE)"
UNCHECKED = ("the query mentions 'service' and could not be parsed to prove that it calls no remote endpoint "
             "(SERVICE)")


def decode_escapes(text: str) -> str:
    """The text with SPARQL's ``\\uXXXX`` and ``\\UXXXXXXXX`` escapes decoded, as a parser does first."""

    def decode(m: re.Match) -> str:
        try:
            return chr(int(m.group(1) or m.group(2), 16))
        except ValueError:  # beyond Unicode: the engine rejects the query anyway
            return "\ufffd"

    return _ESCAPE.sub(decode, text)


class _Quiet(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:  # rdflib warns about odd IRIs while parsing
        return False


def _has_service(root) -> bool:
    """Whether any node of a parse tree or algebra, however deep, is a SERVICE pattern."""
    from pyparsing import ParseResults
    from rdflib.plugins.sparql.parserutils import CompValue

    stack, seen = [root], set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, CompValue):
            if node.name in _SERVICE_NODES:
                return True
            stack.extend(dict.values(node))
        elif isinstance(node, ParseResults):
            stack.extend(list(node))
            stack.extend(node.values())
        elif isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, (list, tuple, set, frozenset)):
            stack.extend(node)
        elif hasattr(node, "algebra"):  # rdflib's Query: the algebra of the whole query
            stack.append(node.algebra)
    return False


def federation(query: str) -> str | None:
    """Why the query would federate (``SERVICE``), or ``None`` when it would not.

    Decided on the parsed query: rdflib's SPARQL parser and algebra, any node at any depth (sub-selects,
    ``EXISTS`` in filters, nested groups). A query rdflib cannot parse (an update, a syntax error, nesting
    too deep for it) is refused when the word ``service`` occurs anywhere in its text, ``\\u`` escapes
    decoded; otherwise the engine reports its own error.

    >>> federation('SELECT * WHERE { ?s ?p ?o . SERVICE <http://example.org/sparql> { ?s ?p ?o } }')
    'the query calls a remote endpoint (SERVICE)'
    >>> federation('SELECT * WHERE { ?s <http://example.org/SERVICE> "SERVICE" } # SERVICE') is None
    True
    """
    from rdflib.plugins.sparql.algebra import translateQuery
    from rdflib.plugins.sparql.parser import parseQuery

    quiet, logger = _Quiet(), logging.getLogger("rdflib")
    logger.addFilter(quiet)
    logging.getLogger("rdflib.term").addFilter(quiet)
    try:
        try:
            # SPARQL ends a comment at CR as at LF; rdflib's grammar ends it at LF only, so a SERVICE after
            # "# comment\r" would be hidden from it and seen by the engine. A bare CR can stand nowhere
            # else that matters (not in short strings or IRIs), so it is read as LF.
            tree = parseQuery(query.replace("\r", "\n"))
        except Exception:  # noqa: BLE001 - any failure of rdflib's parser: decide on the text
            tree = None
        if tree is not None and _has_service(tree):
            return CALLS_REMOTE
        if tree is not None:
            try:
                algebra = translateQuery(tree)
            except Exception:  # noqa: BLE001 - an unknown prefix, say: the parse tree has decided
                algebra = None
            return CALLS_REMOTE if algebra is not None and _has_service(algebra) else None
    finally:
        logger.removeFilter(quiet)
        logging.getLogger("rdflib.term").removeFilter(quiet)
    if _SERVICE_TEXT.search(query) or _SERVICE_TEXT.search(decode_escapes(query)):
        return UNCHECKED
    return None


# Oxigraph's parser recurses per nesting level and crashes the process (a segmentation fault, no
# exception) at a few thousand nested groups; no real query nests anywhere near this deep.
MAX_NESTING = 512
_OPAQUE = re.compile(
    r'"""(?:[^"\\]|\\.|"(?!""))*"""' r"|'''(?:[^'\\]|\\.|'(?!''))*'''"
    r'|"(?:[^"\\\n\r]|\\.)*"' r"|'(?:[^'\\\n\r]|\\.)*'" r'|<[^<>"{}|^`\\\x00-\x20]*>' r"|#[^\n\r]*",
    re.DOTALL,
)


def nesting_depth(query: str) -> int:
    """The deepest nesting of ``{``, ``(``, ``[`` and runs of unary ``!``, ``-``, ``+``, ``^`` in the query: outside
    strings, IRIs and comments, and in the raw text (whichever is deeper, so a quote that fools the scanner
    cannot hide nesting).

    >>> nesting_depth('SELECT * { { ?s ?p "{{{" } }'), nesting_depth('ASK {}')
    (5, 1)
    """
    def deepest(text: str) -> int:
        depth = top = run = 0
        for char in text:
            if char in "{([":
                depth += 1
                top = max(top, depth)
            elif char in "})]":
                depth = max(depth - 1, 0)
            if char in "!-+^":  # unary operators nest too: !!!!true is 4 levels deep for the parser
                run += 1
                top = max(top, depth + run)
            elif not char.isspace():
                run = 0
        return top

    return max(deepest(query), deepest(_OPAQUE.sub(" ", query)))


def too_deep(query: str) -> str | None:
    """Why the query is refused for its nesting, or ``None``."""
    depth = nesting_depth(query)
    if depth > MAX_NESTING:
        return (f"the query nests groups {depth} levels deep, more than the {MAX_NESTING} "
                "the engine parses safely")
    return None


_DATASET_CLAUSE = re.compile(r"(?<![\w.:\-\u00B7?$@])FROM(?![\w:\-\u00B7])", re.IGNORECASE)


def names_dataset(query: str) -> bool:
    """Whether the query names its own dataset (``FROM`` or ``FROM NAMED``): the keyword outside strings, IRIs
    and comments, not part of a name, in the text as written or with its ``\\u`` escapes decoded.

    >>> names_dataset('SELECT * FROM <urn:g> WHERE { ?s ?p ?o }'), names_dataset('SELECT * { ?s ex:from "FROM" }')
    (True, False)
    """
    return any(_DATASET_CLAUSE.search(_OPAQUE.sub(" ", text)) for text in (query, decode_escapes(query)))


_SKIP = r"(?:\s|#[^\n\r]*[\n\r])*"  # white space and comments (each to its line end: one way to match)
_UPDATE = re.compile(rf"{_SKIP}(?:(?:PREFIX{_SKIP}[^\s:#<]*:{_SKIP}<[^<>]*>|BASE{_SKIP}<[^<>]*>){_SKIP})*"
                     r"(INSERT|DELETE|LOAD|CLEAR|CREATE|DROP|COPY|MOVE|ADD|WITH)\b", re.IGNORECASE)
READ_ONLY = "this endpoint is read-only: updates are not accepted"


def update_keyword(text: str) -> str | None:
    """The update operation a text begins with (after its ``PREFIX`` and ``BASE`` declarations), upper case;
    ``None`` for anything else. No query begins so: a text that fails to parse as a query and begins so is
    an update sent as a query.

    >>> update_keyword('PREFIX ex: <http://e/> # note\\ninsert data { ex:a ex:b ex:c }'), update_keyword('ASK {}')
    ('INSERT', None)
    """
    m = _UPDATE.match(text)
    return m[1].upper() if m else None


def uses_service(query: str) -> bool:
    """Whether the query would federate (see :func:`federation`).

    >>> uses_service(r'PREFIX ex: <http://e/> SELECT * { ?s ex:a\\# ?o . SERVICE <http://e/> { } }')
    True
    """
    return federation(query) is not None


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


# --- request parameters ---------------------------------------------------------------------------------


class BadRequest(ValueError):
    """A request that cannot be read (400): its text is not UTF-8, a graph IRI is not an IRI."""


def media_type(content_type: str) -> tuple[str, str | None]:
    """The media type of a ``Content-Type`` header and its ``charset`` (lower case, unquoted) if any."""
    fields = [f.strip() for f in content_type.split(";")]
    charset = None
    for f in fields[1:]:
        name, _, value = f.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    return fields[0].lower(), charset


def check_charset(charset: str | None) -> None:
    """A body declared in any charset but UTF-8 is a :class:`BadRequest`, never decoded as something else."""
    if charset not in (None, "utf-8", "utf8"):
        raise BadRequest(f"the body is declared as charset {charset!r}: only UTF-8 is accepted")


def utf8(body: bytes, charset: str | None) -> str:
    """A request body as text: UTF-8 only, declared or not; anything else is a :class:`BadRequest`."""
    check_charset(charset)
    if body.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in body:
        raise BadRequest("the body is not UTF-8: it " + ("begins with a UTF-16 byte order mark" if body[:2] in (
            b"\xff\xfe", b"\xfe\xff") else "holds NUL bytes (UTF-16?)") + "; send the query as UTF-8 (a NUL "
            "in a string is written \\u0000)")
    try:
        return body.decode("utf-8").removeprefix("\ufeff")  # a UTF-8 byte order mark is no part of the query
    except UnicodeDecodeError as exc:
        raise BadRequest(f"the body is not valid UTF-8 (bad byte at offset {exc.start})") from None


def decode_form(text: str) -> dict[str, list[str]]:
    """Form or query-string parameters from the Latin-1 text of their raw bytes (as WSGI gives a query
    string): raw bytes beyond ASCII are percent-escaped, then every escape must decode as UTF-8."""
    raw = "".join(c if ord(c) < 0x80 else f"%{ord(c):02X}" for c in text) if not text.isascii() else text
    try:
        return parse_qs(raw, keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise BadRequest("a parameter is not valid UTF-8 once percent-decoded") from None


def graph_iris(params: dict[str, list[str]], name: str) -> tuple[str, ...]:
    """The values of ``default-graph-uri`` or ``named-graph-uri``, each checked to be an absolute IRI."""
    for value in params.get(name, []):
        try:
            ox.NamedNode(value)
        except ValueError as exc:
            raise BadRequest(f"{name} {value!r} is not an absolute IRI: {exc}") from None
    return tuple(params.get(name, []))


# --- workers --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueryRequest:
    query: str
    accept: str | None = None
    default_graphs: tuple[str, ...] = ()
    named_graphs: tuple[str, ...] = ()
    union_default_graph: bool = True
    base_iri: str | None = None


@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str
    body: bytes


OUT_OF_MEMORY = ("query stopped: it needed more memory than a query may use (--max-memory); narrow it (a LIMIT "
                 "does not bound what ORDER BY sorts)")


def text_reply(status: int, message: str) -> Reply:
    return Reply(status, "text/plain; charset=utf-8", (message.rstrip() + "\n").encode())


def refuse_service(reason: str) -> Reply:
    return text_reply(403, f"{reason}: SERVICE (federated query) is refused, this endpoint never calls other "
                           "endpoints")


def dataset(request: QueryRequest, merged: bool = False) -> dict:
    """``Store.query`` keywords for the request's dataset. As the protocol says, ``default-graph-uri`` and
    ``named-graph-uri`` make the dataset (``named-graph-uri`` alone: an empty default graph; only
    ``default-graph-uri``: no named graphs), whatever ``FROM`` and ``FROM NAMED`` the query has (the protocol's
    rule: the request's dataset wins); with neither, the query's ``FROM`` and ``FROM NAMED`` make it (the
    engine reads them); with none of these, the default graph is the merge of all graphs, each triple once:
    the store's own default graph where a load wrote the merge there (``merged``), else Oxigraph's union,
    which yields a triple once per graph holding it (oxigraph#1919; a store loaded before the merge)."""
    kwargs: dict = {}
    if request.default_graphs or request.named_graphs:
        kwargs["default_graph"] = [ox.NamedNode(g) for g in request.default_graphs]
        kwargs["named_graphs"] = [ox.NamedNode(g) for g in request.named_graphs]
    elif names_dataset(request.query):
        pass
    elif merged:
        kwargs.update({} if request.union_default_graph else {"default_graph": []})
    elif request.union_default_graph:
        kwargs["use_default_graph_as_union"] = True
    if request.base_iri:
        kwargs["base_iri"] = request.base_iri
    return kwargs


def execute(store: ox.Store, request: QueryRequest) -> Reply:
    """Refuse a federated query, else run it on an open store and serialise the result as negotiated."""
    try:
        reason = federation(request.query)
    except Exception:  # noqa: BLE001 - the check itself failing: refuse rather than risk a call
        reason = "the query could not be checked for SERVICE"
    if reason is not None:
        return refuse_service(reason)
    deep = too_deep(request.query)
    if deep is not None:
        return text_reply(400, deep)
    try:
        result = store.query(request.query, **dataset(request, holds_merge(store)))
        offers = GRAPH_FORMATS if isinstance(result, ox.QueryTriples) else RESULT_FORMATS
        media = negotiate(request.accept, offers)
        if media is None:
            return text_reply(406, f"none of the accepted types is available; offered: {', '.join(offers)}")
        body = result.serialize(format=offers[media])
    except SyntaxError as exc:
        if (operation := update_keyword(request.query)) is not None:
            return text_reply(403, f"{READ_ONLY} (the query is an update: {operation})")
        return text_reply(400, syntax_error(request.query, "query", exc.msg or str(exc), set()).render())
    except ValueError as exc:
        return text_reply(400, f"bad request: {exc}")
    except MemoryError:  # an allocation over the worker's limit that Python saw (Oxigraph's own abort)
        return text_reply(503, OUT_OF_MEMORY)
    except Exception as exc:  # noqa: BLE001 - evaluation errors of any kind become a 500 with the message
        return text_reply(500, f"query failed: {exc}")
    return Reply(200, media + ("; charset=utf-8" if media.startswith("text/") else ""), body)
