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

Steps 1 and 2 live in ``kb.chunk_lines``, the boilerplate rules in ``kb.boilerplate`` and sentence spans
in ``kb.sentences``; ``split_sentences``, ``BoilerplateRule`` and ``BOILERPLATE_RULES`` stay importable
from here.
"""

from __future__ import annotations

import bisect
import itertools
import math
import re
from dataclasses import dataclass, field

from kb.boilerplate import _HEADING_RULES, _LINE_RULES, _TEXT_RULES, BOILERPLATE_RULES, BoilerplateRule
from kb.chunk_lines import (
    _BLANK,
    _CLOSERS,
    _HEADING_KINDS,
    _HR,
    _LEADING_NUMBER_RE,
    _LIST,
    _LISTCONT,
    _TABLE,
    _TEXT,
    _TITLE,
    _TOC,
    _UNDERLINE,
    _ends_sentence,
    _Line,
    _mark_headings,
    _mostly_in,
    _normalise,
    _scan,
)
from kb.model import Chunk, Document
from kb.sentences import _append_stripped, split_sentences

# A paragraph with a boilerplate sentence is flagged whole when it is this short (sentences) or
# the boilerplate is at least this share of its words; otherwise only the sentence is cut out.
_SHORT_PARAGRAPH_SENTENCES = 3
_BOILERPLATE_SHARE = 0.4

#: Where to cut a run-on "sentence" of more than 2*max_words (label text flattened from tables
#: or inline bullet lists), in order of preference.
_RUNON_CUTS = (re.compile(r"\s(?=•)"), re.compile(r"(?<=;)\s"), re.compile(r"(?<=,)\s"), re.compile(r"\s"))


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
    if _TEXT_RULES.ruled_out(text[block.start : block.end]):  # most paragraphs: no sentence can be flagged
        return units
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


def _count_words(text: str, start: int, end: int) -> int:
    return len(text[start:end].split())


__all__ = ["BOILERPLATE_RULES", "BoilerplateRule", "chunk_document", "split_sentences"]
