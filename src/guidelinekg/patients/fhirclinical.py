"""What FHIR R4 Patient and Condition resources say about death and about a diagnosis in time.

Read by :mod:`guidelinekg.patients.fhir`, which turns the items into facts (times through its dateTime
parsing, with its notes). Nothing here decides what the values mean on the as-of date: the rules do
(``queries/rules/15-deceased.rq``; ``39-condition-present.rq``, read by ``44-diagnosis.rq``).

* ``Patient.deceasedBoolean`` becomes ``gkg:deceased``, ``deceasedDateTime`` ``gkg:deceasedTime``.
* ``Condition.clinicalStatus`` and ``verificationStatus`` codes become ``gkg:clinicalStatus`` and
  ``gkg:conditionVerificationStatus`` (every coding's code, as for the clinical status before).
* ``onsetDateTime`` or ``onsetPeriod.start`` becomes ``gkg:onsetTime``; ``abatementDateTime`` or
  ``abatementPeriod.end`` ``gkg:abatementTime`` (a period's start for the onset, its end for the
  abatement: the widest time the condition may have been present).
* Every coding of ``Condition.code`` with a system and a code becomes a ``gkg:codeToken`` ``system|code``
  (the FHIR token syntax), whatever the system: a guideline's value set says which codes it accepts
  (``queries/rules/07-diagnosis-codes.rq``). An ICD-10 or ICD-10-CM code sent without its dot (``E1165``,
  as some exports write it) also gives the dotted form (``E11.65``) that the code system defines.
* Not read, with a note (``unsupported-time``): ``onsetAge``, ``onsetRange``, ``onsetString`` and the
  ``abatement`` ones. An age or range gives no date without arithmetic on the birth date (and is a year
  wide at best), a string no date at all: the onset is then unknown (the condition counts as begun), the
  abatement unknown (FHIR requires a clinical status of inactive, remission or resolved with any
  abatement, and that status decides).
"""

from __future__ import annotations

import re
from typing import Any

from guidelinekg.patients.fhirbundle import codings, field

ICD10_SYSTEMS = ("http://hl7.org/fhir/sid/icd-10-cm", "http://hl7.org/fhir/sid/icd-10")
_ICD10_UNDOTTED = re.compile(r"([A-Z][0-9][0-9A-Z])([0-9A-Z]{1,4})")

# (gkg property, Condition element, the member of a Period that gives the time, or None)
CONDITION_TIMES = (
    ("onsetTime", "onsetDateTime", None),
    ("onsetTime", "onsetPeriod", "start"),
    ("abatementTime", "abatementDateTime", None),
    ("abatementTime", "abatementPeriod", "end"),
)
UNREAD_TIMES = ("onsetAge", "onsetRange", "onsetString", "abatementAge", "abatementRange", "abatementString")
CONDITION_STATUSES = (
    ("clinicalStatus", "clinicalStatus"),
    ("conditionVerificationStatus", "verificationStatus"),
)


def condition_times(res: dict[str, Any]) -> list[tuple[str, Any, str]]:
    """``(property, FHIR dateTime value, element path)`` of the Condition's onset and abatement."""
    out = []
    for prop, element, part in CONDITION_TIMES:
        value = field(res, element).get(part) if part else res.get(element)
        if value is not None:
            out.append((prop, value, f"{element}.{part}" if part else element))
    return out


def unread_times(res: dict[str, Any]) -> list[tuple[str, str]]:
    """``(element, note text)`` for each onset or abatement choice the mapping does not read."""
    out = []
    for element in UNREAD_TIMES:
        if res.get(element) is not None:
            what = "onset" if element.startswith("onset") else "abatement"
            out.append((element, f"has {element}, which gives no date and is not read; {what} unknown"))
    return out


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
    """The ``system|code`` tokens of every coding of a CodeableConcept (sorted, distinct); an undotted
    ICD-10(-CM) code also as dotted."""
    tokens = set()
    for system, code, _ in codings(concept):
        if isinstance(system, str) and system.strip() and isinstance(code, str) and code.strip():
            tokens.add(f"{system}|{code}")
            if system in ICD10_SYSTEMS and (m := _ICD10_UNDOTTED.fullmatch(code)):
                tokens.add(f"{system}|{m[1]}.{m[2]}")
    return sorted(tokens)
