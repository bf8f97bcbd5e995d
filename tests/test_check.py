"""`kb check` and honest damage reports: every kind of damage is one line saying what to run, never a
traceback, and what the line says repairs it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from kb.check import check_index
from kb.ingest import ingest
from kb.search import KnowledgeBase
from kb.selection import SelectionError, SelectionStore
from tests.test_faults import read_only
from tests.test_ingest import many_files
from tests.test_locks import kb_cli
from tests.test_selection import passage


@pytest.fixture(scope="module")
def whole(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("whole")
    ingest([many_files(root / "docs", 6)], index=root / "index")
    return root


@pytest.fixture
def index(whole: Path, tmp_path: Path) -> Path:
    """A copy of a whole index (and its documents, at the same relative place) to damage."""
    shutil.copytree(whole / "index", tmp_path / "index")
    return tmp_path / "index"


def store(index: Path) -> Path:
    return next(index.glob("store-*"))


def segment(index: Path) -> Path:
    return next(store(index).glob("*.seg"))


def one_line(done) -> str:
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith("Error: ")
    return line


def test_a_whole_index_checks_clean(index: Path) -> None:
    report = check_index(index)
    assert report.ok and report.documents == 6 and report.passages > 6 and report.files_verified >= 2
    done = kb_cli("check", "--index", str(index))
    assert done.returncode == 0 and "is whole: 6 documents" in done.stdout


def test_flipped_bytes_in_a_segment_are_found_by_their_checksum(index: Path) -> None:
    """Issue 12: 64 flipped bytes silently changed counts; `kb check` names the file."""
    seg = segment(index)
    data = bytearray(seg.read_bytes())
    for i in range(64):
        data[len(data) // 2 + i] ^= 0xFF
    seg.write_bytes(bytes(data))
    done = kb_cli("check", "--index", str(index))
    assert done.returncode == 1
    assert f"problem: {store(index).name}/{seg.name} is damaged (its checksum differs" in done.stdout
    assert "kb ingest --rebuild" in done.stdout


@pytest.mark.parametrize("damage", ["truncated segment", "deleted segment", "deleted toc", "garbage toc"])
def test_damage_is_one_line_from_every_command_and_a_rebuild_repairs_it(index: Path, damage: str) -> None:
    SelectionStore.for_index(index).add(passage(1))
    if damage == "truncated segment":
        seg = segment(index)
        seg.write_bytes(seg.read_bytes()[:3000])
    elif damage == "deleted segment":
        segment(index).unlink()
    elif damage == "deleted toc":
        next(store(index).glob("_MAIN_*.toc")).unlink()
    else:
        next(store(index).glob("_MAIN_*.toc")).write_bytes(b"not a table of contents")
    for cache in store(index).glob("kb-cache-*"):
        cache.unlink()
    for command in (["search", "drowsiness"], ["stats"], ["show", "x"], ["ingest", "--quiet"]):
        line = one_line(kb_cli(*command, "--index", str(index)))
        assert "kb ingest --rebuild" in line, (command, line)
        assert "/store-" not in line, line  # no internal paths
    checked = kb_cli("check", "--index", str(index))
    assert checked.returncode == 1 and "problem: " in checked.stdout and "Traceback" not in checked.stderr
    rebuilt = kb_cli("ingest", "--rebuild", "--quiet", "--index", str(index))
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "rebuilt: kept your selection (1 kept passages)" in rebuilt.stdout
    assert check_index(index).ok
    with KnowledgeBase.open(index) as kb:
        assert kb.stats()["documents"] == 6
    assert len(SelectionStore.for_index(index).load()) == 1


def test_kb_json_cannot_name_a_store_outside_its_folder(index: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    shutil.copytree(index, other)
    meta = json.loads((index / "kb.json").read_text())
    meta["store"] = f"../other/{meta['store']}"
    (index / "kb.json").write_text(json.dumps(meta))
    before = sorted(p.name for p in other.rglob("*"))
    for command in (["search", "drowsiness"], ["ingest", "--quiet"]):
        line = one_line(kb_cli(*command, "--index", str(index)))
        assert "which is not a store inside" in line
    assert sorted(p.name for p in other.rglob("*")) == before


def test_a_read_only_index_without_its_cache_file_is_searchable(index: Path) -> None:
    """Issue 12: `OSError: Read-only file system` from search, stats and the page."""
    for cache in store(index).glob("kb-cache-*"):
        cache.unlink()
    with read_only(index):
        done = kb_cli("search", "drowsiness", "--index", str(index))
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
        assert kb_cli("stats", "--index", str(index)).returncode == 0
        with KnowledgeBase.open(index) as kb:
            assert kb.search("drowsiness").total > 0
        with pytest.raises(SelectionError, match="read-only"):
            SelectionStore.for_index(index).add(passage(1))
        assert "read-only" in one_line(kb_cli("ingest", "--quiet", "--index", str(index)))


def test_the_page_says_what_is_damaged_and_offers_the_rebuild(index: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from streamlit.testing.v1 import AppTest

    from tests.test_app import APP, TIMEOUT

    SelectionStore.for_index(index).add(passage(1))
    seg = segment(index)
    seg.write_bytes(seg.read_bytes()[:3000])
    for cache in store(index).glob("kb-cache-*"):
        cache.unlink()
    monkeypatch.setenv("KB_INDEX", str(index))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception
    [error] = at.error
    assert "cannot be read" in error.value and "kb ingest --rebuild" in error.value and "/store-" not in error.value
    [rebuild] = [b for b in at.button if b.label.startswith("Rebuild the index")]
    at = rebuild.click().run()
    assert not at.exception
    assert "Your selection was kept" in at.success[0].value
    assert check_index(index).ok and len(SelectionStore.for_index(index).load()) == 1
