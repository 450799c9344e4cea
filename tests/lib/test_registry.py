"""Champion history and rollback on a real MLflow sqlite registry."""

from pathlib import Path

import pytest

from mlops_assets.lib.loop.rollout import Rollout, current_rollout, save_rollout
from mlops_assets.lib.modelling.registry import NoChampionError, Registry, UntrustedModelError, is_within
from serving.champion import ServedModels


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    """A registry with four versions (registered from a plain folder: these tests need no model)."""
    registry = Registry(f"sqlite:///{tmp_path / 'mlflow.db'}", "fraud-detector")
    registry.client.create_registered_model("fraud-detector")
    for _ in range(4):
        registry.client.create_model_version("fraud-detector", source=tmp_path.as_uri())
    return registry


def test_no_champion_yet(registry: Registry) -> None:
    assert registry.alias("champion") is None and registry.champion_history() == []
    with pytest.raises(NoChampionError, match="no champion to roll back"):
        registry.rollback()


def test_rollback_walks_back_through_past_champions(registry: Registry) -> None:
    for version in ("1", "3", "4"):
        registry.promote(version)
    assert registry.champion_history() == ["1", "3", "4"]
    assert registry.rollback() == ("4", "3")
    assert registry.alias("champion").version == "3"
    assert registry.rollback() == ("3", "1")
    with pytest.raises(NoChampionError, match="first champion"):
        registry.rollback()
    assert [v.version for v in registry.versions()] == ["1", "2", "3", "4"]  # nothing is deleted


def test_a_rollout_is_kept_in_the_registry_until_it_ends(registry: Registry) -> None:
    assert current_rollout(registry) is None
    registry.promote("1")
    rollout = Rollout("2", "shadow", 0.2, champion_version="1")
    save_rollout(registry, rollout)
    reader = Registry(registry.tracking_uri, "fraud-detector")  # another process: the service
    assert current_rollout(reader) == rollout
    save_rollout(registry, rollout.to_canary())
    assert current_rollout(reader).stage == "canary"
    save_rollout(registry, None)
    assert current_rollout(reader) is None and registry.alias("champion").version == "1"
    save_rollout(registry, None)  # ending no rollout is no error


def test_rollback_to_a_named_past_champion_only(registry: Registry) -> None:
    for version in ("1", "2", "4"):
        registry.promote(version)
    with pytest.raises(ValueError, match="version 3 was never champion"):
        registry.rollback("3")
    assert registry.rollback("1") == ("4", "1")
    assert registry.champion_history() == ["1"]
    registry.promote("4")  # a later promotion starts a new history from there
    assert registry.champion_history() == ["1", "4"]


def test_a_version_registered_from_outside_the_trusted_root_is_never_loaded(tmp_path: Path) -> None:
    trusted = tmp_path / "mlartifacts"
    registry = Registry(f"sqlite:///{tmp_path / 'mlflow.db'}", "fraud-detector", trusted_root=trusted.as_uri())
    registry.client.create_registered_model("fraud-detector")
    outside = [(tmp_path / "elsewhere").as_uri(), f"{trusted.as_uri()}/../elsewhere", "http://127.0.0.1:9/model"]
    for source in outside:
        registry.client.create_model_version("fraud-detector", source=source)
    for version in ("1", "2", "3"):
        with pytest.raises(UntrustedModelError, match=f"version {version}: .* outside the trusted artifact root"):
            registry.load(version)
    # The service's loader keeps answering with what it has and says why it did not swap.
    registry.promote("3")
    served = ServedModels(registry)
    assert served.refresh() is False and served.champion is None
    assert served.last_error.startswith("UntrustedModelError")


def test_is_within_compares_resolved_locations() -> None:
    assert is_within("s3://bucket/mlartifacts/1/models/m-1/artifacts", "s3://bucket/mlartifacts")
    assert not is_within("s3://bucket/mlartifacts-other/1", "s3://bucket/mlartifacts")
    assert not is_within("s3://bucket/mlartifacts/../other", "s3://bucket/mlartifacts")
    assert not is_within("s3://another/mlartifacts/1", "s3://bucket/mlartifacts")
    assert is_within("/srv/mlartifacts/1", "file:///srv/mlartifacts")


