"""Patient reports as CDS Hooks cards (``patient-view``), and the parts every card has.

One card per recommendation made (``info``; a recommendation against: ``warning``), per not-indicated
statement that applies (``info``), per special population's statement not made (``info``), per
insufficient-evidence statement that applies (``info``, no recommendation for or against), per test to
order (``info``, suggesting its ServiceRequest), one for the statements that wait on data (``info``), one
for the monitoring plan (``info``), one per warning code (``warning``; grouped: every message of the code
in one card; ``guideline-not-applicable`` and ``ignored-resource`` are ``info``: they say what was not
read, not that something read is wrong), and with several guidelines one per disagreement (``warning``).
A record marked deceased (``deceased``) gets its ``patient-deceased`` warning as the first card of the guideline,
``info``: the record is marked deceased and no guideline is applied (never "does not apply"), no suggestion; a
guideline that applies but none of whose statements does (``no_statement_applies``) an ``info`` card saying so.
A recommendation for and one against the same intervention (rule 92: ``contradicted_by``) are ``warning``
cards saying so ("Recommended and recommended against: review before acting", or "NOT SETTLED" while the other
is not decided yet), the contradiction's lines in their detail, and the one for suggests no request; one against
a part of it ("Recommended, except a part") names the part and keeps its suggestion for the rest.
Every statement shown says how far it was checked and what is in doubt about it (``verification``,
``doubts``: :func:`guidelinekg.hooks.markdown.checks`), as the text report does.

Every card has a deterministic ``uuid`` (UUID 5 of the hook instance and what the card is about, e.g. the
statement IRI), a summary under 140 characters, a Markdown ``detail`` (the statement, the explanation as a
list, dose, administration, cautions, citations), ``source`` (guideline, version and review status; the
DOI or PubMed link of the first cited work; ``topic``: the kind of card), ``overrideReasons`` and, for a
recommendation made, a suggestion creating its request (:func:`guidelinekg.report.fhirrequests.request_for`,
as ``recommend --format fhir`` writes it), for a test to order its ServiceRequest, and for the monitoring
plan one suggestion per item (``any``) planning its tests.
What the card is about is also in ``extension`` (``org.w3id.guidelinekg``: kind, statements, guideline
version, run, patient), which the feedback log reads.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from guidelinekg import __version__
from guidelinekg.hooks import markdown as md
from guidelinekg.report.doubts import dose_status, status_text
from guidelinekg.report.fhirrequests import interval_text, monitoring_requests, order_request, request_for, shown_codings
from guidelinekg.report.explain import unread_note
from guidelinekg.report.insufficient import no_recommendation
from guidelinekg.report import contradictions
from guidelinekg.report.views import NONE_APPLIES, grading_text, work_url

OVERRIDE_SYSTEM = "https://w3id.org/guidelinekg/override-reason"
OVERRIDE_REASONS = (
    ("patient-preference", "The patient prefers another option or declines"),
    ("contraindication", "Contraindicated for this patient"),
    ("already-done", "Already done or ordered"),
    ("not-applicable", "Does not apply to this patient"),
    ("data-wrong", "The data it rests on are wrong or out of date"),
)
TOPIC_SYSTEM = "https://w3id.org/guidelinekg/card-kind"
EXTENSION = "org.w3id.guidelinekg"
INFO_WARNINGS = {"guideline-not-applicable", "ignored-resource"}
DECEASED_CODE = "patient-deceased"  # the warning of a record marked deceased: its own card, first
VERBS = {("MedicationRequest", True): "Record: do not give", ("ServiceRequest", True): "Record: do not do",
         ("CommunicationRequest", False): "Advise:", ("CommunicationRequest", True): "Record: advise against",
         ("Task", False): "Record", ("Task", True): "Record"}  # else "Order" (a medicine, a test, a referral)


@dataclass(frozen=True)
class CardContext:
    hook_instance: str
    subject: dict  # a FHIR Reference to the patient
    as_of: str
    patient: str | None = None  # the patient's IRI in the reports


def card_uuid(ctx: CardContext, key: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"urn:uuid:{ctx.hook_instance} {key}"))


def source_label(guideline: dict) -> str:
    """"<guideline> <version> (review status <status>)"; a version the label already ends with said once."""
    label, version = guideline.get("label") or guideline["version_iri"], guideline.get("version") or ""
    label = label.removesuffix(f" ({version})") if version else label
    return f"{label} {version} (review status: {guideline.get('status') or 'not stated'})".replace("  ", " ")


def make_card(ctx: CardContext, key: str, kind: str, indicator: str, summary: str, detail: list[str], *,
              report: dict | None = None, citations: list[dict] = (), statements: list[str] = (),
              suggestions: list[tuple[str, list[dict]]] = (), source: str | None = None,
              code: str | None = None, selection: str = "at-most-one",
              overrides: tuple[str, ...] | None = None) -> dict:
    """A card; ``suggestions`` as (label, actions), given uuids derived from the card's; ``code``: a warning's
    code or an order's LOINC code, for the extension; ``overrides``: the override reasons that make sense for
    it (codes; None: all)."""
    ident = card_uuid(ctx, key)
    urls = [(c, work_url(c)) for c in citations if c.get("title") and work_url(c)]
    src: dict = {"label": source or (source_label(report["guideline"]) if report else f"guidelinekg {__version__}")}
    if urls:
        src["url"] = urls[0][1]
    src["topic"] = {"system": TOPIC_SYSTEM, "code": kind, "display": kind.replace("-", " ")}
    body = "\n".join(detail).strip()
    if report:
        g = report["guideline"]
        body += (f"\n\n*{md.text(g.get('label') or g['version_iri'])}, version {md.text(g.get('version'))}, review "
                 f"status {md.text(g.get('status'))}; as of {md.text(report['as_of'])}; guidelinekg {__version__}.*")
    card: dict = {"uuid": ident, "summary": md.summary(summary), "indicator": indicator, "detail": body,
                  "source": src}
    if suggestions:
        card["suggestions"] = [{"label": md.summary(label), "uuid": card_uuid(ctx, f"{key} suggestion {n}"),
                                "actions": actions} for n, (label, actions) in enumerate(suggestions)]
        card["selectionBehavior"] = selection
    card["overrideReasons"] = [{"system": OVERRIDE_SYSTEM, "code": c, "display": d} for c, d in OVERRIDE_REASONS
                               if overrides is None or c in overrides]
    links, seen = [], set()
    for c, url in urls:
        if url not in seen:
            seen.add(url)
            links.append({"label": md.summary(f"Cited: {c['title']}"), "url": url, "type": "absolute"})
    if links:
        card["links"] = links
    meta: dict = {"kind": kind, "statements": sorted(set(statements)), **({"code": code} if code else {})}
    if report:
        meta.update(guideline=report["guideline"]["version_iri"], run=report["provenance"]["run"],
                    patient=report["patient"])
    elif ctx.patient:
        meta["patient"] = ctx.patient
    card["extension"] = {EXTENSION: meta}
    return card


def create(resource: dict, description: str) -> dict:
    return {"type": "create", "description": description, "resource": resource}


def _cautions(item: dict) -> list[str]:
    return [md.caution_item(c) for c in item.get("cautions", [])]


def _nested(lines: list[str]) -> list[str]:
    return ["  " + line for line in lines]


def _dose_words(dose: dict) -> str:
    """"40 mg elemental X (project assumption)": the amount, what it is of, and its own status, if any."""
    status = dose_status(dose)
    return (f"{dose['value']} {dose['unit']}" + (f" {dose['basis']}" if dose.get("basis") else "")
            + (f" ({status})" if status else ""))


def _contradicted(rec: dict, head: str) -> tuple[str, str | None, bool]:
    """A recommendation that one in the other direction contradicts (rule 92): its heading, a warning when
    it is no plain recommendation, and whether its suggestion stays: a recommendation for is never one click
    away while the guideline also recommends against it (made, or not decided yet); one against a part of it
    leaves the rest recommended, with the part named."""
    statuses = {c["status"] for c in rec.get("contradicted_by", [])}
    if statuses & {contradictions.BOTH, "recommended"}:
        return "Recommended and recommended against: review before acting", "warning", rec.get(
            "direction") == "against"
    if statuses & {contradictions.PENDING, contradictions.FOR_PENDING}:
        return f"NOT SETTLED, {head[:1].lower()}{head[1:]}", "warning", contradictions.FOR_PENDING in statuses
    if statuses:
        return f"{head}, except a part", "warning", True
    return head, None, True


def recommendation_card(ctx: CardContext, report: dict, rec: dict, set_aside: list[str]) -> dict:
    against = rec.get("direction") == "against"
    head, alert, suggest = _contradicted(rec, "Recommended against" if against else "Recommended")
    grading = grading_text(rec)
    detail = [f"**{head}:** {md.text(rec['statement'])}", "", md.text(grading[:1].upper() + grading[1:]) + "."]
    detail += md.section("The guideline also says", [f"- **{md.text(line)}**" for line in contradictions.lines(rec)])
    if rec.get("dose") and not against:
        freq = f" {md.text(rec['frequency'])}" if rec.get("frequency") else ""
        detail += ["", f"Dose: **{md.text(_dose_words(rec['dose']))}**{freq}."]
    if rec.get("route") and not against:
        detail += ["", f"Route: {md.text(rec['route'])}."]
    detail += md.section("Why", md.steps(rec["because"]))
    if not against:
        detail += md.section("Administration", [f"- {md.text(a)}" for a in rec.get("administration", [])])
    detail += md.section("Cautions", _cautions(rec))
    detail += md.section("Verification and doubts", md.checks(rec, dosing=not against))
    detail += md.section("Sets aside", set_aside)
    detail += md.section("Sources", md.citation_items(rec["citations"], rec.get("verification")))
    resource = request_for(rec, ctx.subject, ctx.as_of)
    label = rec["intervention"]["label"]
    verb = VERBS.get((resource["resourceType"], against), "Order")
    suggestions = [(f"{verb} {label}", [create(resource, f"{verb} {label} ({rec['label']})")])] if suggest else []
    dose = f"; dose {_dose_words(rec['dose'])}" if rec.get("dose") and not against else ""
    return make_card(ctx, rec["iri"], "recommendation-against" if against else "recommendation",
                     alert or ("warning" if against else "info"), f"{head}: {rec['summary']}{dose}", detail, report=report,
                     citations=rec["citations"], statements=[rec["iri"]], suggestions=suggestions)


def not_indicated_card(ctx: CardContext, report: dict, item: dict, set_aside: list[str]) -> dict:
    detail = [f"**Not indicated:** {md.text(item['statement'])}"]
    if item.get("interventions"):
        detail.append(f"About: {md.text(', '.join(item['interventions']))}.")
    detail += md.section("Why", md.steps(item["because"]))
    detail += md.section("Cautions", _cautions(item))
    detail += md.section("Verification and doubts", md.checks(item))
    detail += md.section("Sets aside", set_aside)
    detail += md.section("Sources", md.citation_items(item["citations"], item.get("verification")))
    return make_card(ctx, item["iri"], "not-indicated", "info", f"Not indicated: {item['label']}", detail,
                     report=report, citations=item["citations"], statements=[item["iri"]])


def population_card(ctx: CardContext, report: dict, item: dict) -> dict:
    detail = [(f"**Not made for this patient's population ({md.text(item['population'])}):** "
               f"{md.text(item['statement'])}")]
    if item.get("reason"):
        detail.append(f"Reason: {md.text(item['reason'])}.")
    detail += md.section("Why", md.steps(item["because"]))
    detail += md.section("Verification and doubts", md.checks(item, own_only=True))
    detail += md.section("Sources", md.citation_items(item["citations"], item.get("verification")))
    return make_card(ctx, item["iri"], "population-not-met", "info",
                     f"Not made for {item['population']}: {item['label']}", detail, report=report,
                     citations=item["citations"], statements=[item["iri"]])


def no_recommendation_card(ctx: CardContext, report: dict, item: dict) -> dict:
    """An insufficient-evidence statement that applies (a USPSTF I statement, rule 73): the guideline makes no
    recommendation for or against; ``info``, never a suggestion."""
    detail = [f"**{md.text(no_recommendation(item))}** ({md.text(grading_text(item))}).", "",
              f"The guideline: {md.text(item['statement'])}"]
    detail += md.section("Why", md.steps(item["because"]))
    detail += md.section("Cautions", _cautions(item))
    detail += md.section("Verification and doubts", md.checks(item))
    detail += md.section("Sources", md.citation_items(item["citations"], item.get("verification")))
    return make_card(ctx, item["iri"], "no-recommendation", "info", f"No recommendation (insufficient evidence): "
                     f"{item['label']}", detail, report=report, citations=item["citations"], statements=[item["iri"]])


def order_card(ctx: CardContext, report: dict, order: dict, needed: dict[str, str]) -> dict:
    waiting = [needed.get(i, i) for i in order["needed_for"]]
    # the code only where the content marks it verified, as in every FHIR resource (shown_codings)
    verified = [c["code"] for c in shown_codings(order.get("codes", []))]
    code = f" (LOINC {md.text(', '.join(verified))})" if verified else ""
    detail = [(f"**Order {md.text(order['label'])}**{code}: needed before the "
               "guideline can decide:"), "", *[f"- {md.text(w)}" for w in waiting]]
    status = {r["instruction"]: status_text(r["verification"]) for r in order.get("requirements", [])
              if r.get("verification")}  # each pre-test instruction with how far it was checked
    detail += md.section("Before the test", [f"- {md.text(i)}" + (f" ({md.text(status[i])})" if i in status else "")
                                             for i in order["instructions"]])
    detail += md.section("Verification and doubts", md.checks({"iri": None, "doubts": order.get("doubts", [])}))
    count = len(waiting)
    summary = f"Order {order['label']}: needed to decide {count} statement{'s' if count != 1 else ''}"
    resource = order_request(order, ctx.subject, ctx.as_of)
    return make_card(ctx, f"order {report['guideline']['version_iri']} {order['measure']}", "order", "info", summary,
                     detail, report=report, statements=order["needed_for"], code=(verified or [None])[0],
                     suggestions=[(f"Order {order['label']}", [create(resource, f"Order {order['label']}")])])


def waiting_card(ctx: CardContext, report: dict) -> dict:
    items = report["undetermined"]
    detail = ["**Not decided yet:** these statements wait on data (the tests to order are in their own cards)."]
    for u in items:  # headed by its label, as a recommendation is: statements with like wording differ
        label = u.get("label")
        head = md.text(u["statement"])
        if label and label != u["statement"]:
            head = f"**{md.text(label)}**: {head}"
        detail += ["", f"- {head}", *_nested(md.steps(u["because"])), *_nested(md.checks(u, own_only=True))]
    tests = sorted({o["label"] for o in report["orders"]})
    summary = f"Data required: {len(items)} statement{'s' if len(items) != 1 else ''} not decided yet" + (
        f" ({', '.join(tests)} needed)" if tests else "")
    return make_card(ctx, f"data-required {report['guideline']['version_iri']}", "data-required", "info", summary,
                     detail, report=report, statements=[u["iri"] for u in items])


def monitoring_card(ctx: CardContext, report: dict) -> dict:
    """The monitoring plan; a suggestion per item planning its tests (``any``: each can be taken)."""
    items = report["monitoring"]
    lines: list[str] = []
    for m in items:
        when = interval_text(m.get("interval"), m.get("count"))
        lines += [f"- {md.text(m['action'])}" + (f" ({md.text(when)})" if when else "")
                  + (f"; when: {md.text(m['trigger'])}" if m.get("trigger") else ""), *_nested(md.checks(m))]
    more = f" (+{len(items) - 1} more)" if len(items) > 1 else ""
    name = {m["iri"]: m.get("label") or m["action"] for m in items}  # the label: two may quote one sentence
    suggestions = [(f"Plan: {name[m['iri']]}", [create(r, f"Plan {name[m['iri']]}")
                                                for r in monitoring_requests(m, ctx.subject, ctx.as_of)])
                   for m in items if m["loinc"]]
    return make_card(ctx, f"monitoring {report['guideline']['version_iri']}", "monitoring", "info",
                     f"Monitoring: {name[items[0]['iri']]}{more}", ["**Monitoring plan**", "", *lines], report=report,
                     statements=[m["iri"] for m in items], suggestions=suggestions, selection="any")


def warning_cards(ctx: CardContext, report: dict) -> list[dict]:
    by_code: dict[str, list[str]] = {}
    for w in report["warnings"]:
        if w["code"] == DECEASED_CODE and report.get("deceased"):
            continue  # its own card (deceased_card)
        by_code.setdefault(w["code"], []).append(w["message"])
    out = []
    for code, messages in by_code.items():
        more = f" (+{len(messages) - 1} more)" if len(messages) > 1 else ""
        detail = [f"**{md.text(code)}**", "", *[f"- {md.text(m)}" for m in messages]]
        out.append(make_card(ctx, f"warning {report['guideline']['version_iri']} {code}", "warning",
                             "info" if code in INFO_WARNINGS else "warning", f"{messages[0]}{more}", detail,
                             report=report, code=code))
    return out


def deceased_card(ctx: CardContext, report: dict) -> dict:
    """A record marked deceased is not evaluated (rule 15): the card says so, never "does not apply"; it is the
    ``patient-deceased`` warning of the report (``info``: nothing read is wrong, nothing is to be done)."""
    messages = [w["message"] for w in report["warnings"] if w["code"] == DECEASED_CODE]
    detail = ["**The patient's record is marked deceased on or before the as-of date: no guideline is applied.**",
              "", "No recommendation, test or monitoring is suggested. If the record is wrong, correct it in the EHR.",
              "", *[f"- {md.text(m)}" for m in messages]]
    return make_card(ctx, f"warning {report['guideline']['version_iri']} {DECEASED_CODE}", "warning", "info",
                     "Record marked deceased: no guideline is applied", detail, report=report, code=DECEASED_CODE,
                     overrides=("data-wrong",))


def no_statement_card(ctx: CardContext, report: dict) -> dict:
    """The guideline applies but none of its statements does (a value between its thresholds): said so."""
    detail = [f"**{md.text(NONE_APPLIES + unread_note(report['warnings']))}.**", "",
              "No recommendation, test or monitoring of this guideline is suggested for the data sent."]
    return make_card(ctx, f"no-statement-applies {report['guideline']['version_iri']}", "no-statement-applies",
                     "info", NONE_APPLIES, detail, report=report, overrides=("data-wrong",))


def disagreement_card(ctx: CardContext, d: dict) -> dict:
    a, b = d["first"], d["second"]

    def said(side: dict) -> str:
        grade = f" ({', '.join(side['grades'])})" if side["grades"] else ""
        return f"{side['guideline']}: {side['label']}, {side['status']}{grade}"

    detail = [f"**Guidelines disagree about {md.text(d['action'])}** ({md.text(d['kind'])})", "",
              f"- {md.text(said(a))}", f"- {md.text(said(b))}"]
    return make_card(ctx, f"disagreement {d['kind']} {a['statement']} {b['statement']}", "disagreement", "warning",
                     f"Guidelines disagree about {d['action']}: {a['status']} and {b['status']}", detail,
                     statements=[a["statement"], b["statement"]], source="guidelinekg: guidelines compared")


def patient_view_cards(ctx: CardContext, reports: list[dict], disagreements: list[dict]) -> list[dict]:
    """Every card of the patient's reports (one per guideline version), most pressing kinds first."""
    cards = [disagreement_card(ctx, d) for d in disagreements]
    for report in reports:
        if report.get("deceased"):
            cards.append(deceased_card(ctx, report))
        elif report.get("no_statement_applies"):
            cards.append(no_statement_card(ctx, report))
        aside: dict[str, list[str]] = {}  # statement -> what it set aside for this patient (Markdown lines)
        for n in report["not_recommended"]:  # with the doubts about the statement set aside (its own only)
            said = [f"- {md.text(n['intervention'])}: {md.text(n['reason'])}",
                    *_nested(md.checks({**n, "verification": None}, own_only=True))]
            for by in n["suppressed_by"]:
                aside.setdefault(by, []).extend(said)
        labels = {r["iri"]: r["statement"] for r in (*report["recommendations"], *report["undetermined"])}
        made = report["recommendations"]
        cards += [recommendation_card(ctx, report, r, aside.get(r["iri"], [])) for r in made
                  if r.get("direction") == "against"]
        cards += [recommendation_card(ctx, report, r, aside.get(r["iri"], [])) for r in made
                  if r.get("direction") != "against"]
        if report["undetermined"]:
            cards.append(waiting_card(ctx, report))
        cards += [order_card(ctx, report, o, labels) for o in report["orders"]]
        cards += [not_indicated_card(ctx, report, n, aside.get(n["iri"], [])) for n in report["not_indicated"]]
        cards += [population_card(ctx, report, n) for n in report["population_not_met"]]
        cards += [no_recommendation_card(ctx, report, n) for n in report.get("insufficient_evidence", [])]
        if report["monitoring"]:
            cards.append(monitoring_card(ctx, report))
        cards += warning_cards(ctx, report)
    return cards


def missing_card(ctx: CardContext, missing: tuple[tuple[str, str], ...], templates: dict[str, str],
                 labels: list[str]) -> dict:
    """The one card of a call whose prefetch lacks data: which keys, why, and the template of each."""
    items = [f"- **{md.text(key)}** ({md.text(templates.get(key, '?'))}): {md.text(why)}" for key, why in missing]
    detail = [("**No advice: the patient data the guidelines need were not sent.** This service never queries "
               "the FHIR server; the EHR must send every prefetch key of the service (null when the record holds "
               "no such data)."), "", *items, "", f"Guidelines loaded: {md.text('; '.join(labels))}."]
    keys = ", ".join(key for key, _ in missing)
    return make_card(ctx, "prefetch", "data-missing", "info", f"No advice yet: patient data needed ({keys})",
                     detail)


def unreadable_card(ctx: CardContext, why: str, labels: list[str]) -> dict:
    detail = ["**No advice: the patient record sent could not be read**, so no guideline was applied.", "",
              f"Reason: {md.text(why)}", "", f"Guidelines loaded: {md.text('; '.join(labels))}."]
    return make_card(ctx, "unreadable", "record-unreadable", "warning",
                     "No advice: the patient record could not be read", detail)
