"""kb's research page: ``streamlit run app.py``.

A thin script: it lays out widgets and calls kb.page (state, URL, HTML, exports), kb.search,
kb.selection (the passages a researcher keeps, saved in the index folder) and kb.compare.
The index is $KB_INDEX or ./index; a missing index is built from the bundled sample on first start.
"""

from __future__ import annotations

import threading
from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from kb import page
from kb.check import DAMAGE_SIGNS
from kb.compare import Comparison, compare
from kb.index import damaged, index_exists
from kb.model import FACETS, TOPICS, IndexDamaged, KbError, Passage
from kb.search import KnowledgeBase, Results
from kb.selection import MAX_NOTE_CHARS, SelectionError, SelectionStore, lookup_in
from kb.selection import bibtex as selection_bibtex
from kb.selection import csl_json as selection_csl
from kb.selection import csv_bytes as selection_csv
from kb.selection import json_bytes as selection_json
from kb.selection import markdown as selection_markdown
from kb.selection import ris_text as selection_ris

st.set_page_config(page_title="kb · drug-information passages", page_icon="💊", layout="wide")
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

        report = ingest(index=path, progress=progress, wait=None)  # another server may be building it
        bar.progress(1.0, text=report.summary())


@st.cache_resource(show_spinner=False)
def open_kb(path: str) -> KnowledgeBase:
    return KnowledgeBase.open(path)  # reopens its own snapshot whenever an ingest commits


@st.cache_data(max_entries=256, show_spinner=False)
def run_search(path: str, generation: str, state: page.SearchState) -> Results:
    return open_kb(path).search(state.query, state.filter_dict(), limit=state.size, offset=state.offset,
                                **state.search_kwargs())


@st.cache_data(max_entries=256, show_spinner=False)
def passages_by_id(path: str, generation: str, ids: tuple[str, ...]) -> dict[str, Passage | None]:
    """Passages by id; None for an id no longer in the index (a kept passage a re-ingest removed)."""
    lookup = lookup_in(open_kb(path))
    return {pid: lookup(pid) for pid in ids}


@st.cache_resource(show_spinner=False)
def selection_store(path: str) -> SelectionStore:
    return SelectionStore.for_index(path)  # one per index: each index has its own selection


# A resource, not data: a broad comparison holds tens of thousands of passages, and cache_data would
# copy (unpickle) them on every rerun while the tab is open. The page never changes a Comparison.
@st.cache_resource(max_entries=8, show_spinner=False)
def run_compare(path: str, generation: str, query: str, filters: page.Filters, topic: str | None) -> Comparison:
    return compare(open_kb(path), query, dict(filters), topic=topic)


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
except (KbError, OSError, *DAMAGE_SIGNS) as exc:
    if isinstance(exc, DAMAGE_SIGNS):
        exc = damaged(INDEX, exc)  # Whoosh's words for a damaged file, as one line saying what to run
    st.error(f"The knowledge base at `{INDEX}` cannot be opened: {exc}")
    if isinstance(exc, IndexDamaged) and st.button("Rebuild the index from its documents", icon=":material/build:",
                                                   help="As `kb ingest --rebuild`: your selection is kept."):
        from kb.ingest import ingest

        with st.spinner("Rebuilding…"):
            report = ingest(index=INDEX, rebuild=True, wait=None)
        st.cache_resource.clear()
        st.cache_data.clear()
        st.success(f"Rebuilt: {report.summary()}. Your selection was kept. Reload the page.")
    st.stop()


# ---- search state: session <-> widgets <-> URL -------------------------------------------------------------

WIDGETS = {"query": "w_query", "sort": "w_sort", "size": "w_size", "boilerplate": "w_boilerplate", "page": "w_page",
           "synonyms": "w_synonyms", "collapse": "w_collapse"}


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


# ---- the selection: saved in the index folder, read each run (only re-parsed when the file changed) ---------

store = selection_store(str(INDEX))


