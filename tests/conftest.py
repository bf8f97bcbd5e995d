"""Fixtures shared by the suite: indexes built in temporary folders, and the optional shared corpora."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kb.index import IndexWriter, open_writer
from kb.model import Document, Passage

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent: tests on the shared corpora are skipped")
    return SHARED


@pytest.fixture
def seeds_dir() -> Path:
    folder = SHARED / "seeds"
    if not folder.is_dir():
        pytest.skip(f"seed articles not found at {folder} (shared/ is absent)")
    return folder


@pytest.fixture
def labels_dir() -> Path:
    folder = SHARED / "corpora" / "fda-labels"
    if not folder.is_dir():
        pytest.skip(f"FDA labels not found at {folder} (shared/ is absent)")
    return folder


@dataclass
class P:
    """A passage to put in a test index: text plus the tags the test wants it to carry."""

    text: str
    section: str = ""
    boilerplate: bool = False
    tags: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class D:
    title: str
    passages: Sequence[P]
    source: str = ""
    doc_id: str = ""
    url: str = ""
    date: str = ""  # yyyy[-mm[-dd]]


def build_index(root: Path, docs: Sequence[D]) -> Path:
    """Writes ``docs`` straight into an index (no chunker or tagger: the test decides the tags)."""
    writer, meta, _ = open_writer(root, rebuild=True, settings={})
    for n, d in enumerate(docs):
        build_into(writer, d, n)
    writer.commit()
    meta.write(root)
    return root


def build_into(writer: IndexWriter, d: D, n: int = 0) -> None:
    """Adds one test document (and its passages) to an open writer."""
    doc_id = d.doc_id or f"doc{n}"
    text = "\n\n".join(p.text for p in d.passages)
    doc = Document(doc_id=doc_id, path=f"/corpus/{doc_id}.txt", title=d.title, source=d.source, text=text,
                   sha256=f"sha{n}", meta={k: v for k, v in (("url", d.url), ("date", d.date)) if v})
    passages, cursor = [], 0
    for i, p in enumerate(d.passages):
        start = text.index(p.text, cursor)
        cursor = start + len(p.text)
        passages.append(Passage(
            passage_id=f"{doc_id}-{i}", doc_id=doc_id, title=d.title, source=d.source, path=doc.path,
            section=p.section, position=i, char_start=start, char_end=cursor, text=p.text,
            boilerplate=p.boilerplate, tags={k: sorted(v) for k, v in p.tags.items()}, url=d.url, date=d.date,
            ingested="2026-11-20" if d.url or d.date else "",
        ))
    writer.add_document(doc, passages, "test")


@pytest.fixture
def make_index(tmp_path: Path) -> Callable[[Sequence[D]], Path]:
    counter = iter(range(1000))

    def make(docs: Sequence[D]) -> Path:
        return build_index(tmp_path / f"index{next(counter)}", docs)

    return make


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled sample corpus, ingested once for the session (read-only for tests)."""
    from kb.ingest import ingest

    root = tmp_path_factory.mktemp("sample") / "index"
    ingest(index=root)
    return root
