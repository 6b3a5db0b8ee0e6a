"""Text and Markdown renderings of a patient report (the JSON object built from the result graph)."""

from __future__ import annotations

import re

from guidelinekg.report import contradictions
from guidelinekg.report.doubts import dose_status, dose_status_text, doubt_text, status_text
from guidelinekg.report.explain import unread_note
from guidelinekg.report.fhirrequests import interval_text, loinc_text
from guidelinekg.report.graphread import local, unit_text
from guidelinekg.report.insufficient import HEADING as NO_RECOMMENDATION, PATIENT_SECTION, no_recommendation


def grading_text(rec: dict) -> str:
    """How strongly a recommendation is made and how certain its evidence is: the guideline's own grades
    (with their system), then GRADE's if also stated; shared by every rendering (text, FHIR, cards)."""
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
    return "grading not stated in the source"  # why (gkg:gradingNotStated) is for authors: in the JSON


def work_url(citation: dict) -> str | None:
    """The link of a cited work: its DOI, else its PubMed record."""
    if citation.get("doi"):
        return "https://doi.org/" + citation["doi"]
    if citation.get("pmid"):
        return "https://pubmed.ncbi.nlm.nih.gov/" + citation["pmid"] + "/"
    return None


def _work(c: dict) -> str:
    """A cited work as a reader finds it: its title, year and identifiers (DOI, PMID)."""
    ids = "; ".join(f"{k.upper()} {c[k]}" for k in ("doi", "pmid") if c.get(k))
    extra = ", ".join(p for p in (c.get("year"), ids) if p)
    return f"{c.get('title', '')} ({extra})" if extra else c.get("title", "")


def _cite(citations: list[dict], verification: dict | None = None) -> str:
    refs = [str(c["reference"]) for c in citations if c["kind"] == "reference"]
    works = [_work(c) for c in citations if c["kind"] == "citation"]
    works += [_work(c) for c in citations if c["kind"] == "reference" and c.get("title")]  # resolved references
    checked = [_work(c) for c in citations if c["kind"] == "verified-against"]
    text = f"[{', '.join(refs)}]" if refs else ""
    unresolved = [str(c["reference"]) for c in citations if c["kind"] == "reference" and c.get("resolution") == "unresolved"]
    if unresolved:
        text += f" (unresolved in the source: {', '.join(unresolved)})"
    if works:
        text += "; cites: " + "; ".join(sorted(set(works)))
    if checked:  # how far it was checked: the statement's own status, never more than recorded
        text += "; checked against: " + "; ".join(sorted(set(checked))) + f" — {status_text(verification)}"
    return text.strip().removeprefix("; ")


def _checks(item: dict, *, own_only: bool = False, dosing: bool = False) -> list[str]:
    """The lines under a statement that say how far it was checked and what is in doubt: its status (when
    no checked-against citation already says it), its cautions' and dosing statements' statuses, and each
    doubt (``own_only``: the doubts about the statement itself, for a statement not made)."""
    lines = []
    if item.get("verification") and not any(c["kind"] == "verified-against" for c in item.get("citations", [])):
        lines.append(f"verification: {status_text(item['verification'])}")
    if dosing:
        lines += [f'dosing "{d["label"] or d["statement"]}": {status_text(d["verification"])}' for d in item.get("dosing", [])]
        lines += [t for t in (dose_status_text(item.get("dose")),) if t]  # the dose's own status and note
    doubts = [d for d in item.get("doubts", []) if not own_only or d["concerns"] == item["iri"]]
    for c in item.get("cautions", []):
        doubts += c.get("doubts", [])
    shown: list[str] = []
    for text in (doubt_text(d) for d in doubts):
        if text not in shown:
            shown.append(text)
    return lines + [f"doubt: {t}" for t in shown]


def _monitoring(m: dict) -> str:
    """A monitoring item as a reader tells it from another quoting the same sentence: its label, its
    interval and when, then the source's wording."""
    when = "; ".join(p for p in (interval_text(m.get("interval"), m.get("count")),
                                 m.get("trigger") and f"when: {m['trigger']}") if p)
    label = m.get("label") or m["action"]
    head = label + (f" ({when})" if when else "")
    return head if label == m["action"] else f"{head}: {m['action']}"


