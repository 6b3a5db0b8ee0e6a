"""Values in the audit's messages: as JSON, bounded in length, and two values that differ shown where they
differ (their common start elided with ``...``), so a long IRI changed near its end does not read the same
twice."""

from __future__ import annotations

import json

LIMIT = 80  # characters of one value shown at most (plus the ``...`` marks)
CONTEXT = 16  # characters kept before the first one that differs, when the common start is elided


def as_json(value, sort_keys: bool = True) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=sort_keys)


def shown(value, limit: int = LIMIT, sort_keys: bool = True) -> str:
    """One value as JSON, cut after ``limit`` characters with a visible ``...``."""
    text = as_json(value, sort_keys)
    return text if len(text) <= limit else text[:limit] + "..."


def shown_pair(first, second, limit: int = LIMIT, sort_keys: bool = True, absent=None) -> tuple[str, str]:
    """Two values that differ, each as JSON: in full when both are short; else each from a little before the
    first character that differs (the common start elided with ``...``), cut after ``limit`` characters, so
    both always show the first difference. A value that ``is absent`` shows as ``(absent)``."""
    texts = [None if v is absent and absent is not None else as_json(v, sort_keys) for v in (first, second)]
    present = [t for t in texts if t is not None]
    if all(len(t) <= limit for t in present):
        return tuple("(absent)" if t is None else t for t in texts)
    common = 0
    if len(present) == 2:
        a, b = present
        while common < min(len(a), len(b)) and a[common] == b[common]:
            common += 1
    start = max(0, common - CONTEXT)

    def one(text: str | None) -> str:
        if text is None:
            return "(absent)"
        part = text[start:]
        return ("..." if start else "") + (part if len(part) <= limit else part[:limit] + "...")

    return one(texts[0]), one(texts[1])
