"""kb.chunk: sections, lists with lead-ins, sentence splits, boilerplate flags, exact offsets."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kb.chunk import chunk_document, split_sentences
from kb.model import Chunk, Document
from kb.readers import iter_files, read_document


def make_doc(text: str, fmt: str = "text", title: str = "") -> Document:
    return Document(doc_id="d", path="d.txt", title=title, source="", text=text, format=fmt)


def check_invariants(doc: Document, chunks: list[Chunk]) -> None:
    """What every consumer of chunks relies on."""
    end = 0
    for position, chunk in enumerate(chunks):
        assert chunk.position == position
        assert doc.text[chunk.char_start : chunk.char_end] == chunk.text
        assert chunk.text and chunk.text == chunk.text.strip()
        assert chunk.char_start >= end, "chunks overlap or are out of order"
        end = chunk.char_end
        assert chunk.boilerplate == bool(chunk.boilerplate_reason)


def chunks_of(text: str, fmt: str = "text", title: str = "", **sizes: int) -> list[Chunk]:
    doc = make_doc(text, fmt, title)
    chunks = chunk_document(doc, **sizes)
    check_invariants(doc, chunks)
    return chunks


def sentence(n: int, word: str = "dose") -> str:
    """A sentence of exactly n words."""
    return "The " + " ".join([word] * (n - 2)) + " ends."


def words(chunk: Chunk) -> int:
    return len(chunk.text.split())


LIST_ITEM = re.compile(r"^\s*(?:[-*+•]\s|\d{1,3}[.)]\s)")


def ends_cleanly(chunk: Chunk) -> bool:
    """Ends a sentence, or ends with a list item or a table row (never mid-sentence)."""
    last_line = chunk.text.rsplit("\n", 1)[-1]
    return bool(re.search(r"[.!?:;][\"'”’)\]]*$", chunk.text)) or bool(LIST_ITEM.match(last_line)) or "|" in last_line


# --------------------------------------------------------------------------------------------
# Sentences


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Take 2.5 mg twice daily. Then stop.", ["Take 2.5 mg twice daily.", "Then stop."]),
        ("Ask Dr. Smith about it. He knows.", ["Ask Dr. Smith about it.", "He knows."]),
        ("Use an NSAID, e.g. Ibuprofen, i.e. Advil. Done.", ["Use an NSAID, e.g. Ibuprofen, i.e. Advil.", "Done."]),
        ("It is sold in the U.S. Food stores carry it.", ["It is sold in the U.S. Food stores carry it."]),
        ("Take 5 mg. twice daily.", ["Take 5 mg. twice daily."]),
        ("The maximum is 80 mg. Patients vary.", ["The maximum is 80 mg.", "Patients vary."]),
        ("Contains FD&C Yellow No. 6 dye. Store cold.", ["Contains FD&C Yellow No. 6 dye.", "Store cold."]),
        ("No. Stopping abruptly is unsafe.", ["No.", "Stopping abruptly is unsafe."]),
        ("She said “Stop now.” Then she left.", ["She said “Stop now.”", "Then she left."]),
        ("“It works. It is safe.” Most agree.", ["“It works. It is safe.”", "Most agree."]),
        ("Is it addictive? Yes! It can be.", ["Is it addictive?", "Yes!", "It can be."]),
        ("Doses (see Table 2.) Vary widely.", ["Doses (see Table 2.)", "Vary widely."]),
        ("  Leading and trailing space.  ", ["Leading and trailing space."]),
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert [text[s:e] for s, e in split_sentences(text)] == expected


def test_split_sentences_offsets_within_a_range() -> None:
    text = "Before. Inside one. Inside two. After."
    start, end = text.index("Inside"), text.index(" After")
    assert [text[s:e] for s, e in split_sentences(text, start, end)] == ["Inside one.", "Inside two."]


# --------------------------------------------------------------------------------------------
# Headings


MARKDOWN = """# Baclofen Label

Routes: oral.

## Dosage

Start at 5 mg three times daily.

### Adults

Adults may take up to 80 mg per day.

## Side Effects

