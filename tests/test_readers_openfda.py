"""kb.readers_openfda: openFDA drug labels (bulk zip, results JSON, one label) as one document per label."""

from __future__ import annotations

import json
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any

import pytest

from kb import readers
from kb.chunk import chunk_document
from kb.index import open_snapshot
from kb.ingest import doc_id_for, ingest
from kb.model import UnreadableFile
from kb.readers_openfda import label_row, numbered_subsections, parse_table, read_labels, section_title

SET_ID = "3874c95c-092e-4cd5-b104-6ed2bc391b0e"


def label(set_id: str = SET_ID, generic: str = "PEGINTERFERON ALFA-2B", brand: str = "SYLATRON",
          **fields: Any) -> dict[str, Any]:
    """A label shaped like openFDA's: section fields are lists of strings that open with number and title,
    subsections are copied into fields of their own, tables come as HTML."""
    warnings = (
        "5 WARNINGS AND PRECAUTIONS Depression and other serious neuropsychiatric adverse reactions. ( 5.1 ) "
        "Retinal disorders. ( 5.2 ) 5.1 Depression and Other Serious Neuropsychiatric Adverse Reactions "
        "Peginterferon alfa-2b can cause life-threatening or fatal neuropsychiatric reactions [see Adverse "
        "Reactions (6.1)]. These include suicide and suicidal ideation. 5.2 Retinopathy The retina can be "
        "damaged; monitor vision at baseline and during treatment."
    )
    base: dict[str, Any] = {
        "set_id": set_id,
        "id": "11548fb0-a97f-496c-9d10-64337b049c6a",
        "effective_time": "20201102",
        "version": "11",
        "openfda": {"generic_name": [generic], "brand_name": [brand], "route": ["SUBCUTANEOUS"],
                    "manufacturer_name": ["Merck Sharp & Dohme Corp."], "spl_set_id": [set_id]},
        "indications_and_usage": ["1 INDICATIONS AND USAGE SYLATRON is an alpha interferon indicated for the "
                                  "adjuvant treatment of melanoma."],
        "warnings_and_cautions": [warnings],
        "dosage_and_administration": [
            "2 DOSAGE AND ADMINISTRATION 2.1 Recommended Dosing The recommended dose is 6 mcg/kg/week. "
            "Degree of Renal Impairment Initial dose Moderate 4.5 mcg/kg/week Severe 3 mcg/kg/week "
            "Reduce the dose in renal impairment."],
        "dosage_and_administration_table": [
            '<table><caption>Table 1: Starting Dose</caption><thead><tr><th>Degree of Renal Impairment</th>'
            '<th>Initial dose</th></tr></thead><tbody><tr><td>Moderate</td><td>4.5 mcg/kg/week</td></tr>'
            '<tr><td>Severe</td><td>3 mcg/kg/week</td></tr></tbody></table>'],
        "clinical_pharmacology": ["12 CLINICAL PHARMACOLOGY 12.1 Mechanism of Action Peginterferon alfa-2b is a "
                                  "pleiotropic cytokine."],
        "mechanism_of_action": ["12.1 Mechanism of Action Peginterferon alfa-2b is a pleiotropic cytokine."],
        "spl_product_data_elements": ["SYLATRON peginterferon alfa-2b sucrose polysorbate 80"],
    }
    base.update(fields)
    return base


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def bulk(labels: list[Any]) -> bytes:
    return json.dumps({"meta": {"disclaimer": "Do not rely on openFDA", "results": {"total": len(labels)}},
                       "results": labels}).encode("utf-8")


# --------------------------------------------------------------------------------------------
# One label


