"""Abbreviations a document defines for itself: "Parkinson's disease (PD)" early on makes a later "PD" a mention of
Parkinson's disease, in that document only.

Labels and papers define the abbreviations they use ("Neuroleptic Malignant Syndrome (NMS)", "heparin-induced
thrombocytopenia (HIT)", "pulmonary arterial hypertension (PAH)") and then write only the letters; the vocabulary
cannot list every such abbreviation, and many are ambiguous across documents (PD is Parkinson's disease in one
and peritoneal dialysis in the next). So the tagger learns them per document, in reading order: a vocabulary
name of an effect or disease followed by a parenthesised abbreviation whose first letter is the name's first
letter defines it; every later use of the letters (its plural too) that no vocabulary phrase already covers is a
mention with the name's meaning. One ``DocumentAbbreviations`` per document (``Tagger.tag_passages`` makes it),
so nothing leaks from one document to the next.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from kb.vocab_match import Match, Meaning

#: Right after a name: " (NMS)". Two to eight letters or digits, starting with a capital.
_DEFINITION = re.compile(r"[ \t]*\(\s*([A-Z][A-Za-z0-9-]{1,7})\s*\)")
#: Anywhere in a passage: is there a parenthesised abbreviation at all (most passages have none)?
_ANY_DEFINITION = re.compile(r"\(\s*[A-Z][A-Za-z0-9-]{1,7}\s*\)")


def _word_char(text: str, i: int) -> bool:
    """Whether text[i] continues a word (so letters there are part of a longer word, not the abbreviation)."""
    return 0 <= i < len(text) and (text[i].isalnum() or text[i] in "_-")


#: Kinds of meaning an abbreviation takes over from the name it stands for.
ENTITY_KINDS = ("side_effect", "condition", "finding")


#: Up to three words right before a name, joined by spaces or hyphens: an abbreviation may cover them too
#: ("heparin-induced thrombocytopenia (HIT)", where the vocabulary names the thrombocytopenia).
_LEADING_WORDS = re.compile(r"(?:([A-Za-z]\w*)[ \t-]+)?(?:([A-Za-z]\w*)[ \t-]+)?(?:([A-Za-z]\w*)[ \t-]+)?$")


def _plausible(abbreviation: str, text: str, start: int) -> bool:
    """At least two capitals, and the first letter of the name at ``start`` or of one of the three words right
    before it ("HIT" after "heparin-induced thrombocytopenia"; not "PD" after "dialysis")."""
    if sum(c.isupper() for c in abbreviation) < 2 or abbreviation.endswith("-"):
        return False
    first = abbreviation[0].lower()
    if text[start:start + 1].lower() == first:
        return True
    before = _LEADING_WORDS.search(text, max(0, start - 60), start)
    return before is not None and any(w and w[0].lower() == first for w in before.groups())


class DocumentAbbreviations:
    """The abbreviations one document has defined so far, and their uses in each passage."""

    def __init__(self) -> None:
        self.known: dict[str, Meaning] = {}

    def resolve(self, text: str, entities: Sequence[Match], drugs: Sequence[Match]) -> list[Match]:
        """Learns the definitions in ``text`` (passages are given in document order), then returns a match for
        every use of a known abbreviation that is after its definition and not inside a vocabulary phrase."""
        defined_here: dict[str, int] = {}  # abbreviation -> where its definition ends in this text
        skip: list[tuple[int, int]] = []  # the definitions' parentheses
        if _ANY_DEFINITION.search(text):
            for m in entities:
                if text[m.end:m.end + 2] not in (" (", "(", "\t(") or not any(k in m.meaning.by_kind
                                                                              for k in ENTITY_KINDS):
                    continue
                found = _DEFINITION.match(text, m.end)
                if found is None or not _plausible(found.group(1), text, m.start):
                    continue
                abbreviation = found.group(1)
                skip.append((found.start(), found.end()))
                if abbreviation not in self.known:
                    meaning = Meaning({k: v for k, v in m.meaning.by_kind.items() if k in ENTITY_KINDS})
                    self.known[abbreviation] = meaning
                    defined_here[abbreviation] = found.end()
        present = [a for a in self.known if a in text]  # substring scans: most passages use none
        if not present:
            return []
        out: list[Match] = []
        taken = [(m.start, m.end) for m in (*entities, *drugs)]
        for abbreviation in sorted(present, key=len, reverse=True):  # "ISRs" before "ISR"
            at = text.find(abbreviation)
            while at >= 0:
                start, end = at, at + len(abbreviation)
                at = text.find(abbreviation, end)
                if text.startswith("s", end):
                    end += 1  # "PDs"
                if _word_char(text, start - 1) or _word_char(text, end):
                    continue
                if start < defined_here.get(abbreviation, 0) or abbreviation not in self.known:
                    continue
                if any(s <= start and end <= e for s, e in skip) or any(s < end and start < e for s, e in taken):
                    continue  # a definition, or inside a vocabulary phrase or a longer abbreviation's use
                if text.startswith(")", end) and text[max(0, start - 3):start].rstrip().endswith("("):
                    # "(PD)" after something that is not the name: the document now uses the letters for that
                    # ("peritoneal dialysis (PD)"), so they stop meaning the earlier name from here on
                    del self.known[abbreviation]
                    break
                out.append(Match(start, end, self.known[abbreviation]))
                taken.append((start, end))
        out.sort(key=lambda m: m.start)
        return out
