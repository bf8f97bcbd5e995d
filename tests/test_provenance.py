"""Provenance a citation needs (address, document date, ingest date) from the document to the passage, the
index and every export; passage numbers counted from 1; "not stated" facet values; the year facet and the
sort by date."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import pytest

from kb.ingest import ingest
from kb.model import FACETS, NOT_STATED, Passage
from kb.provenance import kept_date
from kb.results import read_csv
from kb.search import KnowledgeBase
from kb.selection import Selection
from kb.selection import csv_bytes as selection_csv
from tests.conftest import D, P

ROWS = [
    {"id": "a", "title": "Baclofen label", "source": "DailyMed", "url": "https://dailymed.nlm.nih.gov/x?setid=1",
     "date": "2023-07-14", "text": "Baclofen can cause drowsiness and dizziness in adults taking it by mouth. " * 3},
    {"id": "b", "title": "Baclofen overview", "source": "", "date": "2021",
     "text": "Stopping baclofen suddenly can cause seizures and hallucinations in some patients. " * 3},
    {"id": "c", "title": "Baclofen notes", "source": "Clinic", "date": "sometime in May",
     "text": "Baclofen is a muscle relaxant used for spasticity in multiple sclerosis patients. " * 3},
]


@pytest.fixture(scope="module")
def table_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("prov")
    table = folder / "docs.jsonl"
    table.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    root = folder / "index"
    ingest([table], index=root)
    return root


@pytest.mark.parametrize(("given", "kept"), [
    ("2024-05-01", "2024-05-01"), ("2024-05", "2024-05"), ("2024", "2024"), (" 2024-05 ", "2024-05"),
    ("2024-13", ""), ("2024-05-40", ""), ("May 2024", ""), ("", ""), (None, ""), (2024, ""), ("0999", ""),
])
def test_document_dates_are_kept_only_in_iso_form(given, kept) -> None:
    assert kept_date(given) == kept


def test_address_date_and_ingest_day_reach_every_passage(table_index: Path) -> None:
    today = dt.date.today().isoformat()
    with KnowledgeBase.open(table_index) as kb:
        hits = kb.search("", limit=None, sort="document").hits
    by_title = {h.passage.title: h.passage for h in hits}
    label = by_title["Baclofen label"]
    assert (label.url, label.date, label.ingested) == ("https://dailymed.nlm.nih.gov/x?setid=1", "2023-07-14", today)
    assert (by_title["Baclofen overview"].url, by_title["Baclofen overview"].date) == ("", "2021")
    assert by_title["Baclofen notes"].date == ""  # a date kb cannot read is not stated, not guessed
    assert all(h.passage.ingested == today for h in hits)


def test_exports_carry_provenance_and_count_passages_from_1(table_index: Path) -> None:
    with KnowledgeBase.open(table_index) as kb:
        results = kb.search("", limit=None, sort="document")
    buffer = io.StringIO()
    results.to_csv(buffer)
    frame = read_csv(io.StringIO(buffer.getvalue()))
    row = frame[frame["title"] == "Baclofen label"].iloc[0]
    assert (row["url"], row["date"]) == ("https://dailymed.nlm.nih.gov/x?setid=1", "2023-07-14")
    assert sorted(frame["position"]) == [1, 1, 1]  # each document's first passage is passage 1, as on the page
    hit = results.to_json_dict()["hits"][0]
    assert hit["position"] == results.hits[0].passage.position + 1 == results.hits[0].passage.number
    assert {"url", "date", "ingested"} <= set(hit)


def test_the_selection_keeps_provenance(table_index: Path) -> None:
    with KnowledgeBase.open(table_index) as kb:
        passage = kb.search("drowsiness", limit=1).hits[0].passage
    kept = Selection().add(passage).get(passage.passage_id)
    assert (kept.url, kept.date, kept.ingested) == (passage.url, passage.date, passage.ingested)
    text = selection_csv(Selection((kept,))).decode("utf-8-sig")
    assert "https://dailymed.nlm.nih.gov/x?setid=1,2023-07-14," in text


# ---- "not stated" -------------------------------------------------------------------------------------------


def test_every_passage_is_reachable_by_each_facet(sample_index: Path) -> None:
    """On the bundled sample, whose fourth article names no publisher: each facet's values plus its "not
    stated" count cover every passage, and filtering on "not stated" returns exactly that many."""
    with KnowledgeBase.open(sample_index) as kb:
        everything = kb.search("", limit=0)
        for name in FACETS:
            facet = everything.facets[name]
            narrowed = kb.search("", {name: [NOT_STATED]}, limit=None)
            assert narrowed.total == facet.not_stated, name
            assert all(not h.passage.facet(name) for h in narrowed.hits), name
            if name in ("source", "year"):  # one value a passage: the counts add up exactly
                assert sum(facet.counts().values()) + facet.not_stated == everything.total, name
        unnamed = kb.search("", {"source": [NOT_STATED]}, limit=None)
        assert unnamed.total > 0 and {h.passage.source for h in unnamed.hits} == {""}
        assert everything.facets["source"].counts(not_stated=True)[NOT_STATED] == unnamed.total


