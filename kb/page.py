"""The research page's decisions, as plain functions: ``app.py`` only lays out widgets and calls these.

- ``SearchState``: what a search is (query, filters, sort, page, page size, the boilerplate, synonyms
  and "each statement once" toggles), and its round trip to URL query parameters, so a search can be
  bookmarked and shared.
- HTML: a hit, its neighbours and the whole document with the passage marked. Every piece of
  document text is escaped with ``html.escape`` first; ``<mark>`` is added afterwards, from the
  character spans the search reports, so a document containing ``<script>`` shows as text.
- Exports: file names that carry the query and the date, and the exported bytes.
- The selection (``kb.selection``) and the comparison of sources (``kb.compare``) as escaped HTML and
  tables.
- Overview: the facet distributions as tidy rows for charts.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import math
import os
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.model import DOC_FACETS, FACETS, NOT_STATED

if TYPE_CHECKING:
    import pandas as pd

    from kb.compare import Comparison, Conflict
    from kb.history import SearchSpec
    from kb.model import Passage
    from kb.search import Hit, KnowledgeBase, Results
    from kb.selection import Kept

DEFAULT_INDEX = "index"
SORTS: tuple[str, ...] = ("relevance", "document", "source", "date")
SORT_LABELS: dict[str, str] = {"relevance": "Relevance", "document": "Document order", "source": "Source",
                               "date": "Date (newest first)"}
PAGE_SIZES: tuple[int, ...] = (10, 20, 50, 100)
DEFAULT_SIZE = PAGE_SIZES[0]
#: A passage longer than this is shown as a window around its first match.
MAX_PASSAGE_CHARS = 1600
#: Neighbouring passages shown on each side in a hit's context.
CONTEXT_NEIGHBOURS = 2
#: Conflicts shown one by one with their evidence in "Compare sources"; the tables flag every one.
MAX_CONFLICTS_SHOWN = 20

FACET_LABELS: dict[str, str] = {
    "topic": "Topic", "severity": "Severity", "route": "Route", "side_effect": "Side effect",
    "condition": "Condition", "substance": "Substance", "drug": "Drug", "source": "Source", "year": "Year",
}

#: The page's tabs; the active one is in the address as ``?tab=Selection`` (the first one is not).
TABS: tuple[str, ...] = ("Search", "Selection", "Compare sources", "Overview", "History")
P_TAB = "tab"
#: Passages listed under "More like this" and under a saved search's new hits.
SIMILAR_SHOWN = 5

#: URL query parameter names; each facet uses its own name (``?topic=dosage&topic=overdose``).
P_QUERY, P_SORT, P_PAGE, P_SIZE, P_BOILERPLATE = "q", "sort", "page", "size", "boilerplate"
#: The two toggles that are on by default appear in a link only when off (``?synonyms=0&collapse=0``).
P_SYNONYMS, P_COLLAPSE = "synonyms", "collapse"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def index_path(environ: Mapping[str, str] | None = None) -> Path:
    """Where the page's index lives: ``$KB_INDEX`` or ``./index``."""
    env = os.environ if environ is None else environ
    return Path(env.get("KB_INDEX") or DEFAULT_INDEX)


# ---- search state and the URL -------------------------------------------------------------------


Filters = tuple[tuple[str, tuple[str, ...]], ...]


def normalize_filters(filters: Mapping[str, Iterable[str]] | Iterable[tuple[str, Iterable[str]]] | None) -> Filters:
    """Facets in display order, values trimmed and de-duplicated in the order given; empties dropped.

    Unknown facet names are dropped: they can only come from a hand-edited URL.
    """
    if not filters:
        return ()
    items = filters.items() if isinstance(filters, Mapping) else filters
    chosen: dict[str, list[str]] = {}
    for name, values in items:
        if name not in FACETS:
            continue
        for value in [values] if isinstance(values, str) else values:
            value = str(value).strip()
            if value and value not in chosen.setdefault(name, []):
                chosen[name].append(value)
    return tuple((name, tuple(chosen[name])) for name in FACETS if chosen.get(name))


@dataclass(frozen=True, slots=True)
class SearchState:
    """Everything that decides which passages a page shows. Hashable: usable as a cache key."""

    query: str = ""
    filters: Filters = ()
    sort: str = "relevance"
    page: int = 1  # 1-based
    size: int = DEFAULT_SIZE
    boilerplate: bool = False
    synonyms: bool = True  # search the vocabulary's synonyms of plain words too
    collapse: bool = True  # show each statement once (duplicates reachable from their best passage)

    @classmethod
    def make(
        cls, query: str = "", filters: Mapping[str, Iterable[str]] | None = None, *, sort: str = "relevance",
        page: int = 1, size: int = DEFAULT_SIZE, boilerplate: bool = False, synonyms: bool = True,
        collapse: bool = True,
    ) -> SearchState:
        return cls(
            query=(query or "").strip(), filters=normalize_filters(filters),
            sort=sort if sort in SORTS else "relevance", page=max(1, int(page)),
            size=size if size in PAGE_SIZES else DEFAULT_SIZE, boilerplate=bool(boilerplate),
            synonyms=bool(synonyms), collapse=bool(collapse),
        )

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size

    def filter_dict(self) -> dict[str, list[str]]:
        return {name: list(values) for name, values in self.filters}

    def selected(self, name: str) -> list[str]:
        return list(dict(self.filters).get(name, ()))

    @property
    def filter_count(self) -> int:
        return sum(len(values) for _, values in self.filters)

    # Every change but paging returns to the first page: page 7 of another search means nothing.
    def with_query(self, query: str) -> SearchState:
        return replace(self, query=(query or "").strip(), page=1)

    def with_filter(self, name: str, values: Iterable[str]) -> SearchState:
        merged = {**self.filter_dict(), name: list(values)}
        return replace(self, filters=normalize_filters(merged), page=1)

    def without_filters(self) -> SearchState:
        return replace(self, filters=(), page=1)

    def with_sort(self, sort: str) -> SearchState:
        return replace(self, sort=sort if sort in SORTS else "relevance", page=1)

    def with_size(self, size: int) -> SearchState:
        return replace(self, size=size if size in PAGE_SIZES else DEFAULT_SIZE, page=1)

    def with_boilerplate(self, on: bool) -> SearchState:
        return replace(self, boilerplate=bool(on), page=1)

    def with_synonyms(self, on: bool) -> SearchState:
        return replace(self, synonyms=bool(on), page=1)

    def with_collapse(self, on: bool) -> SearchState:
        return replace(self, collapse=bool(on), page=1)

    def search_kwargs(self) -> dict[str, Any]:
        """``KnowledgeBase.search`` keywords for this state (all but query, filters, limit, offset)."""
        return {"sort": self.sort, "include_boilerplate": self.boilerplate, "synonyms": self.synonyms,
                "collapse_duplicates": self.collapse}

    def with_page(self, page: int) -> SearchState:
        return replace(self, page=max(1, int(page)))


