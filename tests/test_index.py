"""The index layer's own contracts: the fast indexing path equals Whoosh's analyzer path."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from whoosh import fields

from kb.index import StemmedText, ValuesField, WordsField, exact_analyzer, stemming_analyzer

words = st.sampled_from(["Seizures", "the", "half-life", "a", "MS", "U.S.", "2.5", "mg", "don't", "İstanbul",
                         "naïve", "drowsiness,", "(baclofen)", "x", "can", "ÆON", "straße", "e.g.", "-", "\n"])


def postings(field: fields.FieldType, text: str) -> dict[bytes, tuple[int, float, list[int]]]:
    return {word: (freq, weight, field.format.decode_positions(value))
            for word, freq, weight, value in field.index(text)}


@given(st.lists(words | st.text(max_size=12), max_size=40).map(" ".join))
def test_fast_stemmed_field_indexes_exactly_what_the_analyzer_would(text):
    fast = StemmedText(analyzer=stemming_analyzer())
    slow = fields.TEXT(analyzer=stemming_analyzer())
    assert postings(fast, text) == postings(slow, text)


@given(st.lists(words | st.text(max_size=12), max_size=40).map(" ".join))
def test_fast_words_field_indexes_exactly_what_the_analyzer_would(text):
    fast = WordsField(analyzer=exact_analyzer(), phrase=False)
    slow = fields.TEXT(analyzer=exact_analyzer(), phrase=False)
    assert {w: (f, wt) for w, f, wt, _ in fast.index(text)} == {w: (f, wt) for w, f, wt, _ in slow.index(text)}


@given(st.lists(st.text(alphabet=st.characters(blacklist_characters="\n"), min_size=1, max_size=20), max_size=6))
def test_facet_values_index_as_whole_values(values):
    field = ValuesField()
    indexed = {w.decode("utf-8") for w, _, _, _ in field.index("\n".join(values))}
    assert indexed == set(values)
    assert indexed == {t.text for t in field.analyzer("\n".join(values))}
