"""FHIR R4 Observations (with their components) and Quantity values as patient triples.

Called by :mod:`guidelinekg.patients.fhir` for each Observation; :func:`quantity_lines` also reads the dose
Quantity of a MedicationAdministration there. Choices:

* **Components.** Each ``Observation.component`` with a LOINC coding is an observation fact of its own
  (``<parent IRI>/component/<index>-<first LOINC code>``, identifier ``Observation/<id>.component[<index>]``),
  with its own code and value and the parent's subject, effective time, specimen (fasting status,
  conditions), notes and status, so every rule treats it like a top-level result (the analytes of a lab
  panel, a blood pressure panel's systolic and diastolic). A parent without a value of its own but with components (a
  panel) gets no ``missing-value`` note; a parent without a LOINC coding is not mapped when a component
  has one (its components are). A component without a LOINC coding is skipped with ``unmapped-code``.
  Given what the loaded guidelines read (``m.reads``, :mod:`guidelinekg.patients.relevance`), a fact (the
  Observation itself, a component) of a measure none of them reads is not mapped, and gives no note.
* **Censored values.** A ``valueQuantity.comparator`` of ``<``, ``<=``, ``>=`` or ``>`` is kept as
  ``gkg:valueComparator`` (``gkg:LessThan`` ...) next to the value, which is then the bound: the loader
  converts its unit like any value, the rules decide what a bound can decide (``< 10`` meets ``<= 75``) and
  leave the rest unknown. Any other comparator (``ad``, ``&lt;``) is not FHIR R4: the value is treated as
  missing (``censored-value``).
* **Value and time, contradicting themselves.** Two ``value[x]``, or a value beside a ``dataAbsentReason``
  (FHIR obs-6), leave the value unused (``invalid-value``: which holds cannot be told); an
  ``effectivePeriod`` (or a Specimen's ``collectedPeriod``) that ends before it starts leaves the result
  undated (``invalid-time``), as a time that does not parse does.
* **Status** (kept as ``gkg:resultStatus``). ``final``, ``amended`` and ``corrected`` are used;
  ``preliminary`` is used and rule 88 warns (``preliminary-result``) when a decision rests on it; an
  Observation without a status (FHIR requires one) is used with a ``missing-status`` note. ``registered``
  (no result yet), ``cancelled``, ``entered-in-error``, ``unknown`` and any other code are skipped with a
  ``skipped-status`` note: nothing says the value is a result.
* **Specimen conditions and notes.** Each ``Specimen.condition`` (HL7 v2-0493: haemolysed, lipaemic,
  clotted ...) is kept (``gkg:specimenCondition``), every coding of it: a guideline says as data which make a
  result unreliable (``gkg:SpecimenConditionRequirement``, rule 21: not used, the test ordered); rule 93 warns
  when a decision rests on a result whose condition the guideline does not mention. ``Observation.note`` is free
  text, which the tool does not read: only how many there are is kept (``gkg:noteCount``), and rule 94 warns
  that they were not read when a decision rests on the result.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, Protocol
from urllib.parse import quote

from guidelinekg.patients.fhirbundle import Bundle, code_iri, codings, field
from guidelinekg.patients.codesystems import canonical_system, trimmed
from guidelinekg.patients.fhirclinical import concept_tokens
from guidelinekg.patients.periods import inverted
from guidelinekg.patients.model import GKG, RDF_TYPE, XSD, iri, literal, number_from_text, triple, xsd_decimal
from guidelinekg.patients.ucum import (
    UnitConversionError, amount_kind, counted_apart, is_ucum, shown, ucum_conversion, ucum_for_spelling,
)

LOINC = "http://loinc.org"
LOINC_IRI = "https://loinc.org/"
UCUM = "http://unitsofmeasure.org"
V2_0916 = "http://terminology.hl7.org/CodeSystem/v2-0916"
FASTING = {"F": "Fasting", "NF": "NotFasting", "NG": "FastingNotGiven"}
COMPARATORS = {"<": "LessThan", "<=": "LessOrEqual", ">=": "GreaterOrEqual", ">": "GreaterThan"}
USED_STATUS = ("final", "amended", "corrected", "preliminary")
TIME_SOURCES = ("effectiveDateTime", "effectivePeriod.start", "effectiveInstant", "Specimen collectedDateTime",
                "Specimen collectedPeriod.start")

PLACEHOLDER = "<urn:guidelinekg:placeholder>"
Note = Callable[[str, str], None]  # (code, text) -> None: a note about the element being read


class Reads(Protocol):
    """What :class:`guidelinekg.patients.relevance.ReadCodes` answers here (no import: no cycle)."""

    def reads_loinc(self, codes: list[str]) -> bool: ...


class Mapper(Protocol):
    """What an Observation needs of :class:`guidelinekg.patients.fhir._Mapper` (no import: no cycle)."""

    bundle: Bundle
    lines: dict[str, list[str]]
    reads: Reads | None  # None: every fact is mapped

    def note(self, patient: str | None, code: str, text: str, res: dict[str, Any] | None = None) -> None: ...
    def subject(self, res: dict[str, Any]) -> str | None: ...
    def time(self, node: str, prop: str, value: Any, what: str, patient: str, res: dict[str, Any]) -> list[str]: ...


def quantity_lines(node: str, q: dict[str, Any], note: Note, *, spellings: bool = False) -> list[str]:
    """``gkg:value`` and ``gkg:unit`` (UCUM code, or free text that parses as UCUM) of a Quantity, with
    ``gkg:unitText`` when the unit is given as text; notes through ``note``. ``spellings``: the value is a
    result, whose unit text the loader reads as the UCUM code ``ontology/unit-spellings.tsv`` gives it
    (:mod:`guidelinekg.patients.units`, its explanation showing "45 mcg/L read as 45 ug/L"): the
    ``unit-not-ucum`` note says so ("read as ug/L"); a text the table lacks, or a dose's, is kept as text."""
    value = q.get("value")
    if isinstance(value, str) and (number := number_from_text(value)) is not None:
        value = number
        note("value-as-string", "gives its value as a string")
    lexical = xsd_decimal(value) if isinstance(value, Decimal) else None
    if lexical is None:
        shown_value = shown(value) if isinstance(value, str) else repr(value)
        note("invalid-value", f"value {shown_value} is not a number; treated as missing")
        return []
    lines = [triple(node, iri(GKG + "value"), literal(lexical, XSD + "decimal"))]
    code, text = trimmed(q.get("code")), q.get("unit")  # " ng/mL": padding is no part of a code
    if (spellings and canonical_system(q.get("system")) == UCUM and isinstance(code, str) and not is_ucum(code)
            and (spelled := ucum_for_spelling(code))):
        # a result's "code" under the UCUM system that is no UCUM code but a spelling the table knows
        # ("mL/min/1.73m2", "mcg/L"): read as the UCUM code it spells, as the same text in "unit" is; a
        # "unit" that names another unit still makes the value unusable (unit-code-mismatch, below)
        note("unit-not-ucum", f"UCUM code {shown(code)} is not a UCUM code; read as {spelled}, a common spelling "
             "of it (ontology/unit-spellings.tsv)")
        code = spelled
    if canonical_system(q.get("system")) == UCUM and isinstance(code, str) and code:
        if isinstance(text, str) and _contradicts(text.strip(), code):
            # "unit": "mg/L" with "code": "ng/mL": which one the value is in cannot be told (1000 times apart)
            note("unit-code-mismatch", f"unit {shown(text)} and UCUM code {shown(code)} name different units; "
                 "the value is not used (which one it is in cannot be told)")
            # kept as the UCUM code it is or spells ("lbs": [lb_av]): a UCUM text beside no code is what the
            # loader refuses as contradicting one; a spelling alone would be read ("unit lbs, code kg" as pounds)
            kept = text.strip() if is_ucum(text.strip()) else (ucum_for_spelling(text) or text)
            return [*lines, triple(node, iri(GKG + "unitText"), literal(kept))]
        return [*lines, triple(node, iri(GKG + "unit"), literal(code))]
    if not (isinstance(text, str) and text.strip()):
        note("missing-unit", "value has no unit")
        return lines
    lines.append(triple(node, iri(GKG + "unitText"), literal(text)))
    if is_ucum(text.strip()):
        return [*lines, triple(node, iri(GKG + "unit"), literal(text.strip()))]
    if spellings and (code := ucum_for_spelling(text)):  # converted as that code (patients/units.py)
        note("unit-not-ucum", f"unit {shown(text)} is not a UCUM code; read as {code}, a common spelling of it "
             "(ontology/unit-spellings.tsv)")
    else:
        note("unit-not-ucum", f"unit {shown(text)} is not a UCUM code; kept as text")
    return lines


