"""Text for values of a guideline graph: numbers, quantities, codes, measures and criterion trees.

Everything here is driven by the vocabulary (gkg: classes and properties, skos:notation of concepts);
nothing knows a particular guideline.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from guidelinekg.render.view import GKG, GraphView, value_order
from guidelinekg.patients.ucum import unity

_DECIMAL = re.compile(r"^([+-]?)(\d+)(?:\.(\d+))?$")

#: UCUM time units written out, so that "6-12 mo" reads "6–12 months" (singular for exactly 1).
TIME_UNITS: dict[str, str] = {
    "s": "second",
    "min": "minute",
    "h": "hour",
    "d": "day",
    "wk": "week",
    "mo": "month",
    "a": "year",
}

#: Typographic forms of the comparator notations of the vocabulary (gkg:Comparator skos:notation).
COMPARATOR_SYMBOLS: dict[str, str] = {"<=": "≤", ">=": "≥"}

#: Short names of code systems (FHIR system URIs) for "[LOINC 12345-6]"-style code labels.
CODE_SYSTEMS: dict[str, str] = {
    "http://loinc.org": "LOINC",
    "http://snomed.info/sct": "SNOMED CT",
    "http://hl7.org/fhir/sid/icd-10-cm": "ICD-10-CM",
    "http://hl7.org/fhir/sid/icd-10": "ICD-10",
    "http://www.nlm.nih.gov/research/umls/rxnorm": "RxNorm",
    "http://fdasis.nlm.nih.gov": "UNII",
    "http://unitsofmeasure.org": "UCUM",
    "http://www.ama-assn.org/go/cpt": "CPT",
    "http://www.cms.gov/Medicare/Coding/ICD10": "ICD-10-PCS",
}

_COMPOSITES = {GKG + "AllOf": "AND", GKG + "AnyOf": "OR"}


def format_number(lexical: str) -> str:
    """Write a number as its data writes it, without a redundant ``.0``.

    Deterministic and exact (no floating point): trailing zeros of the fraction are dropped, and the
    point with them when nothing is left; every other digit is kept. That is the canonical xsd:decimal
    form, the only one Oxigraph keeps, so every engine renders the same text. Text that is not a plain
    decimal (``1E3``) is returned unchanged.

    >>> [format_number(v) for v in ["75.0", "1.68", "0.093", "-3.0", "91.3125", "12", "+2.50", "1E3"]]
    ['75', '1.68', '0.093', '-3', '91.3125', '12', '2.5', '1E3']
    """
    match = _DECIMAL.match(lexical.strip())
    if not match:
        return lexical
    sign, whole, fraction = match.groups()
    fraction = fraction.rstrip("0") if fraction is not None else None
    if not fraction:
        fraction = None
    whole = whole.lstrip("0") or "0"
    if fraction is None and whole == "0":
        sign = ""
    text = f"{whole}.{fraction}" if fraction is not None else whole
    return f"-{text}" if sign == "-" else text


def quantity(value: str | None, unit: str | None) -> str:
    """A value with its unit: ``quantity("15.0", "min") == "15 minutes"``, ``quantity("20", "%") == "20 %"``.

    >>> quantity("1.0", "h"), quantity("250", "mL"), quantity("3", None)
    ('1 hour', '250 mL', '3')
    """
    if value is None:
        return "?"
    number = format_number(value)
    if unit in TIME_UNITS:
        word = TIME_UNITS[unit]
        return f"{number} {word}" if number == "1" else f"{number} {word}s"
    return f"{number} {unit}" if unit and not unity(unit) else number  # a score in 1: "-2.5", not "-2.5 1"


def percent_level(level: str) -> str:
    """A confidence level as a percentage: ``"0.95" -> "95%"``; levels above 1 are taken as percent.

    >>> percent_level("0.95"), percent_level("90")
    ('95%', '90%')
    """
    try:
        number = Decimal(level)
    except InvalidOperation:
        return level
    if number <= 1:
        number *= 100
    return f"{format_number(format(number, 'f'))}%"


def comparator(view: GraphView, node: str | None) -> str:
    """The symbol of a gkg:Comparator (from its notation), e.g. ``≤``."""
    notation = view.notation(node)
    if notation:
        return COMPARATOR_SYMBOLS.get(notation, notation)
    return view.name(node)


def code_ref(view: GraphView, node: str, _seen: frozenset[str] = frozenset()) -> str | None:
    """The code of a concept as ``[SYSTEM code]``, e.g. ``[LOINC 12345-6]``, or of a value set's members
    as ``[SNOMED CT 73211009; ICD-10-CM E11.9]``; ``None`` when it has none. A code marked gkg:Unverified
    says so (``[CPT 90935, unverified]``): a reviewer must not read it as checked."""
    term = view.term(node)
    seen = _seen | {node}  # a value set among its own members (content that should fail) is named once
    members = [ref[1:-1] for m in view.order_nodes(term.all("member")) if m not in seen
               and (ref := code_ref(view, m, seen))]
    if members:
        return f"[{'; '.join(members)}]"
    code = term.one("notation") or term.one("loincCode")
    if code is None:
        return None
    system = term.one("codeSystem") or ("http://loinc.org" if term.one("loincCode") else "")
    below = " and the codes below it" if term.one("includesDescendants") in ("true", "1") else ""
    unverified = ", unverified" if term.one("unverified") in ("true", "1") else ""  # not to be read as checked
    return f"[{CODE_SYSTEMS.get(system, system or 'code')} {code}{below}{unverified}]"


def code_text(view: GraphView, node: str) -> str:
    """A coded concept as ``label [SYSTEM code]``, e.g. ``heart failure [SNOMED CT 84114007]``."""
    ref = code_ref(view, node)
    if ref is None:
        return view.name(node)
    term = view.term(node)
    label = term.one("label") or term.one("prefLabel")
    return f"{label} {ref}" if label else ref


def measure_text(view: GraphView, node: str) -> str:
    """A measure as ``label [LOINC code]``, e.g. ``body weight [LOINC 12345-6]``."""
    return code_text(view, node)


def substance_text(view: GraphView, node: str) -> str:
    """A substance with its codes, e.g. ``substance name [UNII code]``."""
    refs = [code_ref(view, code) or view.name(code) for code in view.order_nodes(view.term(node).all("code"))]
    return " ".join([view.name(node), *refs])


def criterion_text(view: GraphView, node: str, _path: tuple[str, ...] = ()) -> str:
    """An applicability criterion tree as one line of text.

    Thresholds read ``measure [LOINC code] ≤ 75 ng/mL``, with the values the source also states them in
    (``< 6 mg/dL (also stated as 360 umol/L)``: results in that unit are compared with it); all-of and
    any-of join their members with AND and OR (nested groups in parentheses); a points score reads
    ``<its label> = at least 2 points of: A (1 point) + B (2 points)``; not reads ``NOT ...``; members are in a
    stable order.
    """
    if node in _path:
        return f"(cycle at {view.name(node)})"
    path = (*_path, node)
    record = view.record("render-criteria", "criterion", node)
    kind = record.one("kind")
    members = record.all("member")
    if kind == GKG + "PointsAtLeast":  # rule 55: "at least 2 points: A (2 points) + B (1 point) + ..."
        items = [view.record("render-member-points", "item", i) for i in record.all("memberPoints")]
        points = {item.one("member"): item.one("points") or "1" for item in items}
        parts = [f"{_grouped(view, m, criterion_text(view, m, path))} ({_points(points.get(m, '1'))})"
                 for m in order_criteria(view, members)]
        # named, so a reader checks a score once and then where it is used
        return f"{view.name(node)} = at least {_points(record.one('minimumPoints') or '?')} of: {' + '.join(parts)}"
    if kind in _COMPOSITES or members:
        parts = [_grouped(view, m, criterion_text(view, m, path)) for m in order_criteria(view, members)]
        operator = _COMPOSITES.get(kind or "", "AND")
        if kind == GKG + "SameSampleAllOf" and parts:  # rule 29: results of one sample
            return f"{f' {operator} '.join(parts)}, in one sample"
        return f" {operator} ".join(parts) if parts else view.name(node)
    negated = record.one("negates")
    if negated is not None:
        return f"NOT {_grouped(view, negated, criterion_text(view, negated, path))}"
    if kind == GKG + "Always":
        return "always"
    operator_node, value, measure = record.one("comparator"), record.one("value"), record.one("measure")
    if operator_node and value is not None:
        subject = measure_text(view, measure) if measure else _subject(view, kind)
        if record.one("minimumOccasions") is not None:  # rule 38: the mean of readings over N days
            subject = f"mean {subject} (readings on at least {record.one('minimumOccasions')} days)"
        text = f"{subject} {comparator(view, operator_node)} {quantity(value, record.one('unit'))}"
        stated = [quantity(*pair.split("|", 1)) for pair in record.all("alsoStated")]  # gkg:alsoStatedAs
        if stated:
            text += f" (also stated as {' and '.join(stated)})"
        if record.one("minimumResults") is not None:  # rule 37: the same test on N different days
            text += f" on at least {record.one('minimumResults')} different days"
        if record.one("resultWithin") is not None:  # its own result age limit (a measure's: "How results are read")
            text += f" (a result at most {quantity(record.one('resultWithin'), 'd')} old)"
        return text
    diagnoses = record.all("diagnosis")
    if diagnoses:
        said = "history of" if record.one("includesHistory") in ("true", "1") else "diagnosis of"  # ended ones count
        text = " AND ".join(f"{said} {code_text(view, d)}" for d in view.order_nodes(diagnoses))
        gap, recent = record.one("onsetAtLeastDaysBefore"), record.one("onsetAtMostDaysBefore")  # earlier, recent
        begun = [f"at least {quantity(gap, 'd')}" if gap else "", f"at most {quantity(recent, 'd')}" if recent else ""]
        return f"{text}, begun {' and '.join(b for b in begun if b)} before" if gap or recent else text
    procedures = record.all("procedure")
    if procedures:  # rule 34
        text = " OR ".join(f"procedure {code_text(view, c)}" for c in view.order_nodes(procedures))
        within = record.one("performedWithin")
        return f"{text} performed within the last {quantity(within, 'd')}" if within else f"{text} performed at any time"
    if record.one("exposureClass"):
        text = f"exposure to {view.name(record.one('exposureClass'))}"
        within = record.one("withinDays")
        return f"{text} within the last {quantity(within, 'd')}" if within else text
    if record.one("allergenClass"):  # rule 27
        kind = "allergy (not an intolerance)" if record.one("excludesIntolerance") == "true" else "allergy or intolerance"
        return f"{kind} to {view.name(record.one('allergenClass'))}"
    return view.name(node)


def _points(lexical: str) -> str:
    shown = format_number(lexical)
    return f"{shown} point" if shown == "1" else f"{shown} points"


def order_criteria(view: GraphView, nodes) -> list[str]:
    """Criteria in reading order, independent of their IRIs: always, diagnoses, other comparisons (age),
    thresholds by measure and then value (so a band reads "≥ 75 AND ≤ 100"), exposures, negations,
    groups; ties by their text."""

    def key(node: str) -> tuple:
        record = view.record("render-criteria", "criterion", node)
        kind, measure, value = record.one("kind"), record.one("measure"), record.one("value")
        if kind == GKG + "Always":
            rank = 0
        elif record.all("diagnosis"):
            rank = 1
        elif measure is None and value is not None:
            rank = 2
        elif measure is not None:
            rank = 3
        elif record.one("exposureClass") or record.one("allergenClass"):
            rank = 4
        elif record.one("negates"):
            rank = 5
        else:
            rank = 6
        subject = measure_text(view, measure) if measure else ""
        return (rank, subject, value_order(value or ""), criterion_text(view, node))

    return sorted(nodes, key=key)


def _subject(view: GraphView, kind: str | None) -> str:
    """What a threshold without a measure compares: "age" for gkg:AgeCriterion, else the kind's label."""
    if kind == GKG + "AgeCriterion":
        return "age"
    return view.name(kind) if kind else "value"


