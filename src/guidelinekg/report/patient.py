"""The patient report: read from the evaluation's result graph into one JSON-ready object.

The graph is the report; this module only selects from it (SPARQL) and shapes the selection into the
documented JSON structure (``docs/recommend.schema.json``). Sorting makes the output deterministic.
"""

from __future__ import annotations

from decimal import Decimal

from guidelinekg.report.explain import Criteria, Explainer
from guidelinekg.report.graphread import grouped, json_number, local, number, rows
from guidelinekg.engine.knowledge import GuidelineVersionInfo
from guidelinekg.engine.reasoning import Evaluation
from guidelinekg.patients.ucum import UnitConversionError, ucum_conversion

RESULTS = """
SELECT ?patient ?res ?r ?status ?kind WHERE {
  ?res a gkg:RecommendationResult ; gkg:forPatient ?patient ; gkg:instantiates ?r ; gkg:status ?s ;
       gkg:guidelineVersion $version .
  ?s skos:notation ?status .
  ?r a ?kind . FILTER(?kind IN (gkg:Recommendation))
}"""

STATEMENT = """
SELECT ?r ?text ?summary ?label ?dir ?strength ?certainty ?line ?grading ?crit ?i ?ilabel ?route
       ?doseValue ?doseUnit ?freq ?basis ?kind WHERE {
  ?r gkg:sourceText ?text ; gkg:applicability ?crit ; gkg:intervention ?i .
  # a label the content lacks (validate reports it) is the IRI, never a statement left out of the report
  OPTIONAL { ?r rdfs:label ?rlabel } BIND(COALESCE(?rlabel, STR(?r)) AS ?label)
  OPTIONAL { ?i rdfs:label ?il } BIND(COALESCE(?il, STR(?i)) AS ?ilabel)
  OPTIONAL { ?r gkg:summary ?summary }
  OPTIONAL { ?r gkg:direction ?d . ?d skos:notation ?dir }
  OPTIONAL { ?r gkg:strength ?s . ?s skos:notation ?strength }
  OPTIONAL { ?r gkg:certainty ?c . ?c skos:notation ?certainty }
  OPTIONAL { ?r gkg:lineOfTherapy ?l . ?l skos:notation ?line }
  OPTIONAL { ?r gkg:gradingNotStated ?grading }
  OPTIONAL { ?i gkg:route ?ro . ?ro rdfs:label ?route }
  OPTIONAL { ?i gkg:dose ?dose . ?dose gkg:value ?doseValue ; gkg:unit ?doseUnit }
  OPTIONAL { ?i gkg:frequency ?freq }
  OPTIONAL { ?i gkg:dose ?dose2 . ?dose2 gkg:doseBasis ?basis }
  OPTIONAL { ?i a/rdfs:subClassOf* ?ik .  # what an intervention that is not a medicine is (or a subclass of)
             VALUES (?ik ?kind) { (gkg:TestOrder "test") (gkg:Referral "referral") (gkg:DiagnosisRecord "diagnosis")
                                  (gkg:Advice "advice") (gkg:Procedure "procedure") } }
}"""

CODES = """
SELECT ?i ?system ?code ?status WHERE {
  ?i a/rdfs:subClassOf* gkg:Intervention .
  { { ?i gkg:substance ?s . ?s gkg:code ?c . } UNION { ?i gkg:code ?c . }  # a medicine's, or a referral's ...
    ?c gkg:codeSystem ?system ; skos:notation ?code ; gkg:verificationStatus ?vs . ?vs skos:notation ?status . }
  UNION { ?i gkg:ordersMeasure ?m . ?m gkg:loincCode ?code ; gkg:verificationStatus ?vs .  # a test order's test
          ?vs skos:notation ?status . BIND("http://loinc.org" AS ?system) }
}"""

