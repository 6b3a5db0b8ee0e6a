"""Map FHIR R4 JSON to patient triples in the model of ``ontology/patient.ttl``.

Accepted input: a Bundle of type collection, searchset, transaction, batch or document (the entries'
``resource``), or one bare resource of a mapped type (:data:`MAPPED_TYPES`). Resources are
``urn:guidelinekg:<ResourceType>/<id>``; a resource without ``id`` gets a hash of its JSON as id.

Choices where FHIR leaves room:

* Times: FHIR ``dateTime`` becomes ``xsd:dateTime``. A date without time is the start of that day; a time
  without timezone stays without one (none is invented, so comparisons with zoned times are those of
  SPARQL); a year or year-month is the start of that period, with an ``imprecise-time`` note, and for an
  Observation's or a Condition's time also the span's end, which the rules read (``fhirclinical``). A partial
  ``birthDate`` of a year or year-month only is the range of birth dates it allows (``gkg:birthDateEarliest``,
  ``gkg:birthDateLatest``, an ``imprecise-birthdate`` note): rule 43 decides an age only where both ends agree.
* Values keep their lexical form (``101.10`` stays ``101.10``). Observations, their components, censored
  values (``<10``) and statuses are mapped by :mod:`guidelinekg.patients.fhirobs` (its notes say how).
* Medication records are exposures: which count, over which period and naming which product, is
  :mod:`guidelinekg.patients.fhirmeds`; products of no substance of the guideline give no fact and are named
  (when it knows any substance) in one ``unrecognised-product`` note per patient (:class:`~guidelinekg.patients.medmatch.Unrecognised`).
* Skipped with a note, never mapped: Observations ``registered``, ``cancelled``, ``entered-in-error`` or
  ``unknown``; MedicationStatements ``entered-in-error``, ``not-taken`` or ``intended`` (not taken yet);
  MedicationAdministrations ``entered-in-error`` or ``not-done`` (a statement that a product was *not*
  taken must never count as an exposure); Observations without a LOINC coding and Conditions without any coding that has a system
  and a code (nothing could use them: ``uncoded-condition`` names the Condition's text, as it does for one
  coded only in systems no diagnosis is matched in); any resource with a ``modifierExtension`` or
  ``implicitRules`` (``unsupported-modifier``; a Patient with one, or two Patients linked as one person's
  records, is refused). A Condition keeps every coding, in any system (``gkg:codeToken``), its statuses,
  onset and abatement, and a Patient its death (:mod:`guidelinekg.patients.fhirclinical`): the rules decide
  what they mean as of the as-of date (a refuted or entered-in-error Condition never counts, a deceased
  patient gets no advice).
* Given what the loaded guidelines read (``reads``, :mod:`~guidelinekg.patients.relevance`), an Observation
  of measures none of them reads, or a Condition coded in their systems with no code a diagnosis criterion
  accepts, is counted in one ``ignored-resource`` note per patient, not mapped.
* Notes about a patient's own resources go to that patient; those about no patient (ignored types,
  unresolved subjects) to every patient of the input.
* Bundle level (:mod:`~guidelinekg.patients.fhirbundle`): of a resource given twice, the newest by its
  meta, else neither (a Patient: refused); a search cut short or paged is noted (``search-incomplete``).
* Refused before anything is mapped (:mod:`guidelinekg.patients.fhirschema`): an element the mapping reads
  of the wrong JSON type, a number no ``xsd:decimal`` holds, an id over 64 or a string over 1 MiB
  characters; and by the JSON reader, a key given twice in one object."""

from __future__ import annotations

import hashlib
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from guidelinekg.errors import InputError, Location
from guidelinekg.patients.fhirbundle import (  # noqa: F401 - REFERENCED_TYPES: read from here too
    REFERENCED_TYPES, Bundle, code_iri, codings, date_range, fhir_datetime, field)
from guidelinekg.patients.fhirclinical import (
    condition_tokens, deceased, imprecise_time, map_procedure, refuse_linked, replaced_note, status_and_time_lines,
    uncoded_condition)
from guidelinekg.patients.fhirmeds import START_ELEMENTS, exposure_period
from guidelinekg.patients.fhirobs import map_observation, quantity_lines
from guidelinekg.patients.medmatch import SubstanceMatcher, Unrecognised, exposure_lines, product
from guidelinekg.patients.relevance import Ignored, ReadCodes
from guidelinekg.patients.decode import decode_text, parse_json, where
from guidelinekg.patients.fhirschema import Subsetted, modifier_text, modifiers, subsetted
from guidelinekg.patients.fhirallergy import map_allergy
from guidelinekg.patients.model import GKG, RDF_TYPE, XSD, IngestNote, PatientData, iri, literal, triple
from guidelinekg.patients.gaps import UNCLEAR_EXPOSURE, Unattributed, gap, lacking, unclear_exposure

