"""Transient failures of the model registry (a real MLflow tracking server) and of the object
store (a real S3 API, moto): each request answered 503 twice (by a proxy in front of the server),
then passed on, is retried with backoff and takes effect once."""

from pathlib import Path

import pyarrow.fs as pafs
import pytest

from mlops_assets.lib.data.storage import Folder, S3Access
from mlops_assets.lib.modelling.registry import CHAMPION, MODEL_NAME, Registry
from tests.support.flaky_proxy import FlakyProxy, flaky_proxy
from tests.support.servers import mlflow_server, moto_server

pytestmark = pytest.mark.slow


def gaps(attempts: list[tuple[float, int]]) -> list[float]:
    return [later - earlier for (earlier, _), (later, _) in zip(attempts, attempts[1:], strict=False)]


def test_registry_calls_answered_503_twice_are_retried_and_take_effect_once(tmp_path: Path) -> None:
    with mlflow_server(tmp_path) as server:
        # Creating the version, moving the alias and reading the model (with its aliases) each
        # fail twice first.
        calls = ("/model-versions/create", "/registered-models/alias", "/registered-models/get")
        proxy = FlakyProxy(server, fails=lambda method, path: path.split("?")[0].endswith(calls))
        with flaky_proxy(proxy) as url:
            registry = Registry(url, MODEL_NAME)
            registry.client.create_registered_model(MODEL_NAME)
            run = registry.client.create_run(experiment_id="0")
            source = f"{run.info.artifact_uri}/model"
            version = registry.client.create_model_version(MODEL_NAME, source, run_id=run.info.run_id).version
            registry.promote(version)
            assert registry.alias(CHAMPION).version == version

        for method, call in [
            ("POST", "/model-versions/create"),
            ("POST", "/registered-models/alias"),
            ("GET", "/registered-models/get"),
        ]:
            attempts = proxy.attempts(method, call)
            assert [status for _, status in attempts[:3]] == [503, 503, 200], (call, attempts)
            # MLflow's client backs off exponentially: at once, then after seconds.
            assert gaps(attempts[:3])[1] >= 1, (call, gaps(attempts))
        # Straight to the server: one version, and it is the champion.
        direct = Registry(server, MODEL_NAME)
        assert [v.version for v in direct.versions()] == [version]
        assert direct.alias(CHAMPION).version == version


def test_object_store_requests_answered_503_twice_are_retried_and_write_once(tmp_path: Path) -> None:
    with moto_server(tmp_path / "moto.log") as s3:
        s3.bucket("lake")
        # Every request for the object fails twice first: writing it, and reading it.
        proxy = FlakyProxy(s3.endpoint, fails=lambda method, path: "/lake/tables/day.parquet" in path)
        data = b"a day of transactions" * 1000
        with flaky_proxy(proxy) as url:
            folder = Folder.at("s3://lake/tables", S3Access(endpoint_url=url))
            folder.write("day.parquet", data)
            with folder.filesystem.open_input_stream(f"{folder.path}/day.parquet") as stream:
                assert stream.read() == data

        assert any(status == 503 for _, _, _, status in proxy.answered)
        for method in ("PUT", "GET"):
            attempts = proxy.attempts(method, "day.parquet")
            # pyarrow's (the AWS SDK's) standard retries, with a jittered exponential backoff.
            statuses = [status for _, status in attempts[:3]]
            assert statuses[:2] == [503, 503] and 200 <= statuses[2] < 300, (method, attempts)
        # Straight to the server: the object once, whole, and nothing else.
        direct = S3Access(endpoint_url=s3.endpoint).filesystem()
        listed = direct.get_file_info(pafs.FileSelector("lake", recursive=True))
        assert [info.path for info in listed if info.type == pafs.FileType.File] == ["lake/tables/day.parquet"]
        with direct.open_input_stream("lake/tables/day.parquet") as stream:
            assert stream.read() == data
