"""The query mix: one to three terms, phrases and natural questions, later given filters.

Terms and phrases are drawn from the indexed passages themselves (so most queries match something),
questions from the corpus's question set (MedQuAD) or from templates (synthetic). Deterministic by seed.
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from benchlib.corpus import CONDITIONS, DRUGS, SIDE_EFFECTS
from benchlib.peer import STOP_WORDS

KINDS = ("1 term", "2 terms", "3 terms", "phrase", "question")
_WORD = re.compile(r"[A-Za-z][a-z]{3,}")


@dataclass(frozen=True, slots=True)
class BenchQuery:
    kind: str
    text: str  # as a user types it into kb
    filters: dict[str, list[str]] = field(default_factory=dict)

    def with_filters(self, filters: dict[str, list[str]]) -> BenchQuery:
        return BenchQuery(self.kind + " +filter", self.text, filters)


def synthetic_questions(n: int, seed: int) -> list[str]:
    rng = random.Random(f"questions-{seed}")
    templates = (
        "What are the side effects of {drug}?",
        "Can {drug} cause {se}?",
        "How much {drug} should I take for {cond}?",
        "Is it safe to take {drug} while pregnant?",
        "What happens if you overdose on {drug}?",
        "Does {drug} interact with alcohol?",
        "what is {drug} used for",
        "How do I stop taking {drug} without withdrawal?",
    )
    return [rng.choice(templates).format(drug=rng.choice(DRUGS), se=rng.choice(SIDE_EFFECTS),
                                         cond=rng.choice(CONDITIONS)) for _ in range(n)]


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text) if w.lower() not in STOP_WORDS]


def make_queries(texts: Sequence[str], questions: Sequence[str], n: int, seed: int = 7) -> list[BenchQuery]:
    """``n`` unfiltered queries, the kinds in turn, from passage ``texts`` and ``questions``."""
    rng = random.Random(f"queries-{seed}")
    qs = list(questions)
    rng.shuffle(qs)
    out: list[BenchQuery] = []
    i = 0
    attempts = 0
    while len(out) < n:
        attempts += 1
        if attempts > 50 * n + 100:
            raise ValueError("cannot draw queries from these passages (too few words)")
        kind = KINDS[len(out) % len(KINDS)]
        if kind == "question":
            if qs:
                out.append(BenchQuery(kind, qs[i % len(qs)]))
                i += 1
            else:
                out.append(BenchQuery(kind, synthetic_questions(1, seed + len(out))[0]))
            continue
        words = _words(rng.choice(texts))
        if kind == "phrase":
            tokens = re.findall(r"[A-Za-z]+", rng.choice(texts))
            pairs = [(a, b) for a, b in itertools.pairwise(tokens)
                     if len(a) > 2 and len(b) > 2 and a.lower() not in STOP_WORDS and b.lower() not in STOP_WORDS]
            if pairs:
                a, b = rng.choice(pairs)
                out.append(BenchQuery(kind, f'"{a.lower()} {b.lower()}"'))
            continue
        k = int(kind[0])
        distinct = list(dict.fromkeys(words))
        if len(distinct) >= k:
            out.append(BenchQuery(kind, " ".join(rng.sample(distinct, k))))
    return out
