"""openFDA drug labels -> one document per label, read as a stream.

A researcher gets labels from open.fda.gov as bulk downloads (``drug-label-0001-of-0013.json.zip``:
a zip holding one JSON ``{"meta": ..., "results": [label, ...]}`` of ~100 MB), as API responses
(``{"results": [...]}``) or as a single label object. The labels of the ``results`` array are
built one at a time from parser events (ijson), so a bulk file never becomes one huge Python object.

A label is a flat object of SPL sections, each a list of strings whose text starts with its number and
title ("5 WARNINGS AND PRECAUTIONS 5.1 Suicidal Behavior ..."). openFDA also copies every subsection
into a field of its own (``mechanism_of_action`` inside ``clinical_pharmacology``), so the text of a
field that lies inside another one is not repeated: it marks where a subheading goes. The document is
Markdown, so the chunker gives every passage its section path:

    # BRAND (generic)
    ## 5 WARNINGS AND PRECAUTIONS
    ### 5.1 Suicidal Behavior and Ideation

``*_table`` fields (HTML copies of the label's tables) replace their flattened text with pipe tables.
The label's identity and provenance go to ``meta``: drug (generic names), routes, manufacturer, set
id, effective time, the DailyMed address and the ISO date.

Reading the files and each label's identity is here; the label's text as Markdown (sections, subsection
titles, tables) is ``kb.openfda_markdown``, whose public names stay importable from here.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from kb import provenance
from kb.model import UnreadableFile
from kb.openfda_markdown import (
    KNOWN_TITLES,
    SECTION_ORDER,
    _strings,
    label_markdown,
    numbered_subsections,
    parse_table,
    section_title,
)
from kb.readers import Row, unique_key

DAILYMED_URL = "https://dailymed.nlm.nih.gov/dailymed/drugInfo.cfm?setid={set_id}"


# --------------------------------------------------------------------------------------------
# Files: a zip of JSON files, a JSON file


def read_labels(path: Path, *, defer: bool = False) -> Iterator[Row]:
    """Every label of an openFDA file as a Row (a document to be, or the reason it is skipped).

    A file that cannot be read at all raises UnreadableFile. So does one that breaks off part way
    (a truncated download), after the labels before the break have been yielded. With ``defer``
    each label's Row holds only its key and the label (``Row.pending``); ``kb.readers.complete``
    makes its Markdown, title and hash (nine tenths of the reading time), in a worker process.
    """
    seen: dict[str, int] = {}
    if path.suffix.lower() == ".zip":
        yield from _zip_rows(path, seen, defer)
        return
    try:
        stream = path.open("rb")
    except OSError as exc:
        raise UnreadableFile(str(path), f"the file cannot be opened ({exc.strerror or exc})") from None
    with stream:
        if not stream.read(1):
            raise UnreadableFile(str(path), "the file is empty (0 bytes)")
        stream.seek(0)
        yield from _json_rows(stream, str(path), "", seen, defer=defer)


def _zip_rows(path: Path, seen: dict[str, int], defer: bool) -> Iterator[Row]:
    """The labels of every JSON file in a zip; any other member is named and skipped."""
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        yield from _salvage_zip(path, seen, defer)
        return
    except OSError as exc:
        raise UnreadableFile(str(path), f"the file cannot be opened ({exc.strerror or exc})") from None
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        if not members:
            raise UnreadableFile(str(path), "the zip is empty")
        for member in members:
            if not member.filename.lower().endswith(".json"):
                yield Row(key=member.filename, error=f"'{member.filename}' in the zip is not a JSON file of labels")
                continue
            try:
                with archive.open(member) as stream:
                    yield from _json_rows(stream, str(path), member.filename, seen, defer=defer)
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
                raise UnreadableFile(str(path), f"'{member.filename}' in the zip is damaged ({exc})") from None


_LOCAL_HEADER = struct.Struct("<4s5H3L2H")


def _salvage_zip(path: Path, seen: dict[str, int], defer: bool) -> Iterator[Row]:
    """A zip without its central directory (a download cut short): read its first member from its
    local header and inflate as far as the bytes go, so the labels before the cut are kept."""
    try:
        stream = path.open("rb")
    except OSError as exc:
        raise UnreadableFile(str(path), f"the file cannot be opened ({exc.strerror or exc})") from None
    with stream:
        head = stream.read(_LOCAL_HEADER.size)
        if len(head) < _LOCAL_HEADER.size or not head.startswith(b"PK\x03\x04"):
            raise UnreadableFile(str(path), "not a readable zip file (damaged, or not a zip at all)")
        fields = _LOCAL_HEADER.unpack(head)
        method, name_len, extra_len = fields[3], fields[9], fields[10]
        name = stream.read(name_len).decode("utf-8", "replace")
        stream.read(extra_len)
        if method not in (0, 8):
            raise UnreadableFile(str(path), f"the zip is damaged and '{name}' is compressed in a way kb cannot salvage")
        if not name.lower().endswith(".json"):
            raise UnreadableFile(str(path), f"the zip is damaged, and its first file '{name}' is not JSON")
        yield from _json_rows(_Inflating(stream, raw=method == 0), str(path), name, seen, truncated_zip=True,
                              defer=defer)


class _Inflating:
    """A read() over a deflate stream that ends quietly where the bytes run out."""

    def __init__(self, stream: IO[bytes], *, raw: bool):
        self.stream = stream
        self.inflate = None if raw else zlib.decompressobj(-15)

    def read(self, size: int = -1) -> bytes:
        if size == 0:  # ijson reads 0 bytes to learn whether the stream gives bytes or text
            return b""
        size = size if size > 0 else 65536
        while True:
            chunk = self.stream.read(size)
            if self.inflate is None or not chunk:
                return chunk
            try:
                out = self.inflate.decompress(chunk)
            except zlib.error:
                return b""
            if out or self.inflate.eof:
                return out


def _json_rows(stream: Any, where: str, member: str, seen: dict[str, int], *, truncated_zip: bool = False,
               defer: bool = False) -> Iterator[Row]:
    import ijson

    inside = f"'{member}' in the zip" if member else "the file"
    count = 0
    try:
        for number, label in enumerate(_labels(ijson.parse(stream, use_float=True)), start=1):
            count = number
            yield label_row(label, number, seen, defer=defer)
    except _NotLabels as exc:
        if member and not count:
            yield Row(key=member, error=f"{inside} {exc}")
            return
        raise UnreadableFile(where, f"{inside} {exc}") from None
    except (ijson.JSONError, UnicodeDecodeError) as exc:
        cut = "the download is cut short" if truncated_zip or isinstance(exc, ijson.IncompleteJSONError) else ""
        message = f"{inside} is not valid JSON ({_short(exc)})" if not cut else f"{inside} ends early: {cut}"
        raise UnreadableFile(where, f"{message}; {count} label(s) before it were read") from None
    if truncated_zip:
        raise UnreadableFile(where, f"the zip is damaged (no central directory); {count} label(s) were read")
    if count == 0:
        yield Row(key=member or "results", error=f"{inside} holds no labels")


def _short(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 120 else text[:117] + "..."


class _NotLabels(Exception):
    """JSON that is not openFDA labels."""


def _labels(events: Iterator[tuple[str, str, Any]]) -> Iterator[Any]:
    """Each label from a stream of ijson parser events, built one at a time: the items of a top-level
    "results" array (a bulk download, an API response) or of a top-level array, or the top-level object
    itself when it is a single label."""
    from ijson.common import ObjectBuilder

    top = ObjectBuilder()  # the top-level object's other fields: "meta", or a single label's fields
    item: Any = None
    item_prefix = ""
    key = ""
    kind = ""
    for prefix, event, value in events:
        if prefix == "":
            if event == "start_map":
                kind = "map"
                top.event(event, value)
            elif event == "start_array":
                kind, item_prefix = "array", "item"
            elif event == "map_key":
                key = value
                if key == "results":
                    item_prefix = "results.item"
                else:
                    top.event(event, value)
            elif event not in ("end_map", "end_array"):
                raise _NotLabels("is a single JSON value, not openFDA labels")
            continue
        if kind == "map" and key != "results":
            top.event(event, value)
            continue
        if prefix == "results":
            if event not in ("start_array", "end_array"):
                raise _NotLabels('has a "results" that is not a list of labels')
            continue
        if item is None:
            item = ObjectBuilder()
        item.event(event, value)
        if prefix == item_prefix and event not in ("start_map", "start_array", "map_key"):
            yield item.value
            item = None
    if kind == "map" and not item_prefix:
        label = top.value
        if not any(k in label for k in ("openfda", "set_id", *SECTION_ORDER)):
            raise _NotLabels('is neither an openFDA label nor a {"results": [...]} file of labels')
        yield label


# --------------------------------------------------------------------------------------------
# One label


def label_row(label: Any, number: int, seen: dict[str, int], *, defer: bool = False) -> Row:
    """A label as a Row: Markdown text with its sections as headings, its title and provenance.
    With ``defer``, only its key, the rest left to ``complete_label`` (``Row.pending``)."""
    if not isinstance(label, dict):
        return _unique(Row(key=f"label{number}", error=f"label {number} is not a JSON object"), seen)
    openfda = label.get("openfda") if isinstance(label.get("openfda"), dict) else {}
    set_id = _first(label.get("set_id")) or _first(openfda.get("spl_set_id")) or _first(label.get("id"))
    row = _unique(Row(key=set_id or f"label{number}"), seen)
    if defer:
        row.pending = (complete_label, (label, number))
        return row
    return complete_label(row.key, label, number)


def complete_label(key: str, label: dict[str, Any], number: int) -> Row:
    """The Row of a label whose key is decided: its Markdown text, title, publisher, provenance, hash."""
    row = Row(key=key)
    openfda = label.get("openfda") if isinstance(label.get("openfda"), dict) else {}
    set_id = _first(label.get("set_id")) or _first(openfda.get("spl_set_id")) or _first(label.get("id"))
    named = f"label {number}" + (f" (set id {set_id})" if set_id else "")
    body = label_markdown(label)
    if not body.strip():
        row.error = f"{named} has no section text"
        return row
    brands = _strings(openfda.get("brand_name"))
    generics = _strings(openfda.get("generic_name"))
    title = label_title(brands, generics) or _first(label.get("title")) or f"Drug label {set_id or number}"
    manufacturer = _first(openfda.get("manufacturer_name"))
    row.title = title
    row.text = f"# {title}\n\n{body}\n"
    row.source = manufacturer
    row.format = "markdown"
    row.meta = label_meta(label, openfda, set_id, generics, brands, manufacturer)
    canonical = json.dumps(label, sort_keys=True, ensure_ascii=False, default=str)
    row.sha256 = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return row


def _unique(row: Row, seen: dict[str, int]) -> Row:
    row.key = unique_key(row.key, seen)
    return row


def label_title(brands: list[str], generics: list[str]) -> str:
    """'SYLATRON (peginterferon alfa-2b)'; a generic named as its own brand is said once."""
    brand = " / ".join(dict.fromkeys(brands))
    generic = " / ".join(dict.fromkeys(g.lower() for g in generics))
    if brand and generic and brand.lower() != generic:
        return f"{brand} ({generic})"
    return brand or generic


def label_meta(label: dict[str, Any], openfda: dict[str, Any], set_id: str, generics: list[str],
               brands: list[str], manufacturer: str) -> dict[str, Any]:
    effective = _first(label.get("effective_time"))
    meta: dict[str, Any] = {
        "drug": list(dict.fromkeys(g.lower() for g in generics)),
        "brand": list(dict.fromkeys(brands)),
        "routes": list(dict.fromkeys(r.lower() for r in _strings(openfda.get("route")))),
        "manufacturer": manufacturer,
        "set_id": set_id,
        "effective_time": effective,
        "url": DAILYMED_URL.format(set_id=set_id) if _SET_ID.match(set_id) else "",
        # openFDA writes the effective time as yyyymmdd; anything else is not a date (kept as given)
        "date": provenance.iso_date(effective) if _EFFECTIVE_TIME.match(effective.strip()) else "",
        "label_id": _first(label.get("id")),
        "version": _first(label.get("version")),
        "application_number": _strings(openfda.get("application_number")),
        "product_type": _first(openfda.get("product_type")),
    }
    return {k: v for k, v in meta.items() if v}


_EFFECTIVE_TIME = re.compile(r"\d{8}")
_SET_ID = re.compile(r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$")


def _first(value: Any) -> str:
    found = _strings(value)
    return found[0] if found else ""


__all__ = [
    "DAILYMED_URL",
    "KNOWN_TITLES",
    "SECTION_ORDER",
    "complete_label",
    "label_markdown",
    "label_meta",
    "label_row",
    "label_title",
    "numbered_subsections",
    "parse_table",
    "read_labels",
    "section_title",
]