def on_keep(passage: Passage) -> None:
    """Keep a passage, or let go of one already kept (the button says which)."""
    try:
        if passage.passage_id in store.load():
            store.remove(passage.passage_id)
        else:
            store.add(passage, query=ss.search.query)
    except SelectionError as exc:
        ss.selection_error = str(exc)


def on_note(passage_id: str) -> None:
    try:
        store.set_note(passage_id, ss[f"w_note_{passage_id}"])
    except SelectionError as exc:
        ss.selection_error = str(exc)


def on_remove(passage_id: str) -> None:
    try:
        store.remove(passage_id)
    except SelectionError as exc:
        ss.selection_error = str(exc)


def keep_button(container, passage: Passage, key: str, kept_ids: set[str]) -> None:
    kept = passage.passage_id in kept_ids
    container.button(":blue[**Kept**]" if kept else "Keep", key=key, on_click=on_keep, args=(passage,), type="tertiary",
                     icon=":material/bookmark_added:" if kept else ":material/bookmark_add:",
                     help="In your selection: click to remove it" if kept
                     else "Add this passage to your selection (the Selection tab)")


if "search" not in ss:
    ss.search = page.state_from_params({k: st.query_params.get_all(k) for k in st.query_params})

state: page.SearchState = ss.search
results = run_search(str(INDEX), generation, state)
if (clamped := page.clamp_page(state, page.paged_total(results))) != state:  # an old link's page past the end
    state = ss.search = clamped
    results = run_search(str(INDEX), generation, state)

# Widgets show the state, set before they are drawn (every run: a facet's option labels carry counts,
# so the browser's copy of a selection must be refreshed when the counts change); callbacks change the state.
shown = {WIDGETS["query"]: state.query, WIDGETS["sort"]: state.sort, WIDGETS["size"]: state.size,
         WIDGETS["boilerplate"]: state.boilerplate, WIDGETS["page"]: state.page,
         WIDGETS["synonyms"]: state.synonyms, WIDGETS["collapse"]: state.collapse}
for name in FACETS:
    shown[facet_key(name)] = page.canonical_selection(state.selected(name),
                                                      results.facets[name].counts(not_stated=True))
for key, value in shown.items():
    ss[key] = value

params = page.state_to_params(state)
if not page.same_params({k: st.query_params.get_all(k) for k in st.query_params}, params):
    st.query_params.from_dict(params)


# ---- sidebar: facet filters -------------------------------------------------------------------------------

with st.sidebar:
    st.subheader("Filters")
    st.caption("Counts are for the current search. Values in one facet are combined with OR; facets with AND. "
               "*not stated* keeps the passages that name no value of a facet.")
    st.button(f"Clear all filters ({state.filter_count})" if state.filter_count else "Clear all filters",
              key="w_clear", on_click=on_clear, disabled=not state.filter_count, icon=":material/filter_alt_off:")
    st.toggle("Synonyms", key=WIDGETS["synonyms"],
              on_change=lambda: set_state(ss.search.with_synonyms(ss.w_synonyms)),
              help="Also search the vocabulary's synonyms and brand names of your plain words "
                   "(*sleepiness* finds *drowsiness*, *Lioresal* finds *baclofen*).")
    st.toggle("Show each statement once", key=WIDGETS["collapse"],
              on_change=lambda: set_state(ss.search.with_collapse(ss.w_collapse)),
              help="Passages that say the same thing (copied between sites, repeated in labels) are shown once, "
                   "at the best-ranked one; the others are listed under it. Totals and facet counts still count "
                   "every passage.")
    st.toggle("Show boilerplate passages", key=WIDGETS["boilerplate"],
              on_change=lambda: set_state(ss.search.with_boilerplate(ss.w_boilerplate)),
              help="Calls to action, disclaimers, cross-links and tables of contents are hidden by default.")
    for name in FACETS:
        counts = results.facets[name].counts(not_stated=True)
        options = page.facet_options(ss[facet_key(name)], counts)
        st.multiselect(
            page.FACET_LABELS[name], options, key=facet_key(name), on_change=on_facet, args=(name,),
            format_func=lambda v, c=counts: page.option_label(v, page.count_for(c, v)),
            placeholder=f"Any {page.FACET_LABELS[name].lower()} ({len(options)})" if options else "No values",
            disabled=not options, select_all=False,
        )


