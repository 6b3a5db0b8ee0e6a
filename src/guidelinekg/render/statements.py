"""Markdown for one guideline statement: its source text, citation markers and structured data.

A statement renders as a bold kind-and-label line, its source wording as a quote ending in the source's
reference markers (``[1, 2]``), then one bullet per kind of structured data the graph holds for it:
grading, intervention (dose, schedule, administration), applicability as text, tests and pre-analytic
requirements, monitoring, evidence, population, verification. Bullets appear only for data present,
except verification, which says "not recorded" when the graph has none.
"""

from __future__ import annotations

from guidelinekg.render.text import (
    concept_text,
    criterion_annotations,
    criterion_text,
    format_number,
    measure_text,
    node_list,
    order_criteria,
    percent_level,
    quantity,
    substance_text,
    verification_text,
)
from guidelinekg.render.view import GraphView, Record, value_order


def statement_record(view: GraphView, statement: str) -> Record:
    return view.record("render-statements", "statement", statement)


def kinds_text(view: GraphView, statement: str) -> str:
    """The statement's most specific kinds, e.g. ``Caution / not-indicated statement``."""
    labels = sorted(view.name(kind) for kind in statement_record(view, statement).all("kind")) or [
        "statement"
    ]
    text = " / ".join(labels)
    return text[:1].upper() + text[1:]


def reference_markers(view: GraphView, references: tuple[str, ...]) -> str:
    """Reference markers as the source prints them, in number order: ``[1, 2, 4]``."""
    if not references:
        return ""
    table = view.table("render-references", "reference")
    marks = {table[r].one("number") or view.name(r) if r in table else view.name(r) for r in references}
    return "[" + ", ".join(sorted(marks, key=value_order)) + "]"


def statement_block(view: GraphView, statement: str) -> list[str]:
    """The Markdown lines of one statement (without a trailing blank line)."""
    record = statement_record(view, statement)
    lines = [f"**{kinds_text(view, statement)}: {view.name(statement)}**", ""]
    markers = reference_markers(view, record.all("reference"))
    texts = record.all("sourceText")
    if texts:
        for i, text in enumerate(texts):
            quoted = [f"> {line}".rstrip() for line in text.splitlines() or [""]]
            if i == len(texts) - 1 and markers:
                quoted[-1] += f" {markers}"
            lines.extend(quoted)
    elif markers:
        lines.append(f"> (no source text) {markers}")
    else:
        lines.append("> (no source text)")
    lines.append("")
    lines.extend(_bullets(view, statement, record))
    return lines


def _bullets(view: GraphView, statement: str, record: Record) -> list[str]:
    data = view.record("render-statement-data", "statement", statement)
    out: list[str] = []
    for about in view.order_nodes(record.all("about")):
        out.append(f"- About: *{view.name(about)}*")
    for restated in view.order_nodes(record.all("restates")):
        out.append(f"- Restates: *{view.name(restated)}*")
    out.extend(_grading(view, data))
    for intervention in view.order_nodes(data.all("intervention")):
        out.extend(intervention_lines(view, intervention, "Intervention"))
    for intervention in view.order_nodes(data.all("notIndicated")):
        out.extend(intervention_lines(view, intervention, "Not indicated"))
    for excepted in view.order_nodes(data.all("exceptStatement")):  # rule 05: not restricted by this one
        out.append(f"- Except: *{view.name(excepted)}* (not restricted by this statement)")
    for intervention in view.order_nodes(data.all("dosingFor")):
        out.append(f"- Dosing for: *{view.name(intervention)}*")
    for dose in view.order_nodes(data.all("dose"), lambda d: dose_text(view, d)):
        out.append(f"- Dose: {dose_text(view, dose)}")
        out.extend(rounding_notes(view, dose, "  "))
    if data.all("administration"):
        out.append("- Administration:")
        out.extend(_administrations(view, data.all("administration"), "  "))
    out.extend(_tests(view, data))
    out.extend(_monitoring(view, data))
    out.extend(evidence_lines(view, statement))
    for criterion in order_criteria(view, data.all("applicability")):
        out.append(f"- Applies when: {criterion_text(view, criterion)}")
        out.extend(f"  - {line}" for line in criterion_annotations(view, criterion))
    for population in record.all("population"):
        out.append(f"- Population: {population}")
    for note in record.all("note"):
        out.append(f"- Note: {note}")
    for wording in sorted(record.all("patientText")):  # "en: ...": what a report for patients shows
        tag, _, text = wording.partition(": ")
        out.append(f"- For patients ({tag}): {' '.join(text.split())}")  # one list item, whatever its lines
    for work in view.order_nodes(record.all("citation")):
        out.append(f"- Cites: {view.name(work)}")
    out.append("- " + _verification(view, record))
    return out


