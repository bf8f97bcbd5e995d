"""kb's research page: ``streamlit run app.py``.

A thin script: it lays out widgets and calls kb.page (state, URL, HTML, exports) and kb.search.
The index is $KB_INDEX or ./index; a missing index is built from the bundled sample on first start.
"""

from __future__ import annotations

import threading
from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from kb import page
from kb.index import index_exists
from kb.model import FACETS, KbError
from kb.search import KnowledgeBase, Results

st.set_page_config(page_title="kb · drug-information passages", page_icon=":material/pill:", layout="wide")
st.html(page.CSS)

INDEX = page.index_path()
ss = st.session_state


# ---- the index: built once if missing, opened once per process, searched through caches ----------------


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

        report = ingest(index=path, progress=progress)
        bar.progress(1.0, text=report.summary())


@st.cache_resource(show_spinner=False)
def open_kb(path: str) -> KnowledgeBase:
    return KnowledgeBase.open(path)  # reopens its own snapshot whenever an ingest commits


@st.cache_data(max_entries=256, show_spinner=False)
def run_search(path: str, generation: str, state: page.SearchState) -> Results:
    return open_kb(path).search(state.query, state.filter_dict(), limit=state.size, offset=state.offset,
                                sort=state.sort, include_boilerplate=state.boilerplate)


@st.cache_data(max_entries=8, show_spinner=False)
def collection_stats(path: str, generation: str) -> dict:
    return open_kb(path).stats()


@st.cache_data(max_entries=8, show_spinner=False)
def overview_extras(path: str, generation: str) -> dict:
    kb = open_kb(path)
    return {"documents": kb.documents(),
            "severity_by_source": page.crosstab_rows(kb, "source", "severity", missing="(source not named)")}


@st.cache_data(max_entries=64, show_spinner=False)
def context_view(path: str, generation: str, passage_id: str, spans: tuple) -> tuple[str, str, dict]:
    kb = open_kb(path)
    before, target, after = kb.context(passage_id, before=page.CONTEXT_NEIGHBOURS, after=page.CONTEXT_NEIGHBOURS)
    doc = kb.document(target.doc_id)
    where = page.locate_passage(doc["text"], target)
    return (page.context_html(before, target, after, spans),
            page.document_html(doc["text"], where, spans, anchor=f"kb-{passage_id}"),
            {k: doc.get(k) for k in ("title", "source", "path", "format")} | {"located": where is not None})


try:
    ensure_index(INDEX)
    kb = open_kb(str(INDEX))
    generation = page.generation_token(kb)
    stats = collection_stats(str(INDEX), generation)
except (KbError, OSError) as exc:
    st.error(f"The knowledge base at `{INDEX}` cannot be opened: {exc}")
    st.stop()


# ---- search state: session <-> widgets <-> URL -------------------------------------------------------------

WIDGETS = {"query": "w_query", "sort": "w_sort", "size": "w_size", "boilerplate": "w_boilerplate", "page": "w_page"}


def facet_key(name: str) -> str:
    return f"w_facet_{name}"


def set_state(state: page.SearchState) -> None:
    ss.search = state


def on_query() -> None:
    set_state(ss.search.with_query(ss.w_query))


def on_facet(name: str) -> None:
    set_state(ss.search.with_filter(name, ss[facet_key(name)]))


def on_clear() -> None:
    set_state(ss.search.without_filters())


def apply_query(query: str) -> None:
    set_state(ss.search.with_query(query))


if "search" not in ss:
    ss.search = page.state_from_params({k: st.query_params.get_all(k) for k in st.query_params})

state: page.SearchState = ss.search
results = run_search(str(INDEX), generation, state)
if (clamped := page.clamp_page(state, results.total)) != state:  # an old link's page past the end
    state = ss.search = clamped
    results = run_search(str(INDEX), generation, state)

# Widgets show the state, set before they are drawn (every run: a facet's option labels carry counts,
# so the browser's copy of a selection must be refreshed when the counts change); callbacks change the state.
shown = {WIDGETS["query"]: state.query, WIDGETS["sort"]: state.sort, WIDGETS["size"]: state.size,
         WIDGETS["boilerplate"]: state.boilerplate, WIDGETS["page"]: state.page}
