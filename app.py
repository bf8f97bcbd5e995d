"""kb's research page: ``streamlit run app.py``.

A thin script: it keeps the search in the session and the address, then draws the sidebar and one function a tab
(``render_search``, ``render_selection``, ``render_compare``, ``render_overview``, ``render_history``). Every decision
is a plain function of kb.page (state, labels, HTML, tables, charts, downloads); the index is read through
kb.page.cached. The index is $KB_INDEX or ./index; a missing index is built from the bundled sample on first start.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from kb import history as hist
from kb import page
from kb.check import DAMAGE_SIGNS
from kb.index import damaged
from kb.model import FACETS, TOPICS, IndexDamaged, KbError, Passage
from kb.page.cached import (
    collection_stats,
    context_view,
    ensure_index,
    new_in_saved,
    open_kb,
    overview_extras,
    passages_by_id,
    run_compare,
    run_search,
    selection_store,
    severity_by_source,
    similar_passages,
)
from kb.results import Results
from kb.selection import MAX_NOTE_CHARS, Selection, SelectionError

st.set_page_config(page_title="kb · drug-information passages", page_icon="💊", layout="wide")
st.html(page.CSS)

INDEX = page.index_path()
ss = st.session_state


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


def apply_filters(filters: dict[str, list[str]]) -> None:
    """Adds values to the filters: the question's intent as a real filter, in one click."""
    set_state(ss.search.with_filters(filters))


def on_page() -> None:
    set_state(ss.search.with_page(ss.w_page))
    ss.scroll_top = True


def apply_spec(spec: hist.SearchSpec) -> None:
    """Runs a logged or saved search again on the Search tab, exactly as it was run."""
    set_state(page.state_from_spec(spec, ss.search))
    ss[page.P_TAB] = "Search"


def on_chart_select(facet: str, key: str) -> None:
    """A click on an Overview bar adds that value to the facet's filter."""
    value = page.chart_choice(ss[key])
    if value is not None:
        set_state(ss.search.with_filter(facet, [*ss.search.selected(facet), value]))


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


def url_params() -> dict[str, list[str]]:
    """The address's search parameters (the active tab's is the tabs widget's own)."""
    return {k: st.query_params.get_all(k) for k in st.query_params if k != page.P_TAB}


if "search" not in ss:
    ss.search = page.state_from_params(url_params())
elif "url_written" in ss and not page.same_params(url_params(), ss.url_written):
    # The address changed under the page: the browser's Back or Forward. The address is the truth.
    ss.search = page.state_from_params(url_params())

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
if not page.same_params(url_params(), params):
    if page.P_TAB in st.query_params:  # bound to the tabs: set and delete around it, never clear it
        for stale in [k for k in url_params() if k not in params]:
            del st.query_params[stale]
        st.query_params.update(params)
    else:
        st.query_params.from_dict(params)  # one change, one entry in the browser's history
ss.url_written = params

# ---- the search log: each new search is recorded (on by default; the History tab turns it off) ----------

search_log = hist.SearchLog.for_index(INDEX)
saved_searches = hist.SavedSearches.for_index(INDEX)
if ss.get("record", True) and (state.query or state.filters):
    spec = page.search_spec(state)
    if ss.get("logged") != spec:
        try:
            search_log.log(kb, spec, origin="page", results=results if state.page == 1 else None)
        except KbError as exc:
            ss.history_error = str(exc)
        ss.logged = spec


# ---- the page: one function a part, each drawn from the state, the results and the selection ---------------


def render_sidebar(state: page.SearchState, results: Results) -> None:
    """The facet filters and the search's switches, each facet's values with their counts."""
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


