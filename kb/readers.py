"""Files -> Document: a registry of readers by suffix, encoding detection, titles, metadata sidecars.

Adding a format is one decorated function::

    @reader(".html", ".htm")
    def read_html(path: Path, raw: bytes) -> Document: ...

A reader turns the file's bytes into a Document (text, format, a guessed title). ``read_document``
does everything that is the same for every format: reading the bytes once, the sha256, the checks
for unsupported/empty files, and the caller's doc_id, title and source.

Document.text is what every offset in kb points into, so the only normalisation done to text is
here: newlines become "\\n". Nothing downstream may change the text again.

Decoding lives in ``kb.decoding``, titles in ``kb.titles``, and tables (files of many documents) in
``kb.readers_tables``; their public names stay importable from here.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from kb import limits
from kb.decoding import (
    _read_bytes,
    decode_text,
    normalise_newlines,
    text_encoding,
)
from kb.model import Document, UnreadableFile
from kb.readers_tables import (
    _COLLECTION_READERS,
    _TABLE_READERS,
    CollectionReader,
    Row,
    TableColumns,
    TableReader,
    collection_reader,
    complete,
    is_table,
    read_delimited,
    read_jsonl,
    read_openfda,
    read_rows,
    registrar,
    row_document,
    table_reader,
    unique_key,
)
from kb.titles import _clean_title, guess_title, prettify_stem

Reader = Callable[[Path, bytes], Document]

#: suffix (lowercase, with dot) -> reader. Filled by the ``@reader`` decorations below.
_READERS: dict[str, Reader] = {}

#: The sidecar a folder may hold: {file name: {"title": ..., "source": ...}}.
METADATA_FILE = "kb-metadata.json"


def reader(*suffixes: str) -> Callable[[Reader], Reader]:
    """Register a reader for file suffixes (".txt"); suffixes are matched case-insensitively."""
    return registrar(_READERS, suffixes)


def supported_suffixes() -> tuple[str, ...]:
    """The suffixes some reader handles, sorted (for help texts and file filters)."""
    return tuple(sorted({*_READERS, *_TABLE_READERS, *_COLLECTION_READERS}))


def is_supported(path: Path) -> bool:
    """True if a registered reader handles this file's suffix."""
    return path.suffix.lower() in _READERS or is_table(path)

# --------------------------------------------------------------------------------------------
# read_document: the one entry point


def read_document(path: Path, *, doc_id: str, title: str | None = None, source: str | None = None,
                  meta: dict[str, Any] | None = None) -> Document:
    """Read one file into a Document, or raise UnreadableFile saying why in plain words.

    The bytes are read once; ``sha256`` is of those bytes so ingest can tell an unchanged file.
    An explicit ``title`` wins over the one the reader guesses; so does the caller's ``source`` over
    the reader's (an HTML page's site name), and the caller's ``meta`` (``url``, ``date`` from
    kb-metadata.json) over what the reader found.
    """
    path = Path(path)
    func = _READERS.get(path.suffix.lower())
    if func is None:
        shown = path.suffix or "no suffix"
        raise UnreadableFile(
            str(path),
            f"unsupported file type ({shown}); kb reads {', '.join(supported_suffixes())}",
        )
    raw = _read_bytes(path)
    if not raw:
        raise UnreadableFile(str(path), "the file is empty (0 bytes)")
    limits.check_document(path, raw)
    doc = func(path, raw)
    if not doc.text.strip():
        raise UnreadableFile(str(path), "the file contains only whitespace")
    return replace(
        doc,
        doc_id=doc_id,
        path=str(path),
        title=title.strip() if title and title.strip() else doc.title,
        source=source or doc.source,
        sha256=hashlib.sha256(raw).hexdigest(),
        meta={**doc.meta, **sidecar_provenance(meta or {})},
    )


def sidecar_provenance(entry: dict[str, Any]) -> dict[str, str]:
    """The ``url`` and ``date`` (as ISO) a kb-metadata.json entry gives a file."""
    from kb.provenance import iso_date

    out = {}
    if isinstance(entry.get("url"), str) and entry["url"].strip():
        out["url"] = entry["url"].strip()
    if date := iso_date(entry.get("date") or ""):
        out["date"] = date
    return out