def _grading(view: GraphView, data: Record) -> list[str]:
    out: list[str] = []
    if data.one("direction"):
        out.append(f"- Direction: {view.name(data.one('direction'))}")
    strength, certainty = data.one("strength"), data.one("certainty")
    if strength or certainty:
        parts = []
        parts.append(f"{view.name(strength)} recommendation" if strength else "strength not stated")
        parts.append(f"{view.name(certainty)} certainty of evidence" if certainty else "certainty not stated")
        out.append("- GRADE: " + ", ".join(parts))
    for grade in view.order_nodes(data.all("grade")):  # the guideline's own grading system
        out.append(f"- Grade: {view.name(grade)}")
    for text in data.all("gradingNotStated"):
        out.append(f"- GRADE not stated: {text}")
    if data.one("lineOfTherapy"):
        out.append(f"- Line of therapy: {view.name(data.one('lineOfTherapy'))}")
    return out


def intervention_lines(view: GraphView, intervention: str, heading: str) -> list[str]:
    """A bullet for an intervention (substance or class, route, dose, frequency, schedule) and one
    sub-bullet per administration instruction."""
    record = view.record("render-interventions", "intervention", intervention)
    parts = [f"*{view.name(intervention)}*"]
    for substance in view.order_nodes(record.all("substance")):
        parts.append(f"substance {substance_text(view, substance)}")
    for substance_class in view.order_nodes(record.all("substanceClass")):
        parts.append(f"class {view.name(substance_class)}")
    for route in view.order_nodes(record.all("route")):
        parts.append(f"route {concept_text(view, route)}")
    for dose in view.order_nodes(record.all("dose"), lambda d: dose_text(view, d)):
        parts.append(f"dose {dose_text(view, dose)}")
    for basis in record.all("doseBasis"):
        parts.append(f"dose basis {basis}")
    for frequency in record.all("frequency"):
        parts.append(f"frequency {frequency}")
    weeks = record.all("week")
    if weeks:
        parts.append("at weeks " + ", ".join(format_number(w) for w in weeks))
    lines = [f"- {heading}: " + "; ".join(parts)]
    for dose in view.order_nodes(record.all("dose"), lambda d: dose_text(view, d)):
        lines.extend(rounding_notes(view, dose, "  "))
    if record.all("administration"):
        lines.append("  - administration:")
        lines.extend(_administrations(view, record.all("administration"), "    "))
    return lines


def dose_text(view: GraphView, dose: str) -> str:
    """A fixed dose (``500 mg of base``) or a weight-based one
    (``15 mg/kg, at most 1000 mg; per kg of body weight [LOINC 12345-6]``), with the dose's own verification
    status and note when it records one (``50 mg (project assumption (ASSUMPTION): why)``), then the rounding
    of the computed dose the graph states, as the report shows it beside the dose
    (``; rounded to the nearest 2.5 mg (a multiple of 2.5 mg, to the nearest; verified ... (PRIMARY))``); the
    rounding's note is :func:`rounding_notes`."""
    record = view.record("render-doses", "dose", dose)
    if record.one("perKg") is not None:
        unit = record.one("unit") or ""
        text = quantity(record.one("perKg"), unit if unit.endswith("/kg") else f"{unit}/kg")
        if record.one("frequency"):  # per dose or per day: a reviewer must see which (45 mg/kg twice daily)
            text += f" {record.one('frequency')}"
        if record.one("maximumValue") is not None:
            text += f", at most {quantity(record.one('maximumValue'), record.one('maximumUnit'))}"
        weight = record.one("weightMeasure")
        if weight:
            text += f"; per kg of {measure_text(view, weight)}"
    elif record.one("value") is not None:
        text = quantity(record.one("value"), record.one("unit"))
        if record.one("frequency"):
            text += f" {record.one('frequency')}"
    else:
        text = view.name(dose)
    for basis in record.all("doseBasis"):
        text += f" of {basis}"
    status = record.one("verificationStatus")
    if status or record.one("verificationNote"):
        text += f" ({verification_text(view, status, record.one('verificationNote'))})"
    table = view.table("render-dose-rounding", "rounding")
    for rounding in view.order_nodes(view.record("render-dose-rounding", "dose", dose).all("rounding")):
        text += "; " + rounding_text(view, table[rounding], record.one("unit") or "",
                                     view.term(rounding).one("label"))
    return text