for name in FACETS:
    shown[facet_key(name)] = page.canonical_selection(state.selected(name), results.facets[name].counts())
for key, value in shown.items():
    ss[key] = value

params = page.state_to_params(state)
if not page.same_params({k: st.query_params.get_all(k) for k in st.query_params}, params):
    st.query_params.from_dict(params)


# ---- sidebar: facet filters -------------------------------------------------------------------------------

with st.sidebar:
    st.subheader("Filters")
    st.caption("Counts are for the current search. Values in one facet are combined with OR; facets with AND.")
    st.button(f"Clear all filters ({state.filter_count})" if state.filter_count else "Clear all filters",
              key="w_clear", on_click=on_clear, disabled=not state.filter_count, icon=":material/filter_alt_off:")
    st.toggle("Show boilerplate passages", key=WIDGETS["boilerplate"],
              on_change=lambda: set_state(ss.search.with_boilerplate(ss.w_boilerplate)),
              help="Calls to action, disclaimers, cross-links and tables of contents are hidden by default.")
    for name in FACETS:
        counts = results.facets[name].counts()
        options = page.facet_options(ss[facet_key(name)], counts)
        st.multiselect(
            page.FACET_LABELS[name], options, key=facet_key(name), on_change=on_facet, args=(name,),
            format_func=lambda v, c=counts: page.option_label(v, page.count_for(c, v)),
            placeholder=f"Any {page.FACET_LABELS[name].lower()} ({len(options)})" if options else "No values",
            disabled=not options, select_all=False,
        )


# ---- main area --------------------------------------------------------------------------------------------

st.markdown("#### kb · drug-information passages")
st.caption(f"{stats['documents']:,} documents · {stats['passages']:,} passages "
           f"({stats['boilerplate_passages']:,} flagged as boilerplate) · index `{INDEX}`")

if stats["passages"] == 0:
    st.info(f"The index at `{INDEX}` holds no passages yet. Add documents with "
            f"`kb ingest PATH --index {INDEX}` (with no PATH it ingests the bundled sample corpus), then reload.")
    st.stop()

search_tab, overview_tab = st.tabs(["Search", "Overview"], key="w_tab", on_change="rerun")

if search_tab.open:
    with search_tab:
        box, help_col = st.columns([8, 1.3], vertical_alignment="bottom")
        box.text_input("Search passages", key=WIDGETS["query"], on_change=on_query,
                       placeholder='e.g.  baclofen withdrawal   "muscle spasticity"   topic:overdose   baclofin~')
        with help_col.popover("Syntax", icon=":material/help:", width="stretch"):
            st.markdown(page.QUERY_HELP)

        for note in results.notes:
            st.caption(f":material/info: {page.md_escape(note)}")
        if results.suggestion:
            st.button(f"Did you mean: **{page.md_escape(results.suggestion)}**", key="w_suggestion",
                      type="tertiary", icon=":material/spellcheck:", on_click=apply_query, args=(results.suggestion,))

        summary, sort_col, size_col, csv_col, json_col = st.columns([5, 2, 1.2, 1.3, 1.3], vertical_alignment="bottom")
        summary.container(key="summary").markdown(f"**{page.summary_line(results.total, state, len(results.hits))}**"
                         + (f" · {state.filter_count} filter{'s' * (state.filter_count > 1)}" if state.filter_count
                            else ""))
        sort_col.selectbox("Sort by", page.SORTS, key=WIDGETS["sort"], format_func=page.SORT_LABELS.get,
                           on_change=lambda: set_state(ss.search.with_sort(ss.w_sort)))
        size_col.selectbox("Per page", page.PAGE_SIZES, key=WIDGETS["size"],
                           on_change=lambda: set_state(ss.search.with_size(ss.w_size)))
        csv_col.download_button(
            "CSV", data=lambda kb=kb, state=state: page.export_bytes(kb, state, "csv"),
            file_name=page.export_filename(state.query, "csv"), mime="text/csv", key="w_csv", on_click="ignore",
            icon=":material/download:", disabled=not results.total, width="stretch",
            help=f"Every matching passage ({results.total:,}), same columns as `kb search --format csv`.")
        json_col.download_button(
            "JSON", data=lambda kb=kb, state=state: page.export_bytes(kb, state, "json"),
            file_name=page.export_filename(state.query, "json"), mime="application/json", key="w_json",
            on_click="ignore", icon=":material/download:", disabled=not results.total, width="stretch",
            help=f"Every matching passage ({results.total:,}), as `kb search --format json`.")

        if not results.hits:
            st.caption("Try fewer words, `OR`, a fuzzy term (`word~`), or clear the filters.")
        hits_box = st.container(gap="xsmall", key="hits")
        for hit in results.hits:
            pid = hit.passage.passage_id
            with hits_box.container(gap="xxsmall", key=f"hit-{hit.rank}"):
                st.html(page.hit_html(hit))
                context = st.expander("Context: neighbouring passages and the whole document", key=f"w_ctx_{pid}",
                                      on_change="rerun", icon=":material/article:")
                if context.open:
                    with context:
                        ctx_html, doc_html, doc = context_view(str(INDEX), generation, pid, tuple(hit.spans))
                        near, whole = st.tabs(["Neighbouring passages", "Whole document"])
                        near.html(ctx_html)
                        whole.caption(f"{doc['title']} · {doc['source'] or 'source not named'} · `{doc['path']}`"
                                      + ("" if doc["located"] else " · this passage was not found in the stored text"))
                        whole.html(doc_html)

        pages = page.page_count(results.total, state.size)
        if pages > 1:
            st.pagination(pages, key=WIDGETS["page"], max_visible_pages=9,
                          on_change=lambda: set_state(ss.search.with_page(ss.w_page)))

