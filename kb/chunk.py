"""Document -> passages a researcher would cite.

The chunker works in four steps, each a small function:

1. ``_scan``: split the text into lines and classify each one structurally (blank, Markdown
   heading, list item, table row, code, rule, text).
2. ``_mark_headings``: decide which text lines are headings (Markdown ``#``, setext, or in plain
   text a short line that opens a section, FAQ questions included), which line is the document
   title, and which runs of heading-like lines are really a table of contents.
3. ``_sections`` and ``_units``: group lines into sections (heading path) and blocks (paragraphs,
   lists with their lead-in sentence, tables, code), then into units that must not be cut:
   sentences, list groups, tables. Boilerplate is flagged here.
4. ``_pack``: pack units into chunks of ``min_words``..``max_words`` without crossing a section,
   a paragraph when avoidable, or a boilerplate boundary.

Every chunk is a slice of ``doc.text``: ``doc.text[c.char_start:c.char_end] == c.text``. The
chunker never rewrites text, so highlights and citations can point back into the document.
"""

from __future__ import annotations

import bisect
import itertools
import math
import re
from dataclasses import dataclass, field

from kb.model import Chunk, Document

# --------------------------------------------------------------------------------------------
# Boilerplate: one readable list. Patterns recur across health websites, so they are written
# for the genre, not for one file. Scopes:
#   "heading": a heading that opens a boilerplate section; everything under it is flagged.
#   "line":    a line that is boilerplate on its own (a cross-link in the middle of a section);
#              it never counts as a heading and always becomes its own chunk.
#   "text":    a sentence; a short paragraph containing it is flagged whole, a long one only
#              loses that sentence to a separate boilerplate chunk.
# Matching is case-insensitive; heading rules see the heading without trailing punctuation.


@dataclass(frozen=True, slots=True)
class BoilerplateRule:
    scope: str
    reason: str
    pattern: str


BOILERPLATE_RULES: tuple[BoilerplateRule, ...] = (
    # Section headings
    BoilerplateRule("heading", "disclaimer", r"^(?:medical |legal |important |site )?disclaimers?$"),
    BoilerplateRule("heading", "call to action", r"^(?:find|get|seek) (?:help|treatment|support)\b"),
    BoilerplateRule("heading", "call to action", r"^(?:contact us|get in touch|how we can help)\b"),
    BoilerplateRule(
        "heading",
        "cross-link",
        r"^(?:(?:related|recommended|popular|more|further) (?:articles|posts|reading|stories|resources|links)|"
        r"you may also like|see also)$",
    ),
    BoilerplateRule("heading", "table of contents", r"^(?:table of contents|contents|in this article|on this page)$"),
    # Lines that are boilerplate wherever they sit
    BoilerplateRule(
        "line",
        "cross-link",
        r"^(?:must read|read more|read next|read also|also read|related(?: articles?| posts?| reading)?|"
        r"see also|recommended(?: reading)?|you may also like|don['’]t miss)\s*[:\-–—>|»]",
    ),
    BoilerplateRule("line", "cross-link", r"^(?:read more|continue reading|keep reading|learn more)\W*$"),
    BoilerplateRule(
        "line",
        "promotion",
        r"^(?:advertisement|sponsored(?: content)?|share (?:this|on)\b.*|subscribe\b.*newsletter.*|"
        r"sign up\b.*newsletter.*)$",
    ),
    # Sentences
    BoilerplateRule("text", "click here", r"\bclick here\b"),
    BoilerplateRule(
        "text",
        "call to action",
        r"\bcontact (?:us|our (?:[\w-]+ ){0,4}(?:team|staff|specialists?|experts?|advisors?|counselors?))\b",
    ),
    BoilerplateRule("text", "call to action", r"\bcall (?:us )?(?:now|today)\b|\bgive us a call\b"),
    BoilerplateRule("text", "call to action", r"\b(?:we|our team) invites? you to\b|\breach out to us\b"),
    BoilerplateRule("text", "call to action", r"\bwe(?:['’]re| are) here (?:and ready )?to help\b"),
    BoilerplateRule(
        "text",
        "call to action",
        r"\b(?:start|begin) your (?:journey|road|path) to recovery\b|\bverify your insurance\b",
    ),
    BoilerplateRule("text", "disclaimer", r"^(?:medical |legal )?disclaimer\s*:"),
    BoilerplateRule(
        "text", "disclaimer", r"\b(?:intended )?for (?:general )?(?:educational|informational) purposes only\b"
    ),
    BoilerplateRule(
        "text",
        "disclaimer",
        r"\bnot (?:intended (?:to be |as )?)?(?:a substitute|a replacement) for professional medical advice\b",
    ),
    BoilerplateRule("text", "promotion", r"\bfor more (?:information|details|tips)\b[^.]{0,40}\bvisit\b"),
)


