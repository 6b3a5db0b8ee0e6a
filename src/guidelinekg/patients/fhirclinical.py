"""What FHIR R4 Patient, Condition and Procedure resources say about death, diagnoses and procedures in time.

Read by :mod:`guidelinekg.patients.fhir`, which turns the items into facts (times through its dateTime
parsing, with its notes). Nothing here decides what the values mean on the as-of date: the rules do
(``queries/rules/15-deceased.rq``; ``39-condition-present.rq``, read by ``44-diagnosis.rq``).

* ``Patient.deceasedBoolean`` becomes ``gkg:deceased``, ``deceasedDateTime`` ``gkg:deceasedTime``.
* ``Condition.clinicalStatus`` and ``verificationStatus`` codes become ``gkg:clinicalStatus`` and
  ``gkg:conditionVerificationStatus`` (every coding's code); a status element with a text and no code
  becomes :data:`UNCODED_STATUS` with an ``invalid-status`` note, which rule 39 cannot read (unknown, never
  "no status"). An AllergyIntolerance's statuses and times are read the same way
  (:func:`status_and_time_lines`, :mod:`~guidelinekg.patients.fhirallergy`).
* ``onsetPeriod.end`` becomes ``gkg:onsetSpanEnd`` (:func:`onset_period_end`): the onset lies in the period,
  a span as a time without a day is.
* ``onsetDateTime`` or ``onsetPeriod.start`` becomes ``gkg:onsetTime``; ``abatementDateTime`` or
  ``abatementPeriod.end`` ``gkg:abatementTime`` (a period's start for the onset, its end for the
  abatement: the widest time the condition may have been present). A time without a day (``"2026-01"``,
  ``"2026"``) is a span: its first instant, and its last as ``gkg:onsetSpanEnd`` / ``gkg:abatementSpanEnd``
  (:func:`imprecise_time`; likewise an Observation's ``gkg:effectiveSpanEnd``), so that rule 39 decides
  only what the whole span decides and leaves the rest unknown, never a guessed day.
* ``recordedDate`` becomes ``gkg:recordedTime`` (a span likewise: ``gkg:recordedSpanEnd``). The condition had
  begun by the day it was recorded, so a record without an onset is read as begun no later than that: begun
  by an as-of date on or after it, unknown whether begun by an earlier one (rule 39), and an earlier episode
  (``gkg:onsetAtLeastDaysBefore``) when recorded long enough before (rules 44, 45). With an onset, the onset
  decides and the recorded date is not read.
* Every coding of ``Condition.code`` with a system and a code becomes a ``gkg:codeToken`` ``system|code``
  (the FHIR token syntax), whatever the system: a guideline's value set says which codes it accepts
  (``queries/rules/07-diagnosis-codes.rq``). An ICD-10 or ICD-10-CM code sent without its dot (``E1165``,
  as some exports write it) also gives the dotted form (``E11.65``) that the code system defines.
* A Procedure becomes a ``gkg:ProcedureRecord`` (:func:`map_procedure`): every coding of ``Procedure.code``
  as a ``gkg:codeToken``, ``status`` as ``gkg:procedureStatus``, ``performedDateTime`` as both
  ``gkg:performedStart`` and ``gkg:performedEnd``, ``performedPeriod`` start and end as each; a time
  without a day (``"2026-01"``) also gives ``gkg:performedImprecise``, so that no age limit is judged on a
  guessed day. Which count, and how recent, rule 34 decides (``queries/rules/34-procedure.rq``). Not read,
  with a note: ``performedString``, ``performedAge``, ``performedRange`` (``unsupported-time``); both
  ``performedDateTime`` and ``performedPeriod``, or a period that ends before it starts (``invalid-time``).
* A Condition no guideline can match (:func:`uncoded_condition`): no coding with a system and a code (text
  only), or codes only in systems no diagnosis is matched in (a local code, an Epic ``urn:oid:1.2.840.114350``
  one): an ``uncoded-condition`` note naming its text, so that "no diagnosis recorded" is not read as "not
  recorded at all".
* ``Patient.link`` and ``active`` (:func:`replaced_note`, :func:`refuse_linked`): a record replaced by
  another (``replaced-by``) or not in active use (``active: false``) is evaluated with a note that its data
  may be incomplete (``patient-replaced``, ``patient-inactive``); an input holding both records of one
  person (two Patients linked by ``replaced-by`` or ``replaces``) is refused, naming the one to evaluate.
* An abatement without a date (``abatementBoolean`` true, ``abatementString``, ``abatementAge``,
  ``abatementRange``) becomes ``gkg:abatementUndated`` true, with a note (``unsupported-time``): the condition
  is over at a time not recorded, so rule 39 leaves it unknown whether it is present on the as-of date (a
  clinical status of inactive, remission or resolved, which FHIR requires with any abatement, decides it).
* Not read, with a note (``unsupported-time``): ``onsetAge``, ``onsetRange``, ``onsetString`` and the
  ``abatement`` ones. An age or range gives no date without arithmetic on the birth date (and is a year
  wide at best), a string no date at all: the onset is then unknown (the condition counts as begun, by its
  recorded date when it has one), the
  abatement unknown (FHIR requires a clinical status of inactive, remission or resolved with any
  abatement, and that status decides).
"""

