"""Patient data as N-Triples lines in the model of ``ontology/patient.ttl``, and reading patient input.

A :class:`PatientData` is the loader's one output type, whatever the input: FHIR R4 JSON (mapped by
:mod:`guidelinekg.fhir`), Turtle or JSON-LD in the patient model. It holds plain N-Triples lines, sorted,
so that a cohort of a million patients can be streamed into a pyoxigraph store without building a Python
graph per patient, and so that equal input gives byte-equal output.

:func:`load_patient_input` tells the input kind from the content, not the file name:

* JSON with ``resourceType`` -> FHIR R4;
* JSON with ``@context``, ``@graph`` or ``@id`` (or a JSON array) -> JSON-LD. Remote contexts are refused
  (the loader never reaches the network); inline contexts are fine;
* anything else -> Turtle.

Blank nodes of RDF input are relabelled in order of first appearance with a prefix derived from the patient
IRI, so output is deterministic and labels of different patients never collide in one store.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pyoxigraph as ox

from .errors import InputError, Location

if TYPE_CHECKING:  # pragma: no cover
    import rdflib

    from .medmatch import SubstanceMatcher
    from .units import MeasureCatalog

GKG = "https://w3id.org/guidelinekg/ontology#"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
XSD = "http://www.w3.org/2001/XMLSchema#"
IRI_PREFIX = "urn:guidelinekg:"
_PARSER_PREFIX = re.compile(r"^Parser error (?:at line \d+ )?(?:at|between) [^:]*: ")


@dataclass(frozen=True, order=True)
class IngestNote:
    """Something the loader noticed: ``code`` is stable (e.g. ``missing-value``), ``record`` is the source
    record it is about (e.g. ``Observation/obs-1``), or ``None`` for the input as a whole."""

    code: str
    message: str
    record: str | None = None

    def sort_key(self) -> tuple[str, str, str]:
        return (self.code, self.record or "", self.message)


@dataclass(frozen=True)
class PatientData:
    """One patient's facts as sorted, de-duplicated N-Triples lines (each ending in `` .``).

    >>> me = "urn:guidelinekg:Patient/p1"
    >>> p = PatientData.build(me, [triple(iri(me), iri(GKG + "identifier"), literal("Patient/p1"))] * 2)
    >>> p.ntriples
    ['<urn:guidelinekg:Patient/p1> <https://w3id.org/guidelinekg/ontology#identifier> "Patient/p1" .']
    """

    patient_iri: str
    ntriples: list[str]
    notes: list[IngestNote] = field(default_factory=list)

    @classmethod
    def build(cls, patient_iri: str, lines: Iterable[str], notes: Iterable[IngestNote] = ()) -> PatientData:
        """Make a :class:`PatientData` with lines and notes sorted and de-duplicated."""
        return cls(patient_iri, sorted(set(lines)), sorted(set(notes), key=IngestNote.sort_key))

    def extended(self, lines: Iterable[str], notes: Iterable[IngestNote] = ()) -> PatientData:
        """A copy with more lines and notes (sorted, de-duplicated)."""
        return replace(
            self,
            ntriples=sorted(set(self.ntriples).union(lines)),
            notes=sorted(set(self.notes).union(notes), key=IngestNote.sort_key),
        )

    def text(self) -> str:
        """The lines as one N-Triples document."""
        return "".join(line + "\n" for line in self.ntriples)

    def triples(self) -> Iterator[ox.Triple]:
        """The lines parsed back into pyoxigraph triples."""
        for quad in ox.parse(input=self.text().encode(), format=ox.RdfFormat.N_TRIPLES):
            yield quad.triple

    def facts(self, cls: str) -> dict[str, dict[str, list[str]]]:
        """Resources typed ``gkg:<cls>``, keyed by their N-Triples term (IRI or blank node): the values
        (IRI or lexical form) of each of their ``gkg:`` properties, by local name."""
        typed: set[str] = set()
        props: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        for t in self.triples():
            p, o = t.predicate.value, t.object
            if isinstance(o, ox.Triple):
                continue
            if p == RDF_TYPE and o.value == GKG + cls:
                typed.add(str(t.subject))
            elif p.startswith(GKG):
                props[str(t.subject)][p[len(GKG) :]].append(o.value)
        return {s: {k: sorted(v) for k, v in props[s].items()} for s in sorted(typed)}

    def to_rdflib(self) -> rdflib.Graph:
        """An rdflib Graph holding the patient's triples."""
        import rdflib

        graph = rdflib.Graph()
        graph.parse(data=self.text(), format="nt")
        return graph

    def load_into(self, store: ox.Store, *, graph: str | None = None) -> None:
        """Load the triples into a pyoxigraph store (default graph unless ``graph`` names one)."""
        to_graph = ox.NamedNode(graph) if graph else None
        store.load(input=self.text().encode(), format=ox.RdfFormat.N_TRIPLES, to_graph=to_graph)


