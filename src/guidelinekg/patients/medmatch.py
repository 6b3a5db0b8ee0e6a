"""Recognise the substances of medication products, from the substances a guideline graph declares.

Two ways, both read from the graph (nothing about any one guideline is written here):

* by code: a coding (system, code) matches a ``gkg:Substance`` whose ``gkg:code`` has that
  ``gkg:codeSystem`` and ``skos:notation`` **and** a ``gkg:verificationStatus`` of ``gkg:VerifiedPrimary``
  or ``gkg:VerifiedSecondary``. Unverified codes are never used: a wrong code would silently mis-match.
* by name: a case-insensitive whole-word match of the substance's ``rdfs:label``, ``skos:prefLabel`` or
  ``skos:altLabel`` (brand names) in the product text or coding displays. Whitespace inside a label matches
  any run of whitespace; longer labels win over labels they contain.

A product can match several substances (a combination product); all are reported, each with how it
matched, so an exposure is never missed because another substance of the product had a code.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from guidelinekg.patients.model import GKG, XSD, PatientData, iri, literal, select_rows, triple

_PREFIXES = f"""PREFIX gkg: <{GKG}>
PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
"""

VERIFIED_CODES_QUERY = (
    _PREFIXES
    + """SELECT DISTINCT ?substance ?system ?notation WHERE {
  ?substance a gkg:Substance ; gkg:code ?code .
  ?code gkg:codeSystem ?system ; skos:notation ?notation ; gkg:verificationStatus ?status .
  VALUES ?status { gkg:VerifiedPrimary gkg:VerifiedSecondary }
}"""
)

NAMES_QUERY = (
    _PREFIXES
    + """SELECT DISTINCT ?substance ?label WHERE {
  ?substance a gkg:Substance .
  { ?substance rdfs:label ?label }
  UNION { ?substance skos:prefLabel ?label }
  UNION { ?substance skos:altLabel ?label }
}"""
)


@dataclass(frozen=True, order=True)
class SubstanceMatch:
    """A recognised substance: its IRI and ``matched_by`` ``"code"`` or ``"name"``."""

    substance: str
    matched_by: str


def _key(text: str) -> str:
    return " ".join(text.split()).casefold()


class SubstanceMatcher:
    """Matches product codings and texts to substance IRIs.

    >>> m = SubstanceMatcher(codes={("http://example.org/sys", "123"): ["urn:x:examplomab"]},
    ...                      names={"urn:x:examplomab": ["Examplomab", "Brandex"]})
    >>> m.match(codings=[], texts=["BRANDEX 750 mg"])
    [SubstanceMatch(substance='urn:x:examplomab', matched_by='name')]
    >>> m.match(codings=[("http://example.org/sys", "123")], texts=[])
    [SubstanceMatch(substance='urn:x:examplomab', matched_by='code')]
    """

    def __init__(self, *, codes: Mapping[tuple[str, str], Iterable[str]], names: Mapping[str, Iterable[str]]):
        self._codes = {key: frozenset(subs) for key, subs in codes.items()}
        by_label: dict[str, set[str]] = defaultdict(set)
        for substance, labels in names.items():
            for label in labels:
                if label.strip():
                    by_label[_key(label)].add(substance)
        self._by_label = {label: frozenset(subs) for label, subs in by_label.items()}
        alternatives = [
            r"\s+".join(re.escape(word) for word in label.split())
            for label in sorted(self._by_label, key=lambda s: (-len(s), s))
        ]
        self._pattern = (
            re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)", re.IGNORECASE)
            if alternatives
            else None
        )

    @classmethod
    def from_graph(cls, source: Any) -> SubstanceMatcher:
        """Build from the ``gkg:Substance`` resources of an rdflib Graph or a pyoxigraph Store."""
        codes: dict[tuple[str, str], set[str]] = defaultdict(set)
        for substance, system, notation in select_rows(source, VERIFIED_CODES_QUERY):
            if substance and system and notation:
                codes[(system, notation)].add(substance)
        names: dict[str, set[str]] = defaultdict(set)
        for substance, label in select_rows(source, NAMES_QUERY):
            if substance and label:
                names[substance].add(label)
        return cls(codes=codes, names=names)

    def match(
        self, *, codings: Iterable[tuple[str | None, str | None]], texts: Iterable[str]
    ) -> list[SubstanceMatch]:
        """Substances recognised in the codings ``(system, code)`` and free texts, sorted."""
        found: set[SubstanceMatch] = set()
        for system, code in codings:
            if system and code:
                found.update(SubstanceMatch(s, "code") for s in self._codes.get((system, code), ()))
        if self._pattern is not None:
            for text in texts:
                for hit in self._pattern.finditer(text or ""):
                    found.update(
                        SubstanceMatch(s, "name") for s in self._by_label.get(_key(hit.group(0)), ())
                    )
        return sorted(found)

    def match_product_texts(self, patient: PatientData) -> PatientData:
        """For RDF input: add substances to exposures that have a ``gkg:productText`` and no
        ``gkg:exposureSubstance``."""
        lines = []
        for subject, props in patient.facts("MedicationExposure").items():
            if "exposureSubstance" not in props:
                lines += exposure_lines(subject, self.match(codings=(), texts=props.get("productText", ())))
        return patient.extended(lines) if lines else patient


def exposure_lines(subject: str, matches: Iterable[SubstanceMatch]) -> list[str]:
    """``gkg:exposureSubstance`` and ``gkg:matchedBy`` lines for an exposure (``subject`` in N-Triples)."""
    lines = []
    for m in matches:
        lines.append(triple(subject, iri(GKG + "exposureSubstance"), iri(m.substance)))
        lines.append(triple(subject, iri(GKG + "matchedBy"), literal(m.matched_by, XSD + "string")))
    return lines
