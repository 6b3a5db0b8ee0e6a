"""Where the guidelines evaluated for one patient disagree about what to do for that patient.

Given each guideline's report and its statements about actions (``stances``: objects with ``statement``,
``stance`` "for" / "against" / "not indicated", ``label``, ``grade``, ``citations``, ``same_action(other)`` and
``names_all(other)``, as
:mod:`guidelinekg.checks.conflicts` reads them; plain data here, so this module needs no checker), a
disagreement is an action one guideline recommends for this patient while another:

* ``contradiction``: says it is not indicated for this patient, recommends against it, or sets it aside
  for this patient (a restriction or special population prevails);
* ``except``: says a part of it is not indicated for this patient or recommends against a part (a member of
  the class recommended, a narrower class): the rest stays recommended, as rule 92's ``recommended-except``;
* ``different-threshold``: has a statement for the same action whose criteria are not met for this patient
  (one gives a drug up to a level of 100, the other up to 300: a patient at 150).

A guideline that cannot decide yet (undetermined) does not disagree: it lacks data, and orders it.
"""

from __future__ import annotations

from typing import Any


def _side(report: dict, status: str, statement: str, label: str, grades: Any, citations: list, result: str | None) -> dict:
    g = report["guideline"]
    return {"guideline": g.get("label") or g["version_iri"], "version_iri": g["version_iri"], "statement": statement,
            "label": label, "status": status, "grades": grades, "citations": citations, "result": result}


def _grades(rec: dict) -> list[str]:
    own = [g.get("label") or g["grade"] for g in rec.get("grades") or []]
    return own or [p for p in (rec.get("strength"), rec.get("certainty")) if p]


def patient_disagreements(reports: list[dict], stances: dict[str, list[Any]]) -> list[dict]:
    """The disagreements among ``reports`` (one per guideline version, for one patient); ``stances`` by
    version IRI. Sorted by action, kind and statements."""
    made: dict[str, list[tuple[dict, dict, Any]]] = {}  # version -> (report, recommendation, stance)
    by_statement = {v: {s.statement: s for s in items} for v, items in stances.items()}
    parts = {v: {s.statement: [x for x in items if x.statement == s.statement] for s in items}
             for v, items in stances.items()}  # each statement's stances, one per intervention
    for report in reports:
        version = report["guideline"]["version_iri"]
        for rec in report["recommendations"]:
            stance = by_statement.get(version, {}).get(rec["iri"])
            if stance is not None and rec.get("direction") != "against":
                made.setdefault(version, []).append((report, rec, stance))
    found = []
    for report_a in reports:
        va = report_a["guideline"]["version_iri"]
        for _, rec, sa in made.get(va, []):
            first = _side(report_a, "recommended", rec["iri"], rec["label"], _grades(rec), rec["citations"], rec["result"])
            for report_b in reports:
                vb = report_b["guideline"]["version_iri"]
                if vb == va:
                    continue
                found += _against(report_b, stances.get(vb, []), parts[va][rec["iri"]], first, rec)
    unique = {(d["kind"], d["first"]["statement"], d["second"]["statement"]): d for d in found}
    return sorted(unique.values(), key=lambda d: (d["action"], d["kind"], d["first"]["statement"], d["second"]["statement"]))


def _against(report: dict, stances: list[Any], mine: list[Any], first: dict, rec: dict) -> list[dict]:
    """What another guideline's report says about the action of a recommendation made by the first (``mine``:
    its stances, one per intervention)."""
    related = list(dict.fromkeys(s for s in stances if any(m.same_action(s) for m in mine)))

    def no(s: Any) -> str:  # a statement against all of it, or a part of it only (the rest stands)
        theirs = [x for x in stances if x.statement == s.statement]
        return "contradiction" if all(any(x.names_all(m) for x in theirs) for m in mine) else "except"
    listed = {r["iri"]: r for r in report["recommendations"]}
    if not related or any(s.stance == "for" and s.statement in listed for s in related):
        return []  # it recommends the action too (another of its statements: e.g. adults' not children's)
    action = rec["intervention"]["label"]
    shown = {n["iri"]: n for n in report.get("not_indicated", [])}
    aside = {r["iri"]: r for r in report["not_recommended"]}
    pending = {r["iri"] for r in report["undetermined"]}
    out = []
    for s in related:
        if s.statement in shown:
            n = shown[s.statement]
            second = _side(report, "not indicated", s.statement, n["label"], [], n["citations"], n["result"])
            out.append({"kind": no(s), "action": action, "first": first, "second": second})
        elif s.stance == "against" and s.statement in listed:
            r = listed[s.statement]
            second = _side(report, "recommended against", s.statement, r["label"], _grades(r), r["citations"], r["result"])
            out.append({"kind": no(s), "action": action, "first": first, "second": second})
        elif s.stance == "for" and s.statement in aside:
            r = aside[s.statement]
            second = _side(report, f"not recommended: {r['reason']}", s.statement, s.label, [s.grade] if s.grade else [],
                           [], r["result"])
            out.append({"kind": "contradiction", "action": action, "first": first, "second": second})
        elif s.stance == "for" and s.statement not in listed and s.statement not in pending and report["applicable"]:
            second = _side(report, "criteria not met", s.statement, s.label, [s.grade] if s.grade else [],
                           [{"title": c} for c in s.citations], None)
            out.append({"kind": "different-threshold", "action": action, "first": first, "second": second})
    # the most direct "no" only: a statement that says no (not indicated, against), else a recommendation
    # it set aside, else a no to a part of it, else a threshold not met
    def rank(d: dict) -> int:
        if d["kind"] != "contradiction":
            return 2 if d["kind"] == "except" else 3
        return 1 if d["second"]["status"].startswith("not recommended") else 0

    best = min((rank(d) for d in out), default=0)
    return [d for d in out if rank(d) == best]


def render_disagreements(items: list[dict], *, markdown: bool = False) -> str:
    """The text section for several guidelines' reports of one patient."""
    if not items:
        return ""
    h2, bullet = ("## ", "- ") if markdown else ("", "  - ")
    out = [f"{h2}Guidelines disagree for this patient"]
    for d in items:
        a, b = d["first"], d["second"]

        def said(side: dict) -> str:
            grade = f" ({', '.join(side['grades'])})" if side["grades"] else ""
            return f"{side['guideline']}: {side['label']}, {side['status']}{grade}"

        rest = f" (a part of {d['action']} only: the rest stays recommended)" if d["kind"] == "except" else ""
        out.append(f"{bullet}{d['action']} [{d['kind']}]: {said(a)}; {said(b)}{rest}")
    return "\n".join(out) + "\n"
