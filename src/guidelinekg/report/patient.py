"""The patient report: read from the evaluation's result graph into one JSON-ready object.

The graph is the report; this module only selects from it (SPARQL) and shapes the selection into the
documented JSON structure (``docs/recommend.schema.json``). Sorting makes the output deterministic.
"""

from __future__ import annotations

from decimal import Decimal

from guidelinekg.engine.knowledge import GuidelineVersionInfo
from guidelinekg.engine.reasoning import Evaluation
from guidelinekg.patients.ucum import UnitConversionError, ucum_conversion
from guidelinekg.report.contradictions import FOR_AND_AGAINST, mark as mark_contradictions
from guidelinekg.report.doses import dose_of, none_applies, one_computed, weighing
from guidelinekg.report.doubts import annotate, dosing, of, read_doubts
from guidelinekg.report.explain import UNCODED, Criteria, Explainer
from guidelinekg.report.forpatient import patient_view, read_wording
from guidelinekg.report.graphread import grouped, json_number, local, number, rows
from guidelinekg.report.insufficient import items as insufficient_items
from guidelinekg.report.restrictions import items as restriction_items
from guidelinekg.report.selections import (
    ADMINISTRATION,
    APPLICABILITY,
    CAUTIONS,
    CITATIONS,
    CODES,
    COVERAGE,
    DOSES,
    DOSING_NOT_APPLYING,
    FIXED_DOSING,
    GRADES,
    INSUFFICIENT_EVIDENCE,
    MEASURE_CODES,
    MONITORING,
    NOT_INDICATED,
    ORDERS,
    POPULATION_NOT_MET,
    RECORD_CODES,
    RESTRICTIONS,
    RESULTS,
    STALE_WEIGHTS,
    STATEMENT,
    SUPPRESSION,
    UNDETERMINED_BY,
    WARNING_ABOUT,
    WARNINGS,
    WEIGHT_BASED,
    WORKS,
)

LOINC = "http://loinc.org"


def _citations(store) -> dict[str, list[dict]]:
    works = {w["work"]: w for w in rows(store, WORKS)}
    out: dict[str, list[dict]] = {}
    for row in rows(store, CITATIONS):
        item: dict = {"kind": row["kind"]}
        if "n" in row:
            item["reference"] = int(row["n"])
            item["resolution"] = row["resolution"]
        work = works.get(row.get("work", ""), {})
        for key in ("title", "year", "doi", "pmid"):
            if key in work:
                item[key] = work[key]
        if "sourceKind" in work:
            item["source"] = work["sourceKind"]
        if item not in out.setdefault(row["s"], []):
            out[row["s"]].append(item)
    return {
        k: sorted(v, key=lambda c: (c["kind"] != "reference", c.get("reference", 0), c.get("title", "")))
        for k, v in out.items()
    }


def _guideline_parts(store) -> dict:
    """What every report reads from the guideline alone (statements, criteria, citations, codes):
    selected once per knowledge base, from its knowledge-only store (read-only afterwards); with the doubts
    recorded about them (:mod:`guidelinekg.report.doubts`)."""
    found = read_doubts(store, _citations(store))
    citations = found["citations"]
    administration = grouped(rows(store, ADMINISTRATION), "i")
    return {
        "criteria": Criteria.read(store),
        "statements": {r["r"]: r for r in rows(store, STATEMENT)},
        "citations": citations,
        "codes": grouped(rows(store, CODES), "i"),
        "administration": administration,
        "doubts": found, "dosing": dosing(administration, found),
        "grades": {r: sorted(({"iri": g["g"], "system": g.get("systemLabel", g["system"]), "axis": g["axis"],
                               "grade": g["notation"],
                               "label": g.get("glabel"), "grade_equivalent": g.get("mapped"),
                               "mapping": g.get("match")} for g in items),
                             key=lambda g: (g["axis"] != "strength", g["system"], g["grade"]))
                   for r, items in grouped(rows(store, GRADES), "r").items()},
        "weight_based": grouped(rows(store, WEIGHT_BASED), "i"),
        "fixed_dosing": grouped(rows(store, FIXED_DOSING), "i"),
        "measure_codes": grouped(rows(store, MEASURE_CODES), "m"),
        "record_codes": grouped(rows(store, RECORD_CODES), "c"),
        "coverage": {v: sorted({r["c"] for r in items}) for v, items in grouped(rows(store, COVERAGE), "v").items()},
        "not_indicated": grouped(rows(store, NOT_INDICATED), "ni"),
        "cautions": {about: sorted(({"iri": c["c"], "label": c["label"], "text": c["text"],
                                     "citations": citations.get(c["c"], []), **of(found, c["c"])} for c in items),
                                    key=lambda c: c["iri"])
                     for about, items in grouped(rows(store, CAUTIONS), "about").items()},
    }


