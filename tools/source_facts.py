"""Extract from a source document what the rendering tests check, into a data file the tests read.

The tests never read ``../shared``: a plain clone has no such folder. What they need from the source
(every number of its clinical text, every cited sentence with its reference markers, each with the line
of the source that states it) is kept in ``tests/data/sources/NAME.json``. Regenerate it when the source
changes, and review the diff::

    python tools/source_facts.py ../shared/sources/rls-iron-infusion.md

The clinical text is what follows the first ``---`` line and precedes "Professional Medical Disclaimer";
cited sentences are taken between the title line and "References".
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path

OUT_DIR = Path(__file__).resolve().parents[1] / "tests" / "data" / "sources"
TITLE = "Iron Infusion for Restless Legs Syndrome"

# A number as the source writes it. A hyphen is a minus sign only after a space or "(" ("median
# improvement -3 points"); between digits it is a range ("0.92-3.07", "15-30"). Commas separate numbers
# ("12,24, and 36", "1.68,95% CI"): the source has no thousands separators.
NUMBER = re.compile(r"(?:(?<=[\s(])-)?(?<![\d.])\d+(?:\.\d+)?")
# Reference markers: one or more single digits after a space, ending a sentence or a line ("... RLS 1, 3:",
# "... P=0.093) 4. Iron therapy ...").
MARKERS = re.compile(r"(?<=\s)((?:[1-9], )*[1-9])(?=[:.]?(?:\s*$|\s+[A-Z]))")


def body(text: str) -> list[tuple[int, str]]:
    """(line number in the file, line) of the clinical text."""
    lines = text.splitlines()
    start = lines.index("---") + 1
    end = next(i for i, line in enumerate(lines) if "Professional Medical Disclaimer" in line and i > start)
    return [(i + 1, lines[i]) for i in range(start, end)]


def numbers(lines: list[tuple[int, str]]) -> list[dict]:
    first: dict[str, tuple[int, str]] = {}
    for number, line in lines:
        for found in NUMBER.findall(line):
            first.setdefault(found, (number, line.strip()))
    return [{"number": n, "line": first[n][0], "context": first[n][1][:160]}
            for n in sorted(first, key=lambda n: (float(n), n))]


def cited_sentences(lines: list[tuple[int, str]]) -> list[dict]:
    texts = [line for _, line in lines]
    start, end = texts.index(TITLE), texts.index("References")
    found = []
    for number, line in lines[start:end]:
        position = 0
        for match in MARKERS.finditer(line):
            sentence = line[position : match.start()].strip().lstrip("•").strip()
            found.append({"sentence": sentence, "markers": match.group(1), "line": number})
            position = match.end()
            while position < len(line) and line[position] in ":. ":
                position += 1
    return found


def extract(source: Path) -> dict:
    raw = source.read_bytes()
    lines = body(raw.decode("utf-8"))
    return {
        "source": source.name,
        "sha256": hashlib.sha256(raw).hexdigest(),
        "extracted_by": "tools/source_facts.py",
        "numbers": numbers(lines),
        "cited_sentences": cited_sentences(lines),
    }


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    source = Path(argv[0])
    out = OUT_DIR / (source.stem + ".json")
    out.write_text(json.dumps(extract(source), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
