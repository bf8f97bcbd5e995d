"""`kb check`: is the index whole, and if not, what to run.

An index can be damaged behind kb's back: a disk error, a copy cut short, a file deleted or edited by
hand. Whoosh notices some of it late and in its own words (``EOFError``, a pickle error, a
``FileNotFoundError`` naming an internal file) and some of it not at all: 64 flipped bytes in a term
dictionary silently turned 7 matching passages into 6. So every commit records a checksum of each
file of the committed generation (``record_checksums``), and ``check_index`` verifies, one line per
problem with the command that fixes it:

- ``kb.json`` readable, naming a store inside the index folder, of this kb's schema;
- the store's table of contents and every segment readable;
- every file of the generation present with the checksum it had when committed;
- the manifest (one record per document) matching what is searchable: each document has exactly
  the passages it says it has;
- no ingest running (a note, not a problem) and no half-written store left (the next ingest
  removes it);
- the selection file readable.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kb.model import KbError

#: What only a damaged index file raises while searching (a truncated segment, a table of contents that
#: is not a pickle): callers (the CLI, the page) turn these into one line with ``kb.index.damaged``.
DAMAGE_SIGNS: tuple[type[BaseException], ...] = (EOFError, pickle.UnpicklingError, struct.error, zlib.error)

#: In each store: name -> [size, mtime_ns, sha256] of the files of the last committed generation.
CHECKSUM_FILE = "kb-checksums.json"
_CHUNK = 1 << 20


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_CHUNK):
            h.update(block)
    return h.hexdigest()


def _index_files(store_dir: Path) -> list[Path]:
    """Whoosh's files in a store (its table of contents and segments), not kb's own."""
    return sorted(p for p in store_dir.iterdir()
                  if p.is_file() and not p.name.startswith((".", "kb-")) and not p.name.endswith(("LOCK", ".lock")))


def record_checksums(store_dir: Path) -> None:
    """After a commit: the checksum of every index file in the store. Segment files never change once
    written, so a file whose size and modification time are as recorded keeps its recorded sum: each
    commit hashes only what it wrote. A failure to record is not a failure of the commit."""
    path = store_dir / CHECKSUM_FILE
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        old = {}
    sums: dict[str, list[Any]] = {}
    try:
        for f in _index_files(store_dir):
            st = f.stat()
            before = old.get(f.name)
            if isinstance(before, list) and before[:2] == [st.st_size, st.st_mtime_ns]:
                sums[f.name] = before
            else:
                sums[f.name] = [st.st_size, st.st_mtime_ns, _sha256(f)]
        tmp = store_dir / f".{CHECKSUM_FILE}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(sums, indent=0, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass


@dataclass(frozen=True, slots=True)
class Problem:
    what: str
    fix: str
    serious: bool = True  # False: a note (an ingest running, a leftover that cleans itself up)

    def line(self) -> str:
        return f"{'problem' if self.serious else 'note'}: {self.what}" + (f"; {self.fix}" if self.fix else "")


@dataclass(slots=True)
class CheckReport:
    index: str
    problems: list[Problem]
    documents: int = 0
    passages: int = 0
    files_verified: int = 0

    @property
    def ok(self) -> bool:
        return not any(p.serious for p in self.problems)

    def lines(self) -> list[str]:
        out = [p.line() for p in self.problems]
        if self.ok:
            out.append(f"The index at {self.index} is whole: {self.documents} documents, {self.passages} passages, "
                       f"{self.files_verified} files match their checksums.")
        else:
            out.append(f"The index at {self.index} is damaged. `kb ingest --rebuild` builds it again from the "
                       "documents (your selection and search history are kept).")
        return out


REBUILD = "run `kb ingest --rebuild` (your selection and search history are kept)"


def check_index(root: str | os.PathLike[str]) -> CheckReport:
    from kb.index import IndexMeta
    from kb.index.store import NoTableOfContents, open_store
    from kb.locks import index_writer

    root = Path(root)
    report = CheckReport(index=str(root), problems=[])
    add = report.problems.append
    writer = index_writer(root)
    if writer is not None:
        add(Problem(f"an ingest is writing to the index now ({writer.describe()})",
                    "check again when it has finished", serious=False))
    try:
        meta = IndexMeta.read(root)
    except KbError as exc:
        add(Problem(str(exc).split(". ")[0], "run `kb ingest` (or `kb ingest --rebuild`)"))
        return report
    store = root / meta.store
    for other in sorted(root.glob("store-*")):
        if other.name != meta.store and other.is_dir():
            add(Problem(f"{other.name} is left from an ingest that did not finish",
                        "the next `kb ingest` removes it", serious=False))
    if not store.is_dir():
        add(Problem(f"the live store {meta.store} is missing", REBUILD))
        return report
    try:
        ix, toc = open_store(store)
    except NoTableOfContents:
        add(Problem(f"the table of contents of {meta.store} is missing", REBUILD))
        return report
    except Exception as exc:  # whatever Whoosh raises on a damaged table of contents
        add(Problem(f"the table of contents of {meta.store} cannot be read ({_short(exc)})", REBUILD))
        return report
    report.files_verified = _verify_checksums(store, toc, add)
    _verify_contents(ix, report, add, meta.store)
    _check_selection(root, add)
    return report


def _short(exc: BaseException) -> str:
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return re.sub(r"(/[^\s:]+)+/", "", text)[:160]  # internal paths say nothing to a user


def _verify_checksums(store: Path, toc: Any, add: Any) -> int:
    try:
        sums = json.loads((store / CHECKSUM_FILE).read_text(encoding="utf-8"))
    except OSError:
        add(Problem(f"{store.name} has no checksums (built by an older kb, or its {CHECKSUM_FILE} was deleted); "
                    "its files cannot be verified", "`kb ingest --rebuild` records them", serious=False))
        return 0
    except ValueError:
        add(Problem(f"{store.name}/{CHECKSUM_FILE} is damaged", REBUILD))
        return 0
    live_ids = {segment.segment_id() for segment in toc.segments}
    toc_name = f"_MAIN_{toc.generation}.toc"
    verified = 0
    for name, (size, _mtime, digest) in sorted(sums.items()):
        if name != toc_name and not any(seg in name for seg in live_ids):
            continue  # a file of an older generation
        path = store / name
        if not path.exists():
            add(Problem(f"{store.name}/{name} is missing", REBUILD))
        elif path.stat().st_size != size or _sha256(path) != digest:
            add(Problem(f"{store.name}/{name} is damaged (its checksum differs from the one recorded at commit)",
                        REBUILD))
        else:
            verified += 1
    return verified


def _verify_contents(ix: Any, report: CheckReport, add: Any, store_name: str) -> None:
    """Every segment read through, and each document's passages counted against its record."""
    from collections import Counter

    try:
        with ix.searcher() as s:
            reader = s.reader()
            counted: Counter[str] = Counter()
            claimed: dict[str, int] = {}
            for _docnum, fields in reader.iter_docs():
                record = fields.get("record") or {}
                if "passage_id" not in record:  # a document's record (kind=d); "kind" itself is not stored
                    claimed[record.get("doc_id", "")] = int(record.get("passages", 0))
                else:
                    counted[record.get("doc_id", "")] += 1
            for fieldname in ("text", "doc_id"):
                for _term in reader.lexicon(fieldname):
                    pass
    except Exception as exc:  # a damaged segment: whatever the codec runs into
        add(Problem(f"a segment of {store_name} cannot be read ({_short(exc)})", REBUILD))
        return
    report.documents, report.passages = len(claimed), sum(counted.values())
    wrong = [d for d in claimed if claimed[d] != counted.get(d, 0)]
    orphans = [d for d in counted if d not in claimed]
    if wrong or orphans:
        add(Problem(f"{len(wrong) + len(orphans)} documents do not have the passages their record says "
                    "(the manifest does not match what is searchable)", REBUILD))


def _check_selection(root: Path, add: Any) -> None:
    from kb.selection import Selection, selection_path

    path = selection_path(root)
    if not path.exists():
        return
    try:
        Selection.from_json_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        add(Problem(f"the selection {path.name} cannot be read ({_short(exc)})",
                    f"open the page (it moves the file aside to {path.name}.bad) or fix the file by hand"))
