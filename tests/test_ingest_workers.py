"""A parallel ingest (worker processes that read, chunk, tag and index) builds the same index as one
process does: the same passages with the same tags and mentions, the same matches and ranking, the
same report, on a first ingest and on an incremental one.

Scores are compared through rankings, not as numbers: today a BM25 score depends on how the index's
segments were committed and merged (Whoosh keeps a segment's total field length, and kb's merges lose
it: the per-record length columns are not found, so merged records count as length 0), so even one
process gives other scores with another ``commit_every``. Within one field that shifts every score
alike; the order of the hits stays.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

from kb.ingest import ingest, sample_corpus
from kb.search import KnowledgeBase
from tests.test_ingest import ARTICLE, write
from tests.test_readers_openfda import bulk, label, write_zip

QUERIES = ("baclofen", "drowsiness dizziness", '"spinal cord"', "withdrawal OR seizures", "dose per day",
           "what are the side effects of baclofen")
#: One word in one field: its ranking depends only on term frequencies and the document order.
RANKED = ("drowsiness", "alcohol", "spasticity", "withdrawal")


def make_inputs(folder: Path) -> Path:
    """Real articles (the bundled sample), small files, and a table of rows: every kind of work."""
    shutil.copytree(sample_corpus(), folder / "sample")
    for i in range(40):
        write(folder, f"files/doc{i:03d}.txt", ARTICLE.replace("Baclofen Overview", f"Overview number {i}")
              + f"\nNote {i}: taken with alcohol it may deepen drowsiness (case {i}).\n")
    sample_texts = [p.read_text(encoding="utf-8") for p in sorted((folder / "sample").glob("*.*"))
                    if p.suffix in (".txt", ".md", ".html")]
    rows = [{"id": f"r{i}", "title": f"Row {i}", "source": f"Publisher {i % 3}",
             "text": (sample_texts[i % len(sample_texts)] if sample_texts else ARTICLE)[: 1500 + 40 * i]}
            for i in range(30)]
    write(folder, "table/rows.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    # openFDA labels, whose Markdown the workers make (read with defer=True); one has no section text
    labels = [label(set_id=f"set-{i}", generic=f"drug{i}ol", brand=f"Brand{i}") for i in range(6)]
    labels.append({"set_id": "set-empty", "openfda": {"generic_name": ["nothingol"]}})
    (folder / "labels").mkdir()
    write_zip(folder / "labels" / "drug-label-0001-of-0001.json.zip", {"labels.json": bulk(labels)})
    return folder


def contents(index: Path) -> tuple[dict, dict]:
    """Every passage as a plain dict (tags, mentions, offsets, dates), each query's matches, and the
    ranking of one-word queries (passage ids by score, ties by id)."""
    with KnowledgeBase.open(index) as kb:
        hits = kb.search("", limit=None, include_boilerplate=True).hits
        passages = {h.passage.passage_id: dataclasses.asdict(h.passage) for h in hits}
        found = {q: sorted(h.passage.passage_id for h in kb.search(q, limit=None, include_boilerplate=True).hits)
                 for q in QUERIES}
        for word in RANKED:
            ranked = kb.search(f"{word}", limit=None, include_boilerplate=True, synonyms=False).hits
            found[f"ranking of {word}"] = [h.passage.passage_id for h in sorted(
                ranked, key=lambda h: (-round(h.score, 9), h.passage.passage_id))]
    return passages, found


def summary(report) -> dict:
    return {"added": sorted(report.added), "updated": sorted(report.updated), "removed": sorted(report.removed),
            "unchanged": sorted(report.unchanged), "skipped": sorted(report.skipped), "passages": report.passages}


def test_workers_build_the_same_index_as_one_process(tmp_path: Path) -> None:
    inputs = make_inputs(tmp_path / "in")
    one, two = tmp_path / "one", tmp_path / "two"
    # small batches: several commits, each gathering the workers' segments
    first_one = ingest([inputs], index=one, procs=1, commit_every=60)
    first_two = ingest([inputs], index=two, procs=2, commit_every=60)
    assert summary(first_one) == summary(first_two)
    assert first_two.passages > 60 * 3
    assert [(Path(p).name, reason) for p, reason in first_two.skipped] == [
        ("drug-label-0001-of-0001.json.zip#set-empty", "label 7 (set id set-empty) has no section text")]
    passages_one, found_one = contents(one)
    passages_two, found_two = contents(two)
    assert len(passages_one) == first_one.passages
    assert passages_one == passages_two
    assert all(found_one.values())
    assert found_one == found_two

    # an incremental ingest: a changed file, a changed row, a removed file, the rest unchanged
    write(inputs, "files/doc003.txt", ARTICLE + "\nCorrected in erratum fortyone.\n")
    (inputs / "files" / "doc004.txt").unlink()
    rows = (inputs / "table" / "rows.jsonl").read_text(encoding="utf-8").splitlines()
    changed = json.loads(rows[5])
    changed["text"] += " Revised in the zebrafinch audit."
    rows[5] = json.dumps(changed)
    (inputs / "table" / "rows.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    again_one = ingest([inputs], index=one, procs=1, commit_every=60)
    again_two = ingest([inputs], index=two, procs=2, commit_every=60)
    assert summary(again_one) == summary(again_two)
    assert len(again_two.updated) == 2 and len(again_two.removed) == 1 and again_two.unchanged
    passages_one, found_one = contents(one)
    passages_two, found_two = contents(two)
    assert passages_one == passages_two
    assert found_one == found_two
    with KnowledgeBase.open(two) as kb:
        assert kb.search('"zebrafinch audit"').total == 1  # the new versions are there, once each
        assert kb.search('"erratum fortyone"').total == 1
        documents_two = kb.stats()["documents"]
    with KnowledgeBase.open(one) as kb:
        assert kb.stats()["documents"] == documents_two == 4 + 39 + 30 + 6


def test_a_parallel_ingest_of_bad_files_reports_them_and_keeps_the_rest(tmp_path: Path) -> None:
    inputs = make_inputs(tmp_path / "in")
    write(inputs, "files/broken.pdf", b"%PDF-1.4 not really a pdf")
    write(inputs, "files/empty.txt", "")
    one = ingest([inputs], index=tmp_path / "one", procs=1)
    two = ingest([inputs], index=tmp_path / "two", procs=2)
    assert summary(one) == summary(two)
    assert {Path(p).name for p, _ in two.skipped} == {"broken.pdf", "empty.txt",
                                                      "drug-label-0001-of-0001.json.zip#set-empty"}
