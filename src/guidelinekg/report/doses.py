"""A recommendation's dose for one patient, and the lines that explain it (split from :mod:`report.patient`).

In order: a weight-based dose the rules computed (rule 82), with its arithmetic, rounding and the weight's date;
a weight-based dose not computed (its dosing statement holds for the patient, but the weight is too old, or
there is none: body weight ordered); the intervention's own
fixed dose; else the fixed dose of the dosing statement that applies to the patient (``gkg:applicability``
true, or none): one dose when every such statement gives the same; none, said why, when a statement that
would give it is undecided (its criterion unknown; a weight-based one withholds even the intervention's own
dose) or the ones that apply give different doses. A weight-based statement that fails for
the patient gives nothing: a fixed one does; when every statement fails, the line says so.

A dose given carries the verification status its own node records (``gkg:verificationStatus`` and
``gkg:verificationNote`` on the ``gkg:Dose`` or ``gkg:WeightBasedDose``; :mod:`report.doubts` reads them) as
``verification``, only when one is recorded: a dose that is a project assumption says so beside the dose,
whatever the grade of the statement. Fixed doses of several statements that agree on the amount but record
different statuses carry the least checked one.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from guidelinekg.report.graphread import dated, json_number, number


# how a dose line begins when the recommendation has a dose but it is not stated for this patient (data
# missing, dosing statements undecided or differing): report.summary counts such recommendations
NOT_STATED = ("dose: not stated", "dose: weight-based;")


def dose_of(st: dict, d: dict | None, stale_weights: dict, weight_based: set, because: list[str],
            fixed: list[dict], state: dict[str, str], statuses: dict[str, dict] | None = None,
            explain: Callable[[str], list[str]] | None = None) -> dict | None:
    """The dose of statement row ``st`` (``d``: its computed dose row, if any), appending to ``because``.
    ``fixed``: the fixed doses of the intervention's dosing statements that do not fail for the patient;
    ``state``: each dosing statement's applicability (holds, fails, undecided); ``statuses``: each node's
    verification status (:func:`report.doubts.read_doubts`), for the dose node's own; ``explain``: a
    criterion's explanation lines, for why the dosing statements that give the dose (or are undecided) apply."""
    dose = _dose(st, d, stale_weights, weight_based, because, fixed, state, explain)
    if dose is not None:  # what the amount is of (an element of a salt), from the dose node it came from
        bases = ([d.get("basis")] if d is not None else [st.get("basis")] if "doseValue" in st
                 else [f.get("basis") for f in fixed])
        if basis := next((b for b in bases if b), None):
            dose["basis"] = basis
    if dose is not None and statuses:
        shaping = []  # the maximum that capped a computed dose and the rounding that changed it
        if d is not None:  # computed from the weight-based dose of its dosing statement
            nodes = [d.get("wbd")]
            if d.get("capped") == "true" or d.get("keptUnder") == "true":
                shaping.append(d.get("m"))
            if "r" in d and Decimal(d.get("exact", d["value"])) != Decimal(d["value"]):
                shaping.append(d["r"])
        elif "doseValue" in st:  # the intervention's own fixed dose
            nodes = [st.get("doseNode")]
        else:  # the fixed dose of the dosing statements that apply (one amount)
            nodes = [f.get("x") for f in fixed]
        recorded = [statuses[n] for n in nodes if n in statuses]
        doubtful = [statuses[n] for n in shaping if n in statuses and statuses[n].get("status") in DOUBTFUL]
        if recorded or doubtful:  # a verified cap or rounding never lends a dose a status it does not record
            dose["verification"] = min(recorded + doubtful, key=_checked)
    return dose


def _status(row: dict, key: str) -> str:
    """" (unverified)": the status of a node of the dose's computation, where its verification is recorded."""
    return f" ({row[key]})" if key in row else ""


