"""kb.sentences: the one sentence splitter of the chunker, the tagger and the dose finder.

The chunker's cases (abbreviations, quotations, offsets) are in tests/test_chunk.py; these are the rules the
tagger and the dose finder need as well: initialisms that end a sentence, bullets, and line breaks.
"""

from __future__ import annotations

import pytest

from kb.sentences import split_sentences


def sentences(text: str, **kw) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text, **kw)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a dosing initialism written in lowercase may end a sentence (a label's dosage table, flattened)
        ("Moderate - 0.5 mg to 2 mg b.i.d. or t.i.d. Severe - 3 mg to 5 mg b.i.d. or t.i.d.",
         ["Moderate - 0.5 mg to 2 mg b.i.d. or t.i.d.", "Severe - 3 mg to 5 mg b.i.d. or t.i.d."]),
        ("Give 1 g i.v. Monitor the patient.", ["Give 1 g i.v.", "Monitor the patient."]),
        ("Take it at 8 a.m. Do not double the dose.", ["Take it at 8 a.m.", "Do not double the dose."]),
        # ... but not one that introduces what follows, nor one in capitals (part of a name)
        ("Use an NSAID, e.g. Ibuprofen, daily.", ["Use an NSAID, e.g. Ibuprofen, daily."]),
        ("Avoid it, i.e. Never combine them.", ["Avoid it, i.e. Never combine them."]),
        ("Approved by the U.S. Food and Drug Administration.", ["Approved by the U.S. Food and Drug Administration."]),
        # a bullet after a full stop starts a sentence (a list flattened into one line)
        ("Infections include: \u2022 Active TB. \u2022 Invasive fungal infections.",
         ["Infections include: \u2022 Active TB.", "\u2022 Invasive fungal infections."]),
    ],
)
def test_where_a_sentence_ends(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected
    assert sentences(text, lines=True) == expected  # one line: the same either way


def test_with_lines_a_line_break_ends_a_sentence_unless_the_line_goes_on_in_lowercase() -> None:
    text = "Dosage\n- Initial: 5 mg.\n- Maximum: 80 mg\nper day.\n\nTake it daily, e.g. with food.\nwrapped on"
    assert sentences(text, lines=True) == ["Dosage", "- Initial: 5 mg.", "- Maximum: 80 mg\nper day.",
                                           "Take it daily, e.g. with food.\nwrapped on"]
    assert sentences(text) == ["Dosage\n- Initial: 5 mg.\n- Maximum: 80 mg\nper day.",
                                "Take it daily, e.g. with food.\nwrapped on"]


def test_spans_are_offsets_into_the_text() -> None:
    text = "  First one.\n\n  Second, b.i.d. Third.  "
    spans = split_sentences(text, lines=True)
    assert [text[s:e] for s, e in spans] == ["First one.", "Second, b.i.d.", "Third."]
    assert all(text[s].strip() and text[e - 1].strip() for s, e in spans)
