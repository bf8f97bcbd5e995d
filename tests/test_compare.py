"""Comparing sources: grouping by source, attributed doses, conflicts (like with like), table, JSON, CLI."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pytest

from kb.cli import main
from kb.compare import FRAME_COLUMNS, Comparison, compare
from kb.ingest import ingest
from kb.model import KbError
from kb.search import KnowledgeBase

OTHER = "Other text about the weather, the sea and the hills, so that the passage stands on its own."


def corpus(tmp_path: Path, files: dict[str, tuple[str | None, str]]) -> KnowledgeBase:
    """Writes ``{name: (source or None, text)}`` with a kb-metadata.json, ingests it, opens it."""
    folder = tmp_path / "docs"
    folder.mkdir()
    meta = {}
    for name, (source, text) in files.items():
        (folder / name).write_text(text, encoding="utf-8")
        if source is not None:
            meta[name] = {"source": source}
    (folder / "kb-metadata.json").write_text(json.dumps(meta), encoding="utf-8")
    ingest([folder], index=tmp_path / "index")
    return KnowledgeBase.open(tmp_path / "index")


def article(title: str, *paragraphs: str) -> str:
    return f"{title}\n\n" + "\n\n".join(paragraphs) + "\n"


def by_source(comparison: Comparison) -> dict[str, list[tuple[str, float | None]]]:
    return {v.name: sorted((d.dose.kind, d.dose.mg_per_day) for d in v.doses) for v in comparison.sources}


@pytest.fixture
def two_sources(tmp_path):
    return corpus(tmp_path, {
        "a.txt": ("Health Site A", article(
            "Baclofen dosing guide",
            "The starting dose of baclofen is 5 mg taken three times daily for adults with spasticity.",
            "The maximum dose of baclofen is 80 mg per day, taken by mouth in divided doses.",
            OTHER)),
        "b.txt": ("Clinic B", article(
            "Baclofen: what patients ask",
            "Adults begin baclofen at 10 mg three times a day.",
            "The recommended daily dosage of baclofen is no more than 100mg.",
            OTHER)),
    })


def test_conflicting_maximum_and_starting_doses(two_sources):
    c = compare(two_sources, "baclofen")
    assert [v.name for v in c.sources] == ["Clinic B", "Health Site A"]
    assert by_source(c) == {"Clinic B": [("maximum", 100), ("starting", 30)],
                            "Health Site A": [("maximum", 80), ("starting", 15)]}
    conflicts = {x.kind: x for x in c.conflicts}
    assert set(conflicts) == {"maximum", "starting"}
    maximum = conflicts["maximum"]
    assert (maximum.drug, maximum.route) == ("baclofen", "oral")
    assert maximum.values == {"Clinic B": "100", "Health Site A": "80"}
    assert maximum.field == "maximum dose of baclofen (oral), mg/day"
    assert "Clinic B states no route; compared as oral" in maximum.note  # Clinic B never names a route
    for source, ids in maximum.evidence.items():  # the evidence is the passage that says it
        view = next(v for v in c.sources if v.name == source)
        texts = [p.text for p in view.passages if p.passage_id in ids]
        assert any(("100mg" if source == "Clinic B" else "80 mg per day") in t for t in texts)
    assert conflicts["starting"].values == {"Clinic B": "30", "Health Site A": "15"}


def test_agreeing_and_overlapping_sources_do_not_conflict(tmp_path):
    kb = corpus(tmp_path, {
        "a.txt": ("A", article("Baclofen", "Baclofen: the starting dose is 5 mg three times daily.",
                               "The maintenance dose of baclofen is 40 to 80 mg/day.", OTHER)),
        "b.txt": ("B", article("Baclofen", "Baclofen treatment should begin with 5 mg TID.",
                               "A usual maintenance dose of baclofen is 60 mg per day.", OTHER)),
    })
    c = compare(kb, "baclofen")
    assert by_source(c) == {"A": [("maintenance", 40), ("starting", 15)], "B": [("maintenance", 60), ("starting", 15)]}
    assert c.conflicts == []
    assert not c.to_frame()["conflict"].any()


def test_like_with_like_only_same_route_and_same_drug(tmp_path):
    kb = corpus(tmp_path, {
        "a.txt": ("A", article("Baclofen", "The maximum oral dose of baclofen is 80 mg per day.", OTHER)),
        "b.txt": ("B", article("Intrathecal baclofen",
                               "The maximum intrathecal dose of baclofen is 800 mcg/day via the pump.", OTHER)),
        "c.txt": ("C", article("Tizanidine", "The maximum dose of tizanidine is 36 mg per day, taken orally.",
                               OTHER)),
    })
    c = compare(kb, "maximum dose")
    doses = {(d.source, d.drug, d.route, d.dose.mg_per_day) for v in c.sources for d in v.doses}
    assert doses == {("A", "baclofen", "oral", 80), ("B", "baclofen", "intrathecal", 0.8),
                     ("C", "tizanidine", "oral", 36)}
    assert c.conflicts == []


def test_an_unstated_route_is_only_assumed_when_it_is_the_only_one(tmp_path):
    kb = corpus(tmp_path, {
        "a.txt": ("A", article("Baclofen", "The maximum oral dose of baclofen is 80 mg per day.", OTHER)),
        "b.txt": ("B", article("Intrathecal baclofen",
                               "The maximum intrathecal dose of baclofen is 800 mcg/day via the pump.", OTHER)),
        "c.txt": ("C", article("Baclofen facts", "Never take more than 120 mg of baclofen a day.", OTHER)),
    })
    c = compare(kb, "baclofen")
    assert {d.source: d.route for v in c.sources for d in v.doses} == {"A": "oral", "B": "intrathecal", "C": ""}
    assert c.conflicts == []  # oral and intrathecal both given: C's 120 mg/day is compared with neither


def test_documents_without_a_source_are_grouped_by_title_and_tags_kept(tmp_path):
    kb = corpus(tmp_path, {
        "a.txt": (None, article("Baclofen notes", "The maximum dose of baclofen is 80 mg per day.", OTHER)),
        "b.txt": (None, article("Baclofen leaflet", "Do not take more than 60 mg of baclofen a day.", OTHER)),
        "c.txt": ("Named", article("Baclofen page", "Baclofen is taken as tablets.", OTHER)),
    })
    c = compare(kb, "baclofen")
    assert [(v.name, v.named) for v in c.sources] == [("Named", True), ("Baclofen leaflet", False),
                                                      ("Baclofen notes", False)]
    assert c.sources[0].doses == [] and c.sources[0].tags["drug"] == ["baclofen"]
    assert c.sources[0].tags["route"] == ["oral"]
    assert [x.values for x in c.conflicts] == [{"Baclofen leaflet": "60", "Baclofen notes": "80"}]
    assert "No route is stated" in c.conflicts[0].note


def test_frame_one_row_per_source_and_kind(two_sources):
    frame = compare(two_sources, "baclofen").to_frame()
    assert list(frame.columns) == list(FRAME_COLUMNS)
    rows = {(r.source, r.kind): r for r in frame.itertuples()}
    assert set(rows) == {("Clinic B", "starting"), ("Clinic B", "maximum"), ("Health Site A", "starting"),
                         ("Health Site A", "maximum")}
    top = rows[("Health Site A", "maximum")]
    assert (top.drug, top.route, top.mg_per_day, top.mg_per_day_low, top.as_written) == (
        "baclofen", "oral", "80", 80.0, "80 mg per day")
    assert top.conflict and top.conflicts_with == "Clinic B"
    assert rows[("Clinic B", "maximum")].route == ""
    assert "compared as oral" in rows[("Clinic B", "maximum")].note
    assert frame["conflict"].dtype == bool and frame["mg_per_day_low"].dtype == "float64"


def test_frame_row_for_a_source_with_no_dose(tmp_path):
    kb = corpus(tmp_path, {"a.txt": ("A", article("Baclofen", "Baclofen relaxes muscles.", OTHER))})
    frame = compare(kb, "baclofen").to_frame()
    assert len(frame) == 1
    assert frame.loc[0, "kind"] == "" and math.isnan(frame.loc[0, "mg_per_day_low"])
    assert frame.loc[0, "note"] == "no dose stated in the matching passages"


def test_to_dict_is_json_with_exact_offsets(two_sources):
    data = json.loads(json.dumps(compare(two_sources, "baclofen").to_dict()))
    assert {"query", "searched", "filters", "topic", "total", "notes", "sources", "conflicts", "table"} <= set(data)
    doses = [(p, d) for s in data["sources"] for p in s["passages"] for d in p["doses"]]
    assert len(doses) == 4
    for passage, dose in doses:
        text = two_sources.document(passage["doc_id"])["text"]
        assert text[dose["doc_start"]:dose["doc_end"]] == dose["text"]
        assert passage["text"][dose["start"]:dose["end"]] == dose["text"]
    conflict = next(c for c in data["conflicts"] if c["kind"] == "maximum")
    assert conflict["values"] == {"Clinic B": "100", "Health Site A": "80"}
    assert all(conflict["evidence"][s] for s in conflict["values"])


def test_any_word_query_topic_and_filters(two_sources):
    c = compare(two_sources, "maximum 100mg")
    assert c.searched == "maximum 100mg" and c.notes[0].startswith("Passages with any of the words")
    assert {v.name for v in c.sources} == {"Clinic B", "Health Site A"}
    assert compare(two_sources, '"maximum dose"').searched == '"maximum dose"'  # syntax is searched as written
    only_b = compare(two_sources, "baclofen", ["source=Clinic B"])
    assert [v.name for v in only_b.sources] == ["Clinic B"] and only_b.conflicts == []
    assert compare(two_sources, topic="dosage").filters == {"topic": ["dosage"]}
    with pytest.raises(KbError, match="Unknown topic 'dosing'"):
        compare(two_sources, topic="dosing")
    empty = compare(two_sources, "zebra")
    assert empty.total == 0 and empty.sources == [] and empty.conflicts == []


def test_bundled_sample_flags_the_80_vs_100_maximum(tmp_path):
    ingest(index=tmp_path / "index")
    with KnowledgeBase.open(tmp_path / "index") as kb:
        for c in (compare(kb, "maximum dose"), compare(kb, topic="dosage")):
            [conflict] = c.conflicts
            assert (conflict.drug, conflict.kind, conflict.route) == ("baclofen", "maximum", "oral")
            assert conflict.values == {"Addiction Intervention": "100",
                                       "Baclofen: Uses, Side Effects, Dosage and Precautions": "80"}
        starting = {(d.source, d.dose.mg_per_day) for v in c.sources for d in v.doses if d.dose.kind == "starting"}
        assert starting == {("The Recovery Village", 15), ("Baclofen: Uses, Side Effects, Dosage and Precautions", 15)}
        unnamed = next(v for v in c.sources if not v.named)
        assert unnamed.titles == ["Baclofen: Uses, Side Effects, Dosage and Precautions"]


# ---------------------------------------------------------------------------------------------------- CLI


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


def test_cli_compare_table_and_json(two_sources):
    index = str(two_sources.root)
    code, out = run("compare", "baclofen", "--index", index)
    assert code == 0
    assert "CONFLICT  maximum dose of baclofen (oral), mg/day: 100 (Clinic B) vs 80 (Health Site A)" in out
    assert "no more than **100mg**" in out
    code, out = run("compare", "baclofen", "--index", index, "--format", "json", "--filter", "source=Health Site A")
    data = json.loads(out)
    assert code == 0 and [s["name"] for s in data["sources"]] == ["Health Site A"] and data["conflicts"] == []


def test_cli_compare_errors_are_one_line(two_sources, capsys):
    code, _ = run("compare", "baclofen", "--index", str(two_sources.root), "--topic", "nope")
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("Error: Unknown topic 'nope'") and err.count("\n") == 1