def _contradicts(text: str, code: str) -> bool:
    """Whether a Quantity's display unit names another unit than its code, so that which one the value is in
    cannot be told: a UCUM unit of the same kind at another scale ("mg/L" against "ng/mL"); a well-known
    spelling of one ("lb", "lbs" against "kg": ``ontology/unit-spellings.tsv``); or an amount of another kind
    ("mg/dL" against "umol/L": mass and substance, :func:`amount_kind`), or equivalents against moles ("mEq/L"
    against "mmol/L", :func:`counted_apart`: 1.2 meq/L of a divalent ion is 0.6 mmol/L). A display that is neither
    ("percent", "K/uL", which UCUM reads as kelvin per microlitre; "G/L", gauss per litre; "C", "F") is a local
    spelling of the code's unit, not a rival one."""
    if text == code or not text:
        return False
    if not is_ucum(text):
        spelled = ucum_for_spelling(text)
        if spelled is None or spelled == code:
            return False
        text = spelled
    try:
        return ucum_conversion(text, code) != (Decimal(1), Decimal(0))
    except UnitConversionError:
        kinds = amount_kind(text), amount_kind(code)
        return None not in kinds and (kinds[0] != kinds[1] or counted_apart(text, code) is not None)


def loinc_codes(concept: Any) -> list[str]:
    return sorted({c for s, c, _ in codings(concept) if s == LOINC and isinstance(c, str) and c})