def _named(node: str) -> str | None:
    """A node's IRI for the JSON; None for a blank node, whose label changes from one parse to the next (the
    same inputs give the same bytes)."""
    return None if node.startswith("_:") else node


SAID = ("recommendations", "not_recommended", "undetermined", "not_indicated", "population_not_met", "orders",
        "monitoring", "insufficient_evidence")  # what a report says for a patient the guideline applies to
LINE_RANK = {"first-line": 0, None: 1, "alternative": 2}
STRENGTH_RANK = {"strong": 0, "conditional": 1, None: 2}


def _display_order(statement: dict) -> tuple:
    """First-line before alternatives, strong before conditional, then by IRI (deterministic)."""
    return (LINE_RANK.get(statement.get("line"), 1), STRENGTH_RANK.get(statement.get("strength"), 2), statement["r"])


def build_reports(
    evaluation: Evaluation, version: GuidelineVersionInfo, patients: list[str] | None = None, *,
    patient_lang: str | None = None, facts: bool = False,
) -> dict[str, dict]:
    """The JSON objects of ``recommend --format json`` for every (or the given) patient of an evaluation.

    One set of queries serves a whole batch: the cohort runs the same code as ``recommend``. Without
    ``patients``, every patient of the evaluation (the only patients in its store): no restriction needed.
    With ``patient_lang`` (``--audience patient``), each report also holds its ``patient_view`` in that
    language (:mod:`guidelinekg.report.forpatient`). With ``facts``, each statement also lists the dated
    results its criterion rests on (``facts``: what ``--format fhir`` cites as the reason of a request);
    measures an undecided criterion lacks carry their LOINC codes with the verification status the content
    gives them (``codes``, as orders and monitoring items always do: FHIR shows a code only when verified);
    and a version whose coverage is unknown says what its criterion lacks (``applicability_missing``).
    """
    store = evaluation.store
    wanted = sorted(patients) if patients is not None else None
    patients = wanted if wanted is not None else sorted(evaluation.patient_iris)
    scope = {"patients": wanted, "version": version.iri}
    shared = evaluation.knowledge.memo("report-guideline-parts", _guideline_parts)
    if patient_lang is not None:
        shared = {**shared, "wording": evaluation.knowledge.memo("patient-wording", read_wording),
                  "lang": patient_lang}
    if facts:
        shared = {**shared, "facts": True}
    per_patient = {
        "results": grouped(rows(store, RESULTS, **scope), "patient"),
        "outcomes": Explainer.outcome_rows(store, wanted),
        "doses": grouped(rows(store, DOSES, **scope), "patient"),
        "dosing_fails": grouped(rows(store, DOSING_NOT_APPLYING, **scope), "patient"),
        "stale_weights": grouped(rows(store, STALE_WEIGHTS, **scope), "patient"),
        "suppression": grouped(rows(store, SUPPRESSION, **scope), "patient"),
        "undetermined_by": grouped(rows(store, UNDETERMINED_BY, **scope), "patient"),
        "orders": grouped(rows(store, ORDERS, **scope), "patient"),
        "monitoring": grouped(rows(store, MONITORING, **scope), "patient"),
        "warnings": grouped(rows(store, WARNINGS, **scope), "patient"),
        "for_and_against": grouped(rows(store, FOR_AND_AGAINST, **scope), "patient"),  # rule 92
        "applicability": grouped(rows(store, APPLICABILITY, **scope), "patient"),
        "restrictions": grouped(rows(store, RESTRICTIONS, **scope), "patient"),
        "insufficient": grouped(rows(store, INSUFFICIENT_EVIDENCE, **scope), "patient"),
        # grouped: an engine may answer an empty grouping with one row of nothing
        "population_not_met": grouped([r for r in rows(store, POPULATION_NOT_MET, **scope) if "patient" in r],
                                      "patient"),
        "warning_about": grouped(rows(store, WARNING_ABOUT, **scope), "patient") if facts else {},
    }
    return {
        p: _assemble(evaluation, version, p, shared, {k: v.get(p, []) for k, v in per_patient.items()})
        for p in patients
    }


def build_report(evaluation: Evaluation, patient: str, version: GuidelineVersionInfo, *,
                 patient_lang: str | None = None, facts: bool = False) -> dict:
    """The JSON object of ``recommend --format json`` for one patient and guideline version."""
    return build_reports(evaluation, version, [patient], patient_lang=patient_lang, facts=facts)[patient]