# from the least checked to the most: a dose that is in part an assumption is shown as one
_ORDER = ("ASSUMPTION", "UNVERIFIED", "SOURCE-ONLY", "SECONDARY", "PRIMARY")
DOUBTFUL = ("ASSUMPTION", "UNVERIFIED")  # a cap's or rounding's status a dose always shows


def _checked(verification: dict) -> tuple:
    status = verification.get("status")
    return (_ORDER.index(status) if status in _ORDER else -1, verification["iri"], verification.get("note") or "")


def _dose(st, d, stale_weights, weight_based, because, fixed, state, explain) -> dict | None:
    dose = None
    if d is not None:
        dose = {"value": json_number(d["value"]), "unit": d["unit"]}
        if "freq" in d:  # the weight-based dose's own frequency
            dose["frequency"] = d["freq"]
        cap = (
            f", capped at the maximum {number(d['max'])} {d['maxUnit']}" + _status(d, "maxStatus")
            if d["capped"] == "true" else ""
        )
        raw = number(str(Decimal(d["perKg"]) * Decimal(d["weight"])))
        if "rounding" in d and Decimal(d.get("exact", d["value"])) != Decimal(d["value"]):
            # the rounding of the graph that changed the dose (cited, or a project assumption: said so)
            cap += f", {d['rounding']}" + _status(d, "roundingStatus")
            if d.get("keptUnder") == "true":  # rounded up past the maximum: the multiple below it instead
                cap += (f", down instead, so as not to exceed the maximum {number(d['max'])} {d['maxUnit']}"
                        + _status(d, "maxStatus"))
        weighed = ""  # the date of the body weight used, as of every fact
        if "weightTime" in d:
            source = f", {d['weightId']}" if "weightId" in d else ""
            weighed = f" (weighed {dated(d['weightTime'], d.get('weightSpanEnd'))}{source})"
        final = f"; dose {number(d['value'])} {d['unit']}" if cap or raw != number(d["value"]) else ""
        because.append(f"dose: {number(d['perKg'])} {d['perUnit']} x {number(d['weight'])} kg{weighed} = "
                       f"{raw} {d['unit']}{cap}{final} ({d['dtext']})")
    elif st["i"] in weight_based and st["i"] in stale_weights:  # too old to dose from (rule 32): which and why
        w = stale_weights[st["i"]][0]
        days = "day" if str(w["max"]) == "1" else "days"
        because.append(f"dose: weight-based; the latest body weight, {number(w['value'])} {w['unit']} "
                       f"{dated(w['time'], w.get('spanEnd'))}, is older than the {w['max']} {days} accepted, so it "
                       "is not used and the dose is not computed (body weight ordered)")
    elif st["i"] in weight_based:
        because.append("dose: weight-based; no usable body weight, so it is not computed (body weight ordered)")
    elif any(f.get("weightBased") for f in fixed):  # a weight-based statement that may apply: the dose waits
        dose = _fixed(fixed, state, because, explain)
    elif "doseValue" in st:
        dose = {"value": json_number(st["doseValue"]), "unit": st["doseUnit"]}
    elif fixed:
        dose = _fixed(fixed, state, because, explain)
    return dose


def weighing(rows: list[dict], state: dict[str, str], statement: str, weighed_for: set) -> tuple[bool, list[dict]]:
    """Whether a recommendation (``statement``) is dosed by weight for the patient, and the weight-based dosing
    statements (``rows``) its dose waits for otherwise. By weight: a weight-based statement holds, or one is
    undecided while its body weight is ordered for it (``weighed_for``: (statement, measure) pairs; the weight
    is what is missing). Waiting: the undecided ones, when not by weight (a statement that fails doses
    nobody: a fixed one applies)."""
    live = [r for r in rows if state.get(r["d"], "holds") != "fails"]
    by_weight = any(state.get(r["d"], "holds") == "holds" or (statement, r.get("wm")) in weighed_for for r in live)
    return by_weight, [] if by_weight else [{**r, "weightBased": True} for r in live]