# A statement's grades in its guideline's own grading system, each with its GRADE equivalent when the
# content maps the grade to one (skos:exactMatch / skos:closeMatch).
GRADES = """
SELECT ?r ?notation ?glabel ?axis ?system ?systemLabel ?mapped ?match WHERE {
  ?r gkg:grade ?g . ?g skos:notation ?notation ; gkg:gradeAxis ?ax ; skos:inScheme ?system . ?ax skos:notation ?axis .
  # one label each: the smallest English or untagged one (a report never lists a grade twice)
  OPTIONAL { SELECT ?g (MIN(?l) AS ?glabel) WHERE { ?g skos:prefLabel|rdfs:label ?l .
             FILTER(LANG(?l) = "" || LANGMATCHES(LANG(?l), "en")) } GROUP BY ?g }
  OPTIONAL { SELECT ?system (MIN(?sl) AS ?systemLabel) WHERE { ?system rdfs:label ?sl .
             FILTER(LANG(?sl) = "" || LANGMATCHES(LANG(?sl), "en")) } GROUP BY ?system }
  OPTIONAL { { ?g skos:exactMatch ?m . BIND("exact" AS ?match) } UNION { ?g skos:closeMatch ?m . BIND("close" AS ?match) }
             ?m skos:notation ?mapped . FILTER(?m IN (gkg:Strong, gkg:Conditional, gkg:HighCertainty,
                                                     gkg:ModerateCertainty, gkg:LowCertainty, gkg:VeryLowCertainty)) }
}"""

ADMINISTRATION = """
SELECT ?i ?d ?text ?adm WHERE {
  ?d a gkg:DosingStatement ; gkg:dosingFor ?i ; gkg:sourceText ?text .
  OPTIONAL { ?d gkg:administration ?a . ?a gkg:instructionText ?adm }
}"""

CITATIONS = """
SELECT ?s ?kind ?n ?resolution ?work WHERE {
  { ?s gkg:citesReference ?ref . ?ref gkg:referenceNumber ?n ; gkg:resolutionStatus ?rs .
    ?rs rdfs:label ?resolution . BIND("reference" AS ?kind)
    OPTIONAL { ?ref gkg:resolvesTo ?work } }
  UNION { ?s gkg:citation ?work . BIND("citation" AS ?kind) }
  UNION { ?s gkg:verifiedAgainst ?work . BIND("verified-against" AS ?kind) }
}"""

WORKS = """
SELECT ?work ?title ?year ?doi ?pmid ?sourceKind WHERE {
  ?work a gkg:Citation .
  OPTIONAL { ?work gkg:title ?title } OPTIONAL { ?work gkg:year ?year }
  OPTIONAL { ?work bibo:doi ?doi } OPTIONAL { ?work bibo:pmid ?pmid }
  OPTIONAL { ?work gkg:sourceKind ?sk . ?sk skos:notation ?sourceKind }
}"""

DOSES = """
SELECT ?patient ?res ?value ?unit ?weight ?capped ?perKg ?perUnit ?max ?maxUnit ?dtext ?exact ?rounding
       ?roundingStatus ?weightTime ?weightId WHERE {
  ?res gkg:computedDose ?dose . ?res gkg:forPatient ?patient .  # the rare property first: 8x faster
  ?dose gkg:doseValue ?value ; gkg:doseUnit ?unit ; gkg:bodyWeight ?weight ; gkg:capped ?capped ;
        gkg:dosingStatement ?d .
  ?d gkg:dose ?wbd ; gkg:sourceText ?dtext . ?wbd gkg:perKg ?perKg ; gkg:unit ?perUnit .
  OPTIONAL { ?wbd gkg:maximumDose ?m . ?m gkg:value ?max ; gkg:unit ?maxUnit }
  OPTIONAL { ?dose gkg:exactDose ?exact }
  OPTIONAL { ?dose gkg:roundedBy ?r . ?r rdfs:label ?rounding
             OPTIONAL { ?r gkg:verificationStatus ?vs . ?vs rdfs:label ?roundingStatus } }
  OPTIONAL { ?dose prov:wasDerivedFrom ?wo . ?wo a gkg:Observation ; gkg:effectiveTime ?weightTime .
             OPTIONAL { ?wo gkg:identifier ?weightId } }  # the body weight the dose was computed from
}"""

