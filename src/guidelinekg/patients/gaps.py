"""Records the mapping cannot use, that may hide what the patient's record would show: what the input may
then lack (:attr:`~guidelinekg.patients.model.IngestNote.lacks`).

Resources skipped because the patient they are about cannot be told:

A resource whose subject names no Patient of the input (a merged record's old id, an id from another
system, a conditional reference ``Patient?identifier=...``), or that names none at all (only a
``display``), may well be the patient's own: a Condition of the diagnosis a guideline covers, a procedure, a
tablet taken. Skipping it must not make the patient look as if they had none: its note lacks its
record class (:attr:`~guidelinekg.patients.model.IngestNote.lacks`), so a criterion that would be false for
want of it is unknown, unless no loaded guideline reads it (:meth:`~guidelinekg.patients.relevance.ReadCodes.unread`;
a medication by its product, below). A skipped result lacks nothing (:func:`lacking`): its note names it.

Medication records that count as taken (by their status) but cannot say when, or what: an active
MedicationStatement without ``effective[x]``, an order without ``authoredOn`` or bounds, a record whose
Medication reference leads nowhere. The patient may have been taking a product a guideline reads when a
result was drawn, or be taking it now: the input may lack an exposure (``MedicationExposure``), so a result
that must be drawn off such a product is not used (rule 18) and "not taking" is unknown (rule 46). A product
recognised as none of the loaded guidelines' substances leaves nothing open.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from guidelinekg.patients.model import MAY_LACK, MAY_LACK_ANY, IngestNote, records_lacking


def gap(lacks: tuple[str, ...]) -> str:
    """What a skipped resource leaves open, for the end of its note ("" when nothing)."""
    return f": {MAY_LACK_ANY if 'Observation' in lacks else MAY_LACK}" if lacks else ""


def lacking(reads: Any, res: dict[str, Any]) -> tuple[str, ...]:
    """What the input may lack when ``res`` is skipped for want of its patient: its closed-world record class
    (:func:`~guidelinekg.patients.model.records_lacking`), unless ``reads`` (what the loaded guidelines
    read; ``None``: everything) says no loaded guideline reads it. Not for an Observation: a result of a
    measure is not closed-world (none read: its test is ordered), and a skipped one, perhaps older than those
    read, is no reason to set all of them aside (rule 19): its note names it. A medication record's is
    :func:`unclear_exposure`'s, by its product."""
    kind = res["resourceType"]
    if kind == "Observation" or reads is not None and reads.unread(kind, res) is not None:
        return ()  # a result: its test is ordered if none is read; one of no read measure: nothing
    return records_lacking([kind])


EXPOSURE = ("MedicationExposure",)
UNCLEAR_EXPOSURE = ("it may be a product a guideline reads, taken when a result was drawn or now: a result that must be "
                    "drawn off it is not used (its test is ordered), and not taking it is not ruled out")


def unclear_exposure(readable: bool, found: bool, possible: bool) -> tuple[str, ...]:
    """What a medication record without a usable time, product or patient leaves open, when the loaded
    guidelines read some substance: ``readable`` whether its product could be read at all, ``found``/
    ``possible`` whether it is (or may be) a substance a loaded guideline reads."""
    return EXPOSURE if found or possible or not readable else ()


class Unattributed:
    """The resources referring to a patient not in the input, per reference as written: one note each."""

    def __init__(self) -> None:
        self.found: dict[str, list[tuple[str, tuple[str, ...]]]] = defaultdict(list)

    def add(self, shown: str, record: str, lacks: tuple[str, ...]) -> None:
        self.found[shown].append((record, lacks))

    def notes(self) -> list[IngestNote]:
        """``unknown-patient`` notes, about the input as a whole, with what it may lack."""
        notes = []
        for shown, found in sorted(self.found.items()):
            records = [record for record, _ in found]
            lacks = tuple(sorted({cls for _, classes in found for cls in classes}))
            text = f"refer{'s' * (len(records) == 1)} to {shown!r}, not a Patient in the input; skipped{gap(lacks)}"
            if len(records) > 1:
                listed = ", ".join(records[:5]) + (f" and {len(records) - 5} more" if len(records) > 5 else "")
                text = f"{len(records)} resources ({listed}) {text}"
            notes.append(IngestNote("unknown-patient", text if len(records) > 1 else f"{records[0]} {text}",
                                    records[0] if len(records) == 1 else None, lacks))
        return notes
