"""MLOPS_HOME holds all state; each path can be moved by its own variable; the serving settings
and the secrets are read here too, with an error that names a bad variable."""

from pathlib import Path

import pytest
import yaml

from mlops_assets.settings import ServingSettings, Settings, secret


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


def test_serving_settings_default_and_follow_their_variables(tmp_path: Path) -> None:
    assert Settings.from_env({"MLOPS_HOME": str(tmp_path)}).serving == ServingSettings()
    serving = Settings.from_env(
        {
            "MLOPS_HOME": str(tmp_path),
            "MLOPS_SERVING_WORKERS": "4",
            "MLOPS_SHADOW_SHARE": "0",
            "MLOPS_SERVING_POLL": "0.5",
        }
    ).serving
    assert (serving.workers, serving.shadow_share, serving.poll_seconds) == (4, 0.0, 0.5)
    assert serving.max_body_bytes == ServingSettings().max_body_bytes
    assert serving.model == "champion"
    for pin in ("challenger", "12"):
        assert ServingSettings.from_variables({"MLOPS_SERVING_MODEL": pin}).model == pin


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("MLOPS_SERVING_WORKERS", "two", "must be an integer"),
        ("MLOPS_SERVING_WORKERS", "0", "must be above 0"),
        ("MLOPS_SERVING_FEATURE_TIMEOUT", "-1", "must be above 0"),
        ("MLOPS_SERVING_POLL", "nan", "must be above 0"),
        ("MLOPS_SHADOW_SHARE", "1.5", "must be between 0 and 1"),
        ("MLOPS_SERVING_MODEL", "latest", "must be champion, challenger or a registered version number"),
        ("MLOPS_SERVING_MODEL", "0", "must be champion, challenger or a registered version number"),
    ],
)
def test_a_bad_serving_setting_is_an_error_that_names_its_variable(variable: str, value: str, says: str) -> None:
    with pytest.raises(ValueError, match=f"{variable} is '{value}'; it {says}"):
        ServingSettings.from_variables({variable: value})


def test_secrets_are_read_by_name_and_only_secrets(tmp_path: Path) -> None:
    assert secret("MLOPS_API_KEY", {"MLOPS_API_KEY": "k"}) == "k"
    assert secret("MLOPS_API_KEY", {"MLOPS_API_KEY": ""}) is None
    with pytest.raises(ValueError, match="not a secret variable"):
        secret("MLOPS_HOME", {"MLOPS_HOME": str(tmp_path)})
    # A secret is never a setting: what Settings exports to child processes holds none.
    settings = Settings.from_env({"MLOPS_HOME": str(tmp_path), "MLOPS_API_KEY": "k", "MLOPS_REDIS_PASSWORD": "p"})
    assert not {"k", "p"} & set(settings.export().values())
