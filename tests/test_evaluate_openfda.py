"""Measures on the 332 openFDA labels of ../shared: the drug and route tags against each label's own
openfda block, and search against the labels relevance set (kb/data/relevance/labels-openfda.jsonl).
Skipped without ../shared or without a reader for openFDA files."""

from __future__ import annotations

import json
from collections import Counter
from importlib import resources
from pathlib import Path

import pytest

from kb.evaluate import Snippet, evaluate_file, evaluate_labels_file, read_queries

LABELS_SET = Path(str(resources.files("kb") / "data" / "relevance" / "labels-openfda.jsonl"))
#: Questions on other labels, written before search was tuned on LABELS_SET and never tuned to.
HELDOUT_SET = LABELS_SET.with_name("labels-openfda-heldout.jsonl")
ZIP_NAME = "drug-label-sample.json.zip"


def test_labels_relevance_set_is_well_formed():
    queries = read_queries(LABELS_SET)
    styles = Counter(json.loads(line).get("style") for line in LABELS_SET.open(encoding="utf-8") if line.strip())
    labels = {j.file.partition("#")[2] for q in queries for j in q.relevant}
    assert len(queries) >= 80 and len(labels) >= 20, (len(queries), len(labels))
    assert styles["lay"] * 3 >= len(queries) - 3 and styles["natural"] * 3 >= len(queries) - 3, styles
    assert sum(bool(q.filters) for q in queries) >= 5
    for q in queries:  # every judgment names a label of the zip by its set id
        for j in q.relevant + (q.relevant_lenient or ()):
            assert isinstance(j, Snippet) and j.file and j.file.startswith(ZIP_NAME + "#"), (q.id, j)


@pytest.fixture(scope="module")
def openfda_zip(shared_dir: Path) -> Path:
    from kb import readers

    path = shared_dir / "corpora" / "openfda" / ZIP_NAME
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    if not readers.is_supported(path):
        pytest.skip("kb has no reader for openFDA zips yet")
    return path


def test_held_out_set_asks_about_other_labels():
    tuned = {j.file for q in read_queries(LABELS_SET) for j in q.relevant}
    held = read_queries(HELDOUT_SET)
    labels = {j.file for q in held for j in q.relevant}
    assert len(held) >= 25 and len(labels) >= 20, (len(held), len(labels))
    assert not labels & tuned, labels & tuned
    for q in held:
        for j in q.relevant + (q.relevant_lenient or ()):
            assert isinstance(j, Snippet) and j.file.startswith(ZIP_NAME + "#"), (q.id, j)


@pytest.fixture(scope="module")
def openfda_index(openfda_zip: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from kb.ingest import ingest

    root = tmp_path_factory.mktemp("openfda") / "index"
    ingest([openfda_zip], index=root)
    return root


# Measured 2026-12-03 on main at d99efbb (the openFDA reader; the tagger and search before issues 9 and 10):
#   kb eval --labels ../shared/corpora/openfda/drug-label-sample.json.zip
#     17 of 332 labels carry their generic drug on >= 95% of their passages (mean share 0.051);
#     311 of 318 labels with routes have every route found (the misses: infiltration, perineural, epidural, ...).
#   kb eval kb/data/relevance/labels-openfda.jsonl --index INDEX
#     MRR@10 0.331, nDCG@10 0.318, Recall@10 0.438, 38 of 86 questions with no relevant passage in the top 10
#     (the FTS5 peer on the same passages, scripts/relevance_peer.py: MRR@10 0.301, Recall@10 0.374).
# Issue 10 (search focus, question intent's carrier words, lay words; 59 judgments added to 29 questions
# after reading the passages ranked above the judged ones, see docs/search.md), on the same index:
#   labels set MRR@10 0.848, Recall@10 0.884, 3 of 86 questions with no relevant passage in the top 10
#   (main before it, on the same judgments: 0.593 / 0.710; the FTS5 peer: see docs/search.md);
#   held-out set (27 questions on 26 other labels, written before the tuning, never tuned to):
#   MRR@10 0.816, Recall@10 0.825 (main before it: 0.779 / 0.788).
# Ties now break in reading order (documents by title, passages by position), not by document number,
# so a freshly ingested index ranks as the incremental one did: labels set MRR@10 0.849, Recall@10 0.884;
# held-out 0.827 / 0.825 (it gave 0.824 on the labels set before, five tied questions apart).
# Drug and routes (kb eval --labels): 321 of 332 labels carry their drug on >= 95% of their passages
# (96.7%), every route found for 311 of 318.
# Floors a little below; whoever improves a figure raises its floor.
LABELS_COVERED_FLOOR = 0.95  # share of labels with their generic drug on >= 95% of their passages
ROUTES_FOUND_FLOOR = 0.95  # share of labels (with routes) whose every route is a route tag somewhere
MRR_FLOOR = 0.83
RECALL_FLOOR = 0.87
HELDOUT_MRR_FLOOR = 0.80
HELDOUT_RECALL_FLOOR = 0.80

@pytest.mark.slow
def test_drug_and_route_tags_on_the_openfda_labels(openfda_zip, openfda_index):
    ev = evaluate_labels_file(openfda_zip, openfda_index)
    n = len(ev.labels)
    assert n >= 320 and len(ev.missing) <= 12, (n, ev.missing[:5])
    assert ev.covered / n >= LABELS_COVERED_FLOOR, ev.format_table(per_label=True)
    assert ev.routes_found / len(ev.with_routes) >= ROUTES_FOUND_FLOOR, ev.format_table(per_label=True)


@pytest.mark.slow
def test_search_on_the_labels_relevance_set(openfda_index):
    ev = evaluate_file(LABELS_SET, openfda_index)
    assert set(ev.by_style()) == {"lay", "natural", "keywords"}
    assert ev.mrr >= MRR_FLOOR, ev.format_table(per_query=True)
    assert ev.recall >= RECALL_FLOOR, ev.format_table(per_query=True)


@pytest.mark.slow
def test_search_on_the_held_out_labels_set(openfda_index):
    ev = evaluate_file(HELDOUT_SET, openfda_index)
    assert ev.mrr >= HELDOUT_MRR_FLOOR, ev.format_table(per_query=True)
    assert ev.recall >= HELDOUT_RECALL_FLOOR, ev.format_table(per_query=True)
