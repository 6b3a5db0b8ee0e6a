"""The "How results are read" section of a rendered guideline version.

What decides a patient besides the criteria: for each measure the version's criteria and weight-based doses
read (and each measure read as one of them), the unit results are compared in, the plausible range outside
which a result is excluded, how old a result may be to count, and the substance-specific unit factors, each
with its verification status and note. A proofreader sees there that a 90-day limit or a factor of 88.4 is a
project assumption, not the source's (rows: ``queries/reports/render-measures.rq``).
"""

from __future__ import annotations

from guidelinekg.render.text import format_number, measure_text, quantity, verification_text
from guidelinekg.render.view import GraphView, Record


def measures_section(view: GraphView, version: str) -> list[str]:
    """The section's lines, or none when the version reads no measure."""
    records = [r for r in view.table("render-measures", "entry").values() if r.one("version") == version]
    if not records:
        return []
    lines = ["## How results are read", ""]
    for record in sorted(records, key=lambda r: measure_text(view, r.one("measure") or "")):
        lines.append(f"- **{measure_text(view, record.one('measure') or '')}**: " + "; ".join(_facts(view, record)))
    return [*lines, ""]


def _facts(view: GraphView, record: Record) -> list[str]:
    unit = record.one("canonicalUnit")
    facts = []
    read_as = view.order_nodes(record.all("equivalentOf"))
    if read_as:
        facts.append("read as " + " and ".join(measure_text(view, m) for m in read_as))
    facts.append(f"compared in {unit}" if unit else "no canonical unit")
    if record.one("range"):
        low, high = record.one("plausibleMin"), record.one("plausibleMax")
        bounds = " or ".join(filter(None, [f"below {format_number(low)}" if low else "",
                                           f"above {format_number(high)}" if high else ""]))
        facts.append(f"a result {bounds} {unit or ''}".rstrip() + " is excluded as implausible"
                     + _verified(view, record.one("rangeStatus"), record.all("rangeNote")))
    if record.one("ageLimit"):
        days = record.one("maximumAgeDays")
        facts.append(f"a result more than {quantity(days, 'd')} old is not used"
                     + _verified(view, record.one("ageStatus"), record.all("ageNote")))
    for factor in sorted(record.all("factor")):
        source, target, divide_by, addend, status, note = (factor.split("|", 5) + [""] * 6)[:6]
        text = f"{source} ÷ {format_number(divide_by)}" + (f" + {format_number(addend)}" if addend else "")
        facts.append(f"{text} = {target}" + _verified(view, status or None, (note,) if note else ()))
    return facts


def _verified(view: GraphView, status: str | None, notes: tuple[str, ...]) -> str:
    return f" ({verification_text(view, status, ' '.join(notes) or None)})"
