"""The pipeline on real files: incremental updates, bad files, killed ingests, provenance."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kb import ingest as ingest_mod
from kb.ingest import ingest, page_label, passage_ids
from kb.model import IndexIncompatible, KbError
from kb.readers import TableColumns
from kb.search import KnowledgeBase

REPO = Path(__file__).resolve().parents[1]

ARTICLE = """Baclofen Overview

What Is Baclofen?
Baclofen is a muscle relaxant used to treat spasticity from multiple sclerosis and spinal cord injuries. It acts on
GABA-B receptors in the spinal cord. It is usually taken orally as a tablet.

Side Effects
The most common side effects of baclofen include drowsiness, dizziness and weakness. Serious side effects include
seizures and hallucinations, especially when the drug is stopped abruptly.
"""


def write(folder: Path, name: str, text: str | bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    write(folder, "baclofen.txt", ARTICLE)
    write(folder, "notes/interactions.md", "# Interactions\n\n## Alcohol\n\nMixing baclofen with alcohol or "
          "opioids can deepen drowsiness and slow breathing. Do not combine them without a doctor's advice.\n")
    return folder


def consistent(root: Path) -> None:
    """Every document record has exactly the passages it says it has, and offsets give back the text."""
    with KnowledgeBase.open(root) as kb:
        for doc in kb.documents():
            passages = kb.snapshot().document_passages(doc["doc_id"])
            assert len(passages) == doc["passages"], doc["path"]
            text = kb.document(doc["doc_id"])["text"]
            for p in passages:
                assert text[p.char_start:p.char_end] == p.text


def test_ingest_reports_and_indexes_every_file(corpus, tmp_path):
    report = ingest([corpus], index=tmp_path / "index")
    assert len(report.added) == 2 and not report.skipped and report.passages >= 3
    consistent(tmp_path / "index")
    with KnowledgeBase.open(tmp_path / "index") as kb:
        hit = kb.search("drowsiness alcohol").hits[0]
        assert hit.passage.title == "Interactions" and hit.passage.section.endswith("Alcohol")
        assert kb.search("spasticity").hits[0].passage.path == str((corpus / "baclofen.txt").resolve())


def test_ingest_gives_back_the_cycle_collectors_settings(corpus, tmp_path, monkeypatch):
    """An ingest freezes what is loaded and collects less often while it runs (kb.ingest._long_lived);
    afterwards, and after a failed ingest, the process's collector is as it was."""
    import gc

    before = gc.get_threshold()
    seen = []
    real = ingest_mod._ingest_files

    def spy(*args, **kwargs):
        seen.append((gc.get_threshold()[0], gc.get_freeze_count() > 0))
        return real(*args, **kwargs)

    monkeypatch.setattr(ingest_mod, "_ingest_files", spy)
    ingest([corpus], index=tmp_path / "index")
    assert seen == [(ingest_mod.GC_YOUNGEST, True)]
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(ingest_mod, "_ingest_files", broken)
    with pytest.raises(RuntimeError):
        ingest([corpus], index=tmp_path / "index2")
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_second_ingest_skips_unchanged_files(corpus, tmp_path):
    ingest([corpus], index=tmp_path / "index")
    with KnowledgeBase.open(tmp_path / "index") as kb:
        before = {h.passage.passage_id for h in kb.search("", limit=None).hits}
    report = ingest([corpus], index=tmp_path / "index")
    assert (report.added, report.updated, report.removed, len(report.unchanged)) == ([], [], [], 2)
    with KnowledgeBase.open(tmp_path / "index") as kb:
        assert {h.passage.passage_id for h in kb.search("", limit=None).hits} == before


def test_no_paths_refreshes_what_was_ingested_before(corpus, tmp_path):
    ingest([corpus], index=tmp_path / "index")
    write(corpus, "new.txt", "Tapering\nBaclofen should be tapered over one to two weeks to avoid withdrawal.\n")
    report = ingest(index=tmp_path / "index")
    assert [Path(p).name for p in report.added] == ["new.txt"] and len(report.unchanged) == 2


