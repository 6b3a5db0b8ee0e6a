"""Auditing recorded runs (``guidelinekg audit``): complete, intact, and equal on replay.

Owns: reading a run's record (``recorded``), the file-hash and link checks (``integrity``), replaying a
run from its recorded facts (``replay``), a cohort's output files against its runs (``cohort``), the
verdict types (``verdicts``), and the auditor that runs them all (``auditor``).

May import: :mod:`guidelinekg.provenance`, :mod:`guidelinekg.engine` and below; not the cohort runner or
the endpoint.
"""