def render_search(state: page.SearchState, results: Results, kept_ids: set[str]) -> None:
    """The Search tab: the query box, notes, the results line, sort and downloads, the hits, the pager."""
    box, help_col = st.columns([8, 1.3], vertical_alignment="bottom")
    box.text_input("Search passages", key=WIDGETS["query"], on_change=on_query,
                   placeholder='e.g.  baclofen withdrawal   "muscle spasticity"   topic:overdose   baclofin~')
    with help_col.popover("Syntax", icon=":material/help:", width="stretch"):
        st.markdown(page.QUERY_HELP)

    for note in page.notes_to_show(results):
        st.caption(f":material/info: {page.md_escape(note)}")
    if results.intent_filter:  # "Ranked passages about X first": the same as a filter, one click away
        st.button(page.md_escape(page.intent_filter_label(results.intent_filter)), key="w_intent", type="tertiary",
                  icon=":material/filter_alt:", on_click=apply_filters, args=(results.intent_filter,),
                  help="Keep only the passages about what the question asks (the filter is added in the sidebar; "
                       "`kb search --filter` on the command line).")
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
            similar = st.expander("More like this", key=f"w_like_{pid}", on_change="rerun",
                                  icon=":material/travel_explore:")
            if similar.open:
                with similar:
                    alike = similar_passages(str(INDEX), generation, pid)
                    if not alike:
                        st.caption("No other passage shares this one's distinctive words.")
                    st.caption(page.similar_caption(hit.passage, alike))
                    for other in alike:
                        text_col, like_keep = st.columns([12, 1.1], gap="small")
                        text_col.html(page.passage_card_html(other.passage, other.spans))
                        keep_button(like_keep, other.passage, f"w_keep_like_{pid}_{other.passage.passage_id}",
                                    kept_ids)
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
        st.pagination(pages, key=WIDGETS["page"], max_visible_pages=9, on_change=on_page)
    if ss.pop("scroll_top", False):  # a new page starts at its top, not where the pager was
        st.html(page.scroll_to_top_script(state.page), unsafe_allow_javascript=True)


def render_selection(selection: Selection) -> None:
    """The Selection tab: every kept passage with its note, and the selection's downloads."""
    if store.problem:
        st.warning(store.problem)
    if not selection:
        st.info("Your selection is empty. **Keep** a passage from a search to collect it here, with a note; "
                "it is saved with the index and stays after a reload.")
    else:
        current = passages_by_id(str(INDEX), generation, selection.ids)
        for pid in selection.ids:  # a note the browser holds but has not sent as a change yet
            typed = ss.get(f"w_note_{pid}")
            if isinstance(typed, str) and typed != selection.get(pid).note:
                on_note(pid)
        selection = store.load()
        refreshed, missing = selection.refreshed(current.get)
        gone = f" · {len(missing)} no longer in the index" if missing else ""
        head, *buttons = st.columns([3.2, 1, 1, 1.3, 1.2, 1, 1.4], vertical_alignment="bottom")
        head.markdown(f"**{len(selection):,} kept passage{'s' * (len(selection) != 1)}**{gone}")
        head.caption(f"Saved in `{store.path}`")
        downloads = page.selection_downloads(refreshed, missing, str(INDEX.resolve()))
        for col, d in zip(buttons, downloads, strict=True):
            col.download_button(d.label, data=d.data, file_name=page.selection_filename(d.extension), mime=d.mime,
                                key=d.key, on_click="ignore", icon=":material/download:", width="stretch", help=d.help)
        for kept in refreshed:
            pid = kept.passage_id
            ss[f"w_note_{pid}"] = kept.note  # the saved note, also when another tab changed it
            with st.container(border=True, key=f"kept-{pid}", gap="xsmall"):
                st.html(page.kept_html(kept, pid in missing))
                note_col, remove_col = st.columns([8, 1], vertical_alignment="bottom")
                note_col.text_input("Note", key=f"w_note_{pid}", on_change=on_note, args=(pid,),
                                    max_chars=MAX_NOTE_CHARS, placeholder="Add a short note (saved as you type)",
                                    label_visibility="collapsed", live=True)
                remove_col.button("Remove", key=f"w_rm_{pid}", on_click=on_remove, args=(pid,),
                                  icon=":material/delete:", width="stretch")


def render_compare(state: page.SearchState, kept_ids: set[str]) -> None:
    """The Compare sources tab: what each source says about the search, doses side by side, conflicts."""
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
                st.html(page.doses_table_html(comparison))


