"""Exports that stream: every match written a page of hits at a time gives exactly the bytes of the
whole result written at once, with a byte-order mark on standard output too. (Peak memory at 100,000
passages is measured by scripts/export_peak.py, not here.)"""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from kb import results as export_shapes
from kb.ingest import ingest
from kb.model import KbError
from kb.results import csv_bytes, iter_hits, to_json_dict, write_csv, write_json
from kb.search import KnowledgeBase
from tests.test_ingest import REPO, many_files


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("stream")
    ingest([many_files(root / "docs", 12)], index=root / "index")
    return root / "index"


@pytest.mark.parametrize("options", [
    {"sort": "relevance"}, {"sort": "document"}, {"sort": "source", "collapse_duplicates": True},
])
def test_pages_of_hits_write_the_same_csv_and_json_as_the_whole_result(index, options) -> None:
    with KnowledgeBase.open(index) as kb:
        whole = kb.search("baclofen", limit=None, **options)
        assert whole.total > 20
        results, hits = iter_hits(kb, "baclofen", page=7, **options)
        streamed = io.BytesIO()
        assert write_csv(hits, streamed) == len(whole.hits)
        assert streamed.getvalue() == csv_bytes(whole)
        results, hits = iter_hits(kb, "baclofen", page=5, **options)
        out = io.StringIO()
        write_json(results, out, hits)
        expected = to_json_dict(whole)
        assert json.loads(out.getvalue()) == expected


def test_offset_and_limit_are_kept_across_pages(index) -> None:
    with KnowledgeBase.open(index) as kb:
        whole = kb.search("", limit=None, sort="document")
        _, hits = iter_hits(kb, "", offset=5, limit=11, page=3, sort="document")
        assert [h.passage.passage_id for h in hits] == [h.passage.passage_id for h in whole.hits[5:16]]
        assert [h.rank for h in iter_hits(kb, "", offset=5, limit=11, page=3, sort="document")[1]] == list(
            range(6, 17))


def test_an_ingest_committing_during_an_export_is_reported(tmp_path) -> None:
    index = tmp_path / "index"
    ingest([many_files(tmp_path / "docs", 4)], index=index)
    with KnowledgeBase.open(index) as kb:
        _, hits = iter_hits(kb, "", page=4)
        next(hits)
        ingest([many_files(tmp_path / "more", 1)], index=index)
        with pytest.raises(KbError, match="index changed while the export"):
            list(hits)


def test_csv_on_standard_output_starts_with_a_byte_order_mark(index) -> None:
    """Issue 12: `kb search --format csv` to standard output had none, though the README says so."""
    done = subprocess.run([sys.executable, "-m", "kb", "search", "baclofen", "--index", str(index), "--format", "csv"],
                          cwd=REPO, capture_output=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(b"\xef\xbb\xbfrank,score,passage_id,")
    assert done.stdout.count(b"\xef\xbb\xbf") == 1


def test_the_cli_json_export_is_the_documented_shape(index) -> None:
    done = subprocess.run([sys.executable, "-m", "kb", "search", "baclofen", "--index", str(index), "--format", "json",
                           "--limit", "0"], cwd=REPO, capture_output=True, text=True)
    data = json.loads(done.stdout)
    assert list(data) == ["query", "filters", "total", "offset", "limit", "sort", "hits", "facets", "not_stated",
                          "suggestion", "notes"]
    assert data["limit"] is None and len(data["hits"]) == data["total"] > export_shapes.EXPORT_PAGE // 100
