"""The reasoner: the rule store, the SPARQL rules, and evaluating patients against the knowledge.

Owns: the store interface over pyoxigraph (``store``), loading and running ``queries/rules/*.rq`` in
strata (``rules``), the guideline knowledge loaded once per run (``knowledge``), the evaluation context
and time indexes the rules read (``timeline``), evaluating a batch of patients (``reasoning``), and
checking patient data against ``shapes/patient.ttl`` compiled to SPARQL (``shapes_sparql``,
``shapes_constraints``, ``patientcheck``). A new rule is a ``.rq`` file, not code here.

May import: :mod:`guidelinekg.patients`, :mod:`guidelinekg.content`, :mod:`guidelinekg.errors`.
"""
