"""The model that answers: the registry's `champion`, loaded without executing code, and swapped
for a new one without dropping a request; beside it the `challenger`, which `serving.shadow`
scores live traffic with, and which answers a share of the customers itself while the registry's
rollout (`lib.loop.rollout`) has it in its canary stage.

`Registry.load` downloads the version's files, checks them against the `model_sha256` tag written
at training and reads them with each library's own non-executable format (XGBoost JSON, skops
with trusted types, the network's JSON arrays); `mlflow.pyfunc.load_model` is never called.

A swap builds the new `Loaded` completely (loaded, warmed with one scoring) before one assignment
replaces the old one: a request holds the `Loaded` it started with, so it is answered by one
version from start to end.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd

from mlops_assets.lib.loop.rollout import Rollout, current_rollout
from mlops_assets.lib.modelling.models import BayesianNetworkModel, FraudModel
from mlops_assets.lib.modelling.registry import CHALLENGER, CHAMPION, Registry, VersionInfo

log = logging.getLogger(__name__)
# The evaluation's metrics (`lib.metrics.evaluate`), kept as version tags on the holdout days.
METRIC_TAGS = (
    "pr_auc",
    "roc_auc",
    "recall_at_fpr",
    "card_precision_at_k",
    "brier",
    "calibration_error",
    "expected_cost_per_1000",
)


@dataclass(frozen=True)
class Loaded:
    """One loaded champion version with what the API says of it, and the Bayesian network that
    explains its scores (the champion itself when it is one)."""

    version: str
    model: FraudModel
    threshold: float
    tags: dict[str, str]
    network: BayesianNetworkModel | None = None
    network_version: str | None = None

    @property
    def kind(self) -> str:
        return self.model.kind

    def metrics(self) -> dict[str, float]:
        return {name: float(self.tags[name]) for name in METRIC_TAGS if name in self.tags}


def load(
    registry: Registry, info: VersionInfo, explained: bool = True, computed: tuple[str, ...] | None = None
) -> Loaded:
    """The version (and, when `explained`, its explaining network) loaded, checked and warmed
    (one row scored and explained, so the first request pays nothing). With `computed` (the
    inputs the deployment gives), a model that reads another input is refused."""
    model = registry.load(info.version, computed)
    model.predict_proba(_zeros(model))
    network_info = registry.explaining_network(info) if explained else None
    network = None
    if network_info is not None:
        network = model if network_info.version == info.version else registry.load(network_info.version, computed)
        network.explain(_zeros(network))
    return Loaded(
        info.version,
        model,
        float(info.tags.get("threshold", 0.5)),
        dict(info.tags),
        network,
        network_info.version if network_info else None,
    )


class ServedModels:
    """The loaded `champion` and `challenger`; `refresh` follows the registry's aliases.

    `answers_with` other than `champion` (the `challenger` alias, or a version number) pins what
    this deployment answers with: it is loaded as `champion` here, and nothing is shadowed or
    split in the service (a mesh in front splits the traffic between deployments)."""

    def __init__(self, registry: Registry, computed: tuple[str, ...] | None = None, answers_with: str = CHAMPION):
        self.registry = registry
        self.computed = computed  # the inputs the deployment computes (None: not checked)
        self.answers_with = answers_with
        self.champion: Loaded | None = None
        self.challenger: Loaded | None = None
        self.rollout: Rollout | None = None  # the registry's rollout of the challenger, if any
        self.last_error: str | None = None
        # The last refresh failed (registry unreachable, or its version failed a check): the
        # service answers with what it has and reports itself degraded.
        self.failing = False
        self._challenger_error: str | None = None
        self._rollout_error: str | None = None

    def refresh(self) -> bool:
        """Loads the aliases' versions when they moved; True when the champion swapped."""
        swapped = self._refresh_champion()
        if self.answers_with == CHAMPION:
            self._refresh_challenger()
            self._refresh_rollout()
        return swapped

    def _answering(self) -> VersionInfo | None:
        """The version this deployment answers with now (None: the registry has none yet)."""
        if self.answers_with in (CHAMPION, CHALLENGER):
            return self.registry.alias(self.answers_with)
        return self.registry.version(self.answers_with)

    @property
    def canary(self) -> tuple[Loaded, float] | None:
        """The challenger and the share of customers it answers, while it is a canary."""
        rollout, challenger = self.rollout, self.challenger
        if rollout is None or challenger is None or rollout.version != challenger.version:
            return None
        return (challenger, rollout.answering_share) if rollout.answering_share > 0 else None

    def _refresh_rollout(self) -> None:
        """A registry that cannot be read keeps the rollout as it was last read."""
        try:
            rollout = current_rollout(self.registry)
        except Exception as error:  # noqa: BLE001 - the champion keeps answering whatever failed
            reason = f"{type(error).__name__}: {error}"
            if reason != self._rollout_error:  # said once, not at every poll
                log.warning("rollout not refreshed: %s", reason)
            self._rollout_error = reason
            return
        self._rollout_error = None
        if rollout != self.rollout:
            stage = f"{rollout.stage} of version {rollout.version}" if rollout else "none"
            log.info("rollout: %s", stage)
        self.rollout = rollout

    def _refresh_champion(self) -> bool:
        """A registry that cannot be read, or a version that fails its checks, leaves the
        current model answering."""
        try:
            info = self._answering()
            if info is None:
                missing = {CHAMPION: "no champion yet", CHALLENGER: "no challenger"}.get(
                    self.answers_with, f"no version {self.answers_with}"
                )
                self.last_error, self.failing = f"the registry has {missing}", False
                return False
            if self.champion is not None and info.version == self.champion.version:
                self.last_error, self.failing = None, False
                return False
            loaded = load(self.registry, info, computed=self.computed)
        except Exception as error:  # noqa: BLE001 - whatever failed, the current model keeps serving
            reason = f"{type(error).__name__}: {error}"
            if reason != self.last_error:  # said once, not at every poll
                log.warning("champion not refreshed: %s", reason)
            self.last_error, self.failing = reason, True
            return False
        previous = self.champion.version if self.champion else "none"
        self.champion = loaded
        self.last_error, self.failing = None, False
        log.info("champion: version %s (was %s)", loaded.version, previous)
        return True

    def _refresh_challenger(self) -> None:
        """None while the alias names no version or the champion itself (nothing to compare);
        a version that cannot be loaded leaves the previous challenger in the shadow."""
        try:
            info = self.registry.alias(CHALLENGER)
            self._challenger_error = None
            if info is None or (self.champion is not None and info.version == self.champion.version):
                self.challenger = None
                return
            if self.challenger is not None and self.challenger.version == info.version:
                return
            self.challenger = load(self.registry, info, explained=False, computed=self.computed)
        except Exception as error:  # noqa: BLE001 - shadow scoring must never stop the service
            reason = f"{type(error).__name__}: {error}"
            if reason != self._challenger_error:
                log.warning("challenger not refreshed: %s", reason)
            self._challenger_error = reason
            return
        log.info("challenger: version %s", self.challenger.version)


def _zeros(model: FraudModel) -> pd.DataFrame:
    """One row of the model's inputs, all 0: enough to warm it."""
    return pd.DataFrame([[0.0] * len(model.inputs)], columns=list(model.inputs))