@dataclass(frozen=True, slots=True)
class _CompiledRules:
    """One scope's rules: a combined pattern to reject most text in one search, then each rule."""

    any: re.Pattern[str]
    each: tuple[tuple[re.Pattern[str], str], ...]

    def reason(self, text: str) -> str:
        if not self.any.search(text):
            return ""
        for pattern, reason in self.each:
            if pattern.search(text):
                return reason
        return ""


def _compile(scope: str) -> _CompiledRules:
    rules = [r for r in BOILERPLATE_RULES if r.scope == scope]
    return _CompiledRules(
        any=re.compile("|".join(f"(?:{r.pattern})" for r in rules), re.IGNORECASE),
        each=tuple((re.compile(r.pattern, re.IGNORECASE), r.reason) for r in rules),
    )


_HEADING_RULES = _compile("heading")
_LINE_RULES = _compile("line")
_TEXT_RULES = _compile("text")

# A paragraph with a boilerplate sentence is flagged whole when it is this short (sentences) or
# the boilerplate is at least this share of its words; otherwise only the sentence is cut out.
_SHORT_PARAGRAPH_SENTENCES = 3
_BOILERPLATE_SHARE = 0.4

# A list or table of at least this many entries, most of them repeating later headings, is a
# table of contents.
_TOC_MIN_ENTRIES = 3
_TOC_MATCH_SHARE = 2 / 3


def _wordset(words: str) -> frozenset[str]:
    """A set written as a readable, whitespace-separated block of words."""
    return frozenset(words.split())


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

# --------------------------------------------------------------------------------------------
# Sentences

#: Lowercase tokens ending in "." that do not end a sentence. Units such as "mg." need no entry:
#: a sentence never starts in lowercase ("5 mg. twice daily"), and "80 mg. Patients ..." is a
#: real sentence end. Dotted initialisms (e.g., i.e., U.S., a.m., b.i.d.) are caught by pattern.
_ABBREVIATIONS = _wordset(
    """dr. mr. mrs. ms. prof. st. jr. sr. vs. approx. ca. cf. al. inc. ltd. co. corp. dept. ed.
    eds. rev. est. avg. jan. feb. mar. apr. jun. jul. aug. sep. sept. oct. nov. dec. mt. ft.
    distr."""
)
#: Abbreviations only before a number: "No. 6", "Fig. 2", but "No. Stopping it abruptly ...".
_NUMBER_ABBREVIATIONS = _wordset("""no. nos. fig. figs. vol. vols. p. pp. ref. refs. tab.""")
#: A quotation is not cut into sentences, unless its opening quote is this far back (a stray
#: quote mark must not glue the rest of a document into one sentence).
_MAX_QUOTE_CHARS = 600
_INITIALISM = re.compile(r"(?:[a-z]\.){2,}")
#: A sentence ends at . ! ? … (plus closing quotes/brackets) before whitespace and a capital,
#: a digit or an opening quote/bracket. Decimals ("2.5 mg") have no whitespace after the dot.
_SENTENCE_END = re.compile(r"""[.!?…]+["'”’)\]]*(?=\s+["'“‘(\[]*[A-Z0-9])""")
_CLOSERS = "\"'”’)]*_"

#: Where to cut a run-on "sentence" of more than 2*max_words (label text flattened from tables
#: or inline bullet lists), in order of preference.
_RUNON_CUTS = (re.compile(r"\s(?=•)"), re.compile(r"(?<=;)\s"), re.compile(r"(?<=,)\s"), re.compile(r"\s"))

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


@dataclass(slots=True)
class _Block:
    kind: str  # "para" | "list" | "table" | "code" | "toc" | "break"
    start: int = 0
    end: int = 0
    items: list[tuple[int, int]] = field(default_factory=list)  # list items / table rows
    reason: str = ""  # boilerplate reason known from the lines (standalone line, TOC)
    line: int = 0  # index of the first line (to find the headings after it)