def test_not_stated_combines_with_named_values_and_other_facets(make_index) -> None:
    docs = [D("A", source="NHS", passages=[P("oral baclofen dose", tags={"route": ["oral"]}),
                                           P("baclofen overdose is dangerous")]),
            D("B", passages=[P("intrathecal baclofen pump", tags={"route": ["intrathecal"]}),
                             P("baclofen and alcohol")])]
    with KnowledgeBase.open(make_index(docs)) as kb:
        res = kb.search("", {"route": [NOT_STATED, "oral"]}, limit=None)
        assert sorted(h.passage.text for h in res.hits) == ["baclofen and alcohol", "baclofen overdose is dangerous",
                                                          "oral baclofen dose"]
        both = kb.search("", {"route": [NOT_STATED], "source": [NOT_STATED]}, limit=None)
        assert [h.passage.text for h in both.hits] == ["baclofen and alcohol"]
        # disjunctive counts: the route facet's "not stated" count ignores the route filter itself
        assert res.facets["route"].not_stated == 2 and res.facets["route"].not_stated_selected
        assert res.facets["source"].counts(not_stated=True) == {"NHS": 2, NOT_STATED: 1}
        assert res.facets["source"].counts() == {"NHS": 2}


# ---- dates ---------------------------------------------------------------------------------------------------


def test_year_facet_counts_undated_documents_visibly(make_index) -> None:
    docs = [D("Old", date="2019-03", passages=[P("baclofen one"), P("baclofen two")]),
            D("New", date="2024-05-01", passages=[P("baclofen three")]),
            D("Undated", passages=[P("baclofen four")])]
    with KnowledgeBase.open(make_index(docs)) as kb:
        res = kb.search("baclofen", limit=None)
        assert res.facets["year"].counts(not_stated=True) == {"2019": 2, "2024": 1, NOT_STATED: 1}
        assert [h.passage.title for h in kb.search("", {"year": ["2024"]}, limit=None).hits] == ["New"]
        assert [h.passage.text for h in kb.search("year:2019", limit=None, sort="document").hits] == [
            "baclofen one", "baclofen two"]
        by_date = [h.passage.title for h in kb.search("baclofen", limit=None, sort="date").hits]
        assert by_date == ["New", "Old", "Old", "Undated"]  # newest first, undated last
        second_page = kb.search("baclofen", limit=2, offset=2, sort="date").hits
        assert [h.passage.title for h in second_page] == ["Old", "Undated"]


def test_a_passage_counts_from_1_where_people_read_it() -> None:
    p = Passage(passage_id="x", doc_id="d", title="t", source="", path="p", section="", position=0, char_start=0,
                char_end=1, text="x")
    assert p.number == 1
