"""Recommendations for and against one intervention that hold together for a patient (rule 92).

A guideline may recommend an intervention and recommend against it (or against its class) in criteria that
meet: "alendronate for osteoporosis" and "no alendronate at eGFR < 35". Rule 92 warns when both are made for
a patient (``recommended-for-and-against``), when the one for is made while the one against is not decided
yet (``recommended-against-undecided``), when the one against is made while the one for is not decided yet
(``recommended-for-undecided``), and when the one against covers only a part of what the one for names ("a
widget drug" and "no widgetronate": ``recommended-except``), linking the warning to both results. Here the
report's items are marked from those links (``contradicted_by`` on each recommendation, naming the other
statement and its status), so that no rendering shows either as a plain recommendation: text and Markdown
show a pair made together under a heading of its own, each naming the other; a recommendation whose
counterpart is not decided says it is not settled; a recommendation against a part leaves the one for under
"Recommended" with a line naming the part excluded; the report for patients says the clinician must decide.
"""

from __future__ import annotations

FOR_AND_AGAINST = """
SELECT ?patient ?code ?for ?against (GROUP_CONCAT(DISTINCT ?what; separator=", ") AS ?except) WHERE {
  VALUES ?code { "recommended-for-and-against" "recommended-against-undecided" "recommended-for-undecided"
                 "recommended-except" }
  ?w gkg:warningCode ?code ; gkg:forPatient ?patient ; gkg:orderedFor ?fr , ?ar .
  ?fr gkg:instantiates ?for . ?for gkg:direction gkg:For .
  ?ar gkg:instantiates ?against . ?against gkg:direction gkg:Against .
  OPTIONAL { ?against gkg:intervention ?ai . OPTIONAL { ?ai rdfs:label ?ilabel } BIND(COALESCE(STR(?ilabel), STR(?ai)) AS ?what) }
} GROUP BY ?patient ?code ?for ?against"""

BOTH = "recommended against"  # the other statement's status, as ``contradicted_by`` gives it
PENDING = "not decided yet"
EXCEPT = "recommended against in part"  # on the one for: the one against covers a part of it (``except``)
EXCEPT_PENDING = "in part, not decided yet"
FOR_PENDING = "recommended, not decided yet"  # on a made one against: the one for is not decided yet
HEADING = "Recommended and recommended against: the guideline says both (review before acting)"


def mark(recommendations: list[dict], undetermined: list[dict], pairs: list[dict]) -> None:
    """Add ``contradicted_by`` (``[{iri, label, status}]``, and ``except``: what the one against names, when it
    covers a part) to each recommendation a pair of rule 92 names: on the one for, the statement against
    ("recommended against", "not decided yet", or a part of it: "recommended against in part", "in part, not
    decided yet"); on a made one against, the one for ("recommended", or "recommended, not decided yet")."""
    made = {r["iri"]: r for r in recommendations}
    pending = {u["iri"]: u for u in undetermined}
    for pair in sorted(pairs, key=lambda p: (p["for"], p["against"])):
        rec_for, against = made.get(pair["for"]) or pending.get(pair["for"]), made.get(pair["against"]) \
            or pending.get(pair["against"])
        if rec_for is None or against is None:
            continue
        code, label = pair["code"], against.get("label") or against["statement"]
        if code == "recommended-for-undecided":  # the one for is the pending item: marked on the one against
            against.setdefault("contradicted_by", []).append(
                {"iri": rec_for["iri"], "label": rec_for.get("label") or rec_for["statement"], "status": FOR_PENDING})
            continue
        if code == "recommended-except":
            part = against["iri"] in made
            rec_for.setdefault("contradicted_by", []).append(
                {"iri": against["iri"], "label": label, "status": EXCEPT if part else EXCEPT_PENDING,
                 "except": pair.get("except") or label})
            continue
        both = code == "recommended-for-and-against"
        rec_for.setdefault("contradicted_by", []).append(
            {"iri": against["iri"], "label": label, "status": BOTH if both else PENDING})
        if both:
            against.setdefault("contradicted_by", []).append(
                {"iri": rec_for["iri"], "label": rec_for["label"], "status": "recommended"})