def test_a_label_becomes_a_markdown_document_with_sections_and_provenance() -> None:
    row = label_row(label(), 1, {})
    assert not row.error
    assert row.key == SET_ID
    assert row.title == "SYLATRON (peginterferon alfa-2b)"
    assert row.source == "Merck Sharp & Dohme Corp."
    assert row.format == "markdown"
    assert row.meta["drug"] == ["peginterferon alfa-2b"]
    assert row.meta["routes"] == ["subcutaneous"]
    assert row.meta["manufacturer"] == "Merck Sharp & Dohme Corp."
    assert row.meta["set_id"] == SET_ID and row.meta["effective_time"] == "20201102"
    assert row.meta["url"] == f"https://dailymed.nlm.nih.gov/dailymed/drugInfo.cfm?setid={SET_ID}"
    assert row.meta["date"] == "2020-11-02"
    text = row.text
    assert text.startswith("# SYLATRON (peginterferon alfa-2b)\n")
    # sections in label order, subsections numbered, the body without its title
    order = [text.index(h) for h in ("## 1 INDICATIONS AND USAGE", "## 2 DOSAGE AND ADMINISTRATION",
                                     "## 5 WARNINGS AND PRECAUTIONS", "## 12 CLINICAL PHARMACOLOGY")]
    assert order == sorted(order)
    assert "### 5.1 Depression and Other Serious Neuropsychiatric Adverse Reactions\n\nPeginterferon alfa-2b can" \
        in text
    assert "### 5.2 Retinopathy\n\nThe retina can be damaged" in text
    assert "### 2.1 Recommended Dosing\n\nThe recommended dose" in text
    # the cross-references and the highlights' "( 5.1 )" are not headings
    assert "### 6.1" not in text and text.count("### 5.1") == 1
    # a subsection copied into a field of its own is written once
    assert text.count("pleiotropic cytokine") == 1
    assert "### 12.1 Mechanism of Action" in text
    # the machine listing of ingredients is left out
    assert "polysorbate" not in text


def test_a_table_replaces_its_flattened_text_with_a_pipe_table() -> None:
    text = label_row(label(), 1, {}).text
    assert "Table 1: Starting Dose\n\n| Degree of Renal Impairment | Initial dose |\n| --- | --- |\n" \
           "| Moderate | 4.5 mcg/kg/week |\n| Severe | 3 mcg/kg/week |" in text
    assert text.count("4.5 mcg/kg/week") == 1, "the flattened copy of the table is replaced, not repeated"
    assert "Reduce the dose in renal impairment." in text


def test_the_chunker_gives_passages_their_section_path() -> None:
    row = label_row(label(), 1, {})
    doc = readers.row_document(Path("/x/labels.json.zip"), row, doc_id="d1", fmt="zip")
    assert doc.path == f"/x/labels.json.zip#{SET_ID}" and doc.format == "markdown"
    sections = {c.section for c in chunk_document(doc, min_words=5, max_words=60)}
    assert "5 WARNINGS AND PRECAUTIONS > 5.1 Depression and Other Serious Neuropsychiatric Adverse Reactions" \
        in sections
    assert "12 CLINICAL PHARMACOLOGY > 12.1 Mechanism of Action" in sections


def test_old_format_labels_take_their_subsections_from_the_fields_inside_them() -> None:
    old = {
        "set_id": "a1b2c3d4-0000-4000-8000-000000000001", "effective_time": "20091231",
        "openfda": {"generic_name": ["GENTAMICIN SULFATE"], "brand_name": ["Gentamicin Sulfate in Sodium Chloride"],
                    "route": ["INTRAVENOUS", "INTRAMUSCULAR"]},
        "precautions": ["PRECAUTIONS General Prescribing gentamicin without a proven infection is unlikely to "
                        "help. Information for Patients Patients should be counseled about antibacterial drugs."],
        "general_precautions": ["General Prescribing gentamicin without a proven infection is unlikely to help."],
        "information_for_patients": ["Information for Patients Patients should be counseled about antibacterial "
                                     "drugs."],
    }
    row = label_row(old, 1, {})
    assert row.title == "Gentamicin Sulfate in Sodium Chloride (gentamicin sulfate)"
    assert row.meta["routes"] == ["intravenous", "intramuscular"]
    assert "source" not in row.meta and row.source == ""  # no manufacturer named: no publisher invented
    assert "## PRECAUTIONS\n\n### General\n\nPrescribing gentamicin" in row.text
    assert "### Information for Patients\n\nPatients should be counseled" in row.text
    assert row.text.count("counseled") == 1


