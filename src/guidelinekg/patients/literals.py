"""Which RDF literals of a result's value are numbers: the forms the patient shapes accept, no more.

The shapes take ``gkg:value`` as ``xsd:decimal``, ``xsd:integer`` (and its narrower types), ``xsd:double`` or
``xsd:float``. Python's ``Decimal`` reads far more (``" 50 "``, Arabic or full-width digits, ``"4_5"``), and a
narrower integer type may hold a value outside its range (``"300"^^xsd:byte``): such a value is never used
(:func:`unusable_values`), so no report decides on a number the data do not state.
"""

from __future__ import annotations

import re

from guidelinekg.patients.model import GKG, NUMBER, XSD

_NUMERIC = {XSD + "decimal": re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)", re.ASCII),
            XSD + "integer": re.compile(r"[+-]?[0-9]+", re.ASCII)}
_NUMERIC[XSD + "double"] = _NUMERIC[XSD + "float"] = NUMBER  # INF and NaN are no result
# integers of a narrower range, as the shapes' xsd:integer takes them: (lowest, highest), None unbounded
_INTEGER_RANGES = {"long": (-2**63, 2**63 - 1), "int": (-2**31, 2**31 - 1), "short": (-2**15, 2**15 - 1),
                   "byte": (-128, 127), "nonNegativeInteger": (0, None), "positiveInteger": (1, None),
                   "nonPositiveInteger": (None, 0), "negativeInteger": (None, -1), "unsignedLong": (0, 2**64 - 1),
                   "unsignedInt": (0, 2**32 - 1), "unsignedShort": (0, 65535), "unsignedByte": (0, 255)}
for _derived in _INTEGER_RANGES:
    _NUMERIC[XSD + _derived] = _NUMERIC[XSD + "integer"]


def _out_of_range(datatype: str, lexical: str) -> str | None:
    """Why an integer of a narrower XSD type is out of its range (``"300"^^xsd:byte``), else ``None``."""
    name = datatype.removeprefix(XSD)
    if name not in _INTEGER_RANGES:
        return None
    low, high = _INTEGER_RANGES[name]
    value = int(lexical)
    if (low is None or value >= low) and (high is None or value <= high):
        return None
    return f"{lexical} is out of the range of xsd:{name} ({low if low is not None else ''}..{high if high is not None else ''})"


def unusable_values(ntriples: list[str]) -> dict[str, str | None]:
    """Subjects whose ``gkg:value`` is no number the patient shapes accept: a string literal (plain,
    ``xsd:string`` or language-tagged), another datatype (``rdf:HTML``, one of the data's own), or a lexical
    form its datatype does not allow (``" 50 "``, Arabic or full-width digits, ``"50.0"^^xsd:integer``), which
    Python's ``Decimal`` would still read: the shapes warn (``patient-data-invalid``), the value is never
    used (``None``). An integer out of its narrower type's range the shapes take: why, for a note."""
    value = f" <{GKG}value> "
    out: dict[str, str | None] = {}
    for line in ntriples:
        at = line.find(value)
        if at < 0:
            continue
        obj = line[at + len(value):-2]
        lexical, sep, datatype = obj.rpartition('"^^<')
        pattern = _NUMERIC.get(datatype[:-1]) if sep and lexical[:1] == '"' else None
        if pattern is None or not pattern.fullmatch(lexical[1:]):
            out[line.split(" ", 1)[0]] = None
        elif (why := _out_of_range(datatype[:-1], lexical[1:])) is not None:
            out[line.split(" ", 1)[0]] = why
    return out
