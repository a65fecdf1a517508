"""Multiple comparisons over primary metrics and variants.

- Bonferroni (Statsig bonferroni-correction.mdx): α divided by the number of test variants
  and/or of primary metrics, optionally after giving primaries a share of α.
- Benjamini–Hochberg (Statsig benjamini-hochberg-procedure.mdx): sort the m p-values; the
  largest rank k with p_(k) ≤ k·q/m sets the new α = k·q/m; adjusted p-values are
  min over j ≥ i of p_(j)·m/j, capped at 1 (gbstats/shared `adjustPValuesBenjaminiHochberg`).
- Holm: adjusted p_(i) = max over j ≤ i of (m − j + 1)·p_(j), capped at 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def bonferroni_alpha(
    alpha: float, *, variants: int = 1, metrics: int = 1, share: float = 1.0
) -> float:
    """α·share / (variants · metrics): e.g. 60% of 0.05 over 2 primaries = 0.015 each."""
    if variants < 1 or metrics < 1 or not 0 < share <= 1:
        raise ValueError("variants and metrics are at least 1, share in (0, 1]")
    return alpha * share / (variants * metrics)


@dataclass(frozen=True)
class BenjaminiHochberg:
    """`alpha` is the BH significance level: test each p-value against it (equivalently,
    each adjusted p-value against the FDR q)."""

    adjusted: tuple[float, ...]
    alpha: float
    rejected: tuple[bool, ...]


def benjamini_hochberg(p_values: Sequence[float], fdr: float = 0.05) -> BenjaminiHochberg:
    m = len(p_values)
    if m == 0:
        return BenjaminiHochberg((), fdr, ())
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(p, kind="stable")
    ranks = np.arange(1, m + 1)
    scaled = p[order] * m / ranks
    monotone = np.minimum.accumulate(scaled[::-1])[::-1]
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(monotone, 1.0)
    passing = np.nonzero(p[order] <= ranks * fdr / m)[0]
    alpha = (passing[-1] + 1) * fdr / m if len(passing) else fdr / m
    rejected = tuple(bool(x) for x in p <= alpha) if len(passing) else (False,) * m
    return BenjaminiHochberg(tuple(float(x) for x in adjusted), float(alpha), rejected)


def holm(p_values: Sequence[float]) -> tuple[float, ...]:
    m = len(p_values)
    if m == 0:
        return ()
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(p, kind="stable")
    scaled = p[order] * (m - np.arange(m))
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return tuple(float(x) for x in adjusted)