def test_titles_of_sections() -> None:
    assert section_title("5 WARNINGS AND PRECAUTIONS 5.1 Falls", "warnings_and_cautions") == \
        ("5 WARNINGS AND PRECAUTIONS", len("5 WARNINGS AND PRECAUTIONS"))
    # a brand in capitals after a known title is not part of it
    assert section_title("1 INDICATIONS AND USAGE SYLATRON is indicated", "indications_and_usage")[0] == \
        "1 INDICATIONS AND USAGE"
    assert section_title("17 PATIENT COUNSELING INFORMATION Advise the patient", "information_for_patients")[0] \
        == "17 PATIENT COUNSELING INFORMATION"
    # a field whose text opens with no title gets one from its name, and keeps its text whole
    assert section_title("Rx only. Store at room temperature.", "spl_unclassified_section") == \
        ("Other Information", 0)


def test_numbered_subsections_rise_and_skip_cross_references() -> None:
    body = ("Falls ( 5.1 ) and seizures ( 5.2 ). 5.1 Falls Somnolence can cause falls [see (5.2)]. "
            "5.2 Seizures in Patients with Epilepsy Seizures occurred in 2.1 percent. 5.1 Falls again")
    found = [title for _, title, _ in numbered_subsections(body, "5")]
    assert found == ["5.1 Falls", "5.2 Seizures in Patients with Epilepsy"]


@pytest.mark.parametrize(("body", "title"), [
    # a known title inside a longer one, in its own field: the longer one
    ("16 HOW SUPPLIED/STORAGE AND HANDLING INDERAL XL is supplied", "16 HOW SUPPLIED/STORAGE AND HANDLING"),
])
def test_titles_are_not_cut_short(body: str, title: str) -> None:
    assert section_title(body, "how_supplied")[0] == title


@pytest.mark.parametrize(("body", "title"), [
    # lowercase words that join a title, and a known title that goes on ("Abuse" of "Abuse and Misuse")
    ("7 x. 7.3 Drugs that Increase Bleeding Risk Examples of drugs known to increase", "7.3 Drugs that Increase "
     "Bleeding Risk"),
    ("7 x. 7.2 Drug Interactions that may Decrease Exposure to LIPITOR Table 3 presents",
     "7.2 Drug Interactions that may Decrease Exposure to LIPITOR"),
    ("5 x. 5.2 Abuse and Misuse Xyrem is a Schedule III controlled substance.", "5.2 Abuse and Misuse"),
    # an abbreviation in parentheses belongs to the title, and ends it before a brand
    ("1 x. 1.2 Chronic Lymphocytic Leukemia (CLL) RITUXAN, in combination with", "1.2 Chronic Lymphocytic "
     "Leukemia (CLL)"),
    ("7 x. 7.5 Botanical (Herbal) Products and Foods More frequent INR monitoring", "7.5 Botanical (Herbal) "
     "Products and Foods"),
    # a title the first sentence repeats
    ("5 x. 5.3 Neuroleptic Malignant Syndrome Neuroleptic Malignant Syndrome (NMS), a potentially fatal",
     "5.3 Neuroleptic Malignant Syndrome"),
    # capitals, then the title goes on in mixed case
    ("7 x. 7.5 CYP2C9 and CYP3A4 Inhibitors Because of a significant increase", "7.5 CYP2C9 and CYP3A4 "
     "Inhibitors"),
    ("7 x. 7.1 CNS Depressants There may be increased CNS depression", "7.1 CNS Depressants"),
])
def test_subsection_titles_do_not_take_or_leave_the_first_words_of_their_text(body: str, title: str) -> None:
    found = numbered_subsections(body, body.split()[0])
    assert [t for _, t, _ in found] == [title]


def test_parse_table_reads_spans_entities_and_skips_image_only_tables() -> None:
    table = parse_table('<table><tr><th colspan="2">Dose &#x2265; 5 mg</th></tr>'
                        '<tr><td>a|b</td><td>T<sub>1/2</sub></td></tr></table>')
    assert table is not None
    assert table.rows == [["Dose ≥ 5 mg", ""], ["a|b", "T1/2"]]
    assert "| a\\|b | T1/2 |" in table.markdown()
    assert parse_table('<table><tr><td><renderMultiMedia referencedObject="MM1"/></td></tr></table>') is None


