"""What a search returns and every shape of it: ``Hit``, ``Facet``, ``Results``; a hit as a dict, a JSON object
and a CSV row; a search as JSON, CSV and a pandas DataFrame.

Each shape of a hit takes the passage's fields from ``kb.model.PASSAGE_FIELDS`` (the ``Passage`` dataclass), so
the fields are listed once: a field added to ``Passage`` appears in the JSON, the CSV and the DataFrame without
touching this module. The shapes only choose an order (``kb.model.arrange``): the CSV puts what a reader scans
first at the left.

This module decides *what* is written; ``kb.export`` knows *how* (formula-safe cells, a byte-order mark, JSON
written a hit at a time). The dependency goes one way: ``kb.export`` knows nothing of hits or results.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from kb.export import read_rows_csv, write_json_object, write_rows_csv
from kb.model import NOT_STATED, PASSAGE_FIELDS, TAG_FACETS, KbError, Passage, arrange, mention_record

if TYPE_CHECKING:
    import pandas as pd

    from kb.search import KnowledgeBase


@dataclass(frozen=True, slots=True)
class FacetValue:
    value: str
    count: int
    selected: bool


@dataclass(frozen=True, slots=True)
class Facet:
    """A facet's named values with their counts, and how many passages name none (``not_stated``:
    filtered on as the value ``kb.model.NOT_STATED``)."""

    name: str
    values: tuple[FacetValue, ...]
    truncated: bool  # more values exist than were asked for
    not_stated: int = 0
    not_stated_selected: bool = False

    def counts(self, *, not_stated: bool = False) -> dict[str, int]:
        """Value -> count; with ``not_stated``, ``NOT_STATED`` last when any passage (or the filter) has it."""
        out = {v.value: v.count for v in self.values}
        if not_stated and (self.not_stated or self.not_stated_selected):
            out[NOT_STATED] = self.not_stated
        return out


# ---- a hit's fields, from the model ----------------------------------------------------------------------

#: The passage's single-valued fields, in the model's order (``tags`` and ``mentions`` have shapes of their own:
#: one list per tag facet, and mention records).
PASSAGE_VALUES: tuple[str, ...] = tuple(n for n in PASSAGE_FIELDS if n not in ("tags", "mentions"))
#: ``Hit.to_dict``'s keys, in order: the hit's place, the passage's values (``position`` counted from 1, as
#: the page and citations count), one list per tag facet, the highlighted fragment and the duplicates' ids.
#: JSON exports add ``mentions`` after them (``hit_json``).
HIT_FIELDS: tuple[str, ...] = ("rank", "score", *PASSAGE_VALUES, *TAG_FACETS, "highlight", "duplicates")
#: The CSV's and the DataFrame's columns: what a reader scans first (the passage, its place and its tags), then
#: every other field of the hit in the model's order, the character offsets last. ``highlight`` is left out: the
#: row has the whole text. Multi-valued columns (``LIST_COLUMNS``) are joined with ``LIST_SEPARATOR`` in CSV.
COLUMNS: tuple[str, ...] = arrange(
    HIT_FIELDS,
    first=("rank", "score", "passage_id", "title", "source", "section", "position", "page", "text", *TAG_FACETS,
           "boilerplate", "duplicates"),
    last=("char_start", "char_end"),
    omit=("highlight",),
)
LIST_COLUMNS: tuple[str, ...] = (*TAG_FACETS, "duplicates")
LIST_SEPARATOR = "; "
#: Column types a DataFrame restores (CSV cells are text): the model's int and bool fields, the rank and score.
_PASSAGE_TYPES = {f.name: f.type for f in fields(Passage)}
INT_COLUMNS: tuple[str, ...] = ("rank", *(n for n in PASSAGE_VALUES if _PASSAGE_TYPES[n] == "int"))
BOOL_COLUMNS: tuple[str, ...] = tuple(n for n in PASSAGE_VALUES if _PASSAGE_TYPES[n] == "bool")
FLOAT_COLUMNS: tuple[str, ...] = ("score",)


@dataclass(frozen=True, slots=True)
class Hit:
    passage: Passage
    rank: int  # 1-based over the whole result, not the page
    score: float
    highlight: str  # a fragment of the passage with matches between ** and **
    spans: tuple[tuple[int, int], ...]  # character spans of matches in passage.text
    #: Other matching passages that say the same thing (kb.dedupe), the publishers they name, and how many of
    #: them name none.
    duplicates: tuple[str, ...] = ()
    duplicate_sources: tuple[str, ...] = ()
    duplicate_unnamed: int = 0

    def also_stated(self) -> str:
        """Where else this hit's statement stands, for the CLI's line and the page's label: "2 other passages
        (Drug Facts, Health Library)", "1 other passage (publisher not named)", "3 other passages (Drug Facts,
        and 2 with no publisher named)"; "" without duplicates. Search lists at most
        ``kb.search.MAX_DUPLICATES_LISTED`` of them: a full list says "N+"."""
        from kb.search import MAX_DUPLICATES_LISTED

        n = len(self.duplicates)
        if not n:
            return ""
        count = f"{n:,}+" if n >= MAX_DUPLICATES_LISTED else f"{n:,}"
        named = ", ".join(self.duplicate_sources)
        if self.duplicate_unnamed:
            unnamed = f"and {self.duplicate_unnamed:,} with no publisher named" if named else "publisher not named"
            named = f"{named}, {unnamed}" if named else unnamed
        return f"{count} other {'passage' if n == 1 else 'passages'}" + (f" ({named})" if named else "")

    def to_dict(self) -> dict[str, Any]:
        """``HIT_FIELDS``: plain values, tag facets as lists."""
        p = self.passage
        out: dict[str, Any] = {"rank": self.rank, "score": round(self.score, 4)}
        for name in PASSAGE_VALUES:
            value = getattr(p, name)
            out[name] = p.number if name == "position" else bool(value) if name in BOOL_COLUMNS else value
        for name in TAG_FACETS:
            out[name] = list(p.tags.get(name, ()))
        out["highlight"] = self.highlight
        out["duplicates"] = list(self.duplicates)
        return out


def window(text: str, spans: Sequence[tuple[int, int]], width: int, *, lead: int) -> tuple[int, int]:
    """The part of a passage a hit shows: all of it when it is at most ``width`` characters, else ``width``
    characters from ``lead`` before the first match (``spans``, sorted), both ends moved to a word boundary.
    One rule for the CLI's and JSON's highlighted fragment and the page's longer window."""
    if len(text) <= width:
        return 0, len(text)
    first = spans[0][0] if spans else 0
    start = max(0, first - lead)
    if start:
        space = text.find(" ", start, first)
        start = space + 1 if space >= 0 else start
    end = min(len(text), start + width)
    if end < len(text):
        space = text.rfind(" ", start, end)
        end = space if space > start else end
    return start, end


