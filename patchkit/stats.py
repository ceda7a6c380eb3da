"""Statistics for patchkit bench: medians, bootstrap confidence intervals, ratios.

Pure functions over lists of numbers; randomness only through a
random.Random seeded by the caller, so a report is reproducible.

The bench compares few repeats (N rounds per kernel, 5 by default), with
noise that is neither normal nor symmetric (a shared, busy machine).  So it
summarises each kernel by the median of its rounds, and the uncertainty by
a percentile bootstrap: resample the rounds with replacement many times,
take the median each time, and read the 2.5 % and 97.5 % points.  A ratio
to the baseline gets its interval the same way, resampling both kernels
independently.  A ratio whose interval contains 1 is "no significant
difference": the data cannot tell the kernels apart.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

DEFAULT_RESAMPLES = 4000
DEFAULT_SEED = 20260614
NO_DIFFERENCE = "no significant difference"


def median(values) -> float:
    """Median of a non-empty sequence (mean of the two middle values when even)."""
    v = sorted(values)
    n = len(v)
    if n == 0:
        raise ValueError("median of no values")
    mid = n // 2
    return float(v[mid]) if n % 2 else (v[mid - 1] + v[mid]) / 2.0


def percentile(values, p: float) -> float:
    """Linear-interpolation percentile (p in 0..100) of a non-empty sequence."""
    v = sorted(values)
    if not v:
        raise ValueError("percentile of no values")
    if not 0 <= p <= 100:
        raise ValueError(f"percentile must be within 0..100, not {p}")
    pos = (len(v) - 1) * p / 100.0
    lo = math.floor(pos)
    hi = math.ceil(pos)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float

    def contains(self, x: float) -> bool:
        return self.low <= x <= self.high


def _resampled_medians(values, resamples: int, rng: random.Random) -> list[float]:
    v = list(values)
    n = len(v)
    return [median([v[rng.randrange(n)] for _ in range(n)]) for _ in range(resamples)]


def bootstrap_median(values, *, confidence: float = 0.95, resamples: int = DEFAULT_RESAMPLES,
                     rng: random.Random | None = None) -> Interval:
    """Median of values with its percentile-bootstrap confidence interval."""
    values = list(values)
    if not values:
        raise ValueError("bootstrap of no values")
    rng = rng or random.Random(DEFAULT_SEED)
    meds = _resampled_medians(values, resamples, rng)
    alpha = (1 - confidence) / 2 * 100
    return Interval(median(values), percentile(meds, alpha), percentile(meds, 100 - alpha))


def bootstrap_ratio(values, reference, *, confidence: float = 0.95, resamples: int = DEFAULT_RESAMPLES,
                    rng: random.Random | None = None) -> Interval | None:
    """median(values) / median(reference) with a bootstrap interval; None if a median is 0."""
    values, reference = list(values), list(reference)
    if not values or not reference:
        raise ValueError("bootstrap ratio needs values on both sides")
    if median(reference) == 0:
        return None
    rng = rng or random.Random(DEFAULT_SEED)
    a = _resampled_medians(values, resamples, rng)
    b = _resampled_medians(reference, resamples, rng)
    ratios = [x / y for x, y in zip(a, b) if y != 0]
    if len(ratios) < resamples * 0.9:
        return None  # the reference is 0 too often for a ratio to mean anything
    alpha = (1 - confidence) / 2 * 100
    return Interval(median(values) / median(reference), percentile(ratios, alpha),
                    percentile(ratios, 100 - alpha))


def significance(ratio: Interval | None) -> str:
    """'' when the ratio's interval excludes 1; NO_DIFFERENCE when it contains 1."""
    if ratio is None:
        return "n/a"
    return NO_DIFFERENCE if ratio.contains(1.0) else ""


def direction(ratio: Interval | None, higher_is_better: bool) -> str:
    """'better', 'worse' or '' (no significant difference / no ratio)."""
    if ratio is None or ratio.contains(1.0):
        return ""
    up = ratio.low > 1.0
    return "better" if up == higher_is_better else "worse"


def relative_spread(values) -> float:
    """(max - min) / median: how far apart the rounds of one kernel are."""
    m = median(values)
    return (max(values) - min(values)) / m if m else float("inf")
