"""Shared fixtures: every test gets its own MLOPS_HOME in a temporary folder."""

from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from mlops_assets.definitions import build_definitions
from mlops_assets.lib import generator
from mlops_assets.lib.feature_spec import VARIABLES as FEATURE_VARIABLES
from mlops_assets.resources import build_resources
from mlops_assets.settings import PATH_VARIABLES, PRODUCTION_VARIABLES, Settings

DAY = date(2025, 3, 1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest stories (`end_to_end`) first, longest of all first: `make test`'s workers take a
    file at a time, and the shorter files then fill in beside the stories instead of a story
    starting last and running alone."""

    def order(item: pytest.Item) -> tuple[bool, int]:
        known = STORY_ORDER.index(item.path.name) if item.path.name in STORY_ORDER else len(STORY_ORDER)
        return item.get_closest_marker("end_to_end") is None, known

    items.sort(key=order)  # stable: each file's tests keep their order


# `end_to_end` files by the length `make test` prints (its --durations), longest first.
STORY_ORDER = ("test_loop.py", "test_demo.py", "test_worker_killed.py", "test_sensor_crash.py")


def use_home(patch: pytest.MonkeyPatch, home: Path) -> Settings:
    """Points every state variable at `home` (the others cleared, so their defaults follow it) and
    creates its folders; returns its settings."""
    for variable in [
        *PATH_VARIABLES,
        *PRODUCTION_VARIABLES,
        "MLOPS_ENV",
        "MLFLOW_TRACKING_URI",
        "MLOPS_PARTITIONS_START",
        *FEATURE_VARIABLES,
    ]:
        patch.delenv(variable, raising=False)
    patch.setenv("MLOPS_HOME", str(home))
    patch.setenv("DAGSTER_HOME", str(home / "dagster"))
    settings = Settings.from_env()
    settings.ensure_dirs()
    return settings


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A fresh MLOPS_HOME with nothing in it but the folders and the Dagster instance config."""
    return use_home(monkeypatch, tmp_path / "mlops")


@pytest.fixture
def resources(settings: Settings) -> dict[str, object]:
    return build_resources(settings)


@pytest.fixture
def defs(resources: dict[str, object]) -> dg.Definitions:
    return build_definitions(resources)


@pytest.fixture
def instance(settings: Settings):
    """A real, persistent Dagster instance at the test's DAGSTER_HOME."""
    with dg.DagsterInstance.get() as instance:
        yield instance


def land(settings: Settings, scenario: str = "baseline", start: date = DAY, days: int = 1, rows: int = 2000, **kw):
    """Generate transactions into the test's landing folder."""
    return generator.generate(start, days, rows, settings.landing_dir, scenario=scenario, seed=11, **kw)
