"""Markdown for the parts of a rendering that span statements: precedence rules, discrepancies with
primary texts, and references (the source's numbered markers and the cited works).

Each part is scoped to one guideline version through its statements: a precedence rule by its prevailing
statement, a discrepancy by its source statement, markers by the statements that cite them, works by
being reachable from those (resolved or candidate works of markers, works cited or verified against,
works cited by primary text statements, works linked from the version).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable

from guidelinekg.render.text import criterion_text, order_criteria, verification_text
from guidelinekg.render.view import GKG, GraphView, Record, value_order

#: Where a statement sits in the rendering: a sort key and the name of its section.
Placement = Callable[[str], tuple[tuple, str]]


def precedence_section(view: GraphView, statements: Collection[str], place: Placement) -> list[str]:
    """ "X prevails over Y, Z when C: reason" for each precedence rule of the version's statements."""
    table = view.table("render-precedence", "precedence")
    rules = [p for p, r in table.items() if r.one("prevailing") in statements]
    if not rules:
        return []
    rules.sort(key=lambda p: (place(table[p].one("prevailing") or "")[0], p))
    lines = ["## Precedence rules", ""]
    for rule in rules:
        record = table[rule]
        over = ", ".join(f"*{view.name(s)}*" for s in _by_place(record.all("prevailsOver"), place))
        when = " OR ".join(criterion_text(view, c) for c in order_criteria(view, record.all("when")))
        text = f"- *{view.name(record.one('prevailing'))}* prevails over {over or '(nothing)'}"
        text += f" when {when}" if when else ""
        reasons = record.all("reason")
        text += ": " + " ".join(reasons) if reasons else ""
        lines.append(text)
        lines.append(
            "  - Verification: "
            + verification_text(view, record.one("verificationStatus"), record.one("verificationNote"))
        )
    lines.append("")
    return lines


def discrepancy_section(view: GraphView, statements: Collection[str], place: Placement) -> list[str]:
    """One block per discrepancy: what it is about, the source statement, each primary text statement."""
    table = view.table("render-discrepancies", "discrepancy")
    primaries = view.table("render-discrepancies", "primary")
    found = [d for d, r in table.items() if r.one("sourceStatement") in statements]
    if not found:
        return []
    found.sort(key=lambda d: (place(table[d].one("sourceStatement") or "")[0], d))
    lines = ["## Discrepancies with primary texts", ""]
    for discrepancy in found:
        record = table[discrepancy]
        source = record.one("sourceStatement") or ""
        source_record = view.record("render-statements", "statement", source)
        lines.append(f"### {record.one('about') or view.name(discrepancy)}")
        lines.append("")
        lines.append("- Status: " + verification_text(view, record.one("status"), record.one("note")))
        quoted = " ".join(f'"{t}"' for t in source_record.all("sourceText")) or "(no source text)"
        markers = _markers(view, source_record.all("reference"))
        lines.append(f'- Source: *{view.name(source)}* (section "{place(source)[1]}"): {quoted}{markers}')
        for primary in view.order_nodes(record.all("primary")):
            lines.extend(_primary_lines(view, primary, primaries.get(primary, Record())))
        lines.append("")
    return lines


def _primary_lines(view: GraphView, primary: str, record: Record) -> list[str]:
    cited = ", ".join(view.name(w) for w in view.order_nodes(record.all("primaryCitation"))) or "uncited"
    quoted = " ".join(f'"{t}"' for t in record.all("primaryText")) or f"*{view.name(primary)}*"
    status = verification_text(view, record.one("primaryStatus"), record.one("primaryNote"))
    return [f"- Primary text, *{cited}*: {quoted} — {status}"]


def _markers(view: GraphView, references: tuple[str, ...]) -> str:
    table = view.table("render-references", "reference")
    numbers = sorted(
        {table[r].one("number") or view.name(r) for r in references if r in table}, key=value_order
    )
    return f" [{', '.join(numbers)}]" if numbers else ""


def _by_place(nodes: Iterable[str], place: Placement) -> list[str]:
    return sorted(nodes, key=lambda n: (place(n)[0], n))


def cited_references(view: GraphView, statements: Collection[str]) -> list[str]:
    """The source reference markers the statements cite, in number order."""
    table = view.table("render-statements", "statement")
    refs = {r for s in statements for r in table.get(s, Record()).all("reference")}
    numbers = view.table("render-references", "reference")
    return sorted(refs, key=lambda r: (value_order(numbers.get(r, Record()).one("number") or ""), r))


def reachable_works(view: GraphView, version: str, statements: Collection[str]) -> set[str]:
    """The works a version's rendering can mention (see the module docstring)."""
    works: set[str] = set(view.record("render-versions", "version", version).all("work"))
    markers = view.table("render-references", "reference")
    for ref in cited_references(view, statements):
        record = markers.get(ref, Record())
        works.update(record.all("resolvesTo"), record.all("candidate"))
    stated = view.table("render-statements", "statement")
    for statement in statements:
        record = stated.get(statement, Record())
        works.update(record.all("citation"), record.all("verifiedAgainst"))
    for record in view.table("render-discrepancies", "discrepancy").values():
        if record.one("sourceStatement") in statements:
            works.update(record.all("primaryCitation"))
    return works