@dataclass(slots=True)
class _Section:
    path: str
    reason: str
    blocks: list[_Block] = field(default_factory=list)


@dataclass(slots=True)
class _Unit:
    """A span the packer never cuts: a sentence, a list with its lead-in, a table."""

    start: int
    end: int
    words: int
    para: int  # units of one paragraph share this id
    reason: str = ""
    solo: bool = False  # a table, code, TOC: a chunk of its own
    hard_break: bool = False  # nothing before it may join its chunk (a horizontal rule)


# --------------------------------------------------------------------------------------------
# Public API


def chunk_document(doc: Document, *, min_words: int = 40, max_words: int = 150) -> list[Chunk]:
    """Cut a document into passages: section-aware, lists kept with their lead-in, boilerplate flagged.

    Same text, same chunks: nothing here depends on anything but ``doc`` and the two sizes.
    """
    if min_words < 1 or max_words < min_words:
        raise ValueError(f"need 1 <= min_words <= max_words, got {min_words}, {max_words}")
    text = doc.text
    markdown = doc.format == "markdown"
    lines = _scan(text, markdown)
    _mark_headings(lines, doc.title, markdown)
    headings = [(i, _normalise(ln.heading)) for i, ln in enumerate(lines) if ln.kind in _HEADING_KINDS]
    chunks: list[Chunk] = []
    for section in _sections(lines):
        units = _units(section, text, headings, max_words)
        for group in _pack(units, min_words, max_words):
            start, end = group[0].start, group[-1].end
            reason = group[0].reason
            chunks.append(
                Chunk(
                    section=section.path,
                    position=len(chunks),
                    char_start=start,
                    char_end=end,
                    text=text[start:end],
                    boilerplate=bool(reason),
                    boilerplate_reason=reason,
                )
            )
    return chunks


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence spans (stripped, absolute offsets) of text[start:end].

    A regex pass with abbreviation and quotation checks. On the seed articles it finds the same
    sentences as pysbd and runs ~200x faster, which matters: chunking runs on every passage.
    """
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    begin = start
    for match in _SENTENCE_END.finditer(text, start, end):
        if match.group()[0] == "." and _is_abbreviation(text, begin, match.start(), match.end()):
            continue
        if _inside_quote(text, begin, match.end()):
            continue
        _append_stripped(text, begin, match.end(), spans)
        begin = match.end()
    _append_stripped(text, begin, end, spans)
    return spans


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


# --------------------------------------------------------------------------------------------
# Step 3a: sections and blocks


def _sections(lines: list[_Line]) -> list[_Section]:
    """Sections in document order, each with its heading path and blocks."""
    sections: list[_Section] = [_Section(path="", reason="")]
    stack: list[tuple[int, str, str]] = []  # (level, heading, boilerplate reason)
    i, n = 0, len(lines)
    while i < n:
        line = lines[i]
        if line.kind in _HEADING_KINDS:
            while stack and stack[-1][0] >= line.level:
                stack.pop()
            stack.append((line.level, line.heading, _HEADING_RULES.reason(line.heading.rstrip(" :.?!"))))
            reason = next((r for _, _, r in stack if r), "")
            sections.append(_Section(path=" > ".join(h for _, h, _ in stack), reason=reason))
            i += 1
        elif line.kind in (_BLANK, _TITLE, _UNDERLINE):
            i += 1
        else:
            block, i = _read_block(lines, i)
            sections[-1].blocks.append(block)
    return [s for s in sections if s.blocks]


def _read_block(lines: list[_Line], i: int) -> tuple[_Block, int]:
    """The block starting at line i, and the index after it."""
    kind = lines[i].kind
    if kind == _HR:
        return _Block("break", line=i), i + 1
    if kind == _TEXT:
        return _read_paragraph(lines, i)
    if kind in (_LIST, _TOC):
        return _read_items(lines, i, kind)
    # tables and code: consecutive lines of the same kind
    j = i
    while j + 1 < len(lines) and lines[j + 1].kind == kind:
        j += 1
    block_kind = "table" if kind == _TABLE else "code"
    rows = [(ln.start, ln.end) for ln in lines[i : j + 1]]
    return _Block(block_kind, lines[i].start, lines[j].end, items=rows, line=i), j + 1


def _read_paragraph(lines: list[_Line], i: int) -> tuple[_Block, int]:
    """Consecutive text lines; a line ending a sentence, or a boilerplate line, ends it."""
    first = lines[i]
    j = i
    if not first.standalone:
        while (
            j + 1 < len(lines)
            and lines[j + 1].kind == _TEXT
            and not lines[j + 1].standalone
            and not _ends_sentence(lines[j].text)
        ):
            j += 1
    return _Block("para", first.start, lines[j].end, reason=first.line_reason, line=i), j + 1


def _read_items(lines: list[_Line], i: int, kind: str) -> tuple[_Block, int]:
    """List items (with their indented continuation lines) or TOC lines; blank lines between
    items do not end the list."""
    items: list[tuple[int, int]] = []
    j, n = i, len(lines)
    while j < n:
        line = lines[j]
        if line.kind == kind:
            items.append((line.start, line.end))
        elif line.kind == _LISTCONT and kind == _LIST and items:
            items[-1] = (items[-1][0], line.end)
        elif line.kind == _BLANK:
            k = j
            while k < n and lines[k].kind == _BLANK:
                k += 1
            if k < n and lines[k].kind in (kind, _LISTCONT if kind == _LIST else kind):
                j = k
                continue
            break
        else:
            break
        j += 1
    reason = "table of contents" if kind == _TOC else ""
    return _Block("toc" if kind == _TOC else "list", items[0][0], items[-1][1], items=items, reason=reason, line=i), j


# --------------------------------------------------------------------------------------------
# Step 3b: units


def _units(section: _Section, text: str, headings: list[tuple[int, str]], max_words: int) -> list[_Unit]:
    """The section's uncuttable spans, with paragraph ids and boilerplate reasons."""
    units: list[_Unit] = []
    para = 0
    hard_break = False
    last_para_block = -1
    for index, block in enumerate(section.blocks):
        para += 1
        if block.kind == "break":
            hard_break = True
            continue
        if block.kind == "para":
            new = _paragraph_units(block, text, para, max_words)
            last_para_block = index
        else:
            lead = _take_lead_in(units, text) if last_para_block == index - 1 else None
            new = _group_units(block, lead, text, para, headings, max_words)
        if new and hard_break:
            new[0].hard_break, hard_break = True, False
        units.extend(new)
    if section.reason:
        for unit in units:
            unit.reason = section.reason
    return units


