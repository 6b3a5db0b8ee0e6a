"""Reading one patient's input file: FHIR R4 JSON, JSON-LD or Turtle, told apart by the content.

:func:`load_patient_input` tells the input kind from the content, not the file name:

* JSON with ``resourceType`` -> FHIR R4 (mapped by :mod:`guidelinekg.patients.fhir`); a Bundle is read
  lazily (:mod:`guidelinekg.patients.fhirlazy`: only the resources the mapping reads are parsed);
* JSON with ``@context``, ``@graph`` or ``@id`` (or a JSON array) -> JSON-LD. Remote contexts are refused
  (the loader never reaches the network); inline contexts are fine;
* anything else -> Turtle.

Blank nodes of RDF input become IRIs (``urn:guidelinekg:skolem:...``), numbered in order of first
appearance under a prefix derived from the patient IRI, so output is deterministic, nodes of different
patients never collide in one store, and every rule can name them (SPARQL has no STR() of a blank node).
"""

from __future__ import annotations

import codecs
import hashlib
import io
import re
from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyoxigraph as ox

from guidelinekg.errors import InputError, Location
from guidelinekg.patients.decode import decode_text, parse_json
from guidelinekg.patients.model import GKG, RDF_TYPE, XSD, PatientData, decimal_problem, number_text

if TYPE_CHECKING:  # pragma: no cover
    from guidelinekg.patients.medmatch import SubstanceMatcher
    from guidelinekg.patients.relevance import ReadCodes
    from guidelinekg.patients.units import MeasureCatalog

MAX_BYTES = 256 * 1024 * 1024  # one patient's file, decompressed
_PARSER_PREFIX = re.compile(r"^Parser error (?:at line \d+ )?(?:at|between) [^:]*: ")

# --- patient input --------------------------------------------------------------------------------------


def load_patient_input(
    path: str | Path,
    *,
    matcher: SubstanceMatcher | None = None,
    measures: MeasureCatalog | None = None,
    reads: ReadCodes | None = None,
    raw: bytes | None = None,
) -> PatientData:
    """Read one patient from a file of FHIR R4 JSON, JSON-LD or Turtle (detected from the content).

    Args:
        path: the input file.
        matcher: recognises substances of medication exposures (FHIR input; RDF exposures that carry a
            ``gkg:productText`` but no ``gkg:exposureSubstance``).
        measures: when given, observation values are normalised with :func:`guidelinekg.patients.units.normalise`.
        reads: what the loaded guidelines read (FHIR input): Observations of measures none of them reads are
            counted, not mapped (:mod:`guidelinekg.patients.relevance`); ``None`` maps everything.
        raw: the file's bytes, already read by :func:`read_patient_bytes` (a pipe is read once, then
            mapped for each guideline); ``None`` reads ``path``.

    Returns:
        The patient's data.

    Raises:
        InputError: unreadable or empty file, one over :data:`MAX_BYTES` (decompressed), malformed
            JSON/Turtle (with ``file:line:column``), a JSON key given twice (but inside a resource of a
            Bundle that nothing reads, :mod:`~guidelinekg.patients.fhirlazy`), a JSON-LD remote context, a
            literal over the RDF parser's 16 MiB, a value no ``xsd:decimal`` holds, not exactly one patient
            (or a blank node), or FHIR that :mod:`guidelinekg.patients.fhirschema` refuses.
    """
    location = Location(str(path))
    if raw is None:
        raw = read_patient_bytes(path)
    _refuse_too_large(raw, location)
    source_sha256 = hashlib.sha256(raw).hexdigest()  # the file as it is on disk: what sha256sum says
    if raw[:2] == b"\x1f\x8b":  # gzip, like the other inputs that accept .gz
        raw = _gunzip(raw, location)
        _refuse_too_large(raw, location)
    text = decode_text(raw, location)
    patient = _patient_from_text(text, location, matcher, reads, raw.removeprefix(codecs.BOM_UTF8))
    if measures is not None:
        from guidelinekg.patients.units import normalise

        patient = normalise(patient, measures)
    return replace(patient, source_sha256=source_sha256)


