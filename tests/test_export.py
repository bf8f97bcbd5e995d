"""Exports: one column order, spreadsheet-safe cells, exact bytes, and a lossless round trip."""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kb.export import Citation, bibtex, csl_json_bytes, guard_cell, ris, unguard_cell
from kb.results import COLUMNS, csv_bytes, read_csv, to_json_dict, write_csv
from kb.search import KnowledgeBase
from tests.conftest import D, P

DOCS = [D("Risks, \"quoted\" title", source="=HYPERLINK(\"http://x\")", url="https://example.org/risks?a=1&b=2",
           date="2024-05-01", passages=[
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
        "substance,drug,boilerplate,duplicates,doc_id,path,url,date,ingested,char_start,char_end\r\n"
        "1,0.0,doc0-0,\"Risks, \"\"quoted\"\" title\",\"'=HYPERLINK(\"\"http://x\"\")\",Side Effects,1,,"
        "\"'- Dizziness\n- Nausea\",side_effects,,,dizziness; nausea,,,,False,,doc0,/corpus/doc0.txt,"
        "https://example.org/risks?a=1&b=2,2024-05-01,2026-11-20,0,20\r\n"
        "2,0.0,doc0-1,\"Risks, \"\"quoted\"\" title\",\"'=HYPERLINK(\"\"http://x\"\")\",Notes,2,,"
        "\"'+1 more: @mention, tab\there, ünïcödé.\",,,,,,,,False,,doc0,/corpus/doc0.txt,"
        "https://example.org/risks?a=1&b=2,2024-05-01,2026-11-20,22,59\r\n"
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


# ---- citations: RIS, CSL-JSON, BibTeX ------------------------------------------------------------------------

CITES = [
    Citation("doc1-abc", title="Lioresal label", source="DailyMed", section="5 Warnings > 5.1 Abrupt withdrawal",
             page="3-4", number=12, url="https://dailymed.nlm.nih.gov/dailymed/lookup.cfm?setid=1&x=2",
             date="2023-07-14", accessed="2026-11-20", path="/docs/label.pdf", note="compare with  NHS\nadvice",
             quote="Abrupt discontinuation\nhas resulted in seizures."),
    Citation("doc2-def", title="", number=1, date="2021", accessed="2026-11-21", path="/docs/x.txt",
             quote="Baclofen 5 mg three times a day.", status="no longer in the index"),
]


def test_ris_reads_back_with_rispy_field_by_field() -> None:
    import rispy

    text = ris(CITES)
    entries = rispy.loads(text)
    assert len(entries) == 2
    first, second = entries
    assert first["type_of_reference"] == "ELEC" and first["id"] == "kb:doc1-abc"
    assert first["title"] == "Lioresal label" and first["publisher"] == "DailyMed"
    assert first["section"] == "5 Warnings > 5.1 Abrupt withdrawal" and first["start_page"] == "3-4"
    assert first["year"] == "2023" and first["date"] == "2023/07/14/"
    assert first["urls"] == ["https://dailymed.nlm.nih.gov/dailymed/lookup.cfm?setid=1&x=2"]
    assert first["access_date"] == "2026/11/20/"
    assert first["accession_number"] == "doc1-abc"
    assert first["notes"] == ["§ 5 Warnings > 5.1 Abrupt withdrawal, p. 3-4, passage 12 (id doc1-abc)",
                              "Note: compare with NHS advice"]
    assert first["file_attachments1"] == ["/docs/label.pdf"] or first["file_attachments1"] == "/docs/label.pdf"
    assert first["abstract"] == "Abrupt discontinuation has resulted in seizures."
    assert second["title"] == "Untitled document" and "publisher" not in second and "urls" not in second
    assert second["date"] == "2021//" + "/" and second["access_date"] == "2026/11/21/"
    assert second["notes"] == ["passage 1 (id doc2-def); no longer in the index"]


def test_ris_values_stay_on_one_line_each() -> None:
    text = ris(CITES)
    assert all(line == "" or (line[:2].isalnum() and line[2:6] == "  - ") for line in text.split("\r\n"))


#: CSL 1.0.2 item variables by kind (https://docs.citationstyles.org/en/stable/specification.html#appendix-iv-variables)
CSL_STANDARD = {"id", "type", "abstract", "annote", "archive", "archive_location", "archive-place", "authority",
                "call-number", "citation-label", "collection-title", "container-title", "container-title-short",
                "dimensions", "DOI", "event", "event-place", "genre", "ISBN", "ISSN", "jurisdiction", "keyword",
                "medium", "note", "original-publisher", "original-publisher-place", "original-title", "page",
                "page-first", "PMCID", "PMID", "publisher", "publisher-place", "references", "reviewed-title",
                "scale", "section", "source", "status", "title", "title-short", "URL", "version", "language"}
CSL_DATES = {"accessed", "container", "event-date", "issued", "original-date", "submitted"}
CSL_TYPES = {"document", "webpage", "article", "report"}


def test_csl_json_uses_only_csl_variables_and_renders_with_citeproc() -> None:
    import os

    import citeproc
    from citeproc import Citation as CslCitation
    from citeproc import CitationItem, CitationStylesBibliography, CitationStylesStyle, formatter
    from citeproc.source.json import CiteProcJSON

    items = json.loads(csl_json_bytes(CITES))
    for item in items:
        assert set(item) <= CSL_STANDARD | CSL_DATES, set(item) - CSL_STANDARD - CSL_DATES
        assert item["type"] in CSL_TYPES
        for name in set(item) & CSL_DATES:
            parts = item[name]["date-parts"]
            assert len(parts) == 1 and 1 <= len(parts[0]) <= 3 and all(isinstance(n, int) for n in parts[0])
        assert all(isinstance(item[k], str) for k in set(item) - CSL_DATES)
    first, second = items
    assert first == {
        "id": "kb:doc1-abc", "type": "webpage", "title": "Lioresal label", "publisher": "DailyMed",
        "container-title": "DailyMed", "section": "5 Warnings > 5.1 Abrupt withdrawal", "page": "3-4",
        "archive": "kb", "archive_location": "passage 12 (id doc1-abc)",
        "URL": "https://dailymed.nlm.nih.gov/dailymed/lookup.cfm?setid=1&x=2",
        "issued": {"date-parts": [[2023, 7, 14]]}, "accessed": {"date-parts": [[2026, 11, 20]]},
        "source": "/docs/label.pdf",
        "note": "§ 5 Warnings > 5.1 Abrupt withdrawal, p. 3-4, passage 12 (id doc1-abc); "
                "Note: compare with  NHS\nadvice",
        "abstract": "Abrupt discontinuation\nhas resulted in seizures.",
    }
    assert second["type"] == "document" and second["issued"] == {"date-parts": [[2021]]}
    assert "URL" not in second and "publisher" not in second
    style = CitationStylesStyle(os.path.join(os.path.dirname(citeproc.__file__), "data", "styles",
                                             "harvard-cite-them-right.csl"), validate=False)
    bibliography = CitationStylesBibliography(style, CiteProcJSON(items), formatter.plain)
    for item in items:
        bibliography.register(CslCitation([CitationItem(item["id"])]))
    rendered = [str(entry) for entry in bibliography.bibliography()]
    assert any("Lioresal label" in r and "2023" in r and "dailymed.nlm.nih.gov" in r and "2026" in r
               for r in rendered), rendered


def test_bibtex_names_address_and_dates() -> None:
    entry = bibtex(CITES[:1])
    assert entry.startswith("@misc{kb:doc1-abc,\n")
    for line in ("  url          = {https://dailymed.nlm.nih.gov/dailymed/lookup.cfm?setid=1&x=2},",
                 "  urldate      = {2026-11-20},", "  date         = {2023-07-14},", "  year         = {2023},",
                 "  position     = {passage 12},", "  passageid    = {doc1-abc},"):
        assert line in entry.splitlines(), line
