"""The fast replay of a run read as text: trusted only when it reproduces the recorded lines exactly.

A run read by :mod:`guidelinekg.audit.reader` in the cohort layout is a list of N-Triples lines, never
parsed into Python terms. :func:`replay_fast` reads from those lines what the replay needs (the run's rule
and content files, as-of date, recorded input, the patient facts and loader notes, by splitting each line
at its first two spaces), evaluates the patients again, and compares the recorded lines with the lines
the replay's provenance is made of, timing fields aside. Only if they are equal as text, under the same
run IRI and input digest, is the replay used; then the recorded graph *is* the replay's provenance, which
the engine writes in canonical N-Triples, so splitting its lines read every term exactly as parsing would
have, and the evaluation's store (the knowledge taken out, the run's own triples and the recorded timing
put in) holds exactly the recorded graph: the shapes, results and links are checked on it, without parsing
or loading the recorded graph at all.

Anything else (different lines, other as-of date or engine, changed rules or content, a line that is not
what the engine writes) returns ``None`` and the auditor audits the run exactly, from its parsed triples
(:mod:`guidelinekg.audit.replay`), so the findings are the same either way (``tests/test_audit.py`` checks
both paths agree on clean and tampered runs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import pyoxigraph as ox

from guidelinekg.audit.integrity import check_files
from guidelinekg.audit.recorded import FACT_CLASSES, GKG, RDF_TYPE, Finding, _Graph
from guidelinekg.audit.replay import patients_from, recorded_input, recorded_mapping, recorded_source

# The subjects of what the run records about itself and the files it used (its "head").
HEAD_SUBJECTS = ("<https://w3id.org/guidelinekg/rules/", "<urn:guidelinekg:file:", "<urn:guidelinekg:input:",
                 "<urn:guidelinekg:source:", "<urn:guidelinekg:mapping:",
                 "<https://w3id.org/guidelinekg/software/")
NOTE_PREDICATES = {GKG + "forPatient", GKG + "warningCode", GKG + "message", GKG + "aboutRecord",
                   GKG + "recordMayLack"}
INFO = """SELECT ?asOf ?engine ?software ?started ?ended ?code WHERE {
    OPTIONAL { $run gkg:asOfDate ?asOf } OPTIONAL { $run gkg:engine ?engine }
    OPTIONAL { $run prov:startedAtTime ?started } OPTIONAL { $run prov:endedAtTime ?ended }
    OPTIONAL { $run gkg:softwareSha256 ?code }
    OPTIONAL { $run prov:wasAssociatedWith ?a . ?a gkg:softwareVersion ?software } }"""


@dataclass
class FastReplay:
    """A replay that reproduced the recorded lines: the recorded graph (in the evaluation's store), the
    typed subjects, the rebuilt patients and their input check, and the evaluation's reports."""

    graph: _Graph
    typed: set[str]
    patients: dict
    input_ok: bool
    input_findings: list[Finding]
    reports: dict[str, dict] | None = field(default=None, repr=False)


def run_info(graph: _Graph) -> dict[str, str]:
    """The run's as-of date, engine, software version and start and end times (as recorded)."""
    return (graph.select(INFO) or [{}])[0]


def unreplayed_findings(info: dict[str, str]) -> list[Finding]:
    """What the run records outside its replay, checked: an end before the start (the times were edited:
    ``times-inconsistent``); code other than this process's (``software-code``, a note: a replay that differs
    may differ by the code)."""
    from datetime import datetime

    from guidelinekg.content.resources import software_sha256

    findings = []
    try:
        started, ended = (datetime.fromisoformat(info[k]) for k in ("started", "ended"))
        if ended < started:
            findings.append(Finding("failure", "times-inconsistent",
                                    f"the run ended ({info['ended']}) before it started ({info['started']})"))
    except (KeyError, ValueError, TypeError):  # a time missing or unreadable: the shapes say so
        pass
    if info.get("code") and info["code"] != software_sha256():
        findings.append(Finding(
            "note", "software-code",
            f"made by code {info['code'][:16]}..., replayed with code {software_sha256()[:16]}... "
            "(gkg:softwareSha256): the code changed since the run, so a replay that differs may differ by it"))
    return findings


def _value(term: str) -> str:
    return term[1:-1] if term[:1] == "<" else term[2:] if term[:2] == "_:" else term


def _row(line: str) -> tuple[str, str, str, str, str]:
    """(subject term, subject value, predicate IRI, object value, line) of a line as the engine writes
    it (a literal object's value is left as written: it is only compared with IRIs)."""
    s, p, rest = line.split(" ", 2)
    return s, _value(s), p[1:-1], _value(rest[:-2]), line


def _notes(lines: list[str], subjects: set[str]) -> list[tuple[str, str, str, str | None]]:
    """The loader notes' rows (patient, code, message, record, records it may lack), as the auditor's SPARQL
    gives them."""
    text = "".join(line + "\n" for line in lines)
    values: dict[str, dict[str, list[str]]] = {s: {p: [] for p in NOTE_PREDICATES} for s in subjects}
    for q in ox.parse(text.encode("utf-8"), format=ox.RdfFormat.N_TRIPLES):
        node = values.setdefault(str(q.subject), {p: [] for p in NOTE_PREDICATES})
        node[q.predicate.value].append(q.object.value)
    return [
        (patient, code, message, record, tuple(sorted(c.rsplit("#", 1)[-1] for c in v[GKG + "recordMayLack"])))
        for v in values.values()
        for patient in v[GKG + "forPatient"]
        for code in v[GKG + "warningCode"]
        for message in v[GKG + "message"]
        for record in (v[GKG + "aboutRecord"] or [None])
    ]


def _same_lines(record, replayed: bytes, other: list[str], timing: list[str]) -> bool:
    """Whether the recorded lines, timing aside, are the replay's: its derived triples as the engine
    dumps them, and ``other`` (the version and run lines). A cohort writes the dump first, so the text
    usually starts with it byte for byte and only the few lines after it are compared as a set."""
    body = record.body
    if body is not None and body.startswith(replayed):
        rest = set(body[len(replayed):].decode("utf-8").split("\n")[:-1])
        rest.difference_update(timing)
        if rest == set(other):
            return True
    recorded = set(record.lines)
    recorded.difference_update(timing)
    return recorded == set(replayed.decode("utf-8").split("\n")[:-1]) | set(other)


def replay_fast(record, derived: tuple, current_rules: dict[str, str], knowledge: Callable, patient_shapes,
                version: Callable | None) -> FastReplay | None:
    """Replay a run from its lines (see the module docstring); ``None`` when the run must be audited
    exactly. ``knowledge(content)`` gives the knowledge base for the recorded content files;
    ``version(kb)`` the guideline version whose reports to build (``None``: no reports)."""
    from guidelinekg.engine.patientcheck import validate_patients
    from guidelinekg.engine.reasoning import evaluate
    from guidelinekg.provenance.record import UNREPLAYED_PREDICATES, VERSION_QUERY, run_triples
    from guidelinekg.report.patient import build_reports

    run, lines = f"<{record.run}>", record.lines
    timing_prefixes = tuple(f"{run} <{p}> " for p in UNREPLAYED_PREDICATES)  # the times, the code's digest
    timing_terms = {f"<{p}>" for p in UNREPLAYED_PREDICATES}
    type_infix = f" <{RDF_TYPE}> "
    # one pass per kind of line, each a C-level scan: the run's own lines (its rule and content files,
    # as-of date, input), typed subjects (facts, patients, notes), then the facts' and notes' lines
    head = [line for line in lines if line.startswith(HEAD_SUBJECTS + (run,))]
    timing = [line for line in head if line.startswith(timing_prefixes)]
    try:
        typed_lines = [line for line in lines if type_infix in line and line.split(" ", 2)[1] == type_infix[1:-1]]
        fact_types = tuple(f"{type_infix}<{c}> ." for c in FACT_CLASSES)
        facts = {line[:line.find(" ")] for line in typed_lines if line.endswith(fact_types)}
        note_subjects = {line[:line.find(" ")] for line in typed_lines if line.endswith(f"{type_infix}<{GKG}IngestNote> .")}
        wanted = facts | note_subjects
        fact_lines = [line for line in lines if line[:line.find(" ")] in wanted]
        rows = [_row(line) for line in fact_lines if line[:line.find(" ")] in facts]
        store = ox.Store()
        store.load("".join(line + "\n" for line in head if line not in timing).encode("utf-8"),
                   format=ox.RdfFormat.N_TRIPLES)
        note_rows = _notes([n for n in fact_lines if n[:n.find(" ")] in note_subjects
                            and n.split(" ", 2)[1][1:-1] in NOTE_PREDICATES], note_subjects)
    except (ValueError, SyntaxError):
        return None
    head_graph = _Graph.of_store(record.run, store)
    info = run_info(head_graph)
    rules_ok, content = check_files(head_graph, current_rules, [])
    if not (rules_ok and content is not None and info.get("asOf")) or (info.get("engine") or "oxigraph") != "oxigraph":
        return None
    try:
        as_of = date.fromisoformat(info["asOf"])
    except ValueError:
        return None
    inputs = recorded_input(head_graph)
    input_findings: list[Finding] = []
    patients, input_ok = patients_from(rows, derived, note_rows, inputs, input_findings)
    if not patients or not inputs:
        return None
    kb = knowledge(content)
    checked = validate_patients([patients[p] for p in sorted(patients)], kb, patient_shapes)
    try:
        evaluation = evaluate(kb, checked, as_of=as_of, engine="oxigraph", source_sha256=recorded_source(head_graph),
                              mapping_sha256=recorded_mapping(head_graph))
    except (ValueError, SyntaxError):  # lines that only looked like the engine's
        return None
    if evaluation.run_iri != record.run or evaluation.input_sha256 != inputs[0]:
        return None
    chosen = version(kb) if version is not None else None
    reports = build_reports(evaluation, chosen) if chosen is not None else None
    raw = evaluation.store.raw
    versions = [f"{s} {p} {o} ." for s, p, o in evaluation.store.triples(VERSION_QUERY)]
    for quad in kb._quads:  # the knowledge out: what is left is what the run derived (derived_ntriples)
        raw.remove(quad)
    replayed = raw.dump(format=ox.RdfFormat.N_TRIPLES, from_graph=ox.DefaultGraph())
    own = [line[:-1] for line in run_triples(evaluation) if line.split(" ", 2)[1] not in timing_terms]
    if not _same_lines(record, replayed, versions + own, timing):
        return None
    try:  # the store now holds the recorded graph: the replay's, with the recorded times
        raw.load("".join(line + "\n" for line in versions + own + timing).encode("utf-8"),
                 format=ox.RdfFormat.N_TRIPLES)
    except SyntaxError:
        return None
    typed = {_value(term) for term in {line[:line.find(" ")] for line in typed_lines}}
    return FastReplay(_Graph.of_store(record.run, raw), typed, patients, input_ok, input_findings, reports)