def test_a_version_reading_inputs_the_deployment_does_not_compute_is_refused_at_load(tmp_path: Path) -> None:
    """A champion trained under another feature spec (here: other merchant categories) would fail
    every request; the loader refuses it and says which inputs are missing, and the service keeps
    what it has."""
    import pandas as pd

    from mlops_assets.lib.featurize.feature_spec import FeatureSpec
    from mlops_assets.lib.featurize.features import model_inputs
    from mlops_assets.lib.modelling.models import XGBoostModel, save_model

    columns = ("amount_usd", "is_category_grocery")
    train = pd.DataFrame({"amount_usd": [5.0, 900.0] * 20, "is_category_grocery": [1.0, 0.0] * 20})
    model = XGBoostModel.fit(
        train, pd.Series([0, 1] * 20), columns=columns, rounds=2, max_depth=2, learning_rate=0.3, subsample=1.0, seed=0
    )
    logged = tmp_path / "logged"  # laid out as MLflow logs the pyfunc's `model` artifact
    sha256 = save_model(model, logged / "artifacts" / "model")
    registry = Registry(f"sqlite:///{tmp_path / 'mlflow.db'}", "fraud-detector")
    registry.client.create_registered_model("fraud-detector")
    registry.client.create_model_version("fraud-detector", source=logged.as_uri(), tags={"model_sha256": sha256})
    registry.promote("1")

    elsewhere = model_inputs(FeatureSpec(merchant_categories=("fuel",)))
    with pytest.raises(ValueError, match=r"does not compute \(is_category_grocery\): retrain it"):
        registry.load("1", elsewhere)
    refused = ServedModels(registry, computed=elsewhere)
    assert refused.refresh() is False and refused.champion is None
    assert "is_category_grocery" in refused.last_error
    served = ServedModels(registry, computed=model_inputs(FeatureSpec()))
    assert served.refresh() is True and served.champion.model.inputs == columns


def test_a_deployment_pinned_to_the_challenger_or_a_version_answers_with_it_alone(tmp_path: Path) -> None:
    """Behind a mesh's split each deployment answers with one model (`MLOPS_SERVING_MODEL`): no
    shadow and no canary of its own, whatever the registry's rollout says."""
    import pandas as pd

    from mlops_assets.lib.modelling.models import XGBoostModel, save_model

    columns = ("amount_usd",)
    train = pd.DataFrame({"amount_usd": [5.0, 900.0] * 20})
    model = XGBoostModel.fit(
        train, pd.Series([0, 1] * 20), columns=columns, rounds=2, max_depth=2, learning_rate=0.3, subsample=1.0, seed=0
    )
    logged = tmp_path / "logged"
    sha256 = save_model(model, logged / "artifacts" / "model")
    registry = Registry(f"sqlite:///{tmp_path / 'mlflow.db'}", "fraud-detector")
    registry.client.create_registered_model("fraud-detector")
    for _ in range(2):
        registry.client.create_model_version("fraud-detector", source=logged.as_uri(), tags={"model_sha256": sha256})
    registry.promote("1")
    registry.set_challenger("2")
    save_rollout(registry, Rollout("2", "canary", 0.5, "1"))

    following = ServedModels(registry)
    assert following.refresh() and following.champion.version == "1" and following.canary is not None
    for pin, answers in (("challenger", "2"), ("1", "1"), ("2", "2")):
        pinned = ServedModels(registry, answers_with=pin)
        assert pinned.refresh() and pinned.champion.version == answers
        assert pinned.challenger is None and pinned.rollout is None and pinned.canary is None
    missing = ServedModels(registry, answers_with="9")
    assert missing.refresh() is False and missing.champion is None
    assert missing.last_error == "the registry has no version 9"


def test_mlflow_s_messages_go_to_the_log_not_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture
) -> None:
    """`Created version '2' of model ...` and `Copied uv.lock to model artifacts` are MLflow's
    chatter: a user's terminal shows what the project says, the log keeps the rest."""
    import logging

    import mlflow
    import pandas as pd

    from mlops_assets.lib.modelling.models import XGBoostModel, save_model

    columns = ("amount_usd",)
    train = pd.DataFrame({"amount_usd": [5.0, 900.0] * 20})
    model = XGBoostModel.fit(
        train, pd.Series([0, 1] * 20), columns=columns, rounds=2, max_depth=2, learning_rate=0.3, subsample=1.0, seed=0
    )
    sha256 = save_model(model, tmp_path / "model")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    registry = Registry(uri, "fraud-detector")
    previous = mlflow.get_tracking_uri()
    caplog.set_level(logging.DEBUG, logger="mlops_assets.lib.modelling.registry")
    try:
        mlflow.set_tracking_uri(uri)
        experiment = mlflow.create_experiment("chatter", artifact_location=(tmp_path / "artifacts").as_uri())
        capsys.readouterr()
        with mlflow.start_run(experiment_id=experiment):
            versions = [
                registry.register(registry.log_model(tmp_path / "model", train, columns), {"model_sha256": sha256})
                for _ in range(2)
            ]
        printed = capsys.readouterr()
    finally:
        mlflow.set_tracking_uri(previous)
    assert versions == ["1", "2"]
    assert "Created version" not in printed.out + printed.err and "uv" not in printed.out + printed.err
    logged = [record.getMessage() for record in caplog.records if record.name == "mlops_assets.lib.modelling.registry"]
    assert any("Created version '2' of model 'fraud-detector'" in message for message in logged), logged
