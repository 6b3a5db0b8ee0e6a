"""Decoding input files: UTF-8 text, and JSON that keeps every number's lexical form.

Shared by the patient loader (:mod:`guidelinekg.patients.loader`) and the FHIR reader
(:mod:`guidelinekg.patients.fhir`), which both read files an EHR wrote.
"""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from typing import Any

from guidelinekg.errors import InputError, Location


def decode_text(raw: bytes, location: Location) -> str:
    """UTF-8 text of an input file (BOM dropped); an empty file is an error."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"the file is not UTF-8 text (bad byte at offset {exc.start})", location) from None
    if not text.strip():
        raise InputError("the file is empty", location, hint="give a FHIR R4 JSON Bundle, JSON-LD or Turtle")
    return text


def parse_json(text: str, location: Location) -> Any:
    """Parse JSON keeping numbers' lexical forms (as :class:`~decimal.Decimal`)."""

    def reject_constant(name: str) -> Any:
        raise ValueError(f"{name} is not allowed in JSON")

    try:
        return json.loads(text, parse_float=Decimal, parse_int=Decimal, parse_constant=reject_constant)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"not valid JSON: {exc.msg}", replace(location, line=exc.lineno, column=exc.colno)
        ) from None
    except (ValueError, RecursionError) as exc:
        raise InputError(f"not valid JSON: {exc}", location) from None
