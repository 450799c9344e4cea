"""The Spark tests' home: ten days of history whose features and first champion were built with
`MLOPS_ENGINE=spark` (Spark in local mode, in this process), shared by the package's modules."""

from collections.abc import Iterator

import dagster as dg
import pytest

from mlops_assets.settings import Settings
from tests.conftest import use_home
from tests.support.history import first_champion
from tests.support.spark import SPARK_VARIABLES


@pytest.fixture(scope="package")
def spark_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, dg.Definitions]]:
    """Ten days ingested, their features built and the first `retrain_job` run, all on Spark; the
    environment points at the home meanwhile."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in SPARK_VARIABLES.items():
            patch.setenv(name, value)
        settings = use_home(patch, tmp_path_factory.mktemp("spark"))
        assert settings.engine == "spark"
        with dg.DagsterInstance.get() as instance:
            defs, first = first_champion(settings, instance)
            assert first.success
        yield settings, defs