def _paragraph_units(block: _Block, text: str, para: int, max_words: int) -> list[_Unit]:
    """Sentences of a paragraph; boilerplate sentences flag the paragraph or are cut out."""
    if block.reason:  # a standalone boilerplate line
        return [_unit(text, block.start, block.end, para, reason=block.reason)]
    units: list[_Unit] = []
    for start, end in split_sentences(text, block.start, block.end):
        words = _count_words(text, start, end)
        if words > 2 * max_words:
            units.extend(_unit(text, s, e, para) for s, e in _split_runon(text, start, end, max_words))
        else:
            units.append(_Unit(start, end, words, para))
    reasons = [_TEXT_RULES.reason(text[u.start : u.end]) for u in units]
    if any(reasons):
        flagged_words = sum(u.words for u, r in zip(units, reasons, strict=True) if r)
        total = sum(u.words for u in units)
        whole = len(units) <= _SHORT_PARAGRAPH_SENTENCES or flagged_words >= _BOILERPLATE_SHARE * total
        first_reason = next(r for r in reasons if r)
        for unit, reason in zip(units, reasons, strict=True):
            unit.reason = first_reason if whole else reason
    return units


def _take_lead_in(units: list[_Unit], text: str) -> _Unit | None:
    """The sentence ending in ':' just before a list or table belongs with it; remove and return it."""
    if units and not units[-1].solo and text[units[-1].start : units[-1].end].rstrip(_CLOSERS).endswith(":"):
        return units.pop()
    return None


