"""The MLflow model registry of `fraud-detector`: register candidates, move the `champion` and
`challenger` aliases, remember past champions for rollback, and load any version back.

MLflow keeps no history of an alias, so each promotion appends to the registered model's
`champion_history` tag; `rollback` moves `champion` back along it. mlflow is imported inside the
functions: it takes seconds.
"""

from __future__ import annotations

import contextlib
import io
import logging
import posixpath
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pandas as pd

from mlops_assets.lib.modelling.models import FraudModel, folder_sha256, load_model, read_reference

MODEL_NAME = "fraud-detector"
CHAMPION, CHALLENGER = "champion", "challenger"
# On each version: the Dagster run that registered it, or the first run of which that run is a retry.
FIRST_RUN_TAG = "dagster_first_run_id"
HISTORY_TAG = "champion_history"
MODEL_CODE = Path(__file__).with_name("mlflow_model.py")
log = logging.getLogger(__name__)


@contextlib.contextmanager
def _chatter_to_log(action: str) -> Iterator[None]:
    """What MLflow prints while logging or registering a model (`Created version '2'...`,
    `Copied uv.lock to model artifacts`: its own logger writes to the stderr of the moment) goes to
    this module's log at DEBUG, not to the user's terminal; the project says what it means to."""
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            yield
    finally:
        for line in printed.getvalue().splitlines():
            if line.strip():
                log.debug("mlflow, %s: %s", action, line)


@dataclass(frozen=True)
class VersionInfo:
    version: str
    run_id: str
    tags: dict[str, str]
    registered_at: float = 0.0  # seconds since the epoch


def _version_info(found) -> VersionInfo:
    """Our view of an MLflow `ModelVersion` (its creation time is in milliseconds)."""
    return VersionInfo(str(found.version), found.run_id, dict(found.tags), found.creation_timestamp / 1000)


def reference_end(version: VersionInfo) -> str:
    """The last day a version was evaluated on (its drift reference): days after it are new to it."""
    window = version.tags.get("reference_window") or version.tags.get("training_window", "")
    return window.split("..")[-1]


class NoChampionError(LookupError):
    """The registry has no champion yet."""


class UntrustedModelError(ValueError):
    """A version's files are outside the artifact root the registry trusts."""


