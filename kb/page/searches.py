"""What the page asks the knowledge base besides the page of hits: every hit for a download, the crosstab's counts
(one count-only search per value), and the tokens that keep cached searches honest when an ingest commits.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.page.labels import value_label
from kb.page.state import SearchState

if TYPE_CHECKING:
    from kb.search import KnowledgeBase


def generation_token(kb: KnowledgeBase) -> str:
    """Changes whenever an ingest commits: a cache key part that keeps cached searches honest."""
    snap = kb.snapshot()
    return f"{snap.store_dir.name}:{snap.generation}"


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


def file_stamp(path: Path) -> tuple[int, int]:
    """Changes whenever the file does: a cache key part."""
    try:
        st = path.stat()
    except OSError:
        return (0, 0)
    return (st.st_mtime_ns, st.st_size)