def _group_units(
    block: _Block,
    lead: _Unit | None,
    text: str,
    para: int,
    headings: list[tuple[int, str]],
    max_words: int,
) -> list[_Unit]:
    """A list, table, code or TOC block (with its lead-in) as one unit. Only a list longer than
    2*max_words is cut, between items (the continuation simply starts at an item), or between
    the sentences of an item that is itself longer than max_words; a table is never cut, as
    rows without their header row cannot be read."""
    solo = block.kind != "list"
    reason = block.reason or _group_reason(block, lead, text, headings)
    start = lead.start if lead else block.start
    if lead is not None:
        para = lead.para
    words = _count_words(text, start, block.end)
    spans = [] if solo or words <= 2 * max_words else _list_spans(text, block.items, max_words)
    if len(spans) < 2:
        return [_Unit(start, block.end, words, para, reason=reason, solo=solo)]
    pieces: list[_Unit] = []
    piece_start, piece_words = start, _count_words(text, start, spans[0][0])
    piece_end = 0  # end of the last item in the piece; 0 while the piece has no item yet
    for item_start, item_end in spans:
        item_words = _count_words(text, item_start, item_end)
        if piece_end and piece_words + item_words > max_words:
            pieces.append(_Unit(piece_start, piece_end, piece_words, para, reason=reason, solo=solo))
            piece_start, piece_words = item_start, 0
        piece_words += item_words
        piece_end = item_end
    pieces.append(_Unit(piece_start, block.end, piece_words, para, reason=reason, solo=solo))
    return pieces


def _list_spans(text: str, items: list[tuple[int, int]], max_words: int) -> list[tuple[int, int]]:
    """Where a long list may be cut: between items, and between the sentences of a long item."""
    spans: list[tuple[int, int]] = []
    for start, end in items:
        if _count_words(text, start, end) > max_words:
            spans.extend(split_sentences(text, start, end))
        else:
            spans.append((start, end))
    return spans


def _group_reason(block: _Block, lead: _Unit | None, text: str, headings: list[tuple[int, str]]) -> str:
    """A list repeating later headings is a TOC; a lead-in or items that are cross-links flag it."""
    if lead is not None and lead.reason:
        return lead.reason
    if block.kind != "list":
        return ""
    entries = [text[s:e] for s, e in block.items]
    later = {h for i, h in headings if i > block.line}
    if _mostly_in([_normalise(e) for e in entries], later):
        return "table of contents"
    reasons = [_LINE_RULES.reason(_LEADING_NUMBER_RE.sub("", e)) for e in entries]
    flagged = [r for r in reasons if r]
    if len(flagged) * 2 > len(entries):
        return flagged[0]
    return ""


def _split_runon(text: str, start: int, end: int, max_words: int) -> list[tuple[int, int]]:
    """Cut a run-on "sentence" (> 2*max_words, no sentence punctuation) at the best separators
    available: inline bullets, then semicolons, then commas, then spaces."""
    for cut in _RUNON_CUTS:
        pieces = _cut_at(text, start, end, cut)
        if len(pieces) > 1:
            return _pack_pieces(text, pieces, max_words)
    return [(start, end)]


def _cut_at(text: str, start: int, end: int, cut: re.Pattern[str]) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    begin = start
    for match in cut.finditer(text, start, end):
        _append_stripped(text, begin, match.start(), spans)
        begin = match.end()
    _append_stripped(text, begin, end, spans)
    return spans


def _pack_pieces(text: str, pieces: list[tuple[int, int]], max_words: int) -> list[tuple[int, int]]:
    """Greedily join consecutive pieces up to max_words (a piece that is longer stays whole)."""
    out: list[tuple[int, int]] = []
    cur_start, cur_end, cur_words = pieces[0][0], pieces[0][1], _count_words(text, *pieces[0])
    for start, end in pieces[1:]:
        words = _count_words(text, start, end)
        if cur_words + words > max_words:
            out.append((cur_start, cur_end))
            cur_start, cur_words = start, 0
        cur_end, cur_words = end, cur_words + words
    out.append((cur_start, cur_end))
    return out


def _unit(text: str, start: int, end: int, para: int, reason: str = "") -> _Unit:
    return _Unit(start, end, _count_words(text, start, end), para, reason=reason)


# --------------------------------------------------------------------------------------------
# Step 4: packing


def _pack(units: list[_Unit], min_words: int, max_words: int) -> list[list[_Unit]]:
    """Units -> chunks. Runs of units that may share a chunk (same boilerplate reason, no solo
    unit, no rule between) are packed paragraph by paragraph."""
    chunks: list[list[_Unit]] = []
    run: list[_Unit] = []
    for unit in units:
        if run and (unit.solo or run[-1].solo or unit.hard_break or unit.reason != run[-1].reason):
            chunks.extend(_pack_run(run, min_words, max_words))
            run = []
        run.append(unit)
    if run:
        chunks.extend(_pack_run(run, min_words, max_words))
    return chunks