def hit_json(hit: Hit) -> dict[str, Any]:
    """One hit as JSON exports write it: its fields and tags, and the mentions behind the tags (the span of the
    passage's text that gave each, with its facet, value, role and severity)."""
    return {**hit.to_dict(), "mentions": [mention_record(m) for m in hit.passage.mentions]}


def hit_row(hit: Hit) -> dict[str, Any]:
    """One hit as an export row: ``COLUMNS``, list facets joined with LIST_SEPARATOR."""
    d = hit.to_dict()
    for name in LIST_COLUMNS:
        d[name] = LIST_SEPARATOR.join(d[name])
    return {c: d[c] for c in COLUMNS}


@dataclass(slots=True)
class Results:
    query: str
    filters: dict[str, list[str]]
    total: int
    offset: int
    limit: int | None
    sort: str
    hits: list[Hit]
    facets: dict[str, Facet]
    suggestion: str | None = None
    notes: list[str] = field(default_factory=list)
    include_boilerplate: bool = False
    searched: str = ""  # the query as it was finally searched (synonyms added, or a fallback)
    #: With collapse_duplicates: how many distinct statements the matches make (paging counts these).
    statements: int | None = None
    expanded: dict[str, list[str]] = field(default_factory=dict)  # typed words -> synonyms added
    #: What the question asks (kb.intent), when recognised: passages about it were ranked first.
    intent: str | None = None
    #: The filter that keeps only passages about the intent ({"topic": [...]}; empty when the
    #: intent has no topic): the page and the CLI offer it as a one-click filter.
    intent_filter: dict[str, list[str]] = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        return to_frame(self)

    def to_csv(self, path_or_buffer: Any) -> None:
        write_csv(self, path_or_buffer)

    def to_json_dict(self) -> dict[str, Any]:
        return to_json_dict(self)


# ---- a search's shapes ------------------------------------------------------------------------------------


