"""The nearest-rank percentile the timing benchmarks (intent, UI, speech mode, soak) report, written once."""

from __future__ import annotations


def percentile(values: list[float], q: float) -> float:
    """The value at quantile ``q`` (0-1) of ``values``: the nearest rank, no interpolation (a p95 of 20 samples is
    the 19th smallest, a number that was measured)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]
