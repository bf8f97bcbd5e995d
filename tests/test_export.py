"""Exports: one column order, spreadsheet-safe cells, exact bytes, and a lossless round trip."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kb.export import COLUMNS, csv_bytes, guard_cell, read_csv, to_json_dict, unguard_cell, write_csv
from kb.search import KnowledgeBase
from tests.conftest import D, P

DOCS = [D("Risks, \"quoted\" title", source="=HYPERLINK(\"http://x\")", passages=[
    P("- Dizziness\n- Nausea", "Side Effects",
      tags={"side_effect": ["dizziness", "nausea"], "topic": ["side_effects"]}),
    P("+1 more: @mention, tab\there, ünïcödé.", "Notes"),
])]


@pytest.fixture
def results(make_index):
    with KnowledgeBase.open(make_index(DOCS)) as kb:
        yield kb.search("", limit=None, sort="document")


@pytest.mark.parametrize(("cell", "guarded"), [
    ("- Dizziness", "'- Dizziness"), ("=1+1", "'=1+1"), ("+44 20", "'+44 20"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\tx", "'\tx"), ("\rx", "'\rx"), ("'=already", "''=already"), ("plain", "plain"), ("", ""),
    ("a - b", "a - b"), ("'quoted'", "'quoted'"),
])
def test_guard_cell(cell, guarded):
    assert guard_cell(cell) == guarded
    assert unguard_cell(guarded) == cell


@given(st.text())
def test_guard_is_reversible_and_never_leaves_a_formula(cell):
    guarded = guard_cell(cell)
    assert unguard_cell(guarded) == cell
    assert not guarded.startswith(("=", "+", "-", "@", "\t", "\r"))


def test_csv_is_exactly_the_documented_file(results):
    buffer = io.StringIO()
    write_csv(results, buffer)
    expected = (
        "\ufeffrank,score,passage_id,title,source,section,position,page,text,topic,severity,route,side_effect,condition,"
        "substance,drug,boilerplate,duplicates,doc_id,path,char_start,char_end\r\n"
        "1,0.0,doc0-0,\"Risks, \"\"quoted\"\" title\",\"'=HYPERLINK(\"\"http://x\"\")\",Side Effects,0,,"
        "\"'- Dizziness\n- Nausea\",side_effects,,,dizziness; nausea,,,,False,,doc0,/corpus/doc0.txt,0,20\r\n"
        "2,0.0,doc0-1,\"Risks, \"\"quoted\"\" title\",\"'=HYPERLINK(\"\"http://x\"\")\",Notes,1,,"
        "\"'+1 more: @mention, tab\there, ünïcödé.\",,,,,,,,False,,doc0,/corpus/doc0.txt,22,59\r\n"
    )
    assert buffer.getvalue() == expected


def test_csv_bytes_start_with_a_byte_order_mark_for_spreadsheets(results):
    data = csv_bytes(results)
    assert data.startswith(b"\xef\xbb\xbfrank,score,")
    assert "ünïcödé".encode() in data


def test_csv_round_trips_through_pandas(results, tmp_path):
    path = tmp_path / "out.csv"
    results.to_csv(path)
    back = read_csv(path)
    frame = results.to_frame()
    assert list(back.columns) == list(COLUMNS) == list(frame.columns)
    for col in COLUMNS:
        assert back[col].tolist() == frame[col].tolist(), col


def test_frame_keeps_facets_as_lists(results):
    frame = results.to_frame()
    assert frame.loc[0, "side_effect"] == ["dizziness", "nausea"]
    assert frame["boilerplate"].dtype == bool


def test_json_shape(results):
    data = to_json_dict(results)
    assert {"query", "total", "hits", "facets", "suggestion"} <= set(data)
    hit = data["hits"][0]
    assert set(COLUMNS) | {"highlight"} <= set(hit)
    assert hit["side_effect"] == ["dizziness", "nausea"] and hit["boilerplate"] is False
    assert data["facets"]["side_effect"] == {"dizziness": 1, "nausea": 1}