def render_overview(state: page.SearchState, results: Results) -> None:
    """The Overview tab: charts of the search's facets (a click on a bar filters), the documents."""
    data = overview_extras(str(INDEX), generation)
    scope = page.overview_scope(results, state)
    st.caption(f":material/filter_alt: {page.md_escape(scope)} Click a bar to filter by its value.")
    facets = {name: results.facets[name].counts() for name in FACETS}
    cols = st.columns(4)
    cols[0].metric("Documents in the collection", f"{stats['documents']:,}")
    cols[1].metric("Passages matching", f"{results.total:,}")
    cols[2].metric("Sources among them", f"{len(facets['source']):,}")
    cols[3].metric("Undated passages", f"{results.facets['year'].not_stated:,}")

    def bar(facet: str, title: str, limit: int | None = None) -> None:
        chart, empty = page.facet_chart(facets[facet], title, limit)
        if empty:
            st.caption(f"{title}: no passage of this search has one.")
            return
        key = f"w_chart_{facet}"
        st.altair_chart(chart, width="stretch", key=key, on_select=lambda f=facet, k=key: on_chart_select(f, k),
                        selection_mode="pick")

    left, right = st.columns(2)
    with left:
        bar("topic", "Passages by topic")
    right.altair_chart(page.severity_chart(severity_by_source(str(INDEX), generation, state.with_page(1))),
                       width="stretch")
    for pair in (("side_effect", "drug"), ("condition", "substance"), ("source", "year")):
        left, right = st.columns(2)
        for col, facet in zip((left, right), pair, strict=True):
            with col:
                bar(facet, page.CHART_TITLES[facet], None if facet in ("source", "year") else 20)
    st.markdown("##### Documents in the collection")
    st.dataframe(pd.DataFrame(data["documents"], columns=["title", "source", "date", "passages", "format", "url",
                                                          "path"]),
                 hide_index=True, width="stretch",
                 column_config={"url": st.column_config.LinkColumn("web address")})