def read_patient_bytes(path: str | Path) -> bytes:
    """The bytes of a patient file (at most one more than :data:`MAX_BYTES`: more is refused on use)."""
    try:
        with Path(path).open("rb") as stream:
            return stream.read(MAX_BYTES + 1)
    except OSError as exc:
        raise InputError(f"cannot read the patient file: {exc.strerror or exc}", Location(str(path))) from None


def _refuse_too_large(raw: bytes, location: Location) -> None:
    if len(raw) > MAX_BYTES:
        raise InputError(f"the patient file is (or decompresses to) more than {MAX_BYTES >> 20} MiB", location,
                         hint="one patient's data is far smaller; for many patients use 'guidelinekg cohort'")


def _gunzip(raw: bytes, location: Location) -> bytes:
    import zlib

    from isal import igzip, igzip_lib

    try:  # at most one byte more than allowed: a small file that inflates to gigabytes is refused
        with igzip.GzipFile(fileobj=io.BytesIO(raw)) as stream:
            return stream.read(MAX_BYTES + 1)
    except (OSError, EOFError, zlib.error, igzip_lib.IsalError) as exc:
        raise InputError(f"the file starts like gzip but cannot be decompressed: {exc}", location) from None


def _patient_from_text(
    text: str, location: Location, matcher: SubstanceMatcher | None, reads: ReadCodes | None = None,
    data: bytes | None = None,
) -> PatientData:
    start = text.lstrip()[:1]
    if start == "{" and data is not None and (patient := _lazy_fhir(data, location, matcher, reads)):
        return patient
    if start in ("{", "["):
        try:
            doc = parse_json(text, location, positions=False)  # fast; positions only for an error below
        except InputError:
            if start == "{" or location.path.lower().endswith((".json", ".jsonld")):
                raise
            doc = None  # "[" also opens a Turtle blank node: fall through to Turtle
        if doc is not None:
            if isinstance(doc, dict) and "resourceType" in doc:
                from guidelinekg.patients.fhir import patients_from_json

                try:
                    found = patients_from_json(doc, source=location.path, matcher=matcher, reads=reads)
                except InputError:  # again from a parse with positions: the error names its line and column
                    doc = parse_json(text, location)
                    found = patients_from_json(doc, source=location.path, matcher=matcher, reads=reads)
                return _single(found, location)
            if isinstance(doc, list) and any(isinstance(d, dict) and "resourceType" in d for d in doc):
                raise InputError(
                    "a JSON array of FHIR resources is not accepted",
                    location,
                    hint='put the resources in a Bundle: {"resourceType": "Bundle", "type": "collection", ...}',
                )
            if (isinstance(doc, list) and any(isinstance(d, dict) and any(k.startswith("@") for k in d) for d in doc)) or (
                isinstance(doc, dict) and doc.keys() & {"@context", "@graph", "@id"}
            ):
                _refuse_remote_contexts(doc, location)
                return _patient_from_rdf(text, ox.RdfFormat.JSON_LD, location, matcher)
            raise InputError(
                "JSON that is neither FHIR (no 'resourceType') nor JSON-LD (no '@context' or '@graph')",
                location,
                hint="give a FHIR R4 resource or Bundle, or the patient model as JSON-LD or Turtle",
            )
    if location.path.lower().endswith((".json", ".jsonld")):  # a JSON scalar ("hello", 42) is no Turtle either
        try:
            doc = parse_json(text, location, positions=False)
        except InputError:
            doc = ...  # not JSON at all: Turtle below says what is wrong
        if doc is not ...:
            kind = {str: "a string", bool: "a boolean", type(None): "null"}.get(type(doc), "a number")
            raise InputError(f"the JSON is {kind}, neither FHIR nor JSON-LD", location,
                             hint="give a FHIR R4 resource or Bundle, or the patient model as JSON-LD or Turtle")
    return _patient_from_rdf(text, ox.RdfFormat.TURTLE, location, matcher)


