"""The scoring tests' home: ten days of history and a first champion (whose `retrain_job` also
exported it: `onnx_model`), shared by the package's modules."""

from collections.abc import Iterator

import dagster as dg
import pytest

from mlops_assets.settings import Settings
from tests.conftest import use_home
from tests.support.history import first_champion


@pytest.fixture(scope="package")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, dg.Definitions]]:
    """Ten days of history and a first champion; the environment points at it meanwhile."""
    with pytest.MonkeyPatch.context() as patch:
        settings = use_home(patch, tmp_path_factory.mktemp("scoring"))
        with dg.DagsterInstance.get() as instance:
            defs, first = first_champion(settings, instance)
            assert first.success
        yield settings, defs
