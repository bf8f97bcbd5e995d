"""PDF labels as a researcher reads them: no running header or footer, numbered sections, whole words.

There is no real label PDF in ../shared, so each test prints one with fpdf2 from openFDA label text
(the real SYLATRON label when ../shared is there, else the label of tests/test_readers_openfda.py):
highlights and a contents list on page 1, then the sections in two columns, a running header, the
"Reference ID" footer of Drugs@FDA PDFs with page numbers, words hyphenated at line ends and
non-breaking spaces, as PDFs printed from word processors have them.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kb.chunk import chunk_document
from kb.ingest import page_label
from kb.readers import read_document
from kb.readers_openfda import label_row
from kb.readers_pdf import clean_pages, heading_title
from tests.test_readers_openfda import label as synthetic_label

fpdf = pytest.importorskip("fpdf", reason="fpdf2 (a test dependency) prints the test PDFs")

SHARED_ZIP = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "openfda" / "drug-label-sample.json.zip"
SYLATRON = "3874c95c-092e-4cd5-b104-6ed2bc391b0e"
HEADER = "SYLATRON (peginterferon alfa-2b) - Merck Sharp & Dohme Corp."
FOOTER = "Reference ID: 4567890"
TITLE = "SYLATRON (peginterferon alfa-2b) for injection, for subcutaneous use"


def label_text() -> str:
    """The label as Markdown, from the real bulk file when it is there."""
    if SHARED_ZIP.is_file():
        import json

        with zipfile.ZipFile(SHARED_ZIP) as z:
            data = json.loads(z.read(z.namelist()[0]))
        found = [lab for lab in data["results"] if lab.get("set_id") == SYLATRON]
        if found:
            return label_row(found[0], 1, {}).text
    return label_row(synthetic_label(), 1, {}).text


def blocks(markdown: str, most_sections: int = 7) -> list[tuple[str, str]]:
    """("h", heading) and ("p", paragraph) blocks of the label's first sections; tables left out."""
    out: list[tuple[str, str]] = []
    sections = 0
    for block in markdown.split("\n\n"):
        if block.startswith("# ") or block.startswith("|") or "\n|" in block:
            continue
        if block.startswith("## "):
            sections += 1
            if sections > most_sections:
                break
        if block.startswith("#"):
            out.append(("h", block.lstrip("# ")))
        elif out:
            out.append(("p", block[:1400]))
    return [(k, t) for k, t in out if not (k == "h" and not heading_title(t))]


def latin1(text: str) -> str:
    return text.replace("\u2122", "(TM)").replace("\u2013", "-").replace("\u2014", "-").encode(
        "latin-1", "replace").decode("latin-1")


@dataclass
class Printed:
    path: Path
    pages: int
    headings: list[str]
    split_words: list[str] = field(default_factory=list)  # words hyphenated at a line end


def print_label(path: Path, *, meta_title: str = "", columns: int = 2) -> Printed:
    """A label PDF laid out line by line, so where lines break (and words hyphenate) is known."""
    content = blocks(label_text())
    pdf = fpdf.FPDF(format="letter", unit="mm")
    pdf.set_auto_page_break(False)
    if meta_title:
        pdf.set_title(meta_title)
    pdf.set_creation_date(__import__("datetime").datetime(2021, 3, 4, tzinfo=__import__("datetime").timezone.utc))
    printed = Printed(path, 0, [h for k, h in content if k == "h"])
    left, top, bottom, gutter = 15.0, 22.0, 262.0, 8.0
    width = (216 - 2 * left - gutter * (columns - 1)) / columns
    state = {"col": 0, "y": top}

    def new_page() -> None:
        pdf.add_page()
        printed.pages += 1
        pdf.set_font("Helvetica", size=7)
        pdf.set_xy(left, 10)
        pdf.cell(0, 4, latin1(HEADER))
        pdf.set_xy(left, 268)
        pdf.cell(90, 4, FOOTER)
        pdf.set_xy(150, 268)
        pdf.cell(50, 4, f"Page {printed.pages}")
        state["col"], state["y"] = 0, top

    def line(text: str, bold: bool = False, size: float = 9) -> None:
        if state["y"] > bottom:
            state["col"] += 1
            state["y"] = top
            if state["col"] >= columns:
                new_page()
        pdf.set_font("Helvetica", style="B" if bold else "", size=size)
        pdf.set_xy(left + state["col"] * (width + gutter), state["y"])
        pdf.cell(width, 4.2, text)
        state["y"] += 4.6

    def paragraph(text: str, bold: bool = False) -> None:
        pdf.set_font("Helvetica", style="B" if bold else "", size=9)
        current = ""
        for word in latin1(text).split(" "):
            trial = f"{current} {word}".strip()
            if pdf.get_string_width(trial) <= width:
                current = trial
                continue
            letters = re.fullmatch(r"[a-z]{9,}", word)
            if letters and current:  # hyphenate a long word across the line end
                for cut in range(len(word) - 3, 3, -1):
                    if pdf.get_string_width(f"{current} {word[:cut]}-") <= width:
                        line(f"{current} {word[:cut]}-", bold)
                        printed.split_words.append(word)
                        current = word[cut:]
                        break
                else:
                    line(current, bold)
                    current = word
                continue
            line(current, bold)
            current = word
        if current:
            line(current, bold)
        state["y"] += 2

    new_page()
    for text, bold in (("HIGHLIGHTS OF PRESCRIBING INFORMATION", True), (TITLE, True),
                       ("Initial U.S. Approval: 2011", False), ("FULL PRESCRIBING INFORMATION: CONTENTS", True)):
        paragraph(text, bold)
    for heading in printed.headings[:6]:  # a contents list repeats the first headings' numbers
        line(latin1(heading))
    state["y"] += 4
    for kind, text in content:
        if kind == "h":
            paragraph(text, bold=True)
        else:
            paragraph(text.replace(" mcg/kg", "\u00a0mcg/kg"))  # a non-breaking space, as word processors write
    paragraph("Revised: 12/2018")
    pdf.output(str(path))
    return printed


