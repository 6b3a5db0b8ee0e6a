"""Doubts recorded as data, shown next to the statements of a patient report.

A guideline records how far each statement was checked (``gkg:verificationStatus``, ``gkg:verificationNote``)
and where its source departs from a primary text (``gkg:Discrepancy``). The graph says which doubt concerns
which statement of a report (``queries/reports/report-doubts.rq``: the statement itself, a dosing statement of
its intervention, a pre-test requirement a statement in doubt states) and what each node's status is
(``queries/reports/report-verification.rq``). Both are read once per guideline version, from the
knowledge-only store; this module shapes the rows into the documented JSON (``docs/recommend.schema.json``:
``verification``, ``doubts``, ``dosing``, a checked-against citation's ``status``) and attaches them to a
report's items by IRI. :func:`doubt_text` and :func:`status_text` are the one wording every rendering
shares (text, Markdown, FHIR notes); :func:`dose_status` and :func:`dose_status_text` that of a dose's own
status (a recommendation's ``dose.verification``, :mod:`report.doses`).
"""

from __future__ import annotations

from guidelinekg.content.resources import queries_dir, read_query
from guidelinekg.report.graphread import grouped, local, rows


def query_text(name: str) -> str:
    """The text of the report query ``queries/reports/NAME.rq``."""
    return read_query(queries_dir() / "reports" / f"{name}.rq")


def _named(node: str | None) -> str | None:
    return None if node is None or node.startswith("_:") else node


def _verification(items: list[dict]) -> dict:
    """A node's status: its concept (IRI), notation (``PRIMARY`` ...), English label and note, the smallest
    of each when the content gives several (the shapes allow one)."""
    first = min(items, key=lambda r: (r["status"], r.get("notation", ""), r.get("label", ""), r.get("note", "")))
    return {"iri": first["status"], "status": first.get("notation"), "label": first.get("label"),
            "note": first.get("note")}


def read_doubts(store, citations: dict[str, list[dict]]) -> dict:
    """Every node's verification status, and the doubts about each statement, from a knowledge store;
    ``citations`` (the report's, by node) also gives each checked-against citation the status of the
    statement that was checked (``citations`` of the result: new objects, the input is not changed)."""
    verification = {n: _verification(items) for n, items in grouped(rows(store, query_text("report-verification")),
                                                                    "node").items()}
    doubts: dict[str, list[dict]] = {}
    for statement, items in grouped(rows(store, query_text("report-doubts")), "statement").items():
        found = []
        for (disc, concerns), parts in sorted(_by_pair(items).items()):
            primaries = grouped([p for p in parts if "primary" in p], "primary")
            found.append({
                "iri": _named(disc), "label": _least(parts, "label"), "about": _least(parts, "about"),
                "verification": verification.get(disc), "concerns": _named(concerns),
                "concerns_label": _least(parts, "concernsLabel"), "source_text": _least(parts, "concernsText"),
                "primary": [{"iri": _named(p), "label": _least(ps, "primaryLabel"), "text": _least(ps, "primaryText"),
                             "verification": verification.get(p), "citations": citations.get(p, [])}
                            for p, ps in sorted(primaries.items())]})
        # the doubts about the statement itself first, then those about its dosing or requirements
        doubts[statement] = sorted(found, key=lambda d: (d["concerns"] != statement, d["iri"] or "", d["concerns"] or ""))
    checked = {s: [dict(c, status=(verification.get(s) or {}).get("status")) if c["kind"] == "verified-against" else c
                   for c in items] for s, items in citations.items()}
    return {"verification": verification, "doubts": doubts, "citations": checked}


def _by_pair(items: list[dict]) -> dict[tuple[str, str], list[dict]]:
    out: dict[tuple[str, str], list[dict]] = {}
    for row in items:
        out.setdefault((row["discrepancy"], row["concerns"]), []).append(row)
    return out


def _least(items: list[dict], key: str) -> str | None:
    return min((i[key] for i in items if key in i), default=None)


def of(found: dict, node: str) -> dict:
    """``{"verification", "doubts"}`` of a node: its status as recorded (None: none), the doubts about it."""
    return {"verification": found["verification"].get(node), "doubts": found["doubts"].get(node, [])}


