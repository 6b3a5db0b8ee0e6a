"""SPARQL syntax errors a person can read, the same for ``guidelinekg query`` and the ``serve`` endpoint.

The parser's own message lists what it expected at the point it gave up: often hundreds of Unicode
character ranges, or one keyword of the last alternative it tried (``expected OPTIONAL`` for a triple
pattern that lacks its object). :func:`syntax_error` says instead what is wrong, where (``line:column``)
and the text there: an empty query, an update, an unknown prefix, an unclosed bracket, an incomplete
triple pattern, the parser's own sentence where it has one (``SELECT * is not authorized with GROUP BY``),
else ``syntax error near '...'``.

>>> print(syntax_error("SELECT * WHERE { ?s ?p }", "q.rq", "error at 1:25: expected OPTIONAL", set()))
q.rq:1:18: SPARQL syntax error: incomplete triple pattern '?s ?p': a triple needs a subject, a predicate and an object
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from guidelinekg.errors import InputError, Location

_TOKEN = re.compile(
    r"""(?P<comment>\#[^\r\n]*)
      | (?P<string>\"\"\"(?:[^"\\]|\\.|"(?!""))*\"\"\"|'''(?:[^'\\]|\\.|'(?!''))*'''
                  |"(?:[^"\\\r\n]|\\.)*"|'(?:[^'\\\r\n]|\\.)*')
      | (?P<iri><[^<>"{}|^`\\\x00-\x20]*>)
      | (?P<var>[?$][\w\u00B7\u0300-\u036F\u203F\u2040]+)
      | (?P<pname>(?:[^\W\d_][\w.-]*)?:)
      | (?P<word>[^\W\d][\w-]*)
      | (?P<space>\s+)
      | (?P<other>.)""",
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True)
class Token:
    kind: str
    value: str
    pos: int

    @property
    def end(self) -> int:
        return self.pos + len(self.value)


def tokens(text: str) -> list[Token]:
    """The query's tokens outside comments, strings and IRIs are what the checks here look at."""
    return [Token(m.lastgroup or "other", m.group(), m.start()) for m in _TOKEN.finditer(text)
            if m.lastgroup not in ("space", "comment")]


def position(text: str, pos: int) -> tuple[int, int]:
    """1-based line and column of a character offset."""
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


def offset(text: str, line: int, column: int) -> int:
    """The character offset of a 1-based line and column (the inverse of :func:`position`)."""
    start = 0
    for _ in range(line - 1):
        start = text.find("\n", start) + 1
        if start == 0:
            return len(text)
    return min(start + column - 1, len(text))


def keywords(toks: list[Token]) -> list[Token]:
    """Word tokens that are not the local part of a prefixed name (``ex:SERVICE`` is no keyword)."""
    return [t for prev, t in zip([None, *toks], toks, strict=False) if t.kind == "word"
            and not (prev is not None and prev.kind == "pname" and prev.end == t.pos)]


UPDATE_KEYWORDS = ("INSERT", "DELETE", "LOAD", "CLEAR", "DROP", "CREATE", "ADD", "MOVE", "COPY", "WITH")
EMPTY_HINT = "write a SELECT, ASK, CONSTRUCT or DESCRIBE query"


def diagnose(text: str, source: str, toks: list[Token], known_prefixes: Mapping[str, str] | set[str], *,
             empty_hint: str = EMPTY_HINT) -> InputError | None:
    """A clearer message for common mistakes (an empty query, an update, an unknown prefix, an unclosed
    bracket), when the parser's own is less helpful. ``known_prefixes``: those declared without ``PREFIX``
    (a mapping gives the hint the namespace to declare)."""
    def at(pos: int) -> Location:
        return Location(source, *position(text, pos))

    if not toks:
        return InputError("the query is empty", Location(source), hint=empty_hint)
    first = next((t for t in keywords(toks) if t.value.upper() not in ("PREFIX", "BASE")), None)
    if first is not None and first.value.upper() in UPDATE_KEYWORDS:
        return InputError(f"{first.value.upper()} is SPARQL Update: the data are read-only here", at(first.pos),
                          hint="query runs SELECT, ASK, CONSTRUCT and DESCRIBE; rules that insert belong in "
                               "queries/rules/")
    declared = set(known_prefixes)
    for prev, tok in zip([None, *toks], toks, strict=False):
        if tok.kind == "pname" and prev is not None and prev.value.upper() == "PREFIX":
            declared.add(tok.value[:-1])
        elif tok.kind == "pname" and tok.value[:-1] not in declared and not (
                tok.value == ":" and prev is not None and prev.value == "_" and prev.end == tok.pos):  # _:b
            namespace = _namespace(tok.value[:-1], known_prefixes)
            return InputError(f"SPARQL syntax error: unknown prefix {tok.value!r}", at(tok.pos),
                              hint=f"declare it with PREFIX {tok.value} <{namespace}>")
    stack: list[Token] = []
    pairs = {")": "(", "}": "{", "]": "["}
    for tok in toks:
        if tok.value in "({[" and tok.kind == "other":
            stack.append(tok)
        elif tok.value in pairs and tok.kind == "other":
            if not stack or stack[-1].value != pairs[tok.value]:
                return InputError(f"SPARQL syntax error: unmatched {tok.value!r}", at(tok.pos))
            stack.pop()
    if stack:
        return InputError(f"SPARQL syntax error: {stack[-1].value!r} is never closed", at(stack[-1].pos))
    return None


def _namespace(prefix: str, known: Mapping[str, str] | set[str]) -> str:
    """The namespace the CLI binds ``prefix`` to (the endpoint binds none), for the hint; else ``...``."""
    if isinstance(known, Mapping) and prefix in known:
        return known[prefix]
    from guidelinekg.endpoint.params import query_prefixes

    return query_prefixes().get(prefix, "...")


#################################################################
# Triple patterns
#################################################################

_SEPARATORS = frozenset("{}.")
_STRUCTURE = frozenset("{}()[];,.")


def _term_end(toks: list[Token], i: int) -> int | None:
    """The index after the simple RDF term (variable, IRI, prefixed name, literal, number, ``a``, blank
    node label) starting at ``toks[i]``, or ``None`` when no simple term starts there."""
    tok = toks[i]

    def adjacent(j: int) -> bool:
        return j < len(toks) and toks[j].pos == toks[j - 1].end

    j = i + 1
    if tok.kind in ("var", "iri"):
        return j
    if tok.kind == "pname" or (tok.value == "_" and adjacent(j) and toks[j].value == ":"):
        j += tok.kind != "pname"
        while adjacent(j) and (toks[j].kind == "word" or (toks[j].kind == "other" and (
                toks[j].value not in _STRUCTURE or (toks[j].value == "." and adjacent(j + 1)
                                                   and toks[j + 1].kind in ("word", "other")
                                                   and toks[j + 1].value not in _STRUCTURE)))):
            j += 1
        return j
    if tok.kind == "string":
        if adjacent(j) and toks[j].value == "@" and adjacent(j + 1):
            j += 2
            while adjacent(j) and (toks[j].value == "-" or toks[j].kind == "word"):
                j += 1
        elif adjacent(j) and toks[j].value == "^" and adjacent(j + 1) and toks[j + 1].value == "^" \
                and adjacent(j + 2) and toks[j + 2].kind in ("iri", "pname"):
            return _term_end(toks, j + 2)
        return j
    if tok.kind == "word":
        return j if tok.value in ("a", "true", "false") else None
    if tok.value.isdigit() or (tok.value in "+-" and adjacent(j) and toks[j].value.isdigit()):
        while adjacent(j) and (toks[j].value.isdigit() or toks[j].kind == "word"
                               or (toks[j].value in ".+-" and adjacent(j + 1) and toks[j + 1].value.isdigit())):
            j += 1
        return j
    return None


def _values_block(toks: list[Token], brace: int) -> bool:
    """Whether the ``{`` at ``toks[brace]`` opens the data of ``VALUES ?x { ... }`` or ``VALUES (?x ?y) {``."""
    k = brace - 1
    while k >= 0 and (toks[k].kind == "var" or toks[k].value in "()"):
        k -= 1
    return k >= 0 and toks[k].kind == "word" and toks[k].value.upper() == "VALUES"


def triple_pattern_problem(text: str, toks: list[Token], before: int) -> tuple[int, str] | None:
    """The first plain triple pattern (simple terms with ``;`` and ``,``, after ``{``, ``}`` or ``.`` and ended by
    ``.``, ``{`` or ``}``) starting at or before offset ``before`` that has too few or too many terms: (its offset,
    what is wrong). Anything else in a run (a keyword, a path, brackets) leaves it to the parser's message."""
    i, n = 0, len(toks)
    while i < n and toks[i].pos <= before:
        if toks[i].value not in "{}" or toks[i].kind != "other":
            i += 1
            continue
        inside_values = toks[i].value == "{" and _values_block(toks, i)
        i += 1
        while i < n and not (toks[i].kind == "other" and toks[i].value in "{}"):  # the runs of this group level
            start, counts, plain = i, [0], True
            separators = [""]
            while i < n and not (toks[i].kind == "other" and toks[i].value in _SEPARATORS):
                if toks[i].kind == "other" and toks[i].value in ";,":
                    separators.append(toks[i].value)
                    counts.append(0)
                    i += 1
                elif (end := _term_end(toks, i)) is not None:
                    counts[-1] += 1
                    i = end
                else:
                    plain = False
                    i += 1
            if plain and not inside_values and i > start and toks[start].pos <= before and i < n:
                needed = {"": (3,), ";": (0, 2), ",": (1,)}
                wrong = [(sep, c) for sep, c in zip(separators, counts, strict=True) if c not in needed[sep]]
                if wrong:
                    run = " ".join(text[toks[start].pos:toks[i].pos].split())
                    sep, count = wrong[0]
                    if count > max(needed[sep]):
                        return toks[start].pos, f"too many terms for one triple pattern in {run!r} (is a '.' missing?)"
                    return toks[start].pos, (f"incomplete triple pattern {run!r}: a triple needs a subject, a "
                                             "predicate and an object")
            if i < n and toks[i].value == ".":
                i += 1
    return None


#################################################################
# The message
#################################################################

_PARSER_MESSAGE = re.compile(r"(?:Parser )?error at (\d+):(\d+): (.*)", re.DOTALL)


def near(text: str, pos: int) -> str:
    """The text around an offset, on one line, in whole words, quoted: what a person looks for in the query."""
    before, after = text[max(0, pos - 30):pos], text[pos:pos + 20]
    if pos > 30 and " " in before.strip():  # from a word's start
        before = "..." + before.split(None, 1)[1] if not before[0].isspace() else "..." + before.lstrip()
    if pos + 20 < len(text.rstrip()) and " " in after.strip():  # to a word's end
        after = after.rsplit(None, 1)[0] + "..." if not text[pos + 20:pos + 21].isspace() else after + "..."
    before, after = " ".join(before.split()), " ".join(after.split())
    if not after:
        return f"at the end of the query, after {before!r}"
    gap = " " if text[pos - 1:pos].isspace() and before else ""
    return f"near {before + gap + after!r}"


def syntax_error(text: str, source: str, parser_message: str, known_prefixes: Mapping[str, str] | set[str], *,
                 empty_hint: str = EMPTY_HINT) -> InputError:
    """The error for a query the parser refused with ``parser_message``: one line with where and what
    (plus a hint line for some), never the parser's list of expected characters."""
    toks = tokens(text)
    known = diagnose(text, source, toks, known_prefixes, empty_hint=empty_hint)
    if known is not None:
        return known
    m = _PARSER_MESSAGE.match(" ".join(parser_message.split()))
    if m is None:
        return InputError(f"SPARQL syntax error: {parser_message[:200]}", Location(source))
    pos = offset(text, int(m[1]), int(m[2]))
    problem = triple_pattern_problem(text, toks, pos)
    if problem is not None:
        return InputError(f"SPARQL syntax error: {problem[1]}", Location(source, *position(text, problem[0])))
    if not text[pos:].strip():  # the parser stopped at the very end (often the line after the last one)
        pos = len(text.rstrip())
    expected = m[3].removeprefix("expected one of ").removeprefix("expected ").split(", ")
    sentence = next((e for e in expected if _is_sentence(e)), None)
    message = f"SPARQL syntax error {near(text, pos)}" + (f": {sentence}" if sentence else "")
    return InputError(message, Location(source, *position(text, pos)))


def _is_sentence(expectation: str) -> bool:
    """Whether an item of the parser's expected list is a sentence it wrote (``SELECT * is not authorized
    with GROUP BY``), not a token, keyword or character range."""
    return (not expectation.startswith(("\"", "'", "[")) and " " in expectation.strip()
            and re.search(r"\b[a-z]{2,}\b", expectation) is not None)
