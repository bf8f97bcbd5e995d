"""Provenance at the reader: every document keeps its web address and its date where it states them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kb import readers
from kb.ingest import discover
from kb.model import UnreadableFile
from kb.provenance import html_provenance, iso_date, revised_date
from kb.readers import read_document


@pytest.mark.parametrize(("given", "iso"), [
    ("2020-11-02", "2020-11-02"),
    ("2020-11-02T09:30:00+00:00", "2020-11-02"),
    ("2020-11-02 09:30", "2020-11-02"),
    ("20201102", "2020-11-02"),
    ("D:20210304093000Z", "2021-03-04"),
    ("11/02/2020", "2020-11-02"),
    ("12/2018", "2018-12"),
    ("December 2018", "2018-12"),
    ("Sept. 2019", "2019-09"),
    ("November 2, 2020", "2020-11-02"),
    ("2 November 2020", "2020-11-02"),
    ("2019", "2019"),
    ("2019-07", "2019-07"),
    ("2020-02-30", ""),
    ("13/2018", ""),
    ("next Tuesday", ""),
    ("", ""),
    (None, ""),
    (True, ""),
])
def test_iso_date(given: object, iso: str) -> None:
    assert iso_date(given) == iso


def test_revised_date_of_a_label() -> None:
    assert revised_date("... use in pregnancy.\nRevised: 12/2018\nMEDICATION GUIDE ... Revised: 1/2020") == "2018-12"
    assert revised_date("Revised: August 2019") == "2019-08"
    assert revised_date("Revised 3/15/2021") == "2021-03-15"
    assert revised_date("The dose was revised after 2 weeks of 20 mg.") == ""


PAGE = """<html><head>
<title>Baclofen withdrawal</title>
<link rel="stylesheet" href="/s.css">
<link rel="canonical" href="https://www.example.org/baclofen-withdrawal">
<meta property="og:url" content="https://www.example.org/other">
<meta property="article:modified_time" content="2023-05-06T10:00:00Z">
<meta property="article:published_time" content="2021-04-03T08:00:00+02:00">
</head><body><p>Text. &copy; 2024 Example</p></body></html>"""


def test_html_provenance_prefers_canonical_link_and_published_date() -> None:
    assert html_provenance(PAGE) == {"url": "https://www.example.org/baclofen-withdrawal", "date": "2021-04-03"}
    no_canonical = PAGE.replace('<link rel="canonical" href="https://www.example.org/baclofen-withdrawal">', "")
    assert html_provenance(no_canonical)["url"] == "https://www.example.org/other"
    modified_only = PAGE.replace('<meta property="article:published_time" content="2021-04-03T08:00:00+02:00">', "")
    assert html_provenance(modified_only)["date"] == "2023-05-06"
    jsonld = ('<html><head><script type="application/ld+json">{"@type": "Article", "dateModified": "2022-01-09", '
              '"datePublished": "2020-06-01"}</script></head><body></body></html>')
    assert html_provenance(jsonld) == {"date": "2020-06-01"}
    assert html_provenance("<html><body><p>&copy; 2024 Example. Posted in 2019.</p></body></html>") == {}
    relative = '<html><head><link rel="canonical" href="/baclofen"></head></html>'
    assert "url" not in html_provenance(relative)  # not an address a citation can use


def test_html_reader_keeps_url_and_date(tmp_path: Path) -> None:
    body = "<article><h1>Baclofen withdrawal</h1>" + "<p>Stopping baclofen suddenly can cause seizures.</p>" * 5
    path = tmp_path / "page.html"
    path.write_text(PAGE.replace("<p>Text. &copy; 2024 Example</p>", body + "</article>"), encoding="utf-8")
    doc = read_document(path, doc_id="d")
    assert doc.meta["url"] == "https://www.example.org/baclofen-withdrawal"
    assert doc.meta["date"] == "2021-04-03"


def test_html_without_stated_date_gets_none(tmp_path: Path) -> None:
    page = ("<html><head><title>Baclofen</title></head><body><article><h1>Baclofen</h1>"
            + "<p>Baclofen relaxes muscles and is taken three times a day.</p>" * 5
            + "</article><footer>&copy; 2024 Example Health</footer></body></html>")
    path = tmp_path / "page.html"
    path.write_text(page, encoding="utf-8")
    assert "date" not in read_document(path, doc_id="d").meta


def test_kb_metadata_gives_url_and_date(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("Baclofen\n\nBaclofen relaxes muscles.", encoding="utf-8")
    (tmp_path / "kb-metadata.json").write_text(json.dumps({"a.txt": {
        "title": "A", "url": "https://example.org/a", "date": "March 2022"}}), encoding="utf-8")
    [src], missing, _ = discover([tmp_path])
    assert not missing
    doc = read_document(src.path, doc_id="d", title=src.title, source=src.source, meta=src.meta)
    assert doc.meta["url"] == "https://example.org/a" and doc.meta["date"] == "2022-03"


def test_kb_metadata_with_a_bad_date_names_the_file_and_entry(tmp_path: Path) -> None:
    (tmp_path / "kb-metadata.json").write_text(json.dumps({"a.txt": {"date": "last spring"}}), encoding="utf-8")
    with pytest.raises(UnreadableFile) as info:
        readers.load_metadata(tmp_path)
    assert '"date" of "a.txt"' in info.value.reason and "last spring" in info.value.reason
    (tmp_path / "kb-metadata.json").write_text(json.dumps({"a.txt": {"url": 3}}), encoding="utf-8")
    with pytest.raises(UnreadableFile, match=r'"url" of "a\.txt" must be a string'):
        readers.load_metadata(tmp_path)


def test_table_url_and_date_columns(tmp_path: Path) -> None:
    path = tmp_path / "pages.csv"
    path.write_text("id,title,url,date,text\n"
                    "p1,One,https://example.org/1,2021-04-03,Baclofen relaxes muscles.\n"
                    "p2,Two,https://example.org/2,soon,Baclofen is taken by mouth.\n", encoding="utf-8")
    rows = {r.key: r for r in readers.read_rows(path)}
    assert rows["p1"].meta["url"] == "https://example.org/1" and rows["p1"].meta["date"] == "2021-04-03"
    assert "date" not in rows["p2"].meta and rows["p2"].meta["date_given"] == "soon"


def test_bundled_sample_states_no_address_or_date_it_does_not_have() -> None:
    """The seed articles name no web address and no date in their text, so the sample's metadata may not
    invent one: every url or date it holds must be shown by the article it describes."""
    sample = Path(readers.__file__).parent / "data" / "sample"
    entries = json.loads((sample / "kb-metadata.json").read_text(encoding="utf-8"))
    for name, entry in entries.items():
        text = (sample / name).read_text(encoding="utf-8")
        if entry.get("url"):
            assert entry["url"] in text, name
        if entry.get("date"):
            assert entry["date"][:4] in text, name