def rounding_text(view: GraphView, record: Record, dose_unit: str, label: str | None) -> str:
    """``rounded down to a whole milligram (a multiple of 1 mg, down; project assumption (ASSUMPTION))``:
    the rounding's label, its increment in the computed dose's unit (``mg`` of ``mg/kg``), its direction and its
    verification status (always shown: a rounding no text states is a project assumption)."""
    parts = []
    if record.one("increment") is not None:
        parts.append(f"a multiple of {quantity(record.one('increment'), dose_unit.removesuffix('/kg'))}")
    if record.one("direction"):
        parts.append(view.name(record.one("direction")))
    rule = ", ".join(parts)
    verification = verification_text(view, record.one("verificationStatus"))
    return f"{label or 'rounded'} ({rule + '; ' if rule else ''}{verification})"


def rounding_notes(view: GraphView, dose: str, indent: str) -> list[str]:
    """A sub-bullet per verification note of the dose's rounding (why it is cited, or assumed)."""
    table = view.table("render-dose-rounding", "rounding")
    roundings = view.order_nodes(view.record("render-dose-rounding", "dose", dose).all("rounding"))
    return [f"{indent}- rounding: {note}" for r in roundings for note in table[r].all("verificationNote")]


def administration_lines(view: GraphView, administration: str, indent: str) -> list[str]:
    """An administration instruction as a bullet (its method) with one sub-bullet per stated limit and
    the instruction text."""
    record = view.record("render-administration", "administration", administration)
    method = record.one("method")
    lines = [f"{indent}- {view.name(method) if method else view.name(administration)}"]
    for diluent in record.all("diluent"):
        lines.append(f"{indent}  - diluent: {diluent}")
    for column, label in (
        ("maxVolume", "maximum volume"),
        ("minConcentration", "minimum concentration"),
        ("minDuration", "minimum duration"),
        ("duration", "duration"),
    ):
        if record.one(f"{column}Value") is not None:
            lines.append(
                f"{indent}  - {label}: {quantity(record.one(f'{column}Value'), record.one(f'{column}Unit'))}"
            )
    for text in record.all("instructionText"):
        lines.append(f'{indent}  - instruction: "{text}"')
    return lines


def _administrations(view: GraphView, nodes: tuple[str, ...], indent: str) -> list[str]:
    blocks = [administration_lines(view, node, indent) for node in nodes]
    blocks.sort()  # by content, not by node: blank nodes have no stable id
    return [line for block in blocks for line in block]


def _tests(view: GraphView, data: Record) -> list[str]:
    out: list[str] = []
    measures = data.all("measure")
    if measures:
        out.append(f"- Tests: {node_list(view, measures, lambda m: measure_text(view, m))}")
    requirements = view.order_nodes(data.all("requirement"))
    if requirements:
        out.append("- Pre-analytic requirements:")
        for requirement in requirements:
            out.extend(requirement_lines(view, requirement, measures, "  "))
    return out


def requirement_lines(
    view: GraphView, requirement: str, statement_measures: tuple[str, ...], indent: str
) -> list[str]:
    """A pre-analytic requirement as a bullet (label and kind) with sub-bullets: the measures when they
    differ from the statement's tests, the condition it sets, warning code, instruction, verification."""
    record = view.record("render-requirements", "requirement", requirement)
    kind = record.one("kind")
    head = f"*{view.name(requirement)}*"
    if kind:
        head += f" ({view.name(kind)})"
    parts: list[str] = []
    measures = record.all("measure")
    if measures and set(measures) != set(statement_measures):
        parts.append(f"for: {node_list(view, measures, lambda m: measure_text(view, m))}")
    latest = record.one("latestHour")
    if latest is not None:
        parts.append(f"drawn before {format_number(latest)}:00 local time")
    if record.one("minimumHours") is not None:
        what = view.name(record.one("exposureClass")) if record.one("exposureClass") else "exposure"
        parts.append(f"no {what} for at least {quantity(record.one('minimumHours'), 'h')} before the draw")
    conditions = view.order_nodes(record.all("specimenCondition"))
    if conditions:
        parts.append(f"unreliable from a specimen recorded as: {', '.join(view.name(c) for c in conditions)}")
    for code in record.all("warningCode"):
        parts.append(f"warning: `{code}`")
    for text in record.all("instruction"):
        parts.append(f'instruction: "{text}"')
    parts.append(
        "verification: "
        + verification_text(view, record.one("verificationStatus"), record.one("verificationNote"))
    )
    return [f"{indent}- {head}", *(f"{indent}  - {part}" for part in parts)]


