"""``order-select``: each selected draft MedicationRequest checked against what the guidelines say for the
patient.

A draft's medicine (its ``medicationCodeableConcept``, or the Medication it references in the draft orders
or as a contained resource: codings and texts) is matched to the guideline's substances by the same
matcher the patient loader uses (a verified code, or a name in the text). A statement is about the draft
when its intervention's substances share a name or code with a matched substance, or when the
intervention is about a class the substance belongs to (``gkg:memberOfClass``, then ``skos:broader``):
the statements about actions of :mod:`guidelinekg.checks.conflicts`, keyed the same way.

For each draft and guideline, the statements that apply to the patient and advise against the draft: the
not-indicated statements that apply, the recommendations against that are made, and, when no
recommendation made is for the drafted medicine, the recommendations set aside for the patient. They make
one ``warning`` card (the most direct first: against, not indicated, set aside), with each statement's
reason, explanation and citations, and suggestions (``at-most-one``): replace the draft (``delete`` it and
``create`` the request of a recommendation made for another medicine) or only remove it. When nothing
advises against the draft but a statement about it waits on data, an ``info`` card says it could not be
checked yet and suggests the tests. A draft named by codes only, none of which a guideline substance is
coded with, gets an ``info`` card saying it was not checked (an empty answer would read as "nothing against
it"). Otherwise no card: a draft the guidelines have nothing against.
"""

from __future__ import annotations

from dataclasses import dataclass

from guidelinekg.patients.codesystems import canonical_system, system_name
from guidelinekg.hooks import markdown as md
from guidelinekg.hooks.advice import Advice, stances_of_kb, substance_keys
from guidelinekg.hooks.cards import CardContext, create, make_card
from guidelinekg.hooks.protocol import HookCall, bad_request
from guidelinekg.report.fhirrequests import order_request, request_for

AGAINST, NOT_INDICATED, SET_ASIDE = "recommended against", "not indicated", "set aside"
RANK = {AGAINST: 0, NOT_INDICATED: 1, SET_ASIDE: 2}


@dataclass(frozen=True)
class Draft:
    ref: str  # MedicationRequest/<id>
    label: str
    codings: tuple[tuple[str, str], ...]
    texts: tuple[str, ...]


def _concept(concept) -> tuple[list[tuple[str, str]], list[str]]:
    if not isinstance(concept, dict):
        return [], []
    codings = [c for c in concept.get("coding") or [] if isinstance(c, dict)] if isinstance(concept.get("coding"), list) else []
    pairs = [(canonical_system(c["system"]), c["code"]) for c in codings
             if isinstance(c.get("system"), str) and isinstance(c.get("code"), str)]  # an OID system as its URI
    texts = [concept["text"]] if isinstance(concept.get("text"), str) else []
    return pairs, texts + [c["display"] for c in codings if isinstance(c.get("display"), str)]


def drafts(call: HookCall) -> list[Draft]:
    """The selected draft MedicationRequests (other selected orders are not checked)."""
    bundle = call.context["draftOrders"]
    by_ref: dict[str, dict] = {}
    for entry in bundle.get("entry") or []:
        res = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(res, dict) and isinstance(res.get("resourceType"), str):
            by_ref[f"{res['resourceType']}/{res.get('id')}"] = res
            if isinstance(entry.get("fullUrl"), str):
                by_ref[entry["fullUrl"]] = res
    out = []
    for selection in call.selections:
        res = by_ref.get(selection)
        if res is None:
            raise bad_request(f"context.selections names {selection!r}, which is not in context.draftOrders")
        if res.get("resourceType") != "MedicationRequest":
            continue
        codings, texts = _concept(res.get("medicationCodeableConcept"))
        ref = res.get("medicationReference")
        target = ref.get("reference") if isinstance(ref, dict) else None
        medication = None
        if isinstance(target, str) and target.startswith("#"):
            medication = next((c for c in res.get("contained") or [] if isinstance(c, dict)
                               and c.get("id") == target[1:]), None)
        elif isinstance(target, str):
            medication = by_ref.get(target)
        if isinstance(medication, dict):
            for concept in [medication.get("code")] + [i.get("itemCodeableConcept") for i in medication.get("ingredient") or []
                                                       if isinstance(i, dict)]:
                more_codes, more_texts = _concept(concept)
                codings += more_codes
                texts += more_texts
        if isinstance(ref, dict) and isinstance(ref.get("display"), str):
            texts.append(ref["display"])
        ident = f"MedicationRequest/{res.get('id')}"
        out.append(Draft(ident, (texts or ["the drafted medication"])[0], tuple(codings), tuple(texts)))
    return out


def _covers(kb, codings, texts):
    """Whether a statement (by IRI) is about the drafted medicine; None when no substance is recognised."""
    found = kb.matcher.match(codings=codings, texts=texts)
    if not found:
        return None
    table = substance_keys(kb)
    keys = frozenset().union(*(table.get(m.substance, (frozenset(), frozenset()))[0] for m in found))
    classes = frozenset().union(*(table.get(m.substance, (frozenset(), frozenset()))[1] for m in found))
    by_statement: dict[str, list] = {}
    for s in stances_of_kb(kb):
        by_statement.setdefault(s.statement, []).append(s)
    return lambda statement: any(s.keys & keys or s.own_classes & classes for s in by_statement.get(statement, ()))


