"""Tokeniser, vocabulary and the 18-word rule, as AttnGAN applies them to CUB captions."""
from __future__ import annotations

import re
from collections import Counter
from typing import Iterable

import numpy as np

END = "<end>"  # index 0: the padding token
_WORD = re.compile(r"\w+")


def tokenize(caption: str) -> list[str]:
    """Lowercase, ``\\w+`` words, non-ASCII characters dropped from each word (as AttnGAN).

    >>> tokenize("This bird's crown is BRIGHT red\\ufffd\\ufffdand café-brown")
    ['this', 'bird', 's', 'crown', 'is', 'bright', 'red', 'and', 'caf', 'brown']
    """
    words = (w.encode("ascii", "ignore").decode("ascii") for w in _WORD.findall(caption.lower()))
    return [w for w in words if w]


def build_vocab(token_lists: Iterable[list[str]]) -> list[str]:
    """``<end>`` then every word, most frequent first (ties alphabetical), so ids are stable."""
    counts = Counter(w for tokens in token_lists for w in tokens)
    return [END] + sorted(counts, key=lambda w: (-counts[w], w))


def encode(tokens: list[str], word_to_id: dict[str, int]) -> list[int]:
    """Ids of known words; unknown words are dropped (the caller reports them)."""
    return [word_to_id[w] for w in tokens if w in word_to_id]


def select_words(ids: np.ndarray, max_words: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """AttnGAN's length rule: keep ``max_words`` *randomly chosen* words in order, or pad with 0.

    Returns the fixed-length int64 array and the number of real words.
    """
    out = np.zeros(max_words, np.int64)
    n = len(ids)
    if n > max_words:
        keep = np.sort(rng.choice(n, size=max_words, replace=False))
        out[:] = ids[keep]
        return out, max_words
    out[:n] = ids
    return out, n
