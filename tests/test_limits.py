"""Per-document limits and isolation: a hostile or broken file is skipped by name with its reason, the
rest of the ingest (and the rest of a table) goes on, and nothing indexed before is lost."""

from __future__ import annotations

import io
import itertools
import json
import re
import zipfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kb import limits
from kb.ingest import ingest
from kb.search import KnowledgeBase
from tests.test_ingest import ARTICLE, many_files


def rows_in(index: Path) -> set[str]:
    with KnowledgeBase.open(index) as kb:
        return {Path(d["path"]).name for d in kb.documents()}


def csv_text(rows: list[tuple[str, str]]) -> str:
    out = io.StringIO()
    import csv

    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["id", "title", "text"])
    for key, text in rows:
        writer.writerow([key, f"Title {key}", text])
    return out.getvalue()


def test_a_csv_cell_over_131072_characters_keeps_the_rest_of_the_table(tmp_path: Path, monkeypatch) -> None:
    """Issue 12: one cell over csv's default limit lost every later row, and on re-ingest removed them."""
    table = tmp_path / "t.csv"
    long_cell = ("Baclofen can cause drowsiness. " * 7000)[:200_000]  # one cell of 200,000 characters
    rows = [(f"r{i}", long_cell if i == 3 else ARTICLE) for i in range(1, 7)]
    table.write_text(csv_text(rows), encoding="utf-8")
    report = ingest([table], index=tmp_path / "index")
    assert len(report.added) == 6 and not report.skipped
    # the same table read with a smaller limit: the long row is named, the rest stays indexed
    monkeypatch.setattr(limits, "MAX_CELL_CHARS", 100_000)
    table.write_text(csv_text([(k, t + (" edited" if k == "r5" else "")) for k, t in rows]), encoding="utf-8")
    report = ingest([table], index=tmp_path / "index")
    [(where, reason)] = report.skipped
    line = table.read_text(encoding="utf-8").splitlines().index(next(
        x for x in table.read_text(encoding="utf-8").splitlines() if x.startswith("r3,"))) + 1
    assert where == f"{table.resolve()}#row3" and reason.startswith(f"line {line} cannot be read")
    assert "100,000" in reason
    assert report.updated == [f"{table.resolve()}#r5"] and not report.removed
    assert rows_in(tmp_path / "index") == {f"t.csv#r{i}" for i in range(1, 7)}


def test_a_long_quoted_cell_over_several_lines_is_passed_over_whole(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(limits, "MAX_CELL_CHARS", 1_000)
    table = tmp_path / "t.csv"
    long_cell = "\n".join(["Baclofen, a line of a long cell."] * 200)
    table.write_text(csv_text([("a", ARTICLE), ("b", long_cell), ("c", ARTICLE)]), encoding="utf-8")
    report = ingest([table], index=tmp_path / "index")
    assert [Path(p).name for p in report.added] == ["t.csv#a", "t.csv#c"]
    [(_, reason)] = report.skipped
    assert "lines 12-211 cannot be read: a cell is over kb's limit of 1,000 characters" in reason


def test_an_unterminated_quote_is_reported_not_merged_into_one_row(tmp_path: Path) -> None:
    """Issue 12: an unterminated quote silently merged two rows into one document."""
    table = tmp_path / "t.csv"
    table.write_text('id,title,text\n'
                     'a,Alpha,Baclofen relaxes muscles.\n'
                     'b,"Beta,Baclofen causes drowsiness.\n'
                     'c,"Gamma",Baclofen withdrawal can cause seizures.\n'
                     'd,Delta,Baclofen is taken orally.\n', encoding="utf-8")
    report = ingest([table], index=tmp_path / "index")
    assert [Path(p).name for p in report.added] == ["t.csv#a", "t.csv#d"]
    [(_, reason)] = report.skipped
    assert reason.startswith("lines 3-4 cannot be read: a quote is left open")
    with KnowledgeBase.open(tmp_path / "index") as kb:
        assert kb.search("drowsiness").total == 0  # no document made of two rows
    table.write_text('id,title,text\na,Alpha,Baclofen relaxes muscles.\nb,"Beta,Baclofen at the end.\n',
                     encoding="utf-8")
    report = ingest([table], index=tmp_path / "index2")
    assert [Path(p).name for p in report.added] == ["t.csv#a"]
    assert "a quote is left open" in report.skipped[0][1]


def test_jsonl_nested_3000_levels_is_one_skipped_line(tmp_path: Path) -> None:
    rows = tmp_path / "r.jsonl"
    lines = [json.dumps({"id": "a", "text": ARTICLE}),
             '{"id": "deep", "text": "nested", "meta": ' + "[" * 3000 + "]" * 3000 + "}",
             json.dumps({"id": "b", "text": ARTICLE + " Second."})]
    rows.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = ingest([rows], index=tmp_path / "index")
    assert [Path(p).name for p in report.added] == ["r.jsonl#a", "r.jsonl#b"]
    assert report.skipped == [(f"{rows.resolve()}#row2", "line 2 nests deeper than 200 levels")]


def docx_bytes(paragraphs: list[str]) -> bytes:
    import docx

    d = docx.Document()
    for text in paragraphs:
        d.add_paragraph(text)
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def rewrite_part(raw: bytes, name: str, change) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(raw)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info, change(data) if info.filename == name else data)
    return out.getvalue()


