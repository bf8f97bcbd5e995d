"""Per-document limits: every file is parsed in bounded time and memory, or refused by name.

One hostile or broken file must never stop an ingest or take the machine's memory: a 1.1 MB DOCX
that expands to 300 MB ran for minutes at 1.4 GB; a JSONL row nested 3,000 levels deep or one CSV
cell over 131,072 characters aborted the whole table. The checks here run before a reader parses a
file (size, a ZIP's declared expanded size and XML declarations), and ``ingest`` skips with its
reason anything a reader still fails on.

The limits are generous for real documents (a 500-page label is about 2 MB of text) and can be
changed by assigning the module's constants.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from kb.model import UnreadableFile

#: Largest document file read whole (tables are streamed and limited per row instead).
MAX_FILE_BYTES = 200 * 1024 * 1024
#: Largest total a ZIP-based document (.docx) may expand to, and its largest ratio of expanded to
#: packed size (a zip bomb packs hundreds of MB of repeated bytes into one).
MAX_UNZIPPED_BYTES = 200 * 1024 * 1024
MAX_ZIP_MEMBERS = 10_000
#: Largest table cell (CSV/TSV) and table line (JSONL), in characters: a row over it is skipped,
#: named, and the rest of the table is read.
MAX_CELL_CHARS = 20_000_000
#: Deepest nesting accepted in a JSON row and in an HTML page.
MAX_JSON_DEPTH = 200
MAX_HTML_DEPTH = 500

_MB = 1024 * 1024


def _size(n: int) -> str:
    return f"{n / _MB:,.0f} MB" if n >= _MB else f"{n:,} bytes"


def check_file_size(path: Path, size: int) -> None:
    if size > MAX_FILE_BYTES:
        raise UnreadableFile(str(path), f"the file is {_size(size)}, over kb's limit of {_size(MAX_FILE_BYTES)} "
                                        "for one document; split it, or ingest its text as a table")


def check_zip_document(path: Path, raw: bytes) -> None:
    """A .docx (a ZIP of XML parts): its declared expanded size (which also caps what Python's
    zipfile will inflate) within MAX_UNZIPPED_BYTES, and no XML part with a document type
    declaration: Word never writes one, and it is how entity-expansion bombs are built."""
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_ZIP_MEMBERS:
                raise UnreadableFile(str(path), f"the file holds {len(infos):,} parts, over kb's limit of "
                                                f"{MAX_ZIP_MEMBERS:,}")
            total = sum(info.file_size for info in infos)
            if total > MAX_UNZIPPED_BYTES:
                raise UnreadableFile(str(path), f"it expands to {_size(total)}, over kb's limit of "
                                                f"{_size(MAX_UNZIPPED_BYTES)} (a zip bomb, or a document too large)")
            for info in infos:
                if info.filename.lower().endswith((".xml", ".rels")):
                    with zf.open(info) as part:
                        head = part.read(64 * 1024)
                    if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
                        raise UnreadableFile(str(path), f"its part {info.filename} declares XML entities "
                                                        "(<!DOCTYPE>), which Word never writes; refused")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError, ValueError) as exc:
        raise UnreadableFile(str(path), f"not a readable Word .docx file ({exc})") from None


def check_document(path: Path, raw: bytes) -> None:
    """Every limit that applies to a whole document file, before a reader parses it."""
    check_file_size(path, len(raw))
    if path.suffix.lower() == ".docx":
        check_zip_document(path, raw)


def json_depth_exceeded(line: str, limit: int | None = None) -> bool:
    """Whether a JSON text nests objects and arrays deeper than ``limit``, found by one scan of its
    brackets (outside strings), before the parser recurses into it."""
    limit = MAX_JSON_DEPTH if limit is None else limit
    if line.count("[") + line.count("{") <= limit:
        return False
    depth, in_string, escaped = 0, False, False
    for ch in line:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return True
        elif ch in "]}":
            depth -= 1
    return False


def html_depth_exceeded(page: str, limit: int | None = None) -> bool:
    """Whether an HTML page nests elements deeper than ``limit`` (void and self-closed elements
    are not counted), judged by its tags alone, in one pass."""
    import re

    limit = MAX_HTML_DEPTH if limit is None else limit
    if page.count("<") <= limit:
        return False
    void = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr",
            "p", "li", "td", "tr", "th", "option", "dt", "dd"}  # optional end tags: not counted either
    depth = 0
    for m in re.finditer(r"<(/?)([A-Za-z][A-Za-z0-9-]*)[^>]*?(/?)>", page):
        closing, name, selfclosed = m.group(1), m.group(2).lower(), m.group(3)
        if name in void or selfclosed:
            continue
        if closing:
            depth = max(depth - 1, 0)
        else:
            depth += 1
            if depth > limit:
                return True
    return False