def _set_aside(items: list[dict]) -> str:
    """The statements set aside for one reason, each by its label (its local name too when two share one),
    never their intervention alone: two recommendations of one intervention are two statements."""
    names = [n.get("label") or n["intervention"] for n in items]
    return "; ".join(f"{name} [{local(n['iri'])}]" if names.count(name) > 1 else name for name, n in zip(names, items))


def _stated(rec: dict, against: bool) -> list[str]:
    """A medicine recommended with no dose in structured form (a ceiling is no dose to give): the statement's own
    wording, quoted with its citations, so what the source says about the dose is read where the dose would be."""
    statement = rec.get("statement")  # none without source text, or in a report of an older version
    if against or not statement or rec.get("dose") or rec.get("intervention", {}).get("kind", "medication") != "medication":
        return []
    cites = _cite([c for c in rec.get("citations", []) if c["kind"] != "verified-against"])
    return [f'the guideline: "{statement}"' + (f" ({cites})" if cites else "")]


def _caution(c: dict) -> str:
    return f"caution: {c['text']}" + (f" — {status_text(c['verification'])}" if c.get("verification") else "")


_LONG_REASON = re.compile(r": unknown \((?P<why>.{60,})\)$")  # why a criterion is unknown


def _steps(lines: list[str], markdown: bool, seen: set[str] | None = None) -> list[str]:
    """Lines under an item: indented text, or in Markdown a nested list (CommonMark folds indented lines
    into the item's paragraph), each level of the explanation tree one level deeper. A long reason already
    given in this report (``seen``: an unusable result explains every criterion that reads it) is said once,
    then "as above"."""
    out = []
    for line in lines:
        if seen is not None and (m := _LONG_REASON.search(line)):
            if m["why"] in seen:
                line = line[:m.start("why") - 1] + "(as above)"
            seen.add(m["why"])
        if markdown:
            depth = (len(line) - len(line.lstrip(" "))) // 2
            out.append("  " * (depth + 1) + "- " + line.strip())
        else:
            out.append(f"    {line}")
    return out


# Control characters (a line break in a result's status, an ESC sequence in a unit) and, in Markdown, the
# start of an HTML tag: values from patient data never become lines, headings, markup or terminal commands.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_TAG = re.compile(r"<(?=[A-Za-z/!?])")


def _safe(value, markdown: bool):
    """The report with every string made safe to print (see above)."""
    if isinstance(value, str):
        value = _CONTROL.sub(" ", value)
        return _TAG.sub("&lt;", value) if markdown else value
    if isinstance(value, dict):
        return {k: _safe(v, markdown) for k, v in value.items()}
    if isinstance(value, list):
        return [_safe(v, markdown) for v in value]
    return value


DECEASED = ("The patient's record is marked deceased on or before the as-of date: no guideline is applied "
            "(see the patient-deceased warning).")
NONE_APPLIES = "The guideline applies, but none of its statements applies to this patient's data"