def test_hostile_and_broken_documents_are_skipped_and_the_ingest_goes_on(tmp_path: Path, monkeypatch) -> None:
    folder = many_files(tmp_path / "docs", 2)
    good = docx_bytes(["Baclofen is a muscle relaxant.", "It can cause drowsiness."])
    (folder / "good.docx").write_bytes(good)
    # nested entity expansion ("billion laughs") in the body
    bomb = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
            + "".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i else "&lol;" * 10}">'
                      for i in range(9)) + ']>').encode()
    (folder / "entities.docx").write_bytes(rewrite_part(good, "word/document.xml",
                                                        lambda data: bomb + data.split(b"?>", 1)[1]))
    (folder / "broken.docx").write_bytes(rewrite_part(good, "word/document.xml", lambda data: data[: len(data) // 2]))
    # a zip bomb: a small file that expands past the limit
    monkeypatch.setattr(limits, "MAX_UNZIPPED_BYTES", 20 * 1024 * 1024)
    (folder / "zipbomb.docx").write_bytes(rewrite_part(good, "word/document.xml",
                                                       lambda data: data + b" " * (30 * 1024 * 1024)))
    assert (folder / "zipbomb.docx").stat().st_size < 1024 * 1024
    (folder / "deep.html").write_text("<html><body>" + "<div>" * 3000 + "Baclofen." + "</div>" * 3000
                                      + "</body></html>", encoding="utf-8")
    monkeypatch.setattr(limits, "MAX_FILE_BYTES", 100_000)
    (folder / "huge.txt").write_text("Baclofen. " * 20_000, encoding="utf-8")
    report = ingest([folder], index=tmp_path / "index")
    assert sorted(Path(p).name for p in report.added) == ["doc0000.txt", "doc0001.txt", "good.docx"]
    reasons = {Path(p).name: r for p, r in report.skipped}
    assert set(reasons) == {"entities.docx", "broken.docx", "zipbomb.docx", "deep.html", "huge.txt"}
    assert "declares XML entities" in reasons["entities.docx"]
    assert re.search(r"expands to 3\d MB, over kb's limit of 20 MB", reasons["zipbomb.docx"])
    assert "nests elements deeper than 500 levels" in reasons["deep.html"]
    assert "over kb's limit of 100,000" in reasons["huge.txt"]
    assert reasons["broken.docx"]  # whatever the XML parser says, by name, and the ingest went on


@pytest.mark.parametrize(("text", "deep"), [
    ("[" * 201 + "]" * 201, True),
    ("[" * 200 + "]" * 200, False),
    ('{"a": "' + "[" * 500 + '"}', False),  # brackets inside a string do not nest
    ('{"a": "\\"' + "[" * 500 + '"}', False),
])
def test_json_depth_is_judged_by_one_scan(text: str, deep: bool) -> None:
    assert limits.json_depth_exceeded(text) is deep


@given(st.lists(st.integers(0, 30), min_size=1, max_size=40), st.floats(-5, 900), st.data())
def test_the_balanced_cut_is_found_by_bisection_as_by_a_full_scan(steps, target, data) -> None:
    """Chunking a long run-on paragraph scanned every candidate for every cut (quadratic: a 50 MB one-line
    text took 403 s); the bisection must pick exactly what the scan picked."""
    from kb.chunk import _nearest_cut

    cumulative = list(itertools.accumulate(steps))
    lowest = data.draw(st.integers(1, len(cumulative)))
    scan = min(range(lowest, len(cumulative) + 1), key=lambda k: (abs(cumulative[k - 1] - target), k))
    assert _nearest_cut(cumulative, target, lowest) == scan
