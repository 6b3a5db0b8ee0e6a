"""Checking guideline content, as ``guidelinekg validate`` does: syntax, SHACL, OWL and lints.

Owns: the run of every step and its report (``validate``), SHACL through pySHACL (``shacl``), OWL
consistency with HermiT (``owl``), the SPARQL lints of ``queries/checks/`` (``lint``), the interval lints
(``regions``, ``bands``, with each measure's bands in one unit by ``bandunits``), code check digits
(``codes``), threshold and interval units (``units``), the vocabulary's terms (``terms``), criteria the rules
decide (``criteria``), and the gate that refuses broken content before an evaluation (``gate``). A new lint is
a ``.rq`` file in ``queries/checks/`` registered in :data:`guidelinekg.checks.lint.SPARQL_CHECKS`, or a
function in its own module called from :func:`guidelinekg.checks.lint.run_lints`.

May import: :mod:`guidelinekg.engine` (the rules, read by ``criteria``), :mod:`guidelinekg.patients` (unit
conversion), :mod:`guidelinekg.content`, :mod:`guidelinekg.errors`.
"""