# ---- main area --------------------------------------------------------------------------------------------

selection = store.load()
kept_ids = set(selection.ids)

st.markdown("#### kb · drug-information passages")
st.caption(f"{stats['documents']:,} documents · {stats['passages']:,} passages "
           f"({stats['boilerplate_passages']:,} flagged as boilerplate) · index `{INDEX}`"
           + (f" · {len(selection):,} kept in your selection" if selection else ""))
if error := ss.pop("selection_error", None):
    st.error(error)

if stats["passages"] == 0:
    st.info(f"The index at `{INDEX}` holds no passages yet. Add documents with "
            f"`kb ingest PATH --index {INDEX}` (with no PATH it ingests the bundled sample corpus), then reload.")
    st.stop()

TABS = ["Search", "Selection", "Compare sources", "Overview"]
tabs = dict(zip(TABS, st.tabs(TABS, key="w_tab", on_change="rerun"), strict=True))
search_tab, selection_tab, overview_tab = tabs["Search"], tabs["Selection"], tabs["Overview"]

if search_tab.open:
    with search_tab:
        box, help_col = st.columns([8, 1.3], vertical_alignment="bottom")
        box.text_input("Search passages", key=WIDGETS["query"], on_change=on_query,
                       placeholder='e.g.  baclofen withdrawal   "muscle spasticity"   topic:overdose   baclofin~')
        with help_col.popover("Syntax", icon=":material/help:", width="stretch"):
            st.markdown(page.QUERY_HELP)

        for note in page.notes_to_show(results):
            st.caption(f":material/info: {page.md_escape(note)}")
        if results.suggestion:
            st.button(f"Did you mean: **{page.md_escape(results.suggestion)}**", key="w_suggestion",
                      type="tertiary", icon=":material/spellcheck:", on_click=apply_query, args=(results.suggestion,))

        summary, sort_col, size_col, csv_col, json_col = st.columns([5, 2, 1.2, 1.3, 1.3], vertical_alignment="bottom")
        line = page.summary_line(results.total, state, len(results.hits), results.statements)
        with summary.container(key="summary", gap=None):
            st.markdown(f"**{line}**" + (f" · {state.filter_count} filter{'s' * (state.filter_count > 1)}"
                                         if state.filter_count else ""))
            if results.expanded:
                st.html(page.expansion_html(results))
        sort_col.selectbox("Sort by", page.SORTS, key=WIDGETS["sort"], format_func=page.SORT_LABELS.get,
                           on_change=lambda: set_state(ss.search.with_sort(ss.w_sort)))
        size_col.selectbox("Per page", page.PAGE_SIZES, key=WIDGETS["size"],
                           on_change=lambda: set_state(ss.search.with_size(ss.w_size)))
        what = page.export_what(results)
        csv_col.download_button(
            "CSV", data=lambda kb=kb, state=state: page.export_bytes(kb, state, "csv"),
            file_name=page.export_filename(state.query, "csv"), mime="text/csv", key="w_csv", on_click="ignore",
            icon=":material/download:", disabled=not results.total, width="stretch",
            help=f"{what}, same columns as `kb search --format csv`.")
        json_col.download_button(
            "JSON", data=lambda kb=kb, state=state: page.export_bytes(kb, state, "json"),
            file_name=page.export_filename(state.query, "json"), mime="application/json", key="w_json",
            on_click="ignore", icon=":material/download:", disabled=not results.total, width="stretch",
            help=f"{what}, as `kb search --format json`.")

        if not results.hits:
            st.caption("Try fewer words, `OR`, a fuzzy term (`word~`), or clear the filters.")
        hits_box = st.container(gap="xsmall", key="hits")
        for hit in results.hits:
            pid = hit.passage.passage_id
            with hits_box.container(gap="xxsmall", key=f"hit-{hit.rank}"):
                card, keep_col = st.columns([12, 1.1], gap="small")
                card.html(page.hit_html(hit))
                keep_button(keep_col, hit.passage, f"w_keep_hit_{pid}", kept_ids)
                if hit.duplicates:
                    same = st.expander(page.duplicates_label(hit), key=f"w_dup_{pid}", on_change="rerun",
                                       icon=":material/content_copy:")
                    if same.open:
                        with same:
                            others = passages_by_id(str(INDEX), generation, hit.duplicates)
                            for dup_id, other in others.items():
                                if other is None:
                                    st.caption(f"`{dup_id}` is no longer in the index.")
                                    continue
                                text_col, dup_keep = st.columns([12, 1.1], gap="small")
                                text_col.html(page.passage_card_html(other))
                                keep_button(dup_keep, other, f"w_keep_dup_{pid}_{dup_id}", kept_ids)
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

        pages = page.page_count(page.paged_total(results), state.size)
        if pages > 1:
            st.pagination(pages, key=WIDGETS["page"], max_visible_pages=9,
                          on_change=lambda: set_state(ss.search.with_page(ss.w_page)))