# A weight-based dose not computed because the patient's latest weight is too old for it (rule 32).
STALE_WEIGHTS = """
SELECT ?patient ?i ?value ?unit ?time ?max WHERE {
  ?latest gkg:tooOldFor ?wbd ; gkg:forPatient ?patient ; gkg:observation ?o ; gkg:observedValue ?value .
  ?d gkg:dose ?wbd ; gkg:dosingFor ?i . ?wbd gkg:weightMeasure ?m ; gkg:appliedAgeLimit ?limit .
  ?limit gkg:maximumAgeDays ?max .
  ?m gkg:canonicalUnit ?unit . ?o gkg:effectiveTime ?time .
}"""

WEIGHT_BASED = """SELECT ?i WHERE { ?d gkg:dosingFor ?i ; gkg:dose ?w . ?w a gkg:WeightBasedDose }"""

SUPPRESSION = """
SELECT ?patient ?res ?by ?reason ?byLabel WHERE {
  ?res gkg:suppressedBy ?by . ?res gkg:forPatient ?patient .  # the rare property first: 10x faster
  OPTIONAL { ?by gkg:reason ?reason } OPTIONAL { ?by gkg:sourceText ?reason }
  OPTIONAL { ?by rdfs:label ?byLabel }
}"""

# Why an undetermined recommendation is undetermined besides its own criterion: an undecided precedence
# or restriction (rules 62, 65) that would prevail over it.
UNDETERMINED_BY = """
SELECT ?patient ?res ?c ?by ?byLabel WHERE {
  ?res gkg:undeterminedBecause ?o ; gkg:forPatient ?patient ; gkg:instantiates ?r .
  ?o gkg:criterion ?c .
  OPTIONAL {
    { ?by gkg:precedenceWhen ?c ; gkg:prevailsOver ?r } UNION { ?by gkg:applicability ?c ; gkg:restrictsRecommendation ?r }
    OPTIONAL { ?by rdfs:label ?byLabel }
  }
}"""

ORDERS = """
SELECT ?patient ?order ?m ?loinc ?label ?instruction ?for WHERE {
  ?order a gkg:Order ; gkg:forPatient ?patient ; gkg:measure ?m ; gkg:orderedFor ?res .
  ?res gkg:instantiates ?for .
  ?m gkg:loincCode ?loinc ; rdfs:label ?label .
  OPTIONAL { ?req gkg:appliesToMeasure ?m ; gkg:instruction ?instruction .
             ?st gkg:requirement ?req ; gkg:inVersion $version . }
}"""

MONITORING = """
SELECT ?patient ?a ?text ?label ?loinc ?min ?max ?unit ?maxUnit ?trigger WHERE {
  ?item a gkg:MonitoringItem ; gkg:forPatient ?patient ; gkg:instantiates ?a ; gkg:guidelineVersion $version .
  ?a gkg:sourceText ?text ; rdfs:label ?label ; gkg:monitors ?m . ?m gkg:loincCode ?loinc .
  OPTIONAL { ?a gkg:intervalMin ?qmin . ?qmin gkg:value ?min ; gkg:unit ?unit }
  OPTIONAL { ?a gkg:intervalMax ?qmax . ?qmax gkg:value ?max OPTIONAL { ?qmax gkg:unit ?maxUnit } }
  OPTIONAL { ?a gkg:monitoringTrigger ?trigger }
}"""

WARNINGS = """
SELECT ?patient ?w ?code ?message WHERE {
  ?w a gkg:Warning ; gkg:forPatient ?patient ; gkg:warningCode ?code ; gkg:message ?message .
}"""

