"""One field list, every shape (kb/model.py's ``PASSAGE_FIELDS``; kb/results.py, kb/selection.py, ``kb show``).

Each test walks the model's fields as they are when it runs, so a field added to ``Passage`` that one shape
leaves out (the index record, a hit's dict or JSON, the CSV, the DataFrame, the selection, ``kb show``) fails
here, naming the field and the shape. The passage used fills every field with a value of its own, so a shape that
takes one field's value for another fails too.
"""

from __future__ import annotations

import io
import json
from dataclasses import fields
from pathlib import Path

import pytest

from kb import results as shapes
from kb import selection as sel
from kb.cli import main as cli_main
from kb.index import open_snapshot, open_writer
from kb.model import (
    MENTION_FIELDS,
    PASSAGE_FIELDS,
    TAG_FACETS,
    Document,
    Mention,
    Passage,
    mention_record,
    passage_from_record,
    passage_record,
)
from kb.results import COLUMNS, HIT_FIELDS, Hit, Results, hit_json, read_csv, write_csv
from kb.search import Hit as SearchHit
from kb.search import KnowledgeBase
from kb.search import Results as SearchResults


def full_passage() -> Passage:
    """A passage with a distinct, non-default value in every field the model has (a field of a new type fails
    here first, asking for a value)."""
    text = "Baclofen withdrawal can cause seizures and hallucinations."
    values: dict = {}
    for n, f in enumerate(fields(Passage)):
        if f.name == "text":
            values[f.name] = text
        elif f.name == "tags":
            values[f.name] = {k: [f"{k}-a", f"{k}-b"] for k in TAG_FACETS}
        elif f.name == "mentions":
            values[f.name] = [Mention(start=30, end=38, facet="side_effect", value="seizures", role="withdrawal",
                                      severity="serious")]
        elif f.name in ("char_start", "char_end"):
            values[f.name] = {"char_start": 5, "char_end": 5 + len(text)}[f.name]
        elif f.type == "str":
            values[f.name] = f"{f.name} {n}"
        elif f.type == "int":
            values[f.name] = 10 + n
        elif f.type == "bool":
            values[f.name] = True
        else:
            raise AssertionError(f"Passage.{f.name} has a type ({f.type}) this test cannot fill: add it here")
    values["date"] = "2024-05-01"  # kept in iso_date form by the index
    return Passage(**values)


def full_hit() -> Hit:
    return Hit(passage=full_passage(), rank=3, score=1.23456, highlight="**Baclofen** withdrawal", spans=((0, 8),),
               duplicates=("other-1", "other-2"), duplicate_sources=("Elsewhere",))


def results_of(*hits: Hit) -> Results:
    return Results(query="baclofen", filters={}, total=len(hits), offset=0, limit=10, sort="relevance",
                   hits=list(hits), facets={})


def expected_hit_value(p: Passage, name: str):
    return p.number if name == "position" else getattr(p, name)


def test_old_imports_still_work() -> None:
    assert SearchHit is Hit and SearchResults is Results


def test_record_lists_every_field_and_reads_back() -> None:
    p = full_passage()
    record = passage_record(p)
    assert tuple(record) == PASSAGE_FIELDS
    assert tuple(record["tags"]) == TAG_FACETS
    assert tuple(record["mentions"][0]) == MENTION_FIELDS == tuple(mention_record(p.mentions[0]))
    assert passage_from_record(json.loads(json.dumps(record))) == p  # every field survives, as plain JSON


def test_index_stores_and_returns_every_field(tmp_path: Path) -> None:
    p = full_passage()
    doc = Document(doc_id=p.doc_id, path=p.path, title=p.title, source=p.source, text="Note:" + p.text)
    writer, meta, _ = open_writer(tmp_path / "index", rebuild=True, settings={})
    writer.add_document(doc, [p], "test")
    writer.commit()
    meta.write(tmp_path / "index")
    snap = open_snapshot(tmp_path / "index")
    try:
        assert snap.passages([snap.passage_docnum(p.passage_id)]) == [p]
    finally:
        snap.close()
    out = io.StringIO()
    assert cli_main(["show", p.passage_id, "--index", str(tmp_path / "index"), "--format", "json"], out=out) == 0
    shown = json.loads(out.getvalue())["passage"]
    assert tuple(shown) == PASSAGE_FIELDS and passage_from_record(shown) == p


