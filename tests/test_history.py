"""The search log and saved searches (kb/history.py): reproducible re-runs, new hits after a re-ingest,
the PRISMA-S style appendix, damaged files, and `kb history`."""

from __future__ import annotations

import csv
import io
import json
import threading
from pathlib import Path

import pytest

from kb import history as hist
from kb.cli import main
from kb.history import HistoryError, SavedSearches, SearchLog, SearchSpec
from kb.ingest import ingest
from kb.model import NOT_STATED
from kb.search import KnowledgeBase
from kb.selection import selection_path


@pytest.fixture
def own_index(sample_index: Path, tmp_path: Path) -> Path:
    """A private copy of the sample index (the log is written into the index folder)."""
    import shutil

    root = tmp_path / "index"
    shutil.copytree(sample_index, root)
    return root


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def test_the_log_lives_beside_the_selection(tmp_path: Path) -> None:
    assert hist.history_path(tmp_path).parent == selection_path(tmp_path).parent
    assert hist.saved_path(tmp_path).parent == selection_path(tmp_path).parent


def test_a_logged_search_records_how_it_ran(own_index: Path) -> None:
    log = SearchLog.for_index(own_index)
    spec = SearchSpec.make("sleepiness", {"source": [NOT_STATED, "Drug Facts"]}, collapse=True)
    with KnowledgeBase.open(own_index) as kb:
        entry = log.log(kb, spec, origin="cli")
        results = spec.run(kb, limit=None)
        docs = kb.snapshot().document_count
    assert entry.number == 1
    [back] = log.entries()
    assert back == entry
    assert back.spec == spec and back.origin == "cli" and back.documents == docs == 4
    assert back.hits == results.total and back.statements == results.statements
    assert back.ids == tuple(h.passage.passage_id for h in results.hits[:hist.TOP_IDS])
    assert back.read["expanded"] == results.expanded and "drowsiness" in back.read["searched"]
    assert back.generation and back.when.endswith("Z")


def test_rerunning_a_logged_search_on_the_same_generation_gives_the_same_ids_in_order(own_index: Path) -> None:
    log = SearchLog.for_index(own_index)
    specs = [SearchSpec.make("baclofen"), SearchSpec.make("withdrawal seizures", sort="document"),
             SearchSpec.make("", {"topic": ["dosage"]}, sort="source"), SearchSpec.make("bacofen"),
             SearchSpec.make("dose", sort="date", collapse=True, synonyms=False)]
    with KnowledgeBase.open(own_index) as kb:
        for spec in specs:
            log.log(kb, spec)
    with KnowledgeBase.open(own_index) as kb:  # a new process's view of the same index
        for entry in log.entries():
            again = hist.rerun(kb, entry)
            assert again.same_generation and again.same, entry.spec
            assert again.ids == entry.ids and len(entry.ids) > 0
            full = entry.spec.run(kb, limit=None)
            assert [h.passage.passage_id for h in full.hits] == [
                h.passage.passage_id for h in entry.spec.run(kb, limit=None).hits]