if overview_tab.open:
    with overview_tab:
        data = overview_extras(str(INDEX), generation)
        s = stats
        cols = st.columns(4)
        cols[0].metric("Documents", f"{s['documents']:,}")
        cols[1].metric("Passages", f"{s['passages']:,}")
        cols[2].metric("Searchable (not boilerplate)", f"{s['searchable_passages']:,}")
        cols[3].metric("Named sources", f"{len(s['facets']['source']):,}")

        labels = alt.Axis(labelOverlap=False, labelLimit=180)  # every value named, none skipped

        def bar(counts: dict, title: str, limit: int | None = None) -> alt.Chart:
            frame = pd.DataFrame(page.facet_rows(counts, limit), columns=["value", "passages"])
            return (alt.Chart(frame, title=title).mark_bar(color="#3b6ea8")
                    .encode(x=alt.X("passages:Q", title="passages"),
                            y=alt.Y("value:N", sort="-x", title=None, axis=labels),
                            tooltip=["value", "passages"])
                    .properties(height=alt.Step(20)))

        left, right = st.columns(2)
        left.altair_chart(bar(s["facets"]["topic"], "Passages by topic"), width="stretch")
        crosstab = pd.DataFrame(data["severity_by_source"], columns=["source", "severity", "passages"])
        right.altair_chart(
            alt.Chart(crosstab, title="Severity by source").mark_bar()
            .encode(y=alt.Y("source:N", title=None, axis=labels),
                    x=alt.X("passages:Q", title="passages"),
                    color=alt.Color("severity:N", scale=alt.Scale(domain=["mild", "serious", "life threatening"],
                                                                   range=["#94a3b8", "#f59e0b", "#dc2626"])),
                    tooltip=["source", "severity", "passages"])
            .properties(height=alt.Step(34)), width="stretch")
        left, right = st.columns(2)
        left.altair_chart(bar(s["facets"]["side_effect"], "Side effects (top 20)", 20), width="stretch")
        right.altair_chart(bar(s["facets"]["drug"], "Drugs (top 20)", 20), width="stretch")
        left, right = st.columns(2)
        left.altair_chart(bar(s["facets"]["condition"], "Conditions (top 20)", 20), width="stretch")
        right.altair_chart(bar(s["facets"]["substance"], "Substances (top 20)", 20), width="stretch")
        st.markdown("##### Documents")
        st.dataframe(pd.DataFrame(data["documents"], columns=["title", "source", "passages", "format", "path"]),
                     hide_index=True, width="stretch")