def test_hit_dict_and_json_carry_every_field() -> None:
    hit = full_hit()
    p = hit.passage
    d, js = hit.to_dict(), hit_json(hit)
    assert tuple(d) == HIT_FIELDS and tuple(js) == (*HIT_FIELDS, "mentions")
    for name in PASSAGE_FIELDS:
        if name == "tags":
            for facet in TAG_FACETS:
                assert d[facet] == p.tags[facet], facet
        elif name == "mentions":
            assert js["mentions"] == [mention_record(m) for m in p.mentions]
        else:
            assert d[name] == expected_hit_value(p, name), f"Hit.to_dict: {name}"
    assert (d["rank"], d["score"], d["highlight"], d["duplicates"]) == (3, 1.2346, "**Baclofen** withdrawal",
                                                                        ["other-1", "other-2"])


def test_csv_and_frame_have_a_column_for_every_field_and_read_back() -> None:
    hit = full_hit()
    p = hit.passage
    # every field of the hit but the highlight (the row has the whole text) and the mention spans (JSON only)
    wanted = [n for n in HIT_FIELDS if n != "highlight"]
    assert sorted(COLUMNS) == sorted(wanted)
    buffer = io.BytesIO()
    write_csv(results_of(hit), buffer)
    row = read_csv(io.BytesIO(buffer.getvalue())).iloc[0]
    frame_row = results_of(hit).to_frame().iloc[0]
    for name in PASSAGE_FIELDS:
        if name == "mentions":
            continue
        for column in TAG_FACETS if name == "tags" else (name,):
            want = p.tags[column] if name == "tags" else expected_hit_value(p, name)
            assert row[column] == want, f"CSV: {column}"
            assert frame_row[column] == want, f"DataFrame: {column}"
    assert list(row["duplicates"]) == ["other-1", "other-2"]


def test_selection_keeps_every_field_but_the_tags() -> None:
    kept_fields = {f.name for f in fields(sel.Kept)}
    unaccounted = set(PASSAGE_FIELDS) - kept_fields - set(sel.Kept.NOT_KEPT)
    assert not unaccounted, f"add {sorted(unaccounted)} to kb.selection.Kept, or to Kept.NOT_KEPT with a reason"
    assert set(sel.KEPT_FIELDS) <= set(sel.COLUMNS)
    p = full_passage()
    kept = sel.Kept.from_passage(p, note="a note", query="baclofen", added="2026-11-23T10:00:00Z")
    for name in sel.KEPT_FIELDS:
        assert getattr(kept, name) == getattr(p, name), f"Kept: {name}"
    assert sel.Kept.from_dict(json.loads(json.dumps(kept.to_dict()))) == kept
    rows = json.loads(sel.json_bytes(sel.Selection((kept,))))["passages"]
    for name in sel.KEPT_FIELDS:
        assert rows[0][name] == expected_hit_value(p, name), f"selection JSON: {name}"


@pytest.mark.parametrize("bad", [{"passage_id": "x", "title": 3}, {"passage_id": "x", "position": "3"},
                                 {"passage_id": "x", "char_end": True}])
def test_a_saved_entry_of_the_wrong_type_is_refused(bad: dict) -> None:
    with pytest.raises(ValueError, match="of x is not"):
        sel.Kept.from_dict(bad)


def test_search_results_use_the_same_shapes(make_index) -> None:
    from tests.conftest import D, P

    root = make_index([D("Baclofen", [P("Baclofen can cause drowsiness.", tags={"topic": ["side_effects"]})],
                         source="Src", url="https://example.org/b", date="2024-01")])
    with KnowledgeBase.open(root) as kb:
        results = kb.search("drowsiness")
    assert isinstance(results, shapes.Results) and isinstance(results.hits[0], shapes.Hit)
    data = results.to_json_dict()
    assert tuple(data["hits"][0]) == (*HIT_FIELDS, "mentions")
    assert list(results.to_frame().columns) == list(COLUMNS)