def dosing(administration: dict[str, list[dict]], found: dict) -> dict[str, list[dict]]:
    """The dosing statements of each intervention (``gkg:dosingFor``), each with its administration
    instructions and its verification status: what a report's dose and administration lines rest on."""
    out = {}
    for i, items in administration.items():
        out[i] = [{"iri": _named(d), "label": _least(ds, "dlabel"), "statement": _least(ds, "text"),
                   "administration": sorted({r["adm"] for r in ds if "adm" in r}),
                   "verification": found["verification"].get(d)}
                  for d, ds in sorted(grouped(items, "d").items())]
    return out


def annotate(report: dict, found: dict, dosing_of: dict[str, list[dict]]) -> None:
    """Give each item of one patient's report (objects built for it alone) its verification status and the
    doubts about it: recommendations (with their dosing statements), recommendations set aside (and the
    status of what set them aside), undecided ones, not-indicated statements, special-population statements
    not made, monitoring actions; an order the status of each pre-test requirement and the doubts about them.
    Cautions carry theirs from the guideline parts (shared by every patient, never changed here)."""
    for key in ("recommendations", "not_recommended", "undetermined", "not_indicated", "population_not_met",
                "monitoring"):
        for item in report[key]:
            item.update(of(found, item["iri"]))
    for rec in report["recommendations"]:
        rec["dosing"] = dosing_of.get(rec["intervention"]["iri"], [])
    for item in report["not_recommended"]:
        item["suppressed_by_verification"] = [{"iri": by, "verification": found["verification"].get(by)}
                                              for by in item["suppressed_by"]]
    for order in report["orders"]:
        seen: dict[tuple, dict] = {}
        for req in order["requirements"]:
            req["verification"] = found["verification"].get(req["iri"])
            for d in found["doubts"].get(req["iri"], []):
                seen.setdefault((d["iri"] or "", d["concerns"] or ""), d)
        order["doubts"] = [seen[k] for k in sorted(seen)]


def status_text(verification: dict | None) -> str:
    """A status as a reader reads it: "seen in secondary sources only (SECONDARY)"."""
    if not verification:
        return "verification status not recorded"
    label = verification.get("label") or local(verification["iri"])
    return f"{label} ({verification['status']})" if verification.get("status") else label


def dose_status(dose: dict | None) -> str | None:
    """Beside a dose: its own status's label ("project assumption"); None when the dose records none."""
    v = (dose or {}).get("verification")
    return (v.get("label") or local(v["iri"])) if v else None


def dose_status_text(dose: dict | None) -> str | None:
    """A dose's own status and note on one line, "dose 50 mg: project assumption (ASSUMPTION) — why"; None
    when the dose records none. The note is shown: it says where the amount comes from."""
    v = (dose or {}).get("verification")
    if not v:
        return None
    return (f"dose {dose['value']} {dose['unit']}: {status_text(v)}"
            + (f" — {' '.join(v['note'].split())}" if v.get("note") else ""))


def _work(c: dict) -> str:
    return c["title"].rstrip(".") + (f" ({c['year']})" if c.get("year") else "")


def doubt_text(d: dict) -> str:
    """One doubt on one line: what it is about, what the source says, what each primary text says instead
    (its work and how that was checked), and the discrepancy's name to find it in the rendered guideline."""
    said = [f'the source says "{d["source_text"]}"' if d.get("source_text")
            else f"the source states {d.get('concerns_label') or 'it'}"]
    for p in d["primary"]:
        works = "; ".join(sorted({_work(c) for c in p["citations"] if c.get("title")}))
        who = works or p.get("label") or "a primary text"
        text = f': "{p["text"]}"' if p.get("text") else ""
        checked = (p.get("verification") or {}).get("label")
        said.append(f"{who}{text}" + (f" ({checked})" if checked else ""))
    head = d.get("about") or d.get("label") or "a recorded discrepancy"
    name = f" [{local(d['iri']).rsplit(':', 1)[-1]}]" if d.get("iri") else ""  # its local name
    return f"{head}: {'; '.join(said)}{name}"