def render_history(state: page.SearchState, kept_ids: set[str]) -> None:
    """The History tab: saved searches with their new hits, the search log and its appendix."""
    ss.w_record = ss.get("record", True)  # kept outside the widget: it is drawn only on this tab
    st.toggle("Record my searches", key="w_record", on_change=lambda: ss.__setitem__("record", ss.w_record),
              help="Each new search (a query or filters) is added to this index's search log with its date, "
                   "how kb read it, its filters and options, the index generation and the number of hits.")
    try:
        saved = saved_searches.load()
    except KbError as exc:
        st.error(str(exc))
        saved = {}
    for problem in (saved_searches.problem, search_log.problem):
        if problem:
            st.warning(problem)
    st.markdown("##### Saved searches")
    name_col, save_col = st.columns([4, 1.4], vertical_alignment="bottom")
    name_col.text_input("Name the current search", key="w_save_name", max_chars=100,
                        placeholder="e.g. baclofen withdrawal seizures",
                        help="Saved with every hit it finds now; after a re-ingest it shows which hits are new.")
    if save_col.button("Save current search", key="w_save", icon=":material/bookmark:",
                       disabled=not (state.query or state.filters), width="stretch"):
        try:
            kept = saved_searches.save(kb, ss.get("w_save_name") or state.query or "search",
                                       page.search_spec(state))
            st.toast(f"Saved {kept.name!r} ({kept.hits:,} hits).")
            saved = saved_searches.load()
        except KbError as exc:
            st.error(str(exc))
    stamp = page.file_stamp(saved_searches.path)
    fresh = new_in_saved(str(INDEX), generation, stamp) if saved else {}
    if not saved:
        st.caption("No saved searches yet.")
    for name, item in saved.items():
        with st.container(border=True, key=f"saved-{page.slugify(name) or 'search'}"):
            text_col, run_col, new_col = st.columns([6, 1.2, 1.6], vertical_alignment="center")
            text_col.html(page.saved_html(item, fresh.get(name, 0)))
            run_col.button("Run", key=f"w_run_saved_{name}", on_click=apply_spec, args=(item.spec,),
                           icon=":material/play_arrow:", width="stretch")
            if new_col.button(f"Show new ({fresh.get(name, 0):,})", key=f"w_new_saved_{name}",
                              icon=":material/fiber_new:", width="stretch",
                              help="Runs it again and lists the hits its last run did not find; this run "
                                   "becomes its last."):
                found = saved_searches.new_since(kb, name)
                new_in_saved.clear()
                st.caption(f"{len(found.new):,} new since {found.saved.last_run}"
                           + (f"; {len(found.gone):,} no longer found" if found.gone else ""))
                for other in found.new[:page.SIMILAR_SHOWN * 2]:
                    text_col2, keep_col2 = st.columns([12, 1.1], gap="small")
                    text_col2.html(page.passage_card_html(other.passage, other.spans))
                    keep_button(keep_col2, other.passage, f"w_keep_new_{name}_{other.passage.passage_id}",
                                kept_ids)
    entries = search_log.entries()
    st.markdown(f"##### Search log ({len(entries):,})")
    if not entries:
        st.caption("No searches logged yet.")
    else:
        md_col, csv_col, _ = st.columns([1.4, 1.2, 5])
        md_col.download_button(
            "Appendix (Markdown)", data=lambda e=entries: hist.appendix_markdown(e, index=str(INDEX.resolve())),
            file_name=page.history_filename("md"), mime="text/markdown", key="w_hist_md", on_click="ignore",
            icon=":material/download:", help="The search strategy for a review's appendix (PRISMA-S): every "
            "search with its date, query as typed and as read, filters, options, index and results.")
        csv_col.download_button(
            "CSV", data=lambda e=entries: hist.appendix_csv(e), file_name=page.history_filename("csv"),
            mime="text/csv", key="w_hist_csv", on_click="ignore", icon=":material/download:",
            help="The same, one row per search, with the ids of its first hits.")
        st.dataframe(pd.DataFrame(list(reversed(hist.appendix_rows(entries))),
                                  columns=[c for c in hist.APPENDIX_COLUMNS]),
                     hide_index=True, width="stretch", key="w_log_table")
        pick_col, run_col, _ = st.columns([2, 1.4, 5], vertical_alignment="bottom")
        number = pick_col.selectbox("Search number", [e.number for e in reversed(entries)], key="w_log_pick")
        chosen = next(e for e in entries if e.number == number)
        run_col.button("Run again", key="w_log_run", on_click=apply_spec, args=(chosen.spec,),
                       icon=":material/replay:", width="stretch")
        st.caption(page.md_escape(hist.rerun(kb, chosen).verdict()))


# ---- main area --------------------------------------------------------------------------------------------

render_sidebar(state, results)
selection = store.load()
kept_ids = set(selection.ids)

st.markdown("#### kb · drug-information passages")
st.caption(f"{stats['documents']:,} documents · {stats['passages']:,} passages "
           f"({stats['boilerplate_passages']:,} flagged as boilerplate) · index `{INDEX}`"
           + (f" · {len(selection):,} kept in your selection" if selection else ""))
if error := ss.pop("selection_error", None):
    st.error(error)
if error := ss.pop("history_error", None):
    st.error(error)

if stats["passages"] == 0:
    st.info(f"The index at `{INDEX}` holds no passages yet. Add documents with "
            f"`kb ingest PATH --index {INDEX}` (with no PATH it ingests the bundled sample corpus), then reload.")
    st.stop()

tabs = dict(zip(page.TABS, st.tabs(page.TABS, key=page.P_TAB, bind="query-params"), strict=True))
search_tab, selection_tab, overview_tab = tabs["Search"], tabs["Selection"], tabs["Overview"]

if search_tab.open:
    with search_tab:
        render_search(state, results, kept_ids)
if selection_tab.open:
    with selection_tab:
        render_selection(selection)
if tabs["Compare sources"].open:
    with tabs["Compare sources"]:
        render_compare(state, kept_ids)
if overview_tab.open:
    with overview_tab:
        render_overview(state, results)
if tabs["History"].open:
    with tabs["History"]:
        render_history(state, kept_ids)