APPLICABILITY = """
SELECT ?patient ?truth WHERE { ?a a gkg:Applicability ; gkg:forPatient ?patient ; gkg:guidelineVersion $version ;
  gkg:truth ?t . ?t skos:notation ?truth }"""


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
    selected once per knowledge base, from its knowledge-only store (read-only afterwards)."""
    return {
        "criteria": Criteria.read(store),
        "statements": {r["r"]: r for r in rows(store, STATEMENT)},
        "citations": _citations(store),
        "codes": grouped(rows(store, CODES), "i"),
        "administration": grouped(rows(store, ADMINISTRATION), "i"),
        "grades": {r: sorted(({"system": g.get("systemLabel", g["system"]), "axis": g["axis"], "grade": g["notation"],
                               "label": g.get("glabel"), "grade_equivalent": g.get("mapped"),
                               "mapping": g.get("match")} for g in items),
                             key=lambda g: (g["axis"] != "strength", g["system"], g["grade"]))
                   for r, items in grouped(rows(store, GRADES), "r").items()},
        "weight_based": {r["i"] for r in rows(store, WEIGHT_BASED)},
    }


LINE_RANK = {"first-line": 0, None: 1, "alternative": 2}
STRENGTH_RANK = {"strong": 0, "conditional": 1, None: 2}


def _display_order(statement: dict) -> tuple:
    """First-line before alternatives, strong before conditional, then by IRI (deterministic)."""
    return (LINE_RANK.get(statement.get("line"), 1), STRENGTH_RANK.get(statement.get("strength"), 2), statement["r"])


def build_reports(
    evaluation: Evaluation, version: GuidelineVersionInfo, patients: list[str] | None = None
) -> dict[str, dict]:
    """The JSON objects of ``recommend --format json`` for every (or the given) patient of an evaluation.

    One set of queries serves a whole batch: the cohort runs the same code as ``recommend``. Without
    ``patients``, every patient of the evaluation (the only patients in its store): no restriction needed.
    """
    store = evaluation.store
    wanted = sorted(patients) if patients is not None else None
    patients = wanted if wanted is not None else sorted(evaluation.patient_iris)
    scope = {"patients": wanted, "version": version.iri}
    shared = evaluation.knowledge.memo("report-guideline-parts", _guideline_parts)
    per_patient = {
        "results": grouped(rows(store, RESULTS, **scope), "patient"),
        "outcomes": Explainer.outcome_rows(store, wanted),
        "doses": grouped(rows(store, DOSES, **scope), "patient"),
        "stale_weights": grouped(rows(store, STALE_WEIGHTS, **scope), "patient"),
        "suppression": grouped(rows(store, SUPPRESSION, **scope), "patient"),
        "undetermined_by": grouped(rows(store, UNDETERMINED_BY, **scope), "patient"),
        "orders": grouped(rows(store, ORDERS, **scope), "patient"),
        "monitoring": grouped(rows(store, MONITORING, **scope), "patient"),
        "warnings": grouped(rows(store, WARNINGS, **scope), "patient"),
        "applicability": grouped(rows(store, APPLICABILITY, **scope), "patient"),
    }
    return {
        p: _assemble(evaluation, version, p, shared, {k: v.get(p, []) for k, v in per_patient.items()})
        for p in patients
    }


def build_report(evaluation: Evaluation, patient: str, version: GuidelineVersionInfo) -> dict:
    """The JSON object of ``recommend --format json`` for one patient and guideline version."""
    return build_reports(evaluation, version, [patient])[patient]


def _assemble(
    evaluation: Evaluation, version: GuidelineVersionInfo, patient: str, shared: dict, mine: dict
) -> dict:
    explainer = Explainer(shared["criteria"], mine["outcomes"])
    results = mine["results"]
    statements = shared["statements"]
    citations = shared["citations"]
    codes = shared["codes"]
    administration = shared["administration"]
    doses = {d["res"]: d for d in mine["doses"]}
    stale_weights = grouped(mine["stale_weights"], "i")
    weight_based = shared["weight_based"]
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
                "iri": res["r"], "result": res["res"], "intervention": st["ilabel"],
                "reason": " ".join(sorted({s.get("reason", s.get("byLabel", s["by"])) for s in sup})),
                "suppressed_by": sorted({s["by"] for s in sup}),
            })
            continue
        if res["status"] == "undetermined":
            because = explainer.lines(st["crit"])
            for c, items in sorted(grouped(undetermined_by.get(res["res"], []), "c").items()):
                if c != st["crit"]:  # a statement that would prevail over this one is undecided
                    names = sorted({i.get("byLabel", i["by"]) for i in items if "by" in i})
                    because.append(f"undecided whether this prevails: {'; '.join(names) or c}")
                    because += ["  " + line for line in explainer.lines(c)]
            undetermined.append({"iri": res["r"], "result": res["res"], "statement": st["text"],
                                 "because": because})
            continue
        dose = None
        because = explainer.lines(st["crit"])
        if res["res"] in doses:
            d = doses[res["res"]]
            dose = {"value": json_number(d["value"]), "unit": d["unit"]}
            cap = (
                f", capped at the maximum {number(d['max'])} {d['maxUnit']}" if d["capped"] == "true" else ""
            )
            raw = number(str(Decimal(d["perKg"]) * Decimal(d["weight"])))
            if "rounding" in d and Decimal(d.get("exact", d["value"])) != Decimal(d["value"]):
                # the rounding of the graph that changed the dose (cited, or a project assumption: said so)
                cap += f", {d['rounding']}" + (f" ({d['roundingStatus']})" if "roundingStatus" in d else "")
            weighed = ""  # the date of the body weight used, as of every fact
            if "weightTime" in d:
                weighed = f" (weighed on {d['weightTime'][:10]}{', ' + d['weightId'] if 'weightId' in d else ''})"
            because.append(f"dose: {number(d['perKg'])} {d['perUnit']} x {number(d['weight'])} kg{weighed} = "
                           f"{raw} {d['unit']}{cap}; dose {number(d['value'])} {d['unit']} ({d['dtext']})")
        elif st["i"] in stale_weights:  # too old to dose from (rule 32): say which weight and why
            w = stale_weights[st["i"]][0]
            because.append(f"dose: weight-based; the latest body weight, {number(w['value'])} {w['unit']} "
                           f"on {w['time'][:10]}, is older than the {w['max']} days accepted, so it is not "
                           "used and the dose is not computed (body weight ordered)")
        elif st["i"] in weight_based:
            because.append("dose: weight-based; no usable body weight, so it is not computed (body weight ordered)")
        elif "doseValue" in st:
            dose = {"value": json_number(st["doseValue"]), "unit": st["doseUnit"]}
        recommendations.append({
            "iri": res["r"], "result": res["res"], "statement": st["text"],
            "summary": st.get("summary", st["label"]), "label": st["label"], "intervention": intervention,
            "direction": st.get("dir"), "strength": st.get("strength"), "certainty": st.get("certainty"),
            "grades": shared["grades"].get(res["r"], []),
            "grading_note": st.get("grading"), "line": st.get("line"), "dose": dose,
            "frequency": st.get("freq"), "route": st.get("route"),
            "administration": sorted({a["adm"] for a in administration.get(st["i"], []) if "adm" in a}),
            "because": because, "citations": citations.get(res["r"], []),
        })

    orders = []
    for measure, items in sorted(grouped(mine["orders"], "m").items()):
        orders.append(
            {
                "loinc": items[0]["loinc"],
                "label": items[0]["label"],
                "instructions": sorted({i["instruction"] for i in items if "instruction" in i}),
                "needed_for": sorted({i["for"] for i in items}),
            }
        )
    monitoring = []
    for action, items in sorted(grouped(mine["monitoring"], "a").items()):
        first = items[0]
        monitoring.append(
            {
                "iri": action,
                "action": first["text"],
                "loinc": sorted({i["loinc"] for i in items}),
                "interval": _interval(first),
                "trigger": first.get("trigger"),
            }
        )
    warnings = sorted(
        ({"code": w["code"], "message": w["message"]} for w in mine["warnings"]),
        key=lambda w: (w["code"], w["message"]),
    )
    return {
        "patient": patient,
        "as_of": evaluation.as_of.isoformat(),
        "guideline": {"iri": version.guideline, "version_iri": version.iri, "version": version.version,
                      "status": version.status, "label": version.label},
        "applicable": applicable == ["true"],
        "recommendations": recommendations,
        "not_recommended": not_recommended,
        "undetermined": undetermined,
        "orders": orders,
        "monitoring": monitoring,
        "warnings": warnings,
        "provenance": {"run": evaluation.run_iri, "engine": evaluation.engine,
                       "rules_sha256": evaluation.knowledge.rules.sha256,
                       "content_sha256": evaluation.knowledge.sha256, "input_sha256": evaluation.input_sha256,
                       "source_sha256": evaluation.source_sha256},
    }


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
