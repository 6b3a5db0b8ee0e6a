"""Code systems as FHIR R4 names them, from the other names real exports give them.

FHIR R4 identifies LOINC as ``http://loinc.org``, SNOMED CT as ``http://snomed.info/sct`` and so on
(https://hl7.org/fhir/R4/terminologies-systems.html). Records converted from HL7 v2 or C-CDA often keep the
HL7 OID of the system instead, as ``urn:oid:2.16.840.1.113883.6.96`` (a valid FHIR URI) or as the bare OID.
Both name the same system: a diagnosis coded ``urn:oid:2.16.840.1.113883.6.90`` (ICD-10-CM) is matched as one
coded ``http://hl7.org/fhir/sid/icd-10-cm`` is, instead of being dropped as an unknown system. So is a URI
of these systems written with a trailing slash (``http://loinc.org/``, as some exports write it): a URI is
compared as a string, and that spelling would otherwise match nothing, silently.

Whitespace around a system, a code or a unit (``" 8302-2"``, ``"cm "``: a column padded by an export)
is no part of the value (FHIR R4 ``code``: "no leading or trailing whitespace"): :func:`trimmed` removes it,
without a note, since no reading of the value changes.

Only the OIDs and URIs of the systems the mapping reads are listed; any other system is kept as written.

>>> canonical_system("urn:oid:2.16.840.1.113883.6.96"), canonical_system("2.16.840.1.113883.6.1")
('http://snomed.info/sct', 'http://loinc.org')
>>> canonical_system(" http://loinc.org/ "), canonical_system("http://example.org/local/")
('http://loinc.org', 'http://example.org/local/')
"""

from __future__ import annotations

from typing import Any

OID_SYSTEMS = {  # the HL7 OID of each system -> its FHIR R4 URI
    "2.16.840.1.113883.6.1": "http://loinc.org",
    "2.16.840.1.113883.6.96": "http://snomed.info/sct",
    "2.16.840.1.113883.6.90": "http://hl7.org/fhir/sid/icd-10-cm",
    "2.16.840.1.113883.6.3": "http://hl7.org/fhir/sid/icd-10",
    "2.16.840.1.113883.6.103": "http://hl7.org/fhir/sid/icd-9-cm",
    "2.16.840.1.113883.6.88": "http://www.nlm.nih.gov/research/umls/rxnorm",
    "2.16.840.1.113883.6.8": "http://unitsofmeasure.org",
    "2.16.840.1.113883.6.12": "http://www.ama-assn.org/go/cpt",
    "2.16.840.1.113883.6.4": "http://www.cms.gov/Medicare/Coding/ICD10",
}
SYSTEM_NAMES = {  # how a note names a system
    "http://loinc.org": "LOINC",
    "http://snomed.info/sct": "SNOMED CT",
    "http://hl7.org/fhir/sid/icd-10-cm": "ICD-10-CM",
    "http://hl7.org/fhir/sid/icd-10": "ICD-10",
    "http://hl7.org/fhir/sid/icd-9-cm": "ICD-9-CM",
    "http://www.nlm.nih.gov/research/umls/rxnorm": "RxNorm",
    "http://unitsofmeasure.org": "UCUM",
    "http://www.ama-assn.org/go/cpt": "CPT",
    "http://www.cms.gov/Medicare/Coding/ICD10": "ICD-10-PCS",
}
# The standard systems of diagnoses: a Condition coded in none of them cannot be matched by a guideline
# when what the guidelines read is not known (with the knowledge: the systems its diagnoses are coded in).
DIAGNOSIS_SYSTEMS = frozenset({"http://snomed.info/sct", "http://hl7.org/fhir/sid/icd-10-cm",
                               "http://hl7.org/fhir/sid/icd-10", "http://hl7.org/fhir/sid/icd-9-cm"})


def trimmed(value: Any) -> Any:
    """A string without surrounding whitespace; anything else as it is.

    >>> trimmed(" 8302-2"), trimmed("ng/mL "), trimmed(5)
    ('8302-2', 'ng/mL', 5)
    """
    return value.strip() if isinstance(value, str) else value


def canonical_system(system: Any) -> Any:
    """The FHIR R4 URI of a code system given by its HL7 OID (``urn:oid:`` or bare), or by its URI with
    surrounding whitespace or a trailing slash; any other string trimmed; anything else as it is."""
    if not isinstance(system, str):
        return system
    system = system.strip()
    if system.endswith("/") and system.rstrip("/") in SYSTEM_NAMES:
        return system.rstrip("/")
    return OID_SYSTEMS.get(system.removeprefix("urn:oid:"), system)


def system_name(system: Any) -> str:
    """A system as a note names it: ``SNOMED CT``, else its URI.

    >>> system_name("http://snomed.info/sct"), system_name("urn:oid:1.2.840.114350.1")
    ('SNOMED CT', 'urn:oid:1.2.840.114350.1')
    """
    return SYSTEM_NAMES.get(system, str(system)[:100])


def system_names(systems: Any) -> str:
    """Systems as a note lists them: the known ones in the order of :data:`SYSTEM_NAMES`, then the others.

    >>> system_names({"http://hl7.org/fhir/sid/icd-10-cm", "urn:x", "http://snomed.info/sct"})
    'SNOMED CT, ICD-10-CM, urn:x'
    """
    order = list(SYSTEM_NAMES)
    ranked = sorted(systems, key=lambda s: (order.index(s) if s in SYSTEM_NAMES else len(order), str(s)))
    return ", ".join(system_name(s) for s in ranked)