def _pack_run(run: list[_Unit], min_words: int, max_words: int) -> list[list[_Unit]]:
    """Merge short paragraphs up to max_words; split long ones at sentence boundaries."""
    if run[0].solo:
        return [[u] for u in run]
    chunks: list[list[_Unit]] = []
    cur: list[_Unit] = []
    cur_words = 0
    for para in _paragraphs(run):
        words = sum(u.words for u in para)
        if words > max_words and len(para) > 1:
            if cur and cur_words >= min_words:
                chunks.append(cur)
                cur, cur_words = [], 0
            pieces = _balanced(cur + para, max_words)
            chunks.extend(pieces[:-1])
            cur = pieces[-1]
            cur_words = sum(u.words for u in cur)
        elif (
            not cur
            or cur_words + words <= max_words
            or (cur_words < min_words and cur_words + words <= max_words * 1.2)
        ):
            cur.extend(para)
            cur_words += words
        else:
            chunks.append(cur)
            cur, cur_words = list(para), words
    if cur:
        chunks.append(cur)
    return chunks


def _paragraphs(run: list[_Unit]) -> list[list[_Unit]]:
    paras: list[list[_Unit]] = []
    for unit in run:
        if paras and paras[-1][-1].para == unit.para:
            paras[-1].append(unit)
        else:
            paras.append([unit])
    return paras


def _balanced(units: list[_Unit], max_words: int) -> list[list[_Unit]]:
    """Cut units into ceil(total/max_words) pieces of about equal size, at unit boundaries, so a
    long paragraph does not end in a stub sentence."""
    total = sum(u.words for u in units)
    count = math.ceil(total / max_words)
    if count <= 1 or len(units) < 2:
        return [units]
    cumulative: list[int] = []
    running = 0
    for unit in units[:-1]:
        running += unit.words
        cumulative.append(running)  # cumulative[k] = words in units[: k + 1]
    cuts: list[int] = []
    for j in range(1, count):
        target = j * total / count
        lowest = cuts[-1] + 1 if cuts else 1
        if lowest >= len(units):
            break
        cuts.append(_nearest_cut(cumulative, target, lowest))
    bounds = [0, *cuts, len(units)]
    return [units[a:b] for a, b in itertools.pairwise(bounds) if a < b]


def _nearest_cut(cumulative: list[int], target: float, lowest: int) -> int:
    """The k >= lowest whose ``cumulative[k - 1]`` is nearest ``target`` (the smallest such k on a
    tie), by bisection: ``cumulative`` never decreases. A scan of every candidate for every cut
    made one long run-on paragraph quadratic (a 50 MB one-line text took minutes)."""
    i = bisect.bisect_left(cumulative, target, lowest - 1)  # the first k - 1 at or over the target
    best: int | None = None
    if i < len(cumulative):
        best = i + 1
    if i > lowest - 1:  # the last one under the target, at its first k
        under = bisect.bisect_left(cumulative, cumulative[i - 1], lowest - 1) + 1
        if best is None or abs(cumulative[under - 1] - target) <= abs(cumulative[best - 1] - target):
            best = under
    assert best is not None
    return best


# --------------------------------------------------------------------------------------------
# Small helpers


def _is_abbreviation(text: str, begin: int, dot: int, after: int) -> bool:
    """Is the token ending at text[dot] == "." an abbreviation rather than a sentence end?"""
    k = dot
    while k > begin and not text[k - 1].isspace():
        k -= 1
    token = text[k : dot + 1].lower().lstrip("\"'“‘([")
    if token in _ABBREVIATIONS or _INITIALISM.fullmatch(token):
        return True
    if token in _NUMBER_ABBREVIATIONS:
        following = text[after : after + 8].lstrip()
        return following[:1].isdigit()
    return False


def _inside_quote(text: str, begin: int, end: int) -> bool:
    """Does the sentence so far open a quotation it has not closed (a quoted passage of several
    sentences stays one sentence)?"""
    opened = text.rfind("“", begin, end)
    if opened != -1 and end - opened <= _MAX_QUOTE_CHARS:
        return text.count("“", begin, end) > text.count("”", begin, end)
    straight = text.rfind('"', begin, end)
    if straight != -1 and end - straight <= _MAX_QUOTE_CHARS:
        return text.count('"', begin, end) % 2 == 1
    return False


def _append_stripped(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start < end:
        spans.append((start, end))


def _count_words(text: str, start: int, end: int) -> int:
    return len(text[start:end].split())