# --------------------------------------------------------------------------------------------
# The readers


@reader(".txt", ".text")
def read_text(path: Path, raw: bytes) -> Document:
    """Plain text: the decoded bytes as they are."""
    text = decode_text(path, raw)
    return Document(doc_id="", path=str(path), title=guess_title(text, path), source="", text=text, format="text")


@reader(".md", ".markdown")
def read_markdown(path: Path, raw: bytes) -> Document:
    """Markdown is kept as written (the chunker reads its headings); only the title differs."""
    text = decode_text(path, raw)
    return Document(
        doc_id="",
        path=str(path),
        title=guess_title(text, path, markdown=True),
        source="",
        text=text,
        format="markdown",
    )


@reader(".html", ".htm")
def read_html(path: Path, raw: bytes) -> Document:
    """A web page's main text as Markdown (``#`` headings, ``- `` items, pipe tables), without its
    navigation, ads, banners and footer: trafilatura in precision mode, offline (it is given the
    decoded text, never a URL). Keeps the page's URL (canonical link) and site name (og:site_name, else
    the URL's host), which is also the default source."""
    import trafilatura

    page = decode_text(path, raw)  # as every text file: BOM, UTF-8, else a legacy encoding; binary refused
    if limits.html_depth_exceeded(page):
        raise UnreadableFile(str(path), f"the page nests elements deeper than {limits.MAX_HTML_DEPTH} levels")
    text = trafilatura.extract(page, output_format="markdown", favor_precision=True, include_comments=False,
                               include_tables=True, include_images=False, include_links=False)
    if not text or not text.strip():
        raise UnreadableFile(str(path), "no main text found: the page holds only navigation, links or boilerplate")
    text = normalise_newlines(text)
    info = trafilatura.extract_metadata(page)
    meta = {key: value for key, value in (("url", info.url), ("site_name", info.sitename)) if value}
    meta.update(_html_provenance(page, info))
    title = _clean_title(info.title or "") or guess_title(text, path, markdown=True)
    return Document(doc_id="", path=str(path), title=title, source=meta.get("site_name", ""), text=text,
                    format="markdown", meta=meta)


def _html_provenance(page: str, info: Any) -> dict[str, str]:
    """The page's own address and date: canonical link / og:url and the published or modified date its
    meta tags state (kb.provenance). trafilatura's own date is not used: without such tags it guesses
    one from the text (a footer's copyright year becomes "2024-01-01"), and a wrong date is worse than none."""
    from kb import provenance

    found = provenance.html_provenance(page)
    if "url" not in found and info.url and str(info.url).startswith(("http://", "https://")):
        found["url"] = info.url
    return found


#: PDF metadata titles that name a file or a tool, not the document ("Microsoft Word - label.docx").
_JUNK_PDF_TITLE = re.compile(r"^(?:untitled|microsoft \w+ - .*|.*\.(?:docx?|pdf|rtf|tmp|indd|qxd))$", re.IGNORECASE)


