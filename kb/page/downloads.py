"""What the page's download buttons give: the file names (the query and the date) and the bytes, for a search
(every match, not only the page shown, as ``kb search --format csv|json``) and for the selection (six formats).
"""

from __future__ import annotations

import datetime as dt
import io
import re
import unicodedata
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kb.page.state import SearchState, paged_total

if TYPE_CHECKING:
    from kb.results import Results
    from kb.search import KnowledgeBase
    from kb.selection import Selection


def slugify(text: str, max_length: int = 60) -> str:
    """A file-name-safe slug: ASCII letters, digits and single hyphens (``Krampfanfälle!`` -> ``krampfanfalle``)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if len(slug) > max_length:
        slug = slug[:max_length].rsplit("-", 1)[0] if "-" in slug[:max_length] else slug[:max_length]
    return slug.strip("-")


def export_filename(query: str, extension: str, today: dt.date | None = None) -> str:
    """``kb-seizures-2026-11-23.csv``; ``kb-all-2026-11-23.csv`` for an empty query, ``kb-search-...``
    when nothing of the query survives (a query in a non-Latin script)."""
    day = (today or dt.date.today()).isoformat()
    slug = slugify(query) or ("search" if query.strip() else "all")
    return f"kb-{slug}-{day}.{extension.lstrip('.')}"


def selection_filename(extension: str, today: dt.date | None = None) -> str:
    return f"kb-selection-{(today or dt.date.today()).isoformat()}.{extension.lstrip('.')}"


def history_filename(extension: str, today: dt.date | None = None) -> str:
    return f"kb-search-strategy-{(today or dt.date.today()).isoformat()}.{extension.lstrip('.')}"


def export_what(results: Results) -> str:
    """What the CSV and JSON buttons download, for their help text."""
    distinct = paged_total(results)
    if distinct < results.total:
        return (f"Each distinct statement ({distinct:,} of {results.total:,} passages; the column `duplicates` "
                "names the passages that repeat it)")
    return f"Every matching passage ({results.total:,})"


def export_results(kb: KnowledgeBase, state: SearchState) -> Results:
    """Every result of the search (not only the page shown), in the page's order: every matching
    passage, or each distinct statement when the page shows each once (``duplicates`` names the rest)."""
    return kb.search(state.query, state.filter_dict(), limit=None, **state.search_kwargs())


def export_bytes(kb: KnowledgeBase, state: SearchState, fmt: str) -> bytes:
    """The CSV (same columns and formula-safe cells as ``kb search --format csv``) or JSON of a search."""
    from kb.results import iter_hits, write_csv, write_json

    if fmt not in ("csv", "json"):
        raise ValueError(f"unknown export format {fmt!r}")
    # a page of hits at a time into the download's bytes: no list of every hit, no DataFrame
    results, hits = iter_hits(kb, state.query, state.filter_dict(), limit=None, **state.search_kwargs())
    buffer = io.BytesIO()
    if fmt == "csv":
        write_csv(hits, buffer)
    else:
        write_json(results, buffer, hits)
    return buffer.getvalue()


@dataclass(frozen=True, slots=True)
class Download:
    """One download button: its label, file extension, media type, help text and the bytes (made on click)."""

    label: str
    extension: str
    mime: str
    help: str
    data: Callable[[], bytes]

    @property
    def key(self) -> str:
        return f"w_sel_{self.extension.replace('.', '_')}"


def selection_downloads(selection: Selection, missing: Collection[str], index: str) -> list[Download]:
    """The Selection tab's downloads, in the order of their buttons; ``missing``: ids no longer in the index."""
    from kb import selection as sel

    return [
        Download("CSV", "csv", "text/csv", "One row per passage with its provenance and note (spreadsheet-safe cells).",
                 lambda: sel.csv_bytes(selection, missing)),
        Download("JSON", "json", "application/json",
                 "Every kept passage with its provenance, note and the search it came from.",
                 lambda: sel.json_bytes(selection, missing, index=index)),
        Download("Markdown", "md", "text/markdown", "A numbered list of citations with the quoted text and your notes.",
                 lambda: sel.markdown(selection, missing, index=index)),
        Download("BibTeX", "bib", "application/x-bibtex",
                 "One @misc entry per passage: source, title, section, page, position, id, address, dates, path, "
                 "note, quote.", lambda: sel.bibtex(selection, missing)),
        Download("RIS", "ris", "application/x-research-info-systems",
                 "For Zotero, EndNote, Mendeley: one record per passage with source, title, section, page, passage "
                 "number and id, address, document date and access date, note and quote.",
                 lambda: sel.ris_text(selection, missing).encode("utf-8")),
        Download("CSL-JSON", "csl.json", "application/vnd.citationstyles.csl+json",
                 "For Zotero and Pandoc: one CSL item per passage, the same fields as RIS.",
                 lambda: sel.csl_json(selection, missing)),
    ]
