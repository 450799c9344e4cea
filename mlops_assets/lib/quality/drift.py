"""Drift statistics as effect sizes, and the policy that turns them into a verdict.

Significance tests on tens of thousands of rows call every day different; what matters is how
much a distribution moved. So every statistic here is a size, comparable across days:
- PSI (population stability index) per input, on bins of the reference (quantiles for
  continuous inputs, the values themselves for few-valued ones); the industry reading is < 0.1
  stable, 0.1-0.25 moderate, > 0.25 a shift (the champion's scores are judged on that scale);
- Wasserstein distance in units of the reference's standard deviation;
- Jensen-Shannon divergence (base 2, 0 to 1) between the conditional distributions of a Bayesian
  network's nodes, fitted on the reference and refitted on the current window.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from mlops_assets.lib.modelling.bayes import CompiledNetwork, fit_parameters, state_codes

# Share added to every bin so an empty bin has a finite log ratio.
EPSILON = 1e-4
# Inputs with at most this many distinct reference values are compared value by value.
FEW_VALUES = 12


def _bin_edges(reference: np.ndarray, bins: int) -> np.ndarray | None:
    """Inner bin edges from reference quantiles; None when the input has few values (compare values)."""
    if len(np.unique(reference)) <= FEW_VALUES:
        return None
    return np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))


def _shares(reference: np.ndarray, current: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    edges = _bin_edges(reference, bins)
    if edges is None:
        values = np.union1d(np.unique(reference), np.unique(current))
        counts = [np.array([(data == value).sum() for value in values], dtype=float) for data in (reference, current)]
    else:
        counts = [
            np.bincount(np.searchsorted(edges, data, side="right"), minlength=len(edges) + 1).astype(float)
            for data in (reference, current)
        ]
    return tuple((count / count.sum() + EPSILON) / (1 + EPSILON * len(count)) for count in counts)


def psi(reference: np.ndarray, current: np.ndarray, bins: int = 10) -> float:
    """Population stability index of `current` against `reference` (0 when identical)."""
    reference, current = _clean(reference), _clean(current)
    expected, actual = _shares(reference, current, bins)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def wasserstein(reference: np.ndarray, current: np.ndarray) -> float:
    """Earth mover's distance in units of the reference's standard deviation."""
    reference, current = _clean(reference), _clean(current)
    spread = reference.std()
    return (
        earth_movers_distance(reference, current) / spread
        if spread > 0
        else float(not np.array_equal(np.unique(reference), np.unique(current)))
    )


def earth_movers_distance(reference: np.ndarray, current: np.ndarray) -> float:
    """The 1-Wasserstein distance between two samples: the area between their empirical CDFs, the
    number `scipy.stats.wasserstein_distance` gives (a test holds them equal).

    SciPy argsorts both samples, sorts them together and looks every point up in both; here the
    two are sorted together once and only the reference (the smaller side, a day's window being up
    to a million rows) is looked up: 4x faster on a million rows. Between two neighbouring distinct
    values of the pooled sample, the pooled CDF counts the points up to the left one, so the
    current's count is that position minus the reference's."""
    pooled = np.sort(np.concatenate([reference, current]))
    # How many reference points lie at or below each pooled point: a reference value counts from
    # the first pooled position holding it.
    first_positions = np.searchsorted(pooled, reference, side="left")
    reference_at_or_below = np.cumsum(np.bincount(first_positions, minlength=len(pooled)))[:-1]
    current_at_or_below = np.arange(1, len(pooled)) - reference_at_or_below
    gaps = np.diff(pooled)  # 0 between equal values, where the counts above are not exact
    cdf_gap = np.abs(reference_at_or_below / len(reference) - current_at_or_below / len(current))
    return float(np.dot(cdf_gap, gaps))


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence (base 2) between two distributions over the same states: 0 to 1."""
    p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
    p, q = p / p.sum(), q / q.sum()
    middle = (p + q) / 2

    def kl(a: np.ndarray) -> float:
        present = a > 0
        return float(np.sum(a[present] * np.log2(a[present] / middle[present])))

    return (kl(p) + kl(q)) / 2


