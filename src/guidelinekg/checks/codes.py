"""Lint of the codes a guideline gives its measures and diagnoses: check digits and IRIs.

A LOINC code ends in a check digit (mod 10, the Luhn algorithm over the digits before the hyphen) and a
SNOMED CT identifier in a Verhoeff check digit; both can be checked offline, with python-stdnum, so a
typo (``718-8`` for ``718-7``) is an error before a patient's results go unmatched. A node's IRI and
its code must also agree (``loinc:718-7`` with ``gkg:loincCode "718-8"`` would match one thing and
show another). Whether a valid code means what the guideline says is not checkable here: that is what
``gkg:verificationStatus`` records.
"""

from __future__ import annotations

import re

from pyoxigraph import Literal, NamedNode
from stdnum import luhn, verhoeff

from guidelinekg.content.loading import Content, Finding

GKG = "https://w3id.org/guidelinekg/ontology#"
LOINC = "https://loinc.org/"
SNOMED_SYSTEM = "http://snomed.info/sct"
SNOMED_ID = "http://snomed.info/id/"
LOINC_CODE = re.compile(r"^(\d{1,7})-(\d)$")
SNOMED_CODE = re.compile(r"^\d{6,18}$")


def _loinc_problem(code: str) -> str | None:
    m = LOINC_CODE.fullmatch(code)
    if not m:
        return f"'{code}' is not a LOINC code (digits, a hyphen, a check digit, e.g. 718-7)"
    expected = luhn.calc_check_digit(m[1])
    if expected != m[2]:
        return f"LOINC {code} fails its check digit (mod 10 gives {m[1]}-{expected}): a typo?"
    return None


def _snomed_problem(code: str) -> str | None:
    if not SNOMED_CODE.fullmatch(code):
        return f"'{code}' is not a SNOMED CT identifier (6 to 18 digits)"
    if not verhoeff.is_valid(code):
        return f"SNOMED CT {code} fails its Verhoeff check digit: a typo?"
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
