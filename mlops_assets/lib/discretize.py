"""Model inputs turned into the discrete variables of the Bayesian network.

Variables that the generator's causal graph also has keep its names (`hour_of_day`, `channel`,
`amount`, ...), so a learned structure can be compared with the truth. Cut points of the
continuous variables are fitted on training data (quantiles) and stored with the model, so
serving discretizes exactly as training did.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import pandas as pd

from mlops_assets.lib.features import CATEGORIES

TARGET = "is_fraud"
# Fixed cut points where the domain gives them; None: quantiles of the training data.
FIXED_CUTS: dict[str, list[float] | None] = {
    "hour_of_day": [6, 12, 18],
    "txn_count_1h": [1, 2, 3],
    "distinct_countries_7d": [2, 3],
    "amount": None,
    "amount_vs_mean_30d": None,
    "minutes_since_prev_txn": None,
    "merchant_fraud_rate_30d": None,
}
# Which model input each numeric variable reads (the names differ only where the input has units).
SOURCE_COLUMN = {"amount": "amount_usd"}
CATEGORICAL_STATES: dict[str, list[str]] = {
    "merchant_category": [*CATEGORIES, "unknown"],
    "channel": ["atm", "online", "pos"],
    "card_present": ["no", "yes"],
}
TARGET_STATES = [0, 1]
VARIABLES: tuple[str, ...] = (TARGET, *CATEGORICAL_STATES, *FIXED_CUTS)


@dataclass(frozen=True)
class Discretizer:
    """Cut points per numeric variable: a value `v` falls in state `searchsorted(cuts, v, "right")`."""

    cuts: dict[str, list[float]]

    @classmethod
    def fit(cls, inputs: pd.DataFrame, bins: int = 5) -> Discretizer:
        """Quantile cut points (at most `bins` states) where no fixed ones exist."""
        cuts = {}
        for variable, fixed in FIXED_CUTS.items():
            if fixed is not None:
                cuts[variable] = [float(cut) for cut in fixed]
                continue
            values = inputs[SOURCE_COLUMN.get(variable, variable)].to_numpy(dtype=np.float64)
            quantiles = np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1]) if len(values) else []
            # Ties (many zeros, say) give repeated quantiles: one state for all of them.
            cuts[variable] = [float(round(cut, 6)) for cut in np.unique(quantiles)]
        return cls(cuts)

    def states(self, variable: str) -> list:
        """The state names of a variable, in index order."""
        if variable == TARGET:
            return list(TARGET_STATES)
        if variable in CATEGORICAL_STATES:
            return list(CATEGORICAL_STATES[variable])
        cuts = self.cuts[variable]
        if not cuts:
            return ["any"]
        return [f"<{cuts[0]:g}", *(f"{low:g}..{high:g}" for low, high in pairwise(cuts)), f">={cuts[-1]:g}"]

    def state_names(self) -> dict[str, list]:
        return {variable: self.states(variable) for variable in VARIABLES}

    def transform(self, inputs: pd.DataFrame, labels: pd.Series | None = None) -> pd.DataFrame:
        """One column of state names per variable (the target too when `labels` are given)."""
        frame = pd.DataFrame(index=range(len(inputs)))
        if labels is not None:
            frame[TARGET] = labels.astype("int64").to_numpy()
        one_hot = inputs[[f"is_category_{name}" for name in CATEGORIES]].to_numpy()
        category = np.where(one_hot.any(axis=1), np.array(CATEGORIES, dtype=object)[one_hot.argmax(axis=1)], "unknown")
        frame["merchant_category"] = category
        frame["channel"] = np.select(
            [inputs["is_online"].to_numpy() > 0, inputs["is_atm"].to_numpy() > 0], ["online", "atm"], "pos"
        )
        frame["card_present"] = np.where(inputs["is_card_present"].to_numpy() > 0, "yes", "no")
        for variable in FIXED_CUTS:
            values = inputs[SOURCE_COLUMN.get(variable, variable)].to_numpy(dtype=np.float64)
            positions = np.searchsorted(self.cuts[variable], values, side="right")
            frame[variable] = np.array(self.states(variable), dtype=object)[positions]
        return frame

    def to_json(self) -> str:
        return json.dumps({"cuts": self.cuts}, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Discretizer:
        return cls({variable: [float(cut) for cut in cuts] for variable, cuts in json.loads(text)["cuts"].items()})
