"""The chunker's steps 1 and 2: every line classified on its own (blank, Markdown heading, list item, table
row, code, rule, text), then, in context, which lines are headings, which is the document's title and
which runs of heading-like lines are a table of contents.

``kb.chunk`` groups the classified lines into sections, blocks, units and passages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kb.boilerplate import _HEADING_RULES, _LINE_RULES
from kb.sentences import _wordset

# A list or table of at least this many entries, most of them repeating later headings, is a
# table of contents.
_TOC_MIN_ENTRIES = 3
_TOC_MATCH_SHARE = 2 / 3

# --------------------------------------------------------------------------------------------
# Headings in plain text

#: A plain-text heading is at most this long; FAQ questions may be a little longer.
_HEADING_MAX_WORDS = 12
_HEADING_MAX_CHARS = 100
_QUESTION_MAX_WORDS = 16
_QUESTION_MAX_CHARS = 120
_TITLE_MAX_CHARS = 120

#: A line ending in one of these words is a sentence running on (a lead-in without its colon, a
#: hard-wrapped line), not a heading.
_NOT_HEADING_LAST_WORDS = _wordset(
    """a an the of and or nor but to with by as at from in on into than that which who whose
    is are was were be been include includes including such like following your their its this
    these those if when because while"""
)

_CLOSERS = "\"'”’)]*_"

# --------------------------------------------------------------------------------------------
# Line classification

_BLANK, _TEXT, _ATX, _HEADING, _TITLE, _UNDERLINE, _HR, _CODE, _LIST, _LISTCONT, _TABLE, _TOC = (
    "blank",
    "text",
    "atx",
    "heading",
    "title",
    "underline",
    "hr",
    "code",
    "list",
    "listcont",
    "table",
    "toc",
)
_HEADING_KINDS = (_ATX, _HEADING)
_PLAIN_HEADING_LEVEL = 7  # plain-text headings nest below any Markdown heading, flat among themselves

_ATX_RE = re.compile(r"^(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
_FENCE_RE = re.compile(r"^(```|~~~)")
_HR_RE = re.compile(r"^([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_UNDERLINE_RE = re.compile(r"^(={3,}|-{3,})[ \t]*$")
_LIST_RE = re.compile(r"^(?:[-*+•◦▪‣]\s+|•\s*|\d{1,3}[.)]\s+)\S")
_BOLD_LINE_RE = re.compile(r"^(\*\*|__)([^*_].*?)\1$")
_LINK_RE = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_NON_WORD_RE = re.compile(r"[^\w]+")
_LEADING_NUMBER_RE = re.compile(r"^\s*(?:\d+(?:\.\d+)*[.)]?|[-*+•◦▪‣])\s+")


@dataclass(slots=True)
class _Line:
    start: int  # offset of the first non-space character
    end: int  # offset after the last non-space character
    text: str  # the stripped line
    indent: int
    kind: str
    level: int = 0
    heading: str = ""  # the heading's text without markup
    candidate: bool = False  # could be a plain-text heading, judged on the line alone
    standalone: bool = False  # a boilerplate line that must be its own paragraph
    line_reason: str = ""


# --------------------------------------------------------------------------------------------
# Step 1: lines


def _scan(text: str, markdown: bool) -> list[_Line]:
    """Classify every line on its own; context (headings, continuations) comes later."""
    lines: list[_Line] = []
    pos = 0
    fence = ""
    for raw in text.split("\n"):
        stripped = raw.strip()
        indent = len(raw) - len(raw.lstrip())
        start = pos + indent
        line = _Line(start=start, end=start + len(stripped), text=stripped, indent=indent, kind=_TEXT)
        pos += len(raw) + 1
        if fence:
            line.kind = _CODE
            if stripped.startswith(fence):
                fence = ""
        elif (m := _FENCE_RE.match(stripped)) and indent < 4:
            line.kind, fence = _CODE, m.group(1)
        else:
            _classify(line, lines, markdown)
        lines.append(line)
    return lines


def _classify(line: _Line, previous: list[_Line], markdown: bool) -> None:
    text = line.text
    if not text:
        line.kind = _BLANK
        return
    prev = previous[-1] if previous else None
    if _UNDERLINE_RE.match(text) and prev is not None and prev.kind == _TEXT and _setext_title(prev.text):
        prev.kind, prev.level, prev.heading = _ATX, 1 if text[0] == "=" else 2, prev.text
        line.kind = _UNDERLINE
    elif _HR_RE.match(text):
        line.kind = _HR
    elif (m := _ATX_RE.match(text)) and line.indent < 4 and m.group(2):
        line.kind, line.level, line.heading = _ATX, len(m.group(1)), _strip_markup(m.group(2))
    elif _LIST_RE.match(text):
        line.kind = _LIST
    elif _is_table_row(text):
        line.kind = _TABLE
    elif line.indent >= 2 and _last_nonblank_kind(previous) in (_LIST, _LISTCONT):
        line.kind = _LISTCONT
    else:
        line.line_reason = _LINE_RULES.reason(text)
        line.standalone = bool(line.line_reason)
        line.candidate = not line.standalone and _heading_candidate(line, markdown)


def _setext_title(text: str) -> bool:
    return len(text) <= _TITLE_MAX_CHARS and text[-1] not in ".,;:"


def _is_table_row(text: str) -> bool:
    return len(text) > 1 and (text[0] == "|" or text[-1] == "|" or text.count("|") >= 2)


def _last_nonblank_kind(lines: list[_Line]) -> str:
    for line in reversed(lines):
        if line.kind != _BLANK:
            return line.kind
    return _BLANK


def _heading_candidate(line: _Line, markdown: bool) -> bool:
    """Could this line alone be a heading? (Whether it opens a section is decided in context.)"""
    text = line.text
    if markdown:
        m = _BOLD_LINE_RE.match(text)
        if not m:
            return False
        text = m.group(2).strip()
        line.heading = text
    else:
        line.heading = text
    return bool(text) and _reads_like_heading(text)


def _reads_like_heading(text: str) -> bool:
    """Short, capitalised, not ending like a sentence; a question may be a little longer (FAQ)."""
    first = text.lstrip("\"'“‘(")[:1]
    if not first or not (first.isupper() or first.isdigit()):
        return False
    words = text.split()
    if text.rstrip(_CLOSERS).endswith("?"):
        return len(words) <= _QUESTION_MAX_WORDS and len(text) <= _QUESTION_MAX_CHARS
    if text[-1] in ".,;:!" or len(words) > _HEADING_MAX_WORDS or len(text) > _HEADING_MAX_CHARS:
        return False
    return words[-1].lower().strip("\"'”’)") not in _NOT_HEADING_LAST_WORDS


# --------------------------------------------------------------------------------------------
# Step 2: headings, title, table of contents


def _mark_headings(lines: list[_Line], title: str, markdown: bool) -> None:
    """Turn candidate lines into headings where the context agrees, then find title and TOC."""
    _resolve_candidates(lines)
    _mark_title(lines, title, markdown)
    _mark_toc_runs(lines)


def _resolve_candidates(lines: list[_Line]) -> None:
    """A candidate is a heading if it starts fresh (not the tail of a wrapped sentence) and is
    followed by body text, a list, a table or another heading (the last makes chains such as
    "People May Ask" + its questions work)."""
    fresh = _fresh_starts(lines)
    n = len(lines)
    for i in range(n - 1, -1, -1):
        line = lines[i]
        if not (line.candidate and fresh[i]):
            continue
        j, blank = i + 1, False
        while j < n and lines[j].kind == _BLANK:
            j, blank = j + 1, True
        if j == n:
            continue
        nxt = lines[j]
        if nxt.kind == _TEXT:
            ok = blank or nxt.standalone or _starts_capitalised(nxt.text)
        else:
            ok = nxt.kind in (_LIST, _TABLE, _CODE, _ATX, _HEADING)
        if ok:
            line.kind, line.level = _HEADING, _PLAIN_HEADING_LEVEL


def _fresh_starts(lines: list[_Line]) -> list[bool]:
    """Whether each line starts a new block rather than continuing the previous line's sentence."""
    fresh = [False] * len(lines)
    for i, line in enumerate(lines):
        if i == 0:
            fresh[i] = True
            continue
        prev = lines[i - 1]
        fresh[i] = (
            prev.kind != _TEXT
            or prev.standalone
            or line.standalone
            or _ends_sentence(prev.text)
            or (prev.candidate and fresh[i - 1])
        )
    return fresh


