"""The page's HTML: a hit, its neighbours, the whole document with the passage marked, kept passages, conflicts,
saved searches; and the stylesheet (``page.css`` beside this module).

Every piece of text from a document, a query or a note is escaped with ``html.escape`` before it is placed;
``<mark>`` and the other tags are added afterwards, from the character spans the search reports, so a document
containing ``<script>`` shows as text. tests/test_page.py checks each function with hostile text.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from kb.model import DOC_FACETS, FACETS
from kb.page.labels import FACET_LABELS, mention_title, value_label
from kb.page.tables import DOSE_COLUMNS, comparison_rows

if TYPE_CHECKING:
    from kb.compare import Comparison, Conflict
    from kb.model import Passage
    from kb.results import Hit, Results
    from kb.selection import Kept


#: A passage longer than this is shown as a window around its first match.
MAX_PASSAGE_CHARS = 1600


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
    """The part of a long passage to show: all of it, or a window starting a little before the first match
    (the rule of a hit's highlighted fragment, with more room)."""
    from kb.results import window

    return window(text, spans, max_chars, lead=max_chars // 4)


def _mention_fields(m: Any) -> tuple[int, int, str, str, str, str] | None:
    """(start, end, facet, value, role, severity) of a ``kb.model.Mention`` or its dict form; None if unusable."""
    get = m.get if isinstance(m, Mapping) else lambda k, d=None: getattr(m, k, d)
    try:
        start, end = int(get("start")), int(get("end"))
    except (TypeError, ValueError):
        return None
    return start, end, str(get("facet", "") or ""), str(get("value", "") or ""), str(get("role", "") or ""), \
        str(get("severity", "") or "")


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


def expansion_html(results: Results) -> str:
    """What was searched besides the words typed: every synonym added, each word's own, escaped;
    the whole query as searched in the tooltip. Empty when nothing was added."""
    if not results.expanded:
        return ""
    parts = [f'<b>{html.escape(typed)}</b> → {html.escape(", ".join(added))}'
             for typed, added in results.expanded.items()]
    return (f'<div class="kb-expanded" title="Searched: {html.escape(results.searched)}">'
            f'<span class="kb-exp-label">Also searched</span> {" · ".join(parts)}</div>')


def passage_card_html(passage: Passage, marks: Sequence[tuple[int, int]] = (), *,
                      max_chars: int = MAX_PASSAGE_CHARS) -> str:
    """A passage shown outside the hit list (a duplicate, a conflict's evidence): title, provenance,
    text with ``marks`` highlighted, every piece escaped."""
    title = html.escape(passage.title) if passage.title else '<span class="kb-missing">untitled document</span>'
    return (f'<div class="kb-card" data-passage="{html.escape(passage.passage_id)}">'
            f'<div class="kb-card-title">{title}</div>{provenance_html(passage)}'
            f'<div class="kb-text">{passage_html(passage.text, marks, max_chars)}</div></div>')


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


def _css_rules() -> str:
    """``page.css``, read from the installed package (declared as package data in pyproject.toml)."""
    return resources.files("kb.page").joinpath("page.css").read_text(encoding="utf-8")


#: The page's stylesheet (``page.css``, package data): dense, readable, provenance in a muted line under each title.
CSS = "\n<style>\n" + _css_rules() + "</style>\n"


def scroll_to_top_script(page_number: int) -> str:
    """A script that scrolls the page back to its top after a new page of results is drawn (the page
    number makes each one new, so the browser runs it again for each change of page)."""
    selectors = "[data-testid=stMain],[data-testid=stAppViewContainer],section.main"
    return (f'<script data-page="{int(page_number)}">'
            "(function(){const d=window.parent&&window.parent.document?window.parent.document:document;"
            f"for(const el of d.querySelectorAll('{selectors}')){{el.scrollTo({{top:0}});}}"
            "window.scrollTo({top:0});})();</script>")


def saved_html(saved: Any, new: int) -> str:
    """A saved search: its name, query, filters, last run, and a badge with its new hits, escaped."""
    filters = saved.spec.filters_text()
    badge = (f'<span class="kb-badge" title="hits new since its last run">{new:,} new</span>' if new else "")
    query = html.escape(saved.spec.query) if saved.spec.query else '<span class="kb-missing">every passage</span>'
    return (f'<div class="kb-saved"><span class="kb-card-title">{html.escape(saved.name)}</span>{badge}'
            f'<div class="kb-prov">{query}{_SEP + html.escape(filters) if filters else ""}{_SEP}'
            f'{saved.hits:,} hits at its last run, {html.escape(saved.last_run[:16].replace("T", " "))}</div></div>')


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
