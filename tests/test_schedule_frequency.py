"""A dose given on a schedule says when: the schedule's label stands for the frequency when none is given.

Found by a clinician: "FCM maintenance 500 mg" in heart failure was shown as "dose 500 mg, intravenous" with
a null frequency, although the content records its gkg:schedule ("at 12, 24 and 36 weeks", gkg:atWeek) and the
source gives it; a maintenance dose without its weeks reads as a single dose now.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HOME = Path(__file__).resolve().parents[1]
CASE = HOME / "tests" / "cases" / "040-hf-ferritin-90"
HF = "https://w3id.org/guidelinekg/guideline/rls-iron/rec-hf-maintenance"


def _recommend(fmt: str) -> str:
    patient = next(p for p in CASE.iterdir() if p.name.startswith("patient"))
    run = subprocess.run([sys.executable, "-m", "guidelinekg.cli", "recommend", str(patient), "--as-of",
                          "2026-02-01", "--format", fmt], capture_output=True, text=True, cwd=HOME, check=False)
    assert run.returncode == 0, run.stderr
    return run.stdout


def test_the_schedule_is_the_frequency_in_json_and_fhir():
    [rec] = [r for r in json.loads(_recommend("json"))["recommendations"] if r["iri"] == HF]
    assert (rec["dose"], rec["frequency"]) == ({"value": 500, "unit": "mg"}, "at 12, 24 and 36 weeks")
    bundle = json.loads(_recommend("fhir"))
    [request] = [e["resource"] for e in bundle["entry"] if e["resource"].get("instantiatesCanonical") == [HF]]
    assert request["dosageInstruction"][0]["timing"] == {"code": {"text": "at 12, 24 and 36 weeks"}}
