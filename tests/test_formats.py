"""HTML, PDF and Word readers: what each keeps (main text, headings, pages), what each refuses, and
how pages and headings reach a passage's provenance and the export. Every sample file is built here."""

from __future__ import annotations

import io
import json
import socket
import zipfile
from pathlib import Path

import docx
import pypdf
import pytest

from kb.ingest import ingest
from kb.model import UnreadableFile
from kb.readers import read_document, supported_suffixes
from kb.results import read_csv
from kb.search import KnowledgeBase

# --------------------------------------------------------------------------------------------
# Sample files

BOILERPLATE = ("cookies", "SPONSORED", "luxury rehab", "Drugs A-Z", "Treatment Centers", "Related articles",
               "Gabapentin misuse", "Copyright", "Privacy Policy", "does not provide medical advice")

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Baclofen Withdrawal: Symptoms and Timeline | Recovery Health</title>
<meta property="og:title" content="Baclofen Withdrawal: Symptoms and Timeline">
<meta property="og:site_name" content="Recovery Health">
<link rel="canonical" href="https://recoveryhealth.example/baclofen-withdrawal">
</head>
<body>
<div class="cookie-banner" id="cookie-consent">We use cookies to improve your experience.
  <button>Accept all cookies</button></div>
<header class="site-header">
  <a href="/">Recovery Health</a>
  <nav><ul><li><a href="/drugs">Drugs A-Z</a></li><li><a href="/treatment">Treatment Centers</a></li>
  <li><a href="/about">About Us</a></li><li><a href="/contact">Contact</a></li></ul></nav>
</header>
<main>
<article>
<h1>Baclofen Withdrawal: Symptoms and Timeline</h1>
<p>Baclofen is a muscle relaxant prescribed for spasticity caused by multiple sclerosis and spinal cord injuries.
People who take it every day for weeks or months develop a physical dependence, and stopping it suddenly can cause
a dangerous withdrawal syndrome that needs medical care.</p>
<h2>Symptoms of Withdrawal</h2>
<p>Withdrawal symptoms usually begin within one to three days of the last dose and can include:</p>
<ul>
<li>Hallucinations and confusion</li>
<li>Seizures, sometimes prolonged</li>
<li>High fever and rebound spasticity</li>
</ul>
<p>Intrathecal baclofen withdrawal, after a pump failure or a catheter break, can progress to rhabdomyolysis and
multiple organ failure within hours, so it is treated as an emergency in an intensive care unit.</p>
<div class="ad-slot advertisement" id="ad-1"><p>SPONSORED: Find a luxury rehab near you today.
Call 1-800-555-0199 now for a free consultation!</p></div>
<h2>Timeline</h2>
<h3>First Week</h3>
<p>During the first week symptoms peak. Patients often report anxiety, insomnia and muscle stiffness, and a doctor
may restart the drug and then taper it slowly over several weeks to keep these symptoms under control.</p>
<h3>After the First Week</h3>
<p>Most physical symptoms fade within two weeks, although sleep problems and mood changes can last for a month or
longer in people who took high doses of baclofen for years.</p>
<table><tr><th>Day</th><th>Typical symptom</th></tr><tr><td>1-3</td><td>Anxiety</td></tr></table>
</article>
</main>
<aside class="sidebar"><h4>Related articles</h4><ul><li><a href="/gabapentin">Gabapentin misuse</a></li>
<li><a href="/xanax">Xanax withdrawal</a></li></ul></aside>
<footer class="site-footer"><p>Copyright 2024 Recovery Health. All rights reserved. Privacy Policy | Terms of Use</p>
<p>This site does not provide medical advice.</p></footer>
</body>
</html>
"""

NO_MAIN_TEXT = """<html><head><title>Recovery Health</title></head><body>
<nav><ul><li><a href="/a">Home</a></li><li><a href="/b">About</a></li></ul></nav>
<footer><p>Copyright 2024 Recovery Health.</p></footer></body></html>"""

PDF_PAGES = [
    ["Baclofen Tablets, USP", "Dosage and Administration",
     "The dose of baclofen must be set for each patient. Start with 5 mg taken orally three times a day and",
     "raise it by 5 mg a dose every three days until the best effect is reached, usually between 40 and 80",
     "mg a day. Take the tablets with food or milk if they upset the stomach."],
    ["Overdosage",
     "Signs of an overdose of baclofen include vomiting, muscular hypotonia, drowsiness, accommodation",
     "disorders, coma, respiratory depression and seizures. In the alert patient, empty the stomach",
     "promptly by induced emesis and lavage. Keep an adequate airway and do not use respiratory stimulants."],
    ["Storage", "Store the tablets at room temperature in a tight container, away from light and moisture,",
     "and keep them out of the reach of children and pets at all times."],
]


def make_pdf(pages: list[list[str]], title: str | None = None) -> bytes:
    """A minimal PDF by hand: each page is lines of Helvetica text ([] is a page without text)."""

    def esc(s: str) -> str:
        return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    n = len(pages)
    font = 3 + 2 * n
    objs = {1: b"<< /Type /Catalog /Pages 2 0 R >>",
            2: f"<< /Type /Pages /Kids [{' '.join(f'{3 + 2 * i} 0 R' for i in range(n))}] /Count {n} >>".encode(),
            font: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"}
    for i, lines in enumerate(pages):
        ops = "".join(f"({esc(line)}) '\n" for line in lines)  # ' = next line, then show the string
        stream = f"BT /F1 11 Tf 14 TL 72 760 Td\n{ops}ET".encode("cp1252") if lines else b""
        objs[3 + 2 * i] = (f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * i} 0 R "
                           f"/Resources << /Font << /F1 {font} 0 R >> >> >>").encode()
        objs[4 + 2 * i] = b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream)
    info = ""
    if title is not None:
        objs[font + 1] = f"<< /Title ({esc(title)}) >>".encode()
        info = f" /Info {font + 1} 0 R"
    out = bytearray(b"%PDF-1.4\n")
    offsets = {}
    for num in sorted(objs):
        offsets[num] = len(out)
        out += b"%d 0 obj\n%s\nendobj\n" % (num, objs[num])
    xref, size = len(out), max(objs) + 1
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    out += b"".join(b"%010d 00000 n \n" % offsets[k] for k in range(1, size))
    out += f"trailer\n<< /Size {size} /Root 1 0 R{info} >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def encrypt_pdf(raw: bytes, user_password: str) -> bytes:
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(raw)))
    writer.encrypt(user_password, owner_password="owner", algorithm="RC4-128")  # RC4: no crypto library needed
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


DOCX_TEXT = """# Baclofen: a guide for patients