def _grouped(view: GraphView, node: str, text: str) -> str:
    record = view.record("render-criteria", "criterion", node)
    composite = record.one("kind") in _COMPOSITES or record.all("member")
    return f"({text})" if composite and len(record.all("member")) > 1 else text


def criterion_annotations(view: GraphView, node: str) -> list[str]:
    """Notes and verification of the nodes of a criterion tree, one line each, in tree order.

    Each reads ``label: status: note`` so that a reader sees where the encoding assumed a value.
    """
    lines: list[str] = []
    seen: set[str] = set()

    def walk(current: str) -> None:
        if current in seen:
            return
        seen.add(current)
        record = view.record("render-criteria", "criterion", current)
        for note in record.all("note"):
            lines.append(f"{view.name(current)}: {note}")
        status = record.one("verificationStatus")
        if status:
            lines.append(
                f"{view.name(current)}: {verification_text(view, status, record.one('verificationNote'))}"
            )
        children = list(record.all("member"))
        negated = record.one("negates")
        if negated:
            children.append(negated)
        for child in order_criteria(view, children):
            walk(child)

    walk(node)
    return lines


def verification_text(view: GraphView, status: str | None, note: str | None = None) -> str:
    """A verification status as ``label (NOTATION)``, followed by the note, e.g.
    ``project assumption (ASSUMPTION): 18 years is the encoding's choice.``"""
    if status is None:
        text = "not recorded"
    else:
        label, notation = view.name(status), view.notation(status)
        text = f"{label} ({notation})" if notation and notation != label else label
    return f"{text}: {note}" if note else text


def concept_text(view: GraphView, node: str | None) -> str:
    """A vocabulary concept as ``label (notation)`` when the notation adds something, e.g.
    ``intravenous (IV)``, ``odds ratio (OR)``."""
    if node is None:
        return "(none)"
    label, notation = view.name(node), view.notation(node)
    return f"{label} ({notation})" if notation and notation.lower() != label.lower() else label


def node_list(view: GraphView, nodes: tuple[str, ...], render=None) -> str:
    """Nodes rendered (by ``render`` or their name) in a stable order, joined with commas."""
    render = render or view.name
    return ", ".join(render(n) for n in view.order_nodes(nodes, render))


__all__ = [
    "CODE_SYSTEMS",
    "COMPARATOR_SYMBOLS",
    "TIME_UNITS",
    "code_ref",
    "code_text",
    "comparator",
    "concept_text",
    "criterion_annotations",
    "criterion_text",
    "format_number",
    "measure_text",
    "node_list",
    "order_criteria",
    "percent_level",
    "quantity",
    "substance_text",
    "verification_text",
]
