"""Lint of the codes a guideline gives its measures and diagnoses: check digits, code sets and IRIs.

A LOINC code ends in a check digit (mod 10, the Luhn algorithm over the digits before the hyphen) and a
SNOMED CT identifier in a Verhoeff check digit; both can be checked offline, with python-stdnum, so a
typo (``718-8`` for ``718-7``) is an error before a patient's results go unmatched. ICD-10-CM has no
check digit but a closed code set: a code is looked up in the CMS/NCHS code list that the
simple_icd_10_cm package ships (``code-unknown``), and must be written with its dot, as FHIR sends it; a code with
codes below it (a category such as E11, which records do not carry) is a warning unless it says it includes
them (``code-has-descendants``). A code system written as
an HL7 OID or with a trailing slash is an error (``code-system-alias``): records' systems are read as their FHIR
URI, so such a code would match nothing. A node's IRI and
its code must also agree (``loinc:718-7`` with ``gkg:loincCode "718-8"`` would match one thing and
show another). Whether a valid code means what the guideline says is not checkable here: that is what
``gkg:verificationStatus`` records.
"""

from __future__ import annotations

import re
from functools import cache
from importlib.util import find_spec
from pathlib import Path

from pyoxigraph import Literal, NamedNode
from stdnum import luhn, verhoeff

from guidelinekg.content.loading import Content, Finding
from guidelinekg.patients.codesystems import canonical_system, system_names

GKG = "https://w3id.org/guidelinekg/ontology#"
LOINC = "https://loinc.org/"
SNOMED_SYSTEM = "http://snomed.info/sct"
SNOMED_ID = "http://snomed.info/id/"
ICD10CM_SYSTEM = "http://hl7.org/fhir/sid/icd-10-cm"
ICD10CM_IRI = "http://purl.bioontology.org/ontology/ICD10CM/"
LOINC_CODE = re.compile(r"^(\d{1,7})-(\d)$", re.ASCII)
ICD10CM_FORM = re.compile(r"[A-Z][0-9][0-9A-Z](\.?[0-9A-Z]{1,4})?")  # the dot after the third character, if any
SNOMED_CODE = re.compile(r"^\d{6,18}$", re.ASCII)


def _loinc_problem(code: str) -> str | None:
    m = LOINC_CODE.fullmatch(code)
    if not m:
        return f"'{code}' is not a LOINC code (digits, a hyphen, a check digit, e.g. 718-7)"
    expected = luhn.calc_check_digit(m[1])
    if expected != m[2]:
        return (f"LOINC {code} fails its check digit (mod 10 gives {m[1]}-{expected}, which may be another test "
                "or none: look the code up in LOINC): a typo?")
    return None


def _snomed_problem(code: str) -> str | None:
    if not SNOMED_CODE.fullmatch(code):
        return f"'{code}' is not a SNOMED CT identifier (6 to 18 digits)"
    if not verhoeff.is_valid(code):
        return f"SNOMED CT {code} fails its Verhoeff check digit: a typo?"
    return None


@cache
def _icd10cm_codes() -> tuple[str, frozenset[str] | None]:
    """The release and the codes (without dots) of the ICD-10-CM code list simple_icd_10_cm ships;
    ``None`` for the codes if its data layout changed (then the package is asked code by code)."""
    spec = find_spec("simple_icd_10_cm")  # found, not imported: importing parses the whole tabular list
    data = Path(spec.origin).parent / "data" if spec is not None and spec.origin else None
    lists = sorted(f.name for f in data.glob("code-list-*.txt")) if data is not None and data.is_dir() else []
    if not lists:
        return "simple_icd_10_cm", None
    text = (data / lists[-1]).read_text(encoding="utf-8")
    return lists[-1][len("code-list-"):-len(".txt")] + " release", frozenset(text.split())


@cache
def _icd10cm_parents() -> frozenset[str]:
    """The ICD-10-CM codes (without dots) that have codes below them in the code list (E11, E11.6)."""
    codes = _icd10cm_codes()[1] or frozenset()  # chapters and blocks (I10-I1A) are in the list too: not codes
    return frozenset(code[:n] for code in codes if "-" not in code for n in range(3, len(code)))