def to_frame(results: Results) -> pd.DataFrame:
    """The hits as a DataFrame in ``COLUMNS`` order; facets as lists."""
    import pandas as pd

    frame = pd.DataFrame([hit.to_dict() for hit in results.hits], columns=[*COLUMNS])
    return frame.astype({**dict.fromkeys(INT_COLUMNS, "int64"), **dict.fromkeys(FLOAT_COLUMNS, "float64"),
                         **dict.fromkeys(BOOL_COLUMNS, "bool")})


def to_json_dict(results: Results) -> dict[str, Any]:
    """The shape ``kb search --format json`` prints; each hit with the mentions behind its tags."""
    return {
        "query": results.query,
        "filters": results.filters,
        "total": results.total,
        "offset": results.offset,
        "limit": results.limit,
        "sort": results.sort,
        "hits": [hit_json(hit) for hit in results.hits],
        "facets": {name: facet.counts() for name, facet in results.facets.items()},
        "not_stated": {name: facet.not_stated for name, facet in results.facets.items()},
        "suggestion": results.suggestion,
        "notes": results.notes,
    }


def write_csv(results: Results | Iterable[Hit], path_or_buffer: Any) -> int:
    """The hits as kb's CSV (``kb.export.write_rows_csv``: UTF-8 with a byte-order mark, CRLF rows, formula-safe
    cells) in ``COLUMNS``. ``results`` may be a ``Results`` or any iterable of hits (``iter_hits``: every match of a
    search, a page at a time); rows are written one by one. Returns the rows written."""
    hits = results.hits if isinstance(results, Results) else results
    return write_rows_csv((hit_row(hit) for hit in hits), COLUMNS, path_or_buffer)


def csv_bytes(results: Results | Iterable[Hit]) -> bytes:
    import io

    buffer = io.BytesIO()
    write_csv(results, buffer)
    return buffer.getvalue()


def read_csv(path_or_buffer: Any) -> pd.DataFrame:
    """Reads a kb CSV back: guards removed, facets as lists, types restored."""
    frame = read_rows_csv(path_or_buffer)
    for name in LIST_COLUMNS:
        frame[name] = frame[name].map(lambda v: v.split(LIST_SEPARATOR) if v else [])
    frame = frame.astype({**dict.fromkeys(INT_COLUMNS, "int64"), **dict.fromkeys(FLOAT_COLUMNS, "float64")})
    for name in BOOL_COLUMNS:
        frame[name] = frame[name].map({"True": True, "False": False})
    return frame


def write_json(results: Results, path_or_buffer: Any, hits: Iterable[Hit] | None = None) -> int:
    """``to_json_dict``'s document, written a hit at a time: ``results`` gives the query, totals,
    facets and notes; ``hits`` (default: its own) every hit to list, e.g. ``iter_hits`` of a whole
    search. Returns the hits written."""
    head = to_json_dict(results)
    items = (hit_json(hit) for hit in (results.hits if hits is None else hits))
    return write_json_object(head, "hits", items, path_or_buffer)


#: Hits fetched per search when an export walks every match: memory stays flat in the number of rows.
EXPORT_PAGE = 1_000


def iter_hits(kb: KnowledgeBase, query: str = "", filters: Any = None, *, limit: int | None = None, offset: int = 0,
              page: int = EXPORT_PAGE, **search: Any) -> tuple[Results, Iterator[Hit]]:
    """Every hit of a search (from ``offset``, at most ``limit``; None: all), fetched a page at a
    time: the first page's ``Results`` (total, facets, notes) and an iterator over the hits.

    An ingest that commits while the hits are read would shift the pages; it is reported as a
    KbError instead of an export with rows missing or repeated.
    """
    first = kb.search(query, filters, limit=page if limit is None else min(page, limit), offset=offset, **search)
    generation = kb.snapshot().generation
    first_hits = first.hits
    first.limit = limit  # what was asked for: the JSON header says so

    def walk() -> Iterator[Hit]:
        yield from first_hits
        done = len(first_hits)
        while first_hits and (limit is None or done < limit) and offset + done < first.total:
            size = page if limit is None else min(page, limit - done)
            results = kb.search(query, filters, limit=size, offset=offset + done, **search)
            if kb.snapshot().generation != generation:
                raise KbError("The index changed while the export was being written (an ingest committed); "
                              "run the export again.")
            if not results.hits:
                return
            yield from results.hits
            done += len(results.hits)

    return first, walk()