from __future__ import annotations

import re
from typing import Any

from guidelinekg.errors import InputError, Location
from guidelinekg.patients.codesystems import DIAGNOSIS_SYSTEMS, system_names
from guidelinekg.patients.decode import where
from guidelinekg.patients.fhirbundle import Bundle, codings, date_range, fhir_datetime, field
from guidelinekg.patients.periods import inverted
from guidelinekg.patients.model import GKG, XSD, iri, literal, triple

XSD_BOOLEAN = XSD + "boolean"

ICD10_SYSTEMS = ("http://hl7.org/fhir/sid/icd-10-cm", "http://hl7.org/fhir/sid/icd-10")
ICD_SYSTEMS = (*ICD10_SYSTEMS, "http://hl7.org/fhir/sid/icd-9-cm")
_ICD10_UNDOTTED = re.compile(r"([A-Z][0-9][0-9A-Z])([0-9A-Z]{1,4})")

# (gkg property, Condition element, the member of a Period that gives the time, or None)
CONDITION_TIMES = (
    ("onsetTime", "onsetDateTime", None),
    ("onsetTime", "onsetPeriod", "start"),
    ("abatementTime", "abatementDateTime", None),
    ("abatementTime", "abatementPeriod", "end"),
    ("recordedTime", "recordedDate", None),
)
# (gkg property, Procedure element, the member of a Period, or None): a dateTime is both start and end
PROCEDURE_TIMES = (
    ("performedStart", "performedDateTime", None),
    ("performedEnd", "performedDateTime", None),
    ("performedStart", "performedPeriod", "start"),
    ("performedEnd", "performedPeriod", "end"),
)
EVENT_STATUS = ("preparation", "in-progress", "not-done", "on-hold", "stopped", "completed", "entered-in-error",
                "unknown")  # FHIR R4 Procedure.status
UNREAD_PROCEDURE_TIMES = ("performedString", "performedAge", "performedRange")
UNREAD_TIMES = ("onsetAge", "onsetRange", "onsetString", "abatementAge", "abatementRange", "abatementString")
UNCODED_STATUS = "(given only as text)"  # the status of a record whose status element has no code: rule 39 cannot tell
CONDITION_STATUSES = (
    ("clinicalStatus", "clinicalStatus"),
    ("conditionVerificationStatus", "verificationStatus"),
)
# a time without a day of these is a span: its last instant is a fact of its own (the time given is its first)
SPAN_ENDS = {"effectiveTime": "effectiveSpanEnd", "onsetTime": "onsetSpanEnd", "abatementTime": "abatementSpanEnd",
             "recordedTime": "recordedSpanEnd"}