def _icd10cm_problem(code: str) -> str | None:
    release, codes = _icd10cm_codes()
    if codes is None:
        import simple_icd_10_cm  # about 1.5 s: it parses the whole tabular list

        known = simple_icd_10_cm.is_valid_item(code)
    else:
        known = ICD10CM_FORM.fullmatch(code) is not None and code.replace(".", "", 1) in codes
    if not known:
        return f"'{code}' is not an ICD-10-CM code (not in the {release} code list): a typo?"
    if "." not in code and len(code) > 3:
        return f"write ICD-10-CM {code} with its dot ({code[:3]}.{code[3:]}), as FHIR and the code set write it"
    return None


def code_findings(content: Content) -> list[Finding]:
    """``code-check-digit`` and ``code-iri-mismatch`` errors for LOINC codes and SNOMED CT concepts."""
    findings: list[Finding] = []

    def error(node, code: str, path: str, message: str, value: str) -> None:
        findings.append(content.finding(node, "error", "lint", code, message, path=path, value=value))

    loinc_code = NamedNode(GKG + "loincCode")
    for node in content.subjects_with(loinc_code):
        for value in content.objects(node, loinc_code):
            if not isinstance(value, Literal):
                continue
            problem = _loinc_problem(value.value)
            if problem:
                error(node, "code-check-digit", "gkg:loincCode", problem, value.value)
            elif isinstance(node, NamedNode) and node.value.startswith(LOINC) and node.value != LOINC + value.value:
                error(node, "code-iri-mismatch", "gkg:loincCode",
                      f"the IRI names LOINC {node.value[len(LOINC):]} but gkg:loincCode says {value.value}", value.value)
    system, notation = NamedNode(GKG + "codeSystem"), NamedNode("http://www.w3.org/2004/02/skos/core#notation")
    for node in content.subjects_with(system):
        for written in content.objects(node, system):
            # a record's system is read as its FHIR URI (an OID, a trailing slash): a code written so matches none
            if isinstance(written, (Literal, NamedNode)) and (uri := canonical_system(written.value)) != written.value:
                error(node, "code-system-alias", "gkg:codeSystem",
                      f"records coded in {system_names([uri])} are read with its FHIR URI, {uri}, so a code whose "
                      f"system is written {written.value!r} matches none of them: write gkg:codeSystem "
                      f'"{uri}"^^xsd:anyURI', written.value)
        if any(s.value == ICD10CM_SYSTEM for s in content.objects(node, system)):
            for value in content.objects(node, notation):
                problem = _icd10cm_problem(value.value)
                if problem:
                    error(node, "code-unknown", "skos:notation", problem, value.value)
                elif value.value.replace(".", "") in _icd10cm_parents() and not any(
                        v.value == "true" for v in content.objects(node, NamedNode(GKG + "includesDescendants"))):
                    findings.append(content.finding(
                        node, "warning", "lint", "code-has-descendants",
                        f"ICD-10-CM {value.value} has codes below it, and records carry those (a category is not "
                        "billable): as written it matches a record coded exactly this; add gkg:includesDescendants "
                        "true to match the codes below it too, or list those codes instead of it", path="skos:notation", value=value.value))
                if not problem and isinstance(node, NamedNode) and node.value.startswith(ICD10CM_IRI) and \
                        node.value != ICD10CM_IRI + value.value:
                    error(node, "code-iri-mismatch", "skos:notation",
                          f"the IRI names ICD-10-CM {node.value[len(ICD10CM_IRI):]} but skos:notation says "
                          f"{value.value}", value.value)
        if not any(s.value == SNOMED_SYSTEM for s in content.objects(node, system)):
            continue
        for value in content.objects(node, notation):
            problem = _snomed_problem(value.value)
            if problem:
                error(node, "code-check-digit", "skos:notation", problem, value.value)
            elif isinstance(node, NamedNode) and node.value.startswith(SNOMED_ID) and \
                    node.value != SNOMED_ID + value.value:
                error(node, "code-iri-mismatch", "skos:notation",
                      f"the IRI names SNOMED CT {node.value[len(SNOMED_ID):]} but skos:notation says {value.value}",
                      value.value)
    return findings