def facts_sha256(patients: Iterable[PatientData]) -> str:
    """SHA-256 of the patients' facts as sorted N-Triples in Oxigraph's canonical forms (``"44.0"`` and
    ``"44"`` typed xsd:decimal are one value, written ``"44"``; an offset ``+00:00`` is written ``Z``).

    The digest of an evaluation's input: the same facts give the same digest whatever the order of the
    patients and lines or the lexical forms, and the facts recorded in provenance (written from the store,
    so in these forms) reproduce it, which is what ``guidelinekg audit`` checks.
    """
    patients = list(patients)
    if any("_:" in line for p in patients for line in p.ntriples):
        # A store relabels blank nodes at random: hash the (already sorted, deterministic) lines instead.
        lines = sorted(line + "\n" for p in patients for line in p.ntriples)
        return hashlib.sha256("".join(lines).encode()).hexdigest()
    store = ox.Store()
    for p in patients:
        p.load_into(store)
    # The engine writes the lines; sorting UTF-8 bytes orders them as sorting the text would.
    lines = sorted(store.dump(format=ox.RdfFormat.N_TRIPLES, from_graph=ox.DefaultGraph()).splitlines())
    return hashlib.sha256(b"".join(line + b"\n" for line in lines)).hexdigest()


# --- N-Triples terms ------------------------------------------------------------------------------------
# pyoxigraph terms do the escaping and reject invalid IRIs, so every line is valid N-Triples.


def iri(value: str) -> str:
    """``<value>`` in N-Triples; raises ``ValueError`` for an invalid IRI."""
    return str(ox.NamedNode(value))


def literal(value: str, datatype: str = XSD + "string") -> str:
    """A typed literal in N-Triples (``datatype`` is a full IRI)."""
    return str(ox.Literal(value, datatype=ox.NamedNode(datatype)))


def triple(subject: str, predicate: str, obj: str) -> str:
    """One N-Triples line from already formatted terms."""
    return f"{subject} {predicate} {obj} ."


def resource_iri(resource_type: str, resource_id: str) -> str:
    """``urn:guidelinekg:<ResourceType>/<id>`` with unsafe characters percent-encoded."""
    return f"{IRI_PREFIX}{quote(resource_type, safe='')}/{quote(resource_id, safe='-._~')}"


