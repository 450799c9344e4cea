"""MLOPS_HOME holds all state; each path can be moved by its own variable."""

from pathlib import Path

import yaml

from mlops_assets.settings import Settings


def test_everything_defaults_under_mlops_home(tmp_path: Path) -> None:
    settings = Settings.from_env({"MLOPS_HOME": str(tmp_path)})
    for path in (
        settings.landing_dir,
        settings.lake_dir,
        settings.dagster_home,
        settings.feast_dir,
        settings.bentoml_home,
        settings.reports_dir,
        settings.mlartifacts_dir,
    ):
        assert path.parent == tmp_path
    assert settings.rejected_dir == tmp_path / "landing" / "rejected"
    assert settings.mlflow_tracking_uri == f"sqlite:///{tmp_path}/mlflow.db"


def test_each_path_can_be_overridden(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "MLOPS_HOME": str(tmp_path),
            "MLOPS_LAKE_DIR": str(tmp_path / "elsewhere"),
            "MLFLOW_TRACKING_URI": "http://127.0.0.1:5000",
        }
    )
    assert settings.lake_dir == tmp_path / "elsewhere"
    assert settings.landing_dir == tmp_path / "landing"
    assert settings.mlflow_tracking_uri == "http://127.0.0.1:5000"
    assert Settings.from_env(settings.export()) == settings


def test_the_local_dagster_instance_sends_no_telemetry(tmp_path: Path) -> None:
    settings = Settings.from_env({"MLOPS_HOME": str(tmp_path)})
    settings.ensure_dirs()
    config = yaml.safe_load((settings.dagster_home / "dagster.yaml").read_text())
    assert config["telemetry"]["enabled"] is False
