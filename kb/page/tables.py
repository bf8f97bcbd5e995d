"""The page's pandas tables and chart rows: the comparison of sources side by side, the doses table's rows, the
Overview's facet counts and the collection's documents.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from kb.page.labels import value_label

if TYPE_CHECKING:
    import pandas as pd

    from kb.compare import Comparison
    from kb.model import Passage


def evidence_passages(comparison: Comparison) -> dict[str, Passage]:
    """Every passage of a comparison by id (the evidence of its conflicts among them)."""
    return {p.passage_id: p for view in comparison.sources for p in view.passages}


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


def facet_rows(counts: Mapping[str, int], limit: int | None = None, *, raw: bool = False) -> list[dict[str, Any]]:
    """A facet's counts as chart rows, largest first; with ``raw`` each row keeps the indexed value too
    (what a click on its bar filters on)."""
    rows = [{"value": value_label(v), "passages": int(c), **({"raw": v} if raw else {})}
            for v, c in counts.items() if c > 0]
    rows.sort(key=lambda r: (-r["passages"], r["value"]))
    return rows[:limit] if limit else rows


DOSE_COLUMNS: dict[str, str] = {
    "source": "Source", "kind": "Kind of dose", "drug": "Drug", "route": "Route", "mg_per_day": "mg/day",
    "as_written": "As written", "conflicts_with": "Conflicts with", "passage_ids": "Passages",
    "sentences": "Sentences", "note": "Note",
}


def document_rows(documents: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The collection's documents for the Overview's table: title, source, date, passages, format, web
    address (only an http(s) one) and path."""
    from kb.provenance import kept_date

    rows = []
    for d in documents:
        meta = d.get("meta") or {}
        url = meta.get("url") if isinstance(meta.get("url"), str) else ""
        rows.append({"title": d.get("title", ""), "source": d.get("source", ""), "date": kept_date(meta.get("date")),
                     "passages": d.get("passages", 0), "format": d.get("format", ""),
                     "url": url if re.match(r"https?://", url, re.IGNORECASE) else "", "path": d.get("path", "")})
    return rows