def render(report: dict, *, markdown: bool = False) -> str:
    """A readable account for one patient: what to do, why, how strong and certain, with citations."""
    report = _safe(report, markdown)
    h1, h2, bullet = ("# ", "## ", "- ") if markdown else ("", "", "  - ")
    seen: set[str] = set()  # long reasons already given
    g = report["guideline"]
    out = [f"{h1}{g['label']}", f"Patient {report['patient']}, as of {report['as_of']} "
           f"(guideline version {g['version']}, review status: {g['status']})", ""]
    if any(w["code"] == "patient-deceased" for w in report["warnings"]):  # not evaluated (rule 15)
        out.append(DECEASED)
    elif not report["applicable"] and report.get("applicability") == "unknown":
        because = report.get("applicability_because", [])
        out.append("Whether this guideline applies to this patient is not known yet: see the warnings"
                   + (" and its criteria:" if because else "."))
        out += _steps(because, markdown, seen)
    elif not report["applicable"]:
        because = report.get("applicability_because", [])
        out.append("This guideline does not apply to this patient" + (": its criteria:" if because else "."))
        out += _steps(because, markdown, seen)
    elif report.get("no_statement_applies"):
        out += [NONE_APPLIES + unread_note(report["warnings"]) + ".", ""]
    # a recommendation against an intervention applies to the patient too, but it is no order to give it:
    # its own heading, and never a dose or administration
    # (one for and one against the same intervention made together: a heading of their own, each naming the
    # other, never a plain recommendation; rule 92)
    def section(rec: dict) -> str:
        if contradictions.together(rec):
            return contradictions.HEADING
        if rec.get("direction") == "against":
            return "Recommended against"
        return "Findings to record" if rec.get("intervention", {}).get("kind") == "diagnosis" else "Recommended"

    for heading in (contradictions.HEADING, "Findings to record", "Recommended", "Recommended against"):
        made = [r for r in report["recommendations"] if section(r) == heading]
        if not made:
            continue
        out.append(f"{h2}{heading}")
        for rec in contradictions.ordered(made) if heading == contradictions.HEADING else made:
            against = rec.get("direction") == "against"
            given = [f"dose {rec['dose']['value']} {rec['dose']['unit']}"
                     + (f" {rec['dose']['basis']}" if rec["dose"].get("basis") else "")] if rec.get("dose") else []
            if given and (status := dose_status(rec["dose"])):  # the dose's own status, beside it
                given[0] += f" ({status})"
            given += [rec[k] for k in ("route", "frequency") if rec.get(k)]  # the route's label, the frequency
            dose = f" — {', '.join(given)}" if given and not against else ""
            line = f" ({rec['line']})" if rec.get("line") else ""
            kind = rec.get("intervention", {}).get("kind", "medication")
            line += f" [{kind}]" if kind != "medication" else ""  # a test, referral, diagnosis, advice ...
            out.append(f"{bullet}{rec['label']}{line}{dose}: {grading_text(rec)}. "
                       f"{_cite(rec['citations'], rec.get('verification'))}")
            out += _steps(contradictions.lines(rec) + _stated(rec, against) + rec["because"], markdown, seen)
            out += [] if against else _steps([f"administration: {a}" for a in rec["administration"]], markdown)
            out += _steps([_caution(c) for c in rec.get("cautions", [])], markdown)
            out += _steps(_checks(rec, dosing=not against), markdown)
        out.append("")
    if report.get("insufficient_evidence"):  # the guideline's answer, no recommendation to act (rule 73)
        out.append(f"{h2}{NO_RECOMMENDATION}")
        for n in report["insufficient_evidence"]:
            out.append(bullet + no_recommendation(n, grading_text(n), _cite(n["citations"], n.get("verification"))))
            out += _steps([f"the guideline: {n['statement']}", *n["because"], *map(_caution, n["cautions"]), *_checks(n)], markdown, seen)
        out.append("")
    if report.get("not_indicated"):  # advice in itself, whether or not it set a recommendation aside
        out.append(f"{h2}Not indicated for this patient")
        for n in report["not_indicated"]:
            out.append(f"{bullet}{n['statement']} {_cite(n['citations'], n.get('verification'))}".rstrip())
            out += _steps(n["because"], markdown, seen)
            out += _steps([_caution(c) for c in n.get("cautions", [])], markdown)
            out += _steps(_checks(n), markdown)
        out.append("")
    if report.get("population_not_met"):
        out.append(f"{h2}Not made for this patient's population")
        for n in report["population_not_met"]:
            out.append(f"{bullet}{n['label']} (for {n['population']}): not made, its criteria are not met")
            out += _steps(n["because"], markdown, seen)
            out += _steps(_checks(n, own_only=True), markdown)
        out.append("")
    if report["not_recommended"]:
        out.append(f"{h2}Not recommended for this patient")
        by_reason: dict[str, list[dict]] = {}  # one line per reason, not the reason once per intervention
        for n in report["not_recommended"]:
            by_reason.setdefault(n["reason"], []).append(n)
        for reason, items in by_reason.items():
            out.append(f"{bullet}{_set_aside(items)}: {reason}")
            statuses = sorted({status_text(s["verification"]) for n in items
                               for s in n.get("suppressed_by_verification", []) if s["verification"]})
            lines = [f"what sets them aside: {'; '.join(statuses)}"] if statuses else []
            for n in items:  # the doubts about the statements set aside (their doses are not given)
                lines += [x for x in _checks({**n, "verification": None}, own_only=True) if x not in lines]
            out += _steps(lines, markdown)
        out.append("")
    if report["undetermined"]:
        out.append(f"{h2}Cannot decide yet")
        for u in report["undetermined"]:
            label = u.get("label")  # first, as a made recommendation's: statements with like wording differ
            out.append(f"{bullet}{label}: {u['statement']}" if label and label != u["statement"]
                       else f"{bullet}{u['statement']}")
            out += _steps(u["because"] + contradictions.pending_lines(u, report["recommendations"]), markdown, seen)
            out += _steps(_checks(u, own_only=True), markdown)  # its dosing's doubts: once it is made
        out.append("")
    if report["orders"]:
        out.append(f"{h2}Order")
        for o in report["orders"]:
            instr = f" — {' '.join(o['instructions'])}" if o["instructions"] else ""
            out.append(f"{bullet}{o['label']} ({loinc_text(o)}){instr}")  # an unverified code said so
            lines = [f'"{r["instruction"]}": {status_text(r["verification"])}'
                     for r in o["requirements"] if r.get("verification")]
            out += _steps(lines + _checks({"iri": None, "doubts": o.get("doubts", [])}), markdown)
        out.append("")
    if report["monitoring"]:
        out.append(f"{h2}Monitoring")
        for m in report["monitoring"]:
            out.append(f"{bullet}{_monitoring(m)}")
            out += _steps(m.get("because", []) + _checks(m), markdown)
        out.append("")
    if report["warnings"]:
        out += [f"{h2}Warnings", *(f"{bullet}[{w['code']}] {w['message']}" for w in report["warnings"]), ""]
    out.append(f"Provenance: run {report['provenance']['run']}")
    return "\n".join(out) + "\n"