# --------------------------------------------------------------------------------------------
# Files


def test_bulk_zip_single_label_and_results_file(tmp_path: Path) -> None:
    other = label(set_id="0f6c0a62-8d1c-4a1c-9d0e-2b7a4a0e9f11", generic="BACLOFEN", brand="LIORESAL")
    zipped = write_zip(tmp_path / "drug-label-0001-of-0001.json.zip", {"drug-label.json": bulk([label(), other])})
    rows = list(readers.read_rows(zipped))
    assert [r.key for r in rows] == [SET_ID, other["set_id"]]
    assert [r.meta["drug"] for r in rows] == [["peginterferon alfa-2b"], ["baclofen"]]
    single = list(readers.read_rows(write_json(tmp_path / "one.json", other)))
    assert [r.title for r in single] == ["LIORESAL (baclofen)"]
    results = list(readers.read_rows(write_json(tmp_path / "api.json", {"results": [other]})))
    assert [r.key for r in results] == [other["set_id"]]
    assert readers.is_table(zipped) and ".json" in readers.supported_suffixes()


def test_bad_labels_are_named_and_skipped_the_rest_read(tmp_path: Path) -> None:
    empty = label(set_id="11111111-2222-4333-8444-555555555555")
    for name in ("indications_and_usage", "warnings_and_cautions", "dosage_and_administration",
                 "clinical_pharmacology", "mechanism_of_action", "spl_product_data_elements"):
        empty[name] = ["   "]
    empty["dosage_and_administration_table"] = []
    odd = label(set_id="22222222-3333-4444-8555-666666666666", openfda="not an object", effective_time="2020",
                boxed_warning="WARNING: SERIOUS INFECTIONS Serious infections can occur.",  # a string, not a list
                overdosage=[42, None, {"nested": "object"}, "10 OVERDOSAGE No case of overdose is known."])
    path = write_zip(tmp_path / "labels.json.zip", {
        "results.json": bulk([label(), "not a label", empty, odd, label()]),
        "README.txt": b"openFDA download notes",
    })
    rows = list(readers.read_rows(path))
    errors = {r.key: r.error for r in rows if r.error}
    assert errors == {
        "label2": "label 2 is not a JSON object",
        empty["set_id"]: f"label 3 (set id {empty['set_id']}) has no section text",
        "README.txt": "'README.txt' in the zip is not a JSON file of labels",
    }
    good = {r.key: r for r in rows if not r.error}
    assert set(good) == {SET_ID, odd["set_id"], f"{SET_ID}~2"}, "a repeated set id stays distinct"
    odd_row = good[odd["set_id"]]
    assert "Serious infections can occur." in odd_row.text and "No case of overdose is known." in odd_row.text
    assert "42" in odd_row.text and "nested" not in odd_row.text
    assert odd_row.title == f"Drug label {odd['set_id']}" and odd_row.source == ""
    assert "date" not in odd_row.meta and odd_row.meta["effective_time"] == "2020"
    assert odd_row.meta["url"].endswith(odd["set_id"])


