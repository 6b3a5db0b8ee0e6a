"""Explanations: why a criterion is true, false or unknown for a patient, from the derived outcomes.

Walks a statement's criterion tree in the guideline graph and the patient's gkg:CriterionOutcome nodes and
renders each step as a sentence: the fact used (value, unit, date, record), any unit conversion, the
threshold compared with, and the three-valued result.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from guidelinekg.report.graphread import dated, grouped, number, recorded_date, rows, unit_text
from guidelinekg.report.records import RECORD_QUERIES
from guidelinekg.engine.store import RuleStore

CRITERIA = """
SELECT ?c ?type ?label ?member ?points ?minPoints ?negates ?m ?measureLabel ?cmp ?tv ?tu WHERE {
  ?c a ?type . ?type rdfs:subClassOf* gkg:Criterion .  # every kind of criterion the vocabulary defines
  OPTIONAL { ?c rdfs:label ?label }
  OPTIONAL { ?c gkg:member ?member  # a score's member's points (rule 55)
             OPTIONAL { ?c gkg:memberPoints ?item . ?item gkg:pointsFor ?member ; gkg:points ?points } }
  OPTIONAL { ?c gkg:minimumPoints ?minPoints }
  OPTIONAL { ?c gkg:negates ?negates }
  OPTIONAL { ?c gkg:onMeasure ?m . OPTIONAL { ?m rdfs:label ?measureLabel } }
  OPTIONAL { ?c gkg:comparator ?cmpc . ?cmpc skos:notation ?cmp }
  OPTIONAL { ?c gkg:thresholdValue ?tv }
  OPTIONAL { ?c gkg:thresholdUnit ?tu }
}
"""

# The truth of every outcome, read from the one-triple mirrors the rules write with each
# gkg:CriterionOutcome (patient gkg:holds / gkg:fails / gkg:undecided criterion): a tenth of the cost of
# joining the outcome nodes. The values compared come from the few outcomes that have one.
OUTCOMES = """
SELECT ?patient ?c ?truth WHERE {
  { ?patient gkg:holds ?c . gkg:True skos:notation ?truth }
  UNION { ?patient gkg:fails ?c . gkg:False skos:notation ?truth }
  UNION { ?patient gkg:undecided ?c . gkg:Unknown skos:notation ?truth }
}
"""

OUTCOME_VALUES = """
SELECT ?patient ?c ?value ?o ?born WHERE {
  ?out gkg:observedValue ?value ; gkg:criterion ?c ; gkg:forPatient ?patient .
  OPTIONAL { ?out gkg:observation ?o }
  OPTIONAL { ?c a gkg:AgeCriterion . ?patient gkg:birthDate ?born }  # the fact an age is computed from
}
"""

NOTES = """
SELECT ?patient ?c ?note WHERE { ?out gkg:outcomeNote ?note ; gkg:criterion ?c ; gkg:forPatient ?patient . }
"""

OBSERVATIONS = """
SELECT ?patient ?o ?time ?spanEnd ?conv ?id ?censor ?status WHERE {
  ?o a gkg:Observation ; gkg:subject ?patient ; gkg:effectiveTime ?time .
  OPTIONAL { ?o gkg:effectiveSpanEnd ?spanEnd }  # a time recorded without a day: shown as recorded ("2026-10")
  OPTIONAL { ?o gkg:conversionNote ?conv }
  OPTIONAL { ?o gkg:identifier ?id }
  OPTIONAL { ?o gkg:valueComparator ?c . ?c skos:notation ?censor }
  OPTIONAL { ?o gkg:resultStatus ?status }
}
"""

ISSUES = """
SELECT ?patient ?c ?issueMsg WHERE {
  ?out gkg:truth gkg:Unknown ; gkg:forPatient ?patient ; gkg:criterion ?c ; prov:wasDerivedFrom ?issue .
  ?issue a gkg:Warning ; gkg:message ?issueMsg .  # an issue of a result, or results that differ (rule 42)
}
"""

SYMBOLS = {"<=": "≤", ">=": "≥", "<": "<", ">": ">"}
COMBINATIONS = {"AllOf", "AnyOf", "Not", "PointsAtLeast"}  # criteria decided from their members (rules 50-52, 55)
AGE_UNITS = {"a": "years", "mo": "months", "wk": "weeks", "d": "days"}  # UCUM units of an age criterion
# A condition with no code a guideline reads (only text, or only a local code) gives an ``uncoded-condition``
# note and is never matched: "no diagnosis" then means none that could be read, which one of them may contradict.
# Said beside a diagnosis criterion that is false, and beside "none of its statements applies", as rule 87 says
# it of coverage, so that no line sounds definitive while an unread record could decide it.
UNCODED = "uncoded-condition"


def unread_note(warnings: list[dict], *, patient: bool = False) -> str:
    """What a "none of its statements applies" sentence adds when the patient has conditions that are not read
    (``uncoded-condition``); else ""."""
    if not any(w["code"] == UNCODED for w in warnings):
        return ""
    if patient:
        return " Some conditions in your record are written in a way it cannot read; your care team can check them."
    return (" as read: conditions recorded only as text or in a local code are not read, and one of them may change"
            " this (see the uncoded-condition warnings)")


def _points(text: str) -> str:
    """A number of points as said: '1 point', '2.5 points'."""
    shown = number(text) or text
    return f"{shown} point" if shown == "1" else f"{shown} points"


@dataclass(frozen=True)
class Criteria:
    """The criterion graph of the loaded guidelines, keyed by criterion IRI."""

    nodes: dict[str, dict]

    @classmethod
    def read(cls, store: RuleStore) -> Criteria:
        nodes: dict[str, dict] = {}
        for row in rows(store, CRITERIA):
            node = nodes.setdefault(row["c"], {"types": set(), "members": set(), **row})
            node["types"].add(row["type"].rsplit("#", 1)[-1])
            if "member" in row:
                node["members"].add(row["member"])
                node.setdefault("pointsOf", {})[row["member"]] = row.get("points", "1")  # 1 unless given
        return cls(nodes)

    def describe(self, iri: str) -> str:
        node = self.nodes.get(iri, {})
        if "cmp" in node and "measureLabel" in node:
            return f"{node['measureLabel']} {SYMBOLS.get(node['cmp'], node['cmp'])} {number(node['tv'])}{unit_text(node.get('tu'))}"
        return node.get("label", iri)


def _records(items: list[dict[str, str]]) -> list[str]:
    """Each record named once, with what every query says of it: "Condition/c1 (active, from 2016-03-01) coded
    E11.65"."""
    said: dict[str, set[str]] = {}
    for item in items:
        if "record" in item:
            said.setdefault(item["record"], set()).add(item.get("recordStatus", ""))
    return sorted(record + "".join(sorted(statuses)) for record, statuses in said.items())