def one_computed(rows: list[dict], weight_based: list[dict], state: dict[str, str]) -> tuple[dict | None, str | None]:
    """The computed dose of a recommendation (rule 82 computes one per weight-based dosing statement that
    holds: ``rows``), or ``None`` with the line that says why no dose is stated: two that differ (as two fixed
    ones), or another weight-based statement of the intervention (``weight_based``) still undecided."""
    if not rows:
        return None, None
    label = {r["d"]: r.get("dlabel", r["d"]) for r in weight_based}
    if len({(Decimal(r["value"]), r["unit"], r.get("basis"), r.get("freq")) for r in rows}) > 1:
        shown = "; ".join(sorted(f"{label.get(r['d'], r['d'])}: {number(r['value'])} {r['unit']}" for r in rows))
        return None, f"dose: not stated: the dosing statements that apply give different doses ({shown})"
    if undecided := sorted({label[r["d"]] for r in weight_based if state.get(r["d"]) == "undecided"}):
        return None, (f"dose: not stated yet: whether {' or '.join(undecided)} applies is unknown (the data its "
                      "criteria need are missing or not usable: the tests that decide them are ordered)")
    return rows[0], None


def none_applies(rows: list[dict], state: dict[str, str]) -> str | None:
    """The dose line of an intervention whose dosing statements (``rows``, with a dose) all fail for the
    patient, else ``None``."""
    if not rows or any(state.get(r["d"], "holds") != "fails" for r in rows):
        return None
    names = "; ".join(sorted({r.get("dlabel", r["d"]) for r in rows}))
    return f"dose: not stated: no dosing statement applies to this patient ({names}: not met)"


def _why(rows: list[dict], explain: Callable[[str], list[str]] | None) -> list[str]:
    """The explanation of each dosing statement's applicability, indented under the dose line (each once): a
    criterion already explained inside another's tree (2.5 mg "with at least 2 of ...", 5 mg "with fewer than 2
    of ...", its negation) is not said again on its own."""
    blocks = [explain(c) for c in sorted({f["crit"] for f in rows if "crit" in f})] if explain else []

    def inside(block: list[str], other: list[str]) -> bool:  # the same lines, contiguous, at any indentation
        said, tree = [x.strip() for x in block], [x.strip() for x in other]
        return len(said) < len(tree) and any(tree[i:i + len(said)] == said for i in range(len(tree) - len(said) + 1))

    return [f"  {line}" for b in blocks if not any(inside(b, o) for o in blocks if o is not b) for line in b]


def _fixed(fixed: list[dict], state: dict[str, str], because: list[str], explain=None) -> dict | None:
    undecided = sorted({f.get("dlabel", f["d"]) for f in fixed if state.get(f["d"]) == "undecided"})
    if undecided:
        because.append(f"dose: not stated yet: whether {' or '.join(undecided)} applies is unknown (the data "
                       "its criteria need are missing or not usable: the tests that decide them are ordered, and data no "
                       "test supplies are named in a missing-data warning)")
        because += _why([f for f in fixed if state.get(f["d"]) == "undecided"], explain)
        return None
    # 65 mg of an element is not 65 mg of its salt; 2.5 mg twice daily is not 2.5 mg daily
    doses = {(Decimal(f["value"]), f["unit"], f.get("basis"), f.get("freq")) for f in fixed}
    if len(doses) != 1:
        shown = "; ".join(sorted(f"{f.get('dlabel', f['d'])}: {number(f['value'])} {f['unit']}"
                                 + (f" {f['freq']}" if f.get("freq") else "") for f in fixed))
        because.append(f"dose: not stated: the dosing statements that apply give different doses ({shown})")
        return None
    f = fixed[0]
    because.append(f"dose: {number(f['value'])} {f['unit']} ({f.get('dlabel', f['d'])})")
    because += _why(fixed, explain)
    # the dose's own frequency (gkg:frequency on the gkg:Dose) replaces the intervention's in the report
    dose = {"value": json_number(f["value"]), "unit": f["unit"]}
    return {**dose, "frequency": f["freq"]} if f.get("freq") else dose
