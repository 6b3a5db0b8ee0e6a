"""A CDS Hooks 2.0 service (``guidelinekg hooks``): the ``recommend`` decisions as cards in an EHR.

Owns: the services, their prefetch templates and the request checks (``protocol``), a hook call's
prefetched data as one FHIR Bundle (``prefetch``), the ``recommend`` path run on it per guideline
(``advice``), reports as patient-view cards (``cards``, Markdown in ``markdown``), drafted medication
orders checked against the statements that advise against them (``orders``), the cards issued and the
clinicians' feedback as PROV-O (``feedback``), bearer JWTs checked against a JWKS file (``auth``), and the
Falcon app with its Host check, CORS and access log (``app``) served by waitress (``serve``).

The service never calls the FHIR server a request names: prefetch is the only patient data it reads.

May import: :mod:`guidelinekg.provenance` and below; not the cohort runner, the endpoint or the audit.
"""
