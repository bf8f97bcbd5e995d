"""Passages that say the same thing: MinHash signatures and the groups they form.

Health websites copy one another, and labels repeat across products. Two passages are grouped
when their word 3-shingles overlap by about 60% or more (estimated Jaccard similarity from 16
MinHash values): the same statement with a few words changed, not merely the same topic.

A signature is computed once per passage at ingest; grouping runs over every passage of an index
generation at once, in NumPy (banding, then a check of each candidate pair's whole signature).
"""

from __future__ import annotations

import re
import zlib

import numpy as np

NUM_HASHES = 16
BANDS = 4  # 4 bands of 4 hashes: near-certain to pair passages at 0.8 similarity, rarely below 0.4
SIMILARITY = 0.6  # share of equal MinHash values (an estimate of Jaccard similarity) to group two passages
MIN_WORDS = 8  # shorter passages ("- Dizziness") are never grouped: their sameness says little
_PRIME = np.uint64((1 << 61) - 1)
_rng = np.random.default_rng(20261123)  # fixed: signatures must be the same in every process
# a, b < 2**32 and x < 2**32, so a*x fits in 64 bits before the reduction modulo a 61-bit prime.
_A = _rng.integers(1, 1 << 32, size=NUM_HASHES, dtype=np.uint64)
_B = _rng.integers(0, 1 << 32, size=NUM_HASHES, dtype=np.uint64)
_WORD = re.compile(r"\w+")
_ASCII_WORD = re.compile(rb"\w+")  # on ASCII text, what _WORD finds
SIGNATURE_BYTES = NUM_HASHES * 4


def signature(text: str) -> bytes:
    """16 MinHash values of the text's word 3-shingles, or b"" for a passage too short to group."""
    # Shingles are made, encoded as UTF-8 and hashed in C, without a Python step each; ASCII text (most
    # text) as bytes from the start: its words and their UTF-8 are the same either way.
    if text.isascii():
        words: list = _ASCII_WORD.findall(text.encode("ascii").lower())
        if len(words) < MIN_WORDS:
            return b""
        shingles: set = set(map(b" ".join, zip(words, words[1:], words[2:], strict=False)))
    else:
        words = _WORD.findall(text.lower())
        if len(words) < MIN_WORDS:
            return b""
        shingles = set(map(str.encode, map(" ".join, zip(words, words[1:], words[2:], strict=False))))
    hashes = np.fromiter(map(zlib.crc32, shingles), dtype=np.uint64, count=len(shingles))
    mixed = ((_A[:, None] * hashes[None, :]) % _PRIME + _B[:, None]) % _PRIME
    return (mixed.min(axis=1) & np.uint64(0xFFFFFFFF)).astype(np.uint32).tobytes()


def groups(signatures: list[bytes]) -> np.ndarray:
    """A group label per passage: equal labels say the same thing; a lone passage is its own."""
    n = len(signatures)
    labels = np.arange(n, dtype=np.int64)
    present = np.array([len(s) == SIGNATURE_BYTES for s in signatures], dtype=bool)
    if present.sum() < 2:
        return labels
    rows = np.flatnonzero(present)
    sigs = np.frombuffer(b"".join(signatures[i] for i in rows), dtype=np.uint32).reshape(len(rows), NUM_HASHES)
    edges_a, edges_b = [], []
    per_band = NUM_HASHES // BANDS
    for band in range(BANDS):
        block = np.ascontiguousarray(sigs[:, band * per_band:(band + 1) * per_band])
        keys = block.view(np.dtype((np.void, block.dtype.itemsize * per_band))).ravel()
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        starts = np.r_[True, sorted_keys[1:] != sorted_keys[:-1]]
        first = order[np.maximum.accumulate(np.where(starts, np.arange(len(order)), 0))]
        candidates = order != first
        a, b = order[candidates], first[candidates]
        similar = (sigs[a] == sigs[b]).mean(axis=1) >= SIMILARITY
        edges_a.append(rows[a[similar]])
        edges_b.append(rows[b[similar]])
    a = np.concatenate(edges_a)
    b = np.concatenate(edges_b)
    if not len(a):
        return labels
    # Connected components by repeated min-label propagation along the edges.
    while True:
        low = np.minimum(labels[a], labels[b])
        changed = (labels[a] != low) | (labels[b] != low)
        if not changed.any():
            break
        np.minimum.at(labels, a, low)
        np.minimum.at(labels, b, low)
        labels = labels[labels]  # path halving: point at the label's own label
    return labels
