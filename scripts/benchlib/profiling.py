"""Summaries of pyinstrument sessions: the functions where the time goes."""

from __future__ import annotations

from collections import defaultdict
from typing import Any


def _key(frame: Any) -> str:
    return f"{frame.function} ({frame.file_path_short}:{frame.line_no})"


def top_functions(
    session: Any, n: int = 10, *, only: str | None = None
) -> tuple[float, list[tuple[str, float, float]]]:
    """(total seconds, [(function, self seconds, cumulative seconds)]) sorted by self time.

    Cumulative time counts a function once per call chain (recursion is not double counted).
    ``only`` keeps functions whose file path contains that text (e.g. "/kb/").
    """
    root = session.root_frame()
    if root is None:
        return 0.0, []
    self_t: dict[str, float] = defaultdict(float)
    cum_t: dict[str, float] = defaultdict(float)

    def walk(frame: Any, active: frozenset[str]) -> None:
        if frame.is_synthetic:  # "[self]" leaves, or the "[root]" that joins combined sessions
            for child in frame.children:
                walk(child, active)
            return
        key = _key(frame)
        self_t[key] += frame.total_self_time
        if key not in active:
            cum_t[key] += frame.time
        for child in frame.children:
            walk(child, active | {key})

    walk(root, frozenset())
    keys = [k for k in self_t if only is None or only in k]
    keys.sort(key=lambda k: -self_t[k])
    return root.time, [(k, self_t[k], cum_t[k]) for k in keys[:n]]


def top_cumulative(session: Any, n: int = 10, *, only: str) -> list[tuple[str, float]]:
    """Functions whose path contains ``only`` (e.g. "kb/"), by cumulative time."""
    _, rows = top_functions(session, n=10_000, only=only)
    rows.sort(key=lambda r: -r[2])
    return [(k, c) for k, _, c in rows[:n]]


def format_summary(title: str, session: Any, n: int = 10, package: str = "kb/") -> str:
    total, rows = top_functions(session, n)
    lines = [f"### Profile: {title} ({total:.2f} s sampled)", "", "Top functions by self time:", "",
             "| function | self s | self % | cumulative s |", "| --- | ---: | ---: | ---: |"]
    for key, s, c in rows:
        lines.append(f"| `{key}` | {s:.3f} | {100 * s / total if total else 0:.1f} | {c:.3f} |")
    lines += ["", f"Top `{package}` functions by cumulative time:", "", "| function | cumulative s | % |",
              "| --- | ---: | ---: |"]
    for key, c in top_cumulative(session, n, only=package):
        lines.append(f"| `{key}` | {c:.3f} | {100 * c / total if total else 0:.1f} |")
    return "\n".join(lines)