SPAN_USE = {  # how the rules read the span (rules 10, 28, 32; 39), said in the imprecise-time note
    "effectiveTime": "the result is not used while the span reaches past the as-of date, nor as the latest while "
                     "another result of its measure may be earlier or later; its age counts from the span's first day",
    "onsetTime": "the condition counts as begun only when the whole span is on or before the as-of date (unknown "
                 "while the span reaches past it)",
    "abatementTime": "the condition counts as over only when the whole span is on or before the as-of date (unknown "
                     "while the span reaches past it)",
    "recordedTime": "without an onset, the condition counts as begun by the as-of date only when the whole span is on "
                    "or before it",
}


def condition_times(res: dict[str, Any], times: tuple[tuple[str, str, str | None], ...] = CONDITION_TIMES
                    ) -> list[tuple[str, Any, str]]:
    """``(property, FHIR dateTime value, element path)`` of the Condition's onset and abatement (or of
    other ``times`` of a resource)."""
    out = []
    for prop, element, part in times:
        value = field(res, element).get(part) if part else res.get(element)
        if value is not None:
            out.append((prop, value, f"{element}.{part}" if part else element))
    return out


def imprecise_time(node: str, prop: str, what: str, value: str, taken: str) -> tuple[str, list[str]]:
    """``(imprecise-time note text, triples)`` for a FHIR time without a day (``"2026-01"``) given as ``prop``
    of ``node`` and read as ``taken``, its first instant. An Observation's effective time and a Condition's
    onset and abatement (:data:`SPAN_ENDS`) are spans: the triple of the span's last instant
    (``2026-01-31T23:59:59``) for the rules, and a note saying how they read it; any other time is its start."""
    span = date_range(value)
    if prop not in SPAN_ENDS or span is None:
        return f"{what} {value!r} has no day; taken as {taken}", []
    end = literal(f"{span[1].isoformat()}T23:59:59", XSD + "dateTime")
    return (f"{what} {value!r} has no day: some time from {span[0]} to {span[1]}; {SPAN_USE[prop]}",
            [triple(node, iri(GKG + SPAN_ENDS[prop]), end)])


