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


# What `make test`'s workers (pytest-xdist, `--dist loadgroup`) take as one unit: a test file, or
# a package whose fixtures are package-scoped (built once, not once per worker).
PACKAGE_UNITS = ("serving",)
# The units started first, in this order: the longest (`make test` prints the durations), so that
# the short files fill in beside them rather than a long one starting last and running alone. The
# sensor-crash story mostly sleeps between sensor ticks: first, beside the busiest.
LONGEST_FIRST = (
    "monitoring/test_sensor_crash.py",
    "monitoring/test_loop.py",
    "monitoring/test_demo.py",
    "serving",
    "monitoring/test_worker_killed.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Groups the tests into the workers' units and puts the longest units first."""
    tests = Path(__file__).parent

    def unit(item: pytest.Item) -> str:
        path = item.path.relative_to(tests).as_posix()
        return path.split("/")[0] if path.split("/")[0] in PACKAGE_UNITS else path

    def order(item: pytest.Item) -> int:
        return LONGEST_FIRST.index(unit(item)) if unit(item) in LONGEST_FIRST else len(LONGEST_FIRST)

    for item in items:
        item.add_marker(pytest.mark.xdist_group(unit(item)))
    items.sort(key=order)  # stable: each unit's tests keep their order


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
