"""The `kb` command line contract that scripts depend on."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from kb.cli import COMMANDS, build_parser, main
from kb.results import COLUMNS, read_csv
from tests.conftest import D, P

REPO = Path(__file__).resolve().parents[1]
DOCS = [D("Baclofen facts", source="Example Health", passages=[
    P("- Dizziness is common with baclofen.", "Side Effects", tags={"topic": ["side_effects"],
                                                                    "side_effect": ["dizziness"]}),
    P("Take baclofen orally three times a day.", "Dosage", tags={"topic": ["dosage"], "route": ["oral"]}),
    P("Call us now for a free consultation.", "Help", boilerplate=True),
])]


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


@pytest.fixture
def index(make_index) -> str:
    return str(make_index(DOCS))


def test_search_json_contract(index):
    code, out = run("search", "baclofen", "--index", index, "--format", "json")
    data = json.loads(out)
    assert code == 0
    assert {"query", "total", "hits", "facets", "suggestion"} <= set(data)
    assert data["query"] == "baclofen" and data["total"] == 2
    hit = data["hits"][0]
    for key in ("passage_id", "doc_id", "title", "source", "path", "section", "position", "char_start",
                "char_end", "text", "score", "highlight", "boilerplate", "topic", "severity", "route",
                "side_effect", "condition", "substance", "drug"):
        assert key in hit, key
    assert isinstance(hit["topic"], list) and isinstance(hit["boilerplate"], bool)
    assert "**baclofen**" in hit["highlight"]
    assert data["facets"]["topic"] == {"dosage": 1, "side_effects": 1}


def test_search_filters_limit_offset(index):
    _, out = run("search", "", "--index", index, "--format", "json", "--filter", "route=oral")
    assert [h["section"] for h in json.loads(out)["hits"]] == ["Dosage"]
    _, out = run("search", "", "--index", index, "--format", "json", "--limit", "1", "--offset", "1",
                 "--sort", "document")
    data = json.loads(out)
    assert data["total"] == 2 and [h["position"] for h in data["hits"]] == [2]  # the second passage, counted from 1
    _, out = run("search", "", "--index", index, "--format", "json", "--limit", "0")
    assert len(json.loads(out)["hits"]) == 2
    _, out = run("search", "", "--index", index, "--format", "json", "--include-boilerplate", "--limit", "0")
    assert len(json.loads(out)["hits"]) == 3


def test_search_csv_to_file_has_every_match_and_safe_cells(index, tmp_path):
    target = tmp_path / "out.csv"
    code, _ = run("search", "", "--index", index, "--format", "csv", "--output", str(target))
    assert code == 0
    raw = target.read_text(encoding="utf-8-sig")
    assert "'- Dizziness" in raw
    frame = read_csv(target)
    assert list(frame.columns) == list(COLUMNS) and len(frame) == 2
    assert frame.loc[frame["section"] == "Side Effects", "text"].item().startswith("- Dizziness")


def test_search_table_shows_provenance(index):
    code, out = run("search", "dizzines", "--index", index)
    assert code == 0
    assert "Did you mean: dizziness" in out


def test_show_and_stats(index):
    code, out = run("show", "doc0-1", "--index", index, "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["passage"]["section"] == "Dosage"
    assert [p["passage_id"] for p in data["before"]] == ["doc0-0"]
    code, out = run("stats", "--index", index, "--format", "json")
    stats = json.loads(out)
    assert (stats["documents"], stats["passages"], stats["boilerplate_passages"]) == (1, 3, 1)
    code, out = run("stats", "--index", index)
    assert "1 documents, 3 passages" in out


def test_missing_index_is_one_clear_line(tmp_path, capsys):
    code, _ = run("search", "x", "--index", str(tmp_path / "none"))
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("Error: No index at") and "kb ingest" in err and "Traceback" not in err
    assert err.count("\n") == 1


@pytest.mark.parametrize("argv", [
    ["search", "x", "--filter", "colour=red"],
    ["search", "x", "--filter", "topic"],
    ["search", "x", "--limit", "-1"],
    ["show", "no-such-passage"],
])
def test_bad_arguments_are_errors_not_tracebacks(index, argv, capsys):
    code, _ = run(*argv, "--index", index)
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("Error: ") and "Traceback" not in err


def test_index_from_environment(index, monkeypatch):
    monkeypatch.setenv("KB_INDEX", index)
    code, out = run("search", "orally", "--format", "json")
    assert code == 0 and json.loads(out)["total"] == 1


def test_ingest_prints_what_it_did(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("Baclofen\nBaclofen is a muscle relaxant taken orally.\n", encoding="utf-8")
    (folder / "b.txt").write_text("", encoding="utf-8")
    code, out = run("ingest", str(folder), "--index", str(tmp_path / "index"), "--quiet")
    assert code == 0
    assert f"added: {(folder / 'a.txt').resolve()}" in out
    assert f"skipped: {(folder / 'b.txt').resolve()} (" in out
    assert "1 added, 0 updated, 0 removed, 0 unchanged, 1 skipped" in out
    code, out = run("ingest", str(folder), "--index", str(tmp_path / "index"), "--quiet")
    assert "0 added, 0 updated, 0 removed, 1 unchanged, 1 skipped" in out


def test_every_command_has_help_and_is_in_the_readme():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert set(sub.choices) == set(COMMANDS)
    for name, parser in sub.choices.items():
        assert parser.format_help().strip(), name
        assert f"kb {name}" in readme, f"`kb {name}` is not documented in the README"


def test_python_dash_m_and_console_script_agree(index):
    proc = subprocess.run([sys.executable, "-m", "kb", "search", "orally", "--index", index, "--format", "json"],
                          capture_output=True, text=True, cwd=REPO, check=True)
    assert json.loads(proc.stdout)["total"] == 1


def test_output_cut_short_by_its_reader_is_not_an_error(index):
    """`kb search "" --limit 0 | head -1`: the reader closes the pipe after one line."""
    proc = subprocess.Popen([sys.executable, "-m", "kb", "search", "", "--limit", "0", "--index", index],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
    proc.stdout.readline()
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0 and "Traceback" not in stderr, stderr


def test_collapsed_table_names_the_other_sources(make_index):
    text = "Baclofen is a muscle relaxant that is used to treat spasticity caused by multiple sclerosis."
    index = str(make_index([D("A", [P(text)], source="Site A"), D("B", [P(text)], source="Site B")]))
    code, out = run("search", "spasticity", "--index", index, "--collapse-duplicates")
    assert code == 0
    assert "1-1 of 2 passages (1 distinct statements)" in out
    assert "also stated by 1 other passage (Site " in out


def test_table_says_when_the_other_passage_names_no_publisher(make_index):
    text = "Baclofen is a muscle relaxant that is used to treat spasticity caused by multiple sclerosis."
    index = str(make_index([D("A", [P(text)], source="Site A"), D("B", [P(text)], source="")]))
    code, out = run("search", "spasticity", "--index", index)
    assert code == 0
    lines = sorted(x.strip() for x in out.splitlines() if "also stated by" in x)
    assert lines == ["also stated by 1 other passage (Site A): doc0-0",
                     "also stated by 1 other passage (publisher not named): doc1-0"]


def test_ingest_lists_the_first_documents_and_counts_the_rest(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(25):
        (folder / f"d{i:02d}.txt").write_text(f"Note {i}\nBaclofen note number {i}.\n", encoding="utf-8")
    code, out = run("ingest", str(folder), "--index", str(tmp_path / "index"), "--quiet")
    assert code == 0
    assert out.count("added: ") == 21 and "added: ... and 5 more (--verbose lists them all)" in out
    (folder / "d00.txt").write_text("", encoding="utf-8")
    code, out = run("ingest", str(folder), "--index", str(tmp_path / "index"), "--quiet", "--verbose")
    assert f"skipped: {(folder / 'd00.txt').resolve()}" in out
