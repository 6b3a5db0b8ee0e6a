"""The Markdown of a card's ``detail`` (CDS Hooks asks for GitHub Flavored Markdown) and its ``summary``.

Content never becomes markup: every text from a guideline or a record is put on one line, HTML is
escaped, and so are the characters that would start emphasis, a link, code or a block. A summary is cut
to fewer than 140 characters at a word where it can be, with an ellipsis.
"""

from __future__ import annotations

import re

from guidelinekg.report.views import work_url

SUMMARY_MAX = 139  # CDS Hooks: a summary of fewer than 140 characters
_INLINE = re.compile(r"([\\`*_\[\]~|])")
_BLOCK = re.compile(r"^([#>+=-]|\d+[.)])")


def text(value: object) -> str:
    """A text as Markdown that shows it as written, on one line."""
    plain = " ".join(str(value).split())
    plain = plain.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BLOCK.sub(r"\\\1", _INLINE.sub(r"\\\1", plain))


def summary(value: str) -> str:
    """One line of fewer than 140 characters."""
    plain = " ".join(value.split())
    if len(plain) <= SUMMARY_MAX:
        return plain
    cut = plain[:SUMMARY_MAX - 1]
    space = cut.rfind(" ")
    if space > SUMMARY_MAX // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-") + "…"


def steps(lines: list[str]) -> list[str]:
    """An explanation (lines indented two spaces per level, as the report's ``because``) as a nested list."""
    out = []
    for line in lines:
        depth = (len(line) - len(line.lstrip(" "))) // 2
        out.append("  " * depth + "- " + text(line.strip()))
    return out


def section(title: str, items: list[str]) -> list[str]:
    """A bold title and its list, or nothing."""
    return ["", f"**{title}**", "", *items] if items else []


def citation_items(citations: list[dict]) -> list[str]:
    """Each citation on a line: a cited work with its year and link, a source marker as what it is."""
    out = []
    for c in citations:
        if c.get("title"):
            year = f" ({c['year']})" if c.get("year") else ""
            url = work_url(c)
            ident = f"DOI {c['doi']}" if c.get("doi") else (f"PMID {c['pmid']}" if c.get("pmid") else "")
            link = f" [{text(ident)}]({url})" if url else ""
            checked = " (checked against)" if c.get("kind") == "verified-against" else ""
            item = f"- {text(c['title'])}{year}.{link}{checked}"
        else:
            item = f"- reference {text(c.get('reference', '?'))} of the source ({text(c.get('resolution', 'unresolved'))})"
        if item not in out:
            out.append(item)
    return out
