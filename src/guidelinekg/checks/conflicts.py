"""Where two guidelines disagree: the regions of patient data in which they advise differently.

Each guideline's statements about an action (a recommendation for or against it, a not-indicated statement)
are read with their applicability as regions (:mod:`guidelinekg.checks.regions`). Statements of different
guidelines are about the same action when their interventions share a substance or a class, known by a
verified code (``system|code``) or by name (``rdfs:label``, ``skos:altLabel``, any case): guidelines mint their
own IRIs. Regions are compared on common axes: a measure by its IRI, an interval in another unit converted by
UCUM (ng/mL and ug/L); an opaque criterion (a diagnosis, an exposure) by its label.

A recommendation is read where it takes effect in its own guideline: less the regions of that guideline's
not-indicated statements about the same action (which set it aside there). Findings, for each pair of
statements about one action:

* ``contradiction``: one recommends it, the other recommends against it or says it is not indicated, and
  their regions meet (the region where both apply is given); the one against names all the one for names.
* ``except``: the same, the one against naming only a part (a member of its class, a narrower class, one
  sharing a member): the rest stays recommended, as rule 92's ``recommended-except`` says in one guideline.
* ``different-threshold``: both recommend it, their regions meet, and one reaches where the other does
  not: the regions where only one applies are given (a drug up to a level of 100 in one, 300 in the other).
* ``stop-rule``: one says it is not indicated where the other has no statement about it at all (a stop rule on
  a measure the other's trigger does not bound): a contradiction where the other's recommendation reaches.

Alternative actions (different interventions in one region) are not findings: guidelines list alternatives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pyoxigraph import Literal, NamedNode

from guidelinekg.checks.regions import Applicability, Interval, Region, beyond, describe, g, product
from guidelinekg.content.loading import Content

RDFS_LABEL = NamedNode("http://www.w3.org/2000/01/rdf-schema#label")
SKOS_ALTLABEL, SKOS_NOTATION, SKOS_BROADER = (NamedNode(f"http://www.w3.org/2004/02/skos/core#{n}")
                                              for n in ("altLabel", "notation", "broader"))
FOR, AGAINST, NOT_INDICATED = "for", "against", "not indicated"


@dataclass(frozen=True)
class Stance:
    """One statement of one guideline about an action, with where it applies."""

    guideline: str  # the guideline version's label
    version: str  # its IRI
    statement: str  # IRI
    label: str
    stance: str  # FOR, AGAINST or NOT_INDICATED
    action: str  # the intervention's label
    keys: frozenset[str]  # its substances (or itself) across guidelines: names and codes
    regions: tuple[Region, ...]
    citations: tuple[str, ...] = ()
    grade: str = ""
    classes: frozenset[str] = frozenset()  # the classes it falls in: its substances' and its own, and the
    #                                        classes above them (skos:broader), by name
    own_classes: frozenset[str] = frozenset()  # the classes the intervention itself is about ("no oral X")
    excepts: frozenset[str] = frozenset()  # a not-indicated statement's gkg:exceptStatement
    intervention: str = ""  # its IRI
    bare: bool = False  # neither substance nor class: known by its own names (across guidelines), or node
    members: frozenset[str] = frozenset()  # the substances in the classes it is about (and under them), by name

    def same_action(self, other: Stance) -> bool:
        """The same substance; or, for statements that disagree, a class one is about that the other falls
        in ("no X" and a substance of class X, or a class under X). Two recommendations of different substances of one
        class are alternatives, not the same action."""
        if self.keys & other.keys:
            return True
        return self.stance != other.stance and (self.holds_part(other) or other.holds_part(self))

    def names_all(self, other: Stance) -> bool:
        """Across guidelines: this intervention names all of ``other``'s: a substance (or, for an intervention
        with neither, a name) ``other`` names, or a class holding ``other``'s substance or class."""
        return bool(self.keys & other.keys or self.own_classes & other.classes)

    def covers(self, other: Stance) -> bool:
        """Within one guideline (as rule 92 reads it): this intervention names all of ``other``'s: the same
        node, a substance ``other`` names, or a class holding ``other``'s substance or class. An intervention
        with neither substance nor class is the same action as its own node only."""
        if self.intervention == other.intervention:
            return True
        return not (self.bare or other.bare) and bool(self.keys & other.keys or self.own_classes & other.classes)

    def holds_part(self, other: Stance) -> bool:
        """A class it is about holds a part of ``other``'s: a member, a class under it, or one sharing a member."""
        return bool(self.own_classes & other.classes or self.members & (other.keys | other.members))


