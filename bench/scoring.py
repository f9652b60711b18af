"""The shared benchmark's metric: token 4-gram shingles of gold and predicted text, per page and aggregated.

Apart from the benches that use it (``bench/extraction_quality.py``, ``bench/eval_pages.py``) so that neither
imports the other.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Sequence

_TOKEN_RE = re.compile(r"\w+")

Counts = tuple[float, float, float]  # tp, fp, fn, normalised by their sum


# ---------------------------------------------------------------------------------------------- the metric


def tokenize(text: str | None) -> list[str]:
    return _TOKEN_RE.findall(text or "")


def shingles(text: str | None, n: int = 4) -> Counter[tuple[str, ...]]:
    """Multiset of token n-grams; 1..n-1 tokens give one shorter shingle, no tokens none."""
    toks = tokenize(text)
    if len(toks) < n:
        return Counter([tuple(toks)] if toks else [])
    return Counter(tuple(toks[i : i + n]) for i in range(len(toks) - n + 1))


def page_counts(gold: str | None, pred: str | None) -> Counts:
    """Shared (tp), surplus predicted (fp) and missing gold (fn) shingles, divided by their sum."""
    true, guess = shingles(gold), shingles(pred)
    tp = float(sum((true & guess).values()))
    fp = float(sum((guess - true).values()))
    fn = float(sum((true - guess).values()))
    total = tp + fp + fn
    return (tp / total, fp / total, fn / total) if total else (0.0, 0.0, 0.0)


def _precision(tp: float, fp: float, fn: float) -> float:
    return 1.0 if fp == fn == 0 else tp / (tp + fp)


def _recall(tp: float, fp: float, fn: float) -> float:
    return 1.0 if fp == fn == 0 else tp / (tp + fn)


def aggregate(counts: Sequence[Counts]) -> dict[str, float]:
    """Precision over pages with output, recall over pages with gold text, F1 of the two means."""
    precisions = [_precision(*c) for c in counts if c[0] + c[1] > 0]
    recalls = [_recall(*c) for c in counts if c[0] + c[2] > 0]
    precision = statistics.fmean(precisions) if precisions else 0.0
    recall = statistics.fmean(recalls) if recalls else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"f1": f1, "precision": precision, "recall": recall}
