"""Intervals and standard errors for the numbers dpedu reports (DESIGN.md, "Statistics").

    standard_error(values)      s / sqrt(n): the within-seed spread of a mean over episodes
    wilson_interval(k, n)       a success rate's 95% interval, sound at 0% and 100% too
    t_interval(values)          the Student-t interval of a mean over a few training seeds (headline intervals)
    over_seeds(rows, field)     a benchmark record's mean of `field` over training seeds, with its t-interval
    paired_difference(a, b, f)  per-seed differences of two variants trained on the same seeds, and their interval

Only t_interval needs scipy (one t quantile); it imports scipy.stats when called, so importing dpedu does not.
"""

from __future__ import annotations

import math

import numpy as np


def standard_error(values) -> float:
    """s / sqrt(n) of a flat list of values, with the sample std s (ddof=1); NaN for fewer than 2 values."""
    values = np.asarray(values, dtype=float)
    if values.ndim != 1:
        raise ValueError(f"standard_error needs a flat list of values, got shape {values.shape}")
    n = len(values)
    return float(values.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan")


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a success rate (95% for z = 1.96): sound at 0% and 100% too, unlike p +- z se."""
    if n == 0:
        return 0.0, 1.0
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in 0..n ({n}), got {successes}")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def t_interval(values, confidence: float = 0.95) -> tuple[float, float]:
    """The Student-t interval of the mean of a few values (e.g. one mean return per training seed).

    With n seeds it is mean +- t_{n-1} s / sqrt(n); for 3 seeds t_2 = 4.30, so the interval is wide, as it should be.
    """
    from scipy import stats  # ~1 s to import, for one quantile: only when an interval is asked for

    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or len(values) < 2:
        raise ValueError(f"t_interval needs at least 2 values in a flat list, got shape {values.shape}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    half = stats.t.ppf(0.5 + confidence / 2, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values))
    return float(values.mean() - half), float(values.mean() + half)


def over_seeds(rows: list[dict], field: str) -> tuple[float, tuple[float, float]]:
    """The mean of `field` over the rows (training seeds) and its 95% t-interval over seeds."""
    values = [row[field] for row in rows]
    return float(np.mean(values)), t_interval(values)


def paired_difference(a: list[dict], b: list[dict], field: str) -> tuple[np.ndarray, tuple[float, float]]:
    """Per-seed differences a - b of `field` (rows matched by seed) and the 95% t-interval of their mean."""
    by_seed = {row["seed"]: row[field] for row in b}
    diff = np.array([row[field] - by_seed[row["seed"]] for row in a if row["seed"] in by_seed])
    return diff, t_interval(diff)