@dataclass(frozen=True)
class Disagreement:
    kind: str  # contradiction | except | different-threshold
    first: Stance
    second: Stance
    regions: tuple[str, ...]  # where it shows, each a conjunction in words
    bounds: tuple[dict, ...] = field(default=())  # the same, per measure, for JSON

    def as_dict(self) -> dict:
        def side(s: Stance) -> dict:
            return {"guideline": s.guideline, "version_iri": s.version, "statement": s.statement, "label": s.label,
                    "stance": s.stance, "action": s.action, "grade": s.grade, "citations": list(s.citations)}
        return {"kind": self.kind, "action": self.first.action, "first": side(self.first),
                "second": side(self.second), "regions": list(self.regions), "bounds": list(self.bounds)}

    def message(self) -> str:
        a, b = self.first, self.second
        where = "; or ".join(self.regions) or "for every patient"
        if self.kind in ("contradiction", "except"):
            part = f" {b.action}, a part of it" if self.kind == "except" else ""
            rest = f": the rest of {a.action} stays recommended" if part else ""
            return (f"{a.guideline}: '{a.label}' ({a.stance} {a.action}) and {b.guideline}: '{b.label}' "
                    f"({b.stance}{part}) both apply where {where}{rest}")
        return (f"{a.guideline}: '{a.label}' and {b.guideline}: '{b.label}' both recommend {a.action} "
                f"in regions that differ: {where}")


# --- reading stances ------------------------------------------------------------------------------------


class _Reader:
    def __init__(self, content: Content):
        self.content = content
        self.app = Applicability(content)

    def names(self, node) -> set[str]:
        out = set()
        for predicate in (RDFS_LABEL, SKOS_ALTLABEL):
            out |= {f"name:{o.value.strip().lower()}" for o in self.content.objects(node, predicate)
                    if isinstance(o, Literal) and o.value.strip()}
        for code in self.content.objects(node, g("code")):
            systems = [s.value for s in self.content.objects(code, g("codeSystem"))]
            notations = [n.value for n in self.content.objects(code, SKOS_NOTATION)]
            out |= {f"code:{s}|{n}" for s in systems for n in notations}
        return out

    def keys(self, intervention) -> tuple[frozenset[str], frozenset[str], frozenset[str], frozenset[str]]:
        """Names and codes of the intervention's substances (its own when it has none and is about no class),
        of the classes they belong to, of the classes the intervention itself is about, and of the
        substances in those (or in a class under them)."""
        objects = self.content.objects
        substances = objects(intervention, g("substance"))
        own = objects(intervention, g("interventionClass"))
        # the classes and every class above them (skos:broader), as rule 05 reads it; the classes under its own
        members = _closure([c for s in substances for c in objects(s, g("memberOfClass"))] + own,
                           lambda c: objects(c, SKOS_BROADER))
        under = _closure(own, lambda c: self.content.subjects(SKOS_BROADER, c))

        def named(nodes) -> frozenset[str]:
            return frozenset().union(*(self.names(n) for n in nodes)) if nodes else frozenset()

        keys = named(substances) if substances else (frozenset() if own else named([intervention]))
        return keys, named(members), named(own), named([m for c in under for m in self.content.subjects(
            g("memberOfClass"), c)])

    def stances(self) -> list[Stance]:
        objects, label = self.content.objects, self.content.label
        versions = self.content.subjects(NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type"),
                                         g("GuidelineVersion"))
        out = []
        for kind, prop in (("Recommendation", "intervention"), ("NotIndicatedStatement", "notIndicatedIntervention")):
            for st in self.app.statements(kind):
                version = (objects(st, g("inVersion")) or versions or [st])[0]
                if kind == "Recommendation":
                    against = any(d.value.endswith("#Against") for d in objects(st, g("direction")))
                    stance = AGAINST if against else FOR
                else:
                    stance = NOT_INDICATED
                grade = ", ".join(label(x) for p in ("strength", "certainty", "grade") for x in objects(st, g(p)))
                cites = tuple(sorted({label(c) for p in ("citation", "verifiedAgainst") for c in objects(st, g(p))}))
                for intervention in objects(st, g(prop)):
                    keys, classes, own, held = self.keys(intervention)
                    if not (keys or own):
                        continue
                    excepts = frozenset(x.value for x in objects(st, g("exceptStatement")))
                    out.append(Stance(label(version), version.value, st.value, label(st), stance, label(intervention),
                                      keys, self.app.statement(st), cites, grade, classes, own, excepts,
                                      intervention.value, not (own or objects(intervention, g("substance"))), held))
        return out


def _closure(nodes: list, step) -> list:
    out, todo = list(nodes), list(nodes)
    while todo:
        for node in step(todo.pop()):
            if node not in out:
                out.append(node)
                todo.append(node)
    return out


