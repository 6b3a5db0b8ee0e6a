"""SPARQL for researchers: the ``query`` command's machinery and the read-only endpoint (``serve``).

Owns: query files, their headers and parameters (``query``, ``params``), the SPARQL 1.1 Protocol side of
a request (``protocol``: dataset, negotiation, the federation refusal), and the WSGI server with its
worker processes and time limit (``server``).

May import: :mod:`guidelinekg.provenance` and below; not the cohort runner or the audit.
"""
