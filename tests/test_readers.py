"""kb.readers: the registry, decoding, titles, file discovery and the metadata sidecar."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from kb import readers
from kb.model import Document, UnreadableFile
from kb.readers import iter_files, load_metadata, read_document, reader, supported_suffixes


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def unreadable(path: Path) -> UnreadableFile:
    with pytest.raises(UnreadableFile) as info:
        read_document(path, doc_id="d")
    assert str(path) in str(info.value), "the message must name the file"
    assert info.value.path == str(path)
    return info.value


# --------------------------------------------------------------------------------------------
# Reading and decoding

BODY = "Baclofen – the “muscle relaxant” – is taken three times daily. Patients’ doses start at 5 mg; naïve café.\n"


def test_reads_utf8_text_with_metadata_and_hash(tmp_path: Path) -> None:
    raw = ("Baclofen Basics\n\n" + BODY).encode("utf-8")
    path = write(tmp_path, "basics.txt", raw)
    doc = read_document(path, doc_id="doc-1", source="Example Health")
    assert isinstance(doc, Document)
    assert (doc.doc_id, doc.path, doc.source, doc.format) == ("doc-1", str(path), "Example Health", "text")
    assert doc.sha256 == hashlib.sha256(raw).hexdigest()
    assert doc.text == "Baclofen Basics\n\n" + BODY
    assert doc.title == "Baclofen Basics"


def test_source_defaults_to_empty_string(tmp_path: Path) -> None:
    doc = read_document(write(tmp_path, "a.txt", BODY.encode()), doc_id="a")
    assert doc.source == ""


@pytest.mark.parametrize("newline", ["\r\n", "\r"])
def test_newlines_are_normalised(tmp_path: Path, newline: str) -> None:
    raw = f"Title{newline}{newline}First line.{newline}Second line.{newline}".encode()
    doc = read_document(write(tmp_path, "n.txt", raw), doc_id="n")
    assert doc.text == "Title\n\nFirst line.\nSecond line.\n"
    assert doc.sha256 == hashlib.sha256(raw).hexdigest(), "the hash is of the bytes, not the text"


def test_cp1252_is_detected(tmp_path: Path) -> None:
    text = "Dosage Notes\n\n" + BODY * 3
    doc = read_document(write(tmp_path, "legacy.txt", text.encode("cp1252")), doc_id="l")
    assert doc.text == text


def test_latin1_accents_are_detected(tmp_path: Path) -> None:
    text = "Résumé: the patient’s température élevée was noted by the garçon at the café.\n" * 3
    doc = read_document(write(tmp_path, "fr.txt", text.replace("’", "'").encode("latin-1")), doc_id="f")
    assert doc.text == text.replace("’", "'")


def test_utf8_bom_is_removed(tmp_path: Path) -> None:
    doc = read_document(write(tmp_path, "bom.txt", b"\xef\xbb\xbf" + ("Title\n" + BODY).encode()), doc_id="b")
    assert doc.text == "Title\n" + BODY
    assert doc.title == "Title"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-16-le"])
def test_utf16_is_decoded(tmp_path: Path, encoding: str) -> None:
    text = "Title\r\n" + BODY
    raw = text.encode(encoding)
    if encoding != "utf-16":  # add the BOM explicitly for the fixed-endian codecs
        raw = "\ufeff".encode(encoding) + raw
    doc = read_document(write(tmp_path, "wide.txt", raw), doc_id="w")
    assert doc.text == "Title\n" + BODY


def test_utf16_without_bom_is_decoded(tmp_path: Path) -> None:
    doc = read_document(write(tmp_path, "wide.txt", ("Title\n" + BODY).encode("utf-16-le")), doc_id="w")
    assert doc.text == "Title\n" + BODY


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-le", "utf-32", "cp1252"])
def test_a_table_is_decoded_by_the_rule_of_every_text(tmp_path: Path, encoding: str) -> None:
    # One rule (readers.text_encoding) for whole files and table streams: a table in UTF-32 or in
    # UTF-16 without a byte-order mark used to be refused as binary.
    text = "id,title,text\nn1,Café,Baclofen and café patients.\n"
    table = write(tmp_path, "notes.csv", text.encode(encoding))
    rows = list(readers.read_rows(table))
    assert [(r.key, r.title, r.text, r.error) for r in rows] == [("n1", "Café", "Baclofen and café patients.", "")]
    assert readers.decode_text(table, table.read_bytes()) == text


def test_a_binary_table_is_refused_as_a_binary_text_is(tmp_path: Path) -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00" + bytes(range(256))
    table = write(tmp_path, "image.csv", png)
    with pytest.raises(UnreadableFile, match="binary"):
        list(readers.read_rows(table))
    with pytest.raises(UnreadableFile, match="binary"):
        readers.decode_text(table, png)


# --------------------------------------------------------------------------------------------
# Files that cannot be read


def test_empty_file(tmp_path: Path) -> None:
    assert "empty" in unreadable(write(tmp_path, "empty.txt", b"")).reason


def test_whitespace_only_file(tmp_path: Path) -> None:
    assert "whitespace" in unreadable(write(tmp_path, "blank.md", b" \n\r\n\t \n")).reason


def test_binary_file_with_nul_bytes(tmp_path: Path) -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00" + bytes(range(256))
    assert "binary" in unreadable(write(tmp_path, "image.txt", png)).reason


def test_binary_file_of_control_characters(tmp_path: Path) -> None:
    raw = bytes([1, 2, 3, 4, 5, 6, 7, 8, 14, 15, 16, 17, 18, 19, 20, 65, 66]) * 50
    assert "binary" in unreadable(write(tmp_path, "blob.txt", raw)).reason


def test_undecodable_bytes(tmp_path: Path) -> None:
    reason = unreadable(write(tmp_path, "junk.txt", bytes(range(128, 256)) * 4)).reason
    assert "cannot be decoded" in reason


def test_unsupported_suffix_names_the_supported_ones(tmp_path: Path) -> None:
    reason = unreadable(write(tmp_path, "label.doc", b"\xd0\xcf\x11\xe0 legacy Word")).reason
    assert "unsupported file type (.doc)" in reason
    assert all(suffix in reason for suffix in (".txt", ".md", ".html", ".pdf", ".docx"))


def test_file_without_suffix(tmp_path: Path) -> None:
    assert "no suffix" in unreadable(write(tmp_path, "README", b"hello")).reason


def test_missing_file(tmp_path: Path) -> None:
    assert "does not exist" in unreadable(tmp_path / "gone.txt").reason


def test_folder_named_like_a_file(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").mkdir()
    assert "folder" in unreadable(tmp_path / "notes.txt").reason


def test_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "secret.txt", b"Secret text.")

    def deny(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", deny)  # chmod does not stop root, who runs CI
    assert "permission denied" in unreadable(path).reason


# --------------------------------------------------------------------------------------------
# Titles


def test_explicit_title_wins(tmp_path: Path) -> None:
    path = write(tmp_path, "a.md", b"# Heading Title\n\nBody text here.\n")
    assert read_document(path, doc_id="a", title="Given Title").title == "Given Title"


def test_markdown_title_is_first_h1_even_after_other_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "a.md", b"Routes: oral.\n\n## Not this\n\n# Real **Title** #\n\nBody.\n")
    doc = read_document(path, doc_id="a")
    assert doc.format == "markdown"
    assert doc.title == "Real Title"


def test_markdown_without_h1_uses_first_line_without_marks(tmp_path: Path) -> None:
    path = write(tmp_path, "a.markdown", b"## Overview\n\nBody text.\n")
    assert read_document(path, doc_id="a").title == "Overview"


def test_text_title_is_short_first_line(tmp_path: Path) -> None:
    path = write(tmp_path, "a.txt", b"\n\nWhat Is Baclofen?\n\nBaclofen is a muscle relaxant.\n")
    assert read_document(path, doc_id="a").title == "What Is Baclofen?"


@pytest.mark.parametrize(
    "first_line",
    [
        "Baclofen is a muscle relaxant that is prescribed for spasticity.",  # ends like a sentence
        "Baclofen " * 30,  # too long to be a title
        "Symptoms include:",
    ],
)
def test_text_title_falls_back_to_prettified_stem(tmp_path: Path, first_line: str) -> None:
    path = write(tmp_path, "baclofen_side-effects.txt", f"{first_line}\nMore text.\n".encode())
    assert read_document(path, doc_id="a").title == "Baclofen side effects"


# --------------------------------------------------------------------------------------------
# The registry


def test_supported_suffixes() -> None:
    assert {".txt", ".text", ".md", ".markdown"} <= set(supported_suffixes())
    assert list(supported_suffixes()) == sorted(supported_suffixes())


def test_suffix_match_is_case_insensitive(tmp_path: Path) -> None:
    assert read_document(write(tmp_path, "NOTES.TXT", b"Some text."), doc_id="n").format == "text"


def test_a_new_format_is_one_decorated_function(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readers, "_READERS", dict(readers._READERS))  # keep the real registry intact

    @reader(".rst")
    def read_rst(path: Path, raw: bytes) -> Document:
        text = readers.decode_text(path, raw)
        return Document(doc_id="", path=str(path), title="RST", source="", text=text, format="rst")

    assert ".rst" in supported_suffixes()
    doc = read_document(write(tmp_path, "a.RST", b"Title\n=====\n\nBody.\n"), doc_id="r", source="S")
    assert (doc.format, doc.doc_id, doc.title, doc.source) == ("rst", "r", "RST", "S")
    assert doc.sha256


def test_reader_rejects_suffix_without_dot() -> None:
    with pytest.raises(ValueError, match="dot"):
        reader("txt")


# --------------------------------------------------------------------------------------------
# iter_files


def make_tree(root: Path) -> None:
    for name in [
        "b.txt",
        "a.md",
        "notes.doc",
        "kb-metadata.json",
        ".hidden.txt",
        ".git/config.txt",
        "sub/z.markdown",
        "sub/deeper/c.text",
        "sub/.cache/x.txt",
        "sub/image.png",
    ]:
        write(root, name, b"Text.")


def test_iter_files_walks_folders_sorted_skipping_hidden_and_unsupported(tmp_path: Path) -> None:
    make_tree(tmp_path)
    found = [p.relative_to(tmp_path).as_posix() for p in iter_files([tmp_path])]
    assert found == ["a.md", "b.txt", "sub/deeper/c.text", "sub/z.markdown"]


def test_iter_files_yields_explicit_files_even_unsupported_or_missing(tmp_path: Path) -> None:
    make_tree(tmp_path)
    given = [tmp_path / "notes.doc", tmp_path / "missing.txt", tmp_path / "b.txt"]
    assert list(iter_files(given)) == given


def test_iter_files_never_yields_the_metadata_file_and_dedupes(tmp_path: Path) -> None:
    make_tree(tmp_path)
    found = list(iter_files([tmp_path / "kb-metadata.json", tmp_path / "b.txt", tmp_path, tmp_path / "sub"]))
    names = [p.relative_to(tmp_path).as_posix() for p in found]
    assert names == ["b.txt", "a.md", "sub/deeper/c.text", "sub/z.markdown"]


# --------------------------------------------------------------------------------------------
# Metadata sidecar


def test_metadata_absent_is_empty(tmp_path: Path) -> None:
    assert load_metadata(tmp_path) == {}


def test_metadata_good(tmp_path: Path) -> None:
    entries = {"a.txt": {"title": "Baclofen Basics", "source": "Example Health"}, "b.md": {"source": "FDA"}}
    write(tmp_path, "kb-metadata.json", b"\xef\xbb\xbf" + json.dumps(entries).encode())
    assert load_metadata(tmp_path) == entries


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"a.txt": {"title": "x",}}', "not valid JSON"),
        (b'["a.txt"]', "JSON object"),
        (b'{"a.txt": "Baclofen Basics"}', '"a.txt"'),
        (b'{"a.txt": {"title": 3}}', '"title" of "a.txt"'),
        (b'{"a.txt": {"source": ["x"]}}', '"source" of "a.txt"'),
        (b'{"a.txt": {"title": "caf\xe9"}}', "UTF-8"),
    ],
)
def test_metadata_malformed(tmp_path: Path, content: bytes, expected: str) -> None:
    path = write(tmp_path, "kb-metadata.json", content)
    with pytest.raises(UnreadableFile) as info:
        load_metadata(tmp_path)
    assert str(path) in str(info.value)
    assert expected in info.value.reason


# --------------------------------------------------------------------------------------------
# The real documents


def test_seed_articles_read(seeds_dir: Path) -> None:
    docs = {p.name: read_document(p, doc_id=p.stem) for p in iter_files([seeds_dir])}
    assert len(docs) == 4
    for doc in docs.values():
        assert doc.format == "text" and "\r" not in doc.text and doc.text.strip()
    assert docs["000_37aa1d5f429761de.txt"].title == "What Is Baclofen?"
    assert docs["001_57fe6a1b9e90603a.txt"].title == "Is Baclofen Addictive? What Is It Used For?"
    assert docs["002_dd7e9c0dcb16d289.txt"].title == "002 dd7e9c0dcb16d289"  # first line is a sentence


def test_fda_labels_read(labels_dir: Path) -> None:
    docs = [read_document(p, doc_id=p.stem) for p in iter_files([labels_dir])]
    assert len(docs) == 5
    titles = {doc.title for doc in docs}
    assert "Haloperidol (prescribing information)" in titles
    assert all(doc.format == "markdown" for doc in docs)