@reader(".pdf")
def read_pdf(path: Path, raw: bytes) -> Document:
    """A PDF's text layer (pypdf), page by page, cleaned as a reader sees the printed page
    (kb.readers_pdf): running headers and footers and page numbers dropped, numbered headings as
    Markdown headings, words hyphenated at line ends whole. ``meta["page_starts"]`` says where
    each page begins, so every passage knows its page(s). The title is the PDF's own (metadata, else its
    first title-like line), the date its "Revised:" line, else the PDF's dates. A scanned PDF (no text
    layer), a password-protected or a damaged one is an UnreadableFile saying so."""
    import pypdf
    from pypdf.errors import DependencyError, PyPdfError

    from kb import provenance, readers_pdf

    try:
        pdf = pypdf.PdfReader(io.BytesIO(raw))
        if pdf.is_encrypted and not pdf.decrypt(""):
            raise UnreadableFile(str(path), "the PDF is password-protected; save an unprotected copy to ingest it")
        pages = [normalise_newlines(page.extract_text() or "").strip() for page in pdf.pages]
        info = pdf.metadata or {}
        info_title = str(info.get("/Title") or "").strip()
        info_dates = [str(info.get(key) or "") for key in ("/ModDate", "/CreationDate")]
    except DependencyError as exc:
        raise UnreadableFile(str(path), f"the PDF is encrypted and cannot be opened ({exc})") from None
    except (PyPdfError, ValueError, KeyError, IndexError, TypeError, AttributeError, RecursionError) as exc:
        # pypdf reports a damaged file with whichever exception its parser ran into
        raise UnreadableFile(str(path), f"the PDF is damaged or truncated and cannot be read ({exc})") from None
    if not pages:
        raise UnreadableFile(str(path), "the PDF has no pages")
    if not any(pages):
        raise UnreadableFile(str(path), "no text layer: the PDF looks scanned; OCR it first")
    clean = readers_pdf.clean_pages(pages)
    title = "" if _JUNK_PDF_TITLE.match(info_title) else info_title
    meta: dict[str, Any] = {"page_starts": clean.page_starts}
    date = provenance.revised_date(clean.text) or next(filter(None, map(provenance.iso_date, info_dates)), "")
    if date:
        meta["date"] = date
    return Document(doc_id="", path=str(path), title=title or clean.title or guess_title(clean.text, path),
                    source="", text=clean.text, format="text", meta=meta)


_DOCX_HEADING = re.compile(r"^Heading ([1-9])$")
_DOCX_LIST_LEVEL = re.compile(r"^List (?:Bullet|Number|Continue)? ?[2-9]$")


@reader(".docx")
def read_docx(path: Path, raw: bytes) -> Document:
    """A Word document's body as Markdown (python-docx): Heading 1-6 (and Title) styles become ``#``
    headings, numbered and bulleted paragraphs ``- `` items (indented by level), tables pipe rows,
    a paragraph in bold throughout ``**...**``. Headers, footers and comments are left out."""
    import zipfile

    import docx
    from docx.table import Table

    try:
        word = docx.Document(io.BytesIO(raw))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise UnreadableFile(str(path), f"not a readable Word .docx file ({exc})") from None
    blocks: list[str] = []
    in_list = False
    for item in word.iter_inner_content():
        line, is_item = _docx_table(item) if isinstance(item, Table) else _docx_paragraph(item)
        if not line:
            continue
        if is_item and in_list:
            blocks[-1] += "\n" + line
        else:
            blocks.append(line)
        in_list = is_item
    text = normalise_newlines("\n\n".join(blocks))
    title = _clean_title(word.core_properties.title or "") or guess_title(text, path, markdown=True)
    return Document(doc_id="", path=str(path), title=title, source="", text=text, format="markdown")


def _docx_paragraph(paragraph: Any) -> tuple[str, bool]:
    """One paragraph as a Markdown line, and whether it is a list item."""
    text = paragraph.text.strip()
    if not text:
        return "", False
    style = paragraph.style
    name = style.name if style is not None else ""
    heading = _DOCX_HEADING.match(name or "")
    if heading or name == "Title":
        level = min(int(heading.group(1)), 6) if heading else 1
        return "#" * level + " " + " ".join(text.split()), False
    num_pr = paragraph._p.pPr.numPr if paragraph._p.pPr is not None else None
    while num_pr is None and style is not None:  # a list style ("List Bullet") numbers its paragraphs itself
        num_pr = style.element.pPr.numPr if style.element.pPr is not None else None
        style = style.base_style
    if num_pr is not None:
        if num_pr.ilvl is not None:
            level = num_pr.ilvl.val
        else:  # "List Bullet 2" is the second level
            level = int(name[-1]) - 1 if _DOCX_LIST_LEVEL.match(name or "") else 0
        return "  " * level + "- " + " ".join(text.split()), True
    runs = [run for run in paragraph.runs if run.text.strip()]
    if runs and all(run.bold for run in runs) and "\n" not in text:
        return f"**{text}**", False
    return text, False


