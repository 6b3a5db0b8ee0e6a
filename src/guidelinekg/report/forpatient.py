"""The report for patients: the clinician report's decisions in the guideline's wording for patients.

Nothing is decided here. The items are the clinician report's (:mod:`guidelinekg.report.patient`), in the
same order; each is worded with the ``gkg:patientText`` of its node in the language asked for (see
:func:`choose`). An item the guideline has no wording for in that language keeps its clinician wording and
says so (``"wording": "clinician"``), and the view lists it under ``missing_wording``: a report for patients
never leaves an item out, and never passes clinician wording off as plain language.

The view is added to the report as ``patient_view`` (``docs/recommend.schema.json``);
:func:`guidelinekg.report.views.render_patient` renders it as text or Markdown.
"""

from __future__ import annotations

from guidelinekg.report.explain import Explainer
from guidelinekg.report.graphread import json_number, rows
from guidelinekg.report.selections import PATIENT_TEXTS, PATIENT_WORDING_NOTES


def read_wording(store) -> dict[str, dict[str, dict[str, str]]]:
    """Every wording for patients in a knowledge store: {"texts"|"notes": {subject: {lang: text}}}."""
    out: dict[str, dict[str, dict[str, str]]] = {"texts": {}, "notes": {}}
    for key, query in (("texts", PATIENT_TEXTS), ("notes", PATIENT_WORDING_NOTES)):
        for row in rows(store, query):
            out[key].setdefault(row["s"], {})[row["lang"]] = row["text"]
    return out


def choose(texts: dict[str, str] | None, lang: str) -> str | None:
    """The text in language ``lang``: the exact tag, then the tag with its last subtags dropped (RFC 4647
    lookup: ``de-CH`` takes ``de``), then the first (sorted) other tag of the same language (``en`` or
    ``en-US`` takes ``en-GB`` when it is the only English one): a reader of the language understands it."""
    if not texts:
        return None
    parts = lang.lower().split("-")
    for n in range(len(parts), 0, -1):
        if (tag := "-".join(parts[:n])) in texts:
            return texts[tag]
    same = sorted(t for t in texts if t.split("-")[0] == parts[0])
    return texts[same[0]] if same else None


class Wording:
    """Picks the patient wording of each node, and records which items had none in the language."""

    def __init__(self, wording: dict, lang: str):
        self.texts, self.lang = wording["texts"], lang
        self.missing: list[str] = []

    def text(self, iri: str | None) -> str | None:
        return choose(self.texts.get(iri or ""), self.lang)

    def item(self, iri: str, clinician: str) -> dict:
        """``{"iri", "text", "wording"}``: the patient text, or the clinician text marked as such. A blank
        node (its label differs from one parse to the next) is named by its clinician text instead."""
        text = self.text(iri)
        stable = None if iri.startswith("_:") else iri
        if text is None and (stable or clinician) not in self.missing:
            self.missing.append(stable or clinician)
        return {"iri": stable, "text": text if text is not None else clinician,
                "wording": "patient" if text is not None else "clinician"}

    def name(self, iri: str | None, fallback: str) -> str:
        """A name (a test, a grade): its wording for patients, else the clinician name (not counted)."""
        return self.text(iri) or fallback


def _fact(f: dict) -> dict:
    # named as the clinician report names it: a measure's wording for patients explains the test (the
    # "Tests you need" item), too long to name a value
    return {"measure": f["measure"], "name": f["label"],
            "value": json_number(f["value"]), "comparator": f["comparator"], "unit": f["unit"], "date": f["date"],
            "preliminary": f["status"] == "preliminary", "note": f["note"]}  # its record: in the clinician report


def _grade(rec: dict, words: Wording) -> str:
    """The statement's grading in the guideline's wording for patients where it gives one."""
    own = rec.get("grades") or []
    if own:
        return "; ".join(words.name(g.get("iri"), g["label"] or g["grade"]) for g in own)
    parts = []
    for axis, term in (("strength", "recommendation"), ("certainty", "certainty of the evidence")):
        if rec.get(axis):
            parts.append(words.name(GRADE_TERMS.get(rec[axis]), f"{rec[axis]} {term}"))
    return ", ".join(parts) or "grading not stated in the source"


GKG = "https://w3id.org/guidelinekg/ontology#"
GRADE_TERMS = {"strong": GKG + "Strong", "conditional": GKG + "Conditional", "high": GKG + "HighCertainty",
               "moderate": GKG + "ModerateCertainty", "low": GKG + "LowCertainty", "very low": GKG + "VeryLowCertainty"}


def _contradicted(rec: dict) -> dict:
    """``contradicted``, only for a recommendation one in the other direction contradicts (rule 92):
    "both" when both apply to the patient, "undecided" when the other is not decided yet, "in part" when one
    against (made or not decided yet) covers a part of what it recommends."""
    statuses = {c["status"] for c in rec.get("contradicted_by", [])}
    if statuses & {"recommended", "recommended against"}:
        return {"contradicted": "both"}
    if statuses & {"not decided yet", "recommended, not decided yet"}:
        return {"contradicted": "undecided"}
    return {"contradicted": "in part"} if statuses else {}


def _applicability(report: dict, truth: str | None) -> str:
    """Whether the guideline applies: a record marked deceased, unclear (its condition unknown) or not."""
    if any(w["code"] == "patient-deceased" for w in report["warnings"]):
        return "deceased"
    return {"true": "applies", "unknown": "unclear"}.get(truth or "", "does-not-apply")


