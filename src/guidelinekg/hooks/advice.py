"""One hook call's patient evaluated as ``recommend`` evaluates a file: the same loader, patient shapes,
rules and report, per loaded guideline, on the knowledge loaded once when the service starts.

:class:`Advisor` holds the guidelines (each with its knowledge base, as ``recommend --content`` and
``--guideline`` choose them), the compiled patient shapes and the as-of date (fixed, or the day of each
call). :meth:`Advisor.warm` evaluates a minimal patient once per guideline before the service answers, so
every lazily built part of the knowledge (matcher, units, rule plans, the report's guideline parts, the
statements about actions) exists before two requests could build it at once.

:func:`advise` returns an :class:`Advice`: the reports (``build_report(..., facts=True)``, as ``recommend
--format fhir`` reads them), and with several guidelines where they disagree for the patient; or what is
missing from the prefetch; or why the record could not be read (an ``InputError`` of the loader: what
``recommend`` would exit 2 with). Any other failure is reported the same way, with the traceback on the
service's log, never in the answer.
"""

from __future__ import annotations

import sys
import traceback
from dataclasses import dataclass, field
from datetime import date

from guidelinekg.errors import GuidelineKGError, InputError
from guidelinekg.hooks.prefetch import gather
from guidelinekg.hooks.protocol import HookCall

SOURCE = "prefetch"  # the name the loader gives the Bundle built from a call's prefetch
_WARM = (b'{"resourceType":"Bundle","type":"collection","entry":[{"resource":'
         b'{"resourceType":"Patient","id":"guidelinekg-warm-up","birthDate":"1970-01-01"}}]}')


@dataclass
class Advice:
    as_of: date
    evaluated: list[tuple] = field(default_factory=list)  # (guideline, evaluation, report)
    disagreements: list[dict] = field(default_factory=list)
    missing: tuple[tuple[str, str], ...] = ()  # prefetch keys and why they cannot be used
    unreadable: str | None = None  # why the record could not be read

    @property
    def reports(self) -> list[dict]:
        return [report for _, _, report in self.evaluated]


class Advisor:
    """The loaded guidelines and the recommend path over them."""

    def __init__(self, guidelines, *, as_of: date | None = None):
        from guidelinekg.engine.shapes_sparql import load_patient_shapes

        self.guidelines = list(guidelines)
        self.as_of = as_of
        self.shapes = load_patient_shapes()

    @property
    def reads_procedures(self) -> bool:
        return any(g.kb.reads.procedures for g in self.guidelines)

    @property
    def reads_allergies(self) -> bool:
        return any(g.kb.reads.allergies for g in self.guidelines)

    def day(self) -> date:
        """The as-of date of a call: ``--as-of``, else the server's date today (ages and time windows count from
        it; a result timed in UTC early the next day is taken as perhaps of today: rule 10)."""
        return self.as_of or date.today()

    def evaluate(self, raw: bytes, as_of: date) -> list[tuple]:
        """(guideline, evaluation, report) per guideline, exactly as ``recommend`` evaluates a file."""
        from guidelinekg.engine.patientcheck import validate_patients
        from guidelinekg.engine.reasoning import evaluate
        from guidelinekg.patients.loader import load_patient_input
        from guidelinekg.report.patient import build_report

        out = []
        for g in self.guidelines:
            kb = g.kb
            patient = load_patient_input(SOURCE, matcher=kb.matcher, measures=kb.measures, reads=kb.reads, raw=raw)
            patient = validate_patients([patient], kb, self.shapes)[0]
            evaluation = evaluate(kb, [patient], as_of=as_of)
            out.append((g, evaluation, build_report(evaluation, patient.patient_iri, g.version, facts=True)))
        return out

    def disagreements(self, evaluated: list[tuple]) -> list[dict]:
        """Where the guidelines disagree for the patient (as ``recommend`` finds it with several)."""
        from guidelinekg.report.disagree import patient_disagreements

        if len(evaluated) < 2:
            return []
        stances = {report["guideline"]["version_iri"]: stances_of_kb(g.kb) for g, _, report in evaluated}
        return patient_disagreements([report for _, _, report in evaluated], stances)

    def warm(self) -> None:
        """Build everything built on first use, once, before requests run in parallel."""
        self.evaluate(_WARM, self.day())
        for g in self.guidelines:
            stances_of_kb(g.kb)
            substance_keys(g.kb)


def stances_of_kb(kb) -> list:
    """The guideline's statements about actions (:func:`guidelinekg.checks.conflicts.stances_of`), read
    once per knowledge base (the memo ``recommend`` uses too)."""
    from guidelinekg.checks.conflicts import stances_of
    from guidelinekg.content.loading import Content

    return kb.memo("action-stances", lambda store: stances_of(Content(store=store.raw)))


def substance_keys(kb) -> dict[str, tuple[frozenset[str], frozenset[str]]]:
    """Per substance IRI of the guideline: its keys (names and codes, as the statements' keys are made)
    and the keys of the classes it belongs to (``gkg:memberOfClass`` and every ``skos:broader`` above)."""
    return kb.memo("hooks-substance-keys", _substance_keys)


def _substance_keys(store) -> dict:
    from pyoxigraph import Literal, NamedNode

    from guidelinekg.content.loading import Content

    gkg = "https://w3id.org/guidelinekg/ontology#"
    label, alt = (NamedNode("http://www.w3.org/2000/01/rdf-schema#label"),
                  NamedNode("http://www.w3.org/2004/02/skos/core#altLabel"))
    notation, broader = (NamedNode("http://www.w3.org/2004/02/skos/core#notation"),
                         NamedNode("http://www.w3.org/2004/02/skos/core#broader"))
    content = Content(store=store.raw)
    objects = content.objects

    def names(node) -> set[str]:  # as checks.conflicts names a node: labels, alternative labels, codes
        out = {f"name:{o.value.strip().lower()}" for p in (label, alt) for o in objects(node, p)
               if isinstance(o, Literal) and o.value.strip()}
        for code in objects(node, NamedNode(gkg + "code")):
            out |= {f"code:{s.value}|{n.value}" for s in objects(code, NamedNode(gkg + "codeSystem"))
                    for n in objects(code, notation)}
        return out

    out = {}
    kind = NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
    for substance in content.subjects(kind, NamedNode(gkg + "Substance")):
        classes = list(objects(substance, NamedNode(gkg + "memberOfClass")))
        todo = list(classes)
        while todo:
            for up in objects(todo.pop(), broader):
                if up not in classes:
                    classes.append(up)
                    todo.append(up)
        out[substance.value] = (frozenset(names(substance)), frozenset(k for c in classes for k in names(c)))
    return out


def advise(call: HookCall, advisor: Advisor, keys: list[str], *, log=None) -> Advice:
    """The call's patient evaluated against every loaded guideline (see the module docstring)."""
    advice = Advice(advisor.day())
    gathered = gather(call, keys)
    if gathered.missing:
        advice.missing = gathered.missing
        return advice
    try:
        advice.evaluated = advisor.evaluate(gathered.raw, advice.as_of)
        advice.disagreements = advisor.disagreements(advice.evaluated)
    except InputError as exc:
        advice.unreadable = exc.message + (f" ({exc.hint})" if exc.hint else "")
    except GuidelineKGError as exc:
        advice.unreadable = str(exc)
    except Exception:  # noqa: BLE001 - a failure on this record must not become a 500 without a card
        (log or _stderr)("hook call " + call.hook_instance + " failed:\n" + traceback.format_exc())
        advice.unreadable = "the service failed on this record (an internal error, logged by the service)"
    return advice


def _stderr(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()
