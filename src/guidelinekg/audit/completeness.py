"""The completeness side of an audit: ``shapes/provenance.ttl`` on a run's recorded graph.

The shapes are compiled to SPARQL (:func:`guidelinekg.engine.shapes_sparql.compile_shapes`) under the RDFS
entailments of the vocabulary (``ontology/*.ttl``: types by domain, range, subclass and subproperty), and
run on the Oxigraph store already holding the run's graph: nothing is copied or materialised. pySHACL over
a materialised copy took about 15 ms per patient; ``tests/test_audit_shapes.py`` checks that the compiled
shapes report what pySHACL with RDFS inference reports, on valid and on broken provenance.
"""

from __future__ import annotations

import pyoxigraph as ox

from guidelinekg.audit.recorded import Finding, _local
from guidelinekg.engine.shapes_sparql import SH, CompiledShapes, compile_shapes


def provenance_shapes() -> CompiledShapes:
    """``shapes/provenance.ttl`` compiled under the vocabulary's RDFS entailments."""
    from guidelinekg.content.resources import ontology_dir, shapes_dir

    vocabulary = [
        q.triple
        for f in sorted(ontology_dir().glob("*.ttl"))
        for q in ox.parse(path=str(f), format=ox.RdfFormat.TURTLE, base_iri=f.resolve().as_uri())
    ]
    return compile_shapes(shapes_dir() / "provenance.ttl", vocabulary=vocabulary)


def _value(term: str) -> str:
    """The IRI or blank node label of an N-Triples term (what the findings name)."""
    if term.startswith("<") and term.endswith(">"):
        return term[1:-1]
    return term.removeprefix("_:")


def check_shapes(store: ox.Store, shapes: CompiledShapes, findings: list[Finding]) -> str:
    """Run the compiled shapes on the store's default graph: ``ok``, or ``incomplete`` with one
    ``incomplete-provenance`` failure per focus node and message (the first path named)."""
    violations = shapes.validate(store)
    if not any(v.severity == SH + "Violation" for v in violations):
        return "ok"
    seen: set[tuple[str, str]] = set()
    for v in violations:
        focus = _value(v.focus)
        if (focus, v.message) in seen:
            continue
        seen.add((focus, v.message))
        where = f" (path {_local(v.path)})" if v.path else ""
        findings.append(Finding("failure", "incomplete-provenance", f"{v.message}{where}", focus))
    return "incomplete"