class Explainer:
    """Explains criteria outcomes for one patient."""

    def __init__(self, criteria: Criteria, outcome_rows: list[dict[str, str]], *, unread: bool = False):
        self.criteria = criteria
        self.unread = unread  # the patient has conditions no diagnosis is read from (uncoded-condition notes)
        self.outcomes = {
            c: items[0] | {"issues": sorted({i["issueMsg"] for i in items if "issueMsg" in i}),
                           "records": _records(items),
                           "reasons": sorted({i["reason"] for i in items if "reason" in i})}
            for c, items in grouped(outcome_rows, "c").items()
        }

    @staticmethod
    def outcome_rows(store: RuleStore, patients: list[str] | None) -> dict[str, list[dict[str, str]]]:
        """Every patient's outcome rows, keyed by patient IRI (three queries for a whole batch, joined here)."""
        observations = {r["o"]: r for r in rows(store, OBSERVATIONS, patients=patients)}
        issues = grouped(rows(store, ISSUES, patients=patients), "patient")
        values = {(r["patient"], r["c"]): r for r in rows(store, OUTCOME_VALUES, patients=patients)}
        for r in rows(store, NOTES, patients=patients):  # why a missing result is "not met" (rule 41)
            values.setdefault((r["patient"], r["c"]), {}).update(note=r["note"])
        out: dict[str, list[dict[str, str]]] = {}
        for row in rows(store, OUTCOMES, patients=patients):
            row.update(values.get((row["patient"], row["c"]), ()))
            if "o" in row and row["o"] in observations:
                row = {**row, **{k: v for k, v in observations[row["o"]].items() if k != "patient"}}
            out.setdefault(row["patient"], []).append(row)
        for patient, items in issues.items():
            out.setdefault(patient, []).extend(items)
        for query in RECORD_QUERIES:
            for row in rows(store, query, patients=patients):
                out.setdefault(row["patient"], []).append(row)
        return out

    def truth(self, criterion: str) -> str:
        return self.outcomes.get(criterion, {}).get("truth", "unknown")

    def _members(self, node: dict) -> list[str]:
        """A combination's members in a stable order (by what they say, then by IRI); a negation's one."""
        if "Not" in node.get("types", set()):
            return [node["negates"]] if "negates" in node else []
        return sorted(node.get("members", ()), key=lambda m: (self.criteria.describe(m), m))

    def _leaf_order(self, criterion: str, unknown_only: bool = False) -> list[str]:
        """The leaves of the criterion's tree, in tree order, each once (with ``unknown_only``: the tree's
        undecided part only)."""
        if unknown_only and self.truth(criterion) != "unknown":
            return []
        node = self.criteria.nodes.get(criterion, {})
        if not node.get("types", set()) & COMBINATIONS:
            return [criterion]
        out: list[str] = []
        for member in self._members(node):
            out += [x for x in self._leaf_order(member, unknown_only) if x not in out]
        return out

    def _deciding(self, criterion: str, truth: str) -> set[str]:
        """The leaves the criterion's outcome ``truth`` rests on: an all-of or any-of rests on its members of
        the same truth (every member of a true all-of, the true members of a true any-of, the false members
        of a false all-of; a score the same), a negation on what it negates, of the opposite truth."""
        if self.truth(criterion) != truth:
            return set()
        node = self.criteria.nodes.get(criterion, {})
        types = node.get("types", set())
        if not types & COMBINATIONS:
            return {criterion}
        if "Not" in types:
            truth = {"true": "false", "false": "true"}.get(truth, truth)
        return set().union(*(self._deciding(m, truth) for m in self._members(node)))

    def _leaves(self, criterion: str, leaf, unknown_only: bool = False) -> list[dict]:
        """``leaf(node, outcome)`` of each leaf of the criterion's tree, in tree order, each once (with
        ``unknown_only``: the tree's undecided part only)."""
        out: list[dict] = []
        for c in self._leaf_order(criterion, unknown_only):
            out += [x for x in leaf(self.criteria.nodes.get(c, {}), self.outcomes.get(c, {})) if x not in out]
        return out

    def facts(self, criterion: str) -> list[dict]:
        """The measured results the criterion's outcome rests on (its tree's leaves with a dated value), in
        tree order, each result once however many criteria read it: what a reader is told was used, with its
        date. A fact's ``truth`` is what the result did for the criterion's outcome: its comparison's truth
        where the outcome rests on it (:meth:`_deciding`: "true" for a result that made the criterion true,
        what a request cites as its reason), "unknown" where it does not (an any-of member not needed, a
        branch left undecided)."""
        deciding = self._deciding(criterion, self.truth(criterion))
        rank = {"true": 2, "false": 1}
        out: dict[tuple, dict] = {}
        for c in self._leaf_order(criterion):
            node, outcome = self.criteria.nodes.get(c, {}), self.outcomes.get(c, {})
            if "value" not in outcome or "time" not in outcome:
                continue
            date = recorded_date(outcome["time"], outcome.get("spanEnd"))  # as recorded: "2026-10"
            notes = [n for n in (outcome.get("note"), outcome.get("conv") and f"converted: {outcome['conv']}") if n]
            truth = outcome.get("truth", "unknown") if c in deciding else "unknown"
            # one result: its observation (read by several criteria: shown as the first in tree order shows it)
            key = (outcome["o"],) if "o" in outcome else (node.get("m"), outcome["value"], node.get("tu"), date)
            if (fact := out.get(key)) is None:
                out[key] = {"measure": node.get("m"), "label": node.get("measureLabel", node.get("m", "")),
                            "comparator": outcome.get("censor"), "value": outcome["value"], "unit": node.get("tu"),
                            "date": date, "status": outcome.get("status"), "record": outcome.get("id"),
                            "truth": truth, "note": "; ".join(notes) or None}
                continue
            if rank.get(truth, 0) > rank.get(fact["truth"], 0):
                fact["truth"] = truth
            if (outcome["value"], node.get("tu")) == (fact["value"], fact["unit"]):  # its notes, each once
                shown = fact["note"].split("; ") if fact["note"] else []
                fact["note"] = "; ".join(shown + [n for n in notes if n not in shown]) or None
        return list(out.values())

    def missing(self, criterion: str) -> list[dict]:
        """What an undecided criterion lacks, leaf by leaf: ``{"kind": "age" | "sex" | "diagnosis" |
        "procedure" | "medication" | "allergy" | "measure" | "other", "measure": IRI or None}`` for each unknown
        leaf of its tree; a diagnosis, procedure, medication exposure or allergy also names its ``criterion`` and
        its ``label``."""

        def lacking(node: dict, outcome: dict) -> list[dict]:
            types = node.get("types", set())
            kind = ("age" if "AgeCriterion" in types else "sex" if "AdministrativeSexCriterion" in types
                    else "diagnosis" if "DiagnosisCriterion" in types else "procedure" if "ProcedureCriterion" in types
                    else "medication" if "MedicationExposureCriterion" in types
                    else "allergy" if "AllergyCriterion" in types
                    else "measure" if node.get("m") else "other")
            named = {"criterion": node.get("c"), "label": self.criteria.describe(node.get("c", ""))}
            return [{"kind": kind, "measure": node.get("m"),
                     **(named if kind in ("diagnosis", "procedure", "medication", "allergy") else {})}]

        return self._leaves(criterion, lacking, unknown_only=True)

    def _score_lines(self, criterion: str, node: dict, truth: str, pad: str, depth: int) -> list[str]:
        """A points score (rule 55): the points its true members add up to, those its unknown members could
        add, and each member with its points."""
        points = node.get("pointsOf", {})
        summed = {t: sum((Decimal(points[m]) for m in node.get("members", ()) if self.truth(m) == t), Decimal(0))
                  for t in ("true", "unknown")}
        needed = _points(node.get("minPoints", "0"))
        detail = f"{_points(str(summed['true']))} from criteria met"
        if summed["unknown"]:
            detail += f", up to {_points(str(summed['unknown']))} more from criteria not known"
        out = [f"{pad}{node.get('label', criterion)} (at least {needed}; {detail}): {truth}"]
        for member in self._members(node):
            member_lines = self.lines(member, depth + 1)
            if member_lines:
                member_lines[0] += f" [{_points(points.get(member, '1'))}]"
            out += member_lines
        return out

    def lines(self, criterion: str, depth: int = 0) -> list[str]:
        """Sentences explaining the criterion's outcome, members indented under combinations."""
        node = self.criteria.nodes.get(criterion, {})
        outcome = self.outcomes.get(criterion, {})
        truth = outcome.get("truth", "unknown")
        pad = "  " * depth
        types = node.get("types", set())
        if types & {"AllOf", "AnyOf"}:
            joiner = "all of" if "AllOf" in types else "any of"
            out = [f"{pad}{node.get('label', criterion)} ({joiner}): {truth}"]
            for member in self._members(node):
                out += self.lines(member, depth + 1)
            return out
        if "PointsAtLeast" in types:
            return self._score_lines(criterion, node, truth, pad, depth)
        if "Not" in types:
            return [f"{pad}{node.get('label', criterion)}: {truth}", *self.lines(node["negates"], depth + 1)]
        text = self.criteria.describe(criterion)
        if "note" in outcome and "time" not in outcome:  # what the rule counted or assumed (rules 36-38, 41)
            return [f"{pad}{text}: {truth} ({outcome['note']})"]
        if "value" in outcome and "time" in outcome:
            # a censored result as written ("< 10 ng/mL"); a preliminary one says so
            censor = f"{outcome['censor']} " if "censor" in outcome else ""
            measured = f"{censor}{number(outcome['value'])}{unit_text(node.get('tu'))}"
            source = f", {outcome['id']}" if "id" in outcome else ""
            detail = f"{measured} {dated(outcome['time'], outcome.get('spanEnd'))}{source}"
            if outcome.get("status") == "preliminary":
                detail += ", a preliminary result"
            if "conv" in outcome:
                detail += f"; converted: {outcome['conv']}"
            if censor and truth == "unknown":
                detail += f"; a result reported as {measured.strip()} cannot decide this"
            if "note" in outcome:  # e.g. compared in the unit the source also states (rule 40)
                detail += f"; {outcome['note']}"
            return [f"{pad}{text}: {truth} (measured {detail})"]
        if "value" in outcome:  # an age: in the criterion's unit, which a number never goes without
            unit = node.get("tu")
            shown = f"{number(outcome['value'])} {AGE_UNITS.get(unit, unit)}" if unit else number(outcome["value"])
            born = f", born {outcome['born']}" if "born" in outcome else ""
            return [f"{pad}{text}: {truth} ({'age ' if 'AgeCriterion' in types else 'value '}{shown}{born})"]
        if truth == "unknown":
            why = "; ".join(outcome.get("issues", [])) or "; ".join(outcome.get("reasons", [])) or (
                "no usable birth date" if "AgeCriterion" in types
                else "administrative sex not recorded as male or female" if "AdministrativeSexCriterion" in types
                else "recorded only as unconfirmed, provisional or differential" if "DiagnosisCriterion" in types
                else "recorded, but whether or when it was performed cannot be told" if "ProcedureCriterion" in types
                else "a product named only by a code the guideline lists as unverified for a substance of the class"
                if "MedicationExposureCriterion" in types
                else "recorded, but unconfirmed or not known to be in force" if "AllergyCriterion" in types
                else "no usable result")
            if outcome.get("records"):  # the records behind it, with the status that leaves it undecided
                why += ": " + ", ".join(outcome["records"])
            return [f"{pad}{text}: unknown ({why})"]
        if outcome.get("records") and types & {"MedicationExposureCriterion", "DiagnosisCriterion", "AllergyCriterion"}:
            return [f"{pad}{text}: {truth} ({', '.join(outcome['records'])})"]  # exposures, allergies; past records
        if truth == "false" and self.unread and "DiagnosisCriterion" in types:  # no record read: one unread may be it
            return [f"{pad}{text}: false (none recorded in a code it reads; see the {UNCODED} warnings)"]
        return [f"{pad}{text}: {truth}"]