@pytest.fixture(scope="module")
def printed(tmp_path_factory: pytest.TempPathFactory) -> Printed:
    return print_label(tmp_path_factory.mktemp("pdf") / "label-4567890.pdf")


def test_running_header_footer_and_page_numbers_are_gone(printed: Printed) -> None:
    doc = read_document(printed.path, doc_id="d")
    assert printed.pages >= 3
    assert "Reference ID" not in doc.text
    assert "Merck Sharp & Dohme Corp." not in doc.text.split("\n\n")[0]
    assert HEADER not in doc.text
    assert not re.search(r"(?m)^Page \d+$", doc.text)


def test_the_title_is_the_documents_not_the_file_name(printed: Printed, tmp_path: Path) -> None:
    assert read_document(printed.path, doc_id="d").title == TITLE
    titled = print_label(tmp_path / "x.pdf", meta_title="Sylatron Prescribing Information")
    assert read_document(titled.path, doc_id="d").title == "Sylatron Prescribing Information"
    junk = print_label(tmp_path / "y.pdf", meta_title="Microsoft Word - sylatron_pi_final.docx")
    assert read_document(junk.path, doc_id="d").title == TITLE


def test_numbered_headings_become_sections_and_the_contents_list_does_not(printed: Printed) -> None:
    doc = read_document(printed.path, doc_id="d")
    assert doc.format == "text"
    for heading in printed.headings:
        marks = "#" * (2 + heading.split()[0].count("."))
        assert doc.text.count(f"{marks} {latin1(heading)}\n") == 1, heading
    sections = {c.section for c in chunk_document(doc)}
    subsections = [h for h in printed.headings if "." in h.split()[0]]
    assert subsections, "the label text has numbered subsections"
    top = next(h for h in printed.headings if h.split()[0] == subsections[0].split()[0].split(".")[0])
    assert f"{latin1(top)} > {latin1(subsections[0])}" in sections


def test_words_hyphenated_at_line_ends_are_whole_and_spaces_plain(printed: Printed) -> None:
    doc = read_document(printed.path, doc_id="d")
    assert len(printed.split_words) >= 5
    words = set(re.findall(r"[A-Za-z]+", doc.text))
    for word in printed.split_words:
        assert word in words, word
    assert "\u00a0" not in doc.text and "mcg/kg" in doc.text
    assert not re.search(r"[a-z]- [a-z]", doc.text)


def test_pages_are_kept_and_the_revision_date_is_the_date(printed: Printed) -> None:
    doc = read_document(printed.path, doc_id="d")
    starts = doc.meta["page_starts"]
    assert len(starts) == printed.pages and starts == sorted(starts)
    end = doc.text.index("Revised: 12/2018")
    assert page_label(starts, end, end + 5) == str(printed.pages)
    first_heading = doc.text.index(f"## {latin1(printed.headings[0])}")
    assert page_label(starts, first_heading, first_heading + 5) == "1"
    assert doc.meta["date"] == "2018-12"


def test_pdf_dates_are_the_last_resort(tmp_path: Path) -> None:
    pdf = fpdf.FPDF()
    pdf.set_creation_date(__import__("datetime").datetime(2021, 3, 4, tzinfo=__import__("datetime").timezone.utc))
    pdf.add_page()
    pdf.set_font("Helvetica", size=10)
    pdf.multi_cell(0, 5, "Baclofen Dosing Notes\n\nTake baclofen three times a day with food.")
    path = tmp_path / "notes.pdf"
    pdf.output(str(path))
    doc = read_document(path, doc_id="d")
    assert doc.meta["date"] == "2021-03-04"
    assert doc.title == "Baclofen Dosing Notes"


def test_clean_pages_on_page_texts() -> None:
    pages = [f"Acme Label\n{body} opens.\n{body} goes on.\nThe treat-\nment was stopped in\u00a0two patients.\n"
             f"{body} ends.\nReference ID: 99\n{n}"
             for n, body in ((1, "First page"), (2, "Second page"), (3, "Third page"))]
    clean = clean_pages(pages)
    assert "Reference ID" not in clean.text and "Acme Label" not in clean.text
    assert "The treatment\nwas stopped in two patients." in clean.text
    assert clean.removed == 9 and len(clean.page_starts) == 3
    kept = clean_pages(["Well-known anti-inflammatory use.\nAn anti-\ninflammatory drug."]).text
    assert "An anti-inflammatory\ndrug." in kept