def test_a_truncated_zip_keeps_the_labels_before_the_cut(tmp_path: Path) -> None:
    import random

    rng = random.Random(7)  # text that does not compress to nothing, as real labels
    labels = [label(set_id=f"{n:08d}-0000-4000-8000-000000000000",
                    description=[" ".join(rng.choice("abcdefghij") * rng.randint(1, 9) for _ in range(300))])
              for n in range(40)]
    whole = write_zip(tmp_path / "whole.json.zip", {"drug-label.json": bulk(labels)}).read_bytes()
    cut = tmp_path / "cut.json.zip"
    cut.write_bytes(whole[: len(whole) // 2])
    got = []
    with pytest.raises(UnreadableFile) as info:
        got.extend(readers.read_rows(cut))
    assert 5 < len(got) < 40 and all(not r.error for r in got)
    assert [r.key for r in got] == [lab["set_id"] for lab in labels[: len(got)]]
    assert "ends early" in info.value.reason and f"{len(got)} label(s)" in info.value.reason


def test_files_that_are_not_labels(tmp_path: Path) -> None:
    def reason(path: Path) -> str:
        with pytest.raises(UnreadableFile) as info:
            list(readers.read_rows(path))
        assert info.value.path == str(path)
        return info.value.reason

    assert "neither an openFDA label" in reason(write_json(tmp_path / "package.json", {"name": "x", "version": 1}))
    assert "not a list of labels" in reason(write_json(tmp_path / "r.json", {"results": {"total": 3}}))
    broken = tmp_path / "broken.json"
    broken.write_text('{"results": [' + json.dumps(label()) + ', {"set_id": ', encoding="utf-8")
    assert "1 label(s) before it were read" in reason(broken)
    (tmp_path / "empty.json").write_bytes(b"")
    assert "empty" in reason(tmp_path / "empty.json")
    (tmp_path / "fake.zip").write_bytes(b"this is no zip at all")
    assert "not a readable zip" in reason(tmp_path / "fake.zip")


def test_labels_are_read_one_at_a_time(tmp_path: Path) -> None:
    """A bulk file is never held whole: memory while reading stays far below the file's size."""
    big = [label(set_id=f"{n:08d}-0000-4000-8000-000000000000",
                 adverse_reactions=[f"6 ADVERSE REACTIONS {'Nausea occurred in patients. ' * 1500}"])
           for n in range(150)]
    path = tmp_path / "big.json"
    path.write_bytes(bulk(big))
    size = path.stat().st_size
    assert size > 6_000_000
    tracemalloc.start()
    try:
        count = sum(1 for _ in readers.read_rows(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 150
    assert peak < size / 4, f"peak {peak} bytes while reading a {size}-byte file"


def test_ingest_adds_one_document_per_label_and_reports_the_skipped(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "labels.json.zip", {"results.json": bulk([label(), "oops"]), "notes.txt": b"x"})
    report = ingest([path], index=tmp_path / "index")
    assert report.added == [f"{path}#{SET_ID}"]
    assert report.skipped == [(f"{path}#label2", "label 2 is not a JSON object"),
                              (f"{path}#notes.txt", "'notes.txt' in the zip is not a JSON file of labels")]
    snap = open_snapshot(tmp_path / "index")
    try:
        record = snap.document_record(doc_id_for(f"{path}#{SET_ID}"))
        sections = {p.section for p in snap.document_passages(doc_id_for(f"{path}#{SET_ID}"))}
    finally:
        snap.close()
    assert record is not None and record["meta"]["drug"] == ["peginterferon alfa-2b"]
    assert record["meta"]["url"].endswith(SET_ID) and record["format"] == "markdown"
    assert any(s.startswith("5 WARNINGS AND PRECAUTIONS > 5.1 ") for s in sections)
    again = ingest([path], index=tmp_path / "index")
    assert again.unchanged == [f"{path}#{SET_ID}"] and not again.added


# --------------------------------------------------------------------------------------------
# The real sample: 332 labels as openFDA's bulk download has them


@pytest.fixture
def openfda_zip(shared_dir: Path) -> Path:
    path = shared_dir / "corpora" / "openfda" / "drug-label-sample.json.zip"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return path


@pytest.mark.slow
def test_the_openfda_sample_reads_whole(openfda_zip: Path) -> None:
    rows = list(read_labels(openfda_zip))
    assert len(rows) == 332 and not [r.error for r in rows if r.error]
    assert len({r.key for r in rows}) == 332
    assert all(r.meta.get("drug") and r.meta.get("url") and r.meta.get("date") for r in rows)
    assert sum(bool(r.meta.get("routes")) for r in rows) >= 310  # 318 of the 332 name a route
    numbered = sum("\n### 5.1 " in r.text or "\n### 2.1 " in r.text for r in rows)
    assert numbered >= 200, f"only {numbered} labels have numbered subsections"
    for r in rows:  # no section text is written twice: a subsection copied into its own field is not repeated
        paragraphs = [p for p in r.text.split("\n\n") if len(p) > 400 and not p.startswith("|")]
        assert len(paragraphs) == len(set(paragraphs)), r.key
    tables = sum(r.text.count("\n| --- |") for r in rows)
    assert tables > 3000