def _assemble(
    evaluation: Evaluation, version: GuidelineVersionInfo, patient: str, shared: dict, mine: dict
) -> dict:
    explainer = Explainer(shared["criteria"], mine["outcomes"],
                          unread=any(w["code"] == UNCODED for w in mine["warnings"]))
    results = mine["results"]
    statements = shared["statements"]
    citations = shared["citations"]
    codes = shared["codes"]
    dosing_state = {r["d"]: r["link"].rsplit("#", 1)[-1] for r in mine["dosing_fails"]}  # holds/fails/undecided
    off = {d for d, link in dosing_state.items() if link == "fails"}  # dosing statements not for this patient
    administration = {i: [a for a in items if a["d"] not in off] for i, items in shared["administration"].items()}
    doses = grouped(mine["doses"], "res")  # one per weight-based dosing statement that holds
    stale_weights = grouped(mine["stale_weights"], "i")
    weighed_for = {(o["for"], o["m"]) for o in mine["orders"]}  # body weights ordered (rule 83), by statement
    suppression = grouped(mine["suppression"], "res")
    undetermined_by = grouped(mine["undetermined_by"], "res")
    applicable = [r["truth"] for r in mine["applicability"]]

    recommendations, not_recommended, undetermined = [], [], []
    for res in sorted(results, key=lambda r: _display_order(statements[r["r"]])):
        st = statements[res["r"]]
        intervention = {
            "iri": st["i"], "label": st["ilabel"], "kind": st.get("kind", "medication"),
            "codes": sorted(({"system": c["system"], "code": c["code"], "status": c["status"]}
                             for c in codes.get(st["i"], [])), key=lambda c: (c["system"], c["code"])),
        }
        if res["status"] == "suppressed":
            sup = suppression.get(res["res"], [])
            not_recommended.append({
                "iri": res["r"], "result": res["res"], "label": st["label"],  # the statement set aside, by name
                "intervention": st["ilabel"], "intervention_iri": st["i"],
                "reason": " ".join(sorted({s.get("reason", s.get("byLabel", s["by"])) for s in sup})),
                "suppressed_by": sorted({s["by"] for s in sup}),
            })
            continue
        if res["status"] == "undetermined":
            because = explainer.lines(st["crit"])
            for c, items in sorted(grouped(undetermined_by.get(res["res"], []), "c").items()):
                if c != st["crit"]:  # a statement that would prevail over this one is undecided
                    names = sorted({i.get("byLabel", i["by"]) for i in items if "by" in i})
                    what = ("prevails" if any(i.get("byKind") == "precedence" for i in items) or not names
                            else "applies and sets it aside")  # a precedence, or a not-indicated statement
                    because.append(f"undecided whether this {what}: {'; '.join(names) or c}")
                    because += ["  " + line for line in explainer.lines(c)]
            undetermined.append({"iri": res["r"], "result": res["res"], "label": st["label"],
                                 "summary": st.get("summary", st["label"]), "statement": st["text"],
                                 "criterion": _named(st["crit"]), "because": because})
            continue
        because = explainer.lines(st["crit"])
        by_kg = shared["weight_based"].get(st["i"], [])  # the intervention's weight-based dosing statements
        by_weight, pending = weighing(by_kg, dosing_state, res["r"], weighed_for)
        computed, wait = one_computed(doses.get(res["res"], []), by_kg, dosing_state)
        dose = None if wait else dose_of(
            st, computed, stale_weights, {st["i"]} if by_weight else set(), because,
            [f for f in shared["fixed_dosing"].get(st["i"], []) if f["d"] not in off] + pending, dosing_state,
            shared["doubts"]["verification"], explainer.lines)  # the dose node's own status
        because += [wait] if wait else []
        if dose is None and "doseValue" not in st and (line := none_applies(
                shared["fixed_dosing"].get(st["i"], []) + by_kg, dosing_state)):
            because.append(line)
        recommendations.append({
            "iri": res["r"], "result": res["res"], "statement": st["text"],
            "summary": st.get("summary", st["label"]), "label": st["label"], "intervention": intervention,
            "direction": st.get("dir"), "strength": st.get("strength"), "certainty": st.get("certainty"),
            "grades": shared["grades"].get(res["r"], []),
            "grading_note": st.get("grading"), "line": st.get("line"), "dose": dose,
            "frequency": (dose or {}).pop("frequency", None) or st.get("freq"), "route": st.get("route"),
            "administration": sorted({a["adm"] for a in administration.get(st["i"], []) if "adm" in a}),
            "criterion": _named(st["crit"]), "because": because, "citations": citations.get(res["r"], []),
            "cautions": shared["cautions"].get(res["r"], []),
        })
    suppressed = {}  # what each restriction suppressed for this patient
    for item in not_recommended:
        for by in item["suppressed_by"]:
            suppressed.setdefault(by, []).append(item["iri"])
    not_indicated, open_restrictions = restriction_items(mine["restrictions"], shared, explainer, suppressed)
    undetermined += open_restrictions
    not_met = []
    for res in sorted(mine["population_not_met"], key=lambda r: r["r"]):
        st = statements[res["r"]]
        not_met.append({
            "iri": res["r"], "result": res["res"], "label": st["label"], "statement": st["text"],
            "population": res.get("popLabel", res["prec"]), "precedence": res["prec"], "reason": res.get("reason"),
            "criterion": _named(st["crit"]), "because": explainer.lines(st["crit"]), "citations": citations.get(res["r"], []),
        })

    # no recommendation (rule 73); one not decided yet is listed as undetermined, with what it lacks
    insufficient, open_insufficient = insufficient_items(mine["insufficient"], shared, explainer)
    undetermined += open_insufficient
    mark_contradictions(recommendations, undetermined, mine["for_and_against"])  # for and against together
    orders = []
    for measure, items in sorted(grouped(mine["orders"], "m").items()):
        orders.append(
            {
                "measure": measure,
                "loinc": items[0]["loinc"],
                "label": items[0]["label"],
                "requirements": [{"iri": r, "instruction": t} for r, t in
                                 sorted({(i["req"], i["instruction"]) for i in items if "instruction" in i})],
                "instructions": sorted({i["instruction"] for i in items if "instruction" in i}),
                "needed_for": sorted({i["for"] for i in items}),
            }
        )
    monitoring = [{"iri": action, "label": min(i["label"] for i in items), "action": items[0]["text"],
                   "loinc": sorted({i["loinc"] for i in items}), "count": json_number(items[0].get("count")),
                   "interval": _interval(items[0]), "trigger": items[0].get("trigger"),
                   # why it applies to this patient (the facts and their dates: the earlier course it follows)
                   "because": explainer.lines(items[0]["crit"]) if "crit" in items[0] else []}
                  for action, items in sorted(grouped(mine["monitoring"], "a").items())]
    warnings = sorted(({"code": w["code"], "message": w["message"]} for w in mine["warnings"]),
                      key=lambda w: (w["code"], w["message"]))
    report = {
        "patient": patient,
        "as_of": evaluation.as_of.isoformat(),
        "guideline": {"iri": version.guideline, "version_iri": version.iri, "version": version.version,
                      "status": version.status, "label": version.label},
        "applicable": applicable == ["true"],
        "recommendations": recommendations,
        "not_recommended": not_recommended,
        "undetermined": undetermined,
        "not_indicated": not_indicated,
        "population_not_met": not_met,
        **({"insufficient_evidence": insufficient} if insufficient else {}),  # only when one applies
        "orders": orders,
        "monitoring": monitoring,
        "warnings": warnings,
        "provenance": {"run": evaluation.run_iri, "engine": evaluation.engine,
                       "rules_sha256": evaluation.knowledge.rules.sha256,
                       "content_sha256": evaluation.knowledge.sha256, "input_sha256": evaluation.input_sha256,
                       "source_sha256": evaluation.source_sha256},
    }
    report["applicability"] = (applicable or ["unknown"])[0]  # "true", "false" or "unknown" (coverage)
    # a record marked deceased is not evaluated (rule 15): said so, never "does not apply"; a guideline that applies
    # but none of whose statements does is said so, never an empty report
    report["deceased"] = any(w["code"] == "patient-deceased" for w in warnings)
    report["no_statement_applies"] = report["applicable"] and not any(report.get(k) for k in SAID)
    # why coverage is unknown or not met: the version's coverage criteria explained (the records behind an
    # unknown one; the facts, with their dates, that fail one: "age >= 6 months: false (age 5 months, ...)")
    report["applicability_because"] = [line for c in shared["coverage"].get(version.iri, []) for line in
                                       explainer.lines(c)] if report["applicability"] in ("unknown", "false") else []
    annotate(report, shared["doubts"], {i: [d for d in ds if d["iri"] not in off] for i, ds in shared["dosing"].items()})
    # each test's code with the status the content gives it (FHIR, from a report or results.jsonl, shows
    # verified ones only)
    for o in report["orders"]:
        o["codes"] = _codes((i for i in mine["orders"] if i["m"] == o["measure"]), "label")
    for item in report["monitoring"]:
        item["codes"] = _codes((i for i in mine["monitoring"] if i["a"] == item["iri"]), "mlabel")
    if "facts" not in shared and "lang" not in shared:
        return report
    criteria = {**{r: st["crit"] for r, st in statements.items()},
                **{ni: parts[0]["crit"] for ni, parts in shared["not_indicated"].items()},
                **{r["s"]: r["crit"] for r in mine["insufficient"]}}
    if "facts" in shared:  # what the FHIR rendering needs besides the documented JSON
        for key in ("recommendations", "not_indicated", "undetermined", "population_not_met"):
            for item in report[key]:
                item["facts"] = explainer.facts(criteria[item["iri"]])
        for item in report["undetermined"]:  # its own criterion's gaps, then those of a statement that may prevail
            own = criteria[item["iri"]]
            prevailing = sorted(c for c in grouped(undetermined_by.get(item.get("result"), []), "c") if c != own)
            found = [m for c in (own, *prevailing) for m in explainer.missing(c)]
            item["missing"] = [m for n, m in enumerate(found) if m not in found[:n]]
        for item in report["recommendations"]:
            item["dose_basis"] = statements[item["iri"]].get("basis")
        for item in report["not_indicated"]:
            item["intervention_kinds"] = sorted({p.get("kind", "medication") for p in shared["not_indicated"][item["iri"]]
                                                 if "ilabel" in p})
        inputs = {(w["code"], w["message"]) for w in mine["warnings"] if w.get("input") == "true"}
        about = grouped(mine["warning_about"], "code")
        for w in report["warnings"]:
            w["source"] = "input" if (w["code"], w["message"]) in inputs else "rules"
            w["about"] = sorted({a["about"] for a in about.get(w["code"], []) if a["message"] == w["message"]})
        # what a guideline version whose coverage is unknown lacks, as for an undecided statement's criterion
        coverage = shared["coverage"].get(version.iri, []) if report["applicability"] == "unknown" else []
        report["applicability_missing"] = [m for c in coverage for m in explainer.missing(c)]
        for m in [m for u in report["undetermined"] for m in u["missing"]] + report["applicability_missing"]:
            if m["kind"] == "measure":
                m["codes"] = _codes(shared["measure_codes"].get(m["measure"], []), "label")
            elif "criterion" in m:  # a diagnosis, procedure or medicine: its codes with their status (FHIR shows verified ones)
                m["codes"] = sorted(({k: c.get(k) for k in ("system", "code", "status")}
                                     for c in shared["record_codes"].get(m["criterion"], [])),
                                    key=lambda c: (c["system"], c["code"], c["status"] or ""))
    if "lang" in shared:
        report["patient_view"] = patient_view(report, explainer, shared["wording"], shared["lang"],
                                              criteria=criteria, applicability=(applicable or [None])[0])
    return report