def condition_time_facts(node: str, res: dict[str, Any], lines: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """A Condition's ``lines`` with what its times say beyond their dates: the end of an onset period
    (:func:`onset_period_end`) and an abatement without a date (:func:`undated_abatement`); and the
    ``(code, text)`` notes on times not read (:func:`unread_times`) or invalid."""
    lines, invalid = onset_period_end(node, res, lines)
    notes = [("invalid-time", invalid)] if invalid else []
    notes += [("unsupported-time", text) for _, text in unread_times(res)]
    if undated_abatement(res):
        lines = [*lines, triple(node, iri(GKG + "abatementUndated"), literal("true", XSD_BOOLEAN))]
    return lines, notes


def onset_period_end(node: str, res: dict[str, Any], lines: list[str]) -> tuple[list[str], str | None]:
    """``(lines, invalid-time note or None)`` with ``onsetPeriod.end`` read: the condition began some time in
    the period, so its end (a time without a day: its last instant) is ``gkg:onsetSpanEnd``, the latest it can
    have begun, in place of the span end of a start without a day. A period with an end only gives the span
    end alone (begun by then, from when not known)."""
    value = field(res, "onsetPeriod").get("end")
    if value is None:
        return lines, None
    parsed = fhir_datetime(value)
    if parsed is None:
        return lines, f"onsetPeriod.end {value!r} is not a FHIR dateTime; not used"
    span = date_range(value)
    last = f"{span[1].isoformat()}T23:59:59" if span else parsed[0]
    if why := inverted("onsetPeriod", field(res, "onsetPeriod")):  # as any period's (per-1): by day for a date
        return lines, f"{why}; its end is not used"
    prop = iri(GKG + "onsetSpanEnd")
    kept = [line for line in lines if f" {prop} " not in line]
    return [*kept, triple(node, prop, literal(last, XSD + "dateTime"))], None


def unread_times(res: dict[str, Any]) -> list[tuple[str, str]]:
    """``(element, note text)`` for each onset or abatement choice the mapping does not read, and for
    ``abatementBoolean`` true (over, at a time not recorded)."""
    out = []
    for element in UNREAD_TIMES:
        if res.get(element) is not None:
            if element.startswith("onset"):
                out.append((element, f"has {element}, which gives no date and is not read; onset unknown"))
            else:
                out.append((element, f"has {element}, which gives no date: over at a time not recorded, so "
                                      "whether it was over by the as-of date is unknown"))
    if res.get("abatementBoolean") is True:
        out.append(("abatementBoolean", "has abatementBoolean true: over at a time not recorded, so whether it was "
                                        "over by the as-of date is unknown"))
    return out


def undated_abatement(res: dict[str, Any]) -> bool:
    """Whether the Condition says it is over without a date the mapping reads (``abatementBoolean`` true, an
    ``abatementString``, ``abatementAge`` or ``abatementRange``): ``gkg:abatementUndated``, with which rule 39
    leaves the record's presence unknown unless its clinical status decides it."""
    return res.get("abatementBoolean") is True or any(
        res.get(element) is not None for element in UNREAD_TIMES if element.startswith("abatement"))


def status_and_time_lines(mapper: Any, node: str, patient: str, res: dict[str, Any]) -> list[str]:
    """A Condition's (or an AllergyIntolerance's) statuses, onset, abatement and recorded date as lines of
    ``node``, with the notes on its times given to ``mapper`` (:mod:`guidelinekg.patients.fhir`'s)."""
    lines = [triple(node, iri(GKG + prop), literal(code)) for prop, code in condition_statuses(res)]
    for prop, element in CONDITION_STATUSES:  # a status given only as text: never read as "no status"
        concept = field(res, element)
        if concept and not any(isinstance(c, str) and c for _, c, _ in codings(concept)):
            lines.append(triple(node, iri(GKG + prop), literal(UNCODED_STATUS)))
            mapper.note(patient, "invalid-status", f"{element} is given only as text "
                        f"({str(concept.get('text') or '')[:80]!r}), not as a code: whether it counts is unknown", res)
    for prop, value, element in condition_times(res):
        lines += mapper.time(node, prop, value, element, patient, res)
    lines, notes = condition_time_facts(node, res, lines)
    for code, text in notes:
        mapper.note(patient, code, text, res)
    return lines


def condition_statuses(res: dict[str, Any]) -> list[tuple[str, str]]:
    """``(property, code)`` of every coding of the clinical and verification status."""
    return [
        (prop, code)
        for prop, element in CONDITION_STATUSES
        for _, code, _ in codings(res.get(element))
        if isinstance(code, str) and code
    ]


def deceased(res: dict[str, Any]) -> tuple[str | None, Any]:
    """``(xsd:boolean lexical form of deceasedBoolean or None, deceasedDateTime or None)``."""
    flag = res.get("deceasedBoolean")
    return ("true" if flag else "false") if isinstance(flag, bool) else None, res.get("deceasedDateTime")


def condition_tokens(res: dict[str, Any]) -> list[str]:
    """The ``system|code`` tokens of every coding of ``Condition.code`` (:func:`concept_tokens`)."""
    return concept_tokens(res.get("code"))


def concept_tokens(concept: Any) -> list[str]:
    """The ``system|code`` tokens of every coding of a CodeableConcept (sorted, distinct); an ICD code in
    lower case also in capitals (``i48.0``: ICD codes are written in capitals, and a guideline's are), and an
    undotted ICD-10(-CM) code also as dotted."""
    tokens = set()
    for system, code, _ in codings(concept):
        if isinstance(system, str) and system.strip() and isinstance(code, str) and code.strip():
            tokens.add(f"{system}|{code}")
            if system in ICD_SYSTEMS:
                code = code.upper()
                tokens.add(f"{system}|{code}")
            if system in ICD10_SYSTEMS and (m := _ICD10_UNDOTTED.fullmatch(code)):
                tokens.add(f"{system}|{m[1]}.{m[2]}")
    return sorted(tokens)


def uncoded_condition(res: dict[str, Any], tokens: list[str], systems: frozenset[str] | None) -> str | None:
    """The ``uncoded-condition`` note on a Condition no guideline can match (its text or display named), or
    ``None``. ``systems``: those the guidelines' diagnoses are coded in (``None``: not known, the standard
    ones; empty: no guideline reads a diagnosis, so only a Condition without any code is noted)."""
    concept = field(res, "code")
    names = [concept.get("text"), *(d for _, _, d in codings(concept))]
    name = next((" ".join(n.split())[:200] for n in names if isinstance(n, str) and n.strip()), None)
    shown = f" {name!r}" if name else " (no text either)"
    wanted = system_names(systems or DIAGNOSIS_SYSTEMS)
    if not tokens:
        return (f"{shown.strip()} has no code (no coding with a system and a code) and is not read: it is never "
                f"matched as a diagnosis; code it ({wanted})")
    used = sorted({t.split("|", 1)[0] for t in tokens})
    if systems == frozenset() or set(used) & (DIAGNOSIS_SYSTEMS if systems is None else systems):
        return None
    return (f"{shown.strip()} is coded only in {system_names(used[:3])}, not in a system "
            f"diagnoses are matched in ({wanted}): it is never matched as a diagnosis; code it in one of them")


def _links(bundle: Bundle, res: dict[str, Any]) -> list[tuple[str, str, dict[str, Any] | None, Any]]:
    """``(link type, other as written, the other Patient of the input or None, the link)`` of a Patient."""
    out = []
    for link in res.get("link") or []:
        if isinstance(link, dict) and isinstance(link.get("type"), str):
            other = field(link, "other")
            shown = other.get("reference") or other.get("display") or "another record"
            target = bundle.resolve(other, res)
            patient = target if target is not None and target.get("resourceType") == "Patient" else None
            out.append((link["type"], str(shown)[:200], patient, link))
    return out


def replaced_note(bundle: Bundle, res: dict[str, Any]) -> tuple[str, str] | None:
    """``(code, text)`` of the note on a Patient whose record is replaced by another (``link`` of type
    ``replaced-by``) or not in active use (``active: false``); ``None`` for a record in use."""
    replaced = [shown for kind, shown, _, _ in _links(bundle, res) if kind == "replaced-by"]
    inactive = " and is marked not in active use (active: false)" if res.get("active") is False else ""
    if replaced:
        return "patient-replaced", (f"was replaced by {' and '.join(replaced)} (Patient.link replaced-by){inactive}: "
                                    "this record is no longer in use and its data may be incomplete (what is "
                                    f"recorded under {replaced[0]} is not here); evaluate {replaced[0]}")
    if inactive:
        return "patient-inactive", ("is marked not in active use (active: false), as a record merged into another "
                                    "is: its data may be incomplete; evaluate the record in use")
    return None


def refuse_linked(bundle: Bundle, patients: list[dict[str, Any]]) -> None:
    """Refuse an input holding two records of one person: Patients linked by ``replaced-by`` or ``replaces``.

    Raises:
        InputError: naming the link and the record in use (the one no other replaces), located at the link.
    """
    pairs: dict[tuple[str, str], tuple[str, Any]] = {}  # (replaced, replacing) -> (link type, the link)
    for res in patients:
        for kind, _, other, link in _links(bundle, res):
            if other is not None and other is not res and kind in ("replaced-by", "replaces"):
                old, new = (res, other) if kind == "replaced-by" else (other, res)
                pairs.setdefault((bundle.record(old), bundle.record(new)), (kind, link))
    if not pairs:
        return
    said = "; ".join(f"{old} was replaced by {new} (Patient.link {kind})" for (old, new), (kind, _) in pairs.items())
    in_use = sorted({new for _, new in pairs} - {old for old, _ in pairs})
    which = f"evaluate {' or '.join(in_use)}, the record in use," if in_use else "no record is the one in use:"
    raise InputError(f"the input holds {len(patients)} Patients, and {said}: they are records of one person; "
                     f"{which} in an input of its own (the replaced record's resources are not merged into it: "
                     "which of them still hold cannot be told)",
                     where(next(iter(pairs.values()))[1], "type", default=Location(bundle.source)),
                     hint="give only the Patient in use and the resources about it")


def map_procedure(mapper: Any, res: dict[str, Any]) -> None:
    """A FHIR Procedure as a ``gkg:ProcedureRecord`` of its patient (see the module notes). ``mapper``: the
    :mod:`guidelinekg.patients.fhir` mapper (its ``subject``, ``start``, ``time``, ``note`` and ``lines``;
    not imported, which would make a cycle)."""
    if (patient := mapper.subject(res)) is None:
        return
    tokens = concept_tokens(res.get("code"))
    if not tokens:
        mapper.note(patient, "unmapped-code", "has no coding with a system and a code; skipped", res)
        return
    node, lines = mapper.start(res, patient, "ProcedureRecord")
    lines += [triple(node, iri(GKG + "codeToken"), literal(token)) for token in tokens]
    status = res.get("status")
    if status in EVENT_STATUS:
        lines.append(triple(node, iri(GKG + "procedureStatus"), literal(status)))
    elif status is not None:
        mapper.note(patient, "invalid-status", f"status {status!r} is not a FHIR event-status code; "
                    "taken as not recorded (whether it was performed is unknown)", res)
    lines += _performed_lines(mapper, node, patient, res)
    for element in UNREAD_PROCEDURE_TIMES:
        if res.get(element) is not None:
            mapper.note(patient, "unsupported-time", f"has {element}, which gives no date and is not read; "
                        "when it was performed is unknown", res)
    mapper.lines[patient] += lines


def _performed_lines(mapper: Any, node: str, patient: str, res: dict[str, Any]) -> list[str]:
    """``gkg:performedStart`` / ``gkg:performedEnd`` of a Procedure. A time without a time of day is a span
    (a date: its day): a start takes its first instant, an end (and a performedDateTime's end) its last
    (:func:`_bound`); one without a day (``"2026-02"``, ``"2026"``) gives ``gkg:performedImprecise``, so
    that no day inside it is guessed. Both performed[x] given, or a period that ends before it starts: no
    time, with a note (when it was performed is then unknown, never one of the two guessed)."""
    times = condition_times(res, PROCEDURE_TIMES)
    if res.get("performedDateTime") is not None and res.get("performedPeriod") is not None:
        mapper.note(patient, "invalid-time", "has both performedDateTime and performedPeriod (FHIR allows one); "
                    "neither is read: when it was performed is unknown", res)
        return []
    bounds = {prop: _bound(value, last=prop == "performedEnd") for prop, value, _ in times}
    if why := inverted("performedPeriod", res.get("performedPeriod")):  # as a medication record's (per-1)
        mapper.note(patient, "invalid-time", f"{why}; not read: when it was performed is unknown", res)
        return []
    lines = []
    for prop, value, element in times:
        found = mapper.time(node, prop, value, element, patient, res)  # its notes (invalid, imprecise)
        if found and bounds[prop]:
            lines.append(triple(node, iri(GKG + prop), literal(bounds[prop], XSD + "dateTime")))
    if any(not fhir_datetime(value)[1] for _, value, _ in times if fhir_datetime(value)):
        lines.append(triple(node, iri(GKG + "performedImprecise"), literal("true", XSD_BOOLEAN)))
    return sorted(set(lines))


def _bound(value: Any, *, last: bool) -> str | None:
    """The first (or ``last``) instant a FHIR dateTime can denote: a time of day is itself; a date, month or
    year covers its whole span, so a start is its first second and an end its last (``"2026-02-10"``:
    2026-02-10T23:59:59; ``"2026-02"``: 2026-02-28T23:59:59), as a result's span end is: the day numbers the
    rules count stay the days written."""
    found = fhir_datetime(value)
    if found is None:
        return None
    if not last or "T" in value:
        return found[0]
    span = date_range(value)  # a month or a year; else a date, its own last day
    return f"{span[1].isoformat() if span else value}T23:59:59"