if selection_tab.open:
    with selection_tab:
        if store.problem:
            st.warning(store.problem)
        if not selection:
            st.info("Your selection is empty. **Keep** a passage from a search to collect it here, with a note; "
                    "it is saved with the index and stays after a reload.")
        else:
            current = passages_by_id(str(INDEX), generation, selection.ids)
            refreshed, missing = selection.refreshed(current.get)
            gone = f" · {len(missing)} no longer in the index" if missing else ""
            head, *buttons = st.columns([3.2, 1, 1, 1.3, 1.2, 1, 1.4], vertical_alignment="bottom")
            head.markdown(f"**{len(selection):,} kept passage{'s' * (len(selection) != 1)}**{gone}")
            head.caption(f"Saved in `{store.path}`")
            exports = [("CSV", "csv", "text/csv", lambda s=refreshed, m=missing: selection_csv(s, m)),
                       ("JSON", "json", "application/json",
                        lambda s=refreshed, m=missing: selection_json(s, m, index=str(INDEX.resolve()))),
                       ("Markdown", "md", "text/markdown",
                        lambda s=refreshed, m=missing: selection_markdown(s, m, index=str(INDEX.resolve()))),
                       ("BibTeX", "bib", "application/x-bibtex", lambda s=refreshed, m=missing: selection_bibtex(s, m)),
                       ("RIS", "ris", "application/x-research-info-systems",
                        lambda s=refreshed, m=missing: selection_ris(s, m).encode("utf-8")),
                       ("CSL-JSON", "csl.json", "application/vnd.citationstyles.csl+json",
                        lambda s=refreshed, m=missing: selection_csl(s, m))]
            helps = {"CSV": "One row per passage with its provenance and note (spreadsheet-safe cells).",
                     "JSON": "Every kept passage with its provenance, note and the search it came from.",
                     "Markdown": "A numbered list of citations with the quoted text and your notes.",
                     "BibTeX": "One @misc entry per passage: source, title, section, page, position, id, address, "
                               "dates, path, note, quote.",
                     "RIS": "For Zotero, EndNote, Mendeley: one record per passage with source, title, section, "
                            "page, passage number and id, address, document date and access date, note and quote.",
                     "CSL-JSON": "For Zotero and Pandoc: one CSL item per passage, the same fields as RIS."}
            for col, (label, ext, mime, data) in zip(buttons, exports, strict=True):
                col.download_button(label, data=data, file_name=page.selection_filename(ext), mime=mime,
                                    key=f"w_sel_{ext.replace('.', '_')}", on_click="ignore", icon=":material/download:",
                                    width="stretch", help=helps[label])
            for kept in refreshed:
                pid = kept.passage_id
                ss[f"w_note_{pid}"] = kept.note  # the saved note, also when another tab changed it
                with st.container(border=True, key=f"kept-{pid}", gap="xsmall"):
                    st.html(page.kept_html(kept, pid in missing))
                    note_col, remove_col = st.columns([8, 1], vertical_alignment="bottom")
                    note_col.text_input("Note", key=f"w_note_{pid}", on_change=on_note, args=(pid,),
                                        max_chars=MAX_NOTE_CHARS, placeholder="Add a short note (Enter saves it)",
                                        label_visibility="collapsed")
                    remove_col.button("Remove", key=f"w_rm_{pid}", on_click=on_remove, args=(pid,),
                                      icon=":material/delete:", width="stretch")

