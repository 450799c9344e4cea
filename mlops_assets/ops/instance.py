"""The local Dagster instance and the model registry as the commands open them, and the error a
command stops with."""

from pathlib import Path

from mlops_assets.settings import Settings


class CommandError(Exception):
    """A one-line reason to stop a command with exit status 1 (missing state, failed work)."""


def open_instance(settings: Settings):
    """The local Dagster instance at DAGSTER_HOME, so runs show in the UI."""
    import dagster as dg

    settings.ensure_dirs()
    return dg.DagsterInstance.get()


def open_lake(settings: Settings):
    """The lake where `settings` put it: a local folder, or its prefix of the storage on S3."""
    from mlops_assets.lib.data.lake import Lake

    return Lake(settings.lake_location, settings.s3)


def has_table(settings: Settings, table: str) -> bool:
    """Whether the lake holds any partition of the daily `table`."""
    return bool(open_lake(settings).partitions(table))


def open_registry(settings: Settings):
    """The model registry; a missing local store is missing state, not a new empty store."""
    from mlops_assets.lib.modelling.registry import MODEL_NAME, Registry

    uri = settings.mlflow_tracking_uri
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        raise CommandError(f"no champion model in {uri}: run `mlops demo` or `mlops retrain`")
    return Registry(uri, MODEL_NAME)