def test_changed_file_is_replaced_and_removed_file_deleted(corpus, tmp_path):
    ingest([corpus], index=tmp_path / "index")
    write(corpus, "baclofen.txt", ARTICLE.replace("hallucinations", "confusion"))
    (corpus / "notes" / "interactions.md").unlink()
    report = ingest([corpus], index=tmp_path / "index")
    assert len(report.updated) == 1 and len(report.removed) == 1
    with KnowledgeBase.open(tmp_path / "index") as kb:
        assert kb.search("hallucinations").total == 0
        assert kb.search("confusion").total == 1
        assert kb.search("alcohol").total == 0
        assert kb.stats()["documents"] == 1
    consistent(tmp_path / "index")


def test_ingesting_another_folder_keeps_the_first(corpus, tmp_path):
    ingest([corpus / "notes"], index=tmp_path / "index")
    other = write(tmp_path / "other", "x.txt", ARTICLE)
    report = ingest([other.parent], index=tmp_path / "index")
    assert not report.removed
    with KnowledgeBase.open(tmp_path / "index") as kb:
        assert kb.stats()["documents"] == 2


def test_passage_ids_are_stable_and_survive_unrelated_edits(corpus, tmp_path):
    ingest([corpus], index=tmp_path / "a")
    ingest([corpus], index=tmp_path / "b", rebuild=True)
    with KnowledgeBase.open(tmp_path / "a") as a, KnowledgeBase.open(tmp_path / "b") as b:
        assert [h.passage.passage_id for h in a.search("", limit=None, sort="document").hits] == \
               [h.passage.passage_id for h in b.search("", limit=None, sort="document").hits]
    assert passage_ids("d", ["x", "y", "x"]) == [passage_ids("d", ["x"])[0], passage_ids("d", ["y"])[0],
                                                 passage_ids("d", ["x"])[0] + "-2"]