if tabs["Compare sources"].open:
    with tabs["Compare sources"]:
        st.caption("What each source says about the current search (its query and filters), doses in mg/day, "
                   "and where sources disagree on the same drug, kind of dose and route. A plain query of several "
                   "words matches passages with any of them.")
        topic = st.columns([1, 3])[0].selectbox("Topic", [None, *TOPICS], key="w_compare_topic",
                                                format_func=lambda t: "Any topic" if t is None
                                                else page.value_label(t),
                                                help="Narrow the comparison to passages on one topic "
                                                     "(added to the current filters).")
        if not (state.query or state.filters or topic):
            st.info("Type a query, choose filters or pick a topic to compare what the sources say about it.")
        else:
            try:
                with st.spinner("Reading the doses in every matching passage…"):
                    comparison = run_compare(str(INDEX), generation, state.query, state.filters, topic)
            except KbError as exc:
                st.error(str(exc))
                comparison = None
            if comparison is not None:
                for note in comparison.notes:
                    st.caption(f":material/info: {page.md_escape(note)}")
                st.markdown(f"**{comparison.total:,} passage{'s' * (comparison.total != 1)} from "
                            f"{len(comparison.sources):,} source{'s' * (len(comparison.sources) != 1)} · "
                            f"{len(comparison.conflicts)} conflict{'s' * (len(comparison.conflicts) != 1)}**")
                evidence = page.evidence_passages(comparison)
                for n, conflict in enumerate(comparison.conflicts[:page.MAX_CONFLICTS_SHOWN]):
                    st.html(page.conflict_html(conflict))
                    with st.expander(f"Evidence passages ({sum(len(c.passage_ids) for c in conflict.claims)})",
                                     key=f"w_evidence_{n}", icon=":material/fact_check:"):
                        for claim in conflict.claims:
                            for pid in claim.passage_ids:
                                text_col, keep_col = st.columns([12, 1.1], gap="small")
                                text_col.html(page.passage_card_html(
                                    evidence[pid], page.text_marks(evidence[pid].text, claim.texts)))
                                keep_button(keep_col, evidence[pid], f"w_keep_ev_{n}_{pid}", kept_ids)
                if len(comparison.conflicts) > page.MAX_CONFLICTS_SHOWN:
                    st.caption(f"… and {len(comparison.conflicts) - page.MAX_CONFLICTS_SHOWN:,} more conflicts, "
                               "highlighted in the tables below. Narrow the search, the filters or the topic to "
                               "see each one with its evidence.")
                grid, flags = page.side_by_side(comparison)
                if not grid.empty:
                    st.markdown("##### Side by side: doses in mg/day")
                    st.dataframe(grid.style.apply(
                        lambda col: ["background-color:#fee2e2;color:#991b1b;font-weight:600" if f else ""
                                     for f in flags[col.name]], axis=0), width="stretch")
                silent = [v.label for v in comparison.sources if not v.doses]
                if silent:
                    st.caption("No dose stated in the matching passages of: " + page.md_escape(", ".join(silent)))
                if comparison.sources:
                    st.markdown("##### Each source's doses, with their wording and passages")
                    st.dataframe(page.comparison_rows(comparison), hide_index=True, width="stretch",
                                 column_config={"passage_ids": st.column_config.TextColumn("passages")})

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
