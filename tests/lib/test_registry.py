"""Champion history and rollback on a real MLflow sqlite registry."""

from pathlib import Path

import pytest

from mlops_assets.lib.registry import NoChampionError, Registry


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


def test_rollback_to_a_named_past_champion_only(registry: Registry) -> None:
    for version in ("1", "2", "4"):
        registry.promote(version)
    with pytest.raises(ValueError, match="version 3 was never champion"):
        registry.rollback("3")
    assert registry.rollback("1") == ("4", "1")
    assert registry.champion_history() == ["1"]
    registry.promote("4")  # a later promotion starts a new history from there
    assert registry.champion_history() == ["1", "4"]
