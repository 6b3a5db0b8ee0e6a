"""The Markdown of a card's ``detail`` (CDS Hooks asks for GitHub Flavored Markdown) and its ``summary``.

Content never becomes markup: every text from a guideline or a record is put on one line, HTML is
escaped, and so are the characters that would start emphasis, a link, code or a block. A summary is cut
to fewer than 140 characters at a word where it can be, with an ellipsis. How far a statement was checked and
what is in doubt about it (:func:`checks`, and the status after "checked against") are worded by
:mod:`guidelinekg.report.doubts`, as in the text report and the FHIR notes.
"""

from __future__ import annotations

import re

from guidelinekg.report.doubts import doubt_text, status_text
from guidelinekg.report.views import work_url

SUMMARY_MAX = 139  # CDS Hooks: a summary of fewer than 140 characters
_INLINE = re.compile(r"([\\`*_\[\]~|])")
_BLOCK = re.compile(r"^(\d+(?=[.)])|)([#>+=.)-])")  # the punctuation escaped: "1\." is "1." anywhere in a line


def text(value: object) -> str:
    """A text as Markdown that shows it as written, on one line."""
    plain = " ".join(str(value).split())
    plain = plain.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BLOCK.sub(r"\1\\\2", _INLINE.sub(r"\\\1", plain))


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


def citation_items(citations: list[dict], verification: dict | None = None) -> list[str]:
    """Each citation on a line: a cited work with its year and link, a source marker as what it is; a work
    the statement was checked against with how far it was (``verification``: the statement's own status, else
    the status the citation carries), never more than recorded."""
    out = []
    for c in citations:
        if c.get("title"):
            year = f" ({c['year']})" if c.get("year") else ""
            url = work_url(c)
            ident = f"DOI {c['doi']}" if c.get("doi") else (f"PMID {c['pmid']}" if c.get("pmid") else "")
            link = f" [{text(ident)}]({url})" if url else ""
            checked = f" (checked against: {checked_status(c, verification)})" if c.get("kind") == "verified-against" else ""
            item = f"- {text(c['title'])}{year}.{link}{checked}"
        else:
            item = f"- reference {text(c.get('reference', '?'))} of the source ({text(c.get('resolution', 'unresolved'))})"
        if item not in out:
            out.append(item)
    return out


def checked_status(citation: dict, verification: dict | None) -> str:
    """How far a statement was checked against a work: its status as the text report words it."""
    if verification or not citation.get("status"):
        return text(status_text(verification))
    return text(citation["status"])


def caution_item(c: dict) -> str:
    """A caution, with its verification status when recorded."""
    status = f" ({text(status_text(c['verification']))})" if c.get("verification") else ""
    return f"- **{text(c['label'])}**: {text(c['text'])}{status}"


def checks(item: dict, *, own_only: bool = False, dosing: bool = False) -> list[str]:
    """List items saying how far a statement was checked and what is in doubt, as the text report says them:
    its status (when no checked-against citation already says it), its dosing statements' (``dosing``), and
    each doubt about it, its dosing, requirements or cautions, with the status of the source's version
    (``own_only``: the doubts about the statement itself, for a statement not made)."""
    out = []
    if item.get("verification") and not any(c.get("kind") == "verified-against" for c in item.get("citations", [])):
        out.append(f"- Verification: {text(status_text(item['verification']))}")
    if dosing:
        out += [f'- Dosing "{text(d["label"] or d["statement"])}": {text(status_text(d["verification"]))}'
                for d in item.get("dosing", [])]
    doubts = [d for d in item.get("doubts", []) if not own_only or d.get("concerns") == item.get("iri")]
    doubts += [d for c in item.get("cautions", []) for d in c.get("doubts", [])]
    for d in doubts:
        own = f" (the source's version: {text(status_text(d['verification']))})" if d.get("verification") else ""
        line = f"- **Doubt**{own}: {text(doubt_text(d))}"
        if line not in out:
            out.append(line)
    return out