@dataclass(frozen=True)
class Registry:
    tracking_uri: str
    model_name: str
    # Where a version's files may be loaded from (the experiment's artifact root): a version
    # registered from anywhere else is refused before anything is downloaded. None trusts any place.
    trusted_root: str | None = None

    @property
    def client(self):
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def log_model(self, folder: Path, sample: pd.DataFrame, columns: tuple[str, ...]) -> str:
        """Logs the model saved in `folder`, which reads the `columns` of `sample`, under the active
        MLflow run; returns its model URI."""
        import mlflow
        from mlflow.models import infer_signature

        # Logging and registering go through mlflow's process-wide URI (dagster-mlflow sets it).
        if mlflow.get_tracking_uri() != self.tracking_uri:
            raise RuntimeError(f"MLflow tracks to {mlflow.get_tracking_uri()}, the registry is {self.tracking_uri}")

        inputs = sample[list(columns)].head(5)
        with _chatter_to_log("logging a model"):
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=str(MODEL_CODE),
                artifacts={"model": str(folder)},
                signature=infer_signature(inputs, np.zeros(len(inputs))),
                # MLflow loads the logged model and scores this example: a model that cannot load fails here.
                input_example=inputs,
                # Listed, not inferred: inference runs the model in a subprocess for about 20 s.
                pip_requirements=_requirements(),
            )
        return info.model_uri

    def register(self, model_uri: str, tags: dict[str, str]) -> str:
        """A new version of the registered model from a logged model; returns the version."""
        import mlflow

        with _chatter_to_log("registering a model"):
            version = mlflow.register_model(model_uri, self.model_name, tags=tags)
        return str(version.version)

    def versions(self) -> list[VersionInfo]:
        found = self.client.search_model_versions(f"name = '{self.model_name}'")
        return sorted((_version_info(v) for v in found), key=lambda v: int(v.version))

    def registered_by(self, first_run_id: str, kind: str) -> VersionInfo | None:
        """The version of `kind` that the Dagster run `first_run_id`, or a retry of it, registered."""
        found = [v for v in self.versions() if v.tags.get(FIRST_RUN_TAG) == first_run_id and v.tags.get("kind") == kind]
        return found[0] if found else None

    def alias(self, alias: str) -> VersionInfo | None:
        """The version an alias names, or None when it names none."""
        model = self._registered_model()
        version = None if model is None else model.aliases.get(alias)
        if version is None:
            return None
        found = self.client.get_model_version(self.model_name, str(version))
        return _version_info(found)

    def version(self, version: str) -> VersionInfo | None:
        """One registered version, or None when there is no such version."""
        from mlflow.exceptions import MlflowException
        from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, ErrorCode

        try:
            found = self.client.get_model_version(self.model_name, version)
        except MlflowException as error:
            if error.error_code == ErrorCode.Name(RESOURCE_DOES_NOT_EXIST):
                return None
            raise
        return _version_info(found)

    def set_tags(self, version: str, tags: dict[str, str]) -> None:
        for key, value in tags.items():
            self.client.set_model_version_tag(self.model_name, version, key, value)

    def attach(self, version: VersionInfo, files: list[Path], tags: dict[str, str]) -> str:
        """Stores `files` beside a version (under its run, in `portable/v<version>/`) and tags the
        version with `tags` and `portable_uri`, the folder's `runs:/` URI, which it returns."""
        folder = f"portable/v{version.version}"
        for path in files:
            self.client.log_artifact(version.run_id, str(path), folder)
        uri = f"runs:/{version.run_id}/{folder}"
        self.set_tags(version.version, {**tags, "portable_uri": uri})
        return uri

    def set_challenger(self, version: str) -> None:
        self.client.set_registered_model_alias(self.model_name, CHALLENGER, version)

    def promote(self, version: str) -> None:
        """Moves `champion` to `version`, remembering the move for rollback."""
        history = self.champion_history()
        self.client.set_registered_model_alias(self.model_name, CHAMPION, version)
        if not history or history[-1] != version:
            self._set_history([*history, version])

    def rollback(self, to_version: str | None = None) -> tuple[str, str]:
        """Moves `champion` back to the previous champion (or to `to_version`, which must have been
        a champion); returns (from, to). The versions stay registered."""
        history = self.champion_history()
        current = self.alias(CHAMPION)
        if current is None:
            raise NoChampionError(f"{self.model_name} has no champion to roll back")
        if to_version is None:
            earlier = history[:-1] if history and history[-1] == current.version else history
            if not earlier:
                raise NoChampionError(f"version {current.version} is the first champion: nothing to roll back to")
            to_version = earlier[-1]
        elif to_version not in history:
            raise ValueError(f"version {to_version} was never champion (champions so far: {', '.join(history)})")
        self.client.set_registered_model_alias(self.model_name, CHAMPION, to_version)
        position = len(history) - 1 - history[::-1].index(to_version)
        self._set_history(history[: position + 1])
        return current.version, to_version

    def companion_network(self, version: VersionInfo) -> VersionInfo | None:
        """The Bayesian network trained in the same run as `version` (the version itself when it
        is one), or None: explanations and the drift report's CPT view come from it."""
        if version.tags.get("kind") == "bayesian_network":
            return version
        run = version.tags.get("dagster_run_id")
        found = [
            v
            for v in self.versions()
            if v.tags.get("kind") == "bayesian_network" and v.tags.get("dagster_run_id") == run
        ]
        return found[-1] if found else None

    def explaining_network(self, version: VersionInfo) -> VersionInfo | None:
        """The network that explains `version`'s scores: the one trained with it, else the newest
        network registered (None when there is none)."""
        companion = self.companion_network(version)
        if companion is not None:
            return companion
        networks = [v for v in self.versions() if v.tags.get("kind") == "bayesian_network"]
        return networks[-1] if networks else None

    def model_tag(self, name: str) -> str | None:
        """A tag of the registered model; None when unset, or before the first version."""
        model = self._registered_model()
        return None if model is None else model.tags.get(name)

    def set_model_tag(self, name: str, value: str | None) -> None:
        """Sets a tag of the registered model; None deletes it."""
        if value is not None:
            self.client.set_registered_model_tag(self.model_name, name, value)
        elif self.model_tag(name) is not None:
            self.client.delete_registered_model_tag(self.model_name, name)

    def champion_history(self) -> list[str]:
        """Versions that were champion, oldest first, the current one last."""
        model = self._registered_model()
        text = "" if model is None else model.tags.get(HISTORY_TAG, "")
        return text.split(",") if text else []

    def _registered_model(self):
        """The registered model, or None before its first version."""
        from mlflow.exceptions import MlflowException
        from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, ErrorCode

        try:
            return self.client.get_registered_model(self.model_name)
        except MlflowException as error:
            if error.error_code == ErrorCode.Name(RESOURCE_DOES_NOT_EXIST):
                return None
            raise

    def _set_history(self, versions: list[str]) -> None:
        self.client.set_registered_model_tag(self.model_name, HISTORY_TAG, ",".join(versions))

    def load(self, version: str, computed: tuple[str, ...] | None = None) -> FraudModel:
        """The model of a version, its files checked against its `model_sha256` tag; with
        `computed`, refused when it reads an input not among them (see `load_model`)."""
        with self.checked_files(version) as folder:
            return load_model(folder, computed)

    def load_with_reference(self, version: str) -> tuple[FraudModel, pd.DataFrame]:
        """The model of a version and the sample of training rows it keeps as its drift reference,
        from one download."""
        with self.checked_files(version) as folder:
            return load_model(folder), read_reference(folder)

    @contextlib.contextmanager
    def checked_files(self, version: str) -> Iterator[Path]:
        """The version's model folder, downloaded to a temporary folder and checked."""
        import mlflow

        with tempfile.TemporaryDirectory() as temporary:
            # Resolved through this registry's client: a `models:/` URI would go through mlflow's
            # process-wide registry URI, which a fresh process (a run worker, a script) has not set.
            source = self.client.get_model_version_download_uri(self.model_name, version)
            if self.trusted_root is not None and not is_within(source, self.trusted_root):
                raise UntrustedModelError(
                    f"{self.model_name} version {version}: its files are at {source}, outside the trusted "
                    f"artifact root {self.trusted_root}; not loaded"
                )
            root = mlflow.artifacts.download_artifacts(source, dst_path=temporary, tracking_uri=self.tracking_uri)
            folder = Path(root) / "artifacts" / "model"  # where MLflow puts the pyfunc's `model` artifact
            expected = self.client.get_model_version(self.model_name, version).tags.get("model_sha256")
            if expected != folder_sha256(folder):
                raise ValueError(
                    f"{self.model_name} version {version}: model files do not match their model_sha256 tag"
                )
            yield folder


def is_within(location: str, root: str) -> bool:
    """Whether `location` is `root` or below it: local paths and `file:` URIs compared as resolved
    absolute paths (no `..` escapes), other URIs (`s3://...`) by their text."""
    location, root = _comparable(location), _comparable(root)
    return location == root or location.startswith(root.rstrip("/") + "/")


def _comparable(uri: str) -> str:
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return str(Path(unquote(parsed.path)).resolve())
    return f"{parsed.scheme}://{parsed.netloc}{posixpath.normpath('/' + parsed.path)}"


def ensure_experiment(tracking_uri: str, name: str, artifact_location: str) -> str:
    """The experiment's id, creating it with its artifacts at `artifact_location` (MLflow would
    otherwise put them in ./mlruns of whatever the working directory is)."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    return client.create_experiment(name, artifact_location=artifact_location)


def _requirements() -> list[str]:
    from importlib.metadata import version

    packages = ["mlflow", "numpy", "pandas", "scikit-learn", "skops", "xgboost-cpu"]
    return [f"{package}=={version(package)}" for package in packages]
