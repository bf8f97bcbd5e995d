"""Time chunking one long single-line text, to see that it grows linearly with the length.

    python scripts/chunk_scaling.py 0.5 1 2 4 8      # sizes in MB

A text of repeated sentences with no newline is one paragraph of thousands of sentences: the case that
was quadratic (a 50 MB one-line file took 403 s to ingest, issue 12).
"""

from __future__ import annotations

import sys
import time

from kb.chunk import chunk_document
from kb.model import Document

SENTENCE = "Baclofen may cause drowsiness, dizziness and weakness in some patients taking it for spasticity. "


def main(sizes: list[str]) -> None:
    for size in sizes:
        chars = int(float(size) * 1_000_000)
        text = (SENTENCE * (chars // len(SENTENCE) + 1))[:chars]
        doc = Document(doc_id="x", path="/x.txt", title="x", source="", text=text, format="text")
        start = time.perf_counter()
        chunks = chunk_document(doc, min_words=40, max_words=150)
        print(f"{size} MB one line: {len(chunks)} passages in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main(sys.argv[1:] or ["0.5", "1", "2"])
