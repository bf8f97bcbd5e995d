"""The researcher's selection (kb/selection.py): the model, its file, and its four exports."""

from __future__ import annotations

import io
import json
import os
import threading
from pathlib import Path

import pandas as pd
import pytest

from kb import selection as sel
from kb.export import unguard_cell
from kb.model import Passage
from kb.selection import Kept, Selection, SelectionError, SelectionStore

ADDED = "2026-11-23T10:00:00Z"


def passage(n: int = 1, text: str = "Baclofen can cause drowsiness.", **fields) -> Passage:
    values = {"passage_id": f"doc{n}-p{n}", "doc_id": f"doc{n}", "title": f"Title {n}", "source": f"Source {n}",
              "path": f"/corpus/doc{n}.txt", "section": f"Section {n}", "position": n, "char_start": 10 * n,
              "char_end": 10 * n + len(text), "text": text, "page": ""} | fields
    return Passage(**values)


def two() -> Selection:
    return (Selection()
            .add(passage(1, url="https://example.org/baclofen?x=1", date="2024-05", ingested="2026-11-20"),
                 note="check the label", query="drowsiness", added=ADDED)
            .add(passage(2, "Stopping it suddenly can cause seizures.", source="", page="3-4"), query="seizures",
                 added=ADDED))


# ---- the model -------------------------------------------------------------------------------------------


def test_adding_keeps_order_once_per_passage_and_the_first_note() -> None:
    s = two().add(passage(1), note="another note", added=ADDED)
    assert s.ids == ("doc1-p1", "doc2-p2")
    assert s.get("doc1-p1").note == "check the label"
    assert "doc2-p2" in s and "doc3-p3" not in s and len(s) == 2


def test_remove_and_notes() -> None:
    s = two().with_note("doc2-p2", "  compare   with\nthe FDA label ")
    assert s.get("doc2-p2").note == "compare with the FDA label"  # one line, spaces collapsed
    assert s.with_note("doc1-p1", "x" * 2000).get("doc1-p1").note == "x" * sel.MAX_NOTE_CHARS
    assert s.remove("doc1-p1").ids == ("doc2-p2",)
    assert s.remove("not-kept") == s


def test_refreshed_takes_current_provenance_and_marks_passages_gone() -> None:
    moved = passage(1, position=7, section="Renamed section")
    s, missing = two().refreshed({"doc1-p1": moved}.get)
    assert missing == {"doc2-p2"}
    first, second = s.items
    assert (first.position, first.section, first.note, first.query, first.added) == (
        7, "Renamed section", "check the label", "drowsiness", ADDED)
    assert second == two().items[1]  # kept whole, with its saved text


# ---- the file ----------------------------------------------------------------------------------------------


def test_round_trip_through_the_file(tmp_path: Path) -> None:
    store = SelectionStore.for_index(tmp_path / "index")
    store.save(two())
    assert store.path == (tmp_path / "index" / "selection.json").resolve()
    again = SelectionStore.for_index(tmp_path / "index").load()  # a fresh process, as after a reload
    assert again == two()
    data = json.loads(store.path.read_text(encoding="utf-8"))
    assert data["format"] == "kb-selection" and data["version"] == 1
    assert [p["passage_id"] for p in data["passages"]] == ["doc1-p1", "doc2-p2"]


def test_store_changes_are_saved_at_once(tmp_path: Path) -> None:
    store = SelectionStore.for_index(tmp_path)
    store.add(passage(1), query="q")
    store.add(passage(2))
    store.set_note("doc2-p2", "important")
    store.remove("doc1-p1")
    reread = SelectionStore.for_index(tmp_path).load()
    assert reread.ids == ("doc2-p2",) and reread.get("doc2-p2").note == "important"


def test_two_indexes_have_their_own_selections(tmp_path: Path) -> None:
    a, b = SelectionStore.for_index(tmp_path / "a"), SelectionStore.for_index(tmp_path / "b")
    a.add(passage(1))
    b.add(passage(2))
    assert a.load().ids == ("doc1-p1",) and b.load().ids == ("doc2-p2",)