def _clean(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if not len(values):
        raise ValueError("no values to compare")
    return values


class DriftPolicy(BaseModel):
    """When a day's statistics make a verdict. `drift` needs an effect that matters for the model:
    many inputs shifted, the champion's scores shifted, fraud's conditional distributions moved,
    or performance fell on labelled data; `warn` says something moved that does not (yet). A
    pydantic model, so that the Dagster config of `drift_report` takes these fields as they are."""

    model_config = ConfigDict(frozen=True)

    # Measured on generated data (docs/drift.md): ordinary days stay below 0.003 PSI on flags and
    # 0.12 stds on numbers (the most: merchant counts, where the same merchants persist from day to
    # day); a covariate shift moves flags 0.17-0.27 and its numbers 0.35-1.0.
    psi_shift: float = Field(default=0.1, description="A flag input shifted: PSI above this.")
    wasserstein_shift: float = Field(
        default=0.2, description="A numeric input shifted: Wasserstein distance (reference stds) above this."
    )
    moved_fraction: float = Field(
        default=0.75, description="Above this fraction of its shift threshold an input has moved (warn)."
    )
    shifted_share_for_drift: float = Field(default=0.3, description="Share of shifted inputs that is data drift.")
    prediction_psi_for_drift: float = Field(default=0.25, description="PSI of the champion's scores that is drift.")
    fraud_divergence_for_drift: float = Field(
        default=0.1, description="Mean Jensen-Shannon divergence of fraud's conditional distributions that is drift."
    )
    # Relative to the evaluation baseline, judged on the upper end of PR AUC's bootstrap interval:
    # a two-day window holds a few dozen frauds, and its PR AUC swings by 0.1 on ordinary days.
    pr_auc_drop_for_drift: float = Field(
        default=0.2, description="Relative fall of PR AUC below evaluation that is drift."
    )
    min_labelled_frauds: int = Field(
        default=20, description="Fewer labelled frauds in the window: no label-based verdict."
    )
    # The point estimate, not the interval's upper end, because a false "still below" costs one
    # more gated retraining, a false "recovered" a weak model.
    recovery_tolerance: float = Field(
        default=0.1,
        description="A champion promoted for drift is still recovering (drift) while its PR AUC is more than "
        "this fraction below the pre-drift level.",
    )
    # Then the champion's own evaluation is the bar: a world that got harder cannot retrain forever.
    recovery_days: int = Field(
        default=14, description="Days after a drift began during which the pre-drift level is the bar."
    )

    def verdict(
        self,
        inputs: pd.DataFrame,
        prediction_psi: float,
        fraud_divergence: float | None,
        pr_auc_drop: float | None,
        recovery: tuple[float, float] | None = None,
    ) -> tuple[str, list[str]]:
        """(`none` | `warn` | `drift`, the reasons in words). `inputs` has one row per model input
        with its statistic's `value` and shift `threshold` (as `input_drift` gives); `pr_auc_drop`
        is the fall below the evaluation baseline that the labelled window shows for sure (from
        the upper end of its PR AUC interval); `recovery` is (the window's PR AUC, the pre-drift
        level) for a champion still recovering from a drift (`recovery_level`)."""
        ratio = inputs["value"] / inputs["threshold"]
        shifted = sorted(inputs.index[ratio > 1])
        moved = sorted(inputs.index[(ratio > self.moved_fraction) & (ratio <= 1)])
        share = len(shifted) / len(inputs) if len(inputs) else 0.0
        drift, warn = [], []
        if share >= self.shifted_share_for_drift:
            drift.append(f"{len(shifted)} of {len(inputs)} inputs shifted: {', '.join(shifted)}")
        elif shifted or moved:
            warn.append(f"inputs moved: {', '.join(shifted + moved)}")
        if prediction_psi > self.prediction_psi_for_drift:
            drift.append(f"champion's scores shifted (PSI {prediction_psi:.2f} > {self.prediction_psi_for_drift})")
        elif prediction_psi > self.prediction_psi_for_drift * self.moved_fraction:
            warn.append(f"champion's scores moved (PSI {prediction_psi:.2f})")
        if fraud_divergence is not None and fraud_divergence > self.fraud_divergence_for_drift:
            drift.append(
                f"fraud's conditional distributions moved "
                f"(JS {fraud_divergence:.3f} > {self.fraud_divergence_for_drift})"
            )
        if pr_auc_drop is not None and pr_auc_drop > self.pr_auc_drop_for_drift:
            drift.append(f"PR AUC fell at least {pr_auc_drop:.0%} below the evaluation baseline")
        if recovery is not None and recovery[0] < (1 - self.recovery_tolerance) * recovery[1]:
            drift.append(
                f"not recovered: PR AUC {recovery[0]:.3f} is below {1 - self.recovery_tolerance:.0%} "
                f"of the pre-drift {recovery[1]:.3f}"
            )
        if drift:
            return "drift", drift + warn
        return ("warn", warn) if warn else ("none", [])


# Evidently recomputes every statistic and draws every column from all the rows it is given, about
# 80 s for a million. Its report shows at most this many of the window's rows, drawn at random
# (seeded), as many as the reference has; the verdict's own statistics read every row.
HTML_MAX_ROWS = 20_000

# Tags of a champion promoted by a drift retraining: the PR AUC of the champion before the drift
# (the level to recover to) and the drift's first day. A chain of drift promotions keeps the first.
RECOVERY_LEVEL_TAG = "recovery_level"
RECOVERY_SINCE_TAG = "recovery_since"


def recovery_tags(previous: dict[str, str], event_start: str, before: list[float]) -> dict[str, str]:
    """The recovery tags of a champion promoted for a drift that began on `event_start`, replacing
    a champion with tags `previous`. `before` are that champion's PR AUCs in its drift reports of
    the days before the drift: their median is the level (the same statistic the reports measure
    afterwards); without any, its evaluation PR AUC."""
    if RECOVERY_LEVEL_TAG in previous:  # the previous one was still recovering: same bar, same clock
        return {RECOVERY_LEVEL_TAG: previous[RECOVERY_LEVEL_TAG], RECOVERY_SINCE_TAG: previous[RECOVERY_SINCE_TAG]}
    level = f"{np.median(before):.6g}" if before else previous["pr_auc"]
    return {RECOVERY_LEVEL_TAG: level, RECOVERY_SINCE_TAG: event_start}


def recovery_level(tags: dict[str, str], day: str, policy: DriftPolicy) -> float | None:
    """The pre-drift PR AUC that a champion with `tags` must reach on `day`, or None when it is not
    recovering (never promoted for drift, or `recovery_days` are over)."""
    if RECOVERY_LEVEL_TAG not in tags:
        return None
    elapsed = (pd.Timestamp(day) - pd.Timestamp(tags[RECOVERY_SINCE_TAG])).days
    return float(tags[RECOVERY_LEVEL_TAG]) if elapsed <= policy.recovery_days else None


def is_flag(column: str) -> bool:
    """Model inputs that are 0/1 flags (compared by PSI on their values), not numbers."""
    return column.startswith(("is_", "has_"))


def comparable_columns(reference: pd.DataFrame, current: pd.DataFrame) -> list[str]:
    """The columns of `current` with a value on both sides: an input with none on one side (a rate
    no merchant has labels for yet) cannot be compared."""
    return [c for c in current.columns if current[c].notna().any() and reference[c].notna().any()]


def input_drift(reference: pd.DataFrame, current: pd.DataFrame, policy: DriftPolicy) -> pd.DataFrame:
    """The data drift of every comparable column of `current` against `reference`, as Evidently's
    `DataDriftPreset` computes it with the policy's methods (`drift_html` renders that report, and
    a test holds the two to the same numbers): PSI over the values for flags, Wasserstein distance
    in reference standard deviations for numbers, on the finite values of each side. One row per
    column with `method`, `value`, `threshold` and `shifted`. Computed here, not by Evidently,
    because importing and running Evidently takes 20 s, which a verdict need not wait for."""
    rows = []
    for column in comparable_columns(reference, current):
        before, after = _finite(reference[column]), _finite(current[column])
        if is_flag(column):
            rows.append((column, "psi", _value_psi(before, after), policy.psi_shift))
        else:
            spread = max(float(np.std(before)), 0.001)
            rows.append(
                (column, "wasserstein", earth_movers_distance(before, after) / spread, policy.wasserstein_shift)
            )
    table = pd.DataFrame(rows, columns=["column", "method", "value", "threshold"]).set_index("column")
    table["shifted"] = table["value"] > table["threshold"]
    return table


def _finite(values: pd.Series) -> np.ndarray:
    values = pd.to_numeric(values, errors="coerce").astype("float64").to_numpy()
    return values[np.isfinite(values)]


def _value_psi(reference: np.ndarray, current: np.ndarray) -> float:
    """PSI over the values seen on either side, each share of 0 replaced by a small one (1e-4, or
    a millionth of the smallest share when that is smaller), as Evidently does for categories."""
    values = np.union1d(reference, current)
    shares = []
    for data in (reference, current):
        share = np.array([(data == value).sum() for value in values], dtype=float) / len(data)
        smallest = share[share > 0].min()
        share[share == 0] = smallest / 10**6 if smallest <= 1e-4 else 1e-4
        shares.append(share)
    before, after = shares
    return float(np.sum((before - after) * np.log(before / after)))


def drift_html(
    reference: pd.DataFrame, current: pd.DataFrame, policy: DriftPolicy, html_path: str, max_rows: int = HTML_MAX_ROWS
) -> pd.DataFrame:
    """Evidently's data drift report of the comparable columns, saved as HTML at `html_path`, of at
    most `max_rows` rows of `current` (a seeded random sample of a larger window); returns its
    statistics as `input_drift` gives them. Evidently is imported here: it takes seconds."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    if len(current) > max_rows:
        current = current.sample(max_rows, random_state=0)
    columns = comparable_columns(reference, current)
    definition = DataDefinition(
        numerical_columns=[c for c in columns if not is_flag(c)], categorical_columns=[c for c in columns if is_flag(c)]
    )
    report = Report(
        [
            DataDriftPreset(
                num_method="wasserstein",
                num_threshold=policy.wasserstein_shift,
                cat_method="psi",
                cat_threshold=policy.psi_shift,
            )
        ]
    )
    # Evidently takes the current data first: by keyword, so the two cannot be swapped.
    # Evidently divides by a constant column's spread inside its statistics and says so through
    # numpy's RuntimeWarning, in every terminal that runs a drift report: its result for such a
    # column is what we read, so the warning is noise.
    with np.errstate(divide="ignore", invalid="ignore"):
        snapshot = report.run(
            current_data=Dataset.from_pandas(current[columns], data_definition=definition),
            reference_data=Dataset.from_pandas(reference[columns], data_definition=definition),
        )
    snapshot.save_html(html_path)
    rows = [
        {
            "column": metric["config"]["column"],
            "method": metric["config"]["method"],
            "value": float(metric["value"]),
            "threshold": float(metric["config"]["threshold"]),
        }
        for metric in snapshot.dict()["metrics"]
        if metric["config"]["type"].endswith(":ValueDrift")
    ]
    table = pd.DataFrame(rows).set_index("column").loc[columns]
    table["shifted"] = table["value"] > table["threshold"]
    return table


def network_drift(
    reference: CompiledNetwork, window: pd.DataFrame, equivalent_sample_size: float = 10.0
) -> pd.DataFrame:
    """The Bayesian network's view of what moved: the CPTs refitted on `window` (discrete states,
    as `Discretizer.transform` gives them, `is_fraud` included where labels exist) with the
    structure of `reference` (a `CompiledNetwork`) fixed, compared CPT by CPT.

    One row per node: `legitimate_js`, the divergence of its conditional distributions where the
    parents do not include fraud or fraud is 0 (the inputs moved), and `fraud_js` for the
    children of fraud with fraud = 1 (what fraud looks like moved: the concept). Each is the mean
    Jensen-Shannon divergence over parent configurations, weighted by how often the window has
    them. Rows with a state the network does not know are left out."""
    target = reference.target
    data = window[[node for node in reference.cardinality if node in window.columns]]
    # A row with a state the network does not have (a missing value, where the training data had
    # none) is one it cannot describe: it is left out of the refit, not a failure of the report.
    known = np.logical_and.reduce([data[node].isin(reference.state_names[node]).to_numpy() for node in data.columns])
    data = data[known].reset_index(drop=True)
    model = fit_parameters(reference.to_pgmpy(), data, reference.state_names, equivalent_sample_size)
    refitted = CompiledNetwork.from_pgmpy(model, target)
    codes = {node: state_codes(data[node], reference.state_names[node]) for node in data.columns}
    rows = []
    for before, after in zip(reference.factors, refitted.factors, strict=True):
        node, parents = before.variables[0], before.variables[1:]
        after_values = np.moveaxis(
            after.values, [after.variables.index(v) for v in before.variables], range(len(before.variables))
        )
        columns = before.values.reshape(before.values.shape[0], -1)
        new_columns = after_values.reshape(before.values.shape[0], -1)
        weights = _configuration_counts(codes, parents, [reference.cardinality[p] for p in parents])
        fraud_states = None
        if target in parents:
            position = parents.index(target)
            grid = np.indices([reference.cardinality[p] for p in parents]).reshape(len(parents), -1)
            fraud_states = grid[position] == reference.state_names[target].index(1)
        divergences = np.array([js_divergence(columns[:, c], new_columns[:, c]) for c in range(columns.shape[1])])
        everything = np.ones(len(divergences), dtype=bool)
        legitimate = everything if fraud_states is None else ~fraud_states
        rows.append(
            {
                "node": node,
                "parents": ", ".join(parents),
                "legitimate_js": _weighted_mean(divergences, weights, legitimate),
                "fraud_js": float("nan")
                if fraud_states is None
                else _weighted_mean(divergences, weights, fraud_states),
            }
        )
    return pd.DataFrame(rows).set_index("node")


def _weighted_mean(values: np.ndarray, weights: np.ndarray, mask: np.ndarray) -> float:
    total = weights[mask].sum()
    return float((values[mask] * weights[mask]).sum() / total) if total > 0 else float("nan")


def _configuration_counts(codes: dict[str, np.ndarray], parents: tuple[str, ...], cards: list[int]) -> np.ndarray:
    """How many window rows have each configuration of `parents` (C order, as the CPT columns)."""
    if not parents:
        return np.array([float(len(next(iter(codes.values()))))])
    if any(p not in codes for p in parents):  # a parent the window lacks: weigh configurations alike
        return np.ones(int(np.prod(cards)))
    known = np.all([codes[p] >= 0 for p in parents], axis=0)
    flat = np.ravel_multi_index(tuple(codes[p][known] for p in parents), cards)
    return np.bincount(flat, minlength=int(np.prod(cards))).astype(float)
