"""The openFDA drug labels as a benchmark corpus: real drug text, at its own size or scaled up.

``../shared/corpora/openfda/drug-label-sample.json.zip`` holds 332 US drug labels in the layout of
openFDA's bulk downloads; kb reads it as it is (kb/readers_openfda.py), one document per label,
about 32,000 passages. For a larger corpus the labels are repeated, each copy with its own set id
("<set id>-copy<k>"), and written as bulk-download zips in a folder
(``drug-label-0001-of-0032.json.zip``, ...), as a researcher's download of many labels would be. The
text is unchanged, so the word statistics (vocabulary, document frequencies, lengths) stay those of
real labels; only the number of copies grows. The last copy takes only as many labels as the
wanted size needs, using each label's passage count (kb's chunker, run once and kept beside the
corpus).
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SAMPLE = Path(__file__).resolve().parents[2].parent / "shared" / "corpora" / "openfda" / "drug-label-sample.json.zip"


def load_bulk(path: Path) -> dict[str, Any]:
    """The bulk file's JSON ({"meta": ..., "results": [...]}), whole: the sample is 30 MB."""
    with zipfile.ZipFile(path) as zf:
        member = next(n for n in zf.namelist() if n.endswith(".json"))
        return json.loads(zf.read(member))


def passages_per_label(path: Path, cache: Path) -> list[int]:
    """How many passages kb cuts each label into (chunking only, no tagging), kept in ``cache``."""
    if cache.is_file():
        return json.loads(cache.read_text(encoding="utf-8"))
    from kb import readers
    from kb.chunk import chunk_document

    counts = []
    for row in readers.read_rows(path):
        if row.error:
            counts.append(0)
            continue
        doc = readers.row_document(path, row, doc_id="x", fmt="json")
        counts.append(len(chunk_document(doc, min_words=40, max_words=150)))
    cache.write_text(json.dumps(counts), encoding="utf-8")
    return counts


def copies_for(size: int, counts: list[int]) -> list[int]:
    """How many labels each copy takes: whole copies, then as many labels as reach ``size`` passages."""
    per_copy = sum(counts)
    whole = size // per_copy
    plan = [len(counts)] * whole
    rest, taken = size - whole * per_copy, 0
    while rest > 0 and taken < len(counts):
        rest -= counts[taken]
        taken += 1
    if taken:
        plan.append(taken)
    return plan or [len(counts)]


def _copy_labels(labels: list[dict[str, Any]], k: int, n: int) -> Iterator[dict[str, Any]]:
    for label in labels[:n]:
        copy = dict(label)
        for key in ("set_id", "id"):
            if isinstance(copy.get(key), str):
                copy[key] = f"{copy[key]}-copy{k}"
        yield copy


def write_scaled(folder: Path, size: int, source: Path = SAMPLE) -> tuple[int, int]:
    """Bulk-layout zips in ``folder`` holding labels for about ``size`` passages; (labels, files).
    Written once: an existing complete folder is reused."""
    done = folder / "complete.json"
    if done.is_file():
        info = json.loads(done.read_text(encoding="utf-8"))
        return info["labels"], info["files"]
    folder.mkdir(parents=True, exist_ok=True)
    bulk = load_bulk(source)
    labels = bulk["results"]
    counts = passages_per_label(source, folder.parent / f"{source.stem}.passages.json")
    plan = copies_for(size, counts)
    total = 0
    for k, n in enumerate(plan, start=1):
        body = json.dumps({"meta": bulk.get("meta", {}), "results": list(_copy_labels(labels, k, n))})
        name = f"drug-label-{k:04d}-of-{len(plan):04d}.json"
        with zipfile.ZipFile(folder / f"{name}.zip", "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
            zf.writestr(name, body)
        total += n
    done.write_text(json.dumps({"labels": total, "files": len(plan), "size": size}), encoding="utf-8")
    return total, len(plan)


def count_labels(source: Path = SAMPLE) -> int:
    return len(load_bulk(source)["results"])


def expected_passages(size: int, counts: list[int]) -> int:
    plan = copies_for(size, counts)
    return sum(sum(counts[:n]) for n in plan)


__all__ = ["SAMPLE", "copies_for", "count_labels", "expected_passages", "load_bulk", "passages_per_label",
           "write_scaled"]
