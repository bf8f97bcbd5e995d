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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from kb.model import TAG_FACETS, KbError

if TYPE_CHECKING:
    import pandas as pd

    from kb.search import Hit, KnowledgeBase, Results

#: The export's columns, in order. Multi-valued facets are joined with LIST_SEPARATOR. ``position`` is
#: the passage's number in its document counted from 1, as the page and citations count; ``url`` and
#: ``date`` are the document's web address and date, ``ingested`` the day kb read it.
COLUMNS: tuple[str, ...] = (
    "rank", "score", "passage_id", "title", "source", "section", "position", "page", "text",
    *TAG_FACETS, "boilerplate", "duplicates", "doc_id", "path", "url", "date", "ingested", "char_start", "char_end",
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
            body = json.dumps(hit_json(hit), ensure_ascii=False, indent=2).replace("\n", "\n    ")
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


def hit_json(hit: Hit) -> dict[str, Any]:
    """One hit as JSON exports write it: its fields and tags, and the mentions behind the tags (the span of the
    passage's text that gave each, with its facet, value, role and severity)."""
    from kb.index import mention_record

    return {**hit.to_dict(), "mentions": [mention_record(m) for m in hit.passage.mentions]}


def to_json_dict(results: Results) -> dict[str, Any]:
    """The shape ``kb search --format json`` prints; each hit with the mentions behind its tags."""
    return {
        "query": results.query,
        "filters": results.filters,
        "total": results.total,
        "offset": results.offset,
        "limit": results.limit,
        "sort": results.sort,
        "hits": [hit_json(hit) for hit in results.hits],
        "facets": {name: facet.counts() for name, facet in results.facets.items()},
        "not_stated": {name: facet.not_stated for name, facet in results.facets.items()},
        "suggestion": results.suggestion,
        "notes": results.notes,
    }


# ---- citations: what a reference manager imports ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Citation:
    """One passage as a reference manager sees it. ``number`` is the passage's number in its document
    counted from 1; ``date`` the document's date (``yyyy[-mm[-dd]]``), ``accessed`` the day its text was
    read (``yyyy-mm-dd``: the day kb ingested it); ``quote`` the passage's text."""

    passage_id: str
    title: str = ""
    source: str = ""
    section: str = ""
    page: str = ""
    number: int = 0
    url: str = ""
    date: str = ""
    accessed: str = ""
    path: str = ""
    note: str = ""
    quote: str = ""
    status: str = ""  # e.g. "no longer in the index"

    @property
    def key(self) -> str:
        """A citation key reference managers accept: ``kb:`` and the passage id, other characters as -."""
        return "kb:" + re.sub(r"[^A-Za-z0-9_.:-]", "-", self.passage_id)

    def locator(self) -> str:
        """Where in the document: ``§ Dosage, p. 3, passage 4 (id abc-12)``."""
        parts = [f"§ {self.section}"] if self.section else []
        if self.page:
            parts.append(f"p. {self.page}")
        parts.append(f"passage {self.number} (id {self.passage_id})")
        return ", ".join(parts)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _date_parts(date: str) -> list[int]:
    return [int(p) for p in date.split("-") if p.isdigit()]


def _ris_date(date: str) -> str:
    """RIS dates are ``YYYY/MM/DD/``, empty parts kept: ``2024-05`` -> ``2024/05//``."""
    parts = [*date.split("-"), "", ""]
    return f"{parts[0]}/{parts[1]}/{parts[2]}/"


def ris(citations: Sequence[Citation]) -> str:
    """RIS (Research Information Systems), the tagged format every reference manager imports: one
    ``ELEC`` (web page or electronic source) record per passage. Title ``TI``, publisher ``PB``, section
    ``SE``, page ``SP``, passage number and id in a note ``N1`` and in ``AN`` (the id), address ``UR``,
    document date ``DA``/``PY``, access date ``Y2``, local file ``L1``, the researcher's note in a second
    ``N1`` and the quoted passage as ``AB``. Values are one line each (RIS has no continuation lines)."""
    out = []
    for c in citations:
        lines = [("TY", "ELEC"), ("ID", c.key), ("TI", c.title or "Untitled document")]
        if c.source:
            lines.append(("PB", c.source))
        if c.section:
            lines.append(("SE", c.section))
        if c.page:
            lines.append(("SP", c.page))
        if c.date:
            lines += [("PY", c.date[:4]), ("DA", _ris_date(c.date))]
        if c.url:
            lines.append(("UR", c.url))
        if c.accessed:
            lines.append(("Y2", _ris_date(c.accessed)))
        lines.append(("AN", c.passage_id))
        lines.append(("N1", c.locator() + (f"; {c.status}" if c.status else "")))
        if c.note:
            lines.append(("N1", f"Note: {c.note}"))
        if c.path:
            lines.append(("L1", c.path))
        if c.quote:
            lines.append(("AB", c.quote))
        out.extend(f"{tag}  - {_one_line(value)}" for tag, value in lines)
        out.append("ER  - ")
        out.append("")
    return "\r\n".join(out)


def csl_json(citations: Sequence[Citation]) -> list[dict[str, Any]]:
    """CSL-JSON (the Citation Style Language's data format, read by Zotero, Pandoc and citeproc): one
    item per passage, ``webpage`` when it has an address, else ``document``. The passage's place goes
    in ``section``, ``page`` and ``archive_location`` (``passage 4 (id abc-12)``), dates as
    ``date-parts``, the researcher's note in ``note`` and the quoted passage as ``abstract``."""
    items = []
    for c in citations:
        item: dict[str, Any] = {"id": c.key, "type": "webpage" if c.url else "document",
                                "title": c.title or "Untitled document"}
        if c.source:
            item["publisher"] = c.source
            item["container-title"] = c.source
        if c.section:
            item["section"] = c.section
        if c.page:
            item["page"] = c.page
        item["archive"] = "kb"
        item["archive_location"] = f"passage {c.number} (id {c.passage_id})"
        if c.url:
            item["URL"] = c.url
        if c.date and _date_parts(c.date):
            item["issued"] = {"date-parts": [_date_parts(c.date)]}
        if c.accessed and _date_parts(c.accessed):
            item["accessed"] = {"date-parts": [_date_parts(c.accessed)]}
        if c.path:
            item["source"] = c.path
        notes = [c.locator()] + ([c.status] if c.status else []) + ([f"Note: {c.note}"] if c.note else [])
        item["note"] = "; ".join(notes)
        if c.quote:
            item["abstract"] = c.quote
        items.append(item)
    return items


def csl_json_bytes(citations: Sequence[Citation]) -> bytes:
    return (json.dumps(csl_json(citations), ensure_ascii=False, indent=2) + "\n").encode("utf-8")


_BIB_SPECIAL = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "%": r"\%", "&": r"\&", "#": r"\#",
                "$": r"\$", "_": r"\_", "^": r"\^{}", "~": r"\~{}"}