PATIENT_SECTIONS = (  # patient_view section key, heading
    ("recommended", "What the guideline suggests for you"),
    ("findings", "To record in your health record"),
    ("recommended_against", "What the guideline advises against"), PATIENT_SECTION,  # no recommendation either way
    ("not_indicated", "Not needed for you now"),
    ("population_not_met", "Not suggested for you"),
    ("undetermined", "Not decided yet: more information is needed"),
    ("tests", "Tests you need"),
    ("follow_up", "Follow-up"),
)
APPLICABILITY = {
    "does-not-apply": "This guideline does not apply to you.",
    "unclear": "Whether this guideline applies to you is not clear yet: your care team needs more information.",
    "deceased": "Your record is marked as deceased, so no suggestions are made. If this is wrong, tell your care team.",
}
CLINICIAN_MARK = " [clinician wording]"


def _plain(text: str, markdown: bool) -> str:
    """Text on one line (a line break would end the list item or start a heading); in Markdown, HTML and
    a leading Markdown marker are escaped, so wording never becomes markup."""
    text = " ".join(text.split())
    if markdown:
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        text = re.sub(r"^([#>*+=|`~-]|\d+[.)])", r"\\\1", text)
    return text


def _worded(item: dict, markdown: bool = False) -> str:
    """An item's text, marked when it is the clinician wording (the guideline gives none in the language)."""
    return _plain(item["text"], markdown) + (CLINICIAN_MARK if item["wording"] == "clinician" else "")


def _fact_text(f: dict) -> str:
    value = f"{f['comparator'] + ' ' if f['comparator'] else ''}{f['value']}{unit_text(f['unit'])}"
    extra = "".join(f"; {x}" for x in (f["preliminary"] and "a preliminary result", f["note"]) if x)
    return f"{f['name']} {value} ({f['date']}{extra})"