def test_bad_files_are_reported_by_name_and_skipped(corpus, tmp_path):
    write(corpus, "empty.txt", "")
    write(corpus, "binary.txt", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    write(corpus, "latin1.txt", "Caf\xe9 and baclofen: na\xefve patients.\n".encode("cp1252"))
    report = ingest([corpus, tmp_path / "missing-folder"], index=tmp_path / "index")
    reasons = {Path(p).name: reason for p, reason in report.skipped}
    assert set(reasons) == {"empty.txt", "binary.txt", "missing-folder"}
    assert all(reasons.values())
    assert len(report.added) == 3  # the two good files and the legacy-encoded one
    with KnowledgeBase.open(tmp_path / "index") as kb:
        assert kb.search("café").total == 1


def test_a_file_that_becomes_unreadable_keeps_its_indexed_version(corpus, tmp_path):
    ingest([corpus], index=tmp_path / "index")
    write(corpus, "baclofen.txt", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    report = ingest([corpus], index=tmp_path / "index")
    assert [Path(p).name for p, _ in report.skipped] == ["baclofen.txt"]
    with KnowledgeBase.open(tmp_path / "index") as kb:
        assert kb.search("spasticity").total == 1


def test_changed_settings_reprocess_unchanged_files(corpus, tmp_path):
    ingest([corpus], index=tmp_path / "index")
    report = ingest([corpus], index=tmp_path / "index", min_words=5, max_words=20)
    assert len(report.updated) == 2


def test_rebuild_starts_over(corpus, tmp_path):
    ingest([corpus], index=tmp_path / "index")
    report = ingest([corpus / "notes"], index=tmp_path / "index", rebuild=True)
    assert len(report.added) == 1
    with KnowledgeBase.open(tmp_path / "index") as kb:
        assert kb.stats()["documents"] == 1
    assert len(list((tmp_path / "index").glob("store-*"))) == 1


def many_files(folder: Path, n: int) -> Path:
    for i in range(n):
        write(folder, f"doc{i:04d}.txt", ARTICLE.replace("Baclofen Overview", f"Overview number {i}")
              + f"\nNote {i}: " + " ".join(f"word{i}x{j}" for j in range(200)) + ".\n")
    return folder


def run_ingest(paths: list[Path], index: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "kb", "ingest", *map(str, paths), "--index", str(index), "--quiet", *extra],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def orphans_of(pid: int, marker: str, timeout: float) -> list[int]:
    """Processes the killed ingest ``pid`` (run on ``marker``, its index path) left running."""
    deadline = time.monotonic() + timeout
    while True:
        left = []
        for status in Path("/proc").glob("[0-9]*/status"):
            try:
                fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
                cmdline = (status.parent / "cmdline").read_bytes()
            except OSError:
                continue
            if (fields.get("PPid", "").strip() == "1" and marker.encode() in cmdline
                    and str(pid) != status.parent.name):
                left.append(int(status.parent.name))
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.5)


def kill_when(proc: subprocess.Popen, ready, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, f"ingest finished before it could be killed: {proc.communicate()}"
        assert time.monotonic() < deadline, "ingest never reached the point to kill it"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def toc_generation(store: Path) -> int:
    return max((int(p.stem.rsplit("_", 1)[1]) for p in store.glob("_MAIN_*.toc")), default=-1)


def children(pid: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            if f"PPid:\t{pid}\n" in status.read_text():
                found.append(int(status.parent.name))
        except OSError:
            continue
    return found


@pytest.mark.slow
@pytest.mark.parametrize("procs", ["1", "2"])
def test_killed_ingest_leaves_a_complete_searchable_index(corpus, tmp_path, procs):
    index = tmp_path / "index"
    ingest([corpus], index=index)
    with KnowledgeBase.open(index) as kb:
        before = kb.search("", limit=None).total
    store = next(index.glob("store-*"))
    generation = toc_generation(store)
    big = many_files(tmp_path / "big", 600)
    proc = run_ingest([big], index, "--procs", procs, "--commit-every", "200")
    # kill once a batch is committed and more is being written (by the workers, with procs 2)
    kill_when(proc, lambda: toc_generation(store) > generation and (procs == "1" or len(children(proc.pid)) >= 2))
    with KnowledgeBase.open(index) as kb:
        assert kb.search("", limit=None).total > before  # the committed batches are there, whole
        assert kb.search("spasticity").total >= 1
        assert kb.stats()["documents"] < 602  # and the ingest was really cut short
    consistent(index)
    report = ingest([big], index=index)  # a rerun finishes the job
    assert not report.skipped and report.unchanged
    with KnowledgeBase.open(index) as kb:
        assert kb.stats()["documents"] == 602
    consistent(index)


@pytest.mark.slow
def test_a_killed_parallel_ingest_leaves_no_workers_behind(tmp_path):
    rows = tmp_path / "rows.jsonl"
    rows.write_text("\n".join(json.dumps({"id": f"r{i}", "title": f"Row {i}", "text": ARTICLE + f" Row {i}."})
                              for i in range(4000)), encoding="utf-8")
    index = tmp_path / "index"
    proc = subprocess.Popen([sys.executable, "-m", "kb", "ingest", str(rows), "--index", str(index), "--quiet",
                             "--procs", "2"], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started = []
    # kill in the first batch, while the workers wait for the next documents to index
    kill_when(proc, lambda: len(children(proc.pid)) >= 2 and (started or started.append(time.monotonic()))
              and time.monotonic() - started[0] > 1.5)
    assert not orphans_of(proc.pid, str(index), timeout=10), "indexing workers outlived the killed ingest"


@pytest.mark.slow
def test_killed_rebuild_keeps_the_previous_index_live(corpus, tmp_path):
    index = tmp_path / "index"
    ingest([corpus], index=index)
    live = (index / "kb.json").read_text()
    big = many_files(tmp_path / "big", 300)
    proc = run_ingest([big], index, "--rebuild")
    kill_when(proc, lambda: len(list(index.glob("store-*"))) > 1)
    assert (index / "kb.json").read_text() == live
    with KnowledgeBase.open(index) as kb:
        assert kb.stats()["documents"] == 2
    ingest([corpus], index=index, rebuild=True)  # the interrupted store is cleaned up
    assert len(list(index.glob("store-*"))) == 1


@pytest.mark.slow
def test_readers_search_while_an_ingest_runs(corpus, tmp_path):
    index = tmp_path / "index"
    ingest([corpus], index=index)
    proc = run_ingest([many_files(tmp_path / "big", 200)], index)
    searches = 0
    with KnowledgeBase.open(index) as kb:
        while proc.poll() is None:
            assert kb.search("spasticity").total >= 1
            searches += 1
    assert proc.returncode == 0, proc.communicate()
    assert searches > 0


def test_fda_labels_are_tagged_sensibly(shared_dir, tmp_path):
    labels = shared_dir / "corpora" / "fda-labels"
    if not labels.is_dir():
        pytest.skip(f"{labels} is absent")
    report = ingest([labels], index=tmp_path / "index")
    assert len(report.added) == 5 and not report.skipped
    with KnowledgeBase.open(tmp_path / "index") as kb:
        docs = {d["title"]: d for d in kb.documents()}
        halo = next(d for t, d in docs.items() if "haloperidol" in t.lower())
        halo_routes = kb.search("", {"route": ["oral"]}, limit=None)
        assert any(h.passage.doc_id == halo["doc_id"] for h in halo_routes.hits)
        adverse = kb.search('section:"adverse reactions"', limit=None)
        assert adverse.total > 0
        tagged = [h for h in adverse.hits if "side_effects" in h.passage.tags["topic"]]
        assert len(tagged) >= adverse.total * 0.6
        assert kb.search("", {"drug": ["haloperidol"]}).total > 0
    consistent(tmp_path / "index")


def test_sample_corpus(sample_index):
    with KnowledgeBase.open(sample_index) as kb:
        stats = kb.stats()
        assert stats["documents"] == 4
        assert stats["boilerplate_passages"] > 0
        assert set(stats["facets"]["source"]) == {"The Recovery Village", "Addiction Intervention"}
        assert kb.search("baclofin").suggestion == "baclofen"
        assert "dose" in kb.search("what happens if I miss a dose").hits[0].passage.section.lower()
        assert "half-life" in kb.search("half-life").hits[0].passage.text
        assert kb.search("Lioresal").hits[0].passage.tags["drug"] == ["baclofen"]
        assert kb.search("", {"route": ["intrathecal"]}).total > 0
        assert kb.search("contact us today").total == 0  # a call to action is boilerplate


def test_jsonl_rows_are_documents_updated_one_by_one(tmp_path):
    table = tmp_path / "records.jsonl"
    rows = [{"id": "a1", "title": "Baclofen overdose", "text": "An overdose of baclofen can cause coma.",
             "source": "NIH", "qtype": "overdose"},
            {"id": "a2", "title": "Baclofen dosing", "text": "Take baclofen orally three times a day."}]
    table.write_text("\n".join(json.dumps(r) for r in rows) + "\n{not json}\n", encoding="utf-8")
    report = ingest([table], index=tmp_path / "index")
    assert sorted(report.added) == [f"{table.resolve()}#a1", f"{table.resolve()}#a2"]
    assert report.skipped == [(f"{table.resolve()}#row3", "line 3 is not valid JSON (Expecting property name "
                                                         "enclosed in double quotes)")]
    with KnowledgeBase.open(tmp_path / "index") as kb:
        hit = kb.search("coma").hits[0].passage
        assert (hit.title, hit.source, hit.path) == ("Baclofen overdose", "NIH", f"{table.resolve()}#a1")
        assert kb.document(hit.doc_id)["meta"] == {"id": "a1", "qtype": "overdose"}
    rows[1]["text"] = "Take baclofen by mouth twice a day."
    table.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    report = ingest([table], index=tmp_path / "index")
    assert report.updated == [f"{table.resolve()}#a2"] and len(report.unchanged) == 1
    table.write_text(json.dumps(rows[0]) + "\n", encoding="utf-8")
    assert ingest([table], index=tmp_path / "index").removed == [f"{table.resolve()}#a2"]


def test_csv_table_with_chosen_columns(tmp_path):
    table = tmp_path / "notes.csv"
    table.write_text("ref,heading,body,publisher\nr1,Pump,\"An intrathecal pump delivers baclofen, slowly.\",FDA\n"
                     "r2,Empty,,FDA\n", encoding="utf-8")
    columns = TableColumns(text="body", title="heading", id="ref", source="publisher")
    report = ingest([table], index=tmp_path / "index", table=columns)
    assert report.added == [f"{table.resolve()}#r1"]
    assert report.skipped == [(f"{table.resolve()}#r2", "'body' is empty")]
    with KnowledgeBase.open(tmp_path / "index") as kb:
        hit = kb.search("pump").hits[0].passage
        assert (hit.title, hit.source, hit.tags["route"]) == ("Pump", "FDA", ["intrathecal"])
    report = ingest([table], index=tmp_path / "index")  # other columns: every row re-read, none usable
    assert {reason for _, reason in report.skipped} == {"no 'text' column (columns: ref, heading, body, publisher)"}


def test_a_table_that_becomes_unreadable_keeps_its_rows(tmp_path):
    table = tmp_path / "records.jsonl"
    table.write_text(json.dumps({"id": "x", "text": "Baclofen pump refills."}) + "\n", encoding="utf-8")
    ingest([table], index=tmp_path / "index")
    table.write_bytes(b"")
    report = ingest([table], index=tmp_path / "index")
    assert report.skipped and not report.removed
    with KnowledgeBase.open(tmp_path / "index") as kb:
        assert kb.search("refills").total == 1


@pytest.mark.parametrize(("start", "end", "label"), [(0, 5, "1"), (10, 20, "2"), (15, 35, "2-3"), (30, 31, "3")])
def test_page_label_from_page_starts(start, end, label):
    assert page_label([0, 10, 30], start, end) == label
    assert page_label([], start, end) == ""


def test_an_index_of_an_older_schema_is_refused_clearly_and_rebuilt_by_ingest(corpus, tmp_path):
    index = tmp_path / "index"
    ingest([corpus], index=index)
    meta = json.loads((index / "kb.json").read_text())
    meta["schema_version"] = 1
    (index / "kb.json").write_text(json.dumps(meta))
    with pytest.raises(IndexIncompatible, match="kb ingest --rebuild"):
        KnowledgeBase.open(index)
    report = ingest(index=index)  # no paths: what the old index held, into a new store
    assert len(report.added) == 2
    with KnowledgeBase.open(index) as kb:
        assert kb.stats()["documents"] == 2
    assert len(list(index.glob("store-*"))) == 1


def test_a_second_ingest_at_the_same_time_is_told_to_wait(corpus, tmp_path, monkeypatch):
    import kb.index.writer

    index = tmp_path / "index"
    ingest([corpus], index=index)
    monkeypatch.setattr(kb.index.writer, "LOCK_WAIT_SECONDS", 0.5)
    holder, _, _ = kb.index.open_writer(index, rebuild=False, settings={})
    holder._w()  # takes the index's write lock
    try:
        write(corpus, "late.txt", "Late\nA late note about baclofen.\n")
        with pytest.raises(KbError, match="Another ingest is writing to this index"):
            ingest([corpus], index=index)
    finally:
        holder.cancel()
    assert len(ingest([corpus], index=index).added) == 1  # and it goes through once the other is done


def test_tables_in_legacy_encodings_and_with_a_bad_tail(tmp_path, monkeypatch):
    import kb.readers_tables

    table = tmp_path / "notes.csv"
    table.write_bytes("id,title,text\nn1,Caf\xe9,Baclofen and caf\xe9 patients.\n".encode("cp1252"))
    report = ingest([table], index=tmp_path / "index")
    assert report.added == [f"{table.resolve()}#n1"]
    rows = tmp_path / "rows.jsonl"
    good = json.dumps({"id": "g", "text": "Baclofen pump refills are monthly."}) + "\n"
    rows.write_bytes(good.encode() * 1 + b'{"id": "h", "text": "\xff\xfe broken"}\n')
    monkeypatch.setattr(kb.readers_tables, "_HEAD_BYTES", 16)  # the encoding is judged on a head; the tail is bad
    report = ingest([rows], index=tmp_path / "index")
    assert report.added == [f"{rows.resolve()}#g"]
    assert report.skipped == [(f"{rows.resolve()}#row2", "row 2 has bytes that are not utf-8")]
    with KnowledgeBase.open(tmp_path / "index") as kb:
        assert kb.search("café").total == 1


def test_many_drugs_in_one_collection_filter_by_drug(shared_dir, tmp_path):
    labels = shared_dir / "corpora" / "fda-labels"
    if not labels.is_dir():
        pytest.skip(f"{labels} is absent")
    index = tmp_path / "index"
    ingest(index=index)  # the bundled baclofen sample
    ingest([labels], index=index)
    with KnowledgeBase.open(index) as kb:
        titles = {d["doc_id"]: d["title"] for d in kb.documents()}
        baclofen = kb.search("", {"drug": ["baclofen"]}, limit=None)
        assert {titles[h.passage.doc_id] for h in baclofen.hits} >= {
            "Baclofen: Side Effects, Interactions and Signs of Abuse", "What is Baclofen Used For?"}
        assert not any("haloperidol" in titles[h.passage.doc_id].lower() for h in baclofen.hits)
        halo = kb.search("", {"drug": ["haloperidol"]}, limit=None)
        assert halo.total and all("halo" in titles[h.passage.doc_id].lower() for h in halo.hits)
        both = kb.search("seizures", {"drug": ["baclofen", "haloperidol"]}, limit=None)
        assert {h.passage.doc_id for h in both.hits} >= {h.passage.doc_id for h in
                                                          kb.search("seizures", {"drug": ["baclofen"]}).hits}


def test_a_new_drug_from_a_vocabulary_folder_without_code(tmp_path):
    vocab = tmp_path / "my_vocab"
    (vocab / "drugs").mkdir(parents=True)
    # a made-up drug: the bundled vocabulary's field dictionaries know every marketed one
    (vocab / "drugs" / "quexolant.yml").write_text(
        "name: quexolant\nclass: histamine H3 receptor antagonist\nbrands: [Quexakix]\n", encoding="utf-8")
    docs = tmp_path / "docs"
    write(docs, "quexakix.txt", "Quexakix Notes\nQuexakix can cause drowsiness and low blood pressure in adults.\n")
    index = tmp_path / "index"
    ingest([docs], index=index)
    with KnowledgeBase.open(index) as kb:
        assert kb.search("", {"drug": ["quexolant"]}).total == 0
    report = ingest([docs], index=index, vocab_dirs=[vocab])  # a vocabulary change re-tags the files
    assert len(report.updated) == 1
    with KnowledgeBase.open(index) as kb:
        assert kb.search("", {"drug": ["quexolant"]}).total == 1
        assert "quexolant" in kb.search("Quexakix").expanded["Quexakix"]  # and brand searches find the generic
    report = ingest(index=index)  # a later refresh remembers the vocabulary folder
    assert len(report.unchanged) == 1 and not report.updated


def test_the_settings_fingerprint_covers_every_module_that_shapes_passages():
    """Found by walking imports, also those inside functions (readers -> readers_openfda, ingest -> tag)."""
    modules = ingest_mod.passage_modules()
    for shaping in ("kb.readers", "kb.readers_tables", "kb.decoding", "kb.titles", "kb.readers_openfda",
                    "kb.openfda_markdown", "kb.readers_pdf", "kb.chunk", "kb.chunk_lines",
                    "kb.sentences", "kb.boilerplate", "kb.tag", "kb.roles", "kb.vocabulary", "kb.vocab_yaml",
                    "kb.vocab_fields", "kb.vocab_match", "kb.provenance", "kb.model", "kb.ingest", "kb.ingest_workers"):
        assert shaping in modules
    assert not [m for m in modules if m.startswith("kb.index") or m in ("kb.search", "kb.page", "kb.cli", "kb")]


@pytest.fixture
def fresh_code_fingerprint():
    ingest_mod.passage_code_fingerprint.cache_clear()
    yield
    ingest_mod.passage_code_fingerprint.cache_clear()


@pytest.mark.parametrize("module", ["kb.tag", "kb.chunk", "kb.readers"])
def test_a_change_to_the_code_that_shapes_passages_re_ingests_unchanged_files(
        corpus, tmp_path, monkeypatch, fresh_code_fingerprint, module):
    index = tmp_path / "index"
    first = ingest([corpus], index=index)
    assert len(ingest([corpus], index=index).unchanged) == 2  # nothing changed: nothing re-read
    source = ingest_mod.module_source
    monkeypatch.setattr(ingest_mod, "module_source",
                        lambda name: source(name) + (b"\n# edited\n" if name == module else b""))
    ingest_mod.passage_code_fingerprint.cache_clear()
    again = ingest([corpus], index=index)
    assert sorted(again.updated) == sorted(first.added) and not again.unchanged
    assert len(ingest([corpus], index=index).unchanged) == 2  # and once re-tagged, it is current
