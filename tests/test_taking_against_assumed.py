"""Rule 89 on a course recorded as finished without its end: "may still be taking", not "is taking".

The loader assumes an end for such a record (patients/fhirmeds.py: a year after its start); a reviewer found
rule 89 still told the clinician the patient "is taking" the product on that guess alone, next to the note
saying when it ended is unknown. Uses the AASM 2024 example's case 023 (active pramipexole: the warning says
"is taking"), with the statement made completed and open-ended.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "examples" / "guidelines" / "aasm-rls-2024"
CASE = next((GUIDE / "cases").glob("023-*")) / "patient.json"


def warning_lines(tmp_path: Path, status: str) -> list[str]:
    doc = json.loads(CASE.read_text(encoding="utf-8"))
    for entry in doc["entry"]:
        if entry["resource"]["resourceType"] == "MedicationStatement":
            entry["resource"]["status"] = status
            entry["resource"].pop("effectiveDateTime", None)
            entry["resource"]["effectivePeriod"] = {"start": "2025-06-01"}
    path = tmp_path / "patient.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "guidelinekg.cli", "recommend", "--content", str(GUIDE),
                           "--as-of", "2026-02-01", str(path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return [line for line in done.stdout.splitlines() if "[taking-recommended-against]" in line]


@pytest.mark.parametrize(("status", "said"), [
    ("active", "The patient is taking "),  # in force: taken
    ("completed", "The patient may still be taking "),  # over, when not recorded: perhaps
])
def test_an_assumed_end_makes_the_warning_say_perhaps(tmp_path, status, said):
    lines = warning_lines(tmp_path, status)
    assert len(lines) == 1, lines
    assert said in lines[0], lines[0]
    assert ("when it ended is not recorded" in lines[0]) == (status == "completed"), lines[0]