Baclofen relaxes muscles that are stiff or in spasm because of multiple sclerosis or a spinal cord injury.

## Side Effects

### Common

The most common side effects are:

- Drowsiness
- Dizziness
  - Worse when standing up quickly
- Nausea

**Call your doctor at once**

- Stop driving
- Do not drink alcohol

| Effect | How often |
| --- | --- |
| Drowsiness | Up to 1 in 10 \\| more at first |

## Withdrawal

Never stop baclofen suddenly: hallucinations and seizures can follow."""


def make_docx(core_title: str = "") -> bytes:
    word = docx.Document()
    word.core_properties.title = core_title
    word.add_heading("Baclofen: a guide for patients", level=1)
    word.add_paragraph("Baclofen relaxes muscles that are stiff or in spasm because of multiple sclerosis or a "
                       "spinal cord injury.")
    word.add_paragraph("   ")  # an empty paragraph leaves nothing behind
    word.add_heading("Side Effects", level=2)
    word.add_heading("Common", level=3)
    word.add_paragraph("The most common side effects are:")
    word.add_paragraph("Drowsiness", style="List Bullet")
    word.add_paragraph("Dizziness", style="List Bullet")
    word.add_paragraph("Worse when standing up quickly", style="List Bullet 2")
    word.add_paragraph("Nausea", style="List Bullet")
    word.add_paragraph().add_run("Call your doctor at once").bold = True
    word.add_paragraph("Stop driving", style="List Number")
    word.add_paragraph("Do not drink alcohol", style="List Number")
    table = word.add_table(rows=2, cols=2)
    for row, values in zip(table.rows, [("Effect", "How often"), ("Drowsiness", "Up to 1 in 10 | more at first")],
                           strict=True):
        for cell, value in zip(row.cells, values, strict=True):
            cell.text = value
    word.add_heading("Withdrawal", level=2)
    word.add_paragraph("Never stop baclofen suddenly: hallucinations and seizures can follow.")
    out = io.BytesIO()
    word.save(out)
    return out.getvalue()


def write(folder: Path, name: str, data: str | bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


def read(tmp_path: Path, name: str, data: str | bytes, **kwargs: str) -> object:
    return read_document(write(tmp_path, name, data), doc_id="d", **kwargs)


def unreadable(tmp_path: Path, name: str, data: str | bytes) -> UnreadableFile:
    with pytest.raises(UnreadableFile) as info:
        read(tmp_path, name, data)
    assert info.value.path.endswith(name)  # reported by name
    return info.value


def test_every_new_format_is_registered():
    assert {".html", ".htm", ".pdf", ".docx"} <= set(supported_suffixes())


# --------------------------------------------------------------------------------------------
# HTML


def test_html_keeps_the_article_as_markdown_and_drops_the_boilerplate(tmp_path):
    doc = read(tmp_path, "withdrawal.html", PAGE)
    assert doc.format == "markdown"
    for line in ("# Baclofen Withdrawal: Symptoms and Timeline", "## Symptoms of Withdrawal", "## Timeline",
                 "### First Week", "### After the First Week", "- Hallucinations and confusion",
                 "- Seizures, sometimes prolonged", "- High fever and rebound spasticity"):
        assert line in doc.text.split("\n"), line
    assert "| 1-3 | Anxiety |" in doc.text
    assert "rhabdomyolysis" in doc.text
    for junk in BOILERPLATE:
        assert junk not in doc.text, junk
    assert doc.title == "Baclofen Withdrawal: Symptoms and Timeline"  # og:title, not "... | Recovery Health"
    assert doc.meta == {"url": "https://recoveryhealth.example/baclofen-withdrawal", "site_name": "Recovery Health"}
    assert doc.source == "Recovery Health"
    assert "\r" not in doc.text


def test_html_in_utf8_and_windows_1252_read_alike(tmp_path):
    page = PAGE.replace("three days", "three days (5 mg \u2013 10 \u00b5g)")
    utf8 = read(tmp_path, "a.htm", page.encode("utf-8")).text
    assert "three days (5 mg \u2013 10 \u00b5g)" in utf8
    legacy = page.replace('<meta charset="utf-8">', '<meta charset="windows-1252">').encode("cp1252")
    assert read(tmp_path, "b.html", legacy).text == utf8


def test_callers_source_and_title_win_over_the_page(tmp_path):
    doc = read(tmp_path, "withdrawal.html", PAGE, source="Addiction Center", title="Baclofen withdrawal")
    assert (doc.source, doc.title) == ("Addiction Center", "Baclofen withdrawal")
    assert doc.meta["site_name"] == "Recovery Health"


def test_html_title_and_source_without_open_graph(tmp_path):
    plain = PAGE.replace('<meta property="og:title" content="Baclofen Withdrawal: Symptoms and Timeline">', "")
    plain = plain.replace('<meta property="og:site_name" content="Recovery Health">', "")
    plain = plain.replace("<h1>Baclofen Withdrawal: Symptoms and Timeline</h1>", "<h1>Stopping baclofen</h1>")
    doc = read(tmp_path, "plain.html", plain)
    assert doc.title in ("Baclofen Withdrawal: Symptoms and Timeline", "Stopping baclofen")  # <title> or <h1>
    assert doc.meta["url"] == "https://recoveryhealth.example/baclofen-withdrawal"
    assert doc.source == doc.meta["site_name"] != "Recovery Health"  # the host stands in for a site name
    assert "recoveryhealth" in doc.source.lower()


def test_html_reading_never_touches_the_network(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the HTML reader tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    assert "## Timeline" in read(tmp_path, "withdrawal.html", PAGE).text


@pytest.mark.parametrize(("data", "reason"), [
    (NO_MAIN_TEXT, "no main text"),
    (b"\x00\x01\x02 not html at all \xff\xfe\x00\x00", "binary file"),
    (b"   \n", "no main text"),
])
def test_html_without_main_text_is_reported(tmp_path, data, reason):
    assert reason in unreadable(tmp_path, "nav-only.html", data).reason


# --------------------------------------------------------------------------------------------
# PDF


def test_pdf_text_page_by_page_with_page_starts(tmp_path):
    doc = read(tmp_path, "label.pdf", make_pdf(PDF_PAGES, title="Baclofen Tablets USP: full prescribing information"))
    pages = ["\n".join(lines) for lines in PDF_PAGES]
    assert doc.text == "\n\n".join(pages)
    assert doc.meta["page_starts"] == [0, len(pages[0]) + 2, len(pages[0]) + len(pages[1]) + 4]
    for start, page in zip(doc.meta["page_starts"], pages, strict=True):
        assert doc.text[start:].startswith(page)
    assert doc.title == "Baclofen Tablets USP: full prescribing information"
    assert doc.format == "text" and doc.source == ""


@pytest.mark.parametrize("info_title", [None, "", "Microsoft Word - label_v3.docx", "untitled"])
def test_pdf_title_from_first_line_when_the_metadata_has_none(tmp_path, info_title):
    assert read(tmp_path, "label.pdf", make_pdf(PDF_PAGES, title=info_title)).title == "Baclofen Tablets, USP"


def test_pdf_blank_page_keeps_the_numbering(tmp_path):
    doc = read(tmp_path, "gap.pdf", make_pdf([PDF_PAGES[0], [], PDF_PAGES[1]]))
    starts = doc.meta["page_starts"]
    assert len(starts) == 3 and doc.text[starts[2]:].startswith("Overdosage")


def test_pdf_encrypted_with_an_empty_user_password_is_read(tmp_path):
    doc = read(tmp_path, "locked-for-editing.pdf", encrypt_pdf(make_pdf(PDF_PAGES), ""))
    assert "respiratory depression" in doc.text and len(doc.meta["page_starts"]) == 3


@pytest.mark.parametrize(("data", "reason"), [
    (make_pdf([[], []]), "no text layer: the PDF looks scanned; OCR it first"),
    (encrypt_pdf(make_pdf(PDF_PAGES), "secret"), "password-protected"),
    (make_pdf(PDF_PAGES)[: len(make_pdf(PDF_PAGES)) // 2], "damaged or truncated"),
    (b"<html><body>not a PDF</body></html>", "damaged or truncated"),
])
def test_unreadable_pdfs_are_reported_with_a_reason(tmp_path, data, reason):
    assert reason in unreadable(tmp_path, "bad.pdf", data).reason


# --------------------------------------------------------------------------------------------
# Word


def test_docx_headings_lists_and_tables_become_markdown(tmp_path):
    doc = read(tmp_path, "guide.docx", make_docx())
    assert doc.format == "markdown"
    assert doc.text == DOCX_TEXT
    assert doc.title == "Baclofen: a guide for patients"  # the first "#" heading


def test_docx_title_from_its_properties(tmp_path):
    assert read(tmp_path, "guide.docx", make_docx(core_title="Patient leaflet")).title == "Patient leaflet"


def _zip(**members: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return out.getvalue()


@pytest.mark.parametrize(("data", "reason"), [
    (b"This is plain text saved with a .docx name.", "not a readable Word .docx file"),
    (make_docx()[:2000], "not a readable Word .docx file"),
    (_zip(notes="a zip, but not a Word package"), "not a readable Word .docx file"),
])
def test_broken_docx_is_reported_with_a_reason(tmp_path, data, reason):
    assert reason in unreadable(tmp_path, "broken.docx", data).reason


def test_empty_docx_is_reported(tmp_path):
    out = io.BytesIO()
    docx.Document().save(out)
    assert "only whitespace" in unreadable(tmp_path, "empty.docx", out.getvalue()).reason


# --------------------------------------------------------------------------------------------
# End to end: ingest, search, export


@pytest.fixture(scope="module")
def formats_index(tmp_path_factory):
    folder = tmp_path_factory.mktemp("formats") / "docs"
    write(folder, "label.pdf", make_pdf(PDF_PAGES, title="Baclofen Tablets USP"))
    write(folder, "withdrawal.html", PAGE)
    write(folder, "copy/withdrawal.htm", PAGE.replace("Recovery Health", "Another Site"))
    write(folder, "guide.docx", make_docx())
    write(folder, "scan.pdf", make_pdf([[]]))
    write(folder, "truncated.pdf", make_pdf(PDF_PAGES)[:700])
    write(folder, "not-word.docx", b"plain text, not a zip")
    write(folder, "nav-only.html", NO_MAIN_TEXT)
    write(folder, "kb-metadata.json", json.dumps({"guide.docx": {"source": "Hospital pharmacy"}}))
    write(folder / "copy", "kb-metadata.json", json.dumps({"withdrawal.htm": {"source": "Addiction Center"}}))
    index = tmp_path_factory.mktemp("formats") / "index"
    report = ingest([folder], index=index)
    return index, report


def test_ingest_adds_the_readable_files_and_skips_the_broken_ones_by_name(formats_index):
    _, report = formats_index
    assert sorted(Path(p).name for p in report.added) == ["guide.docx", "label.pdf", "withdrawal.htm",
                                                         "withdrawal.html"]
    skipped = {Path(p).name: reason for p, reason in report.skipped}
    assert skipped.keys() == {"scan.pdf", "truncated.pdf", "not-word.docx", "nav-only.html"}
    assert skipped["scan.pdf"] == "no text layer: the PDF looks scanned; OCR it first"
    assert "damaged or truncated" in skipped["truncated.pdf"]
    assert "not a readable Word .docx file" in skipped["not-word.docx"]
    assert "no main text" in skipped["nav-only.html"]


def test_pdf_passages_carry_their_page(formats_index):
    index, _ = formats_index
    with KnowledgeBase.open(index) as kb:
        hit = kb.search("lavage emesis").hits[0].passage
        assert Path(hit.path).name == "label.pdf" and hit.page == "2"
        assert kb.search("milk stomach").hits[0].passage.page == "1"
        pages = {h.passage.page for h in kb.search("", limit=None).hits
                 if h.passage.path.endswith("label.pdf")}
        assert pages <= {"1", "2", "3", "1-2", "2-3", "1-3"} and "2" in pages
        for h in kb.search("", limit=None, include_boilerplate=True).hits:
            if not h.passage.path.endswith(".pdf"):
                assert h.passage.page == ""


def test_html_and_docx_passages_carry_their_section_and_no_boilerplate(formats_index):
    index, _ = formats_index
    with KnowledgeBase.open(index) as kb:
        hits = [h.passage for h in kb.search("rhabdomyolysis", limit=None).hits]
        by_source = {p.source: p for p in hits}
        assert by_source.keys() == {"Recovery Health", "Addiction Center"}  # site name; the sidecar wins
        for p in hits:
            assert p.section == "Symptoms of Withdrawal" and p.title == "Baclofen Withdrawal: Symptoms and Timeline"
        assert kb.search("insomnia stiffness").hits[0].passage.section == "Timeline > First Week"
        guide = kb.search("hallucinations suddenly", filters={"source": ["Hospital pharmacy"]}).hits[0].passage
        assert guide.section == "Withdrawal" and Path(guide.path).name == "guide.docx"
        everything = kb.search("", limit=None, include_boilerplate=True).hits
        html = [h.passage for h in everything if ".htm" in h.passage.path]
        assert html and all(junk not in p.text for p in html for junk in BOILERPLATE)
        for h in everything:
            text = kb.document(h.passage.doc_id)["text"]
            assert text[h.passage.char_start:h.passage.char_end] == h.passage.text


def test_page_and_section_reach_the_export(formats_index, tmp_path):
    index, _ = formats_index
    with KnowledgeBase.open(index) as kb:
        kb.search("lavage emesis").to_csv(tmp_path / "pdf.csv")
        kb.search("insomnia stiffness").to_csv(tmp_path / "html.csv")
    pdf, html = read_csv(tmp_path / "pdf.csv"), read_csv(tmp_path / "html.csv")
    assert str(pdf.loc[0, "page"]) == "2" and pdf.loc[0, "path"].endswith("label.pdf")
    assert html.loc[0, "section"] == "Timeline > First Week"
