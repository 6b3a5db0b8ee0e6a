"""Many results of one measure at one instant with different values (rule 31): ONE warning per patient,
measure and instant, bounded in size, derived from every one of them; the measure unknown (rule 30 takes
none), its test ordered, the unknown criteria linked to the warning (rule 42). The rule once warned per
pair of results: 60 results gave 1,770 warnings, and an attacker's 1,000 took 200 s and 13 GB. On both
engines, from the example patient (examples/patient-ferritin-45.json) with results added."""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path

import pytest

from guidelinekg.engine.reasoning import evaluate
from guidelinekg.patients.loader import load_patient_input
from guidelinekg.report.patient import build_report

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "patient-ferritin-45.json"
AS_OF = date(2026, 1, 15)
CODE = "simultaneous-results-differ"
FERRITIN, TSAT = "https://loinc.org/2276-4", "https://loinc.org/2502-3"


def copies(bundle: dict, source: str, values: list, prefix: str, when: str | None = None) -> None:
    """Adds a copy of the result ``source`` per value (ids ``prefix0``, ``prefix1`` ...), at ``when`` if given."""
    [original] = [e for e in bundle["entry"] if e["resource"].get("id") == source]
    for i, value in enumerate(values):
        entry = copy.deepcopy(original)
        entry["resource"]["id"] = f"{prefix}{i}"
        entry["resource"]["valueQuantity"]["value"] = value
        if when:
            entry["resource"]["effectiveDateTime"] = when
        bundle["entry"].append(entry)


def run(kb, tmp_path: Path, bundle: dict, engine: str):
    path = tmp_path / "patient.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    patient = load_patient_input(path, matcher=kb.matcher, measures=kb.measures, reads=kb.reads)
    evaluation = evaluate(kb, [patient], as_of=AS_OF, engine=engine)
    return evaluation, patient.patient_iri, build_report(evaluation, patient.patient_iri, kb.version())


def warnings(report: dict) -> list[str]:
    return [w["message"] for w in report["warnings"] if w["code"] == CODE]


def select(evaluation, sparql: str) -> list[dict[str, str]]:
    prefixes = ("PREFIX gkg: <https://w3id.org/guidelinekg/ontology#>\n"
                "PREFIX prov: <http://www.w3.org/ns/prov#>\n")
    return evaluation.store.select_values(prefixes + sparql)


def example() -> dict:
    return json.loads(EXAMPLE.read_text(encoding="utf-8"))


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
def test_sixty_results_at_one_instant_give_one_warning_and_the_measure_unknown(kb, tmp_path, engine):
    bundle = example()  # ferritin-1: 45 ng/mL at 2026-01-08T08:15:00+01:00; 60 more at that instant, 40..99
    copies(bundle, "ferritin-1", list(range(40, 100)), "fs")
    evaluation, patient, report = run(kb, tmp_path, bundle, engine)

    [message] = warnings(report)  # one, not one per pair (1,770)
    assert message.startswith("serum ferritin results at 2026-01-08T08:15:00+01:00 differ: "
                              "45 ng/mL (Observation/ferritin-1), 49 ng/mL (Observation/fs9) "
                              "and 59 more (61 results, 60 different values); "
                              "none is used as the latest result"), message
    assert len(message) < 400
    # the measure is unknown: no latest ferritin, every ferritin threshold unknown, ferritin ordered
    assert not select(evaluation, f"SELECT ?l WHERE {{ ?l a gkg:LatestResult ; gkg:measure <{FERRITIN}> }}")
    truths = select(evaluation, f"""SELECT ?c ?truth WHERE {{
        ?c gkg:onMeasure <{FERRITIN}> . ?out gkg:criterion ?c ; gkg:forPatient <{patient}> ; gkg:truth ?truth }}""")
    assert truths and {t["truth"].rsplit("#", 1)[-1] for t in truths} == {"Unknown"}, truths
    assert "2276-4" in [o["loinc"] for o in report["orders"]]
    # the one warning is derived from every result at the instant, and explains each unknown criterion
    [row] = select(evaluation, f"""SELECT (COUNT(DISTINCT ?w) AS ?warnings) (COUNT(DISTINCT ?o) AS ?results) WHERE {{
        ?w gkg:warningCode "{CODE}" ; prov:wasDerivedFrom ?o }}""")
    assert (row["warnings"], row["results"]) == ("1", "61")
    linked = select(evaluation, f"""SELECT DISTINCT ?c WHERE {{
        ?w gkg:warningCode "{CODE}" . ?out prov:wasDerivedFrom ?w ; gkg:criterion ?c ; gkg:truth gkg:Unknown }}""")
    assert {r["c"] for r in linked} == {t["c"] for t in truths}
    because = [line for item in report["undetermined"] for line in item["because"] if "differ:" in line]
    assert because and all(line.count(" differ: ") == 1 for line in because)  # the message once, not 1,770 times


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
def test_one_warning_per_measure_at_its_latest_instant(kb, tmp_path, engine):
    bundle = example()
    copies(bundle, "ferritin-1", list(range(40, 100)), "fs")
    # an older instant with differing ferritins is superseded: no warning for it
    copies(bundle, "ferritin-1", [10, 20, 30], "old", when="2025-12-01T08:00:00Z")
    copies(bundle, "tsat-1", [19, 25], "ts")  # TSAT 18, 19 and 25 at its latest instant
    _, _, report = run(kb, tmp_path, bundle, engine)
    messages = sorted(warnings(report))
    assert len(messages) == 2, messages
    assert messages[0].startswith("serum ferritin results at 2026-01-08T08:15:00+01:00 differ: ")
    assert messages[1] == ("transferrin saturation results at 2026-01-08T08:15:00+01:00 differ: "
                           "19 % (Observation/ts0), 18 % (Observation/tsat-1) and 1 more "
                           "(3 results, 3 different values); "
                           "none is used as the latest result."), messages[1]


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
def test_many_equal_results_at_one_instant_are_duplicates(kb, tmp_path, engine):
    bundle = example()
    copies(bundle, "ferritin-1", [45] * 60, "dup")
    _, _, report = run(kb, tmp_path, bundle, engine)
    assert warnings(report) == []
    assert "2276-4" not in [o["loinc"] for o in report["orders"]]  # 45 ng/mL is used as the latest result