def test_two_sessions_never_lose_each_others_changes(tmp_path: Path) -> None:
    """Each change re-reads the file under a lock: two page sessions on one index add concurrently."""
    stores = [SelectionStore.for_index(tmp_path) for _ in range(4)]
    threads = [threading.Thread(target=lambda s=s, i=i: [s.add(passage(10 * i + k)) for k in range(10)])
               for i, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(SelectionStore.for_index(tmp_path).load()) == 40


def test_the_file_is_replaced_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = SelectionStore.for_index(tmp_path)
    store.save(two())
    before = store.path.read_bytes()
    calls = []
    real_replace = os.replace

    def spy(src, dst):
        calls.append((Path(src), Path(dst)))
        assert json.loads(Path(src).read_text(encoding="utf-8"))["passages"][-1]["passage_id"] == "doc3-p3"
        assert store.path.read_bytes() == before  # the old file is whole until the new one replaces it
        real_replace(src, dst)

    monkeypatch.setattr(sel.os, "replace", spy)
    store.add(passage(3))
    [(src, dst)] = calls
    assert dst == store.path and src.parent == store.path.parent and src != dst
    assert not src.exists()


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    store = SelectionStore.for_index(tmp_path)
    store.save(two())
    before = store.path.read_bytes()

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sel.os, "fsync", disk_full)
    with pytest.raises(SelectionError, match=r"cannot be saved to .*selection\.json: No space left on device"):
        store.add(passage(3))
    assert store.path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix != ".lock") == ["selection.json"]


@pytest.mark.parametrize(("content", "reason"), [
    ('{"format": "kb-selection", "version": 1, "passages": [', "Expecting value"),
    ("[]", "it is not a kb selection"),
    ('{"format": "kb-selection", "version": 9, "passages": []}', "it is version 9"),
    ('{"format": "kb-selection", "version": 1, "passages": [{"text": "no id"}]}', "an entry has no passage_id"),
    ('{"format": "kb-selection", "version": 1, "passages": [{"passage_id": "a", "position": "3"}]}',
     "position of a is not a whole number"),
])
def test_a_corrupt_file_is_kept_aside_and_the_selection_starts_empty(tmp_path: Path, content: str,
                                                                       reason: str) -> None:
    path = tmp_path / "selection.json"
    path.write_text(content, encoding="utf-8")
    store = SelectionStore.for_index(tmp_path)
    assert store.load() == Selection()
    bad = tmp_path / "selection.json.bad"
    assert store.problem.startswith(f"The saved selection {path.resolve()} could not be read ({reason}")
    assert f"it was moved to {bad.resolve()} and the selection starts empty." in store.problem
    assert bad.read_text(encoding="utf-8") == content and not path.exists()
    store.add(passage(1))  # and the researcher can go on keeping passages
    assert SelectionStore.for_index(tmp_path).load().ids == ("doc1-p1",)


def test_unknown_fields_in_a_saved_entry_are_ignored(tmp_path: Path) -> None:
    entry = {"passage_id": "x-1", "text": "Some text.", "note": "n", "added_by": "a later kb"}
    (tmp_path / "selection.json").write_text(json.dumps({"format": "kb-selection", "version": 1,
                                                         "passages": [entry, entry]}), encoding="utf-8")
    store = SelectionStore.for_index(tmp_path)
    assert store.load().items == (Kept(passage_id="x-1", text="Some text.", note="n"),)
    assert store.problem is None


# ---- exports -----------------------------------------------------------------------------------------------


def test_csv_export_exact_content() -> None:
    data = sel.csv_bytes(two(), missing={"doc2-p2"})
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.decode("utf-8-sig") == (
        "passage_id,title,source,section,page,position,text,note,in_index,query,added,doc_id,path,url,date,ingested,"
        "char_start,char_end\r\n"
        "doc1-p1,Title 1,Source 1,Section 1,,2,Baclofen can cause drowsiness.,check the label,True,drowsiness,"
        "2026-11-23T10:00:00Z,doc1,/corpus/doc1.txt,https://example.org/baclofen?x=1,2024-05,2026-11-20,10,40\r\n"
        "doc2-p2,Title 2,,Section 2,3-4,3,Stopping it suddenly can cause seizures.,,False,seizures,"
        "2026-11-23T10:00:00Z,doc2,/corpus/doc2.txt,,,,20,60\r\n"
    )


def test_csv_export_is_formula_safe_and_reads_back_exactly() -> None:
    hostile = passage(1, "- Dizziness\n- =1+1 is not a formula here, \"quoted\", and commas", title="=HYPERLINK(x)",
                      source="@evil", section="+1 section")
    s = Selection().add(hostile, note="-check this", query="=cmd|' /C calc'!A0", added=ADDED)
    frame = pd.read_csv(io.BytesIO(sel.csv_bytes(s)), encoding="utf-8-sig", dtype=str, keep_default_na=False)
    row = frame.iloc[0]
    for column in ("text", "title", "source", "section", "note", "query"):
        assert row[column].startswith("'"), column  # a spreadsheet shows it as text, never runs it
    assert unguard_cell(row["text"]) == hostile.text and unguard_cell(row["title"]) == "=HYPERLINK(x)"
    assert unguard_cell(row["note"]) == "-check this" and unguard_cell(row["query"]) == "=cmd|' /C calc'!A0"