def _monitoring(view: GraphView, data: Record) -> list[str]:
    out: list[str] = []
    monitors = data.all("monitors")
    if monitors:
        out.append(f"- Monitors: {node_list(view, monitors, lambda m: measure_text(view, m))}")
    low, high = data.one("intervalMinValue"), data.one("intervalMaxValue")
    low_unit, high_unit = data.one("intervalMinUnit"), data.one("intervalMaxUnit")
    if low is not None and high is not None:
        kind = "both"
        if low_unit == high_unit and str(low) == str(high):  # "every 2 years", not "every 2-2 years"
            span = quantity(high, high_unit)
        elif low_unit == high_unit:
            span = f"{format_number(low)}–{quantity(high, high_unit)}"
        else:
            span = f"{quantity(low, low_unit)} to {quantity(high, high_unit)}"
    else:
        kind, span = ("min", quantity(low, low_unit)) if low is not None else ("max", quantity(high, high_unit))
    # gkg:checkCount: a number of checks ends the series; a single one falls that long after the start
    count, bounded = data.one("checkCount"), low is not None or high is not None
    once = count is not None and format_number(count) == "1"
    if once:
        offset = {"both": f"{span} after the start", "min": f"at least {span} after the start",
                 "max": f"within {span} of the start"}[kind]
        out.append("- Checks: once" + (f", {offset}" if bounded else ""))
    elif count is not None:
        out.append(f"- Checks: {format_number(count)} times")
    if bounded and not once:
        out.append("- Interval: " + (f"every {span}" if kind == "both" else
                                     f"{'at least' if kind == 'min' else 'at most'} {span} apart"))
    for trigger in data.all("trigger"):
        out.append(f"- Trigger: {trigger}")
    if monitors:  # rule 84: when the action is planned
        basis, follows = data.one("basis"), view.order_nodes(data.all("follows"))
        after = (f"after treatment: for a patient who gets one of these recommendations: "
                 f"{', '.join(view.name(r) for r in follows)}" if follows else
                 "after treatment: for a patient who gets a recommendation of this version for a treatment")
        out.append("- Planned: " + ("on the patient's state alone, whether or not anything is recommended"
                                    if basis and basis.endswith("#OnPatientState") else
                                    after if basis is None or basis.endswith("#AfterTreatment") else view.name(basis)))
    return out


def evidence_lines(view: GraphView, statement: str) -> list[str]:
    """Bullets for a reported result: effect with estimate, CI and p-value, then the study."""
    record = view.record("render-evidence", "statement", statement)
    if not record.values:
        return []
    out: list[str] = []
    measure, estimate = record.one("effectMeasure"), record.one("pointEstimate")
    if measure or estimate is not None:
        unit = record.one("estimateUnit")
        if measure is None:
            effect = "estimate"
        elif view.notation(measure) == unit:  # "proportion 62.5 %", not "proportion (%) 62.5 %"
            effect = view.name(measure)
        else:
            effect = concept_text(view, measure)
        if estimate is not None:
            effect += f" {quantity(estimate, unit)}"
        low, high = record.one("ciLower"), record.one("ciUpper")
        if low is not None and high is not None:
            ci_level = record.one("ciLevel")
            level = percent_level(ci_level) + " " if ci_level else ""
            effect += f", {level}CI {format_number(low)}–{format_number(high)}"
        p_value = record.one("pValue")
        if p_value is not None:
            effect += f", p = {format_number(p_value)}"
        out.append(f"- Effect: {effect}")
    for column, label in (
        ("studyDesign", "Study design"),
        ("studyPopulation", "Study population"),
        ("comparison", "Comparison"),
        ("outcome", "Outcome"),
        ("timepoint", "Timepoint"),
    ):
        for value in record.all(column):
            out.append(f"- {label}: {value}")
    for supported in view.order_nodes(record.all("supports")):
        out.append(f"- Supports: *{view.name(supported)}*")
    return out


def _verification(view: GraphView, record: Record) -> str:
    text = "Verification: " + verification_text(view, record.one("verificationStatus"))
    against = record.all("verifiedAgainst")
    if against:
        text += "; checked against " + node_list(view, against)
    for note in record.all("verificationNote"):
        text += f" — {note}"
    return text
