"""Query expansion: which words expand, to what, and what is left exactly as typed."""

from __future__ import annotations

import pytest

from kb.index import same_stems
from kb.model import KbError
from kb.synonyms import PLACEHOLDER, Expander, SynonymGroup, load_lay_terms

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
    ("sleepiness", "(sleepiness OR drowsiness OR somnolence)"),  # drowsy = drowsiness to the stemmer
    ("Lioresal dose", "(Lioresal OR baclofen OR Gablofen) dose"),
    ("ITB", '(ITB OR intrathecal OR "spinal injection")'),  # "intrathecal pump" is covered
    ("itb", "itb"),  # abbreviations expand only in capitals
    ("MS", '(MS OR "multiple sclerosis")'),
    ("ms", "ms"),
    ("spinal injection risks", '("spinal injection" OR intrathecal OR ITB) risks'),
    ('"sleepiness" OR topic:sleepiness', '"sleepiness" OR topic:sleepiness'),
    ("sleepi* sleepiness~", "sleepi* sleepiness~"),
    ("(sleepiness AND NOT Lioresal)", "( (sleepiness OR drowsiness OR somnolence) AND NOT "
                                      "(Lioresal OR baclofen OR Gablofen) )"),
    ("seizure", "seizure"),
])
def test_expansion(expander, query, searched):
    assert expander.expand(query).text == searched


def test_groups_are_structured_and_the_engine_text_holds_one_placeholder_each(expander):
    expansion = expander.expand("spinal injection after Lioresal")
    assert expansion.groups == (SynonymGroup("spinal injection", ("intrathecal", "ITB")),
                                SynonymGroup("Lioresal", ("baclofen", "Gablofen")))
    assert expansion.engine_text == f"{PLACEHOLDER.format(0)} after {PLACEHOLDER.format(1)}"
    assert "^" not in expansion.text and "kbsyn" not in expansion.text
    plain = expander.expand("nothing here")
    assert plain.groups == () and plain.engine_text == "nothing here"


def test_lay_words_expand_one_way_to_clinical_terms():
    expander = Expander(GROUPS, same=same_stems, one_way={"drowsy": ["somnolence"], "NMS": ["neuroleptic malignant"]})
    # the lay entry comes first, then what the vocabulary's group adds
    assert expander.expand("drowsy").added == {"drowsy": ["somnolence", "sleepiness"]}
    assert expander.expand("somnolence").added == {"somnolence": ["drowsiness", "sleepiness"]}  # not back to drowsy
    assert expander.expand("NMS risk").added == {"NMS": ["neuroleptic malignant"]}
    assert expander.expand("nms risk").added == {}


def test_the_bundled_lay_vocabulary_reads_and_maps_lay_words():
    lay = load_lay_terms()
    assert len(lay) > 50 and all(targets for targets in lay.values())
    assert "paresthesia" in lay["pins and needles"] and "myocardial infarction" in lay["heart attack"]


def test_a_broken_lay_vocabulary_is_a_clear_error(tmp_path):
    bad = tmp_path / "lay.yml"
    bad.write_text("drowsy: {a: 1}\n", encoding="utf-8")
    with pytest.raises(KbError, match="should map to a list"):
        load_lay_terms(bad)
    bad.write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(KbError, match="should map each lay word"):
        load_lay_terms(bad)


def test_the_note_is_one_line_however_many_synonyms():
    many = Expander([[f"word{i}", *(f"alt{i}x{j}" for j in range(12))] for i in range(30)])
    note = many.expand(" ".join(f"word{i}" for i in range(30))).note()
    assert note is not None and len(note) < 200 and note.endswith("more.")


def test_what_was_added_is_reported(expander):
    expansion = expander.expand("sleepiness after Lioresal")
    assert expansion.added == {"sleepiness": ["drowsiness", "somnolence"], "Lioresal": ["baclofen", "Gablofen"]}
    assert expansion.note() == ("Also searched synonyms: sleepiness → drowsiness, somnolence; "
                                "Lioresal → baclofen, Gablofen.")  # the page shows the same, without the note
    assert expander.expand("nothing here").note() is None


def test_unsafe_vocabulary_entries_are_never_spliced_into_a_query():
    expander = Expander([["rash", 'say "x" OR y:z']])
    assert expander.expand("rash").text == "rash"
