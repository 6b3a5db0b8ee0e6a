"""Evaluating a population (``guidelinekg cohort``): chunked, resumable, local or on Dask.

Owns: splitting the input into chunks with bad records set aside (``partition``), evaluating one chunk
with the same engine and report code as ``recommend`` (``chunk``), and the coordinator that runs chunks
exactly once and writes the outputs atomically (``run``).

May import: :mod:`guidelinekg.provenance`, :mod:`guidelinekg.report`, :mod:`guidelinekg.checks` and
below; not the endpoint or the audit.
"""
