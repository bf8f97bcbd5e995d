"""Query expansion: which words expand, to what, and what is left exactly as typed."""

from __future__ import annotations

import pytest

from kb.index import same_stems
from kb.synonyms import Expander

GROUPS = [
    ["drowsiness", "sleepiness", "somnolence", "drowsy"],
    ["intrathecal", "ITB", "spinal injection", "intrathecal pump"],
    ["multiple sclerosis", "MS"],
    ["baclofen", "Lioresal", "Gablofen"],
]


@pytest.fixture
def expander() -> Expander:
    return Expander(GROUPS, same=same_stems)


@pytest.mark.parametrize(("query", "searched"), [
    ("sleepiness", "(sleepiness OR drowsiness^0.3 OR somnolence^0.3)"),  # drowsy = drowsiness to the stemmer
    ("Lioresal dose", "(Lioresal OR baclofen^0.3 OR Gablofen^0.3) dose"),
    ("ITB", '(ITB OR intrathecal^0.3 OR "spinal injection"^0.3)'),  # "intrathecal pump" is covered
    ("itb", "itb"),  # abbreviations expand only in capitals
    ("MS", '(MS OR "multiple sclerosis"^0.3)'),
    ("ms", "ms"),
    ("spinal injection risks", '("spinal injection" OR intrathecal^0.3 OR ITB^0.3) risks'),
    ('"sleepiness" OR topic:sleepiness', '"sleepiness" OR topic:sleepiness'),
    ("sleepi* sleepiness~", "sleepi* sleepiness~"),
    ("(sleepiness AND NOT Lioresal)", "( (sleepiness OR drowsiness^0.3 OR somnolence^0.3) AND NOT "
                                      "(Lioresal OR baclofen^0.3 OR Gablofen^0.3) )"),
    ("seizure", "seizure"),
])
def test_expansion(expander, query, searched):
    assert expander.expand(query).text == searched


def test_what_was_added_is_reported(expander):
    expansion = expander.expand("sleepiness after Lioresal")
    assert expansion.added == {"sleepiness": ["drowsiness", "somnolence"], "Lioresal": ["baclofen", "Gablofen"]}
    assert expansion.note() == ("Also searched synonyms: sleepiness → drowsiness, somnolence; "
                                "Lioresal → baclofen, Gablofen.")
    assert expander.expand("nothing here").note() is None


def test_unsafe_vocabulary_entries_are_never_spliced_into_a_query():
    expander = Expander([["rash", 'say "x" OR y:z']])
    assert expander.expand("rash").text == "rash"
