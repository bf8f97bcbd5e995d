"""The ingest's shortcuts give what the plain way gives: phrase matching tried only where a phrase may
begin, matches kept for short texts, boilerplate rules' needles, byte shingles for ASCII text.

Each shortcut is compared with the computation it replaces, on text built to reach its edges (gaps of
hyphens and line breaks, phrases sharing first words, capitals, accents, non-ASCII letters)."""

from __future__ import annotations

import random
import re
import zlib

import numpy as np
import pytest

from kb import boilerplate, dedupe
from kb.sentences import split_sentences
from kb.vocab_match import lower_same_length
from kb.vocabulary import Vocabulary


@pytest.fixture(scope="module")
def vocab() -> Vocabulary:
    return Vocabulary.load()


def _plain(matcher, text: str):
    """``find`` with every trie expression scanned over the whole text (no first-word shortcut)."""
    saved = matcher._passes
    matcher._passes = [(regex, table, folded, None) for regex, table, folded, _ in saved]
    try:
        return matcher._find(text, lower_same_length(text))
    finally:
        matcher._passes = saved


def _key(found):
    return {layer: [(m.start, m.end, m.meaning) for m in matches] for layer, matches in found.items()}


def _texts(vocab: Vocabulary, n: int) -> list[str]:
    """Sentences of vocabulary phrases (as written, capitalised, hyphenated, across line breaks) and
    other words, so that phrases overlap, share first words and sit next to punctuation."""
    rng = random.Random(7)
    phrases = sorted(vocab.matcher._folded)[:: max(1, len(vocab.matcher._folded) // 400)]
    phrases += sorted(vocab.matcher._exact)
    filler = ["the", "of", "patients", "with", "may", "not", "no", "severe", "Café", "naïve", "İstanbul", "x",
              "5 mg", "(", ")", ",", ";", "-", "—", "e.g.", "i.v.", "don't", "’s", "\n", "\n\n", "MS", "IV"]
    out = []
    for _ in range(n):
        words = []
        for _ in range(rng.randint(3, 40)):
            if rng.random() < 0.4:
                phrase = rng.choice(phrases)
                shape = rng.random()
                if shape < 0.2:
                    phrase = phrase.upper()
                elif shape < 0.35:
                    phrase = phrase.replace(" ", "-")
                elif shape < 0.45:
                    phrase = phrase.replace(" ", " \n ")
                elif shape < 0.5:
                    phrase = phrase.capitalize() + "s"
                words.append(phrase)
            else:
                words.append(rng.choice(filler))
        out.append(" ".join(words) + rng.choice([".", "", "!", " and"]))
    return out


def test_first_word_shortcut_finds_what_scanning_finds(vocab):
    matcher = vocab.matcher
    assert all(firsts for *_, firsts in matcher._passes)  # the shortcut is in use for every expression
    texts = _texts(vocab, 600)
    found = 0
    for text in texts:
        fast = _key(matcher._find(text, lower_same_length(text)))
        assert fast == _key(_plain(matcher, text)), text
        found += sum(map(len, fast.values()))
    assert found > 2000


def test_short_texts_are_found_once_and_handed_out_fresh(vocab):
    heading = "5.3 Serious Adverse Reactions: Seizures and Respiratory Depression"
    first = vocab.find(heading)
    assert first["entity"] and first["cue"]
    first["entity"][0].negated = True  # what the tagger's negation pass does to a match
    second = vocab.find(heading)
    assert _key(second) == _key(first) == _key(_plain(vocab.matcher, heading))
    assert not any(m.negated for matches in second.values() for m in matches)
    assert second["entity"][0] is not first["entity"][0]
    long_text = heading + " " + "word " * 60
    assert _key(vocab.find(long_text)) == _key(_plain(vocab.matcher, long_text))


def _reason_by_pattern(rules, text: str) -> str:
    if not rules.any.search(text):
        return ""
    return next((reason for pattern, reason in rules.each if pattern.search(text)), "")


SENTENCES = [
    "Click HERE to read on.", "Please contact our friendly support team today.", "Call us now!",
    "Give us a call.", "Our team invites you to a tour.", "We’re here to help.", "We are here and ready to help",
    "Begin your journey to recovery today.", "Verify your insurance online.", "Disclaimer: this is general.",
    "MEDICAL DISCLAIMER : none", "For informational purposes only.",
    "It is not intended as a substitute for professional medical advice.",
    "For more information about dosing, please visit the site.", "Reach out to us anytime.",
    "Contact your doctor if seizures occur.", "Call 911 if breathing slows.", "For more details see below.",
    "Clíck here, café.", "Disclaimer\u2019s text", "The drug may help to recover.", "",
]


@pytest.mark.parametrize("scope", ["_HEADING_RULES", "_LINE_RULES", "_TEXT_RULES"])
def test_boilerplate_needles_never_miss_a_rule(scope):
    rules = getattr(boilerplate, scope)
    if scope == "_TEXT_RULES":
        assert rules.needles and "click here" in rules.needles
    texts = SENTENCES + [s.upper() for s in SENTENCES] + [s.lower() for s in SENTENCES]
    texts += [rule.pattern.replace("\\b", "").replace("^", "").replace("(?:", "").replace(")?", "").replace(")", "")
              for rule in boilerplate.BOILERPLATE_RULES]
    flagged = 0
    for text in texts:
        assert rules.reason(text) == _reason_by_pattern(rules, text), text
        flagged += bool(rules.reason(text))
    assert flagged >= (12 if scope == "_TEXT_RULES" else 1)


def test_needles_come_from_the_patterns():
    assert boilerplate._needles(r"\bcall (?:us )?(?:now|today)\b|\bgive us a call\b") == ["call ", "give us a call"]
    assert boilerplate._needles(r"^(?:find|get|seek) (?:help|treatment|support)\b") == ["find", "get", "seek"]
    assert boilerplate._needles(r"\b(?:a|b)\w+") is None  # a match may hold no word long enough



def test_without_the_private_parser_rules_run_without_needles(monkeypatch):
    """`re._parser` is private: a Python without it gets no shortcut, and the rules still flag the same text."""
    monkeypatch.setattr(boilerplate, "_parser", None)
    assert boilerplate._needles(r"\bcall (?:us )?(?:now|today)\b") is None
    rules = boilerplate._compile("text")
    assert rules.needles is None
    assert rules.reason("Click here to verify your insurance.") == boilerplate._TEXT_RULES.reason(
        "Click here to verify your insurance.") != ""

def _signature_by_words(text: str) -> bytes:
    """The signature as first written: str shingles, each encoded and hashed in Python."""
    words = re.findall(r"\w+", text.lower())
    if len(words) < dedupe.MIN_WORDS:
        return b""
    shingles = {" ".join(words[i:i + 3]) for i in range(len(words) - 2)}
    hashes = np.fromiter((zlib.crc32(s.encode("utf-8")) for s in shingles), dtype=np.uint64, count=len(shingles))
    mixed = ((dedupe._A[:, None] * hashes[None, :]) % dedupe._PRIME + dedupe._B[:, None]) % dedupe._PRIME
    return (mixed.min(axis=1) & np.uint64(0xFFFFFFFF)).astype(np.uint32).tobytes()


@pytest.mark.parametrize("text", [
    "Baclofen may cause drowsiness, dizziness and weakness; do not stop it suddenly (withdrawal).",
    "BACLOFEN_PUMP 10 mg twice daily, then 20 mg: the_dose is raised every 3 days by 5 mg.",
    "Le baclofène peut provoquer une somnolence, des vertiges et une faiblesse musculaire chez l'adulte.",
    "İstanbul İçin naïve café über straße ǅ words here to make enough words for a signature",
    "too short to group",
])
def test_signature_of_ascii_and_other_text_is_the_same_as_by_words(text):
    assert dedupe.signature(text) == _signature_by_words(text)


def test_sentences_of_boilerplate_paragraphs_still_flagged():
    from kb.chunk import chunk_document
    from kb.model import Document

    text = ("Baclofen relaxes muscles. Click here to book a call. It is taken by mouth three times a day "
            "with water and food.")
    assert len(split_sentences(text)) == 3
    doc = Document(doc_id="note", path="/corpus/note.txt", title="Note", source="", text=text)
    chunks = chunk_document(doc, min_words=5, max_words=150)
    assert any(c.boilerplate_reason == "click here" for c in chunks)


def test_token_start_is_after_the_last_whitespace_of_any_kind():
    from kb.sentences import _token_start

    rng = random.Random(11)
    # every whitespace character Python knows, unprintable non-spaces (soft hyphen, zero-width space) and text
    spaces = [chr(c) for c in range(0x3000 + 1) if chr(c).isspace()]
    pieces = ["e.g.", "Dr.", "word", "(U.S.", "\u00ad", "\u200b", "x", "5", "“No."]
    checked = 0
    for _ in range(3000):
        text = "".join(rng.choice(spaces) if rng.random() < 0.35 else rng.choice(pieces)
                       for _ in range(rng.randint(1, 12)))
        for end in range(len(text) + 1):
            begin = rng.randint(0, end)
            k = end
            while k > begin and not text[k - 1].isspace():  # the plain walk back, character by character
                k -= 1
            assert _token_start(text, begin, end) == k, (text, begin, end)
            checked += 1
    assert checked > 30_000


def test_a_paragraph_the_needles_rule_out_has_no_flagged_sentence():
    rules = boilerplate._TEXT_RULES
    rng = random.Random(5)
    flagged = ["Click here to learn more.", "Contact our care team today.", "For informational purposes only.",
               "Call us now!", "For more information, please visit our site."]
    plain = ["Baclofen may cause drowsiness.", "Take it with food.", "Stop slowly over two weeks.",
             "Seizures were reported (rarely).", "Caf\u00e9 staff may call a doctor."]
    seen = {True: 0, False: 0}
    for _ in range(400):
        sentences = [rng.choice(flagged if rng.random() < 0.15 else plain) for _ in range(rng.randint(1, 6))]
        paragraph = " ".join(sentences)
        out = rules.ruled_out(paragraph)
        seen[out] += 1
        if out:
            assert not any(rules.reason(paragraph[a:b]) for a, b in split_sentences(paragraph)), paragraph
        if any(rules.reason(paragraph[a:b]) for a, b in split_sentences(paragraph)):
            assert not out, paragraph
    assert seen[True] > 50 and seen[False] > 50
