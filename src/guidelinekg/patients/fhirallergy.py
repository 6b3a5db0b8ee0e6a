"""FHIR AllergyIntolerance as a ``gkg:AllergyRecord``, read by allergy criteria (rule 27).

* The substance: ``code`` and each ``reaction[].substance`` (codings and texts), recognised as a medication
  product's substances are (:mod:`~guidelinekg.patients.medmatch`: a verified code, or a name or synonym as
  a whole word): ``gkg:allergen``; named only by a code the guideline lists as unverified:
  ``gkg:possibleAllergen`` (perhaps that substance: an allergy criterion on it is unknown, not true). The
  first text is kept as ``gkg:allergenText`` for the explanation.
* Its statuses and times as a Condition's (:mod:`~guidelinekg.patients.fhirclinical`): ``clinicalStatus``
  (active, inactive, resolved) as ``gkg:clinicalStatus``, ``verificationStatus`` (unconfirmed, confirmed,
  refuted, entered-in-error) as ``gkg:conditionVerificationStatus``, ``onsetDateTime`` / ``onsetPeriod``
  and ``recordedDate`` with their spans; rule 39 judges them as of the as-of date (an allergy has no
  abatement: inactive or resolved says it is over). ``criticality`` is kept to be shown.
* A record whose own name reads as a negation ("No known allergy to penicillin", "denies penicillin allergy")
  names its substances only as perhaps allergens (``gkg:possibleAllergen``, ``gkg:allergenTextNegated``): an
  allergy criterion on them is unknown, explained, never true or false.
* A record coded "No known allergy" (SNOMED CT 716186003, or no known drug, environmental or food allergy)
  names no allergen: counted, never an allergy to a substance its text or reactions mention.
* The patient is ``AllergyIntolerance.patient`` (not ``subject``). ``type`` (allergy or intolerance) is kept
  as ``gkg:allergyType``: a criterion counts both ("allergy or intolerance"), unless it says
  ``gkg:excludesIntolerance`` (a hypersensitivity). ``category`` is not read.
* Given what the loaded guidelines read, a record naming no substance they know is counted in the patient's
  ``ignored-resource`` note (its texts named), not mapped; when no loaded guideline has an allergy
  criterion or recommends a medicine (rule 77 warns of an allergy to it), AllergyIntolerance is a type not used (:meth:`~guidelinekg.patients.relevance.ReadCodes.maps_type`).
"""

from __future__ import annotations

import re
from typing import Any

from guidelinekg.patients.fhirbundle import codings
from guidelinekg.patients.fhirclinical import status_and_time_lines
from guidelinekg.patients.model import GKG, XSD, iri, literal, triple
from guidelinekg.patients.relevance import SUBSTANCE_LABEL

CRITICALITY = ("low", "high", "unable-to-assess")  # FHIR R4 allergy-intolerance-criticality
ALLERGY_TYPES = ("allergy", "intolerance")  # FHIR R4 allergy-intolerance-type
# SNOMED CT "No known allergy" (situation) and its children in common use (drug, environmental, food): a
# recorded absence (US Core lists them for AllergyIntolerance.code), never an allergy to what its text names
NO_KNOWN_ALLERGY = frozenset({"716186003", "409137002", "428607008", "429625007"})
SNOMED = "http://snomed.info/sct"
# a record's own name that reads as a negation ("No known allergy to penicillin", "Patient denies penicillin
# allergy"): the substance it names is only perhaps an allergen (unknown, explained), never one
NEGATION = re.compile(r"^\W*(no|not|nka|nkda|negative)\b|\b(no known|not allergic|denie[sd]|ruled out)\b", re.IGNORECASE)


def allergen(res: dict[str, Any]) -> tuple[list[tuple[str, str]], list[str]]:
    """``(codings (system, code), texts)`` of the substance an AllergyIntolerance names: its ``code`` and
    each reaction's ``substance``; texts first the code's own (the one to show)."""
    concepts = [res.get("code")]
    concepts += [r.get("substance") for r in res.get("reaction") or [] if isinstance(r, dict)]
    texts = [c.get("text") if isinstance(c, dict) else None for c in concepts]
    texts += [d for c in concepts for _, _, d in codings(c)]
    coded = [(s, c) for concept in concepts for s, c, _ in codings(concept) if s and isinstance(c, str) and c]
    return list(dict.fromkeys(coded)), list(dict.fromkeys(t.strip() for t in texts if isinstance(t, str) and t.strip()))


def map_allergy(mapper: Any, res: dict[str, Any]) -> None:
    """An AllergyIntolerance as a ``gkg:AllergyRecord`` of its patient (see the module notes). ``mapper``: the
    :mod:`guidelinekg.patients.fhir` mapper (not imported, which would make a cycle)."""
    if (patient := mapper.subject(res, "patient")) is None:
        return
    coded, texts = allergen(res)
    # "no known drug allergy": nothing is allergenic, whatever a text names
    matcher = None if any(s == SNOMED and c.strip() in NO_KNOWN_ALLERGY for s, c, _ in codings(res.get("code"))
                          if isinstance(c, str)) else mapper.matcher
    found = matcher.match(codings=coded, texts=texts) if matcher is not None else []
    possible = [s for s in matcher.possible(coded) if s not in {m.substance for m in found}] if matcher else []
    concept = res.get("code") if isinstance(res.get("code"), dict) else {}
    named = [t for t in (concept.get("text"), *(d for _, _, d in codings(concept))) if isinstance(t, str)]
    negated = bool(found) and any(NEGATION.search(t) for t in named)
    if negated:  # what it names is perhaps not an allergen at all
        possible, found = sorted({*possible, *(m.substance for m in found)}), []
    if mapper.reads is not None and not found and not possible:
        named = texts or [f"{s}|{c}" for s, c in coded] or ["(no substance named)"]
        mapper.ignored.add(patient, "AllergyIntolerance", SUBSTANCE_LABEL, named[:1])
        return
    node, lines = mapper.start(res, patient, "AllergyRecord")
    lines += [triple(node, iri(GKG + "allergen"), iri(m.substance)) for m in found]
    lines += [triple(node, iri(GKG + "possibleAllergen"), iri(s)) for s in possible]
    if texts:
        lines.append(triple(node, iri(GKG + "allergenText"), literal(texts[0])))
    if res.get("type") in ALLERGY_TYPES:
        lines.append(triple(node, iri(GKG + "allergyType"), literal(res["type"])))
    if negated:
        lines.append(triple(node, iri(GKG + "allergenTextNegated"), literal("true", XSD + "boolean")))
    if not texts and not coded:
        mapper.note(patient, "missing-product", "names no substance (code, text or reaction substance)", res)
    if res.get("criticality") in CRITICALITY:
        lines.append(triple(node, iri(GKG + "criticality"), literal(res["criticality"])))
    mapper.lines[patient] += lines + status_and_time_lines(mapper, node, patient, res)