def _starts_capitalised(text: str) -> bool:
    first = text.lstrip("\"'“‘([*_")[:1]
    return bool(first) and (first.isupper() or first.isdigit())


def _ends_sentence(text: str) -> bool:
    stripped = text.rstrip(_CLOSERS)
    return bool(stripped) and stripped[-1] in ".!?:;…"


def _mark_title(lines: list[_Line], title: str, markdown: bool) -> None:
    """The first line is the document's title (not a section, not a passage) when it is a
    heading-like line that equals the title, has no body of its own, or is the only H1."""
    first = next((i for i, ln in enumerate(lines) if ln.kind != _BLANK), None)
    if first is None:
        return
    line = lines[first]
    text = line.heading if line.kind in _HEADING_KINDS else line.text
    if _HEADING_RULES.reason(text.rstrip(" :.?!")):  # "Contents", "Disclaimer": never the title
        return
    same = _normalise(text) == _normalise(title) and bool(title.strip())
    if line.kind == _TEXT and not markdown and same and _setext_title(line.text):
        line.kind = _TITLE
        return
    if line.kind not in _HEADING_KINDS:
        return
    nxt = next((ln for ln in lines[first + 1 :] if ln.kind not in (_BLANK, _UNDERLINE)), None)
    no_body = nxt is None or nxt.kind in _HEADING_KINDS
    only_h1 = (
        line.kind == _ATX
        and line.level == 1
        and not any(ln.kind == _ATX and ln.level == 1 for ln in lines[first + 1 :])
    )
    if same or no_body or only_h1:
        line.kind = _TITLE


