"""A monitoring action says why it applies to this patient, with the facts and their dates.

Found by a clinician: "serum phosphate before a repeat course within 3 months" was listed for a patient given
ferric carboxymaltose 16 days earlier without naming that infusion or its date, so the reader could not see
that the recommended course would be a repeat. The action's applicability is now explained under it (JSON
``because``; text lines under the item); an action for everyone (gkg:Always) has no such lines.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HOME = Path(__file__).resolve().parents[1]
EXAMPLE = HOME / "examples" / "patient-ferritin-45.json"
PHOSPHATE = "https://w3id.org/guidelinekg/guideline/rls-iron/mon-phosphate-repeat"


def _recommend(path: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "guidelinekg.cli", "recommend", str(path), "--as-of", "2026-02-01",
                           *extra], capture_output=True, text=True, cwd=HOME, check=False)


def test_the_repeat_course_check_names_the_earlier_infusion_and_its_date(tmp_path):
    doc = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    doc["entry"].append({"resource": {
        "resourceType": "MedicationAdministration", "id": "fcm-1", "status": "completed",
        "subject": {"reference": "Patient/example-1"}, "effectiveDateTime": "2026-01-16T10:00:00+01:00",
        "medicationCodeableConcept": {"text": "ferric carboxymaltose 1000 mg IV"}}})
    path = tmp_path / "patient.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    run = _recommend(path, "--format", "json")
    assert run.returncode == 0, run.stderr
    items = {m["iri"]: m for m in json.loads(run.stdout)["monitoring"]}
    [line] = items[PHOSPHATE]["because"]
    assert line.startswith("IV iron course within the last 3 months: true (MedicationAdministration/fcm-1 (")
    assert "from 2026-01-16" in line
    text = _recommend(path).stdout.splitlines()
    at = next(n for n, t in enumerate(text) if t.startswith("  - serum phosphate before a repeat course"))
    assert text[at + 1] == "    " + line


def test_an_action_without_a_course_before_is_not_listed_and_others_have_no_trigger_lines():
    run = _recommend(EXAMPLE, "--format", "json")
    assert run.returncode == 0, run.stderr
    items = {m["iri"]: m for m in json.loads(run.stdout)["monitoring"]}
    assert PHOSPHATE not in items
    # the surveillance of everyone treated (gkg:Always) has nothing to explain
    assert items["https://w3id.org/guidelinekg/guideline/rls-iron/mon-iron-studies"]["because"] == []
