"""Where two guidelines disagree: the regions of patient data in which they advise differently.

Each guideline's statements about an action (a recommendation for or against it, a not-indicated
statement) are read with their applicability as regions (:mod:`guidelinekg.checks.regions`). Two
statements of different guidelines are about the same action when their interventions share a substance
or a class, known across guidelines by a verified code (``system|code``) or by name (``rdfs:label`` or
``skos:altLabel``, any case): guidelines mint their own IRIs, so an IRI alone would never match. Their
regions are compared on common axes: a measure is known by its IRI (a LOINC IRI in both), and an interval in
another unit is converted by UCUM (a level in ng/mL and in ug/L); an opaque criterion (a diagnosis, an
exposure) by its label (two guidelines naming one diagnosis differently are two criteria here).

A recommendation is read where it takes effect in its own guideline: less the regions of that guideline's
not-indicated statements about the same action (which set it aside there). Findings, for each pair of
statements about one action:

* ``contradiction``: one recommends it, the other recommends against it or says it is not indicated, and
  their regions meet: the region where both apply is given.
* ``different-threshold``: both recommend it, their regions meet, and one reaches where the other does
  not: the regions where only one applies are given (a drug up to a level of 100 in one, 300 in the other).
* ``stop-rule``: one says it is not indicated where the other has no statement about it at all (a stop rule
  in one, on a measure the other's trigger does not bound): reported as a contradiction when
  the other's recommendation reaches into it, which is where it matters.

Alternative actions (different interventions in one region) are not findings: guidelines list
alternatives, and the report shows each guideline's own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pyoxigraph import Literal, NamedNode

from guidelinekg.checks.regions import Applicability, Interval, Region, describe, g, product
from guidelinekg.content.loading import Content

RDFS_LABEL = NamedNode("http://www.w3.org/2000/01/rdf-schema#label")
SKOS_ALTLABEL = NamedNode("http://www.w3.org/2004/02/skos/core#altLabel")
SKOS_NOTATION = NamedNode("http://www.w3.org/2004/02/skos/core#notation")
SKOS_BROADER = NamedNode("http://www.w3.org/2004/02/skos/core#broader")
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
        return self.stance != other.stance and bool(self.own_classes & other.classes
                                                    or other.own_classes & self.classes)

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
    kind: str  # contradiction | different-threshold
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
        if self.kind == "contradiction":
            return (f"{a.guideline}: '{a.label}' ({a.stance} {a.action}) and {b.guideline}: '{b.label}' "
                    f"({b.stance}) both apply where {where}")
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
        members = [c for s in substances for c in objects(s, g("memberOfClass"))] + own
        todo = list(members)
        while todo:  # and every class above (skos:broader), as rule 05 reads it
            for up in objects(todo.pop(), SKOS_BROADER):
                if up not in members:
                    members.append(up)
                    todo.append(up)

        def named(nodes) -> frozenset[str]:
            return frozenset().union(*(self.names(n) for n in nodes)) if nodes else frozenset()

        keys = named(substances) if substances else (frozenset() if own else named([intervention]))
        under, todo = list(own), list(own)
        while todo:
            for down in self.content.subjects(SKOS_BROADER, todo.pop()):
                if down not in under:
                    under.append(down)
                    todo.append(down)
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


def _without(a: Region, b: Region) -> list[Region]:
    """``a`` minus ``b`` as a union of regions (each axis of ``b`` outside its interval, or a literal of ``b``
    not holding)."""
    out = []
    for axis, iv in b.bounds:
        for part in _complement(iv):
            piece = a.meet(Region(((axis, part),)))
            if piece is not None:
                out.append(piece)
    for node, name, holds in b.literals:
        piece = a.meet(Region(literals=frozenset({(node, name, not holds)})))
        if piece is not None:
            out.append(piece)
    return out


def _complement(iv: Interval) -> list[Interval]:
    """The rest of the axis: from its start (0, or unbounded below for a measure that can be negative)."""
    parts = []
    if not iv.from_bottom():
        parts.append(Interval(iv.floor, iv.floor is not None, iv.lo, not iv.lo_closed, iv.floor))
    if iv.hi is not None:
        parts.append(Interval(iv.hi, not iv.hi_closed, floor=iv.floor))
    return [p for p in parts if not p.is_empty()]


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
                    regions = tuple(_beyond(regions, theirs))
        out.append((s, regions))
    return out


def _beyond(mine: tuple[Region, ...], theirs: tuple[Region, ...], limit: int = 64) -> list[Region]:
    """Where ``mine`` reaches and ``theirs`` does not: each of my regions minus every one of theirs, as a
    union of regions (they may overlap). Beyond ``limit`` pieces the rest is given as is (approximate)."""
    out = []
    for region in mine:
        pieces = [region]
        for other in theirs:
            if len(pieces) > limit:
                break
            pieces = [q for piece in pieces for q in _without(piece, other)]
        out += pieces
    # a piece inside another piece says nothing more
    unique = list(dict.fromkeys(out))
    return [p for p in unique if not any(p != q and p.within(q) for q in unique)]


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
                        found.append(Disagreement("contradiction", first, second, tuple(map(_words, both)),
                                                  tuple(map(_bounds, both))))
                    elif a.stance == b.stance == FOR and both:
                        only = [(a, r) for r in _beyond(ra, rb)] + [(b, r) for r in _beyond(rb, ra)]
                        if only:
                            found.append(Disagreement(
                                "different-threshold", a, b,
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
    patient could be told to take and not to take the same thing) and ``guideline-threshold-differs`` (an
    info), located at the first statement, naming the other guideline's statement and the region."""
    per = [stances_of(c) for c in contents]
    where = {s.statement: c for c, stances in zip(contents, per, strict=True) for s in stances}
    out = []
    for d in disagreements(per):
        content = where[d.first.statement]
        severity, code = (("warning", "guideline-contradiction") if d.kind == "contradiction"
                          else ("info", "guideline-threshold-differs"))
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
