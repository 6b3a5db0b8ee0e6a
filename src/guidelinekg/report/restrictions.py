"""Not-indicated statements in a patient's report (``not_indicated``, and those not decided yet).

A ``gkg:NotIndicatedStatement`` that applies to the patient (rule 71) is listed under ``not_indicated`` with
its explanation and what it set aside. One not decided yet (rule 71's undetermined result: its applicability,
or a statement taking precedence over it, is unknown, and it keeps no recommendation undetermined) is an
``undetermined`` item saying why and what it would say ("if it applies: not indicated: X"), its tests
ordered by rule 80, so the report never says "none of its statements applies" while one may.
"""

from __future__ import annotations

from guidelinekg.report.graphread import grouped


def items(rows: list[dict], shared: dict, explainer, suppressed: dict[str, list[str]]) -> tuple[list[dict], list[dict]]:
    """The report items of one patient's restriction results (rows of
    :data:`guidelinekg.report.selections.RESTRICTIONS`, one per undecided criterion), sorted by statement:
    those that apply, and those not decided yet, shaped as the report's ``undetermined`` items.
    ``suppressed``: the recommendations each statement set aside for the patient."""
    applying, undecided = [], []
    for ni, found in sorted(grouped(rows, "ni").items()):
        res, parts = found[0], shared["not_indicated"][ni]
        st = parts[0]
        criterion = None if st["crit"].startswith("_:") else st["crit"]  # a blank node's label changes per parse
        names = sorted({p["ilabel"] for p in parts if "ilabel" in p})
        because = explainer.lines(st["crit"])
        if any("undecided" in r for r in found):
            open_ = sorted({r["open"] for r in found if "open" in r})
            for c in (c for c in open_ if c != st["crit"]):  # a statement that would prevail over it
                because += ["undecided whether a statement that takes precedence over this one applies"]
                because += ["  " + line for line in explainer.lines(c)]
            because.append(f"if it applies: not indicated: {', '.join(names) or st['label']}")
            undecided.append({"iri": ni, "result": res["res"], "label": st["label"], "summary": st["label"],
                              "statement": st["text"], "criterion": criterion, "because": because})
            continue
        applying.append({
            "iri": ni, "result": res["res"], "label": st["label"], "statement": st["text"], "interventions": names,
            "criterion": criterion, "because": because, "suppresses": sorted(suppressed.get(ni, [])),
            "citations": shared["citations"].get(ni, []), "cautions": shared["cautions"].get(ni, []),
        })
    return applying, undecided