SNOMED = "http://snomed.info/sct"
SNOMED_IRI = "http://snomed.info/id/"
SKIPPED_STATUS = {
    "Observation": ("registered", "cancelled", "entered-in-error", "unknown"),  # see fhirobs.USED_STATUS
    # intended: "may be taken at some time in the future" (FHIR R4 medication-statement-status), not taken yet
    "MedicationStatement": ("entered-in-error", "not-taken", "intended"),
    "MedicationAdministration": ("entered-in-error", "not-done"),
}
ADMINISTRATIVE_GENDER = ("male", "female", "other", "unknown")  # FHIR R4 AdministrativeGender
EXPOSURE_KINDS = {"MedicationStatement": "statement", "MedicationAdministration": "administration",
                  "MedicationRequest": "request", "MedicationDispense": "dispense"}


class _Mapper:
    """Maps the resources of one input; collects lines per patient and notes per patient (``None``: all)."""

    def __init__(self, bundle: Bundle, matcher: SubstanceMatcher | None, reads: ReadCodes | None = None):
        self.bundle = bundle
        self.matcher = matcher
        self.reads = reads  # what the loaded guidelines read; the rest is counted, not mapped (None: all)
        self.ignored = Ignored()
        self.unrecognised = Unrecognised()  # medication records whose product matches no substance
        self.subsetted = Subsetted()  # resources the server sent only part of: not used
        self.unknown = Unattributed()  # resources about no Patient of the input
        self.lines: dict[str, list[str]] = defaultdict(list)
        self.notes: dict[str | None, list[IngestNote]] = defaultdict(list, {None: list(bundle.notes)})

    def note(self, patient: str | None, code: str, text: str, res: dict[str, Any] | None = None,
             lacks: tuple[str, ...] = ()) -> None:
        """Record a note; about ``res`` when given (its record starts the message)."""
        record = self.bundle.record(res) if res else None
        self.notes[patient].append(IngestNote(code, f"{record} {text}" if record else text, record, lacks))

    def run(self) -> list[PatientData]:
        ignored: Counter[str] = Counter(self.bundle.skipped.counts if self.bundle.skipped else ())  # fhirlazy
        patients = [res for (kind, _), res in self.bundle.resources() if kind == "Patient"]
        for res in patients:
            self.patient(res)
        refuse_linked(self.bundle, patients)  # two records of one person: which to evaluate is said
        for key, res in self.bundle.resources():
            if key[0] in REFERENCED_TYPES and self.modified(res):
                del self.bundle.by_key[key]  # a Specimen or Medication with a modifier: as if not given
        for (kind, _), res in self.bundle.resources():
            if kind in MAPPERS and (self.reads is None or self.reads.maps_type(kind)):
                unread = self.reads.unread_by_patient(self.bundle, kind, res) if self.reads else None
                if unread is None and not self.modified(res):
                    MAPPERS[kind](self, res)
                elif unread is not None:
                    self.ignored.add(*unread)
            elif kind not in REFERENCED_TYPES and kind != "Patient":
                ignored[kind] += 1
        for res in self.bundle.unread_observations(self.ignored):  # left as text by a lazy read, yet to map
            if not self.modified(res):
                MAPPERS["Observation"](self, res)
        for kind, n in sorted((ignored - self.bundle.read_types).items()):  # read_types: outcomes noted
            self.note(None, "ignored-resource", f"{n} {kind} resource{'s' * (n > 1)} ignored: type not used")
        for patient, text in self.ignored.notes():
            self.note(patient, "ignored-resource", text)
        for patient, text in self.unrecognised.notes():
            self.note(patient, "unrecognised-product", text)
        for patient, note in self.subsetted.notes():
            self.notes[patient].append(note)
        self.notes[None] += self.unknown.notes()
        shared = self.notes[None]
        return [
            PatientData.build(node[1:-1], lines, [*self.notes[node], *shared])
            for node, lines in sorted(self.lines.items())
        ]

    # --- helpers -------------------------------------------------------------------------------------------

    def subject(self, res: dict[str, Any], element: str = "subject", lacks: tuple[str, ...] | None = None) -> str | None:
        """The formatted IRI of the patient the resource is about (its ``element``), or ``None`` with a note
        (``lacks``: what the input may then lack, when not :func:`~guidelinekg.patients.gaps.lacking`'s)."""
        shown = field(res, element).get("reference")
        target = self.bundle.resolve(res.get(element), res)
        if target is not None and target.get("resourceType") == "Patient":
            return self.bundle.node(target)
        lacks = lacking(self.reads, res) if lacks is None else lacks  # it may be this patient's
        if not shown:
            self.note(None, "missing-subject", f"has no {element}.reference; skipped{gap(lacks)}", res, lacks)
        elif target is None:
            self.unknown.add(shown, self.bundle.record(res), lacks)  # noted once per reference (run)
        else:
            self.note(None, "subject-not-patient", f"is about {shown!r}, not a Patient; skipped", res)
        return None

    def start(self, res: dict[str, Any], patient: str, cls: str) -> tuple[str, list[str]]:
        node = self.bundle.node(res)
        return node, [
            triple(node, iri(RDF_TYPE), iri(GKG + cls)),
            triple(node, iri(GKG + "subject"), patient),
            triple(node, iri(GKG + "identifier"), literal(self.bundle.record(res))),
        ]

    def time(
        self, node: str, prop: str, value: Any, what: str, patient: str, res: dict[str, Any]
    ) -> list[str]:
        parsed = fhir_datetime(value)
        if parsed is None:
            self.note(patient, "invalid-time", f"{what} {value!r} is not a FHIR dateTime; not used", res)
            return []
        text, span = imprecise_time(node, prop, what, value, parsed[0]) if not parsed[1] else ("", [])
        if text:  # a span (an Observation's or Condition's time) also gives its end: fhirclinical.SPAN_ENDS
            self.note(patient, "imprecise-time", text, res)
        return [triple(node, iri(GKG + prop), literal(parsed[0], XSD + "dateTime")), *span]

    def quantity(self, node: str, q: dict[str, Any], patient: str, res: dict[str, Any]) -> list[str]:
        """``gkg:value`` and ``gkg:unit`` of a Quantity (:func:`~guidelinekg.patients.fhirobs.quantity_lines`)."""
        return quantity_lines(node, q, lambda code, text: self.note(patient, code, text, res))

    def modified(self, res: dict[str, Any]) -> bool:
        """Whether ``res`` carries a modifierExtension or implicitRules (:func:`modifiers`; a lazy read says
        which resources may): then it is not used (``unsupported-modifier``), and a Patient is refused."""
        screened = self.bundle.skipped  # a lazy read: only resources whose text is marked may hold one
        if screened is not None and self.bundle.key_of.get(id(res)) not in screened.marked:
            return False
        if not (found := modifiers(res)) and not subsetted(res):
            return False
        if res["resourceType"] == "Patient":
            what = modifier_text(found) if found else "is tagged SUBSETTED (the server sent only part of it)"
            raise InputError(f"{self.bundle.record(res)} {what}: the patient cannot be read safely",
                             where(found[0][1], found[0][2], default=Location(self.bundle.source)) if found
                             else Location(self.bundle.source),
                             hint="remove the extension if it does not change what the record says" if found
                             else "export whole resources (without _elements or _summary)")
        target = self.bundle.resolve(res.get("subject") or res.get("patient"), res)
        patient = self.bundle.node(target) if target is not None and target.get("resourceType") == "Patient" else None
        if not found:
            self.subsetted.add(patient, res["resourceType"], self.bundle.record(res))
        else:
            self.note(patient, "unsupported-modifier", f"{modifier_text(found)}; not used", res)
        return True

    def skipped(self, res: dict[str, Any]) -> bool:
        status = res.get("status")
        if status in SKIPPED_STATUS.get(res["resourceType"], ()):
            self.note(None, "skipped-status", f"has status {status}; skipped", res)
            return True
        return False

    # --- resources -----------------------------------------------------------------------------------------

    def patient(self, res: dict[str, Any]) -> None:
        self.modified(res)  # refused with one
        node = self.bundle.node(res)
        if (replaced := replaced_note(self.bundle, res)) is not None:  # an obsolete record (Patient.link)
            self.note(node, *replaced, res)
        self.lines[node] += [
            triple(node, iri(RDF_TYPE), iri(GKG + "Patient")),
            triple(node, iri(GKG + "identifier"), literal(self.bundle.record(res))),
        ]
        gender = res.get("gender")
        if gender in ADMINISTRATIVE_GENDER:
            self.lines[node].append(triple(node, iri(GKG + "administrativeSex"), literal(gender)))
        elif gender is not None:
            self.note(node, "invalid-gender", f"gender {gender!r} is not a FHIR AdministrativeGender code; not used", res)
        flag, died = deceased(res)
        if flag is not None:
            self.lines[node].append(triple(node, iri(GKG + "deceased"), literal(flag, XSD + "boolean")))
        if died is not None:
            self.lines[node] += self.time(node, "deceasedTime", died, "deceasedDateTime", node, res)
        birth = res.get("birthDate")
        if birth is None:
            return
        if isinstance(birth, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", birth, re.ASCII) and fhir_datetime(birth):
            self.lines[node].append(triple(node, iri(GKG + "birthDate"), literal(birth, XSD + "date")))
        elif (span := date_range(birth)) is not None:  # a year or year-month: the birth dates it allows
            self.lines[node] += [triple(node, iri(GKG + p), literal(d.isoformat(), XSD + "date"))
                                 for p, d in zip(("birthDateEarliest", "birthDateLatest"), span)]
            self.note(node, "imprecise-birthdate", f"birthDate {birth!r} has no day: born between {span[0]} and "
                      f"{span[1]}, so the age is a range; an age criterion it cannot decide stays unknown", res)
        else:
            self.note(node, "invalid-birthdate", f"birthDate {birth!r} is not a FHIR date; not used", res)

    def observation(self, res: dict[str, Any]) -> None:
        """An Observation and its components (:func:`~guidelinekg.patients.fhirobs.map_observation`)."""
        map_observation(self, res)

    def condition(self, res: dict[str, Any]) -> None:
        if (patient := self.subject(res)) is None:
            return
        tokens = condition_tokens(res)
        systems = self.reads.diagnosis_systems if self.reads is not None else None
        if (uncoded := uncoded_condition(res, tokens, systems)) is not None:
            self.note(patient, "uncoded-condition", uncoded, res)
        if not tokens:
            return
        codes = sorted(
            {c for s, c, _ in codings(res.get("code")) if s == SNOMED and isinstance(c, str) and c}
        )
        node, lines = self.start(res, patient, "Condition")
        lines += [triple(node, iri(GKG + "conditionCode"), iri(code_iri(SNOMED_IRI, c))) for c in codes]
        lines += [triple(node, iri(GKG + "codeToken"), literal(token)) for token in tokens]
        self.lines[patient] += lines + status_and_time_lines(self, node, patient, res)

    def exposure(self, res: dict[str, Any]) -> None:
        """A medication record as an exposure: its period (``fhirmeds``), its product's substances (and gaps)."""
        kind = EXPOSURE_KINDS[res["resourceType"]]
        recorded = exposure_period(kind, res)
        if recorded.skip is not None:
            self.note(None, "skipped-status", f"{recorded.skip}; skipped", res)
            return
        if self.skipped(res):
            return
        coded, texts = product(self.bundle, res)
        found = self.matcher.match(codings=coded, texts=texts) if self.matcher is not None else []
        possible = [] if found or self.matcher is None else self.matcher.possible(coded)
        unclear = (unclear_exposure(bool(texts or coded), bool(found), bool(possible))  # when a product may matter
                   if self.matcher is None or self.matcher.reads_substances else ())
        if (patient := self.subject(res, lacks=unclear)) is None:
            return
        node, lines = self.start(res, patient, "MedicationExposure")
        lines.append(triple(node, iri(GKG + "exposureKind"), literal(kind)))
        if isinstance(res.get("status"), str):
            lines.append(triple(node, iri(GKG + "exposureStatus"), literal(res["status"])))
        lines += [triple(node, iri(GKG + prop), literal(value, XSD + dtype)) for prop, value, dtype in recorded.facts()]
        for code, text in recorded.always:
            self.note(patient, code, text, res)
        if texts:
            lines.append(triple(node, iri(GKG + "productText"), literal(texts[0])))
        lines += exposure_lines(node, found, possible)
        if recorded.start is None:  # taken at some time: perhaps a product a guideline reads, when it matters
            why = recorded.invalid or f"has no {START_ELEMENTS[kind]}"  # invalid: a period ending before it starts
            self.note(patient, "invalid-time" if recorded.invalid else "missing-time", f"{why}; not used as exposure"
                      + (f": {UNCLEAR_EXPOSURE}" if unclear else ""), res, unclear)
        if not texts and not coded:
            self.note(patient, "missing-product", "names no product it can read (text, display, code, or a Medication "
                      f"in the input){f': {UNCLEAR_EXPOSURE}' if unclear else ''}", res, unclear)
        elif not found and self.matcher is not None and self.matcher.reads_substances:
            described = self.matcher.describe(codings=coded, texts=texts)
            self.unrecognised.add(patient, described, self.bundle.record(res), recorded.start, bool(possible))
        if self.matcher is None or found:  # the rest decide nothing
            for code, text in recorded.notes:
                self.note(patient, code, text, res)
        if self.reads is not None and self.matcher is not None and not found and not possible:
            return  # a product of no substance a loaded guideline reads: noted above, no fact for the rules
        dose = field(field(res, "dosage"), "dose") if kind == "administration" else {}
        if dose:
            lines += self.quantity(node, dose, patient, res)
        self.lines[patient] += lines


MAPPERS: dict[str, Callable[[_Mapper, dict[str, Any]], None]] = {
    "Observation": _Mapper.observation,
    "Condition": _Mapper.condition,
    "MedicationStatement": _Mapper.exposure,
    "MedicationAdministration": _Mapper.exposure,
    "MedicationRequest": _Mapper.exposure,
    "MedicationDispense": _Mapper.exposure,
    "Procedure": map_procedure,
    "AllergyIntolerance": map_allergy,
}
MAPPED_TYPES = ("Patient", *MAPPERS)


def patients_from_json(
    doc: Any,
    *,
    source: str = "<input>",
    matcher: SubstanceMatcher | None = None,
    reads: ReadCodes | None = None,
    skipped: Any = None,
) -> list[PatientData]:
    """Map parsed FHIR JSON (numbers as :class:`~decimal.Decimal`, see :func:`parse_json`) to one
    :class:`PatientData` per Patient, sorted by patient IRI. ``skipped``: the resources a lazy read
    (:mod:`guidelinekg.patients.fhirlazy`) left out of ``doc``.

    Raises:
        InputError: not a FHIR resource, a type not accepted at top level, a Bundle of another type or
            without entries, no Patient.
    """
    location = Location(source)
    if not isinstance(doc, dict):
        raise InputError("the JSON is not a FHIR resource (expected an object with 'resourceType')", location)
    kind = doc.get("resourceType")
    if not isinstance(kind, str):
        raise InputError(
            "the JSON is not FHIR: it has no 'resourceType'",
            location,
            hint="give a FHIR R4 Bundle or Patient",
        )
    if kind != "Bundle" and kind not in MAPPED_TYPES:
        raise InputError(
            f"a FHIR {kind} is not accepted as input; give a Bundle or one of: {', '.join(MAPPED_TYPES)}",
            location,
        )
    unread = frozenset(k for k in MAPPERS if reads is not None and not reads.maps_type(k))  # types not used
    patients = _Mapper(Bundle(doc, source, skipped, unread), matcher, reads).run()
    if not patients:
        raise InputError(
            "the input has no Patient resource", location, hint="add the Patient the resources refer to"
        )
    return patients


def load_patients(
    path: str | Path, *, matcher: SubstanceMatcher | None = None, reads: ReadCodes | None = None
) -> list[PatientData]:
    """Read a FHIR R4 JSON file: one :class:`PatientData` per Patient, sorted by IRI.

    Raises:
        InputError: unreadable, empty or malformed file (with line and column), or see
            :func:`patients_from_json`.
    """
    location = Location(str(path))
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the FHIR file: {exc.strerror or exc}", location) from None
    doc = parse_json(decode_text(raw, location), location)
    found = patients_from_json(doc, source=str(path), matcher=matcher, reads=reads)
    digest = hashlib.sha256(raw).hexdigest()  # the raw bytes, as the detecting loader records them
    return [replace(p, source_sha256=digest) for p in found]


def load_patient(
    path: str | Path, *, matcher: SubstanceMatcher | None = None, reads: ReadCodes | None = None
) -> PatientData:
    """Like :func:`load_patients` for an input about exactly one patient.

    Raises:
        InputError: as :func:`load_patients`, or the input holds more than one Patient.
    """
    patients = load_patients(path, matcher=matcher, reads=reads)
    if len(patients) > 1:
        raise InputError(
            f"the input holds {len(patients)} patients "
            f"({', '.join(p.patient_iri for p in patients)}); expected one",
            Location(str(path)),
            hint="split the Bundle per patient, or use load_patients()",
        )
    return patients[0]
