"""SPARQL for researchers: the ``query`` command's machinery and the read-only endpoint (``serve``).

Owns: query files, their headers and parameters (``query``, ``params``), the SPARQL 1.1 Protocol side of
a request (``protocol``: dataset, negotiation, request decoding and the federation refusal, decided on
the parsed query; ``description``: the service description), the WSGI app with its worker processes and time limit
(``server``), and running it under waitress with checked options (``serve``).

May import: :mod:`guidelinekg.provenance` and below; not the cohort runner or the audit.
"""
