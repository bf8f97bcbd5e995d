"""What a question is about, beyond its words: the drug it names and who it is asked for.

Two signals that multiply a passage's score after BM25F (like question intent, kb.intent), both read
from the query and the index alone:

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
    values = {v.casefold() for v in drug_values if v}
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


def subject_mask(snap: Any, drugs: Sequence[tuple[str, ...]]) -> np.ndarray | None:
    """Passages of documents whose title names one of ``drugs`` (any of its names), or None when the
    query names no drug or no title names it."""
    if not drugs:
        return None
    mask = np.zeros(snap.size, dtype=bool)
    for names in drugs:
        for name in names:
            mask |= snap._words_mask("title", name)
    return mask if mask.any() else None


def leaflet_mask(snap: Any) -> np.ndarray:
    """Passages under a patient-leaflet heading."""
    mask = np.zeros(snap.size, dtype=bool)
    for heading in LEAFLET_HEADINGS:
        mask |= snap._words_mask("section", heading)
    return mask


def focus_boost(snap: Any, drugs: Sequence[tuple[str, ...]]) -> np.ndarray | None:
    """The factor per record for a question's subject drugs and for patient leaflets; None when
    nothing applies."""
    factor: np.ndarray | None = None
    subject = subject_mask(snap, drugs)
    if subject is not None:
        factor = np.where(subject, SUBJECT_BOOST, 1.0)
    if LEAFLET_FACTOR != 1.0:
        leaflets = leaflet_mask(snap)
        if leaflets.any():
            leaflet = np.where(leaflets, LEAFLET_FACTOR, 1.0)
            factor = leaflet if factor is None else factor * leaflet
    return factor
