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
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.model import DOC_FACETS, FACETS, NOT_STATED

if TYPE_CHECKING:
    import pandas as pd

    from kb.compare import Comparison, Conflict
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


def passage_html(text: str, spans: Sequence[tuple[int, int]], max_chars: int = MAX_PASSAGE_CHARS) -> str:
    spans = clean_spans(spans, len(text))
    start, end = passage_window(text, spans, max_chars)
    shifted = [(s - start, e - start) for s, e in spans if e > start and s < end]
    body = highlight_html(text[start:end], shifted)
    return ("…" if start else "") + body + ("…" if end < len(text) else "")


def _tag_html(name: str, value: str) -> str:
    css = f"kb-tag kb-tag-{name}"
    if name == "severity":
        css += f" kb-sev-{re.sub(r'[^a-z_]', '', value.lower())}"
    label = html.escape(FACET_LABELS.get(name, name))
    return f'<span class="{css}" title="{label}">{html.escape(value_label(value))}</span>'


def tags_html(passage: Passage) -> str:
    """The passage's facet values as small labels, facets in display order (source is shown elsewhere)."""
    labels = [_tag_html(name, value) for name in FACETS if name not in DOC_FACETS for value in passage.facet(name)]
    if passage.boilerplate:
        labels.append('<span class="kb-tag kb-tag-boilerplate" title="Flagged as boilerplate">boilerplate</span>')
    return f'<div class="kb-tags">{"".join(labels)}</div>' if labels else ""


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
        f'<div class="kb-text">{passage_html(p.text, hit.spans, max_chars)}</div>'
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
.kb-tag-drug,.kb-tag-substance{background:#f3e8ff;border-color:#e2cffc;color:#5b2590;}
.kb-tag-side_effect,.kb-tag-condition{background:#ecfdf3;border-color:#c8f0d8;color:#166534;}
.kb-tag-route{background:#fff7e6;border-color:#fde4b0;color:#8a5300;}
.kb-sev-mild{background:#f1f5f9;color:#475569;}
.kb-sev-serious{background:#fff1e6;border-color:#fed7aa;color:#9a3412;}
.kb-sev-life_threatening{background:#fee2e2;border-color:#fca5a5;color:#991b1b;font-weight:600;}
.kb-tag-boilerplate{background:#fafafa;border-style:dashed;color:#6b7280;}
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
    from kb.export import iter_hits, write_csv, write_json

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


def facet_rows(counts: Mapping[str, int], limit: int | None = None) -> list[dict[str, Any]]:
    rows = [{"value": value_label(v), "passages": int(c)} for v, c in counts.items() if c > 0]
    rows.sort(key=lambda r: (-r["passages"], r["value"]))
    return rows[:limit] if limit else rows


def crosstab_rows(kb: KnowledgeBase, rows_facet: str, cols_facet: str, *, include_boilerplate: bool = False,
                  missing: str | None = None) -> list[dict[str, Any]]:
    """Passage counts for each pair of values of two facets (e.g. severity by source).

    One count-only search per value of ``rows_facet``; the counts are those a user sees in the
    sidebar after selecting that value. With ``missing``, passages that have no value in
    ``rows_facet`` get a row of that name; this is exact only for a facet a passage has at most one
    value of (``source``), as their counts are the collection's minus those of every named value.
    """
    everything = kb.search("", limit=0, include_boilerplate=include_boilerplate)
    out: list[dict[str, Any]] = []
    named: dict[str, int] = {}
    for row in everything.facets[rows_facet].values:
        narrowed = kb.search("", {rows_facet: [row.value]}, limit=0, include_boilerplate=include_boilerplate)
        for col in narrowed.facets[cols_facet].values:
            if col.count:
                named[col.value] = named.get(col.value, 0) + col.count
                out.append({rows_facet: value_label(row.value), cols_facet: value_label(col.value),
                            "passages": col.count})
    if missing is not None:
        for col in everything.facets[cols_facet].values:
            rest = col.count - named.get(col.value, 0)
            if rest > 0:
                out.append({rows_facet: missing, cols_facet: value_label(col.value), "passages": rest})
    return out


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