def patient_view(report: dict, explainer: Explainer, wording: dict, lang: str, *, criteria: dict[str, str],
                 applicability: str | None) -> dict:
    """The ``patient_view`` of a report: its items worded for patients in ``lang``. ``criteria`` maps each
    statement to its applicability criterion node; ``applicability`` is the guideline's truth for the patient."""
    words = Wording(wording, lang)
    version = report["guideline"]["version_iri"]

    def why(item: dict) -> dict:
        criterion = criteria[item["iri"]]
        return {"criterion": words.item(criterion, explainer.criteria.describe(criterion)),
                "facts": [_fact(f) for f in explainer.facts(criterion)]}

    def cautions(item: dict) -> list[dict]:
        return [words.item(c["iri"], c["text"]) for c in item.get("cautions", [])]

    def check(item: dict, own_only: bool = False) -> dict:
        """What the clinician should check with the patient: each point recorded as doubtful (a discrepancy
        about the statement, its dosing or its cautions), in the discrepancy's wording for patients, else
        unnamed (``text`` null: the renderer says the sources differ, never the clinician's internals); and
        whether the statement itself is recorded as unverified. Never statuses or sources. Keys only when
        there is something to check."""
        doubts = [d for d in item.get("doubts", []) if not own_only or d["concerns"] == item.get("iri")]
        doubts += [d for c in item.get("cautions", []) for d in c.get("doubts", [])]
        points: list[dict] = []
        for d in doubts:
            point = {"iri": d["iri"], "text": words.text(d["iri"])}
            if point not in points:
                points.append(point)
        unconfirmed = (item.get("verification") or {}).get("status") == "UNVERIFIED"
        return {**({"check": points} if points else {}), **({"unconfirmed": True} if unconfirmed else {})}

    sections: dict[str, list[dict]] = {}
    for rec in report["recommendations"]:
        kind = rec["intervention"]["kind"]
        key = ("recommended_against" if rec.get("direction") == "against"
               else "findings" if kind == "diagnosis" else "recommended")
        against = key == "recommended_against"
        dose_note = None  # a weight-based dose not computed: why, as the clinician report says it
        if not against and not rec.get("dose"):
            dose_note = next((line[6:] for line in rec["because"] if line.startswith("dose: ")), None)
        sections.setdefault(key, []).append({
            **words.item(rec["iri"], rec["summary"]), "grading": _grade(rec, words),
            "dose": None if against or not rec.get("dose") else rec["dose"], "dose_note": dose_note,
            "frequency": None if against else rec.get("frequency"), "why": why(rec), "cautions": cautions(rec),
            **check(rec, own_only=against), **_contradicted(rec)})
    for ni in report["not_indicated"]:
        sections.setdefault("not_indicated", []).append(
            {**words.item(ni["iri"], ni["statement"]), "why": why(ni), "cautions": cautions(ni), **check(ni)})
    for n in report["population_not_met"]:  # the patient is in the population; its own conditions fail
        sections.setdefault("population_not_met", []).append({**words.item(n["iri"], n["label"]), "why": why(n)})
    for n in report.get("insufficient_evidence", []):  # no recommendation for or against (rule 73)
        sections.setdefault("no_recommendation", []).append({**words.item(n["iri"], n["statement"]), "grading": _grade(n, words),
                                                             "why": why(n), "cautions": cautions(n), **check(n)})
    # each recommendation set aside, as the clinician report lists them (two of one intervention are two)
    set_aside = sorted({n["iri"] for n in report["not_recommended"]})
    for u in report["undetermined"]:
        needs = [o["label"] for o in report["orders"] if u["iri"] in o["needed_for"]]  # explained under tests
        sections.setdefault("undetermined", []).append({
            **words.item(u["iri"], u["statement"]), "needs": needs,
            # what is missing or unclear: each undecided fact of the explanation (its own criterion's, and
            # those of a statement that would prevail over it), as the clinician report words it
            "unclear": list(dict.fromkeys(line.strip() for line in u["because"] if ": unknown (" in line)),
            **check(u, own_only=True)})
    for o in report["orders"]:
        instructions = []  # one per requirement (an instruction stated in several languages is one)
        for r in o["requirements"]:
            if r["iri"] not in [i["iri"] for i in instructions]:
                instructions.append(words.item(r["iri"], r["instruction"]))
        sections.setdefault("tests", []).append({**words.item(o["measure"], o["label"]), "instructions": instructions,
                                                 **check(o)})
    for m in report["monitoring"]:
        sections.setdefault("follow_up", []).append({**words.item(m["iri"], m["action"]), "interval": m["interval"],
                                                     "count": m.get("count"), "when": m.get("trigger"), **check(m)})
    notes = wording["notes"].get(version)  # who wrote the wording: in the language, else in any (never lost)
    title = words.item(version, report["guideline"]["label"])
    return {
        "language": lang,
        "title": title,
        "wording_note": choose(notes, lang) or choose(notes, "en") or (notes[min(notes)] if notes else None),
        "applicable": report["applicable"],
        "applicability": _applicability(report, applicability),
        "sections": sections,
        # the recommendations a statement set aside (a more specific one prevails, or one says it is not
        # indicated): counted for the patient, who reads the prevailing statement; listed for clinicians
        "set_aside": len(set_aside),
        "care_team_notes": len(report["warnings"]),
        "missing_wording": sorted(words.missing),
    }