def map_observation(m: Mapper, res: dict[str, Any]) -> None:
    """Map one Observation and its components into ``m`` (lines of its patient, notes)."""
    status = res.get("status")
    if status is not None and status not in USED_STATUS:
        m.note(None, "skipped-status", f"has status {status}; skipped", res)
        return
    if (patient := m.subject(res)) is None:
        return
    measures = loinc_codes(res.get("code"))
    components = [c if isinstance(c, dict) else {} for c in res.get("component") or []]
    coded = [(i, c, codes) for i, c in enumerate(components) if (codes := loinc_codes(c.get("code")))]
    if not measures and not coded:
        m.note(patient, "unmapped-code", f"has no LOINC coding ({LOINC}); skipped", res)
        return
    unmapped = sorted(set(range(len(components))) - {j for j, _, _ in coded})
    if m.reads is not None:  # facts of measures no loaded guideline reads are not mapped, nor noted
        measures = measures if m.reads.reads_loinc(measures) else []
        coded = [(i, c, codes) for i, c, codes in coded if m.reads.reads_loinc(codes)]
        if not measures and not coded:
            return
    if status is None:
        m.note(patient, "missing-status", "has no status (FHIR requires one); used as a result", res)
    shared = _shared(m, res, patient)
    parent = m.bundle.node(res)
    if measures:
        lines = [
            triple(parent, iri(GKG + "identifier"), literal(m.bundle.record(res))),
            *_fact(parent, patient, measures, shared),
        ]
        lines += _value(parent, res, lambda c, t: m.note(patient, c, t, res), panel=bool(components))
        m.lines[patient] += lines
    for i in unmapped:
        m.note(patient, "unmapped-code", f"component[{i}] has no LOINC coding ({LOINC}); skipped", res)
    for i, component, codes in coded:
        node = iri(f"{parent[1:-1]}/component/{i}-{quote(codes[0], safe='-._~')}")
        lines = [
            triple(node, iri(GKG + "identifier"), literal(f"{m.bundle.record(res)}.component[{i}]")),
            *_fact(node, patient, codes, shared),
        ]
        lines += _value(node, component, lambda c, t, i=i: m.note(patient, c, f"component[{i}] {t}", res))
        m.lines[patient] += lines


def _fact(node: str, patient: str, measures: list[str], shared: list[tuple[str, str]]) -> list[str]:
    """The triples every observation fact has: type, subject, measures and the parent's shared ones."""
    return [
        triple(node, iri(RDF_TYPE), iri(GKG + "Observation")),
        triple(node, iri(GKG + "subject"), patient),
        *(triple(node, iri(GKG + "observedMeasure"), iri(code_iri(LOINC_IRI, c))) for c in measures),
        *(triple(node, predicate, obj) for predicate, obj in shared),
    ]


def _shared(m: Mapper, res: dict[str, Any], patient: str) -> list[tuple[str, str]]:
    """(predicate, object) terms the Observation gives all its facts: time, fasting status, specimen
    conditions, the number of its notes, status. The
    time is read once by the mapper (with its notes) for a placeholder subject, which is cut off."""
    out: list[tuple[str, str]] = []
    specimen = m.bundle.resolve(res.get("specimen"), res) or {}
    collection = field(specimen, "collection")
    values = (
        res.get("effectiveDateTime"),
        field(res, "effectivePeriod").get("start"),
        res.get("effectiveInstant"),
        collection.get("collectedDateTime"),
        field(collection, "collectedPeriod").get("start"),
    )
    periods = {"effectivePeriod.start": field(res, "effectivePeriod"),
               "Specimen collectedPeriod.start": field(collection, "collectedPeriod")}
    for what, value in zip(TIME_SOURCES, values):
        if value is not None and what in periods and (why := inverted(what.rsplit(".", 1)[0], periods[what])):
            m.note(patient, "invalid-time", f"{why}: when it was drawn is unknown; not used", res)  # undated
            break
        if value is not None:
            for line in m.time(PLACEHOLDER, "effectiveTime", value, what, patient, res):
                predicate, obj = line[len(PLACEHOLDER) + 1 : -2].split(" ", 1)
                out.append((predicate, obj))
            break
    else:
        m.note(patient, "missing-time", "has no effective time and no specimen collection time", res)
    for system, code, _ in codings(collection.get("fastingStatusCodeableConcept")):
        if system == V2_0916 and code in FASTING:
            out.append((iri(GKG + "fastingStatus"), iri(GKG + FASTING[code])))
    out += _specimen_conditions(m, res, specimen, patient)
    if notes := [n for n in res.get("note") or [] if isinstance(n, dict)]:  # free text: counted, never read
        out.append((iri(GKG + "noteCount"), literal(str(len(notes)), XSD + "integer")))
    if isinstance(res.get("status"), str):
        out.append((iri(GKG + "resultStatus"), literal(res["status"])))
    return out