def search_spec(state: SearchState) -> SearchSpec:
    """The page's search as the search log keeps it (paging and page size are not part of a search)."""
    from kb.history import SearchSpec

    return SearchSpec.make(state.query, state.filter_dict(), sort=state.sort, synonyms=state.synonyms,
                           collapse=state.collapse, boilerplate=state.boilerplate)


def state_from_spec(spec: SearchSpec, current: SearchState | None = None) -> SearchState:
    """A logged or saved search as the page's state, on its first page (the page size is kept)."""
    size = current.size if current is not None else DEFAULT_SIZE
    return SearchState.make(spec.query, spec.filter_dict(), sort=spec.sort if spec.sort in SORTS else "relevance",
                            size=size, boilerplate=spec.boilerplate, synonyms=spec.synonyms, collapse=spec.collapse)


def _values(params: Mapping[str, str | Sequence[str]], key: str) -> list[str]:
    raw = params.get(key)
    if raw is None:
        return []
    return [raw] if isinstance(raw, str) else [str(v) for v in raw]


def _last(params: Mapping[str, str | Sequence[str]], key: str) -> str:
    values = _values(params, key)
    return values[-1] if values else ""


def _flag(params: Mapping[str, str | Sequence[str]], key: str, default: bool) -> bool:
    """A yes/no parameter: ``1/true/yes/on`` or ``0/false/no/off``; absent or anything else is ``default``."""
    value = _last(params, key).strip().lower()
    return True if value in _TRUE else False if value in _FALSE else default


def _int(text: str, default: int) -> int:
    try:
        return int(text.strip())
    except ValueError:
        return default


def state_from_params(params: Mapping[str, str | Sequence[str]]) -> SearchState:
    """Reads a search from URL query parameters (as ``{key: value or [values]}``).

    Forgiving: a hand-edited URL with a bad page, size or sort opens the search with the default
    instead of an error; unknown parameters are ignored.
    """
    return SearchState.make(
        query=_last(params, P_QUERY),
        filters={name: _values(params, name) for name in FACETS},
        sort=_last(params, P_SORT) or "relevance",
        page=_int(_last(params, P_PAGE) or "1", 1),
        size=_int(_last(params, P_SIZE) or str(DEFAULT_SIZE), DEFAULT_SIZE),
        boilerplate=_flag(params, P_BOILERPLATE, False),
        synonyms=_flag(params, P_SYNONYMS, True),
        collapse=_flag(params, P_COLLAPSE, True),
    )


def state_to_params(state: SearchState) -> dict[str, str | list[str]]:
    """The URL query parameters of a search; defaults are left out so links stay short."""
    out: dict[str, str | list[str]] = {}
    if state.query:
        out[P_QUERY] = state.query
    for name, values in state.filters:
        out[name] = list(values)
    if state.sort != "relevance":
        out[P_SORT] = state.sort
    if state.size != DEFAULT_SIZE:
        out[P_SIZE] = str(state.size)
    if state.page != 1:
        out[P_PAGE] = str(state.page)
    if state.boilerplate:
        out[P_BOILERPLATE] = "1"
    if not state.synonyms:
        out[P_SYNONYMS] = "0"
    if not state.collapse:
        out[P_COLLAPSE] = "0"
    return out


def same_params(a: Mapping[str, str | Sequence[str]], b: Mapping[str, str | Sequence[str]]) -> bool:
    """Whether two sets of query parameters are equal (a single value equals a list of one)."""
    def norm(p: Mapping[str, str | Sequence[str]]) -> dict[str, list[str]]:
        return {k: _values(p, k) for k in p if _values(p, k)}

    return norm(a) == norm(b)


def page_count(total: int, size: int) -> int:
    return max(1, math.ceil(total / size)) if size > 0 else 1


def paged_total(results: Results) -> int:
    """What the pages count: distinct statements when duplicates are collapsed, else passages."""
    return results.total if results.statements is None else results.statements


def clamp_page(state: SearchState, total: int) -> SearchState:
    """A page past the end (an old link, a narrowed search) shows the last page instead."""
    last = page_count(total, state.size)
    return state.with_page(last) if state.page > last else state


def _plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def summary_line(total: int, state: SearchState, shown: int, statements: int | None = None) -> str:
    """``1–10 of 57 passages``; when duplicates are collapsed, ``57 passages, 41 distinct statements ·
    showing 1–10`` (the pages then count statements)."""
    if total == 0:
        return "No passages match."
    first, last = state.offset + 1, state.offset + shown
    if statements is not None:
        line = f"{_plural(total, 'passage')}, {_plural(statements, 'distinct statement')}"
        return line if shown >= statements else f"{line} · showing {first:,}–{last:,}"
    if shown == total:
        return _plural(total, "passage")
    return f"{first:,}–{last:,} of {_plural(total, 'passage')}"


# ---- labels ---------------------------------------------------------------------------------------


def value_label(value: str) -> str:
    """``life_threatening`` -> ``life threatening``; ``NOT_STATED`` -> ``not stated``; other values as indexed."""
    if value == NOT_STATED:
        return "not stated"
    return value.replace("_", " ")


def md_escape(text: str) -> str:
    """Text shown through Streamlit's Markdown (notes, the suggestion) without being read as Markdown."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|~<>$:])", r"\\\1", text)


def option_label(value: str, count: int | None) -> str:
    return value_label(value) if count is None else f"{value_label(value)} ({count:,})"


def facet_options(selected: Sequence[str], counts: Mapping[str, int]) -> list[str]:
    """A facet's options in count order, with every selected value kept (even at count 0)."""
    options = list(counts)
    known = {v.casefold() for v in options}
    options += [v for v in selected if v.casefold() not in known]
    return options


def count_for(counts: Mapping[str, int], value: str) -> int:
    if value in counts:
        return counts[value]
    folded = value.casefold()
    return next((c for v, c in counts.items() if v.casefold() == folded), 0)


def canonical_selection(selected: Sequence[str], counts: Mapping[str, int]) -> list[str]:
    """Selected values in the index's spelling (a URL may say ``Dosage`` for ``dosage``)."""
    by_fold = {v.casefold(): v for v in counts}
    return [by_fold.get(v.casefold(), v) for v in selected]


# ---- HTML -------------------------------------------------------------------------------------------


def clean_spans(spans: Iterable[tuple[int, int]], length: int) -> list[tuple[int, int]]:
    """Spans clipped to the text, sorted, with overlapping and touching ones merged; empty ones dropped."""
    out: list[tuple[int, int]] = []
    for start, end in sorted((max(0, int(s)), min(length, int(e))) for s, e in spans):
        if end <= start:
            continue
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def highlight_html(text: str, spans: Iterable[tuple[int, int]], mark_class: str = "kb-hl") -> str:
    """``text`` escaped, with each span wrapped in ``<mark>``.

    Spans are character offsets into the raw text; each piece is escaped on its own, so a span
    that covers ``<`` or ``&`` marks the escaped entity whole and never splits it.
    """
    out: list[str] = []
    cursor = 0
    for start, end in clean_spans(spans, len(text)):
        out += [html.escape(text[cursor:start]), f'<mark class="{mark_class}">', html.escape(text[start:end]),
                "</mark>"]
        cursor = end
    out.append(html.escape(text[cursor:]))
    return "".join(out)


