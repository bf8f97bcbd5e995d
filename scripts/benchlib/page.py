"""The page's rerun after a click on a facet value: through Streamlit's AppTest when the page is
found, and the same work through the library alone (filtered search + facets, a page of hits as a
frame) for kb and the peer."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Sequence
from pathlib import Path

from benchlib import ROOT, peer
from benchlib.queries import BenchQuery
from benchlib.timing import forget_queries, timed

APP_CANDIDATES = ("app.py", "kb/app.py", "streamlit_app.py", "kb/page.py")
PAGE_SIZE = 20


def find_app() -> Path | None:
    for rel in APP_CANDIDATES:
        p = ROOT / rel
        if p.is_file():
            return p
    return None


def _by_key(elements, key: str):
    for e in elements:
        if getattr(e, "key", None) == key:
            return e
    return None


def page_reruns_apptest(app: Path, index: Path, queries: Sequence[BenchQuery], n: int) -> tuple[list[float], str]:
    """Times the page's rerun after a click on a facet value, for ``n`` different searches.

    Untimed, each round clears the filters and types the next query (so the click's search is not
    in the page's cache); timed, a facet multiselect gets its first option, and ``AppTest.run()``
    reruns the script as Streamlit would after that click.
    """
    with contextlib.redirect_stdout(io.StringIO()):  # the page's own error printouts stay out of the report
        return _page_reruns_apptest(app, index, queries, n)


def _page_reruns_apptest(app: Path, index: Path, queries: Sequence[BenchQuery], n: int) -> tuple[list[float], str]:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    st.cache_data.clear()  # the page's caches are process-wide: start as a fresh server would
    os.environ["KB_INDEX"] = str(index)
    at = AppTest.from_file(str(app), default_timeout=120)
    at.run()

    def check() -> None:
        if at.exception:
            raise RuntimeError(f"the page raised: {at.exception[0].message}")

    check()
    times: list[float] = []
    for i in range(n):
        clear = _by_key(at.button, "w_clear")
        if clear is not None and not clear.disabled:
            clear.click()
            at.run()
        box = _by_key(at.text_input, "w_query") or (at.text_input[0] if len(at.text_input) else None)
        if box is not None:
            box.set_value(queries[i % len(queries)].text)
            at.run()
        check()
        boxes = [w for w in at.multiselect if w.options and not w.disabled]
        if not boxes:
            continue  # this query leaves no facet value to click
        w = boxes[i % len(boxes)]
        w.set_value([w.options[0]])
        times.append(timed(at.run))
        check()
    if not times:
        raise RuntimeError("no facet multiselect with options found on the page")
    shown = app.relative_to(ROOT) if app.is_relative_to(ROOT) else app.name
    return times, (f"AppTest rerun of {shown} after a facet value is selected "
                   "(a new search each time, so not from the page's cache)")


def page_reruns_library(kb, peer_db: peer.Peer | None, queries: Sequence[BenchQuery],
                        n: int) -> tuple[list[float], list[float]]:
    """The page's work on a rerun, without Streamlit: filtered search + facets, a page of hits as a frame."""
    import pandas as pd

    def peer_page(q: BenchQuery) -> pd.DataFrame:
        assert peer_db is not None
        res = peer_db.search(q.text, q.filters, limit=PAGE_SIZE, facets=True, rows=True)
        tags = peer_db.facet_values([h.row["id"] for h in res.hits])
        return pd.DataFrame([{**h.row, **tags.get(h.row["id"], {}), "score": h.score, "highlight": h.highlight}
                             for h in res.hits])

    kb_t, peer_t = [], []
    for q in queries[:n]:
        forget_queries(kb)
        kb_t.append(timed(lambda q=q: kb.search(q.text, q.filters, limit=PAGE_SIZE, facet_size=50).to_frame()))
        if peer_db is not None:
            peer_t.append(timed(lambda q=q: peer_page(q)))
    return kb_t, peer_t
