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

A product that matches none (a salt or brand the guideline does not name, a product given only by a code
the guideline does not list) is no exposure to anything the guideline reads, so a result drawn while it
was taken is not flagged. That must not pass in silence, nor bury the report (a real record holds dozens of
unrelated prescriptions): :class:`Unrecognised` gathers them into one ``unrecognised-product`` note per
patient, the products most recently started first (:data:`SHOWN_PRODUCTS` named, the rest counted), each
with its records; a product given only by code says so, and names the substance the guideline lists that
code for when its verification status keeps it from being used. A guideline that declares no substance
reads no medication, and gets no such note. :func:`product` reads what product a medication record names
(its codings and texts, inline or from the Medication it references).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from guidelinekg.patients.fhirbundle import Bundle, codings as concept_codings
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

UNVERIFIED_CODES_QUERY = (
    _PREFIXES
    + """SELECT DISTINCT ?substance ?system ?notation WHERE {
  ?substance a gkg:Substance ; gkg:code ?code .
  ?code gkg:codeSystem ?system ; skos:notation ?notation .
  FILTER NOT EXISTS { ?code gkg:verificationStatus ?status . VALUES ?status { gkg:VerifiedPrimary gkg:VerifiedSecondary } }
}"""
)

# ?rank: how the label names the substance in a note (0 its rdfs:label, 1 skos:prefLabel, 2 a brand or
# synonym, skos:altLabel; +3 in a language other than English): every label matches, the least ranked names it
NAMES_QUERY = (
    _PREFIXES
    + """SELECT DISTINCT ?substance ?label ?rank WHERE {
  ?substance a gkg:Substance .
  { ?substance rdfs:label ?label BIND(0 AS ?kind) }
  UNION { ?substance skos:prefLabel ?label BIND(1 AS ?kind) }
  UNION { ?substance skos:altLabel ?label BIND(2 AS ?kind) }
  BIND(?kind + IF(LANG(?label) = "" || LANGMATCHES(LANG(?label), "en"), 0, 3) AS ?rank)
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

    def __init__(self, *, codes: Mapping[tuple[str, str], Iterable[str]], names: Mapping[str, Iterable[str]],
                 unverified: Mapping[tuple[str, str], Iterable[str]] | None = None,
                 titles: Mapping[str, str] | None = None):
        self._titles = dict(titles or {})  # the name a note gives each substance (its rdfs:label), not a brand
        self._codes = {key: frozenset(subs) for key, subs in codes.items()}
        self._unverified = {key: frozenset(subs) for key, subs in (unverified or {}).items()}
        self._names = {substance: sorted(labels, key=lambda s: (s.casefold(), s)) for substance, labels in names.items()}
        self.reads_substances = bool(self._codes or self._unverified or any(self._names.values()))
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
        unverified: dict[tuple[str, str], set[str]] = defaultdict(set)
        for substance, system, notation in select_rows(source, UNVERIFIED_CODES_QUERY):
            if substance and system and notation:
                unverified[(system, notation)].add(substance)
        names: dict[str, set[str]] = defaultdict(set)
        ranked: dict[str, tuple[int, str, str]] = {}
        for substance, label, rank in select_rows(source, NAMES_QUERY):
            if substance and label:
                names[substance].add(label)
                key = (int(rank or 0), label.casefold(), label)
                if label.strip() and (substance not in ranked or key < ranked[substance]):
                    ranked[substance] = key
        return cls(codes=codes, names=names, unverified=unverified,
                   titles={substance: key[2] for substance, key in ranked.items()})

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

    def possible(self, codings: Iterable[tuple[str | None, str | None]]) -> list[str]:
        """Substances a coding names only by a code the guideline lists as unverified: perhaps the product's,
        never used as an exposure (rule 46 makes an exposure criterion unknown on one, not false).

        >>> SubstanceMatcher(codes={}, names={}, unverified={("s", "1"): ["urn:x:a"]}).possible([("s", "1")])
        ['urn:x:a']
        """
        return sorted({sub for s, c in codings if s and c for sub in self._unverified.get((s, c), ())})

    def describe(self, *, codings: Iterable[tuple[str | None, str | None]], texts: Iterable[str]) -> str:
        """How an unrecognised product is named in a note: its first text, else its codes ("product given
        only by code system|code"); and a code the guideline lists for a substance but not as verified.

        >>> m = SubstanceMatcher(codes={}, names={"urn:x:a": ["alphamab"]}, unverified={("s", "1"): ["urn:x:a"]})
        >>> m.describe(codings=[("s", "1")], texts=[])
        'product given only by code s|1, which the guideline lists only as unverified (s|1 for alphamab), so it is read only as perhaps that'
        >>> m.describe(codings=[("s", "2")], texts=["Betanol  5 mg"])
        "'Betanol 5 mg'"
        """
        coded = list(dict.fromkeys((s, c) for s, c in codings if c))
        held = "; ".join(f"{s}|{c} for {self._label(sub)}" for s, c in coded if s
                         for sub in sorted(self._unverified.get((s, c), ())))
        unused = f"listed by the guideline only as unverified ({held}), so read only as perhaps that" if held else ""
        texts = [t for t in texts if t and t.strip()]
        if texts:
            return f"'{' '.join(texts[0].split())}'" + (f" (its code is {unused})" if held else "")
        tokens = ", ".join(f"{s}|{c}" if s else f"{c} (no system)" for s, c in coded)
        if held:
            return (f"product given only by code {tokens}, which the guideline lists only as unverified ({held}), "
                    "so it is read only as perhaps that")
        return f"product given only by code {tokens}, which the guideline's substances do not list"

    def _label(self, substance: str) -> str:
        """The substance's name (its rdfs:label, from :meth:`from_graph`), never a brand chosen because it
        sorts first; else the first of its labels; else its IRI."""
        if substance in self._titles:
            return self._titles[substance]
        labels = self._names.get(substance)
        return labels[0] if labels else substance

    def match_product_texts(self, patient: PatientData) -> PatientData:
        """For RDF input: add substances to exposures that have a ``gkg:productText`` and no
        ``gkg:exposureSubstance``, and to allergy records that have a ``gkg:allergenText`` and no
        ``gkg:allergen`` (a name only: an RDF record's negation, if any, is its author's to state)."""
        lines = []
        for subject, props in patient.facts("MedicationExposure").items():
            if "exposureSubstance" not in props:
                lines += exposure_lines(subject, self.match(codings=(), texts=props.get("productText", ())))
        for subject, props in patient.facts("AllergyRecord").items():
            if "allergen" not in props and "possibleAllergen" not in props:
                lines += [triple(subject, iri(GKG + "allergen"), iri(m.substance))
                          for m in self.match(codings=(), texts=props.get("allergenText", ()))]
        return patient.extended(lines) if lines else patient


def exposure_lines(subject: str, matches: Iterable[SubstanceMatch], possible: Iterable[str] = ()) -> list[str]:
    """``gkg:exposureSubstance`` and ``gkg:matchedBy`` lines for an exposure (``subject`` in N-Triples), and
    ``gkg:possibleSubstance`` for each substance only an unverified code names (:meth:`SubstanceMatcher.possible`)."""
    lines = [triple(subject, iri(GKG + "possibleSubstance"), iri(s)) for s in possible]
    for m in matches:
        lines.append(triple(subject, iri(GKG + "exposureSubstance"), iri(m.substance)))
        lines.append(triple(subject, iri(GKG + "matchedBy"), literal(m.matched_by, XSD + "string")))
    return lines


SHOWN_PRODUCTS = 5  # products named in an unrecognised-product note; the rest are counted


class Unrecognised:
    """Medication records whose product matches no substance, gathered per patient into one note."""

    def __init__(self) -> None:
        self._found: dict[str, dict[str, list[tuple[str, str]]]] = defaultdict(lambda: defaultdict(list))
        self._perhaps: dict[str, set[str]] = defaultdict(set)

    def add(self, patient: str, product: str, record: str, start: str | None, perhaps: bool = False) -> None:
        """A record about ``patient`` (its node) naming ``product`` (:meth:`SubstanceMatcher.describe`),
        with the start of its exposure (an xsd:dateTime lexical form) when known; ``perhaps`` when a code the
        guideline lists as unverified names a substance for it (``gkg:possibleSubstance``: read as perhaps it)."""
        self._found[patient][product].append(((start or "")[:10], record))
        if perhaps:
            self._perhaps[patient].add(product)

    def notes(self) -> Iterator[tuple[str, str]]:
        """``(patient node, message)``: one per patient, in a stable order.

        >>> u = Unrecognised()
        >>> u.add("<p>", "'Betanol'", "MedicationRequest/1", "2020-01-01T00:00:00")
        >>> u.add("<p>", "'Betanol'", "MedicationRequest/2", "2021-01-01T00:00:00")
        >>> u.add("<p>", "'Gammex'", "MedicationStatement/3", None)
        >>> [m for _, m in u.notes()][0].split(": ", 1)[1]
        "'Betanol' (2 records, latest MedicationRequest/2 from 2021-01-01); 'Gammex' (MedicationStatement/3, no start)"
        """
        for patient in sorted(self._found):
            products = self._found[patient]
            # the most recently started first (undated last), then by name
            ranked = sorted(sorted(products), key=lambda name: max(products[name])[0], reverse=True)
            n = sum(len(records) for records in products.values())
            items = []
            for name in ranked[:SHOWN_PRODUCTS]:
                (day, record), count = max(products[name]), len(products[name])
                when = f"from {day}" if day else "no start"
                items.append(f"{name} ({record}, {when})" if count == 1 else
                             f"{name} ({count} records, latest {record} {when})")
            rest = ranked[SHOWN_PRODUCTS:]
            more = (f"; and {len(rest)} more product{'s' * (len(rest) > 1)} "
                    f"({sum(len(products[name]) for name in rest)} records)") if rest else ""
            one = n == 1
            # a product a code listed as unverified names is read as perhaps that substance, not as none
            perhaps = ("; one named only by a code the guideline lists as unverified is read as perhaps the "
                       "substance it is listed for (a result drawn while it was taken is not used, a course of it "
                       "leaves a criterion unknown)") if self._perhaps[patient] and len(products) > 1 else ""
            if self._perhaps[patient] and len(products) == 1:
                yield patient, (
                    f"{n} medication record{'' if one else 's'} name{'s' if one else ''} a product only by a code "
                    "the guideline lists as unverified, so it is read only as perhaps the substance it is listed for "
                    "(a result drawn while it was taken is not used, a course of it leaves a criterion unknown); "
                    f"check what it is: {'; '.join(items)}{more}")
                continue
            yield patient, (
                f"{n} medication record{'' if one else 's'} name{'s' if one else ''} "
                f"{'a product' if len(products) == 1 else f'{len(products)} products'} not recognised as any "
                f"substance the guideline reads, so {'it is' if one else 'they are'} read as exposure to none of "
                f"them (a result drawn while {'it' if one else 'one'} was taken is not flagged, a course of "
                f"{'it' if one else 'one'} is not counted{perhaps}); check whether "
                f"{'it contains' if one else 'any contains'} one: {'; '.join(items)}{more}"
            )


def product(bundle: Bundle, res: dict[str, Any]) -> tuple[list[tuple[str, str]], list[str]]:
    """What product a medication record names: its codings ``(system, code)`` with a code, and its texts
    (concept texts, coding displays, the reference's display), first the one to show; from the inline
    concept, or the referenced Medication's code and ingredients."""
    concepts = [res.get("medicationCodeableConcept")]
    reference = res.get("medicationReference")
    medication = bundle.resolve(reference, res)
    if medication is not None:
        concepts.append(medication.get("code"))
        concepts += [i.get("itemCodeableConcept") for i in medication.get("ingredient") or [] if isinstance(i, dict)]
    texts = [c.get("text") if isinstance(c, dict) else None for c in concepts]
    texts += [d for c in concepts for _, _, d in concept_codings(c)]
    texts.append(reference.get("display") if isinstance(reference, dict) else None)
    coded = [(s, c) for concept in concepts for s, c, _ in concept_codings(concept) if isinstance(c, str) and c.strip()]
    return list(dict.fromkeys(coded)), [t for t in texts if isinstance(t, str) and t.strip()]
