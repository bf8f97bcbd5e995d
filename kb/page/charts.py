"""The Overview's charts, as Altair specifications (drawn by ``app.py``): a facet's values as bars a click can
filter on, and severity by source. Every value is named on its axis, none skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import altair as alt
import pandas as pd

from kb.page.tables import facet_rows

#: Every value named on the axis, none skipped or cut short.
_AXIS = {"labelOverlap": False, "labelLimit": 180}
SEVERITY_COLOURS = {"mild": "#94a3b8", "serious": "#f59e0b", "life threatening": "#dc2626"}


def facet_chart(counts: Mapping[str, int], title: str, limit: int | None = None) -> tuple[alt.Chart, bool]:
    """A facet's counts as horizontal bars, largest first; a click on a bar selects its indexed value (``pick``,
    read by ``kb.page.state.chart_choice``). Also says whether there is nothing to draw."""
    frame = pd.DataFrame(facet_rows(counts, limit, raw=True), columns=["value", "passages", "raw"])
    pick = alt.selection_point(name="pick", fields=["raw"], on="click")
    chart = (alt.Chart(frame, title=title).mark_bar(color="#3b6ea8", cursor="pointer")
             .encode(x=alt.X("passages:Q", title="passages"),
                     y=alt.Y("value:N", sort="-x", title=None, axis=alt.Axis(**_AXIS)),
                     opacity=alt.condition(pick, alt.value(1.0), alt.value(0.55)),
                     tooltip=["value", "passages"])
             .add_params(pick).properties(height=alt.Step(20)))
    return chart, frame.empty


def severity_chart(rows: list[dict[str, Any]]) -> alt.Chart:
    """``kb.page.searches.crosstab_rows`` of source by severity as stacked bars, one per source."""
    frame = pd.DataFrame(rows, columns=["source", "severity", "passages"])
    return (alt.Chart(frame, title="Severity by source").mark_bar()
            .encode(y=alt.Y("source:N", title=None, axis=alt.Axis(**_AXIS)),
                    x=alt.X("passages:Q", title="passages"),
                    color=alt.Color("severity:N", scale=alt.Scale(domain=list(SEVERITY_COLOURS),
                                                                   range=list(SEVERITY_COLOURS.values()))),
                    tooltip=["source", "severity", "passages"])
            .properties(height=alt.Step(34)))