def stances_of(content: Content) -> list[Stance]:
    """Every statement about an action in one guideline's content, with its regions."""
    return _Reader(content).stances()


# --- comparing regions across guidelines ------------------------------------------------------------------


def _common(region: Region, units: dict[str, str], labels: dict[str, str]) -> Region:
    """A region on axes every guideline shares: measure IRI and one unit per measure (the first seen), the
    label left out; an interval in another unit converted by UCUM when it converts."""
    from guidelinekg.patients.ucum import UnitConversionError, ucum_conversion

    bounds: dict = {}
    for (measure, label, unit), iv in region.bounds:
        target = units.setdefault(measure, unit)
        if unit != target:
            try:
                scale, offset = ucum_conversion(unit, target)
            except (UnitConversionError, ArithmeticError, ValueError):
                target = unit  # not convertible: an axis of its own
            else:
                iv = Interval(None if iv.lo is None else iv.lo * scale + offset, iv.lo_closed,
                              None if iv.hi is None else iv.hi * scale + offset, iv.hi_closed, iv.floor)
        axis = (measure, labels.setdefault(measure, label), target)  # the first guideline's name for it
        bounds[axis] = bounds[axis].meet(iv) if axis in bounds and bounds[axis].meet(iv) else iv
    literals = frozenset((name.strip().lower(), name, holds) for _, name, holds in region.literals)
    return Region(tuple(sorted(bounds.items())), literals)


def _effective(stances: list[tuple[Stance, tuple[Region, ...]]]) -> list[tuple[Stance, tuple[Region, ...]]]:
    """Each recommendation where it takes effect in its own guideline: its regions less those of the
    guideline's not-indicated statements about the same action (which set it aside there, as rule 05 pairs
    them), unless a statement names it as its exception."""
    restrictions = [(s, r) for s, r in stances if s.stance == NOT_INDICATED]
    out = []
    for s, regions in stances:
        if s.stance == FOR:
            for n, theirs in restrictions:
                if s.statement not in n.excepts and (s.keys & n.keys or n.own_classes & s.classes):
                    regions = tuple(beyond(regions, theirs))
        out.append((s, regions))
    return out


def _words(region: Region) -> str:
    parts = [describe(axis, iv) for axis, iv in region.bounds]
    parts += sorted(name if holds else f"not {name}" for _, name, holds in region.literals)
    return " and ".join(parts) or "always"


def _bounds(region: Region) -> dict:
    return {f"{axis[1]} ({axis[2]})" if axis[2] else axis[1]: {
        "min": None if iv.lo is None else str(iv.lo), "min_included": iv.lo_closed,
        "max": None if iv.hi is None else str(iv.hi), "max_included": iv.hi_closed} for axis, iv in region.bounds}


def disagreements(guidelines: list[list[Stance]]) -> list[Disagreement]:
    """Every disagreement between statements of different guidelines (each list: one guideline's stances),
    in a stable order."""
    units: dict[str, str] = {}
    labels: dict[str, str] = {}
    common = [_effective([(s, tuple(_common(r, units, labels) for r in s.regions)) for s in stances])
              for stances in guidelines]
    of = {(s.version, s.statement): [x for x, _ in group if x.statement == s.statement] for group in common
          for s, _ in group}  # each statement's stances: one per intervention
    found = []
    for i, mine in enumerate(common):
        for theirs in common[i + 1:]:
            for a, ra in mine:
                for b, rb in theirs:
                    if not a.same_action(b):
                        continue
                    both = product(ra, rb)
                    if {a.stance, b.stance} & {FOR} and a.stance != b.stance and both:
                        first, second = (a, b) if a.stance == FOR else (b, a)
                        whole = all(any(x.names_all(y) for x in of[second.version, second.statement])
                                    for y in of[first.version, first.statement])  # else a part: the rest stands
                        found.append(Disagreement("contradiction" if whole else "except", first, second,
                                                  tuple(map(_words, both)), tuple(map(_bounds, both))))
                    elif a.stance == b.stance == FOR and both:
                        only = [(a, r) for r in beyond(ra, rb)] + [(b, r) for r in beyond(rb, ra)]
                        if only:
                            found.append(Disagreement("different-threshold", a, b,
                                                      tuple(f"{_words(r)} (only {s.guideline})" for s, r in only),
                                                      tuple(_bounds(r) | {"only": s.guideline} for s, r in only)))
    # one finding per pair of statements and kind (a statement about two interventions of one action, e.g.
    # "no X" about oral and IV X, meets the other statement twice)
    unique = {(d.kind, d.first.statement, d.second.statement): d for d in found}
    return sorted(unique.values(), key=lambda d: (d.kind, d.first.action, d.first.statement, d.second.statement))


