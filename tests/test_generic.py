"""Nothing in src/ is specific to one guideline: more guidelines will follow with no code change."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

SRC = Path(__file__).parents[1] / "src" / "guidelinekg"
# Names that belong to the RLS iron guideline's content, not to the engine.
GUIDELINE_SPECIFIC = re.compile(
    r"\b(rls|restless|ferritin|iron|tsat|transferrin|carboxymaltose|ferumoxytol|dextran|sucrose|ferrous|"
    r"esrd|dialysis|injectafer|venofer|2276-4|2502-3|20567-4|14801-5|29463-7|2777-1|32914008|46177005)\b",
    re.IGNORECASE,
)


@pytest.mark.parametrize("path", sorted(SRC.rglob("*.py")), ids=lambda p: str(p.relative_to(SRC)))
def test_source_names_no_guideline_content(path):
    hits = [f"{path.name}:{n}: {line.strip()}" for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
            if GUIDELINE_SPECIFIC.search(line)]
    assert not hits, "guideline-specific names in src/:\n" + "\n".join(hits)
