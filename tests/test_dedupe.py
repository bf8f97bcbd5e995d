"""Passages that say the same thing: signatures, groups, and collapsed result lists."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from kb.dedupe import groups, signature
from kb.search import KnowledgeBase
from tests.conftest import D, P

SAME = ("Baclofen is a muscle relaxant that is used to treat spasticity caused by multiple sclerosis "
        "and spinal cord injuries.")
EDITED = SAME.replace(" and spinal", " or spinal")
OTHER = "Mixing alcohol and baclofen can cause severe drowsiness, confusion and slowed breathing in some patients."


def test_near_copies_group_and_different_statements_do_not():
    labels = groups([signature(t) for t in (SAME, OTHER, EDITED, "Too short to group.", SAME)])
    assert labels[0] == labels[2] == labels[4]
    assert len({labels[0], labels[1], labels[3]}) == 3


def test_signatures_are_the_same_in_every_process():
    code = f"from kb.dedupe import signature; print(signature({SAME!r}).hex())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == signature(SAME).hex()


def test_groups_of_no_signatures():
    assert groups([]).tolist() == []
    assert groups([b"", b""]).tolist() == [0, 1]


def test_chains_of_copies_form_one_group():
    long = SAME + " " + OTHER + " Patients should not stop taking it suddenly without advice."
    step1 = "Generic " + long[long.index(" ") + 1:]  # first word changed
    step2 = step1.replace("without advice.", "without medical advice.")  # and then the last words
    labels = groups([signature(t) for t in (long, step1, step2)])
    assert len(set(labels.tolist())) == 1


DOCS = [
    D("Site A", [P(SAME + " It is taken orally."), P(OTHER)], source="A"),
    D("Site B", [P(EDITED + " It is taken orally.")], source="B"),
    D("Site C", [P(SAME + " It is taken orally.")], source="C"),
    D("Site D", [P("Baclofen withdrawal can cause hallucinations and seizures when stopped abruptly, "
                   "so doses are tapered slowly.")], source="D"),
]


def test_hits_list_the_other_sources_that_say_the_same(make_index):
    with KnowledgeBase.open(make_index(DOCS)) as kb:
        results = kb.search("spasticity")
        assert results.total == 3 and results.statements is None
        first = results.hits[0]
        assert len(first.duplicates) == 2
        assert set(first.duplicate_sources) == {"A", "B", "C"} - {first.passage.source}


def test_collapsed_results_show_each_statement_once(make_index):
    with KnowledgeBase.open(make_index(DOCS)) as kb:
        collapsed = kb.search("baclofen", collapse_duplicates=True, limit=None)
        assert collapsed.total == 5  # totals and facets still count passages
        assert collapsed.statements == 3 and len(collapsed.hits) == 3
        pages = [kb.search("baclofen", collapse_duplicates=True, limit=1, offset=o).hits for o in range(3)]
        assert [h[0].passage.passage_id for h in pages] == [h.passage.passage_id for h in collapsed.hits]
        by_document = kb.search("", collapse_duplicates=True, sort="document", limit=None)
        assert [h.passage.title for h in by_document.hits] == ["Site A", "Site A", "Site D"]
        everything = kb.search("baclofen", limit=None)
        shown = {h.passage.passage_id for h in collapsed.hits}
        reachable = shown | {d for h in collapsed.hits for d in h.duplicates}
        assert reachable == {h.passage.passage_id for h in everything.hits}


def test_duplicates_respect_filters(make_index):
    with KnowledgeBase.open(make_index(DOCS)) as kb:
        hit = kb.search("spasticity", {"source": ["A", "B"]}).hits[0]
        assert len(hit.duplicates) == 1
        assert np.all(kb.snapshot().duplicate_groups >= 0)