def json_hash(obj: Any) -> str:
    """A stable short hash of a JSON value (keys sorted; decimals by their lexical form)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def xsd_decimal(value: Decimal) -> str | None:
    """The lexical form of ``value`` as a valid xsd:decimal (no exponent), keeping its digits as given
    (``Decimal("101.10")`` -> ``"101.10"``, ``Decimal("1E+2")`` -> ``"100"``); ``None`` when not finite
    or absurdly large or small."""
    if not value.is_finite() or abs(value.adjusted()) > 40:
        return None
    text = format(value, "f")
    return "0" if text in ("-0", "-0.0") else text


# --- reading graphs: rdflib Graph or pyoxigraph Store ---------------------------------------------------


def select_rows(source: Any, query: str) -> list[tuple[str | None, ...]]:
    """Run a SPARQL SELECT on an rdflib Graph, a pyoxigraph Store or a :class:`guidelinekg.store.RuleStore`;
    each term becomes its string value (IRI, literal lexical form or blank node label), unbound variables
    ``None``. Rows sorted.

    A pyoxigraph store is queried with its named graphs merged into the default graph, so guideline
    content may live in named graphs.
    """
    rows: list[tuple[str | None, ...]] = []
    if isinstance(source, ox.Store):
        result = source.query(query, use_default_graph_as_union=True)
        assert isinstance(result, ox.QuerySolutions), "a SELECT query"
        names = [v.value for v in result.variables]
        rows = [tuple(None if s[n] is None else s[n].value for n in names) for s in result]
    elif hasattr(source, "select"):  # a RuleStore: rows are dicts of cells, unbound names left out
        head = re.search(r"SELECT\s+(?:DISTINCT\s+)?((?:\?\w+\s*)+)", query, re.IGNORECASE)
        names = re.findall(r"\?(\w+)", head.group(1)) if head else []
        rows = [tuple(row[n].value if n in row else None for n in names) for row in source.select(query)]
    else:
        rows = [tuple(None if term is None else str(term) for term in row) for row in source.query(query)]
    return sorted(rows, key=lambda r: tuple(x or "" for x in r))


# --- patient input --------------------------------------------------------------------------------------


def load_patient_input(
    path: str | Path,
    *,
    matcher: SubstanceMatcher | None = None,
    measures: MeasureCatalog | None = None,
) -> PatientData:
    """Read one patient from a file of FHIR R4 JSON, JSON-LD or Turtle (detected from the content).

    Args:
        path: the input file.
        matcher: recognises substances of medication exposures (FHIR input; RDF exposures that carry a
            ``gkg:productText`` but no ``gkg:exposureSubstance``).
        measures: when given, observation values are normalised with :func:`guidelinekg.units.normalise`.

    Returns:
        The patient's data.

    Raises:
        InputError: unreadable or empty file, malformed JSON/Turtle (with ``file:line:column``), a JSON-LD
            remote context, not exactly one patient.
    """
    location = Location(str(path))
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the patient file: {exc.strerror or exc}", location) from None
    if raw[:2] == b"\x1f\x8b":  # gzip, like the other inputs that accept .gz
        raw = _gunzip(raw, location)
    text = decode_text(raw, location)
    patient = _patient_from_text(text, location, matcher)
    if measures is not None:
        from .units import normalise

        patient = normalise(patient, measures)
    return patient


def _gunzip(raw: bytes, location: Location) -> bytes:
    import zlib

    from isal import igzip, igzip_lib

    try:
        return igzip.decompress(raw)
    except (OSError, EOFError, zlib.error, igzip_lib.IsalError) as exc:
        raise InputError(f"the file starts like gzip but cannot be decompressed: {exc}", location) from None


def decode_text(raw: bytes, location: Location) -> str:
    """UTF-8 text of an input file (BOM dropped); an empty file is an error."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"the file is not UTF-8 text (bad byte at offset {exc.start})", location) from None
    if not text.strip():
        raise InputError("the file is empty", location, hint="give a FHIR R4 JSON Bundle, JSON-LD or Turtle")
    return text


def parse_json(text: str, location: Location) -> Any:
    """Parse JSON keeping numbers' lexical forms (as :class:`~decimal.Decimal`)."""

    def reject_constant(name: str) -> Any:
        raise ValueError(f"{name} is not allowed in JSON")

    try:
        return json.loads(text, parse_float=Decimal, parse_int=Decimal, parse_constant=reject_constant)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"not valid JSON: {exc.msg}", replace(location, line=exc.lineno, column=exc.colno)
        ) from None
    except (ValueError, RecursionError) as exc:
        raise InputError(f"not valid JSON: {exc}", location) from None


def _patient_from_text(text: str, location: Location, matcher: SubstanceMatcher | None) -> PatientData:
    start = text.lstrip()[:1]
    if start in ("{", "["):
        try:
            doc = parse_json(text, location)
        except InputError:
            if start == "{" or location.path.lower().endswith((".json", ".jsonld")):
                raise
            doc = None  # "[" also opens a Turtle blank node: fall through to Turtle
        if doc is not None:
            if isinstance(doc, dict) and "resourceType" in doc:
                from .fhir import patients_from_json

                return _single(patients_from_json(doc, source=location.path, matcher=matcher), location)
            if isinstance(doc, list) and any(isinstance(d, dict) and "resourceType" in d for d in doc):
                raise InputError(
                    "a JSON array of FHIR resources is not accepted",
                    location,
                    hint='put the resources in a Bundle: {"resourceType": "Bundle", "type": "collection", ...}',
                )
            if isinstance(doc, list) or (
                isinstance(doc, dict) and doc.keys() & {"@context", "@graph", "@id"}
            ):
                _refuse_remote_contexts(doc, location)
                return _patient_from_rdf(text, ox.RdfFormat.JSON_LD, location, matcher)
            raise InputError(
                "JSON that is neither FHIR (no 'resourceType') nor JSON-LD (no '@context' or '@graph')",
                location,
                hint="give a FHIR R4 resource or Bundle, or the patient model as JSON-LD or Turtle",
            )
    return _patient_from_rdf(text, ox.RdfFormat.TURTLE, location, matcher)