def together(rec: dict) -> bool:
    """Whether a recommendation is made together with one in the other direction (both apply)."""
    return any(c["status"] in (BOTH, "recommended") for c in rec.get("contradicted_by", []))


def lines(rec: dict) -> list[str]:
    """The lines under a recommendation that name what contradicts it (text and Markdown)."""
    out = []
    for c in rec.get("contradicted_by", []):
        if c["status"] == BOTH:
            out.append(f"CONTRADICTED: '{c['label']}' recommends against it for this patient too: "
                       "review both before acting (warning recommended-for-and-against)")
        elif c["status"] == "recommended":
            out.append(f"CONTRADICTS: '{c['label']}', which recommends it for this patient")
        elif c["status"] == PENDING:
            out.append(f"NOT SETTLED: '{c['label']}', which recommends against it, is not decided yet for this "
                       "patient (see Cannot decide yet): decide it before acting (warning "
                       "recommended-against-undecided)")
        elif c["status"] == FOR_PENDING:
            out.append(f"NOT SETTLED: '{c['label']}', which recommends it, is not decided yet for this patient "
                       "(see Cannot decide yet): if it applies, the guideline says both (warning "
                       "recommended-for-undecided)")
        elif c["status"] == EXCEPT:
            out.append(f"EXCEPT {c['except']}: '{c['label']}' recommends against it for this patient; the "
                       "recommendation stands for the rest (warning recommended-except)")
        else:
            out.append(f"EXCEPT perhaps {c['except']}: '{c['label']}', which recommends against it, is not decided "
                       "yet for this patient (see Cannot decide yet): do not choose it until it is decided (warning "
                       "recommended-except)")
    return out


def pending_lines(item: dict, recommendations: list[dict]) -> list[str]:
    """Under a recommendation that is not decided yet: the made recommendations it would contradict (or
    restrict, for one against a part)."""
    out = []
    for r in recommendations:
        for c in r.get("contradicted_by", []):
            if c["iri"] != item["iri"]:
                continue
            if c["status"] == PENDING:
                out.append(f"if it applies, it contradicts '{r['label']}', which is made (see Recommended)")
            elif c["status"] == FOR_PENDING:
                out.append(f"if it applies, it contradicts '{r['label']}', which is made (see Recommended against)")
            elif c["status"] == EXCEPT_PENDING:
                out.append(f"if it applies, {c['except']} is excluded from '{r['label']}', which is made "
                           "(see Recommended)")
    return out


def ordered(recommendations: list[dict]) -> list[dict]:
    """The recommendations made together with one in the other direction, each for followed by the ones
    against it (in the report's order)."""
    shown: list[dict] = []
    by_iri = {r["iri"]: r for r in recommendations}
    for rec in recommendations:
        if rec.get("direction") == "against" or not together(rec):
            continue
        for item in [rec] + [by_iri[c["iri"]] for c in rec["contradicted_by"] if c["status"] == BOTH]:
            if item not in shown:
                shown.append(item)
    return shown


def patient_lines(item: dict, key: str) -> list[str]:
    """Under an item of the report for patients (``contradicted``: see :mod:`guidelinekg.report.forpatient`)."""
    if item.get("contradicted") == "both":
        what = "suggests" if key == "recommended_against" else "advises against"
        return [f"The guideline also {what} this for you; your clinician must decide."]
    if item.get("contradicted") == "undecided":
        what = "suggests" if key == "recommended_against" else "advises against"
        return [f"Whether the guideline also {what} this for you is not decided yet; your clinician must decide "
                "before you act on it."]
    if item.get("contradicted") == "in part":
        return ["The guideline advises against part of this for you, or may; your clinician will say which."]
    return []