def _docx_table(table: Any) -> tuple[str, bool]:
    """A table as pipe rows, the first one a header row; merged cells count once."""
    rows = []
    for row in table.rows:
        cells, seen = [], set()
        for cell in row.cells:
            if id(cell._tc) in seen:
                continue
            seen.add(id(cell._tc))
            cells.append(" ".join(cell.text.split()).replace("|", "\\|"))
        if any(cells):
            rows.append("| " + " | ".join(cells) + " |")
            if len(rows) == 1:
                rows.append("|" + " --- |" * len(cells))
    return "\n".join(rows), False


# --------------------------------------------------------------------------------------------
# Finding files


def iter_files(paths: Iterable[Path]) -> Iterator[Path]:
    """The files to ingest, in a deterministic order, each once.

    Folders are walked recursively in sorted order, skipping hidden names (".git", ".DS_Store"),
    the metadata sidecar and files no reader handles. A file named explicitly is yielded even if
    unsupported or missing, so that read_document can tell the user why it was not read.
    """
    seen: set[Path] = set()
    for given in paths:
        given = Path(given)
        candidates = _walk(given) if given.is_dir() else _explicit(given)
        for path in candidates:
            try:
                key = path.resolve()
            except (OSError, RuntimeError):  # a symlink loop: ingest reports it when it reads the file
                key = path.absolute()
            if key not in seen:
                seen.add(key)
                yield path


def _explicit(path: Path) -> Iterator[Path]:
    if path.name != METADATA_FILE:
        yield path


def _walk(folder: Path) -> Iterator[Path]:
    """Supported, non-hidden files under folder, sorted by their path parts."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if name.startswith(".") or name == METADATA_FILE:
                continue
            path = Path(dirpath, name)
            if is_supported(path):
                found.append(path)
    found.sort(key=lambda p: p.relative_to(folder).parts)
    yield from found


# --------------------------------------------------------------------------------------------
# Metadata sidecar


def load_metadata(folder: Path) -> dict[str, dict]:
    """Parse folder/kb-metadata.json: {file name: {"title": str, "source": str, ...}}.

    Absent -> {}. Anything malformed raises UnreadableFile naming the problem, because silently
    ignoring a researcher's metadata would mislabel every passage of the folder.
    """
    path = Path(folder) / METADATA_FILE
    if not path.is_file():
        return {}
    raw = _read_bytes(path)
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise UnreadableFile(str(path), "metadata must be UTF-8 encoded JSON") from None
    except json.JSONDecodeError as exc:
        raise UnreadableFile(str(path), f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    return _validate_metadata(str(path), data)


def _iso_date(value: str) -> str:
    from kb.provenance import iso_date

    return iso_date(value)


def _validate_metadata(where: str, data: object) -> dict[str, dict]:
    if not isinstance(data, dict):
        raise UnreadableFile(
            where, 'metadata must be a JSON object mapping file names to {"title": ..., "source": ...}'
        )
    for name, entry in data.items():
        if not isinstance(entry, dict):
            raise UnreadableFile(where, f'the entry for "{name}" must be an object like {{"title": ...}}')
        for key in ("title", "source", "url", "date"):
            if key in entry and not isinstance(entry[key], str):
                raise UnreadableFile(where, f'"{key}" of "{name}" must be a string')
        if entry.get("date") and not _iso_date(entry["date"]):
            raise UnreadableFile(where, f'"date" of "{name}" is not a date kb can read ("{entry["date"]}"); '
                                        'write it as yyyy-mm-dd, yyyy-mm or yyyy')
    return data


__all__ = [
    "METADATA_FILE",
    "CollectionReader",
    "Reader",
    "Row",
    "TableColumns",
    "TableReader",
    "collection_reader",
    "complete",
    "decode_text",
    "guess_title",
    "is_supported",
    "is_table",
    "iter_files",
    "load_metadata",
    "normalise_newlines",
    "prettify_stem",
    "read_delimited",
    "read_document",
    "read_jsonl",
    "read_openfda",
    "read_rows",
    "reader",
    "row_document",
    "sidecar_provenance",
    "supported_suffixes",
    "table_reader",
    "text_encoding",
    "unique_key",
]
