"""What the loaded guidelines read of a patient's record, so that the FHIR mapping maps only that.

A real record (a Synthea patient: 100 to 300 Observations) is mostly results no loaded guideline reads:
blood pressure, height, BMI, smoking status, a metabolic panel. Mapping them would put thousands of facts
in the rule store that no rule joins, and give a note per resource ("has valueCodeableConcept") that
buries the ones that matter. So, when the mapping is given a :class:`ReadCodes`:

* an Observation is mapped when its code or the code of one of its components is a measure the
  knowledge reads; within it, only the facts (the Observation itself, each component) of such a measure
  are mapped: a blood pressure panel of which a guideline reads the systolic component gives that
  component and nothing else, and never a "has no value" note for the panel;
* an Observation of which no code is read is counted, not mapped, and not noted one by one: the patient
  gets one ``ignored-resource`` note per resource type with the count and the most frequent codes
  (:class:`Ignored`), e.g. "88 Observation resources ignored: no loaded guideline reads their codes
  (LOINC 8302-2, 72514-3, 39156-5, 85354-9, 8867-4 and 19 more)";
* a Procedure is mapped when one of its codings is a code a procedure criterion asks for, else counted
  the same way; when no loaded guideline has a procedure criterion, Procedures are not mapped at all (one
  note for the input, as for Encounters);
* an Observation without any LOINC coding, or not about a Patient of the input, is left to the mapping,
  which notes it one by one (``unmapped-code``, ``unknown-patient`` ...): a local code may hide a result a
  guideline needs, and a reference that resolves to nothing is a fault of the data;
* AllergyIntolerance is mapped only when a loaded guideline has an allergy criterion or recommends a medicine
  (``allergies``); a record naming no substance they know is counted (``fhirallergy``);
* the code systems the diagnoses of the loaded guidelines are coded in (``diagnosis_systems``): a Condition
  coded in none of them can never be matched, and the mapping says so (``uncoded-condition``);
* a Condition coded in one of them is mapped when one of its ``system|code`` tokens is a code a diagnosis
  criterion accepts (``diagnoses``, as rule 07 lists them), or begins with one accepted with the codes below
  it (``diagnosis_prefixes``, compared as rule 17 compares them, in any system: a prefix in a system without
  a hierarchy only keeps more records); else it is counted as an Observation is.

The measures read come from the knowledge graph alone (nothing about any one guideline is written here):
every ``gkg:Measure``, every node that has a ``gkg:canonicalUnit``, every object of a property whose
``rdfs:range`` is ``gkg:Measure`` (``gkg:onMeasure``, ``gkg:weightMeasure``, ``gkg:appliesToMeasure``,
``gkg:monitors``, ``gkg:equivalentMeasure`` ...), whose IRI is a LOINC IRI (``https://loinc.org/<code>``,
the IRI the mapping gives ``gkg:observedMeasure``), and every ``gkg:loincCode`` value. Without a
:class:`ReadCodes` (``None``) everything is mapped, as before.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from guidelinekg.patients.codesystems import canonical_system, system_name
from guidelinekg.patients.fhirbundle import Bundle, codings
from guidelinekg.patients.fhirclinical import concept_tokens, uncoded_condition
from guidelinekg.patients.fhirobs import LOINC_IRI, loinc_codes
from guidelinekg.patients.model import GKG, select_rows

SHOWN_CODES = 5  # codes named in an ignored-resource note; the rest are counted
LOINC_LABEL = "LOINC"  # how an ignored-resource note names the code system

MEASURES_READ_QUERY = f"""PREFIX gkg: <{GKG}>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
SELECT DISTINCT ?m ?code WHERE {{
  {{ ?m a gkg:Measure }} UNION {{ ?m gkg:canonicalUnit [] }}
  UNION {{ ?p rdfs:range gkg:Measure . [] ?p ?m . FILTER(isIRI(?m)) }}
  UNION {{ ?p rdfs:domain gkg:Measure . ?m ?p [] . FILTER(isIRI(?m)) }}
  UNION {{ ?m gkg:equivalentMeasure [] }} UNION {{ [] gkg:equivalentMeasure ?m }} UNION {{ ?m gkg:unitFactor [] }}
  UNION {{ [] gkg:loincCode ?code }}
}}"""


PROCEDURES_READ_QUERY = f"""PREFIX gkg: <{GKG}>
PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
SELECT DISTINCT ?token WHERE {{
  ?c a gkg:ProcedureCriterion ; gkg:requiresProcedure ?x . ?x skos:member? ?code .
  ?code gkg:codeSystem ?system ; skos:notation ?notation .
  BIND(CONCAT(STR(?system), "|", STR(?notation)) AS ?token)
}}"""
# allergy records are read for an allergy criterion (rule 27), and for a recommendation for a medication (rule
# 77 warns of an allergy to it)
ALLERGIES_READ_QUERY = f"""PREFIX gkg: <{GKG}>
SELECT ?c WHERE {{
  {{ ?c a gkg:AllergyCriterion }}
  UNION {{ ?c gkg:direction gkg:For ; gkg:intervention ?i . {{ ?i gkg:substance [] }} UNION {{ ?i gkg:interventionClass [] }} }}
}} LIMIT 1"""
# the codes diagnosis criteria accept, as rule 07 lists them (a code, or the members of a value set)
DIAGNOSIS_CODES_QUERY = f"""PREFIX gkg: <{GKG}>
PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
SELECT DISTINCT ?code ?system ?notation ?below WHERE {{
  ?c a gkg:DiagnosisCriterion ; gkg:requiresDiagnosis ?x . ?x skos:member? ?code .
  OPTIONAL {{ ?code gkg:codeSystem ?system }}
  OPTIONAL {{ ?code skos:notation ?notation }}
  OPTIONAL {{ ?code gkg:includesDescendants ?below }}
}}"""
SNOMED_IRI = "http://snomed.info/id/"  # a diagnosis given as a SNOMED CT concept IRI, without a system
SNOMED = "http://snomed.info/sct"  # the system of the codings the mapper gives such an IRI (gkg:conditionCode)
TOKEN_LABEL = "system|code"  # how an ignored-resource note names codes of any system
CONDITION_LABEL = "condition"  # a Condition is named by its text and first coding, once each
SUBSTANCE_LABEL = "substance"  # an AllergyIntolerance by what it calls its substance


@dataclass(frozen=True)
class ReadCodes:
    """The LOINC codes of the measures the loaded knowledge reads.

    >>> reads = ReadCodes(loinc=frozenset({"8867-4"}))
    >>> reads.reads_loinc(["8480-6", "8867-4"]), reads.reads_loinc(["8480-6"])
    (True, False)
    """

    loinc: frozenset[str]
    procedures: frozenset[str] = frozenset()  # system|code tokens of the procedures criteria ask for
    # the systems diagnosis criteria's codes are in (None: not known, the standard ones are assumed)
    diagnosis_systems: frozenset[str] | None = None
    # the system|code tokens diagnosis criteria accept (None: not known, every Condition is mapped), and those
    # they accept with the codes below them, as rule 17 compares them (:func:`prefix_key`)
    diagnoses: frozenset[str] | None = None
    diagnosis_prefixes: frozenset[str] = frozenset()
    allergies: bool = False  # whether AllergyIntolerance is read: an allergy criterion, or a medication recommended

    @classmethod
    def from_graph(cls, source: Any) -> ReadCodes:
        """From an rdflib Graph, a pyoxigraph Store or a rule store holding the knowledge."""
        codes: set[str] = set()
        for measure, code in select_rows(source, MEASURES_READ_QUERY):
            if measure and measure.startswith(LOINC_IRI) and len(measure) > len(LOINC_IRI):
                codes.add(unquote(measure[len(LOINC_IRI):]))
            if code and code.strip():
                codes.add(code.strip())
        procedures = frozenset(token for (token,) in select_rows(source, PROCEDURES_READ_QUERY) if token)
        rows = select_rows(source, DIAGNOSIS_CODES_QUERY)
        systems = {canonical_system(system) if system else SNOMED
                   for code, system, _, _ in rows if system or (code or "").startswith(SNOMED_IRI)}
        diagnoses, prefixes = set(), set()
        for code, system, notation, below in rows:
            if system and notation:
                diagnoses.add(f"{system}|{notation}")
                if below == "true":  # any system: a code of one without a hierarchy only keeps more records
                    prefixes.add(prefix_key(f"{system}|{notation}"))
            if code and code.startswith(SNOMED_IRI) and len(code) > len(SNOMED_IRI):  # the mapper's conditionCode
                diagnoses.add(f"{SNOMED}|{unquote(code[len(SNOMED_IRI):])}")
        allergies = bool(select_rows(source, ALLERGIES_READ_QUERY))
        return cls(frozenset(codes), procedures, frozenset(systems), frozenset(diagnoses), frozenset(prefixes),
                   allergies)

    def maps_type(self, kind: str) -> bool:
        """Whether resources of this type are mapped at all: Procedures only when a loaded guideline reads
        procedures, AllergyIntolerances only when one has an allergy criterion or recommends a medication
        (else they are counted as a type not used, like Encounters)."""
        return (kind != "Procedure" or bool(self.procedures)) and (kind != "AllergyIntolerance" or self.allergies)

    def reads_loinc(self, codes: Iterable[str]) -> bool:
        """Whether any of these LOINC codes is a measure the knowledge reads."""
        return any(c in self.loinc for c in codes)

    def unread(self, kind: str, res: dict[str, Any]) -> tuple[str, list[str]] | None:
        """``(code system label, codes)`` of a resource no loaded guideline reads; ``None`` when it is read,
        or is of a type this does not judge, or has no coding it could judge (the mapping notes that)."""
        if kind == "Procedure":
            tokens = concept_tokens(res.get("code"))
            return None if not tokens or self.procedures.intersection(tokens) else (TOKEN_LABEL, tokens)
        if kind == "Condition":
            return self._unread_condition(res)
        if kind != "Observation":
            return None
        components = [c for c in res.get("component") or [] if isinstance(c, dict)]
        codes = list(dict.fromkeys([*loinc_codes(res.get("code")),
                                    *(x for c in components for x in loinc_codes(c.get("code")))]))
        if not codes or self.reads_loinc(codes):
            return None
        return LOINC_LABEL, codes

    def _unread_condition(self, res: dict[str, Any]) -> tuple[str, list[str]] | None:
        """A Condition is read when one of its tokens is a code a diagnosis criterion accepts, or begins with
        one accepted with the codes below it; one without a code, or coded only in systems no criterion uses,
        is left to the mapping, which notes it (``uncoded-condition``): its diagnosis may be the one a
        guideline asks for, coded where it cannot be matched."""
        if self.diagnoses is None:
            return None
        tokens = concept_tokens(res.get("code"))
        if not tokens or uncoded_condition(res, tokens, self.diagnosis_systems) is not None:
            return None
        if self.diagnoses.intersection(tokens):
            return None
        if self.diagnosis_prefixes and any(key.startswith(prefix) for key in map(prefix_key, tokens)
                                           for prefix in self.diagnosis_prefixes):
            return None
        return CONDITION_LABEL, [condition_name(res)]

    def unread_by_patient(
        self, bundle: Bundle, kind: str, res: dict[str, Any]
    ) -> tuple[str, str, str, list[str]] | None:
        """``(patient node, resource type, code system label, codes)`` of a resource about a Patient of the
        input that no loaded guideline reads; ``None`` otherwise (the mapping maps it, or notes why not)."""
        found = self.unread(kind, res)
        if found is None:
            return None
        target = bundle.resolve(res.get("subject"), res)
        if target is None or target.get("resourceType") != "Patient":
            return None
        return bundle.node(target), kind, *found


def condition_name(res: dict[str, Any]) -> str:
    """How an ignored-resource note names a Condition: its text (else a coding's display) and its first coding,
    "Essential hypertension (SNOMED CT 59621000)"."""
    concept = res.get("code") if isinstance(res.get("code"), dict) else {}
    found = [(s, c, d) for s, c, d in codings(concept) if s and isinstance(c, str) and c.strip()]
    names = [concept.get("text"), *(d for _, _, d in found)]
    name = next((" ".join(n.split())[:120] for n in names if isinstance(n, str) and n.strip()), None)
    coded = f"{system_name(found[0][0])} {found[0][1].strip()}" if found else ""
    return f"{name} ({coded})" if name and coded else name or coded


def prefix_key(token: str) -> str:
    """A ``system|code`` token as rule 17 compares a record's with a code that includes the codes below it:
    without dots and in capitals (``E11`` begins ``e11.65``).

    >>> prefix_key("http://hl7.org/fhir/sid/icd-10-cm|e11.65").endswith("|E1165")
    True
    """
    return token.replace(".", "").upper()


class Ignored:
    """Resources counted instead of mapped, per patient and type, with how often each code occurred."""

    def __init__(self) -> None:
        self._codes: dict[tuple[str, str, str], Counter[str]] = defaultdict(Counter)
        self._count: Counter[tuple[str, str, str]] = Counter()

    def add(self, patient: str, kind: str, label: str, codes: Iterable[str]) -> None:
        key = (patient, kind, label)
        self._count[key] += 1
        self._codes[key].update(set(codes))

    def notes(self) -> Iterator[tuple[str, str]]:
        """``(patient node, message)``: one per patient and type, in a stable order."""
        for key in sorted(self._count):
            patient, kind, label = key
            n = self._count[key]
            ranked = [c for c, _ in sorted(self._codes[key].items(), key=lambda item: (-item[1], item[0]))]
            shown = ", ".join(ranked[:SHOWN_CODES])
            more = f" and {len(ranked) - SHOWN_CODES} more" if len(ranked) > SHOWN_CODES else ""
            head, their = f"{n} {kind} resource{'s' * (n > 1)} ignored", "their" if n > 1 else "its"
            if label == CONDITION_LABEL:  # each record named: a diagnosis close to one asked for must be seen
                yield patient, (f"{head}: no diagnosis criterion of a loaded guideline accepts {their} codes (check "
                                f"the coding if one should count): {shown}{more}")
            elif label == SUBSTANCE_LABEL:
                yield patient, f"{head}: {'they name' if n > 1 else 'it names'} no substance a loaded guideline knows: {shown}{more}"
            else:
                yield patient, f"{head}: no loaded guideline reads {their} codes ({label} {shown}{more})"