def test_json_export_exact_content() -> None:
    data = json.loads(sel.json_bytes(two(), {"doc2-p2"}, index="/data/index", exported=ADDED))
    assert data == {
        "format": "kb-selection", "version": 1, "index": "/data/index", "exported": ADDED,
        "passages": [
            {"passage_id": "doc1-p1", "title": "Title 1", "source": "Source 1", "section": "Section 1", "page": "",
             "position": 2, "text": "Baclofen can cause drowsiness.", "note": "check the label", "in_index": True,
             "query": "drowsiness", "added": ADDED, "doc_id": "doc1", "path": "/corpus/doc1.txt", "char_start": 10,
             "char_end": 40, "url": "https://example.org/baclofen?x=1", "date": "2024-05", "ingested": "2026-11-20"},
            {"passage_id": "doc2-p2", "title": "Title 2", "source": "", "section": "Section 2", "page": "3-4",
             "position": 3, "text": "Stopping it suddenly can cause seizures.", "note": "", "in_index": False,
             "query": "seizures", "added": ADDED, "doc_id": "doc2", "path": "/corpus/doc2.txt", "char_start": 20,
             "char_end": 60, "url": "", "date": "", "ingested": ""},
        ],
    }


def test_markdown_export_exact_content() -> None:
    assert sel.markdown(two(), {"doc2-p2"}, index="/data/index", exported=ADDED) == (
        "# Selected passages\n"
        "\n"
        "2 passages kept in kb (index `/data/index`), exported 2026-11-23T10:00:00Z.\n"
        "\n"
        "1. Source 1, *Title 1* (2024-05), § Section 1, passage 2. Passage `doc1-p1`, `/corpus/doc1.txt`. "
        "<https://example.org/baclofen?x=1> Accessed 2026-11-20.\n"
        "   Note: check the label\n"
        "\n"
        "   > Baclofen can cause drowsiness.\n"
        "\n"
        "2. source not named, *Title 2*, § Section 2, p. 3-4, passage 3. Passage `doc2-p2`, `/corpus/doc2.txt`. "
        "Accessed 2026-11-23. **No longer in the index.**\n"
        "\n"
        "   > Stopping it suddenly can cause seizures.\n"
    )


def test_markdown_export_keeps_markup_in_passages_literal() -> None:
    s = Selection().add(passage(1, "Take *2* tablets <script>x</script>\n# not a heading", title="A_b [c]",
                                path="/odd`name.txt"), added=ADDED)
    out = sel.markdown(s, exported=ADDED)
    assert "*A\\_b \\[c\\]*" in out
    assert "   > Take \\*2\\* tablets \\<script\\>x\\</script\\>\n   > \\# not a heading\n" in out
    assert "``/odd`name.txt``" in out


def test_bibtex_export_exact_content() -> None:
    assert sel.bibtex(two(), {"doc2-p2"}) == (
        "@misc{kb:doc1-p1,\n"
        "  title        = {Title 1},\n"
        "  publisher    = {Source 1},\n"
        "  section      = {Section 1},\n"
        "  position     = {passage 2},\n"
        "  passageid    = {doc1-p1},\n"
        "  date         = {2024-05},\n"
        "  year         = {2024},\n"
        "  url          = {https://example.org/baclofen?x=1},\n"
        "  urldate      = {2026-11-20},\n"
        "  howpublished = {/corpus/doc1.txt},\n"
        "  annote       = {check the label},\n"
        "  quote        = {Baclofen can cause drowsiness.}\n"
        "}\n"
        "\n"
        "@misc{kb:doc2-p2,\n"
        "  title        = {Title 2},\n"
        "  section      = {Section 2},\n"
        "  pages        = {3-4},\n"
        "  position     = {passage 3},\n"
        "  passageid    = {doc2-p2},\n"
        "  urldate      = {2026-11-23},\n"
        "  howpublished = {/corpus/doc2.txt},\n"
        "  status       = {no longer in the index},\n"
        "  quote        = {Stopping it suddenly can cause seizures.}\n"
        "}\n"
    )


def test_bibtex_export_escapes_what_bibtex_would_read() -> None:
    s = Selection().add(passage(1, "50% of {patients} & C:\\path_x #1 ~ ^"), added=ADDED)
    quote = next(line for line in sel.bibtex(s).splitlines() if line.strip().startswith("quote"))
    assert quote == r"  quote        = {50\% of \{patients\} \& C:\textbackslash{}path\_x \#1 \~{} \^{}}"
    assert quote.count("{") - quote.count(r"\{") == quote.count("}") - quote.count(r"\}")  # balanced