def references_section(view: GraphView, version: str, statements: Collection[str]) -> list[str]:
    """The source's markers 1..N with resolution, then the listed works, then the works added."""
    lines = ["## References", ""]
    markers = view.table("render-references", "reference")
    refs = cited_references(view, statements)
    if refs:
        lines += ["### Reference markers in the source", ""]
        by_number: dict[str, str] = {}
        for ref in refs:
            number = markers[ref].one("number") if ref in markers else None
            if number:
                by_number.setdefault(number, ref)
        numbers = sorted(by_number, key=value_order)
        if numbers and all(n.isdigit() for n in numbers):
            for n in range(1, int(numbers[-1]) + 1):
                if str(n) not in by_number:
                    lines.append(f"- [{n}] not recorded in the graph")
                else:
                    lines.append(_marker_line(view, str(n), markers[by_number[str(n)]]))
        else:
            lines.extend(_marker_line(view, n, markers[by_number[n]]) for n in numbers)
        for ref in refs:
            if ref not in markers or not markers[ref].one("number"):
                lines.append(_marker_line(view, view.name(ref), markers.get(ref, Record())))
        lines.append("")
    works = view.table("render-works", "work")
    reachable = reachable_works(view, version, statements)
    added = lambda r: r.one("listed") in ("false", "0")  # noqa: E731 - not in the source's list
    groups = (
        ("Works listed in the source", lambda r: r.one("listed") in ("true", "1")),
        ("Works added from verified facts", lambda r: added(r) and _verified(r)),
        ("Works added, not verified", lambda r: added(r) and not _verified(r)),
        ("Other cited works", lambda r: r.one("listed") not in ("true", "1", "false", "0")),
    )
    for title, member in groups:
        chosen = [w for w in reachable if member(works.get(w, Record()))]
        if chosen:
            lines += [f"### {title}", ""]
            for work in sorted(chosen, key=lambda w: _work_order(view, w, works.get(w, Record()))):
                record = works.get(work, Record())
                lines.extend(work_lines(view, work, record, status_always=added(record)))
            lines.append("")
    return lines if len(lines) > 2 else []


#: The verification statuses of a work checked in a text: a work added to the source's list is listed
#: among "verified facts" only with one of these; an unverified one (or a project assumption, a source-only
#: work, one with no status) is listed apart, as not verified.
VERIFIED = (GKG + "VerifiedPrimary", GKG + "VerifiedSecondary")


def _verified(record: Record) -> bool:
    statuses = record.all("verificationStatus")
    return bool(statuses) and all(status in VERIFIED for status in statuses)


def _marker_line(view: GraphView, number: str, record: Record) -> str:
    status = view.name(record.one("status")) if record.one("status") else "resolution not recorded"
    text = f"- [{number}] {status}"
    resolved = record.all("resolvesTo")
    if resolved:
        text += ": " + "; ".join(view.name(w) for w in view.order_nodes(resolved))
    candidates = record.all("candidate")
    if candidates:
        text += "; candidates: " + "; ".join(view.name(w) for w in view.order_nodes(candidates))
    for note in record.all("note"):
        text += f" — {note}"
    return text


def _work_order(view: GraphView, work: str, record: Record) -> tuple:
    order = record.one("order")
    return (
        order is None,
        value_order(order or ""),
        value_order(record.one("year") or ""),
        view.name(work),
        work,
    )


def work_lines(view: GraphView, work: str, record: Record, *, status_always: bool = False) -> list[str]:
    """A cited work: bold short name, then title, authors, venue and year, type, identifiers, verification
    (``not recorded`` when none is and ``status_always``: a work added to the source's list)."""
    lines = [f"- **{view.name(work)}**"]
    for title in record.all("title"):
        lines.append(f"  - Title: {title}")
    for authors in record.all("authors"):
        lines.append(f"  - Authors: {authors}")
    venue = ", ".join([*record.all("venue"), *record.all("year")])
    if venue:
        lines.append(f"  - Published: {venue}")
    kind = [*record.all("workType"), *(view.name(k) for k in record.all("sourceKind"))]
    if kind:
        lines.append(f"  - Type: {'; '.join(kind)}")
    ids = [*(f"DOI {d}" for d in record.all("doi")), *(f"PMID {p}" for p in record.all("pmid"))]
    if ids:
        lines.append(f"  - Identifiers: {'; '.join(ids)}")
    if record.one("verificationStatus") or record.one("verificationNote") or status_always:
        lines.append(
            "  - Verification: "
            + verification_text(view, record.one("verificationStatus"), record.one("verificationNote"))
        )
    return lines
