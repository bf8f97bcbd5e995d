"""What a question is about, beyond its words: the drug it names and who it is asked for.

Signals read from the query and the index alone; the first two multiply a passage's score after
BM25F (like question intent, kb.intent), the third decides what a widened query may match:

- **The drug a question names is its subject.** "Does tetrabenazine cause depression?" asks about
  tetrabenazine's own documents. In a collection of drug labels the name is on every passage of its
  label (so how often a passage repeats it says nothing, kb.index scores it as a constant) but it is
  also *mentioned* in other drugs' labels (deutetrabenazine's label names tetrabenazine in a
  switching table; an SSRI's names warfarin among drugs that raise bleeding risk). A passage whose
  document's title names the drug (a label's "Brand (generic)", an article about it) is about it;
  such passages get SUBJECT_BOOST. The drug is recognised from the ``drug`` facet's values and the
  query's synonym groups (a brand typed searches its generic name, and the reverse), so a drug the
  vocabulary does not know but that the tagger took from a label's reader metadata counts too.
- **A patient leaflet restates the label.** A label's Medication Guide or Patient Information retells
  the whole label in plain words, often as one long table, and so matches almost any question about
  the drug while the section that answers it says it in full. Patient-leaflet passages get
  LEAFLET_FACTOR (below 1): they still rank, below the clinical section that says the same. (Measured:
  sparing questions typed with lay words from it did worse on the lay questions too, 0.500 against
  0.533 MRR@10 on the labels set's 31 lay questions, because the leaflets answer them no better.)
- **A question that names a drug stays about it when widened.** When few passages have every word,
  search widens a question to any of its words (kb.search); "nortriptyline suicidal thoughts young
  adults" would then rank every antidepressant's identical class warning above nortriptyline's own.
  The widened search keeps to passages about the drugs named (``Focus.about``: tagged with the drug,
  or in a document whose title names it) when any of them matches.

The factors were measured on the openFDA labels relevance set, MedQuAD and the bundled sample (see
docs/search.md); a collection with no titles naming drugs and no leaflets is ranked as before.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

#: Score factor for passages of a document whose title names a drug the question names.
SUBJECT_BOOST = 2.0
#: Score factor for patient-leaflet passages (Medication Guide, Patient Information, Instructions for Use).
LEAFLET_FACTOR = 0.6
#: Section headings of patient leaflets in drug labels.
LEAFLET_HEADINGS: tuple[str, ...] = ("medication guide", "patient information", "instructions for use")

_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'-]*")


def named_drugs(query_words: Sequence[str], groups: Iterable[Any], drug_values: Iterable[str]) -> list[tuple[str, ...]]:
    """The drugs a query names, each as the names to look for (what was typed and its synonyms).

    ``query_words``: the plain words searched; ``groups``: kb.synonyms groups (``typed``,
    ``alternatives``); ``drug_values``: the values of the index's ``drug`` facet. A group names a drug
    when any of its members is a drug value; a word or a run of two or three words outside any group
    does when it is one.
    """
    values = (drug_values if isinstance(drug_values, (set, frozenset, dict))
              else {v.casefold() for v in drug_values if v})
    if not values:
        return []
    found: list[tuple[str, ...]] = []
    grouped: set[str] = set()
    for group in groups:
        names = (group.typed, *group.alternatives)
        grouped.update(w.casefold() for w in _WORD.findall(group.typed))
        if any(n.casefold() in values for n in names):
            found.append(tuple(dict.fromkeys(names)))
    words = [w for w in query_words if w.casefold() not in grouped]
    i = 0
    while i < len(words):
        for n in (3, 2, 1):
            phrase = " ".join(words[i:i + n])
            if len(words[i:i + n]) == n and phrase.casefold() in values:
                found.append((phrase,))
                i += n
                break
        else:
            i += 1
    return found


class Focus:
    """kb.focus's signals on one snapshot of an index; what does not depend on the query (the drug
    facet's names, the patient-leaflet passages) is read once per snapshot."""

    def __init__(self, snap: Any):
        self.snap = snap
        self._values: dict[str, str] | None = None
        self._leaflet: np.ndarray | None = None
        self._leaflet_read = False

    @property
    def values(self) -> dict[str, str]:
        """The ``drug`` facet's values by their casefolded spelling."""
        if self._values is None:
            self._values = {v.casefold(): v for v in self.snap.facet_table("drug")[0] if v}
        return self._values

    def drugs(self, query_words: Sequence[str], groups: Iterable[Any]) -> list[tuple[str, ...]]:
        return named_drugs(query_words, groups, self.values)

    def about(self, drugs: Sequence[tuple[str, ...]]) -> np.ndarray | None:
        """Passages about any of ``drugs``: tagged with it in the ``drug`` facet (a label's passages, and
        passages that name it) or of a document whose title names it. None when the query names no drug.

        When few passages have every word of a question, search widens it to any of its words
        (kb.search); a question that names a drug still asks about that drug, so the widened search
        keeps to these passages when any of them matches.
        """
        if not drugs:
            return None
        named = [self.values[n.casefold()] for names in drugs for n in names if n.casefold() in self.values]
        mask = self.snap.facet_mask("drug", named) if named else np.zeros(self.snap.size, dtype=bool)
        title = self.subject(drugs)
        return mask | title if title is not None else mask

    def subject(self, drugs: Sequence[tuple[str, ...]]) -> np.ndarray | None:
        """Passages of documents whose title names one of ``drugs`` (any of its names), or None when the
        query names no drug or no title names it."""
        if not drugs:
            return None
        mask = np.zeros(self.snap.size, dtype=bool)
        for names in drugs:
            for name in names:
                mask |= self.snap._words_mask("title", name)
        return mask if mask.any() else None

    def leaflets(self) -> np.ndarray | None:
        """LEAFLET_FACTOR on passages under a patient-leaflet heading, 1 elsewhere; None when there are none."""
        if not self._leaflet_read:
            mask = np.zeros(self.snap.size, dtype=bool)
            for heading in LEAFLET_HEADINGS:
                mask |= self.snap._words_mask("section", heading)
            self._leaflet = np.where(mask, LEAFLET_FACTOR, 1.0) if mask.any() and LEAFLET_FACTOR != 1.0 else None
            self._leaflet_read = True
        return self._leaflet

    def boost(self, drugs: Sequence[tuple[str, ...]]) -> np.ndarray | None:
        """The factor per record for a question's subject drugs and for patient leaflets; None when
        nothing applies."""
        subject = self.subject(drugs)
        leaflet = self.leaflets()
        if subject is None:
            return leaflet
        factor = np.where(subject, SUBJECT_BOOST, 1.0)
        return factor if leaflet is None else factor * leaflet