def _single(patients: Sequence[PatientData], location: Location) -> PatientData:
    if len(patients) != 1:
        iris = ", ".join(p.patient_iri for p in patients)
        raise InputError(
            f"expected exactly one patient, found {len(patients)} ({iris})",
            location,
            hint="split the input per patient, or read it with guidelinekg.fhir.load_patients()",
        )
    return patients[0]


def _refuse_remote_contexts(node: Any, location: Location) -> None:
    """Refuse any context that would be fetched: a string (URL or relative reference) or ``@import``."""
    if isinstance(node, list):
        for item in node:
            _refuse_remote_contexts(item, location)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "@context":
                for ctx in value if isinstance(value, list) else [value]:
                    if isinstance(ctx, str):
                        raise InputError(
                            f"JSON-LD remote context {ctx!r} is not fetched: "
                            "the loader never reaches the network",
                            location,
                            hint="put the context inline (an object under '@context') or use Turtle",
                        )
                    if isinstance(ctx, dict) and "@import" in ctx:
                        raise InputError(
                            f"JSON-LD context '@import' of {ctx['@import']!r} is not fetched: "
                            "the loader never reaches the network",
                            location,
                            hint="copy the imported context inline",
                        )
            _refuse_remote_contexts(value, location)


def _patient_from_rdf(
    text: str, fmt: ox.RdfFormat, location: Location, matcher: SubstanceMatcher | None
) -> PatientData:
    kind = "JSON-LD" if fmt == ox.RdfFormat.JSON_LD else "Turtle"
    try:
        parsed = [q.triple for q in ox.parse(input=text.encode(), format=fmt, without_named_graphs=True)]
    except SyntaxError as exc:
        where = replace(location, line=exc.lineno, column=exc.offset) if exc.lineno else location
        message = _PARSER_PREFIX.sub("", exc.msg or str(exc))
        guessed = kind == "Turtle" and not location.path.lower().endswith((".ttl", ".turtle"))
        guess = "read as Turtle because the content is not JSON" if guessed else None
        raise InputError(f"{kind} syntax error: {message}", where, hint=guess) from None
    type_pred, patient_cls = ox.NamedNode(RDF_TYPE), ox.NamedNode(GKG + "Patient")
    patients = sorted(
        {t.subject for t in parsed if t.predicate == type_pred and t.object == patient_cls}, key=str
    )
    if len(patients) != 1:
        found = ", ".join(str(p) for p in patients) or "none"
        raise InputError(
            f"the {kind} input must describe exactly one gkg:Patient, found {len(patients)} ({found})",
            location,
            hint=f"type the patient with 'a <{GKG}Patient>'; split cohorts into one file per patient"
            + ("; use absolute IRIs for '@id' (relative ones are dropped)" if kind == "JSON-LD" else ""),
        )
    patient = patients[0]
    if not isinstance(patient, ox.NamedNode):
        raise InputError("the gkg:Patient must be an IRI, not a blank node", location)
    prefix = "p" + hashlib.sha256(patient.value.encode()).hexdigest()[:12] + "b"
    labels: dict[str, ox.BlankNode] = {}

    def relabel(term: Any) -> Any:
        if isinstance(term, ox.BlankNode):
            return labels.setdefault(term.value, ox.BlankNode(f"{prefix}{len(labels)}"))
        return term

    lines = [f"{relabel(t.subject)} {t.predicate} {relabel(t.object)} ." for t in parsed]
    data = PatientData.build(patient.value, lines)
    if matcher is not None:
        data = matcher.match_product_texts(data)
    return data
