"""The CLI's table output, to the character: what a person reads (and pastes into notes) must not change
by accident when the code under it is rearranged.

The index is written straight from passages with the tags the test gives (tests.conftest.build_index:
no chunker, tagger or vocabulary), and searches run without synonyms, so these outputs change only
when the CLI's formatting or search's ranking, paging, duplicates or spelling fallbacks do. A change
that means to alter the output updates the expected text here in the same commit."""

from __future__ import annotations

import io
import textwrap

import pytest

from kb.cli import main
from tests.conftest import D, P

SIDE_EFFECTS = {"topic": ["side_effects"], "side_effect": ["dizziness", "drowsiness"], "drug": ["baclofen"]}
DOCS = [
    D("Baclofen facts", source="Example Health", url="https://example.org/baclofen", date="2024-05", passages=[
        P("Dizziness is common with baclofen, and so is drowsiness in the first weeks of treatment.",
          "Side Effects", tags={**SIDE_EFFECTS, "severity": ["mild"]}),
        P("Take baclofen orally three times a day; do not take more than 80 mg in a day.", "Dosage",
          tags={"topic": ["dosage"], "route": ["oral"], "drug": ["baclofen"]}),
        P("Call us now for a free consultation.", "Help", boilerplate=True),
    ]),
    D("Baclofen leaflet", source="Leaflet Library", passages=[
        P("Dizziness is common with baclofen, and so is drowsiness in the first weeks of the treatment.",
          tags=SIDE_EFFECTS),
    ]),
]


@pytest.fixture(scope="module")
def index(tmp_path_factory) -> str:
    from tests.conftest import build_index

    return str(build_index(tmp_path_factory.mktemp("cli-output") / "index", DOCS))


def output(index: str, *argv: str) -> str:
    out = io.StringIO()
    assert main([*argv, "--index", index], out=out) == 0
    return out.getvalue()


def expected(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


# A hit as the table prints it: a blank line, then its lines indented as they are on the screen.
FIRST = (
    "\n"
    "  1. Baclofen facts > Side Effects  [Example Health, passage 1]  score 0.54\n"
    "     id doc0-0\n"
    "     **Dizziness** is common with baclofen, and so is drowsiness in the first weeks of treatment.\n"
    "     also stated by 1 other passage (Leaflet Library): doc1-0\n"
    "     [topic: side_effects; severity: mild; side_effect: dizziness, drowsiness; drug: baclofen]\n"
)
SECOND = (
    "\n"
    "  2. Baclofen leaflet  [Leaflet Library, passage 1]  score 0.54\n"
    "     id doc1-0\n"
    "     **Dizziness** is common with baclofen, and so is drowsiness in the first weeks of the treatment.\n"
    "     also stated by 1 other passage (Example Health): doc0-0\n"
    "     [topic: side_effects; side_effect: dizziness, drowsiness; drug: baclofen]\n"
)
DOSAGE = (
    "\n"
    "  {rank}. Baclofen facts > Dosage  [Example Health, passage 2]  score 0.00\n"
    "     id doc0-1\n"
    "     Take baclofen orally three times a day; do not take more than 80 mg in a day.\n"
    "     [topic: dosage; route: oral; drug: baclofen]\n"
)


def test_search_table(index):
    assert output(index, "search", "dizziness", "--no-synonyms") == (
        "1-2 of 2 passages\n" + FIRST + SECOND)


def test_search_table_with_each_statement_once(index):
    assert output(index, "search", "dizziness", "--no-synonyms", "--collapse-duplicates") == (
        "1-1 of 2 passages (1 distinct statements)\n" + FIRST)


def test_search_table_of_a_misspelt_word_says_how_it_was_read(index):
    assert output(index, "search", "dizzyness", "--no-synonyms") == (
        "1-2 of 2 passages\n"
        "note: Nothing matches dizzyness as spelled; showing words spelled like them.\n"
        "Did you mean: dizziness\n" + FIRST + SECOND)


def test_search_table_filtered_and_paged(index):
    page_two = output(index, "search", "", "--limit", "1", "--offset", "1", "--sort", "document")
    assert page_two == "2-2 of 3 passages\n" + DOSAGE.format(rank=2)
    assert output(index, "search", "", "--filter", "route=oral") == (
        "1-1 of 1 passages\n" + DOSAGE.format(rank=1))


def test_search_table_with_no_match(index):
    assert output(index, "search", "qwxzv", "--no-synonyms") == "0 passages\n"


def test_stats_table(index):
    assert output(index, "stats") == expected("""
        2 documents, 4 passages (1 boilerplate, hidden from search by default)

        topic:
               2  side_effects
               1  dosage

        severity:
               1  mild
               2  (not stated)

        route:
               1  oral
               2  (not stated)

        side_effect:
               2  dizziness
               2  drowsiness
               1  (not stated)

        condition:
          (none)
               3  (not stated)

        substance:
          (none)
               3  (not stated)

        drug:
               3  baclofen

        source:
               2  Example Health
               1  Leaflet Library

        year:
               2  2024
               1  (not stated)
        """)


def test_show_text(index):
    assert output(index, "show", "doc0-1") == expected("""
        Baclofen facts
          source: Example Health
          file: /corpus/doc0.txt
          section: Dosage
          passage 2, characters 90-167
          id: doc0-1

          [1] Dizziness is common with baclofen, and so is drowsiness in the first weeks of treatment.

        > [2] Take baclofen orally three times a day; do not take more than 80 mg in a day.

          [3] Call us now for a free consultation.
        """)
