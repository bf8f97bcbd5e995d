"""The page's search as state: what a search is (``SearchState``), its round trip to the address's query parameters
(so a search can be bookmarked, shared and undone with Back), paging, and how much the page shows.

Forgiving by design: a hand-edited address with a bad page, size, sort or facet opens the search with the default
instead of an error.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.model import FACETS, default_index_path, sort_or_default

if TYPE_CHECKING:
    from kb.history import SearchSpec
    from kb.results import Results


SORT_LABELS: dict[str, str] = {"relevance": "Relevance", "document": "Document order", "source": "Source",
                               "date": "Date (newest first)"}


PAGE_SIZES: tuple[int, ...] = (10, 20, 50, 100)


DEFAULT_SIZE = PAGE_SIZES[0]


#: Neighbouring passages shown on each side in a hit's context.
CONTEXT_NEIGHBOURS = 2


#: Conflicts shown one by one with their evidence in "Compare sources"; the tables flag every one.
MAX_CONFLICTS_SHOWN = 20


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
    """Where the page's index lives: ``$KB_INDEX`` or ``./index``, as for the CLI and the library."""
    return default_index_path(environ)


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
            sort=sort_or_default(sort), page=max(1, int(page)),
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

    def with_filters(self, extra: Mapping[str, Iterable[str]]) -> SearchState:
        """These values added to the filters already chosen (a facet's values are alternatives)."""
        merged = self.filter_dict()
        for name, values in extra.items():
            merged[name] = [*merged.get(name, ()), *values]
        return replace(self, filters=normalize_filters(merged), page=1)

    def without_filters(self) -> SearchState:
        return replace(self, filters=(), page=1)

    def with_sort(self, sort: str) -> SearchState:
        return replace(self, sort=sort_or_default(sort), page=1)

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
    return SearchState.make(spec.query, spec.filter_dict(), sort=sort_or_default(spec.sort),
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
