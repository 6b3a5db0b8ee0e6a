"""``summary.csv`` of a cohort: how many patients got each outcome, from their report objects.

One definition for the cohort, which writes the file, and the audit, which recomputes it from the replay.
"""

from __future__ import annotations

import csv
import io
from collections import Counter

from guidelinekg.report.doses import NOT_STATED


def summary_counts(reports: list[dict]) -> list[tuple[str, str, int]]:
    """How many patients got each recommendation, not-recommended, undetermined, not-indicated,
    population-not-met or insufficient-evidence statement, order, monitoring action, warning code, and "guideline not applicable"
    (the guideline does not cover them), "applicability unknown" (whether it does is not known yet) or
    "deceased" (the record is marked deceased on or before the as-of date: not evaluated, never counted as
    not applicable), or "no statement applies" (covered, but none of its statements applies: a value in a gap
    between its thresholds), and each recommendation made without the dose it has ("recommendation_dose_not_stated":
    the data that decide the dose are missing or its dosing statements undecided) (rows of ``summary.csv``),
    sorted."""
    counts: Counter = Counter()
    for report in reports:
        for key in ("recommendations", "not_recommended", "undetermined", "not_indicated", "population_not_met",
                    "insufficient_evidence"):
            kind = "recommendation" if key == "recommendations" else key
            counts.update((kind, r["iri"]) for r in report.get(key, ()))
        # made, but without the dose it has (a weight or a dosing criterion missing): not the same as dosed
        counts.update(("recommendation_dose_not_stated", r["iri"]) for r in report.get("recommendations", ())
                      if r.get("dose") is None and any(line.startswith(NOT_STATED) for line in r.get("because", ())))
        counts.update(("order", o["loinc"]) for o in report["orders"])
        counts.update(("monitoring", m.get("iri") or m["action"]) for m in report.get("monitoring", ()))
        counts.update(("warning", code) for code in {w["code"] for w in report["warnings"]})
        if report.get("deceased") or any(w["code"] == "patient-deceased" for w in report["warnings"]):
            counts[("deceased", "guideline")] += 1
        elif not report["applicable"]:
            unknown = report.get("applicability") == "unknown"
            counts[("applicability_unknown" if unknown else "not_applicable", "guideline")] += 1
        elif report.get("no_statement_applies"):  # covered, but in a gap between its statements
            counts[("no_statement_applies", "guideline")] += 1
    return [(kind, item, n) for (kind, item), n in sorted(counts.items())]


def summary_csv(counts: Counter, bad_records: int | None) -> str:
    """``summary.csv`` as the cohort writes it (``bad_records`` None: that row left out)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["kind", "item", "patients"])
    for (kind, item), n in sorted(counts.items()):
        writer.writerow([kind, item, n])
    if bad_records is not None:
        writer.writerow(["bad_records", "all", bad_records])
    return buffer.getvalue()