def passage_window(text: str, spans: Sequence[tuple[int, int]], max_chars: int = MAX_PASSAGE_CHARS) -> tuple[int, int]:
    """The part of a long passage to show: all of it, or a window starting a little before the first match."""
    if len(text) <= max_chars:
        return 0, len(text)
    first = spans[0][0] if spans else 0
    start = max(0, first - max_chars // 4)
    if start:
        space = text.find(" ", start, first)
        start = space + 1 if space >= 0 else start
    end = min(len(text), start + max_chars)
    if end < len(text):
        space = text.rfind(" ", start, end)
        end = space if space > start else end
    return start, end


ROLE_LABELS: dict[str, str] = {
    "adverse_effect": "adverse effect", "withdrawal": "withdrawal effect", "overdose": "overdose sign",
    "indication": "what it treats", "history": "history or contraindication", "interaction": "interaction",
    "negated": "negated or hedged: not tagged", "mention": "named",
}


def _mention_fields(m: Any) -> tuple[int, int, str, str, str, str] | None:
    """(start, end, facet, value, role, severity) of a ``kb.model.Mention`` or its dict form; None if unusable."""
    get = m.get if isinstance(m, Mapping) else lambda k, d=None: getattr(m, k, d)
    try:
        start, end = int(get("start")), int(get("end"))
    except (TypeError, ValueError):
        return None
    return start, end, str(get("facet", "") or ""), str(get("value", "") or ""), str(get("role", "") or ""), \
        str(get("severity", "") or "")


def mention_title(facet: str, value: str, role: str, severity: str) -> str:
    """What a marked mention says on hover: ``Side effect: drowsiness · adverse effect · serious``."""
    parts = [f"{FACET_LABELS.get(facet, facet)}: {value_label(value)}"]
    if role and role != "mention":  # a plain mention (a drug, a route) needs no role said
        parts.append(ROLE_LABELS.get(role, value_label(role)))
    if severity:
        parts.append(value_label(severity))
    return " · ".join(parts)


def marked_html(text: str, spans: Iterable[tuple[int, int]], mentions: Iterable[Any] = (), offset: int = 0) -> str:
    """``text`` escaped, with the query's matches (``spans``) in ``<mark class="kb-hl">`` and each tag's
    mention (``mentions``: offsets into the passage, ``offset`` where ``text`` starts in it) underlined in
    its facet's colour, the facet, value, role and severity on hover. Overlapping mentions: the
    shortest one shows. Every piece of text is escaped on its own."""
    length = len(text)
    marks = []
    for m in mentions:
        fields = _mention_fields(m)
        if fields is None:
            continue
        start, end = max(0, fields[0] - offset), min(length, fields[1] - offset)
        if end > start and fields[2]:
            marks.append((start, end, *fields[2:]))
    if not marks:
        return highlight_html(text, spans)
    hl = clean_spans(spans, length)
    cuts = sorted({0, length, *(x for s in hl for x in s), *(x for m in marks for x in m[:2])})
    runs: list[tuple[Any, bool, int, int]] = []  # (mention, highlighted, start, end), neighbours merged
    for a, b in pairwise(cuts):
        covering = [m for m in marks if m[0] <= a and b <= m[1]]
        mention = min(covering, key=lambda m: (m[1] - m[0], m[0])) if covering else None
        lit = any(s <= a and b <= e for s, e in hl)
        if runs and runs[-1][0] == mention and runs[-1][1] == lit and runs[-1][3] == a:
            runs[-1] = (mention, lit, runs[-1][2], b)
        else:
            runs.append((mention, lit, a, b))
    out: list[str] = []
    current = None
    for mention, lit, a, b in runs:
        if mention != current:
            if current is not None:
                out.append("</mark>")
            if mention is not None:
                facet, value, role, severity = mention[2:]
                css = f"kb-m kb-m-{re.sub(r'[^a-z_]', '', facet)}" + (" kb-m-negated" if role == "negated" else "")
                out.append(f'<mark class="{css}" title="{html.escape(mention_title(facet, value, role, severity))}">')
            current = mention
        piece = html.escape(text[a:b])
        out.append(f'<mark class="kb-hl">{piece}</mark>' if lit else piece)
    if current is not None:
        out.append("</mark>")
    return "".join(out)


_TABLE_ROW = re.compile(r"^[ \t]*\|.*\|[ \t]*$")
_TABLE_RULE = re.compile(r"^[ \t]*\|?(?:[ \t]*:?-{3,}:?[ \t]*\|)+(?:[ \t]*:?-{3,}:?[ \t]*)?[ \t]*$")


def table_blocks(text: str) -> list[tuple[int, int, list[list[tuple[int, int]]]]]:
    """Markdown tables in ``text`` (a header row, a ``|---|`` rule, body rows): (start, end, rows), each row
    a list of its cells' (start, end) offsets into ``text``, the rule left out. ``\\|`` is not a cell edge."""
    lines, pos = [], 0
    for line in text.split("\n"):
        lines.append((pos, line))
        pos += len(line) + 1
    blocks, i = [], 0
    while i + 1 < len(lines):
        if not (_TABLE_ROW.match(lines[i][1]) and _TABLE_RULE.match(lines[i + 1][1])):
            i += 1
            continue
        j = i + 2
        while j < len(lines) and _TABLE_ROW.match(lines[j][1]):
            j += 1
        rows = [_cells(start, line) for start, line in [lines[i], *lines[i + 2:j]]]
        blocks.append((lines[i][0], lines[j - 1][0] + len(lines[j - 1][1]), rows))
        i = j
    return blocks


def _cells(start: int, line: str) -> list[tuple[int, int]]:
    edges = [m.start() for m in re.finditer(r"(?<!\\)\|", line)]
    cells = []
    for a, b in pairwise(edges):
        cell = line[a + 1:b]
        lead = len(cell) - len(cell.lstrip())
        cells.append((start + a + 1 + lead, start + a + 1 + len(cell.rstrip())))
    return cells


def body_html(text: str, spans: Sequence[tuple[int, int]] = (), mentions: Iterable[Any] = (), offset: int = 0) -> str:
    """A passage's text as ``marked_html``, with its Markdown tables drawn as tables (every cell escaped
    and marked like the rest)."""
    mentions = list(mentions)
    out, cursor = [], 0
    for start, end, rows in table_blocks(text):
        out.append(_marked_part(text, spans, mentions, offset, cursor, start))
        body = []
        for n, row in enumerate(rows):
            tag = "th" if n == 0 else "td"
            body.append("<tr>" + "".join(f"<{tag}>{_marked_part(text, spans, mentions, offset, a, b)}</{tag}>"
                                         for a, b in row) + "</tr>")
        out.append(f'<table class="kb-table"><thead>{body[0]}</thead><tbody>{"".join(body[1:])}</tbody></table>')
        cursor = end + (1 if text[end:end + 1] == "\n" else 0)
    out.append(_marked_part(text, spans, mentions, offset, cursor, len(text)))
    return "".join(out)


def _marked_part(text: str, spans: Sequence[tuple[int, int]], mentions: list[Any], offset: int, a: int, b: int) -> str:
    shifted = [(s - a, e - a) for s, e in spans if e > a and s < b]
    return marked_html(text[a:b], shifted, mentions, offset + a)


def passage_html(text: str, spans: Sequence[tuple[int, int]], max_chars: int = MAX_PASSAGE_CHARS,
                 mentions: Iterable[Any] = ()) -> str:
    spans = clean_spans(spans, len(text))
    start, end = passage_window(text, spans, max_chars)
    shifted = [(s - start, e - start) for s, e in spans if e > start and s < end]
    body = body_html(text[start:end], shifted, mentions, start)
    return ("…" if start else "") + body + ("…" if end < len(text) else "")


def _tag_html(name: str, value: str) -> str:
    css = f"kb-tag kb-tag-{name}"
    if name == "severity":
        css += f" kb-sev-{re.sub(r'[^a-z_]', '', value.lower())}"
    label, shown = html.escape(FACET_LABELS.get(name, name)), html.escape(value_label(value))
    return f'<span class="{css}" title="{label}: {shown}">{shown}</span>'


def tags_html(passage: Passage) -> str:
    """The passage's facet values as small labels grouped by facet, each group named and coloured by its
    facet (source and year are in the provenance line)."""
    groups = []
    for name in FACETS:
        values = passage.facet(name) if name not in DOC_FACETS else []
        if values:
            groups.append(f'<span class="kb-tag-group kb-group-{name}"><span class="kb-tag-facet">'
                          f'{html.escape(FACET_LABELS.get(name, name).lower())}</span>'
                          + "".join(_tag_html(name, v) for v in values) + "</span>")
    if passage.boilerplate:
        groups.append('<span class="kb-tag kb-tag-boilerplate" title="Flagged as boilerplate">boilerplate</span>')
    return f'<div class="kb-tags">{"".join(groups)}</div>' if groups else ""


_SEP = ' <span class="kb-sep">·</span> '


def _provenance_parts(item: Passage | Kept, chars: tuple[int, int] | None = None) -> list[str]:
    """Source, section, page, position (and characters) and id of a passage or a kept one, escaped."""
    source = html.escape(item.source) if item.source else '<span class="kb-missing">source not named</span>'
    parts = [f'<span class="kb-source">{source}</span>']
    if item.section:
        parts.append(f'<span class="kb-section">§ {html.escape(item.section)}</span>')
    if item.page:
        parts.append(f"p. {html.escape(item.page)}")
    parts.append(f"passage {item.position + 1}")
    if item.date:
        parts.append(f'<span class="kb-date" title="the document\'s date">{html.escape(item.date)}</span>')
    if link := web_link(item.url):
        parts.append(link)
    if chars is not None:
        parts.append(f"chars {chars[0]:,}–{chars[1]:,}")
    parts.append(f'<span class="kb-id" title="passage id">{html.escape(item.passage_id)}</span>')
    return parts


def web_link(url: str) -> str:
    """The document's web address as a link that opens in a new tab (only http and https: a
    ``javascript:`` address from a document is never a link), escaped; "" without one."""
    if not re.match(r"https?://", url or "", re.IGNORECASE):
        return ""
    return (f'<a class="kb-url" href="{html.escape(url, quote=True)}" target="_blank" rel="noopener noreferrer" '
            f'title="{html.escape(url, quote=True)}">web page</a>')


def provenance_html(passage: Passage) -> str:
    """Where a passage comes from: source, section, position, characters and id, each escaped."""
    parts = _provenance_parts(passage, (passage.char_start, passage.char_end))
    return '<div class="kb-prov">' + _SEP.join(parts) + "</div>"


def hit_html(hit: Hit, max_chars: int = MAX_PASSAGE_CHARS) -> str:
    """One result: rank and document title, provenance, the highlighted passage, its tags."""
    p = hit.passage
    title = html.escape(p.title) if p.title else '<span class="kb-missing">untitled document</span>'
    return (
        f'<div class="kb-hit" data-passage="{html.escape(p.passage_id)}">'
        f'<div class="kb-head"><span class="kb-rank">{hit.rank}</span><span class="kb-title">{title}</span></div>'
        f"{provenance_html(p)}"
        f'<div class="kb-text">{passage_html(p.text, hit.spans, max_chars, p.mentions)}</div>'
        f"{tags_html(p)}</div>"
    )


def locate_passage(document_text: str, passage: Passage) -> tuple[int, int] | None:
    """The passage's characters in its document: its recorded offsets, or where its text is found."""
    start, end = passage.char_start, passage.char_end
    if 0 <= start <= end <= len(document_text) and document_text[start:end] == passage.text:
        return start, end
    found = document_text.find(passage.text) if passage.text else -1
    return (found, found + len(passage.text)) if found >= 0 else None


def document_html(document_text: str, where: tuple[int, int] | None, spans: Sequence[tuple[int, int]] = (),
                  anchor: str = "kb-passage") -> str:
    """The whole document, escaped, with the passage at ``where`` marked (and its matches inside it).

    ``spans`` are match spans relative to the passage. The document scrolls inside its own box,
    which opens scrolled to the passage in browsers that support ``scroll-initial-target``.
    """
    if where is None:
        return f'<div class="kb-doc">{html.escape(document_text)}</div>'
    start, end = where
    inner = highlight_html(document_text[start:end], spans)
    return (
        f'<div class="kb-doc">{html.escape(document_text[:start])}'
        f'<span class="kb-anchor" id="{html.escape(anchor)}"></span><mark class="kb-passage">{inner}</mark>'
        f"{html.escape(document_text[end:])}</div>"
    )


def context_html(before: Sequence[Passage], target: Passage, after: Sequence[Passage],
                 spans: Sequence[tuple[int, int]] = ()) -> str:
    """The passage between its neighbours, each labelled with its position and section."""
    def block(p: Passage, body: str, css: str) -> str:
        where = f"passage {p.position + 1}" + (f" · § {html.escape(p.section)}" if p.section else "")
        flag = " · boilerplate" if p.boilerplate else ""
        return (f'<div class="{css}"><div class="kb-ctx-where">{where}{flag}</div>'
                f'<div class="kb-text">{body}</div></div>')

    parts = [block(p, html.escape(p.text), "kb-ctx") for p in before]
    parts.append(block(target, highlight_html(target.text, spans), "kb-ctx kb-ctx-target"))
    parts += [block(p, html.escape(p.text), "kb-ctx") for p in after]
    return '<div class="kb-context">' + "".join(parts) + "</div>"


# ---- synonyms and duplicates ------------------------------------------------------------------------


def notes_to_show(results: Results) -> list[str]:
    """The search's notes, less the one listing the synonyms added (``expansion_html`` shows those)."""
    from kb.synonyms import Expansion

    own = Expansion(results.searched, results.expanded).note()
    return [n for n in results.notes if n != own]


def expansion_html(results: Results) -> str:
    """What was searched besides the words typed: every synonym added, each word's own, escaped;
    the whole query as searched in the tooltip. Empty when nothing was added."""
    if not results.expanded:
        return ""
    parts = [f'<b>{html.escape(typed)}</b> → {html.escape(", ".join(added))}'
             for typed, added in results.expanded.items()]
    return (f'<div class="kb-expanded" title="Searched: {html.escape(results.searched)}">'
            f'<span class="kb-exp-label">Also searched</span> {" · ".join(parts)}</div>')


def duplicates_label(hit: Hit) -> str:
    """``Also stated by 2 other passages (Source A, Source B)``; empty when the hit has no duplicates.

    The library lists at most ``kb.search.MAX_DUPLICATES_LISTED`` of them: a full list says "N+".
    """
    from kb.search import MAX_DUPLICATES_LISTED

    n = len(hit.duplicates)
    if not n:
        return ""
    count = f"{n:,}+" if n >= MAX_DUPLICATES_LISTED else f"{n:,}"
    noun = "passage" if n == 1 else "passages"
    sources = f" ({', '.join(hit.duplicate_sources)})" if hit.duplicate_sources else ""
    return f"Also stated by {count} other {noun}{sources}"


def passage_card_html(passage: Passage, marks: Sequence[tuple[int, int]] = (), *,
                      max_chars: int = MAX_PASSAGE_CHARS) -> str:
    """A passage shown outside the hit list (a duplicate, a conflict's evidence): title, provenance,
    text with ``marks`` highlighted, every piece escaped."""
    title = html.escape(passage.title) if passage.title else '<span class="kb-missing">untitled document</span>'
    return (f'<div class="kb-card" data-passage="{html.escape(passage.passage_id)}">'
            f'<div class="kb-card-title">{title}</div>{provenance_html(passage)}'
            f'<div class="kb-text">{passage_html(passage.text, marks, max_chars)}</div></div>')


# ---- the selection ------------------------------------------------------------------------------------


def kept_html(kept: Kept, missing: bool = False) -> str:
    """A kept passage with its full provenance (title, source, section, page, position, id, path) and
    its saved text; one no longer in the index says so."""
    from kb.selection import MISSING_LABEL

    k = kept
    title = html.escape(k.title) if k.title else '<span class="kb-missing">untitled document</span>'
    parts = _provenance_parts(k)
    sep = _SEP
    flag = f'<span class="kb-gone">{MISSING_LABEL}</span>' if missing else ""
    found = (f'kept from the search <q>{html.escape(k.query)}</q>' if k.query else "kept while browsing")
    return (f'<div class="kb-kept{" kb-kept-gone" if missing else ""}" data-passage="{html.escape(k.passage_id)}">'
            f'<div class="kb-card-title">{title}{flag}</div>'
            f'<div class="kb-prov">{sep.join(parts)}</div>'
            f'<div class="kb-prov kb-path">{html.escape(k.path)}{sep}{found}'
            f'{sep + html.escape(k.added[:10]) if k.added else ""}</div>'
            f'<div class="kb-text">{html.escape(k.text)}</div></div>')


def selection_filename(extension: str, today: dt.date | None = None) -> str:
    return f"kb-selection-{(today or dt.date.today()).isoformat()}.{extension.lstrip('.')}"


# ---- comparing sources ----------------------------------------------------------------------------------


def evidence_passages(comparison: Comparison) -> dict[str, Passage]:
    """Every passage of a comparison by id (the evidence of its conflicts among them)."""
    return {p.passage_id: p for view in comparison.sources for p in view.passages}


def text_marks(text: str, needles: Iterable[str]) -> list[tuple[int, int]]:
    """Where each of ``needles`` (doses as written) occurs in ``text``."""
    spans = []
    for needle in {n for n in needles if n}:
        start = text.find(needle)
        while start >= 0:
            spans.append((start, start + len(needle)))
            start = text.find(needle, start + len(needle))
    return spans


def conflict_html(conflict: Conflict) -> str:
    """One conflict: the field, then each source's value in mg/day, its wording and the ids of the
    passages that state it; escaped."""
    claims = "".join(
        f'<tr><td class="kb-cf-source">{html.escape(c.source)}</td>'
        f'<td class="kb-cf-value">{html.escape(c.values)} mg/day</td>'
        f'<td>{html.escape("; ".join(dict.fromkeys(c.texts)))}'
        f'{" <span class=kb-cf-assumed>(route not stated)</span>" if c.route_assumed else ""}</td>'
        f'<td>{" ".join(f"<code class=kb-id>{html.escape(pid)}</code>" for pid in c.passage_ids)}</td></tr>'
        for c in conflict.claims)
    note = f'<div class="kb-cf-note">{html.escape(conflict.note)}</div>' if conflict.note else ""
    return (f'<div class="kb-conflict"><div class="kb-cf-field">Conflict: {html.escape(conflict.field)}</div>'
            f'<table class="kb-cf"><thead><tr><th>source</th><th>says</th><th>as written</th>'
            f'<th>evidence passages</th></tr></thead><tbody>{claims}</tbody></table>{note}</div>')


def side_by_side(comparison: Comparison) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The comparison as a grid: one row per drug, route and kind of dose, one column per source, each
    cell that source's doses in mg/day (its wording when it gives none); and a grid of the same shape,
    True where that cell is in conflict. Sources that state no dose have no column.

    A dose that states no route but was compared as the one route the other sources give (see
    ``kb.compare``) sits in that route's row, marked "(route not stated)", beside the doses it
    conflicts with."""
    import pandas as pd

    frame = comparison.to_frame()
    frame = frame[frame["kind"] != ""]
    if frame.empty:
        empty = pd.DataFrame()
        return empty, empty
    labels = {v.name: v.label for v in comparison.sources}
    assumed = {(c.drug, c.kind, claim.source): c.route for c in comparison.conflicts for claim in c.claims
               if claim.route_assumed and c.route}
    routes, cells = [], []
    for source, drug, kind, route, daily, written in zip(frame["source"], frame["drug"], frame["kind"],
                                                          frame["route"], frame["mg_per_day"], frame["as_written"],
                                                          strict=True):
        cell = f"{daily} mg/day" if daily else f"{written} (no mg/day)"
        if not route and (drug, kind, source) in assumed:
            route, cell = assumed[(drug, kind, source)], f"{cell} (route not stated)"
        routes.append(route or "route not stated")
        cells.append(cell)
    frame = frame.assign(route=routes, drug=frame["drug"].replace("", "drug not named"),
                         source=frame["source"].map(labels), cell=cells)
    keys = ["kind", "drug", "route"]
    order = {k: i for i, k in enumerate(("starting", "maintenance", "maximum", "usual", "unspecified"))}
    values = frame.pivot_table(index=keys, columns="source", values="cell", aggfunc="; ".join, sort=False)
    flags = frame.pivot_table(index=keys, columns="source", values="conflict", aggfunc="any", sort=False)
    columns = [labels[v.name] for v in comparison.sources if labels[v.name] in values.columns]
    rows = sorted(values.index, key=lambda r: (order.get(r[0], len(order)), r[1], r[2]))
    values = values.reindex(index=rows, columns=columns).fillna("")
    flags = flags.reindex(index=rows, columns=columns).fillna(False).astype(bool)
    return values, flags


def comparison_rows(comparison: Comparison) -> pd.DataFrame:
    """``Comparison.to_frame()`` for reading: lists joined, the columns a researcher checks."""
    frame = comparison.to_frame()
    frame = frame.assign(passage_ids=frame["passage_ids"].map(" ".join),
                         sentences=frame["sentences"].map(" / ".join))
    return frame[["source", "kind", "drug", "route", "mg_per_day", "as_written", "conflicts_with", "passage_ids",
                  "sentences", "note"]]


#: The page's stylesheet: dense, readable, provenance in a muted line under each title.
CSS = """
<style>
[data-testid="stMainBlockContainer"]{padding-top:2.2rem;padding-bottom:4rem;}
[data-testid="stSidebarHeader"]{height:1rem;min-height:1rem;}
[data-testid="stSidebarUserContent"]{padding-top:.5rem;}
[class*="st-key-hit-"]{border-bottom:1px solid rgba(49,51,63,.12);padding-bottom:.55rem;}
[class*="st-key-w_ctx_"]{margin-left:2.1rem;width:auto;}
[class*="st-key-w_ctx_"] summary{padding:.15rem .6rem;font-size:.78rem;min-height:0;}
[class*="st-key-w_ctx_"] summary p{font-size:.78rem;color:#4b5563;}
[class*="st-key-w_ctx_"] details{border-color:rgba(49,51,63,.10);}
.kb-hit{padding:.25rem .1rem 0 .1rem;}
.kb-head{display:flex;gap:.5rem;align-items:baseline;}
.kb-rank{font-variant-numeric:tabular-nums;color:#6b7280;font-size:.8rem;min-width:1.6rem;text-align:right;}
.kb-title{font-weight:600;font-size:1rem;line-height:1.3;}
.kb-prov{color:#4b5563;font-size:.78rem;margin:.1rem 0 .3rem 2.1rem;}
.kb-sep{color:#9ca3af;}
.kb-source{font-weight:600;color:#1f4e79;}
.kb-id{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;color:#6b7280;}
.kb-missing{font-style:italic;color:#9ca3af;font-weight:400;}
.kb-text{white-space:pre-wrap;font-size:.9rem;line-height:1.45;margin-left:2.1rem;max-width:110ch;}
.kb-tags{margin:.35rem 0 0 2.1rem;display:flex;flex-wrap:wrap;gap:.25rem;}
.kb-tag{font-size:.7rem;line-height:1.1;padding:.12rem .4rem;border-radius:.6rem;background:#eef2f7;color:#334155;
  border:1px solid #dbe3ec;}
.kb-tag-topic{background:#e8f0fe;border-color:#c6d8fb;color:#1a3d8f;}
.kb-tag-substance{background:#f3e8ff;border-color:#e2cffc;color:#5b2590;}
.kb-tag-condition{background:#ecfdf3;border-color:#c8f0d8;color:#166534;}
.kb-tag-route{background:#fff7e6;border-color:#fde4b0;color:#8a5300;}
.kb-sev-mild{background:#f1f5f9;color:#475569;}
.kb-sev-serious{background:#fff1e6;border-color:#fed7aa;color:#9a3412;}
.kb-sev-life_threatening{background:#fee2e2;border-color:#fca5a5;color:#991b1b;font-weight:600;}
.kb-tag-boilerplate{background:#fafafa;border-style:dashed;color:#6b7280;}
.kb-tag-group{display:inline-flex;align-items:center;gap:.2rem;padding:.05rem .3rem .05rem .15rem;border-radius:.7rem;
  border-left:3px solid var(--kb-c,#94a3b8);background:rgba(148,163,184,.08);}
.kb-tag-facet{font-size:.62rem;text-transform:uppercase;letter-spacing:.04em;color:var(--kb-c,#475569);font-weight:600;
  margin:0 .15rem 0 .2rem;}
.kb-group-topic{--kb-c:#1a3d8f;} .kb-group-severity{--kb-c:#9a3412;} .kb-group-route{--kb-c:#8a5300;}
.kb-group-side_effect{--kb-c:#b42318;} .kb-group-condition{--kb-c:#166534;} .kb-group-substance{--kb-c:#5b2590;}
.kb-group-drug{--kb-c:#0f766e;}
.kb-tag-side_effect{background:#fef3f2;border-color:#fecdca;color:#b42318;}
.kb-tag-drug{background:#f0fdfa;border-color:#99f6e4;color:#0f766e;}
mark.kb-m{background:transparent;color:inherit;border-bottom:2px solid var(--kb-c,#94a3b8);padding:0;cursor:help;}
mark.kb-m-topic{--kb-c:#1a3d8f;} mark.kb-m-severity{--kb-c:#9a3412;} mark.kb-m-route{--kb-c:#d97706;}
mark.kb-m-side_effect{--kb-c:#dc2626;} mark.kb-m-condition{--kb-c:#16a34a;} mark.kb-m-substance{--kb-c:#7c3aed;}
mark.kb-m-drug{--kb-c:#0d9488;} mark.kb-m-negated{border-bottom-style:dotted;}
table.kb-table{border-collapse:collapse;font-size:.82rem;margin:.3rem 0;white-space:normal;}
table.kb-table th,table.kb-table td{border:1px solid #e5e7eb;padding:.15rem .45rem;text-align:left;vertical-align:top;}
table.kb-table th{background:#f8fafc;font-weight:600;}
.kb-doses{overflow-x:auto;} table.kb-doses-table{width:100%;} table.kb-doses-table td{overflow-wrap:anywhere;}
.kb-badge{font-size:.7rem;font-weight:700;color:#fff;background:#2563eb;border-radius:.6rem;padding:.05rem .45rem;
  margin-left:.5rem;vertical-align:middle;}
.kb-date{color:#374151;} a.kb-url{color:#1d4ed8;}
mark.kb-hl{background:#fde68a;color:inherit;padding:0 .05rem;border-radius:.15rem;}
.kb-doc{white-space:pre-wrap;font-size:.85rem;line-height:1.45;max-height:28rem;overflow:auto;padding:.6rem .8rem;
  border:1px solid rgba(49,51,63,.15);border-radius:.4rem;background:#fcfcfd;}
mark.kb-passage{background:#dbeafe;color:inherit;outline:2px solid #93c5fd;border-radius:.15rem;}
.kb-anchor{display:inline-block;width:0;height:0;scroll-initial-target:nearest;}
.kb-context{display:flex;flex-direction:column;gap:.4rem;}
.kb-ctx{padding:.35rem .6rem;border-left:3px solid #e5e7eb;}
.kb-ctx .kb-text{margin-left:0;font-size:.85rem;color:#374151;}
.kb-ctx-target{border-left-color:#3b82f6;background:#f5f9ff;}
.kb-ctx-target .kb-text{color:inherit;}
.kb-ctx-where{font-size:.72rem;color:#6b7280;}
.kb-expanded{font-size:.8rem;color:#374151;margin:-.2rem 0 .2rem 0;}
.kb-exp-label{font-size:.7rem;text-transform:uppercase;letter-spacing:.04em;color:#6b7280;margin-right:.3rem;}
[class*="st-key-w_dup_"]{margin-left:2.1rem;width:auto;}
[class*="st-key-w_dup_"] summary{padding:.15rem .6rem;font-size:.78rem;min-height:0;}
[class*="st-key-w_dup_"] summary p{font-size:.78rem;color:#92400e;}
[class*="st-key-w_dup_"] details{border-color:#fde68a;background:#fffbeb;}
[class*="st-key-w_keep_hit_"] button{min-height:0;padding:.1rem .5rem;}
.kb-card{padding:.3rem .2rem .4rem .2rem;border-bottom:1px dashed rgba(49,51,63,.12);}
.kb-card .kb-prov,.kb-card .kb-text,.kb-kept .kb-prov,.kb-kept .kb-text{margin-left:0;}
.kb-card-title{font-weight:600;font-size:.92rem;}
.kb-kept{padding:.2rem 0;}
.kb-kept .kb-text{font-size:.86rem;border-left:3px solid #cbd5e1;padding-left:.6rem;}
.kb-kept-gone .kb-text{border-left-color:#fca5a5;color:#4b5563;}
.kb-gone{font-size:.7rem;font-weight:600;color:#991b1b;background:#fee2e2;border:1px solid #fca5a5;
  border-radius:.6rem;padding:.05rem .45rem;margin-left:.5rem;vertical-align:middle;}
.kb-path{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.72rem;margin-top:-.2rem;}
.kb-conflict{border:1px solid #fca5a5;background:#fef2f2;border-radius:.4rem;padding:.5rem .7rem;margin:.3rem 0;}
.kb-cf-field{font-weight:600;color:#991b1b;margin-bottom:.3rem;}
table.kb-cf{border-collapse:collapse;font-size:.84rem;width:100%;}
table.kb-cf th{text-align:left;font-weight:600;color:#6b7280;font-size:.72rem;padding:.1rem .5rem .1rem 0;}
table.kb-cf td{padding:.15rem .5rem .15rem 0;vertical-align:top;border-top:1px solid #fecaca;}
.kb-cf-value{font-weight:700;white-space:nowrap;}
.kb-cf-note{font-size:.76rem;color:#6b7280;margin-top:.3rem;}
.kb-cf-assumed{font-style:italic;color:#6b7280;}
</style>
"""


# ---- exports ------------------------------------------------------------------------------------------


def slugify(text: str, max_length: int = 60) -> str:
    """A file-name-safe slug: ASCII letters, digits and single hyphens (``Krampfanfälle!`` -> ``krampfanfalle``)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if len(slug) > max_length:
        slug = slug[:max_length].rsplit("-", 1)[0] if "-" in slug[:max_length] else slug[:max_length]
    return slug.strip("-")


def export_filename(query: str, extension: str, today: dt.date | None = None) -> str:
    """``kb-seizures-2026-11-23.csv``; ``kb-all-2026-11-23.csv`` for an empty query, ``kb-search-...``
    when nothing of the query survives (a query in a non-Latin script)."""
    day = (today or dt.date.today()).isoformat()
    slug = slugify(query) or ("search" if query.strip() else "all")
    return f"kb-{slug}-{day}.{extension.lstrip('.')}"


def export_what(results: Results) -> str:
    """What the CSV and JSON buttons download, for their help text."""
    distinct = paged_total(results)
    if distinct < results.total:
        return (f"Each distinct statement ({distinct:,} of {results.total:,} passages; the column `duplicates` "
                "names the passages that repeat it)")
    return f"Every matching passage ({results.total:,})"


def export_results(kb: KnowledgeBase, state: SearchState) -> Results:
    """Every result of the search (not only the page shown), in the page's order: every matching
    passage, or each distinct statement when the page shows each once (``duplicates`` names the rest)."""
    return kb.search(state.query, state.filter_dict(), limit=None, **state.search_kwargs())


def export_bytes(kb: KnowledgeBase, state: SearchState, fmt: str) -> bytes:
    """The CSV (same columns and formula-safe cells as ``kb search --format csv``) or JSON of a search."""
    from kb.results import iter_hits, write_csv, write_json

    if fmt not in ("csv", "json"):
        raise ValueError(f"unknown export format {fmt!r}")
    # a page of hits at a time into the download's bytes: no list of every hit, no DataFrame
    results, hits = iter_hits(kb, state.query, state.filter_dict(), limit=None, **state.search_kwargs())
    buffer = io.BytesIO()
    if fmt == "csv":
        write_csv(hits, buffer)
    else:
        write_json(results, buffer, hits)
    return buffer.getvalue()


# ---- index generation and overview -------------------------------------------------------------------


def generation_token(kb: KnowledgeBase) -> str:
    """Changes whenever an ingest commits: a cache key part that keeps cached searches honest."""
    snap = kb.snapshot()
    return f"{snap.store_dir.name}:{snap.generation}"


#: Overview chart titles by facet.
CHART_TITLES: dict[str, str] = {
    "topic": "Passages by topic", "side_effect": "Side effects (top 20)", "drug": "Drugs (top 20)",
    "condition": "Conditions (top 20)", "substance": "Substances (top 20)", "source": "Sources", "year": "Years",
}


def facet_rows(counts: Mapping[str, int], limit: int | None = None, *, raw: bool = False) -> list[dict[str, Any]]:
    """A facet's counts as chart rows, largest first; with ``raw`` each row keeps the indexed value too
    (what a click on its bar filters on)."""
    rows = [{"value": value_label(v), "passages": int(c), **({"raw": v} if raw else {})}
            for v, c in counts.items() if c > 0]
    rows.sort(key=lambda r: (-r["passages"], r["value"]))
    return rows[:limit] if limit else rows


def crosstab_rows(kb: KnowledgeBase, rows_facet: str, cols_facet: str, *, include_boilerplate: bool = False,
                  state: SearchState | None = None) -> list[dict[str, Any]]:
    """Passage counts for each pair of values of two facets (e.g. severity by source), within the
    current search ``state`` (its query and filters) when given, else over the collection.

    One count-only search per value of ``rows_facet`` (its "not stated" value included, labelled
    "not stated"); the counts are those a user sees in the sidebar after selecting that value."""
    query, filters = (state.query, state.filter_dict()) if state is not None else ("", {})
    kw: dict[str, Any] = ({"include_boilerplate": state.boilerplate, "synonyms": state.synonyms}
                          if state is not None else {"include_boilerplate": include_boilerplate})
    everything = kb.search(query, filters, limit=0, **kw)
    out: list[dict[str, Any]] = []
    for value in everything.facets[rows_facet].counts(not_stated=True):
        narrowed = kb.search(query, {**filters, rows_facet: [value]}, limit=0, **kw)
        for col in narrowed.facets[cols_facet].values:
            if col.count:
                out.append({rows_facet: value_label(value), cols_facet: value_label(col.value), "passages": col.count})
    return out


def overview_scope(results: Results, state: SearchState) -> str:
    """What the Overview's charts count: the current search, said in words."""
    if not state.query and not state.filters:
        return f"Charts show every passage of the collection ({results.total:,}): there is no search or filter."
    what = []
    if state.query:
        what.append(f"the search “{state.query}”")
    if state.filters:
        what.append("filters " + "; ".join(f"{FACET_LABELS.get(n, n).lower()} = "
                                            + " or ".join(value_label(v) for v in vals) for n, vals in state.filters))
    return f"Charts follow {' and '.join(what)}: {results.total:,} passage{'s' * (results.total != 1)}."


def chart_choice(event: Any) -> str | None:
    """The value a click on an Overview bar chose (Streamlit's selection event: ``{"selection": {"pick":
    [{"raw": value}]}}``), or None when the click chose nothing."""
    selection = (event or {}).get("selection", {}) if isinstance(event, Mapping) else getattr(event, "selection", {})
    points = (selection or {}).get("pick") or []
    for point in points:
        value = point.get("raw") if isinstance(point, Mapping) else None
        if isinstance(value, str) and value:
            return value
    return None


QUERY_HELP = """
**Query syntax**

| write | finds |
|---|---|
| `baclofen withdrawal` | passages with **all** the words (stemmed: *seizure* finds *seizures*) |
| `"muscle spasticity"` | the exact phrase |
| `seizures OR convulsions` | either word |
| `baclofen NOT alcohol` | leave out passages with a word |
| `(tizanidine OR baclofen) AND dose` | group with parentheses |
| `topic:withdrawal` `severity:serious` | a facet value (also `route:`, `drug:`, `side_effect:` ...) |
| `title:addictive` `section:dosage` | a word in the document title or section heading |
| `baclofin~` | fuzzy: close spellings (`~2` for two edits) |
| `hallucinat*` `sei?ure` | wildcards: `*` any letters, `?` one letter |

Plain words also find their synonyms and brand names from the vocabulary (*Lioresal* finds *baclofen*; the line
under the result count lists what was added, and the **Synonyms** switch turns it off), and a word found nowhere
is searched as close spellings; the note above the results says when. An empty query lists
every passage; a malformed one is searched as plain words.
"""


# ---- paging, more like this, history -------------------------------------------------------------------


def scroll_to_top_script(page_number: int) -> str:
    """A script that scrolls the page back to its top after a new page of results is drawn (the page
    number makes each one new, so the browser runs it again for each change of page)."""
    selectors = "[data-testid=stMain],[data-testid=stAppViewContainer],section.main"
    return (f'<script data-page="{int(page_number)}">'
            "(function(){const d=window.parent&&window.parent.document?window.parent.document:document;"
            f"for(const el of d.querySelectorAll('{selectors}')){{el.scrollTo({{top:0}});}}"
            "window.scrollTo({top:0});})();</script>")


def similar_caption(passage: Passage, hits: Sequence[Hit]) -> str:
    """How "More like this" found what it lists."""
    if not hits:
        return ""
    others = sum(1 for h in hits if (h.passage.source != passage.source if passage.source
                                     else h.passage.doc_id != passage.doc_id))
    return (f"Passages sharing this one's most distinctive words, other sources first "
            f"({others} of {len(hits)} from other sources); exact copies are listed under *Also stated by*.")


def file_stamp(path: Path) -> tuple[int, int]:
    """Changes whenever the file does: a cache key part."""
    try:
        st = path.stat()
    except OSError:
        return (0, 0)
    return (st.st_mtime_ns, st.st_size)


def saved_html(saved: Any, new: int) -> str:
    """A saved search: its name, query, filters, last run, and a badge with its new hits, escaped."""
    filters = saved.spec.filters_text()
    badge = (f'<span class="kb-badge" title="hits new since its last run">{new:,} new</span>' if new else "")
    query = html.escape(saved.spec.query) if saved.spec.query else '<span class="kb-missing">every passage</span>'
    return (f'<div class="kb-saved"><span class="kb-card-title">{html.escape(saved.name)}</span>{badge}'
            f'<div class="kb-prov">{query}{_SEP + html.escape(filters) if filters else ""}{_SEP}'
            f'{saved.hits:,} hits at its last run, {html.escape(saved.last_run[:16].replace("T", " "))}</div></div>')


def history_filename(extension: str, today: dt.date | None = None) -> str:
    return f"kb-search-strategy-{(today or dt.date.today()).isoformat()}.{extension.lstrip('.')}"


DOSE_COLUMNS: dict[str, str] = {
    "source": "Source", "kind": "Kind of dose", "drug": "Drug", "route": "Route", "mg_per_day": "mg/day",
    "as_written": "As written", "conflicts_with": "Conflicts with", "passage_ids": "Passages",
    "sentences": "Sentences", "note": "Note",
}


def doses_table_html(comparison: Comparison) -> str:
    """Every source's doses as a table with readable column names that wraps its text (never cut off on
    the right), every cell escaped."""
    frame = comparison_rows(comparison)
    head = "".join(f"<th>{html.escape(DOSE_COLUMNS.get(c, c))}</th>" for c in frame.columns)
    rows = []
    for record in frame.itertuples(index=False):
        cells = []
        for name, value in zip(frame.columns, record, strict=True):
            text = "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)
            css = ' class="kb-id"' if name == "passage_ids" else ""
            cells.append(f"<td{css}>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<div class="kb-doses"><table class="kb-table kb-doses-table"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def document_rows(documents: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The collection's documents for the Overview's table: title, source, date, passages, format, web
    address (only an http(s) one) and path."""
    from kb.model import iso_date

    rows = []
    for d in documents:
        meta = d.get("meta") or {}
        url = meta.get("url") if isinstance(meta.get("url"), str) else ""
        rows.append({"title": d.get("title", ""), "source": d.get("source", ""), "date": iso_date(meta.get("date")),
                     "passages": d.get("passages", 0), "format": d.get("format", ""),
                     "url": url if re.match(r"https?://", url, re.IGNORECASE) else "", "path": d.get("path", "")})
    return rows
