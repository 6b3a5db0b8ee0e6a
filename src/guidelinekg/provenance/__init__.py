"""PROV-O provenance of evaluation runs: writing the record, reading it back, keeping it in a store.

Owns: the record of a run (``record``: the activity, what it used, the rule and content hashes), reading
run provenance and guideline versions from files (``inputs``), and the on-disk Oxigraph store of runs and
versions, one named graph each (``store``).

May import: :mod:`guidelinekg.engine` and below.
"""
