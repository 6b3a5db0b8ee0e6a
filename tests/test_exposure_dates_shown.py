"""The dates of a medication record in an explanation, as recorded. Found in a trial: a course recorded with
``effectivePeriod.end`` "2025-12-10" was shown "from 2025-12-01 to 2025-12-11". The loader stores the end of a
day as the first instant after it (so a result drawn on 2025-12-10 counts as drawn on the course), and the
explanation printed that instant's day. It shows the last day the record covers: the day recorded; for a
dispense of 30 days' supply from 2025-12-01, 2025-12-30. An end recorded as an instant is shown as its day.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from guidelinekg.cli import main

EXAMPLE = json.loads((Path(__file__).parents[1] / "examples" / "patient-ferritin-45.json").read_text())
SUCROSE = {"text": "iron sucrose 100 MG in 5 ML Injection"}


def statement(rid: str, period: dict) -> dict:
    return {"resourceType": "MedicationStatement", "id": rid, "status": "completed", "effectivePeriod": period,
            "subject": {"reference": "Patient/example-1"}, "medicationCodeableConcept": SUCROSE}


RECORDS = [
    statement("day", {"start": "2025-12-01", "end": "2025-12-10"}),
    statement("instant", {"start": "2025-11-01T10:00:00+01:00", "end": "2025-11-02T00:00:00+01:00"}),
    statement("month", {"start": "2025-10", "end": "2025-10"}),
    {"resourceType": "MedicationDispense", "id": "supply", "status": "completed", "whenHandedOver": "2025-12-01",
     "daysSupply": {"value": 30, "unit": "day", "system": "http://unitsofmeasure.org", "code": "d"},
     "subject": {"reference": "Patient/example-1"}, "medicationCodeableConcept": SUCROSE},
]


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
def test_a_record_is_shown_to_the_last_day_it_covers(tmp_path, capsys, engine):
    doc = copy.deepcopy(EXAMPLE)
    doc["entry"] += [{"resource": r} for r in RECORDS]
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    capsys.readouterr()
    assert main(["recommend", str(path), "--as-of", "2026-01-15", "--engine", engine]) == 0
    text = capsys.readouterr().out
    [line] = {line.strip() for line in text.splitlines() if line.strip().startswith("IV iron course within")}
    for shown in ("MedicationStatement/day (iron sucrose, from 2025-12-01 to 2025-12-10)",
                  "MedicationStatement/instant (iron sucrose, from 2025-11-01 to 2025-11-02)",
                  "MedicationStatement/month (iron sucrose, from 2025-10-01 to 2025-10-31)",
                  "MedicationDispense/supply (iron sucrose, from 2025-12-01 to 2025-12-30)"):
        assert shown in line, line