def test_saved_search_shows_only_new_hits_after_a_reingest(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# Baclofen\n\nBaclofen withdrawal can cause seizures and hallucinations. " * 3)
    root = tmp_path / "index"
    ingest([docs], index=root)
    saved = SavedSearches.for_index(root)
    with KnowledgeBase.open(root) as kb:
        first = saved.save(kb, "withdrawal", SearchSpec.make("withdrawal"))
        assert first.hits >= 1 and saved.new_count(kb, "withdrawal") == 0
    (docs / "b.md").write_text("# Tizanidine\n\nTizanidine withdrawal causes rebound hypertension. " * 3)
    ingest([docs], index=root)
    with KnowledgeBase.open(root) as kb:
        assert saved.new_count(kb, "withdrawal") == 1  # counted without marking them seen
        found = saved.new_since(kb, "withdrawal")
        assert [h.passage.title for h in found.new] == ["Tizanidine"] and not found.gone
        assert saved.new_since(kb, "withdrawal").new == ()  # marked: nothing new since this run
    code, out = run("history", "--index", str(root), "--new", "withdrawal")
    assert code == 0 and "0 new" in out


def test_appendix_markdown_and_csv_list_every_search(own_index: Path) -> None:
    log = SearchLog.for_index(own_index)
    with KnowledgeBase.open(own_index) as kb:
        log.log(kb, SearchSpec.make("sleepiness", {"topic": ["side_effects", "dosage"], "source": ["NHS"]}))
        log.log(kb, SearchSpec.make("=cmd|' /C calc'!A0 | pipe"))
    entries = log.entries()
    md = hist.appendix_markdown(entries, index="/idx", exported="2026-12-03T00:00:00Z")
    table = [line for line in md.splitlines() if line.startswith("| ")]
    assert len(table) == 3  # a header and one row per search
    assert "topic = side\\_effects OR dosage; source = NHS" not in md  # kept readable, not Markdown-escaped
    assert "topic = side_effects OR dosage; source = NHS" in md and "synonyms: sleepiness → " in md
    assert "\\| pipe" in table[2] and entries[0].when[:10] in md  # a | in a query never splits the table
    rows = list(csv.reader(io.StringIO(hist.appendix_csv(entries).decode("utf-8-sig"))))
    assert rows[0][:4] == ["number", "date", "query", "searched as"]
    assert [r[0] for r in rows[1:]] == ["1", "2"]
    assert rows[2][2].startswith("'=cmd")  # spreadsheet-safe
    assert rows[1][9] == str(entries[0].hits)


def test_a_damaged_line_is_reported_and_the_rest_kept(own_index: Path) -> None:
    log = SearchLog.for_index(own_index)
    with KnowledgeBase.open(own_index) as kb:
        log.log(kb, SearchSpec.make("baclofen"))
        with open(log.path, "a", encoding="utf-8") as out:
            out.write("{not json\n")
        log.log(kb, SearchSpec.make("seizures"))
    entries = log.entries()
    assert [e.number for e in entries] == [1, 3] and [e.spec.query for e in entries] == ["baclofen", "seizures"]
    assert log.problem and "entry 2" in log.problem


def test_a_damaged_saved_file_is_moved_aside(own_index: Path) -> None:
    saved = SavedSearches.for_index(own_index)
    saved.path.write_text("[1, 2", encoding="utf-8")
    assert saved.load() == {} and saved.problem and ".bad" in saved.problem
    assert saved.path.with_name(saved.path.name + ".bad").exists()
    with pytest.raises(HistoryError, match="No saved search named"):
        saved.get("nothing")
    with pytest.raises(HistoryError, match="needs a name"):
        saved.get("  ")


def test_concurrent_appends_lose_nothing(own_index: Path) -> None:
    log = SearchLog.for_index(own_index)
    with KnowledgeBase.open(own_index) as kb:
        entry = hist.record(kb, SearchSpec.make("baclofen"))

    def write() -> None:
        for _ in range(10):
            log.append(entry)

    threads = [threading.Thread(target=write) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [e.number for e in log.entries()] == list(range(1, 41)) and log.problem is None


def test_cli_log_list_rerun_and_export(own_index: Path, tmp_path: Path) -> None:
    index = str(own_index)
    assert run("search", "baclofen withdrawal", "--index", index, "--log")[0] == 0
    assert run("search", "seizures", "--index", index, "--filter", "topic=withdrawal", "--log",
               "--save", "seizures in withdrawal")[0] == 0
    run("search", "not logged", "--index", index)
    code, out = run("history", "--index", index)
    assert code == 0 and "baclofen withdrawal" in out and "topic = withdrawal" in out and "not logged" not in out
    code, out = run("history", "--index", index, "--run", "2")
    assert code == 0 and "Same" in out and "in the same order" in out
    code, out = run("history", "--index", index, "--saved")
    assert code == 0 and "seizures in withdrawal" in out
    target = tmp_path / "appendix.md"
    code, _ = run("history", "--index", index, "--format", "markdown", "--output", str(target))
    assert code == 0 and target.read_text(encoding="utf-8").startswith("# Search strategy")
    code, out = run("history", "--index", index, "--format", "json")
    assert [e["spec"]["query"] for e in json.loads(out)["searches"]] == ["baclofen withdrawal", "seizures"]


def test_cli_bad_history_arguments_are_one_line_errors(own_index: Path, capsys) -> None:
    assert run("history", "--index", str(own_index), "--run", "9")[0] == 1
    assert "No search number 9" in capsys.readouterr().err
    assert run("history", "--index", str(own_index), "--new", "nope")[0] == 1
    assert "No saved search named 'nope'" in capsys.readouterr().err