def _item_lines(how: str, item: dict) -> list[str]:
    lines = ["", f"**{how.capitalize()}:** {md.text(item.get('statement') or item.get('reason') or item['iri'])}"]
    if how == SET_ASIDE:
        lines.append(f"Set aside for this patient: {md.text(item['reason'])}.")
    lines += ["", *md.steps(item.get("because", []))]
    lines += [f"- caution: {md.caution_item(c).removeprefix('- ')}" for c in item.get("cautions", [])]
    # how far it was checked, what is in doubt (a statement set aside: the doubts about itself only)
    lines += md.checks({**item, "verification": None}, own_only=True) if how == SET_ASIDE else md.checks(item)
    cites = md.citation_items(item.get("citations", []), item.get("verification"))
    return lines + (["", "Sources:", "", *cites] if cites else [])


def draft_cards(ctx: CardContext, draft: Draft, g, report: dict) -> list[dict]:
    """The cards of one draft for one guideline's report (none, a warning, or a not-checked card)."""
    covers = _covers(g.kb, draft.codings, draft.texts)
    if not report["applicable"]:
        return []
    if covers is None:
        return _unnamed(ctx, draft, report, g.kb.matcher.possible(draft.codings)) if not draft.texts else []
    made = report["recommendations"]
    found = [(NOT_INDICATED, n) for n in report["not_indicated"] if covers(n["iri"])]
    found += [(AGAINST, r) for r in made if r.get("direction") == "against" and covers(r["iri"])]
    if not any(r.get("direction") != "against" and covers(r["iri"]) for r in made):
        said = {item["iri"] for _, item in found}
        found += [(SET_ASIDE, n) for n in report["not_recommended"]
                  if covers(n["iri"]) and not said & set(n["suppressed_by"])]
    found.sort(key=lambda f: RANK[f[0]])
    delete = {"type": "delete", "description": f"Remove the draft order {draft.label}", "resourceId": draft.ref}
    key = f"drafted {draft.ref} {report['guideline']['version_iri']}"
    if found:
        how, first = found[0]
        instead = [r for r in made if r.get("direction") != "against" and r["intervention"]["kind"] == "medication"
                   and not covers(r["iri"])]
        detail = [f"**{md.text(draft.label)}** ({md.text(draft.ref)}) is {how} for this patient:"]
        for h, item in found:
            detail += _item_lines(h, item)
        detail += md.section("What the guideline recommends instead", [
            f"- {md.text(r['label'])}" + (f": {md.text(r['dose']['value'])} {md.text(r['dose']['unit'])}" if r.get("dose") else "")
            for r in instead])
        suggestions = [(f"Replace with {r['intervention']['label']}",
                        [delete, create(request_for(r, ctx.subject, ctx.as_of), f"Order {r['intervention']['label']} "
                                                                                f"({r['label']})")]) for r in instead]
        suggestions.append((f"Remove the draft order {draft.label}", [delete]))
        name = first.get("label") or first.get("intervention") or ""
        citations = [c for _, item in found for c in item.get("citations", [])]
        return [make_card(ctx, key, "drafted-order", "warning", f"{draft.label}: {how} for this patient ({name})",
                          detail, report=report, citations=citations, statements=[i["iri"] for _, i in found],
                          suggestions=suggestions)]
    waiting = [u for u in report["undetermined"] if covers(u["iri"])]
    if not waiting or any(r.get("direction") != "against" and covers(r["iri"]) for r in made):
        return []
    needed = [o for o in report["orders"] if {u["iri"] for u in waiting} & set(o["needed_for"])]
    detail = [(f"**{md.text(draft.label)}** ({md.text(draft.ref)}) could not be checked yet: statements about it "
               "wait on data.")]
    for u in waiting:
        detail += ["", f"- {md.text(u['statement'])}", *["  " + s for s in md.steps(u["because"])]]
    tests = ", ".join(o["label"] for o in needed)
    suggestions = [(f"Order {tests}", [create(order_request(o, ctx.subject, ctx.as_of), f"Order {o['label']}")
                                       for o in needed])] if needed else []
    return [make_card(ctx, key, "drafted-order-not-checked", "info",
                      f"{draft.label}: not checked yet" + (f" ({tests} needed)" if tests else ""), detail,
                      report=report, statements=[u["iri"] for u in waiting], suggestions=suggestions)]


def _unnamed(ctx: CardContext, draft: Draft, report: dict, possible: list[str]) -> list[dict]:
    """A draft named by codes only, none of which a guideline substance is coded with by a verified code (the
    guideline may list one as unverified: ``possible``, its substances), or by nothing the service can read:
    what it is cannot be told here, so it was not checked, and an empty answer would read as "nothing against
    it"."""
    codes = "; ".join(f"{system_name(system)} {code}" for system, code in draft.codings)
    known = ("the guideline lists that code only as unverified, so it is not used" if possible else
             "no product of the guideline is coded so")
    named = (f"names its medicine by code only ({md.text(codes)}), and {known}"
             if codes else "names no medicine the service can read (no code, no name; a Medication it references "
                           "is not in the request)")
    detail = [f"**{md.text(draft.ref)}** {named}: what it is cannot be told, so it was **not checked** against the "
              "guideline. Check it yourself, or draft it with the medicine's name (the service reads names)."]
    return [make_card(ctx, f"drafted {draft.ref} unnamed {report['guideline']['version_iri']}",
                      "drafted-order-not-recognised", "info", f"{draft.ref}: not checked (medicine not recognised)",
                      detail, report=report, statements=[], suggestions=[])]


def order_select_cards(ctx: CardContext, advice: Advice, call: HookCall) -> list[dict]:
    """Every selected draft MedicationRequest against every guideline's report."""
    selected = drafts(call)
    return [card for draft in selected for g, _, report in advice.evaluated for card in draft_cards(ctx, draft, g, report)]
