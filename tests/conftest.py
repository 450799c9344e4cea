"""Shared fixtures: every test gets its own MLOPS_HOME in a temporary folder."""

from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from mlops_assets.definitions import build_definitions
from mlops_assets.lib.featurize.feature_spec import VARIABLES as FEATURE_VARIABLES
from mlops_assets.resources import build_resources
from mlops_assets.settings import PATH_VARIABLES, PRODUCTION_VARIABLES, Settings
from mlops_assets.synth import generator

DAY = date(2025, 3, 1)


# What `make test`'s workers (pytest-xdist) take as one unit: a test file, or a package whose
# fixtures are package-scoped (built once, not once per worker).
PACKAGE_UNITS = ("serving", "scoring", "spark")
# The units started first, in this order: the longest (`make test` prints the durations), so that
# the short files fill in beside them rather than a long one starting last and running alone. The
# sensor-crash story mostly sleeps between sensor ticks: first, beside the busiest.
LONGEST_FIRST = (
    "e2e/test_sensor_crash.py",
    "e2e/test_loop.py",
    "e2e/test_demo.py",
    "serving",
    "spark",
    "e2e/test_worker_killed.py",
    "evaluation/test_rollout.py",
)


def unit(nodeid: str) -> str:
    """The unit of a test, by its id (`tests/serving/test_ui.py::test_…` -> `serving`)."""
    path = nodeid.split("::")[0].removeprefix("tests/")
    return path.split("/")[0] if path.split("/")[0] in PACKAGE_UNITS else path


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest units first, then any other `end_to_end` story, then the rest; each unit's
    tests keep their order (the sort is stable)."""
    rank = {name: position for position, name in enumerate(LONGEST_FIRST)}

    def order(item: pytest.Item) -> tuple[int, bool]:
        return rank.get(unit(item.nodeid), len(rank)), item.get_closest_marker("end_to_end") is None

    items.sort(key=order)


def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """Hands each worker a whole unit at a time, in the order of the collection (`make test`
    passes `--no-loadscope-reorder`), so that module and package fixtures are built once."""
    from xdist.scheduler import LoadScopeScheduling

    class UnitScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return unit(nodeid)

    return UnitScheduling(config, log)


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
