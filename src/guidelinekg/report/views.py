"""Text and Markdown renderings of a patient report (the JSON object built from the result graph)."""

from __future__ import annotations


def _grading(rec: dict) -> str:
    own = rec.get("grades") or []
    if own:  # the guideline's own grades (e.g. "Class IIa, Level B-NR (ACC/AHA)"), then GRADE if also stated
        systems = sorted({g["system"] for g in own})
        text = ", ".join(g["label"] or g["grade"] for g in own) + f" ({'; '.join(systems)})"
        if rec.get("strength") or rec.get("certainty"):
            text += "; GRADE: " + ", ".join(p for p in (rec.get("strength"), rec.get("certainty")) if p)
        return text
    if rec.get("strength") or rec.get("certainty"):
        parts = [f"{rec['strength']} recommendation" if rec.get("strength") else None,
                 f"{rec['certainty']} certainty" if rec.get("certainty") else None]
        return ", ".join(p for p in parts if p)
    return rec.get("grading_note") or "grading not stated"


def _cite(citations: list[dict]) -> str:
    refs = [str(c["reference"]) for c in citations if c["kind"] == "reference"]
    works = [c.get("title", "") for c in citations if c["kind"] == "citation"]
    checked = [c.get("title", "") for c in citations if c["kind"] == "verified-against"]
    text = f"[{', '.join(refs)}]" if refs else ""
    unresolved = [str(c["reference"]) for c in citations if c["kind"] == "reference" and c.get("resolution") == "unresolved"]
    if unresolved:
        text += f" (unresolved in the source: {', '.join(unresolved)})"
    if works:
        text += "; cites: " + "; ".join(sorted(set(works)))
    if checked:
        text += "; checked against: " + "; ".join(sorted(set(checked)))
    return text.strip()


def render(report: dict, *, markdown: bool = False) -> str:
    """A readable account for one patient: what to do, why, how strong and certain, with citations."""
    h1, h2, bullet = ("# ", "## ", "- ") if markdown else ("", "", "  - ")
    g = report["guideline"]
    out = [f"{h1}{g['label']}", f"Patient {report['patient']}, as of {report['as_of']} "
           f"(guideline version {g['version']}, review status: {g['status']})", ""]
    if not report["applicable"]:
        out.append("This guideline does not apply to this patient.")
    # a recommendation against an intervention applies to the patient too, but it is no order to give it:
    # its own heading, and never a dose or administration
    def section(rec: dict) -> str:
        if rec.get("direction") == "against":
            return "Recommended against"
        return "Findings to record" if rec.get("intervention", {}).get("kind") == "diagnosis" else "Recommended"

    for heading in ("Findings to record", "Recommended", "Recommended against"):
        against = heading == "Recommended against"
        made = [r for r in report["recommendations"] if section(r) == heading]
        if not made:
            continue
        out.append(f"{h2}{heading}")
        for rec in made:
            dose = f" — dose {rec['dose']['value']} {rec['dose']['unit']}" if rec.get("dose") and not against else ""
            line = f" ({rec['line']})" if rec.get("line") else ""
            kind = rec.get("intervention", {}).get("kind", "medication")
            line += f" [{kind}]" if kind != "medication" else ""  # a test, referral, diagnosis, advice ...
            out.append(f"{bullet}{rec['label']}{line}{dose}: {_grading(rec)}. {_cite(rec['citations'])}")
            out += [f"    {step}" for step in rec["because"]]
            out += [] if against else [f"    administration: {a}" for a in rec["administration"]]
        out.append("")
    if report["not_recommended"]:
        out.append(f"{h2}Not recommended for this patient")
        out += [f"{bullet}{n['intervention']}: {n['reason']}" for n in report["not_recommended"]]
        out.append("")
    if report["undetermined"]:
        out.append(f"{h2}Cannot decide yet")
        for u in report["undetermined"]:
            out.append(f"{bullet}{u['statement']}")
            out += [f"    {step}" for step in u["because"]]
        out.append("")
    if report["orders"]:
        out.append(f"{h2}Order")
        for o in report["orders"]:
            instr = f" — {' '.join(o['instructions'])}" if o["instructions"] else ""
            out.append(f"{bullet}{o['label']} (LOINC {o['loinc']}){instr}")
        out.append("")
    if report["monitoring"]:
        out.append(f"{h2}Monitoring")
        out += [f"{bullet}{m['action']}" for m in report["monitoring"]]
        out.append("")
    if report["warnings"]:
        out.append(f"{h2}Warnings")
        out += [f"{bullet}[{w['code']}] {w['message']}" for w in report["warnings"]]
        out.append("")
    out.append(f"Provenance: run {report['provenance']['run']}")
    return "\n".join(out) + "\n"
