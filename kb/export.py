"""Formats kb writes, knowing nothing of searches: spreadsheet-safe CSV, JSON written an item at a time, and the
citation formats reference managers import (RIS, CSL-JSON, BibTeX).

What is written is decided by the caller (``kb.results`` for a search, ``kb.selection`` for kept passages,
``kb.history`` for the search log); every CSV kb writes goes through ``write_rows_csv``, so every one is
formula-safe, UTF-8 with a byte-order mark and CRLF rows.
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

if TYPE_CHECKING:
    import pandas as pd

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


def read_rows_csv(path_or_buffer: Any) -> pd.DataFrame:
    """A CSV kb wrote, read back as text cells: the byte-order mark and the formula guards removed."""
    import pandas as pd

    frame = pd.read_csv(path_or_buffer, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    frame.columns = [str(c).lstrip("\ufeff") for c in frame.columns]  # a text buffer keeps the mark
    for col in frame.columns:
        frame[col] = frame[col].map(unguard_cell)
    return frame


def write_json_object(head: dict[str, Any], key: str, items: Iterable[Any], path_or_buffer: Any) -> int:
    """``head`` as indented JSON with ``head[key]`` replaced by ``items``, written an item at a time (memory does
    not grow with the number of items). Returns the items written."""
    text = json.dumps({**head, key: []}, ensure_ascii=False, indent=2)
    before, _, after = text.partition(f"{json.dumps(key)}: []")
    count = 0
    with _text_target(path_or_buffer) as out:
        out.write(before + f"{json.dumps(key)}: [")
        for item in items:
            body = json.dumps(item, ensure_ascii=False, indent=2).replace("\n", "\n    ")
            out.write(("," if count else "") + "\n    " + body)
            count += 1
        out.write(("\n  " if count else "") + "]" + after + "\n")
    return count


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
