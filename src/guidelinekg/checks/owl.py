"""OWL 2 consistency of the vocabulary and content with HermiT, through owlready2.

The union of the loaded files is written as N-Triples to a temporary file, without its ``owl:imports``
triples (owlready2 would follow them over the network), and loaded into a fresh owlready2 ``World`` so
nothing leaks into owlready2's default world. HermiT runs in Java; without Java the step is skipped and
says why. HermiT is told to ignore datatypes outside the OWL 2 datatype map (``xsd:date``,
``xsd:gYear``), which the content uses for dates.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from pyoxigraph import NamedNode, RdfFormat, serialize

from guidelinekg.content.loading import Content, Finding

OWL = "http://www.w3.org/2002/07/owl#"
OWL_IMPORTS = NamedNode(OWL + "imports")


@dataclass(frozen=True)
class OwlStatus:
    """How the OWL step went: ``status`` is consistent, inconsistent, unsatisfiable, failed or skipped."""

    status: str
    reason: str = ""
    seconds: float | None = None

    def as_dict(self) -> dict:
        return {"status": self.status, "reason": self.reason, "seconds": self.seconds}


def java_problem() -> str | None:
    """Why HermiT cannot run here (no ``java`` on PATH, or it fails to start), or ``None``."""
    import owlready2

    java = shutil.which(owlready2.JAVA_EXE)
    if java is None:
        return f"Java not found ({owlready2.JAVA_EXE!r} is not on PATH); HermiT needs Java 8 or later"
    try:
        run = subprocess.run([java, "-version"], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run {java}: {exc}"
    if run.returncode != 0:
        detail = run.stderr.decode(errors="replace").strip().splitlines()
        return f"'{java} -version' failed: {detail[0] if detail else f'exit code {run.returncode}'}"
    return None


def check_owl(content: Content) -> tuple[OwlStatus, list[Finding]]:
    """Classify ``content`` with HermiT; report inconsistency and unsatisfiable classes.

    Returns:
        The step's status and findings of kind ``"owl"``: ``owl-inconsistent`` (no focus: the whole
        union is inconsistent), ``owl-unsatisfiable-class`` (one per class equivalent to
        ``owl:Nothing``) or ``owl-reasoner-failed`` (HermiT stopped with an error).
        Without Java the status is ``skipped`` with the reason and there are no findings.
    """
    problem = java_problem()
    if problem:
        return OwlStatus("skipped", problem), []

    import owlready2

    triples = [t for t in content.triples() if t.predicate != OWL_IMPORTS]
    ignored = sum(1 for t in content.triples() if t.predicate == OWL_IMPORTS)
    note = f"{ignored} owl:imports ignored; " if ignored else ""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="guidelinekg-owl-") as tmp:
        path = Path(tmp) / "union.nt"
        with path.open("wb") as out:
            serialize(triples, out, RdfFormat.N_TRIPLES)
        world = owlready2.World()
        try:
            with path.open("rb") as data:
                world.get_ontology(path.as_uri()).load(fileobj=data, format="ntriples")
            try:
                owlready2.sync_reasoner_hermit(
                    world, infer_property_values=False, debug=0, ignore_unsupported_datatypes=True
                )
            except owlready2.OwlReadyInconsistentOntologyError:
                seconds = time.perf_counter() - started
                message = (
                    "the vocabulary and content together are logically inconsistent (HermiT does not say "
                    "where); look for a value outside its property's range (e.g. a quoted number where "
                    "xsd:decimal is expected: shacl findings name it), a functional property with two values "
                    "(shacl maxCount), or a node of two disjoint classes (lint disjoint-types)"
                )
                return (
                    OwlStatus("inconsistent", note + "HermiT", seconds),
                    [Finding("error", "owl", "owl-inconsistent", message)],
                )
            except owlready2.OwlReadyJavaError as exc:
                seconds = time.perf_counter() - started
                first = _java_message(str(exc))
                return (
                    OwlStatus("failed", note + first, seconds),
                    [Finding("error", "owl", "owl-reasoner-failed", f"HermiT failed: {first}")],
                )
            unsatisfiable = sorted(
                cls.iri for cls in world.inconsistent_classes() if not cls.iri.startswith(OWL)
            )
        finally:
            world.close()
    seconds = time.perf_counter() - started
    findings = [_unsatisfiable(content, iri) for iri in unsatisfiable]
    status = "unsatisfiable" if findings else "consistent"
    return OwlStatus(status, note + "HermiT, unsupported datatypes ignored", seconds), findings


def _unsatisfiable(content: Content, iri: str) -> Finding:
    message = "class is unsatisfiable: no individual can be a member (equivalent to owl:Nothing)"
    return content.finding(NamedNode(iri), "error", "owl", "owl-unsatisfiable-class", message)


def _java_message(text: str) -> str:
    """The line of a Java stack trace that says what went wrong, as ``ShortClassName: message``."""
    for line in text.splitlines():
        match = re.search(r"([\w$]+(?:Exception|Error))(?::\s*(.*))?$", line)
        if match and not line.startswith("Java error"):
            return f"{match.group(1)}: {match.group(2) or ''}".rstrip(": ")
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else "unknown error"