def _mark_toc_runs(lines: list[_Line]) -> None:
    """A run of heading lines with no body, repeating later headings, is a table of contents
    written without bullets; it becomes a TOC block instead of a row of empty sections."""
    runs: list[list[int]] = []
    current: list[int] = []
    for i, line in enumerate(lines):
        if line.kind in _HEADING_KINDS:
            current.append(i)
        elif line.kind != _BLANK:
            if len(current) > _TOC_MIN_ENTRIES:
                runs.append(current)
            current = []
    for run in runs:
        entries = run[:-1]  # the last heading of the run opens the first real section
        texts = [_normalise(lines[i].heading) for i in entries]
        later = {_normalise(ln.heading) for ln in lines[run[-1] :] if ln.kind in _HEADING_KINDS}
        if _mostly_in(texts, later):
            for i in entries:
                lines[i].kind = _TOC


def _mostly_in(texts: list[str], headings: set[str]) -> bool:
    texts = [t for t in texts if t]
    if len(texts) < _TOC_MIN_ENTRIES:
        return False
    return sum(t in headings for t in texts) >= _TOC_MATCH_SHARE * len(texts)


def _normalise(text: str) -> str:
    """Compare headings and TOC entries: no links, numbering, punctuation or case."""
    text = _LINK_RE.sub(r"\1", text)
    text = _LEADING_NUMBER_RE.sub("", text)
    return _NON_WORD_RE.sub(" ", text).strip().lower()


def _strip_markup(text: str) -> str:
    return text.strip().strip("*_`").strip()
