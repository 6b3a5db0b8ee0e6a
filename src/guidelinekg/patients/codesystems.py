"""Code systems as FHIR R4 names them, from the other names real exports give them.

FHIR R4 identifies LOINC as ``http://loinc.org``, SNOMED CT as ``http://snomed.info/sct`` and so on
(https://hl7.org/fhir/R4/terminologies-systems.html). Records converted from HL7 v2 or C-CDA often keep the
HL7 OID of the system instead, as ``urn:oid:2.16.840.1.113883.6.96`` (a valid FHIR URI) or as the bare OID.
Both name the same system: a diagnosis coded ``urn:oid:2.16.840.1.113883.6.90`` (ICD-10-CM) is matched as one
coded ``http://hl7.org/fhir/sid/icd-10-cm`` is, instead of being dropped as an unknown system.

Only the OIDs of the systems the mapping reads are listed; any other system is kept as written.

>>> canonical_system("urn:oid:2.16.840.1.113883.6.96"), canonical_system("2.16.840.1.113883.6.1")
('http://snomed.info/sct', 'http://loinc.org')
>>> canonical_system("http://example.org/local")
'http://example.org/local'
"""

from __future__ import annotations

from typing import Any

OID_SYSTEMS = {  # the HL7 OID of each system -> its FHIR R4 URI
    "2.16.840.1.113883.6.1": "http://loinc.org",
    "2.16.840.1.113883.6.96": "http://snomed.info/sct",
    "2.16.840.1.113883.6.90": "http://hl7.org/fhir/sid/icd-10-cm",
    "2.16.840.1.113883.6.3": "http://hl7.org/fhir/sid/icd-10",
    "2.16.840.1.113883.6.88": "http://www.nlm.nih.gov/research/umls/rxnorm",
    "2.16.840.1.113883.6.8": "http://unitsofmeasure.org",
}


def canonical_system(system: Any) -> Any:
    """The FHIR R4 URI of a code system given by its HL7 OID (``urn:oid:`` or bare); anything else as it is."""
    if not isinstance(system, str):
        return system
    return OID_SYSTEMS.get(system.removeprefix("urn:oid:"), system)
