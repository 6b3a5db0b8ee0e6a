"""Auditing recorded runs (``guidelinekg audit``): complete, intact, and equal on replay.

Owns: reading a run's record (``recorded``) and the runs of a file, as text in the cohort's layout
(``reader``), the provenance shapes compiled to SPARQL (``completeness``), the file-hash and link checks
(``integrity``), replaying a run from its recorded facts (``replay``) or from its text (``fastpath``), a
cohort's ``results.jsonl`` and ``summary.csv`` against the replay (``cohort``), the verdict types
(``verdicts``), running the runs in this or worker processes (``runs``), and the auditor that runs them all
(``auditor``).

May import: :mod:`guidelinekg.provenance`, :mod:`guidelinekg.report`, :mod:`guidelinekg.engine` and
below; not the cohort runner or the endpoint.
"""
