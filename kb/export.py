"""Results out of kb: a pandas DataFrame, spreadsheet-safe CSV, and JSON.

One column order, declared once in ``COLUMNS``, serves the CLI, the page and the library.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from kb.model import TAG_FACETS

if TYPE_CHECKING:
    import pandas as pd

    from kb.search import Results

#: The export's columns, in order. Multi-valued facets are joined with LIST_SEPARATOR.
COLUMNS: tuple[str, ...] = (
    "rank", "score", "passage_id", "title", "source", "section", "position", "page", "text",
    *TAG_FACETS, "boilerplate", "duplicates", "doc_id", "path", "char_start", "char_end",
)
LIST_COLUMNS: tuple[str, ...] = (*TAG_FACETS, "duplicates")
LIST_SEPARATOR = "; "
#: Spreadsheets read a cell that starts with one of these as a formula (CSV injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_GUARD = "'"
_NEEDS_GUARD = re.compile(r"^'*[=+\-@\t\r]")


def guard_cell(value: str) -> str:
    """Neutralises a cell a spreadsheet would run as a formula, reversibly.

    "- Dizziness" becomes "'- Dizziness". A cell that already starts with quotes before a
    trigger gets one more, so ``unguard_cell`` can always undo exactly what was done.
    """
    return _GUARD + value if _NEEDS_GUARD.match(value) else value


def unguard_cell(value: str) -> str:
    return value[1:] if value.startswith(_GUARD) and _NEEDS_GUARD.match(value[1:]) else value


def rows(results: Results) -> list[dict[str, Any]]:
    out = []
    for hit in results.hits:
        d = hit.to_dict()
        for name in LIST_COLUMNS:
            d[name] = LIST_SEPARATOR.join(d[name])
        out.append({c: d[c] for c in COLUMNS})
    return out


def to_frame(results: Results) -> pd.DataFrame:
    """The hits as a DataFrame in ``COLUMNS`` order; facets as lists."""
    import pandas as pd

    data = [hit.to_dict() for hit in results.hits]
    frame = pd.DataFrame(data, columns=[*COLUMNS])
    return frame.astype({"rank": "int64", "position": "int64", "char_start": "int64", "char_end": "int64",
                         "score": "float64", "boilerplate": "bool"})


def write_csv(results: Results, path_or_buffer: Any) -> None:
    """UTF-8 (with a byte-order mark, so spreadsheets detect it), CRLF rows, formula-safe cells."""
    write_rows_csv(rows(results), COLUMNS, path_or_buffer)


def write_rows_csv(records: list[dict[str, Any]], columns: Sequence[str], path_or_buffer: Any) -> None:
    """Any rows as kb writes CSV: these columns in order, formula-safe cells, CRLF, UTF-8 with a BOM
    (for a text buffer the caller adds the BOM when it encodes, as ``rows_csv_bytes`` does)."""
    import pandas as pd

    frame = pd.DataFrame(records, columns=[*columns])
    for col in frame.columns:
        if frame[col].dtype == object or str(frame[col].dtype).startswith("str"):  # numbers never need a guard
            frame[col] = frame[col].map(lambda v: guard_cell(v) if isinstance(v, str) else v)
    frame.to_csv(path_or_buffer, index=False, encoding="utf-8-sig", lineterminator="\r\n")


def rows_csv_bytes(records: list[dict[str, Any]], columns: Sequence[str]) -> bytes:
    """``write_rows_csv`` into bytes, byte-order mark included (for downloads)."""
    buffer = io.StringIO()
    write_rows_csv(records, columns, buffer)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def csv_bytes(results: Results) -> bytes:
    return rows_csv_bytes(rows(results), COLUMNS)


def read_csv(path_or_buffer: Any) -> pd.DataFrame:
    """Reads a kb CSV back: guards removed, facets as lists, types restored."""
    import pandas as pd

    frame = pd.read_csv(path_or_buffer, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    for col in frame.columns:
        frame[col] = frame[col].map(unguard_cell)
    for name in LIST_COLUMNS:
        frame[name] = frame[name].map(lambda v: v.split(LIST_SEPARATOR) if v else [])
    frame = frame.astype({"rank": "int64", "position": "int64", "char_start": "int64", "char_end": "int64",
                          "score": "float64"})
    frame["boilerplate"] = frame["boilerplate"].map({"True": True, "False": False})
    return frame


def to_json_dict(results: Results) -> dict[str, Any]:
    """The shape ``kb search --format json`` prints."""
    return {
        "query": results.query,
        "filters": results.filters,
        "total": results.total,
        "offset": results.offset,
        "limit": results.limit,
        "sort": results.sort,
        "hits": [hit.to_dict() for hit in results.hits],
        "facets": {name: facet.counts() for name, facet in results.facets.items()},
        "suggestion": results.suggestion,
        "notes": results.notes,
    }
