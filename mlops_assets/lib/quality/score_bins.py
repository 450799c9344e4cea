"""The fixed bins of P(fraud) that the service counts its live scores in and the metrics exporter
gives the champion's reference shares in, so that Prometheus can compute the PSI of live scores
against the reference (`deploy/prometheus/rules/`).

The bins are fixed, not the reference's quantiles as in the drift report's PSI: a Prometheus
counter's labels are set before any reference is known, and they must stay the same across
champions for the series to add up. They follow a 1-2-5 series on each side of 0.5, so the low
scores where most transactions lie (whatever the fraud rate) are split as finely as the high ones.
Nothing here depends on a data set.
"""

from __future__ import annotations

import numpy as np

# The lower edge of each bin; the last bin ends at 1.
LOWER_EDGES = (0.0, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.998)
# A bin's label is its lower edge as written here: `bin="0.05"` holds 0.05 <= p < 0.1.
LABELS = tuple(f"{edge:g}" for edge in LOWER_EDGES)


def bin_counts(probabilities: np.ndarray) -> dict[str, int]:
    """How many of `probabilities` fall in each bin, for the bins that have any (NaN: none)."""
    values = np.asarray(probabilities, dtype=float)
    values = values[np.isfinite(values)]
    bins = np.searchsorted(LOWER_EDGES, np.clip(values, 0.0, 1.0), side="right") - 1
    counts = np.bincount(bins, minlength=len(LOWER_EDGES))
    return {LABELS[i]: int(count) for i, count in enumerate(counts) if count}


def bin_shares(probabilities: np.ndarray) -> dict[str, float]:
    """The share of `probabilities` in every bin (empty bins too, as 0); empty input: {}."""
    counts = bin_counts(probabilities)
    total = sum(counts.values())
    if total == 0:
        return {}
    return {label: counts.get(label, 0) / total for label in LABELS}
