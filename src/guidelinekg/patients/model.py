"""Patient data as N-Triples lines in the model of ``ontology/patient.ttl``.

A :class:`PatientData` is the loader's one output type, whatever the input: FHIR R4 JSON (mapped by
:mod:`guidelinekg.patients.fhir`), Turtle or JSON-LD in the patient model. It holds plain N-Triples lines, sorted,
so that a cohort of a million patients can be streamed into a pyoxigraph store without building a Python
graph per patient, and so that equal input gives byte-equal output.

Reading an input file into one is :mod:`guidelinekg.patients.loader`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pyoxigraph as ox

if TYPE_CHECKING:  # pragma: no cover
    import rdflib


GKG = "https://w3id.org/guidelinekg/ontology#"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
XSD = "http://www.w3.org/2001/XMLSchema#"
IRI_PREFIX = "urn:guidelinekg:"


# the code of a note about patient data that state what only the loader or the engine may state
INVALID = "patient-data-invalid"


# The kinds of record whose absence the rules read as "none" (closed world: rules 27, 34, 44, 46), as the
# local names of their classes in ontology/patient.ttl, and the FHIR types each is read from.
CLOSED_WORLD_RECORDS = {
    "Condition": ("Condition",),
    "AllergyRecord": ("AllergyIntolerance",),
    "ProcedureRecord": ("Procedure",),
    "MedicationExposure": ("Medication", "MedicationAdministration", "MedicationDispense", "MedicationRequest",
                           "MedicationStatement"),
}

# What a note that lacks records (IngestNote.lacks) tells the reader the evaluation did with the gap.
MAY_LACK = ("the record may be incomplete: a result it lacks is ordered, and a condition, allergy, procedure "
            "or medication it does not show is not ruled out")


ALL_RECORDS = tuple(sorted(CLOSED_WORLD_RECORDS))  # an export of only what changed may lack any of them

# An input cut short anywhere (a page of a search, a server's error) may lack any record, and a result newer
# than those read too (gkg:Observation: rule 19 then uses none of them); an export that leaves a type out or
# holds only what changed lacks no newer result.
CUT_SHORT = (*ALL_RECORDS, "Observation")
MAY_LACK_ANY = ("the record may be incomplete: a newer result may be missing, so no result read is used (its test "
                "is ordered), and a condition, allergy, procedure or medication it does not show is not ruled out")


def records_lacking(types: Iterable[str]) -> tuple[str, ...]:
    """The record classes an input with only part of those FHIR resource types may lack: the closed-world
    ones, and ``Observation`` (a result newer than those read: rule 19) when Observations are among them.

    >>> records_lacking(["Procedure", "MedicationRequest", "Observation"])
    ('MedicationExposure', 'ProcedureRecord', 'Observation')
    """
    left = set(types)
    found = tuple(sorted(cls for cls, kinds in CLOSED_WORLD_RECORDS.items() if left.intersection(kinds)))
    return (*found, "Observation") if "Observation" in left else found


@dataclass(frozen=True, order=True)
class IngestNote:
    """Something the loader noticed: ``code`` is stable (e.g. ``missing-value``), ``record`` is the source
    record it is about (e.g. ``Observation/obs-1``), or ``None`` for the input as a whole. ``lacks`` names
    the closed-world record classes (:data:`CLOSED_WORLD_RECORDS`) the input may hold only part of (a page of
    a search, an export that left a type out): a criterion that would be false for want of such a record is
    then unknown (``gkg:recordMayLack``)."""

    code: str
    message: str
    record: str | None = None
    lacks: tuple[str, ...] = ()

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
    # SHA-256 of the raw input bytes the facts were read from (a file, a patient's NDJSON lines): facts
    # alone do not identify the input, since the mapper skips what it does not read.
    source_sha256: str | None = None

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
        to_graph = ox.NamedNode(graph) if graph else ox.DefaultGraph()
        text = self.text().encode()
        if b"_:" not in text:  # Store.load is 3x faster, but gives blank nodes fresh labels
            store.load(input=text, format=ox.RdfFormat.N_TRIPLES, to_graph=to_graph)
            return
        # Facts added later about ``_:pXb0`` (a normalised value, a time index) must land on the same node.
        store.extend(ox.Quad(q.subject, q.predicate, q.object, to_graph)
                     for q in ox.parse(text, format=ox.RdfFormat.N_TRIPLES))


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


def sources_sha256(patients: Iterable[PatientData]) -> str | None:
    """The raw input of an evaluation: one patient's own :attr:`PatientData.source_sha256` (so a file's
    ``sha256sum`` matches it), several patients' combined by patient IRI; ``None`` when any is unknown
    (patient data built in memory, or rebuilt from recorded facts).

    >>> one = PatientData("urn:guidelinekg:Patient/a", [], source_sha256="ab" * 32)
    >>> sources_sha256([one]) == "ab" * 32, sources_sha256([one, PatientData("urn:guidelinekg:Patient/b", [])])
    (True, None)
    """
    patients = list(patients)
    digests = [p.source_sha256 for p in patients]
    if not patients or None in digests:
        return None
    if len(patients) == 1:
        return digests[0]
    lines = sorted(f"{p.patient_iri} {p.source_sha256}\n" for p in patients)
    return hashlib.sha256("".join(lines).encode()).hexdigest()


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


# The largest xsd:decimal the store (Oxigraph: 128 bits, 18 decimal places) holds; a literal beyond it is
# not a number to SPARQL, so every comparison with it silently fails.
DECIMAL_MAX = Decimal("170141183460469231731.687303715884105727")
DECIMAL_PLACES = 18


def decimal_problem(value: Decimal) -> str | None:
    """Why the store's ``xsd:decimal`` cannot hold ``value``, or ``None`` when it can.

    >>> decimal_problem(Decimal("45.10")), decimal_problem(Decimal("1E+28"))
    (None, 'an xsd:decimal holds at most about 1.7E+20')
    >>> decimal_problem(Decimal("0.1000000000000000000001"))
    'an xsd:decimal holds at most 18 digits after the decimal point'
    """
    if not value.is_finite():
        return "not a finite number"
    if value.is_zero():
        return None
    if value.adjusted() > 20 or value.copy_abs() > DECIMAL_MAX:
        return "an xsd:decimal holds at most about 1.7E+20"
    _, digits, exponent = value.as_tuple()
    zeros = len(digits) - len(bytes(digits).rstrip(b"\0"))
    if -(int(exponent) + zeros) > DECIMAL_PLACES:
        return f"an xsd:decimal holds at most {DECIMAL_PLACES} digits after the decimal point"
    return None


NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)  # JSON's and xsd:double's


def number_from_text(text: str) -> Decimal | None:
    """The number a string writes as JSON or XSD write numbers (ASCII digits, an optional sign, point and
    exponent, spaces around), else ``None``: Python's ``Decimal`` also reads ``"4_5"`` as 45 and Arabic or
    full-width digits, which no EHR means as a number.

    >>> number_from_text(" 45.0 "), number_from_text("4_5"), number_from_text("\u0664\u0665"), number_from_text("NaN")
    (Decimal('45.0'), None, None, None)
    """
    stripped = text.strip(" \t\n\r")
    return Decimal(stripped) if NUMBER.fullmatch(stripped) else None


def number_text(value: Decimal) -> str:
    """A number as given, shortened for a message when it is long (``1.000E+28``)."""
    text = str(value)
    return text if len(text) <= 24 else f"{value:.3E}"


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
    """Run a SPARQL SELECT on an rdflib Graph, a pyoxigraph Store or a :class:`guidelinekg.engine.store.RuleStore`;
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
