"""Model inputs turned into the discrete variables of the Bayesian network, learned from the
training data itself: nothing here knows the data's story.

- A group of one-hot inputs is one variable (`is_category_*` -> `merchant_category`;
  `is_online`, `is_atm` -> `channel`), with the group's names as states.
- An input that only takes 0 and 1 is a two-state variable, under its own name.
- Any other input gets cut points chosen for fraud: a small decision tree on that input alone
  splits where the fraud rate changes most, so a heavy-tailed amount is cut where its tail turns
  fraudulent (not at quantiles, which would spend every bin on the common small amounts) and a
  risk rate with most of its mass at 0 gets its 0 state. A missing value (a merchant without
  labels yet) is a state of its own. An input that no split helps is left out.

The variables and cut points are stored with the model, so serving discretizes as training did.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from itertools import pairwise

import numpy as np
import pandas as pd

TARGET = "is_fraud"
TARGET_STATES = [0, 1]
MISSING = "missing"
# One-hot input groups: the variable's name, the inputs' common prefix, and the state when none is set.
ONE_HOT_GROUPS: dict[str, tuple[str, str]] = {"merchant_category": ("is_category_", "unknown")}
# Inputs that together say one thing (which channel), read as one variable with a default state.
CHOICE_GROUPS: dict[str, tuple[tuple[str, ...], str]] = {"channel": (("is_online", "is_atm"), "pos")}


@dataclass(frozen=True)
class Variable:
    """One node of the network and how it reads the model inputs."""

    name: str
    inputs: tuple[str, ...]  # the model inputs it is read from
    states: tuple[str, ...]
    cuts: tuple[float, ...] = ()  # numeric variables: a value v falls in bin searchsorted(cuts, v, "left")
    default: str | None = None  # group variables: the state when none of the inputs is set

    def read(self, inputs: pd.DataFrame) -> np.ndarray:
        """The state name of each row, as an object array."""
        # Each row's state is looked up by its index in a table of the names: every row then holds
        # one of a few string objects (a million rows of strings made one by one took seconds).
        if len(self.inputs) > 1 or self.default is not None:  # a group: the first input that is set
            values = np.column_stack([inputs[name].to_numpy() > 0 for name in self.inputs])
            names = np.array([*self.states[: len(self.inputs)], self.default], dtype=object)
            return names[np.where(values.any(axis=1), values.argmax(axis=1), len(self.inputs))]
        values = inputs[self.inputs[0]].to_numpy(dtype=np.float64)
        if not self.cuts:  # two states
            return np.array(["no", "yes"], dtype=object)[(values > 0).astype(np.intp)]
        # The bins' names, then a missing value's (unknown to a variable without that state).
        names = np.array([*self.states[: len(self.cuts) + 1], MISSING], dtype=object)
        positions = np.minimum(np.searchsorted(np.asarray(self.cuts), values, side="left"), len(self.cuts))
        return names[np.where(np.isnan(values), len(self.cuts) + 1, positions)]


def _bin_names(cuts: list[float]) -> list[str]:
    return [f"<={cuts[0]:g}", *(f"{low:g}..{high:g}" for low, high in pairwise(cuts)), f">{cuts[-1]:g}"]


def fraud_cuts(values: np.ndarray, labels: np.ndarray, bins: int, min_share: float, seed: int) -> list[float]:
    """Cut points of at most `bins` bins, each holding at least `min_share` of the rows with a
    value, chosen by a decision tree on this input alone to separate fraud (entropy splits)."""
    from sklearn.tree import DecisionTreeClassifier

    known = ~np.isnan(values)
    if known.sum() < 2 or len(np.unique(labels[known])) < 2:
        return []
    tree = DecisionTreeClassifier(
        criterion="entropy",
        max_leaf_nodes=bins,
        min_samples_leaf=max(1, int(min_share * known.sum())),
        random_state=seed,
    ).fit(values[known].reshape(-1, 1), labels[known])
    thresholds = tree.tree_.threshold[tree.tree_.feature >= 0]  # leaves carry -2
    return sorted(float(round(cut, 6)) for cut in np.unique(thresholds))


def mutual_information(states: np.ndarray, labels: np.ndarray) -> float:
    """I(variable; fraud) in nats from the empirical joint distribution."""
    table = pd.crosstab(states, labels).to_numpy(dtype=np.float64)
    joint = table / table.sum()
    expected = joint.sum(axis=1, keepdims=True) @ joint.sum(axis=0, keepdims=True)
    nonzero = joint > 0
    return float((joint[nonzero] * np.log(joint[nonzero] / expected[nonzero])).sum())


@dataclass(frozen=True)
class Discretizer:
    """The network's variables, in the order they were chosen (most informative first)."""

    variables: tuple[Variable, ...]

    @classmethod
    def fit(
        cls,
        inputs: pd.DataFrame,
        labels: pd.Series,
        *,
        bins: int = 6,
        min_share: float = 0.01,
        max_variables: int = 12,
        seed: int = 0,
    ) -> Discretizer:
        """Variables from the inputs' own columns, ranked by mutual information with fraud on the
        training data; the `max_variables` most informative that say anything are kept."""
        y = labels.to_numpy(dtype=np.int64)
        candidates = _group_variables(inputs)
        grouped = {name for variable in candidates for name in variable.inputs}
        for name in inputs.columns:
            if name in grouped:
                continue
            values = inputs[name].to_numpy(dtype=np.float64)
            if np.isin(values[~np.isnan(values)], (0.0, 1.0)).all() and not np.isnan(values).any():
                candidates.append(Variable(name, (name,), ("no", "yes")))
                continue
            cuts = fraud_cuts(values, y, bins, min_share, seed)
            if cuts:
                # A missing state only where training saw one; elsewhere a missing value is unobserved.
                missing = (MISSING,) if np.isnan(values).any() else ()
                candidates.append(Variable(name, (name,), (*_bin_names(cuts), *missing), tuple(cuts)))
        scored = [(mutual_information(variable.read(inputs), y), variable) for variable in candidates]
        kept = [variable for score, variable in sorted(scored, key=lambda item: -item[0]) if score > 0]
        return cls(tuple(kept[:max_variables]))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(variable.name for variable in self.variables)

    @property
    def inputs(self) -> tuple[str, ...]:
        """The model inputs the variables read."""
        return tuple(name for variable in self.variables for name in variable.inputs)

    def state_names(self) -> dict[str, list]:
        return {TARGET: list(TARGET_STATES), **{v.name: list(v.states) for v in self.variables}}

    def transform(self, inputs: pd.DataFrame, labels: pd.Series | None = None) -> pd.DataFrame:
        """One column of state names per variable (the target first, when `labels` are given)."""
        columns = {} if labels is None else {TARGET: labels.astype("int64").to_numpy()}
        columns |= {variable.name: variable.read(inputs) for variable in self.variables}
        return pd.DataFrame(columns, index=range(len(inputs)))

    def to_json(self) -> str:
        return json.dumps({"variables": [asdict(variable) for variable in self.variables]}, indent=2)

    @classmethod
    def from_json(cls, text: str) -> Discretizer:
        data = json.loads(text)
        if "variables" not in data:
            raise ValueError("this network's discretizer is of an older release: retrain the model")
        return cls(
            tuple(
                Variable(
                    item["name"],
                    tuple(item["inputs"]),
                    tuple(item["states"]),
                    tuple(float(cut) for cut in item["cuts"]),
                    item["default"],
                )
                for item in data["variables"]
            )
        )


def _group_variables(inputs: pd.DataFrame) -> list[Variable]:
    """The one-hot and choice groups whose inputs the frame has."""
    found = []
    for name, (prefix, default) in ONE_HOT_GROUPS.items():
        members = tuple(c for c in inputs.columns if c.startswith(prefix) and c != prefix + default)
        if members:
            states = (*(c.removeprefix(prefix) for c in members), default)
            found.append(Variable(name, members, states, default=default))
    for name, (members, default) in CHOICE_GROUPS.items():
        if all(member in inputs.columns for member in members):
            states = (*(member.removeprefix("is_") for member in members), default)
            found.append(Variable(name, members, states, default=default))
    return found
