"""The words the page shows: facet and value labels, the results line, notes, help text, and the names it gives
downloaded files. Plain text (Markdown escaped where Streamlit reads Markdown); HTML is ``kb.page.markup``'s.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from kb.model import NOT_STATED
from kb.page.state import SearchState

if TYPE_CHECKING:
    from kb.model import Passage
    from kb.results import Hit, Results


FACET_LABELS: dict[str, str] = {
    "topic": "Topic", "severity": "Severity", "route": "Route", "side_effect": "Side effect",
    "condition": "Condition", "substance": "Substance", "drug": "Drug", "source": "Source", "year": "Year",
}


def _plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def summary_line(total: int, state: SearchState, shown: int, statements: int | None = None) -> str:
    """``1–10 of 57 passages``; when duplicates are collapsed, ``57 passages, 41 distinct statements ·
    showing 1–10`` (the pages then count statements)."""
    if total == 0:
        return "No passages match."
    first, last = state.offset + 1, state.offset + shown
    if statements is not None:
        line = f"{_plural(total, 'passage')}, {_plural(statements, 'distinct statement')}"
        return line if shown >= statements else f"{line} · showing {first:,}–{last:,}"
    if shown == total:
        return _plural(total, "passage")
    return f"{first:,}–{last:,} of {_plural(total, 'passage')}"


def value_label(value: str) -> str:
    """``life_threatening`` -> ``life threatening``; ``NOT_STATED`` -> ``not stated``; other values as indexed."""
    if value == NOT_STATED:
        return "not stated"
    return value.replace("_", " ")


def md_escape(text: str) -> str:
    """Text shown through Streamlit's Markdown (notes, the suggestion) without being read as Markdown."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|~<>$:])", r"\\\1", text)


def option_label(value: str, count: int | None) -> str:
    return value_label(value) if count is None else f"{value_label(value)} ({count:,})"


def facet_options(selected: Sequence[str], counts: Mapping[str, int]) -> list[str]:
    """A facet's options in count order, with every selected value kept (even at count 0)."""
    options = list(counts)
    known = {v.casefold() for v in options}
    options += [v for v in selected if v.casefold() not in known]
    return options


def count_for(counts: Mapping[str, int], value: str) -> int:
    if value in counts:
        return counts[value]
    folded = value.casefold()
    return next((c for v, c in counts.items() if v.casefold() == folded), 0)


def canonical_selection(selected: Sequence[str], counts: Mapping[str, int]) -> list[str]:
    """Selected values in the index's spelling (a URL may say ``Dosage`` for ``dosage``)."""
    by_fold = {v.casefold(): v for v in counts}
    return [by_fold.get(v.casefold(), v) for v in selected]


ROLE_LABELS: dict[str, str] = {
    "adverse_effect": "adverse effect", "withdrawal": "withdrawal effect", "overdose": "overdose sign",
    "indication": "what it treats", "history": "history or contraindication", "interaction": "interaction",
    "negated": "negated or hedged: not tagged", "mention": "named",
}


def mention_title(facet: str, value: str, role: str, severity: str) -> str:
    """What a marked mention says on hover: ``Side effect: drowsiness · adverse effect · serious``."""
    parts = [f"{FACET_LABELS.get(facet, facet)}: {value_label(value)}"]
    if role and role != "mention":  # a plain mention (a drug, a route) needs no role said
        parts.append(ROLE_LABELS.get(role, value_label(role)))
    if severity:
        parts.append(value_label(severity))
    return " · ".join(parts)


def notes_to_show(results: Results) -> list[str]:
    """The search's notes, less the one listing the synonyms added (``expansion_html`` shows those)."""
    from kb.synonyms import Expansion

    own = Expansion(results.searched, results.expanded).note()
    return [n for n in results.notes if n != own]


def duplicates_label(hit: Hit) -> str:
    """``Also stated by 2 other passages (Source A, Source B)``; empty when the hit has no duplicates
    (the wording is ``Hit.also_stated``, the CLI's too)."""
    return f"Also stated by {hit.also_stated()}" if hit.duplicates else ""


#: Overview chart titles by facet.
CHART_TITLES: dict[str, str] = {
    "topic": "Passages by topic", "side_effect": "Side effects (top 20)", "drug": "Drugs (top 20)",
    "condition": "Conditions (top 20)", "substance": "Substances (top 20)", "source": "Sources", "year": "Years",
}


def overview_scope(results: Results, state: SearchState) -> str:
    """What the Overview's charts count: the current search, said in words."""
    if not state.query and not state.filters:
        return f"Charts show every passage of the collection ({results.total:,}): there is no search or filter."
    what = []
    if state.query:
        what.append(f"the search “{state.query}”")
    if state.filters:
        what.append("filters " + "; ".join(f"{FACET_LABELS.get(n, n).lower()} = "
                                            + " or ".join(value_label(v) for v in vals) for n, vals in state.filters))
    return f"Charts follow {' and '.join(what)}: {results.total:,} passage{'s' * (results.total != 1)}."


QUERY_HELP = """
**Query syntax**

| write | finds |
|---|---|
| `baclofen withdrawal` | passages with **all** the words (stemmed: *seizure* finds *seizures*) |
| `"muscle spasticity"` | the exact phrase |
| `seizures OR convulsions` | either word |
| `baclofen NOT alcohol` | leave out passages with a word |
| `(tizanidine OR baclofen) AND dose` | group with parentheses |
| `topic:withdrawal` `severity:serious` | a facet value (also `route:`, `drug:`, `side_effect:` ...) |
| `title:addictive` `section:dosage` | a word in the document title or section heading |
| `baclofin~` | fuzzy: close spellings (`~2` for two edits) |
| `hallucinat*` `sei?ure` | wildcards: `*` any letters, `?` one letter |

Plain words also find their synonyms and brand names from the vocabulary (*Lioresal* finds *baclofen*; the line
under the result count lists what was added, and the **Synonyms** switch turns it off), and a word found nowhere
is searched as close spellings; the note above the results says when. An empty query lists
every passage; a malformed one is searched as plain words.
"""


def similar_caption(passage: Passage, hits: Sequence[Hit]) -> str:
    """How "More like this" found what it lists."""
    if not hits:
        return ""
    others = sum(1 for h in hits if (h.passage.source != passage.source if passage.source
                                     else h.passage.doc_id != passage.doc_id))
    return (f"Passages sharing this one's most distinctive words, other sources first "
            f"({others} of {len(hits)} from other sources); exact copies are listed under *Also stated by*.")


def intent_filter_label(filters: Mapping[str, Sequence[str]]) -> str:
    """The button that turns a question's intent (``Results.intent_filter``) into a filter: ``Filter to topic:
    dosage or pharmacokinetics``."""
    parts = [f"{FACET_LABELS.get(name, name).lower()}: " + " or ".join(value_label(v) for v in values)
             for name, values in filters.items() if values]
    return "Filter to " + "; ".join(parts)