Drowsiness is the most common side effect.
"""


def test_markdown_headings_nest_and_title_is_not_a_section() -> None:
    chunks = chunks_of(MARKDOWN, "markdown", title="Baclofen Label")
    assert [(c.section, c.text) for c in chunks] == [
        ("", "Routes: oral."),
        ("Dosage", "Start at 5 mg three times daily."),
        ("Dosage > Adults", "Adults may take up to 80 mg per day."),
        ("Side Effects", "Drowsiness is the most common side effect."),
    ]


def test_markdown_sole_h1_is_the_title_even_when_the_title_differs() -> None:
    chunks = chunks_of(MARKDOWN, "markdown", title="Something Else")
    assert chunks[1].section == "Dosage"


def test_markdown_several_h1_are_sections() -> None:
    text = "# Part One\n\nFirst part text.\n\n# Part Two\n\n## Detail\n\nSecond part text.\n"
    chunks = chunks_of(text, "markdown", title="Document")
    assert [c.section for c in chunks] == ["Part One", "Part Two > Detail"]


def test_markdown_setext_and_bold_line_headings() -> None:
    """A bold line is a pseudo-heading: it nests below the real (setext/ATX) heading above it."""
    text = "Warnings\n--------\n\nDo not drive.\n\n**Storage**\n\nKeep it cool.\n\n## Uses\n\nPain.\n"
    chunks = chunks_of(text, "markdown", title="Label")
    assert [(c.section, c.text) for c in chunks] == [
        ("Warnings", "Do not drive."),
        ("Warnings > Storage", "Keep it cool."),
        ("Uses", "Pain."),
    ]


def test_markdown_hash_inside_code_is_not_a_heading() -> None:
    text = "## Example\n\n```\n# not a heading\necho hi\n```\n\nAfter the code.\n"
    chunks = chunks_of(text, "markdown")
    assert [c.section for c in chunks] == ["Example", "Example"]
    assert chunks[0].text.startswith("```") and "# not a heading" in chunks[0].text


PLAIN = """What Is Baclofen?

Baclofen is a muscle relaxant. It acts on GABA receptors.