def _lazy_fhir(
    data: bytes, location: Location, matcher: SubstanceMatcher | None, reads: ReadCodes | None
) -> PatientData | None:
    """The patient of a FHIR Bundle read lazily (:mod:`guidelinekg.patients.fhirlazy`: only what the mapping
    reads is parsed), or ``None`` when the strict read below must decide (it also says where an error is)."""
    from guidelinekg.patients.fhir import patients_from_json
    from guidelinekg.patients.fhirlazy import read_bundle

    bundle = read_bundle(data, reads)
    if bundle is None:
        return None
    try:
        found = patients_from_json(bundle.doc, source=location.path, matcher=matcher, reads=reads,
                                   skipped=bundle.skipped)
    except InputError:
        return None
    return _single(found, location)


def _single(patients: Sequence[PatientData], location: Location) -> PatientData:
    if len(patients) != 1:
        iris = ", ".join(p.patient_iri for p in patients)
        raise InputError(
            f"expected exactly one patient, found {len(patients)} ({iris})",
            location,
            hint="split the input per patient, or read it with guidelinekg.patients.fhir.load_patients()",
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


_TEXT_TYPES = {XSD + "string", "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"}


def _check_values(parsed: list[ox.Triple], location: Location, strings: bool = True) -> None:
    """Refuse a number no ``xsd:decimal`` of the store can hold (a FHIR value out of range is refused
    likewise): every comparison with it would silently fail."""
    value = ox.NamedNode(GKG + "value")
    for t in parsed:
        literal = t.object
        if t.predicate != value or not isinstance(literal, ox.Literal):
            continue
        try:
            number = Decimal(literal.value.strip())
        except InvalidOperation:
            continue  # not a number: the patient shapes report it, and it is never used
        if literal.datatype.value in _TEXT_TYPES and strings:  # "50": a string, never read as the number 50
            raise InputError(f'{t.subject} gkg:value "{literal.value}" is a string, not a number', location,
                             hint=f'write the number: gkg:value {literal.value.strip()} (or "..."^^xsd:decimal)')
        why = decimal_problem(number)
        if why:
            raise InputError(f"{t.subject} gkg:value {number_text(number)} is out of range ({why})", location)


def _parse_rdf(text: str, fmt: ox.RdfFormat, location: Location, strings: bool = True) -> list[ox.Triple]:
    """The triples of patient RDF, in document order; values no decimal holds are refused."""
    kind = "JSON-LD" if fmt == ox.RdfFormat.JSON_LD else "Turtle"
    try:
        parsed = [q.triple for q in ox.parse(input=text.encode(), format=fmt, without_named_graphs=True)]
    except SyntaxError as exc:
        where = replace(location, line=exc.lineno, column=exc.offset) if exc.lineno else location
        message = _PARSER_PREFIX.sub("", exc.msg or str(exc))
        guessed = kind == "Turtle" and not location.path.lower().endswith((".ttl", ".turtle", ".nt"))
        guess = "read as Turtle because the content is not JSON" if guessed else None
        raise InputError(f"{kind} syntax error: {message}", where, hint=guess) from None
    except MemoryError as exc:  # the parser's buffer limit: one term or line of more than 16 MiB
        raise InputError(f"cannot read the {kind}: {exc}", location,
                         hint="a single line or literal is too long for the RDF parser") from None
    _check_values(parsed, location, strings)
    return parsed


def _patients_in(parsed: list[ox.Triple]) -> list[ox.NamedNode | ox.BlankNode]:
    type_pred, patient_cls = ox.NamedNode(RDF_TYPE), ox.NamedNode(GKG + "Patient")
    return sorted({t.subject for t in parsed if t.predicate == type_pred and t.object == patient_cls}, key=str)


def _skolemized(parsed: list[ox.Triple], seed: str) -> list[str]:
    """The triples as N-Triples lines, blank nodes made IRIs (skolemized, RDF 1.1 section 3.5), numbered in
    order of first appearance under a prefix derived from ``seed`` (the patient IRI): deterministic, never
    colliding between patients, and usable where a rule needs STR() of a node (SPARQL gives no string for a
    blank node)."""
    prefix = "urn:guidelinekg:skolem:p" + hashlib.sha256(seed.encode()).hexdigest()[:12] + "b"
    labels: dict[str, ox.NamedNode] = {}

    def relabel(term: Any) -> Any:
        if isinstance(term, ox.BlankNode):
            return labels.setdefault(term.value, ox.NamedNode(f"{prefix}{len(labels)}"))
        return term

    return [f"{relabel(t.subject)} {t.predicate} {relabel(t.object)} ." for t in parsed]


def _patient_from_rdf(
    text: str, fmt: ox.RdfFormat, location: Location, matcher: SubstanceMatcher | None
) -> PatientData:
    kind = "JSON-LD" if fmt == ox.RdfFormat.JSON_LD else "Turtle"
    parsed = _parse_rdf(text, fmt, location)
    patients = _patients_in(parsed)
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
        raise InputError("the gkg:Patient must be an IRI, not a blank node", location,
                         hint="name the patient with an IRI, e.g. <urn:example:patient-1> a gkg:Patient")
    data = PatientData.build(patient.value, _skolemized(parsed, patient.value))
    if matcher is not None:
        data = matcher.match_product_texts(data)
    return data


def rdf_patients(path: str | Path) -> tuple[list[tuple[str, list[str]]], int]:
    """Every patient of one patient RDF file (Turtle, N-Triples or JSON-LD, told apart by the content as
    :func:`load_patient_input` does; gzip too) with its N-Triples lines, and how many patients are blank
    nodes (they cannot be named, so not evaluated). A file of one patient gives it every line of the file,
    skolemized exactly as :func:`load_patient_input` does, so a cohort evaluates it as ``recommend``
    does. In a file of several, a patient owns the lines about itself, about what names it as
    ``gkg:subject``, and about any node those lines lead to (not through another patient).

    Raises:
        InputError: as :func:`load_patient_input` for RDF input (syntax, size, values, remote contexts).
    """
    location = Location(str(path))
    raw = read_patient_bytes(path)
    _refuse_too_large(raw, location)
    if raw[:2] == b"\x1f\x8b":
        raw = _gunzip(raw, location)
        _refuse_too_large(raw, location)
    text = decode_text(raw, location)
    fmt = ox.RdfFormat.TURTLE
    if text.lstrip()[:1] in ("{", "["):
        doc = parse_json(text, location, positions=False)
        _refuse_remote_contexts(doc, location)
        fmt = ox.RdfFormat.JSON_LD
    parsed = _parse_rdf(text, fmt, location, strings=False)  # a cohort: the patient shapes flag it, unused
    patients = _patients_in(parsed)
    named = [p.value for p in patients if isinstance(p, ox.NamedNode)]
    blank = len(patients) - len(named)
    if len(named) == 1 and not blank:
        return [(named[0], _skolemized(parsed, named[0]))], 0
    lines = _skolemized(parsed, " ".join(named))
    return [(p, _owned(lines, p, set(named))) for p in named], blank


def _owned(lines: list[str], patient: str, patients: set[str]) -> list[str]:
    """The lines of one patient of several: about it, about its facts (``gkg:subject``), and about every node
    they lead to, except the other patients."""
    by_subject: dict[str, list[str]] = {}
    for line in lines:
        by_subject.setdefault(line.split(" ", 1)[0], []).append(line)
    others = {f"<{p}>" for p in patients} - {f"<{patient}>"}
    subject = f" <{GKG}subject> <{patient}> ."
    todo = [f"<{patient}>", *(line.split(" ", 1)[0] for line in lines if line.endswith(subject))]
    seen: set[str] = set()
    owned = []
    while todo:
        node = todo.pop()
        if node in seen or node in others:
            continue
        seen.add(node)
        for line in by_subject.get(node, ()):
            owned.append(line)
            obj = line.split(" ", 2)[2][:-2]
            if obj.startswith("<"):
                todo.append(obj)
    return owned