def _item_lines(key: str, item: dict, markdown: bool) -> list[str]:
    """The lines under one item of a report for patients."""
    lines = []
    if key == "undetermined":
        lines.append("Not decided for you yet.")
        lines += [f"Missing or unclear: {_plain(u, markdown)}" for u in item["unclear"]]
        if item["needs"]:
            lines.append("Needs: " + "; ".join(item["needs"]))
    if key == "population_not_met":
        lines.append("Not suggested for you: its conditions are not met.")
    if item.get("grading"):
        lines.append(f"How strongly: {_plain(item['grading'], markdown)}")
    if "why" in item:
        label = "Conditions" if key == "population_not_met" else "Why"
        lines.append(f"{label}: {_worded(item['why']['criterion'], markdown)}")
        if item["why"]["facts"]:
            lines.append("Based on: " + "; ".join(_plain(_fact_text(f), markdown) for f in item["why"]["facts"]))
    if item.get("dose"):
        lines.append(f"Dose: {item['dose']['value']} {item['dose']['unit']}"
                     + (f", {item['frequency']}" if item.get("frequency") else ""))
    elif item.get("dose_note"):
        lines.append(f"Dose: {_plain(item['dose_note'], markdown)}{CLINICIAN_MARK}")
    if key == "follow_up" and item["wording"] == "clinician":  # the source's sentence, which two follow-ups
        # may share: how often and when tell them apart (wording for patients says it in its own words)
        if how := interval_text(item.get("interval"), item.get("count")):
            lines.append(f"How often: {how}")
        if item.get("when"):
            lines.append(f"When: {_plain(item['when'], markdown)}{CLINICIAN_MARK}")
    lines += [f"Before the test: {_worded(i, markdown)}" for i in item.get("instructions", [])]
    lines += [f"Good to know: {_worded(c, markdown)}" for c in item.get("cautions", [])]
    # a point recorded as doubtful is never said as a certainty: the clinician checks it (no statuses, no
    # sources; the point named in the guideline's wording for patients, if it has one)
    named = [c["text"] for c in item.get("check", []) if c["text"]]
    lines += [f"The guideline's sources differ on this; your clinician should check: {_plain(t, markdown)}"
              for t in named]
    if len(named) < len(item.get("check", [])):
        lines.append("The guideline's sources differ on part of this; your clinician should check it.")
    lines += contradictions.patient_lines(item, key)  # a recommendation for and one against it: never a plain yes
    if item.get("unconfirmed"):
        lines.append("This is not confirmed in the guideline's sources; your clinician should check it.")
    return lines


def render_patient(report: dict, *, markdown: bool = False) -> str:
    """The report for patients (its ``patient_view``): the same decisions, in the guideline's wording for
    patients; an item without such wording keeps the clinician's, marked "[clinician wording]"."""
    report = _safe(report, False)  # control characters only: _plain escapes the wording's HTML itself
    view = report["patient_view"]
    h1, h2, bullet, sub = ("# ", "## ", "- ", "  - ") if markdown else ("", "", "  - ", "    ")
    g = report["guideline"]
    out = [f"{h1}{_worded(view['title'], markdown)}: information for you",
           f"Patient {report['patient']}, as of {report['as_of']}. Guideline: {_plain(g['label'], markdown)}, "
           f"version {g['version']}, review status: {g['status']}.", ""]
    if view["wording_note"]:
        out += [_plain(view["wording_note"], markdown), ""]
    out += ["This summary says what the guideline suggests for you. It does not replace a conversation with your "
            "clinician.", ""]
    if view["applicability"] in APPLICABILITY:
        out += [APPLICABILITY[view["applicability"]], ""]
    elif report.get("no_statement_applies"):
        out += ["The guideline applies to you, but none of its suggestions fits the information in your record."
                + unread_note(report["warnings"], patient=True), ""]
    for key, heading in PATIENT_SECTIONS:
        items = view["sections"].get(key, [])
        if not items:
            continue
        out.append(f"{h2}{heading}")
        for item in items:
            out.append(f"{bullet}{_worded(item, markdown)}")
            out += [f"{sub}{line}" for line in _item_lines(key, item, markdown)]
        out.append("")
    if view["set_aside"]:
        out += [f"{view['set_aside']} other recommendation(s) of the guideline are set aside for you by the "
                "statements above; the report for clinicians lists them.", ""]
    if view["care_team_notes"]:
        out += [f"Your care team has {view['care_team_notes']} note(s) about your records; the report for "
                "clinicians lists them.", ""]
    if view["missing_wording"]:
        out += [f"Text marked \"{CLINICIAN_MARK.strip()}\" is shown as written for clinicians: the guideline has "
                f"no wording for patients in '{view['language']}' for {len(view['missing_wording'])} of its items.", ""]
    out.append(f"Provenance: run {report['provenance']['run']}")
    return "\n".join(out) + "\n"
