"""Insufficient-evidence statements in a patient's report (``insufficient_evidence``).

A ``gkg:InsufficientEvidenceStatement`` (a USPSTF "I statement": the evidence is insufficient to assess the
balance of benefits and harms) that applies to the patient (rule 73) is the guideline's answer for that
patient: it makes no recommendation for or against the intervention. It is never a recommendation to act:
no dose, order, request or monitoring comes from it, and every rendering words it with
:func:`no_recommendation`. The key is in a report only when such a statement applies, so the reports of
guidelines without one are unchanged.
"""

from __future__ import annotations

from guidelinekg.report.doubts import of
from guidelinekg.report.graphread import grouped

HEADING = "No recommendation: insufficient evidence"
PATIENT_SECTION = ("no_recommendation", "Neither suggested nor advised against: the evidence is not enough to say")


def items(rows: list[dict], shared: dict, explainer) -> tuple[list[dict], list[dict]]:
    """The report items of one patient's insufficient-evidence results (rows of
    :data:`guidelinekg.report.selections.INSUFFICIENT_EVIDENCE`, one per intervention), sorted by statement:
    those that apply, and those not decided yet (an undecided applicability, or an undecided statement that
    would prevail over it), shaped as the report's ``undetermined`` items, whose renderings say what is missing."""
    decided, undecided = [], []
    for iri, parts in sorted(grouped(rows, "s").items()):
        st = parts[0]
        interventions = {(p["i"], p["ilabel"], p.get("kind", "medication")) for p in parts if "i" in p}
        item = {
            "iri": iri, "result": st["res"], "label": st["label"], "statement": st["text"],
            "summary": st.get("summary", st["label"]),
            "interventions": [{"iri": i, "label": label, "kind": kind} for i, label, kind in sorted(interventions)],
            "criterion": None if st["crit"].startswith("_:") else st["crit"], "because": explainer.lines(st["crit"]),
        }
        if open_ := sorted({p["open"] for p in parts if "open" in p}):
            for c in (c for c in open_ if c != st["crit"]):  # a statement that would prevail over it
                item["because"] += ["undecided whether a statement that takes precedence over this one applies"]
                item["because"] += ["  " + line for line in explainer.lines(c)]
            item["because"].append(f"if it applies: {no_recommendation(item)[len('Insufficient evidence: '):]}")
            undecided.append({k: item[k] for k in ("iri", "result", "label", "summary", "statement", "criterion",
                                                   "because")})
            continue
        decided.append({**item, "certainty": st.get("certainty"), "grades": shared["grades"].get(iri, []),
                        "citations": shared["citations"].get(iri, []), "cautions": shared["cautions"].get(iri, []),
                        **of(shared["doubts"], iri)})
    return decided, undecided


def no_recommendation(item: dict, grading: str | None = None, cited: str = "") -> str:
    """What an insufficient-evidence item says, in every rendering (text, Markdown, FHIR): with its grading
    (:func:`guidelinekg.report.views.grading_text`) and citations when given."""
    names = " or ".join(i["label"] for i in item["interventions"]) or item["label"]
    text = f"Insufficient evidence: the guideline makes no recommendation for or against {names} for this patient"
    return f"{text}: {grading}. {cited}".rstrip() if grading else text
