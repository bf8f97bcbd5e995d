"""Results out of kb: a pandas DataFrame, spreadsheet-safe CSV, and JSON.

One column order, declared once in ``COLUMNS``, serves the CLI, the page and the library.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from kb.model import TAG_FACETS, KbError

if TYPE_CHECKING:
    import pandas as pd

    from kb.search import Hit, KnowledgeBase, Results

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


def hit_row(hit: Hit) -> dict[str, Any]:
    """One hit as an export row: ``COLUMNS``, list facets joined with LIST_SEPARATOR."""
    d = hit.to_dict()
    for name in LIST_COLUMNS:
        d[name] = LIST_SEPARATOR.join(d[name])
    return {c: d[c] for c in COLUMNS}


def rows(results: Results) -> list[dict[str, Any]]:
    return [hit_row(hit) for hit in results.hits]


def to_frame(results: Results) -> pd.DataFrame:
    """The hits as a DataFrame in ``COLUMNS`` order; facets as lists."""
    import pandas as pd

    data = [hit.to_dict() for hit in results.hits]
    frame = pd.DataFrame(data, columns=[*COLUMNS])
    return frame.astype({"rank": "int64", "position": "int64", "char_start": "int64", "char_end": "int64",
                         "score": "float64", "boilerplate": "bool"})


def write_csv(results: Results | Iterable[Hit], path_or_buffer: Any) -> int:
    """UTF-8 with a byte-order mark (so spreadsheets detect it; also on standard output), CRLF rows,
    formula-safe cells. ``results`` may be a ``Results`` or any iterable of hits (``iter_hits``: every
    match of a search, a page at a time); rows are written one by one. Returns the rows written."""
    hits = results.hits if hasattr(results, "hits") else results
    return write_rows_csv((hit_row(hit) for hit in hits), COLUMNS, path_or_buffer)


@contextlib.contextmanager
def _text_target(path_or_buffer: Any) -> Iterator[TextIO]:
    """A text stream over a path (created, UTF-8), a text buffer, or a binary buffer."""
    if isinstance(path_or_buffer, str | os.PathLike):
        with open(path_or_buffer, "w", encoding="utf-8", newline="") as fh:
            yield fh
    elif isinstance(path_or_buffer, io.RawIOBase | io.BufferedIOBase) or "b" in getattr(path_or_buffer, "mode", ""):
        text = io.TextIOWrapper(path_or_buffer, encoding="utf-8", newline="", write_through=True)
        try:
            yield text
        finally:
            text.detach()  # the caller's buffer stays open
    else:
        yield path_or_buffer


def write_rows_csv(records: Iterable[dict[str, Any]], columns: Sequence[str], path_or_buffer: Any) -> int:
    """Any rows as kb writes CSV: these columns in order, formula-safe text cells, CRLF, UTF-8 with a
    byte-order mark, written row by row (memory does not grow with the number of rows)."""
    count = 0
    with _text_target(path_or_buffer) as out:
        out.write("\ufeff")
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(columns)
        for record in records:
            writer.writerow([_cell(record.get(c, "")) for c in columns])
            count += 1
    return count


def _cell(value: Any) -> Any:
    return guard_cell(value) if isinstance(value, str) else value  # numbers never need a guard


def rows_csv_bytes(records: Iterable[dict[str, Any]], columns: Sequence[str]) -> bytes:
    """``write_rows_csv`` into bytes, byte-order mark included (for downloads)."""
    buffer = io.BytesIO()
    write_rows_csv(records, columns, buffer)
    return buffer.getvalue()


def csv_bytes(results: Results | Iterable[Hit]) -> bytes:
    buffer = io.BytesIO()
    write_csv(results, buffer)
    return buffer.getvalue()


def read_csv(path_or_buffer: Any) -> pd.DataFrame:
    """Reads a kb CSV back: guards removed, facets as lists, types restored."""
    import pandas as pd

    frame = pd.read_csv(path_or_buffer, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    frame.columns = [str(c).lstrip("\ufeff") for c in frame.columns]  # a text buffer keeps the mark
    for col in frame.columns:
        frame[col] = frame[col].map(unguard_cell)
    for name in LIST_COLUMNS:
        frame[name] = frame[name].map(lambda v: v.split(LIST_SEPARATOR) if v else [])
    frame = frame.astype({"rank": "int64", "position": "int64", "char_start": "int64", "char_end": "int64",
                          "score": "float64"})
    frame["boilerplate"] = frame["boilerplate"].map({"True": True, "False": False})
    return frame


def write_json(results: Results, path_or_buffer: Any, hits: Iterable[Hit] | None = None) -> int:
    """``to_json_dict``'s document, written a hit at a time: ``results`` gives the query, totals,
    facets and notes; ``hits`` (default: its own) every hit to list, e.g. ``iter_hits`` of a whole
    search. Returns the hits written."""
    head = to_json_dict(results)
    head["hits"] = []
    text = json.dumps(head, ensure_ascii=False, indent=2)
    before, _, after = text.partition('"hits": []')
    count = 0
    with _text_target(path_or_buffer) as out:
        out.write(before + '"hits": [')
        for hit in results.hits if hits is None else hits:
            body = json.dumps(hit.to_dict(), ensure_ascii=False, indent=2).replace("\n", "\n    ")
            out.write(("," if count else "") + "\n    " + body)
            count += 1
        out.write(("\n  " if count else "") + "]" + after + "\n")
    return count


#: Hits fetched per search when an export walks every match: memory stays flat in the number of rows.
EXPORT_PAGE = 1_000


def iter_hits(kb: KnowledgeBase, query: str = "", filters: Any = None, *, limit: int | None = None, offset: int = 0,
              page: int = EXPORT_PAGE, **search: Any) -> tuple[Results, Iterator[Hit]]:
    """Every hit of a search (from ``offset``, at most ``limit``; None: all), fetched a page at a
    time: the first page's ``Results`` (total, facets, notes) and an iterator over the hits.

    An ingest that commits while the hits are read would shift the pages; it is reported as a
    KbError instead of an export with rows missing or repeated.
    """
    first = kb.search(query, filters, limit=page if limit is None else min(page, limit), offset=offset, **search)
    generation = kb.snapshot().generation
    first_hits = first.hits
    first.limit = limit  # what was asked for: the JSON header says so

    def walk() -> Iterator[Hit]:
        yield from first_hits
        done = len(first_hits)
        while first_hits and (limit is None or done < limit) and offset + done < first.total:
            size = page if limit is None else min(page, limit - done)
            results = kb.search(query, filters, limit=size, offset=offset + done, **search)
            if kb.snapshot().generation != generation:
                raise KbError("The index changed while the export was being written (an ingest committed); "
                              "run the export again.")
            if not results.hits:
                return
            yield from results.hits
            done += len(results.hits)

    return first, walk()


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
