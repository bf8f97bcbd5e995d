"""The page's reads of the index, through Streamlit's caches: the index built once if missing (the bundled sample,
with a progress bar) and opened once per process; every search, comparison, count and context keyed by the index's
generation (``kb.page.searches.generation_token``), so an ingest that commits is seen at the next rerun and nothing
stale is served. Imported by ``app.py`` only: it needs a running Streamlit page.
"""

from __future__ import annotations

import threading
from pathlib import Path

import streamlit as st

from kb import history as hist
from kb.compare import Comparison, compare
from kb.index import index_exists
from kb.model import KbError, Passage
from kb.page.markup import context_html, document_html, locate_passage
from kb.page.searches import crosstab_rows
from kb.page.state import CONTEXT_NEIGHBOURS, SIMILAR_SHOWN, Filters, SearchState
from kb.page.tables import document_rows
from kb.results import Results
from kb.search import KnowledgeBase
from kb.selection import SelectionStore, lookup_in


@st.cache_resource(show_spinner=False)
def _build_lock(path: str) -> threading.Lock:
    return threading.Lock()


def ensure_index(path: Path) -> None:
    """Builds the bundled sample into ``path`` when no index is there, with a progress bar."""
    if index_exists(path):
        return
    from kb.ingest import Progress, ingest

    with _build_lock(str(path.resolve())):
        if index_exists(path):  # another session built it while this one waited
            return
        st.info(f"No index at `{path}` yet: building one from the bundled sample corpus (first start only).")
        bar = st.progress(0.0, text="Starting…")

        def progress(p: Progress) -> None:
            share = p.done / p.total if p.total else 1.0
            bar.progress(share, text=f"Ingesting {p.done} of {p.total} files {Path(p.path).name}".rstrip())

        report = ingest(index=path, progress=progress, wait=None)  # another server may be building it
        bar.progress(1.0, text=report.summary())


@st.cache_resource(show_spinner=False)
def open_kb(path: str) -> KnowledgeBase:
    return KnowledgeBase.open(path)  # reopens its own snapshot whenever an ingest commits


@st.cache_data(max_entries=256, show_spinner=False)
def run_search(path: str, generation: str, state: SearchState) -> Results:
    return open_kb(path).search(state.query, state.filter_dict(), limit=state.size, offset=state.offset,
                                **state.search_kwargs())


@st.cache_data(max_entries=256, show_spinner=False)
def passages_by_id(path: str, generation: str, ids: tuple[str, ...]) -> dict[str, Passage | None]:
    """Passages by id; None for an id no longer in the index (a kept passage a re-ingest removed)."""
    lookup = lookup_in(open_kb(path))
    return {pid: lookup(pid) for pid in ids}


@st.cache_data(max_entries=64, show_spinner=False)
def new_in_saved(path: str, generation: str, saved_stamp: tuple) -> dict[str, int]:
    """Hits new since each saved search last ran (nothing is marked): the History tab's badges."""
    saved = hist.SavedSearches.for_index(path)
    with_kb = open_kb(path)
    out = {}
    for name in saved.load():
        try:
            out[name] = saved.new_count(with_kb, name)
        except KbError:
            out[name] = 0
    return out


@st.cache_data(max_entries=64, show_spinner=False)
def similar_passages(path: str, generation: str, passage_id: str) -> list:
    return open_kb(path).more_like_this(passage_id, limit=SIMILAR_SHOWN)


@st.cache_resource(show_spinner=False)
def selection_store(path: str) -> SelectionStore:
    return SelectionStore.for_index(path)  # one per index: each index has its own selection


# A resource, not data: a broad comparison holds tens of thousands of passages, and cache_data would
# copy (unpickle) them on every rerun while the tab is open. The page never changes a Comparison.
@st.cache_resource(max_entries=8, show_spinner=False)
def run_compare(path: str, generation: str, query: str, filters: Filters, topic: str | None) -> Comparison:
    return compare(open_kb(path), query, dict(filters), topic=topic)


@st.cache_data(max_entries=8, show_spinner=False)
def collection_stats(path: str, generation: str) -> dict:
    return open_kb(path).stats()


@st.cache_data(max_entries=8, show_spinner=False)
def overview_extras(path: str, generation: str) -> dict:
    kb = open_kb(path)
    return {"documents": document_rows(kb.documents())}


@st.cache_data(max_entries=32, show_spinner=False)
def severity_by_source(path: str, generation: str, state: SearchState) -> list[dict]:
    return crosstab_rows(open_kb(path), "source", "severity", state=state)


@st.cache_data(max_entries=64, show_spinner=False)
def context_view(path: str, generation: str, passage_id: str, spans: tuple) -> tuple[str, str, dict]:
    kb = open_kb(path)
    before, target, after = kb.context(passage_id, before=CONTEXT_NEIGHBOURS, after=CONTEXT_NEIGHBOURS)
    doc = kb.document(target.doc_id)
    where = locate_passage(doc["text"], target)
    return (context_html(before, target, after, spans),
            document_html(doc["text"], where, spans, anchor=f"kb-{passage_id}"),
            {k: doc.get(k) for k in ("title", "source", "path", "format")} | {"located": where is not None})