def _specimen_conditions(
    m: Mapper, res: dict[str, Any], specimen: dict[str, Any], patient: str
) -> list[tuple[str, str]]:
    """``gkg:specimenCondition`` terms for each ``Specimen.condition`` of the Observation's specimen (HL7 v2
    table 0493: ``HEM`` haemolysed, ``LIP`` lipaemic, ``CLOT`` clotted, ...): a node of its own
    (``<Observation IRI>/specimen-condition/<index>``, a fact of the patient's) with every coding as a
    ``system|code`` token and a name (its text, else a coding's display, else a code) for the warnings. Rule
    21 does not use a result whose specimen condition a requirement of the guideline lists; rule 93 warns when
    a decision rests on a result of a condition the guideline does not mention."""
    out: list[tuple[str, str]] = []
    for i, concept in enumerate(c for c in specimen.get("condition") or [] if isinstance(c, dict)):
        tokens = concept_tokens(concept)
        names = [concept.get("text"), *(d for _, _, d in codings(concept)), *(t.split("|", 1)[1] for t in tokens)]
        name = next((" ".join(n.split())[:200] for n in names if isinstance(n, str) and n.strip()), None)
        if name is None:
            continue  # neither a code nor a word: nothing to say about it
        node = iri(f"{m.bundle.node(res)[1:-1]}/specimen-condition/{i}")
        m.lines[patient] += [
            triple(node, iri(RDF_TYPE), iri(GKG + "SpecimenCondition")),
            triple(node, iri(GKG + "subject"), patient),
            triple(node, iri(GKG + "conditionName"), literal(name)),
            *(triple(node, iri(GKG + "conditionToken"), literal(t)) for t in tokens),
        ]
        out.append((iri(GKG + "specimenCondition"), node))
    return out


def _value(node: str, holder: dict[str, Any], note: Note, *, panel: bool = False) -> list[str]:
    """The value of an Observation or a component: a (possibly censored) Quantity, or a note saying why
    there is none (no note for a panel whose values are its components)."""
    given = [k for k in holder if k.startswith("value") and holder[k] is not None]
    if len(given) > 1 or (given and holder.get("dataAbsentReason") is not None):
        both = " and ".join(given[:2]) if len(given) > 1 else f"{given[0]} and dataAbsentReason"
        note("invalid-value", f"has both {both} (FHIR: one value[x], or the reason it is absent, never both); "
             "which holds cannot be told: treated as missing")
        return []
    q = field(holder, "valueQuantity")
    comparator = q.get("comparator")
    if comparator is not None and comparator not in COMPARATORS:
        note("censored-value", f"value has comparator {shown(str(comparator))}, which FHIR R4 does not define; "
             "treated as missing")
    elif q:
        lines = quantity_lines(node, q, note, spellings=True)
        if comparator is not None and lines:
            lines.append(triple(node, iri(GKG + "valueComparator"), iri(GKG + COMPARATORS[comparator])))
        return lines
    elif "valueCodeableConcept" in holder:  # a coded result (pregnancy status ...): its codes, as tokens
        if tokens := concept_tokens(holder["valueCodeableConcept"]):
            return [triple(node, iri(GKG + "valueCodeToken"), literal(t)) for t in tokens]
        note("missing-value", "has a valueCodeableConcept without a coding with system and code; treated as missing")
    elif other := sorted(k for k in holder if k.startswith("value")):
        note("unsupported-value", f"has {other[0]}, not valueQuantity; treated as missing")
    elif not panel:
        absent = field(holder, "dataAbsentReason")
        why = next((t for t in [absent.get("text"), *(c or d for _, c, d in codings(absent))] if t), None)
        note("missing-value", f"has no value{f' ({why})' if why else ''}; treated as missing")
    return []
