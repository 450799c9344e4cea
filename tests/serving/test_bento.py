"""The `bento` asset: the first `retrain_job` of the serving home packaged its champion."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from mlops_assets.lib.modelling.registry import CHAMPION, MODEL_NAME, Registry

pytestmark = pytest.mark.slow
BENTOML = str(Path(sys.executable).with_name("bentoml"))


def bentoml_json(bentoml_home: Path, *arguments: str) -> dict:
    """What `bentoml ... -o json` says of the store at `bentoml_home` (the public CLI)."""
    environment = {**os.environ, "BENTOML_HOME": str(bentoml_home)}
    done = subprocess.run(
        [BENTOML, *arguments, "-o", "json"], capture_output=True, text=True, check=True, timeout=120, env=environment
    )
    return json.loads(done.stdout)


def test_the_champion_is_packaged_as_a_bentoml_model_inside_a_bento(home) -> None:
    settings, _ = home
    champion = Registry(settings.mlflow_tracking_uri, MODEL_NAME).alias(CHAMPION)
    with dg.DagsterInstance.get() as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey("bento"))
    metadata = event.asset_materialization.metadata
    assert metadata["champion_version"].value == champion.version
    model_tag, bento_tag = metadata["model_tag"].value, metadata["bento_tag"].value
    assert model_tag == f"{MODEL_NAME}:v{champion.version}"

    model = bentoml_json(settings.bentoml_home, "models", "get", model_tag)
    assert model["metadata"]["model_sha256"] == champion.tags["model_sha256"]
    assert (
        model["metadata"]["kind"] == champion.tags["kind"] and model["labels"]["registry_version"] == champion.version
    )
    files = {path.name for path in (settings.bentoml_home / "models" / MODEL_NAME / f"v{champion.version}").iterdir()}
    assert {"manifest.json", "reference.parquet"} <= files, files  # the registry version's checked files

    bento = bentoml_json(settings.bentoml_home, "get", bento_tag)
    assert bento["service"] == "serving.service:FraudDetector"
    assert [m["tag"] for m in bento["models"]] == [model_tag]


def test_a_store_inside_the_repository_is_never_copied_into_a_bento(home) -> None:
    """`MLOPS_HOME` defaults to `.mlops/` in the repository, and BentoML's store with it: two
    Bentos built there hold only the bentofile's files, and leave no temporary folder behind."""
    import shutil
    import uuid

    from dagster_aws.s3 import S3Resource

    from mlops_assets.resources.bento import BentoResource
    from mlops_assets.settings import REPO_ROOT

    settings, _ = home
    champion = Registry(settings.mlflow_tracking_uri, MODEL_NAME).alias(CHAMPION)
    inside = REPO_ROOT / f".mlops-test-{uuid.uuid4().hex[:8]}" / "bentoml"
    try:
        store = BentoResource(bentoml_home=str(inside), tracking_uri=settings.mlflow_tracking_uri, s3=S3Resource())
        tags = [store.package(champion.version)["bento"] for _ in range(2)]
        assert tags[0] != tags[1]
        for tag in tags:
            name, version = tag.split(":")
            source = inside / "bentos" / name / version / "src"
            files = sorted(path.relative_to(source).as_posix() for path in source.rglob("*") if path.is_file())
            assert "serving/service.py" in files and "uv.lock" in files
            assert not [path for path in files if path.startswith(".")], files  # no store, no state, no .venv
        leftovers = list((inside / "tmp").iterdir()) if (inside / "tmp").exists() else []
        assert leftovers == []
    finally:
        shutil.rmtree(inside.parent, ignore_errors=True)