def _codes(items, label_key: str) -> list[dict]:
    """A measure's LOINC code(s), each with a verification status the content gives it (``None``: none) and
    the measure's label (``label_key`` of the rows), once each. Whether a code may be shown is decided by the
    FHIR rendering alone (:func:`guidelinekg.report.fhirrequests.shown_codings`)."""
    labels: dict[tuple, str | None] = {}
    for i in items:
        key, label = (i["loinc"], i.get("status")), i.get(label_key)
        labels[key] = min((x for x in (labels.get(key), label) if x), default=None)
    return [{"system": LOINC, "code": code, "status": status, "label": labels[(code, status)]}
            for code, status in sorted(labels, key=lambda k: (k[0], k[1] or ""))]


def _interval(row: dict) -> dict | None:
    """A monitoring interval in one unit: either bound may be missing ("at least every 3 months": a
    maximum only, ``min`` null). A maximum in another unit than the minimum is converted to the minimum's
    (UCUM: 1 a = 12 mo); one that does not convert (not a duration: lint interval-not-duration) is null."""
    unit, high = row.get("unit", row.get("maxUnit")), row.get("max")
    if unit is None:  # no bound with a unit (the shapes require one)
        return None
    if "min" in row and high is not None and row.get("maxUnit", unit) != unit:
        try:
            scale, offset = ucum_conversion(row["maxUnit"], unit)
            high = str(Decimal(high) * scale + offset)  # json_number writes it plainly
        except (UnitConversionError, ArithmeticError):
            high = None
    return {"min": json_number(row.get("min")), "max": json_number(high), "unit": unit}


__all__ = ["build_report", "build_reports", "local"]