_BIB_RE = re.compile("|".join(re.escape(c) for c in _BIB_SPECIAL))


def _bib(text: str) -> str:
    return _BIB_RE.sub(lambda m: _BIB_SPECIAL[m.group()], _one_line(text))


def _bib_url(url: str) -> str:
    """A URL as biblatex reads its ``url`` field (verbatim): braces, backslashes and spaces percent-encoded."""
    return re.sub(r"[{}\\\s]", lambda m: f"%{ord(m.group()):02X}", url.strip())


def bibtex(citations: Sequence[Citation]) -> str:
    """One BibTeX ``@misc`` entry per passage (biblatex field names where BibTeX has none: ``url``,
    ``urldate``, ``date``); empty fields are left out, special characters escaped."""
    entries = []
    for c in citations:
        values = [
            ("title", c.title), ("publisher", c.source), ("section", c.section), ("pages", c.page),
            ("position", f"passage {c.number}"), ("passageid", c.passage_id), ("date", c.date),
            ("year", c.date[:4]), ("url", c.url), ("urldate", c.accessed), ("howpublished", c.path),
            ("annote", c.note), ("status", c.status), ("quote", c.quote),
        ]
        body = ",\n".join(f"  {name:<12} = {{{_bib_url(value) if name == 'url' else _bib(value)}}}"
                          for name, value in values if value)
        entries.append(f"@misc{{{c.key},\n{body}\n}}\n")
    return "\n".join(entries)