Common Side Effects of Baclofen
The most common side effects include weakness and drowsiness.
Severe Reactions
Seizures can occur when the drug is stopped suddenly.
"""


def test_plain_text_headings_are_flat_and_title_line_is_dropped() -> None:
    chunks = chunks_of(PLAIN, title="What Is Baclofen?", min_words=1, max_words=10)
    assert [c.section for c in chunks] == ["", "Common Side Effects of Baclofen", "Severe Reactions"]
    assert chunks[0].text == "Baclofen is a muscle relaxant. It acts on GABA receptors."
    assert all("Severe Reactions" not in c.text and "What Is" not in c.text for c in chunks)


def test_plain_first_line_is_a_section_when_it_is_not_the_title() -> None:
    chunks = chunks_of(PLAIN, title="Baclofen: Uses and Risks", min_words=1, max_words=10)
    assert chunks[0].section == "What Is Baclofen?"


def test_plain_title_line_followed_by_a_heading_is_the_title() -> None:
    text = "What is Baclofen Used For?\n\nWhat is Baclofen?\n\nBaclofen is a muscle relaxant.\n"
    chunks = chunks_of(text, title="Another title")
    assert [(c.section, c.text) for c in chunks] == [("What is Baclofen?", "Baclofen is a muscle relaxant.")]


FAQ = """People May Ask
How quickly does Baclofen work?
Baclofen usually starts working within a few hours.
Can Baclofen be stopped suddenly?
No. Stopping it abruptly can cause seizures.
If You Can Get Addicted to Baclofen, How Is It Used In Treating Addictions?
It reduces cravings in some patients.
"""


def test_faq_questions_followed_by_answers_are_headings() -> None:
    chunks = chunks_of("Intro paragraph here.\n" + FAQ, min_words=1, max_words=20)
    assert [(c.section, c.text) for c in chunks] == [
        ("", "Intro paragraph here."),
        ("How quickly does Baclofen work?", "Baclofen usually starts working within a few hours."),
        ("Can Baclofen be stopped suddenly?", "No. Stopping it abruptly can cause seizures."),
        (
            "If You Can Get Addicted to Baclofen, How Is It Used In Treating Addictions?",
            "It reduces cravings in some patients.",
        ),
    ]


@pytest.mark.parametrize(
    "text",
    [
        # a question inside a paragraph line
        "Intro sentence.\nWhat is it used for? It treats spasticity in adults.\nMore text follows.\n",
        # a lead-in ending with a colon
        "Intro sentence.\nSymptoms of overdose:\n- Vomiting\n- Coma\n",
        # a lead-in without its colon ends with a function word
        "Intro sentence.\nThe common symptoms include\n- Vomiting\n- Coma\n",
        # hard-wrapped lines: the short line continues in lowercase
        "Baclofen is taken by mouth.\nPatients with kidney disease need\nlower doses than others.\n",
        # a short line at the very end has no body to head
        "Baclofen is taken by mouth.\nThanks for reading\n",
        # a long line without punctuation is not short enough
        "Intro sentence.\nThis line has far too many words to be a heading of any section in the document\nBody.\n",
    ],
)
def test_lines_that_are_not_headings(text: str) -> None:
    chunks = chunks_of(text, title="Unrelated")
    assert {c.section for c in chunks} == {""}
    assert "".join(c.text for c in chunks).replace("\n", "") == text.replace("\n", "")


# --------------------------------------------------------------------------------------------
# Lists and tables


def test_list_is_kept_with_its_lead_in_even_over_max_words() -> None:
    items = "\n".join(f"- {sentence(16, 'symptom')}" for _ in range(10))
    text = f"{sentence(30)} {sentence(20)} Withdrawal symptoms include:\n{items}\nAfter the list.\n"
    chunks = chunks_of(text, min_words=10, max_words=150)
    with_list = [c for c in chunks if "- The" in c.text]
    assert len(with_list) == 1
    assert with_list[0].text.startswith("Withdrawal symptoms include:\n- The")
    assert words(with_list[0]) > 150
    assert ends_cleanly(with_list[0])


def test_short_list_merges_with_its_paragraph() -> None:
    text = "Baclofen has side effects. The most common include:\n- Dizziness\n- Drowsiness\nSee a doctor.\n"
    chunks = chunks_of(text)
    assert [c.text for c in chunks] == [text.strip()]


def test_very_long_list_is_split_between_items_without_repeating() -> None:
    items = [f"- Item {i} " + " ".join(["word"] * 10) for i in range(40)]  # 40 x 12 words
    text = "The following effects were reported:\n" + "\n".join(items) + "\n"
    chunks = chunks_of(text, max_words=100, min_words=20)
    assert len(chunks) >= 4
    assert chunks[0].text.startswith("The following effects were reported:\n- Item 0 ")
    for chunk in chunks[1:]:
        assert chunk.text.startswith("- Item ")
    assert "\n".join(c.text for c in chunks) == text.strip()
    assert all(words(c) <= 100 for c in chunks)


def test_a_very_long_list_item_is_cut_between_its_sentences() -> None:
    item = "- " + " ".join(sentence(20) for _ in range(12))  # one 240-word item
    text = f"Tests include:\n{item}\n- Biopsy\n"
    chunks = chunks_of(text, max_words=100, min_words=20)
    assert len(chunks) >= 3
    assert chunks[0].text.startswith("Tests include:\n- The dose")
    assert chunks[-1].text.endswith("- Biopsy")
    assert all(words(c) <= 100 and ends_cleanly(c) for c in chunks)
    assert "\n".join(c.text for c in chunks).replace("\n", " ") == text.strip().replace("\n", " ")


def test_loose_list_with_blank_lines_and_continuations_is_one_list() -> None:
    text = "Symptoms include:\n\n- Dizziness that\n  lasts for hours\n\n- Drowsiness\n\nAfter.\n"
    chunks = chunks_of(text, "markdown")
    assert chunks[0].text.startswith("Symptoms include:") and "Drowsiness" in chunks[0].text


@pytest.mark.parametrize("marker", ["- ", "* ", "• ", "1. ", "1) "])
def test_list_markers(marker: str) -> None:
    text = f"Heading Line\nYou may notice:\n{marker}Dizziness\n{marker}Nausea\n"
    chunks = chunks_of(text, title="T")
    assert [(c.section, c.text) for c in chunks] == [("Heading Line", text.split("\n", 1)[1].strip())]


def test_pipe_table_stays_together_under_its_heading() -> None:
    rows = "\n".join(f"Row {i} | value {i} with a few words in it |" for i in range(30))
    text = f"Intro sentence here.\nKey Facts About Baclofen\nFeature | Details |\n{rows}\nWhat Is It?\nA drug.\n"
    chunks = chunks_of(text, max_words=150)
    tables = [c for c in chunks if "|" in c.text]
    assert len(tables) == 1
    assert tables[0].section == "Key Facts About Baclofen"
    assert tables[0].text.startswith("Feature | Details |") and tables[0].text.endswith(
        "value 29 with a few words in it |"
    )
    assert words(tables[0]) > 150


def test_markdown_table_with_separator_row() -> None:
    text = "## Doses\n\n| Age | Dose |\n|-----|------|\n| 6-12 | 10 mL |\n\nGive with water.\n"
    chunks = chunks_of(text, "markdown")
    assert [c.text for c in chunks] == ["| Age | Dose |\n|-----|------|\n| 6-12 | 10 mL |", "Give with water."]


# --------------------------------------------------------------------------------------------
# Paragraph packing


def test_long_paragraph_is_split_at_sentence_boundaries() -> None:
    sentences = [sentence(n) for n in [12, 25, 8, 30, 17, 22, 9, 28, 14, 19, 26, 11, 21, 16, 24, 13, 27, 10]]
    paragraph = " ".join(sentences)
    chunks = chunks_of(paragraph + "\n", min_words=40, max_words=100)
    assert len(chunks) == 4  # 332 words: ceil(342 / 100) balanced pieces
    assert " ".join(c.text for c in chunks) == paragraph
    starts = {paragraph.index(s) for s in sentences} | {len(paragraph) + 1}
    for chunk in chunks:
        assert chunk.char_start in starts and chunk.char_end + 1 in starts, "cut mid-sentence"
        assert chunk.text.endswith("ends.")
        assert 40 <= words(chunk) <= 120


def test_short_paragraphs_merge_up_to_max_words() -> None:
    paragraphs = [sentence(30) for _ in range(6)]
    chunks = chunks_of("\n\n".join(paragraphs) + "\n", min_words=40, max_words=100)
    assert [words(c) for c in chunks] == [90, 90]


def test_paragraphs_never_merge_across_a_section() -> None:
    text = f"First Section\n{sentence(10)}\nSecond Section\n{sentence(10)}\n"
    chunks = chunks_of(text, title="T")
    assert [(c.section, words(c)) for c in chunks] == [("First Section", 10), ("Second Section", 10)]


def test_paragraph_break_is_preferred_over_a_sentence_break() -> None:
    first = " ".join([sentence(20)] * 4)  # 80 words
    second = " ".join([sentence(20)] * 3)  # 60 words
    chunks = chunks_of(f"{first}\n{second}\n", min_words=40, max_words=100)
    assert [c.text for c in chunks] == [first, second]


def test_invalid_sizes() -> None:
    with pytest.raises(ValueError, match="min_words"):
        chunk_document(make_doc("Text."), min_words=50, max_words=40)


def test_runon_sentence_without_punctuation_is_cut_at_separators() -> None:
    runon = "temporarily relieves " + " • ".join(f"symptom {i} of the cold" for i in range(120))
    chunks = chunks_of(runon + "\n", max_words=100, min_words=20)
    assert len(chunks) > 2
    assert all(words(c) <= 100 for c in chunks)
    assert all(c.text.startswith(("temporarily", "•")) for c in chunks)


# --------------------------------------------------------------------------------------------
# Boilerplate


def flagged(chunks: list[Chunk]) -> list[tuple[str, str]]:
    return [(c.boilerplate_reason, c.text) for c in chunks if c.boilerplate]


@pytest.mark.parametrize(
    ("paragraph", "reason"),
    [
        ("Contact us today to learn more about treatment options.", "call to action"),
        ("If you are struggling, we invite you to contact our compassionate and well-trained team.", "call to action"),
        ("Call now to speak with a specialist. Help is available.", "call to action"),
        ("We’re here and ready to help in any way we can.", "call to action"),
        ("Medical Disclaimer: This site does not provide medical advice.", "disclaimer"),
        ("This information is intended for educational purposes only.", "disclaimer"),
        ("The content is not a substitute for professional medical advice.", "disclaimer"),
        ("Click here to learn more.", "click here"),
    ],
)
def test_boilerplate_paragraphs(paragraph: str, reason: str) -> None:
    text = f"Dosage Basics\n{sentence(20)}\n\n{paragraph}\n"
    chunks = chunks_of(text, title="T")
    assert flagged(chunks) == [(reason, paragraph)]
    assert not chunks[0].boilerplate


@pytest.mark.parametrize(
    "paragraph",
    [
        "If dizziness persists, contact your doctor or call 911 right away.",
        "Patients should contact a poison control center in case of overdose.",
        "Read the medication guide before you start taking it.",
        "Related side effects include nausea and headache.",
    ],
)
def test_ordinary_passages_are_not_boilerplate(paragraph: str) -> None:
    assert flagged(chunks_of(f"{sentence(20)}\n{paragraph}\n")) == []


@pytest.mark.parametrize(
    ("heading", "reason"),
    [
        ("Find Help from Addiction Intervention Today", "call to action"),
        ("Get Help Now", "call to action"),
        ("Medical Disclaimer", "disclaimer"),
        ("Disclaimer", "disclaimer"),
        ("Related Articles", "cross-link"),
    ],
)
def test_boilerplate_sections(heading: str, reason: str) -> None:
    text = f"Uses\n{sentence(20)}\n{heading}\nBaclofen is a unique drug. We can help you recover.\n"
    chunks = chunks_of(text, title="T")
    assert [(c.section, c.boilerplate_reason) for c in chunks] == [("Uses", ""), (heading, reason)]


def test_markdown_boilerplate_section_covers_its_subsections() -> None:
    text = "## Disclaimer\n\nNot advice.\n\n### Details\n\nMore legal text.\n\n## Dosage\n\nTake one.\n"
    chunks = chunks_of(text, "markdown")
    assert [c.boilerplate_reason for c in chunks] == ["disclaimer", "disclaimer", ""]


@pytest.mark.parametrize(
    "line",
    [
        "MUST READ: Benadryl for Allergies and Sleep – Benefits, Risks, and Dosage Information",
        "Related: Gabapentin and Alcohol",
        "Read more: What to expect in detox",
        "See also: Muscle relaxants",
        "Read More",
    ],
)
def test_cross_link_in_the_middle_of_a_section_is_its_own_chunk(line: str) -> None:
    before = "Baclofen is a muscle relaxant that targets GABA receptors in the spinal cord."
    after = "This makes Baclofen a vital treatment for chronic muscle tightness."
    text = f"What Is Baclofen?\n{before}\n{line}\n{after}\nNext Section\nMore text here.\n"
    chunks = chunks_of(text, title="T")
    section = [c for c in chunks if c.section == "What Is Baclofen?"]
    assert [(c.text, c.boilerplate_reason) for c in section] == [(before, ""), (line, "cross-link"), (after, "")]


def test_table_of_contents_list_is_one_flagged_chunk() -> None:
    text = (
        "Below is an overview of the drug.\n"
        "- Uses\n- Dosage\n- Side Effects\n- Disclaimer\n"
        "Uses\nIt treats spasticity.\nDosage\nStart low.\nSide Effects\nDrowsiness.\n"
        "Disclaimer\nNot advice.\n"
    )
    chunks = chunks_of(text, title="T")
    toc = [c for c in chunks if c.boilerplate_reason == "table of contents"]
    assert [c.text for c in toc] == ["- Uses\n- Dosage\n- Side Effects\n- Disclaimer"]
    assert [c.section for c in chunks if not c.boilerplate] == ["", "Uses", "Dosage", "Side Effects"]


def test_list_that_does_not_repeat_headings_is_not_a_toc() -> None:
    text = "Symptoms:\n- Dizziness\n- Nausea\n- Coma\nDizziness Management\nSit down slowly.\n"
    assert flagged(chunks_of(text, title="T")) == []


def test_table_of_contents_as_bare_lines() -> None:
    text = (
        "Contents\nUses\nDosage\nSide Effects\n\n"
        "Uses\nIt treats spasticity.\nDosage\nStart low.\nSide Effects\nDrowsiness.\n"
    )
    chunks = chunks_of(text, title="Baclofen")
    assert flagged(chunks) == [("table of contents", "Contents\nUses\nDosage\nSide Effects")]
    assert [c.section for c in chunks if not c.boilerplate] == ["Uses", "Dosage", "Side Effects"]


def test_markdown_toc_of_links() -> None:
    toc = "- [Uses](#uses)\n- [Dosage](#dosage)\n- [Warnings](#warnings)"
    text = f"# Drug\n\n{toc}\n\n## Uses\n\nA.\n\n## Dosage\n\nB.\n\n## Warnings\n\nC.\n"
    chunks = chunks_of(text, "markdown", title="Drug")
    assert (chunks[0].boilerplate_reason, chunks[0].text) == ("table of contents", toc)


def test_call_to_action_inside_a_long_paragraph_is_cut_out() -> None:
    body = [sentence(15) for _ in range(5)]
    cta = "Call now to speak with an admissions advisor."
    text = " ".join([*body[:3], cta, *body[3:]]) + "\n"
    chunks = chunks_of(text, min_words=10, max_words=150)
    assert [(c.boilerplate_reason, words(c)) for c in chunks] == [("", 45), ("call to action", 8), ("", 30)]


# --------------------------------------------------------------------------------------------
# Determinism and speed


def test_deterministic() -> None:
    text = PLAIN + FAQ + "Symptoms include:\n- A\n- B\nMUST READ: Other article\n"
    first = chunk_document(make_doc(text))
    second = chunk_document(make_doc(str(text)))
    assert first == second


# --------------------------------------------------------------------------------------------
# The real documents


def read_all(folder: Path) -> list[Document]:
    return [read_document(p, doc_id=p.stem) for p in iter_files([folder])]


def test_seed_articles(seeds_dir: Path) -> None:
    docs = {Path(d.path).name[:3]: d for d in read_all(seeds_dir)}
    result = {}
    for key, doc in docs.items():
        chunks = chunk_document(doc)
        check_invariants(doc, chunks)
        for chunk in chunks:
            assert chunk.boilerplate or ends_cleanly(chunk), f"{doc.path}: cut mid-sentence: {chunk.text[-60:]!r}"
        result[key] = chunks
    flags = {k: [(c.section, c.boilerplate_reason) for c in v if c.boilerplate] for k, v in result.items()}
    assert flags["000"] == [("Medical Disclaimer", "disclaimer")]
    assert flags["001"] == [("Find Help from Addiction Intervention Today", "call to action")]
    assert flags["002"] == [
        ("", "table of contents"),
        ("What Is Baclofen?", "cross-link"),
        ("Disclaimer", "disclaimer"),
    ]
    assert [r for _, r in flags["003"]] == ["call to action", "disclaimer"]
    table = next(c for c in result["002"] if c.text.startswith("Feature | Details |"))
    assert table.section == "Key Facts About Baclofen" and table.text.endswith("narcotics |")
    must_read = next(c for c in result["002"] if c.boilerplate_reason == "cross-link")
    assert must_read.text.startswith("MUST READ:") and "\n" not in must_read.text
    lists = [c for c in result["001"] if "- Dizziness" in c.text]
    assert lists[0].text.startswith("The most common side effects associate with baclofen include:\n- Dizziness")
    sections = {c.section for c in result["002"]}
    assert {"How quickly does Baclofen work?", "Pregnancy and Breastfeeding", "Common Side Effects"} <= sections


def test_fda_labels(labels_dir: Path) -> None:
    for doc in read_all(labels_dir):
        chunks = chunk_document(doc)
        check_invariants(doc, chunks)
        assert len(chunks) > 10
        assert not any(c.section.startswith(doc.title) for c in chunks), "the title H1 is not a section"
        assert not any(c.text.lstrip().startswith("#") for c in chunks), "a heading leaked into a passage"
    haloperidol = next(d for d in read_all(labels_dir) if "haloperidol" in d.path)
    sections = {c.section for c in chunk_document(haloperidol)}
    assert "WARNINGS > Tardive Dyskinesia" in sections


# --------------------------------------------------------------------------------------------
# Property test: random documents of headings, paragraphs, lists and tables


VOCAB = ["baclofen", "dose", "muscle", "spasm", "patients", "daily", "mg", "2.5", "e.g.", "U.S.", "renal", "risk"]
HEADING_WORDS = ["Dosage", "Baclofen", "Effects", "Warnings", "Overdose", "Safety", "Pregnancy", "Withdrawal"]


@dataclass
class Block:
    kind: str  # "heading" | "para" | "list" | "table"
    text: str
    heading: str = ""  # the section the block belongs to (for headings: their own text)
    lead_and_items: str = ""


sentences_st = st.lists(st.sampled_from(VOCAB), min_size=1, max_size=28).map(lambda ws: " ".join(["The", *ws, "risk."]))
paragraph_st = st.lists(sentences_st, min_size=1, max_size=8).map(" ".join)
heading_st = st.lists(st.sampled_from(HEADING_WORDS), min_size=1, max_size=5).map(" ".join)
item_st = st.lists(st.sampled_from(VOCAB), min_size=1, max_size=12).map(lambda ws: "- " + " ".join(ws))
list_st = st.tuples(sentences_st.map(lambda s: s[:-1] + " include:"), st.lists(item_st, min_size=1, max_size=25))
row_st = st.lists(st.sampled_from(VOCAB), min_size=2, max_size=4).map(lambda ws: " | ".join(ws) + " |")
body_st = st.one_of(
    paragraph_st.map(lambda p: ("para", p)),
    list_st.map(lambda li: ("list", li[0] + "\n" + "\n".join(li[1]))),
    st.lists(row_st, min_size=1, max_size=6).map(lambda rows: ("table", "\n".join(rows))),
)
section_st = st.tuples(heading_st, st.lists(body_st, min_size=1, max_size=4))
document_st = st.tuples(
    st.lists(body_st, max_size=2),
    st.lists(section_st, min_size=1, max_size=6),
    st.booleans(),  # markdown?
    st.sampled_from(["\n", "\n\n"]),  # block separator
    st.integers(min_value=20, max_value=150),
)


def render(intro: list, sections: list, markdown: bool, sep: str) -> tuple[str, list[Block]]:
    blocks: list[Block] = [Block(kind, body, "") for kind, body in intro]
    for heading, bodies in sections:
        blocks.append(Block("heading", ("## " if markdown else "") + heading, heading))
        blocks.extend(Block(kind, body, heading) for kind, body in bodies)
    return sep.join(b.text for b in blocks) + "\n", blocks


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document_st)
def test_property_random_documents(params: tuple) -> None:
    intro, sections, markdown, sep, max_words = params
    text, blocks = render(intro, sections, markdown, sep)
    doc = make_doc(text, "markdown" if markdown else "text", title="Generated")
    chunks = chunk_document(doc, min_words=max_words // 3, max_words=max_words)
    check_invariants(doc, chunks)

    # Every character outside the chunks is whitespace or part of a heading line.
    covered = bytearray(len(text))
    for chunk in chunks:
        covered[chunk.char_start : chunk.char_end] = b"\x01" * (chunk.char_end - chunk.char_start)
    headings = {b.text for b in blocks if b.kind == "heading"}
    residual = "".join(ch if not covered[i] else "\n" for i, ch in enumerate(text))
    for line in residual.split("\n"):
        assert not line.strip() or line.strip() in headings, f"text dropped: {line!r}"

    # Each body block sits in a chunk whose section is its heading, whole when it is a list
    # that is not very long, and every chunk ends cleanly.
    position = 0
    for block in blocks:
        start = text.index(block.text, position)
        position = start + len(block.text)
        if block.kind == "heading":
            continue
        owner = next(c for c in chunks if c.char_start <= start < c.char_end or start <= c.char_start < position)
        assert owner.section == block.heading
        if block.kind == "list" and len(block.text.split()) <= 2 * max_words:
            assert owner.char_start <= start and position <= owner.char_end, "list cut from its lead-in"
    # Tables are never split, and tables one newline apart are one table on the page: a chunk may
    # exceed the size by the longest such run of table rows.
    run, longest = 0, 0
    for block in blocks:
        run = run + len(block.text.split()) if block.kind == "table" and (sep == "\n" or not run) else (
            len(block.text.split()) if block.kind == "table" else 0)
        longest = max(longest, run)
    for chunk in chunks:
        assert ends_cleanly(chunk), chunk.text[-80:]
        assert words(chunk) <= 2 * max_words + max(62, longest)
