"""The `bento` asset: the first `retrain_job` of the serving home packaged its champion."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from mlops_assets.lib.registry import CHAMPION, MODEL_NAME, Registry

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
