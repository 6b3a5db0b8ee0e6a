"""Patient input: FHIR R4 or patient RDF in, patient facts (N-Triples in ``ontology/patient.ttl``) out.

Owns: the patient data model (``model``), reading an input file of any kind (``loader``, ``decode``),
the FHIR R4 mapping (``fhir``, ``fhirbundle``, ``fhirschema``; ``fhirlazy`` reads a Bundle parsing only
what the mapping reads), recognising medication substances (``medmatch``) and unit conversion with UCUM
and the graph's factors (``units``, ``ucum``). A new input format goes here, as a function returning
:class:`~guidelinekg.patients.model.PatientData`.

May import: :mod:`guidelinekg.content`, :mod:`guidelinekg.errors`. It never sees the rule engine: what it
knows of a guideline (substances, measures) it is handed as data.
"""