# --- from files -----------------------------------------------------------------------------------------


def guideline_stances(paths: list[Path]) -> list[list[Stance]]:
    """The stances of each guideline among content paths (a folder per guideline, as ``recommend
    --content`` reads them), each loaded with the vocabulary and the shared files.

    Raises:
        InputError: fewer than two guidelines, or content that does not load (``validate`` says where).
    """
    from guidelinekg.content import resources
    from guidelinekg.content.grouping import split_guidelines
    from guidelinekg.content.loading import expand_paths, load_files
    from guidelinekg.errors import InputError

    own, shared = split_guidelines(paths)
    if len(own) < 2:
        raise InputError(f"conflicts compares guidelines and found {len(own)}: give at least two "
                         "(--content DIR, a folder per guideline)")
    out = []
    for group in own:
        content, findings = load_files(expand_paths([*resources.vocabulary_files(), *shared, *group]))
        errors = [f for f in findings if f.severity == "error"]
        if errors:
            raise InputError(f"{errors[0].location()}: {errors[0].message} (run guidelinekg validate)")
        out.append(stances_of(content))
    return out


def conflict_findings(contents: list[Content]) -> list:
    """``validate`` findings for guidelines checked together: ``guideline-contradiction`` (a warning: a
    patient could be told to take and not to take the same thing), ``guideline-except`` (an info: the other
    advises against a part of it) and ``guideline-threshold-differs`` (an info), located at the first
    statement, naming the other guideline's statement and the region."""
    per = [stances_of(c) for c in contents]
    where = {s.statement: c for c, stances in zip(contents, per, strict=True) for s in stances}
    out = []
    for d in disagreements(per):
        content = where[d.first.statement]
        severity, code = {"contradiction": ("warning", "guideline-contradiction"),
                          "except": ("info", "guideline-except")}.get(d.kind, ("info", "guideline-threshold-differs"))
        out.append(content.finding(NamedNode(d.first.statement), severity, "lint", code,
                                   f"{d.message()} (guidelinekg conflicts lists every one)"))
    return out


def own_findings(content: Content) -> list:
    """Within one guideline, a recommendation against an action that a recommendation of the same version
    recommends, where both can apply (the recommendation read where it takes effect: less its guideline's
    not-indicated statements about it), as rule 92 pairs them: ``recommendation-for-and-against`` (a warning)
    when the one against covers every intervention of the one for (:meth:`Stance.covers`),
    ``recommendation-except`` (an info) when it covers a part of a class the one for is about ("a widget drug"
    and "no widgetronate": the rest stays recommended). Located at the recommendation against."""
    stances = _effective([(s, s.regions) for s in stances_of(content)])
    of = {s.statement: [x for x, _ in stances if x.statement == s.statement] for s, _ in stances}
    out = []
    for a, ra in stances:
        if a.stance != AGAINST:
            continue
        for f, rf in stances:
            if (f.stance != FOR or f.version != a.version or not (a.covers(f) or f.holds_part(a))
                    or not (both := product(rf, ra))):
                continue
            where = "; or ".join(map(_words, both[:3])) + (f"; or {len(both) - 3} more" if len(both) > 3 else "")
            opaque = sorted({label for r in both for _, label, _ in r.literals})  # compared by name only
            where += f" (if these can hold together: {', '.join(opaque[:4])} are not compared)" if opaque else ""
            if all(any(x.covers(y) for x in of[a.statement]) for y in of[f.statement]):
                out.append((a.statement, f.statement, content.finding(
                    NamedNode(a.statement), "warning", "lint", "recommendation-for-and-against",
                    f"recommends against {a.action}, which '{f.label}' recommends: both apply where {where}, and a "
                    "patient there would be told both (the report warns recommended-for-and-against). If this "
                    "recommendation against prevails, add a gkg:NotIndicatedStatement of the same intervention with "
                    f"this applicability (it sets '{f.label}' aside there; this statement can stay), or exclude the "
                    f"region from '{f.label}' (a gkg:Not in its criteria); if the source means both, keep them",
                    path="gkg:intervention")))
            else:
                out.append((a.statement, f.statement, content.finding(
                    NamedNode(a.statement), "info", "lint", "recommendation-except",
                    f"recommends against {a.action}, a part of what '{f.label}' recommends ({f.action}): both apply "
                    f"where {where}, and there the report keeps '{f.label}' with this part excluded (warning "
                    "recommended-except). If the whole of it is meant, make this statement's intervention cover it",
                    path="gkg:intervention")))
    return [finding for *_, finding in sorted({(a, f): (a, f, x) for a, f, x in out}.values(), key=lambda t: t[:2])]
