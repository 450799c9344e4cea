"""Packages a registry version for BentoML: `python -m serving.packaging VERSION [EXPORT_DIR]`
stores the version's checked files as the BentoML model `fraud-detector:v<VERSION>` (metadata:
version, kind, sha256, threshold) and builds the Bento of `bentofile.yaml` with that model in it.
With EXPORT_DIR it also exports the Bento there as one `.bento` file (what `bentoml import`
reads). It prints the two tags, and the exported file, as JSON.

It runs as its own process (the `bento` asset starts it) so that BentoML reads the
`BENTOML_HOME` of the state it is given, whatever the calling process imported before. A model
that is already in the store is reused; a Bento is built each time (its tag names the build).

The build context is a copy of the files `bentofile.yaml` includes, in a folder of its own: the
repository itself may hold an `MLOPS_HOME` (by default `.mlops/`), and with it BentoML's store,
whose half-built Bentos a build would otherwise walk into and copy into themselves.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

import yaml

from mlops_assets.lib.modelling.registry import MODEL_NAME, Registry
from mlops_assets.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
BENTOFILE = ROOT / "bentofile.yaml"


def store_model(registry: Registry, version: str) -> str:
    """The BentoML model of `version` (created from the registry's checked files if missing)."""
    import bentoml

    tag = f"{MODEL_NAME}:v{version}"
    try:
        return str(bentoml.models.get(tag).tag)
    except bentoml.exceptions.NotFound:
        pass
    info = {v.version: v for v in registry.versions()}[version]
    metadata = {key: info.tags.get(key, "") for key in ("kind", "model_sha256", "threshold", "training_window")}
    with (
        registry.checked_files(version) as folder,
        bentoml.models.create(
            tag, labels={"registry_version": version}, metadata={"registry_version": version, **metadata}
        ) as model,
    ):
        for path in Path(folder).iterdir():
            target = Path(model.path) / path.name
            shutil.copytree(path, target) if path.is_dir() else shutil.copy2(path, target)
    return tag


def build_bento(model_tag: str) -> str:
    """The Bento of `bentofile.yaml` with `model_tag` in it; returns its tag."""
    import bentoml

    options = yaml.safe_load(BENTOFILE.read_text())
    options["models"] = [model_tag]
    with tempfile.TemporaryDirectory(prefix="bento-context-") as context:
        copy_included(options["include"], Path(context))
        return str(bentoml.bentos.build(**options, build_ctx=context).tag)


def copy_included(patterns: list[str], context: Path) -> None:
    """Copies the repository's files matching `patterns` (globs relative to its root, as the
    bentofile's `include` lists them) into `context`, at the same relative paths."""
    for pattern in patterns:
        for path in ROOT.glob(pattern):
            if path.is_file() and "__pycache__" not in path.parts:
                target = context / path.relative_to(ROOT)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)


def main(version: str, export_dir: str | None = None) -> None:
    import bentoml

    settings = Settings.from_env()
    registry = Registry(settings.mlflow_tracking_uri, MODEL_NAME, trusted_root=settings.mlartifacts_location)
    model_tag = store_model(registry, version)
    tags = {"model": model_tag, "bento": build_bento(model_tag)}
    if export_dir:
        tags["exported"] = bentoml.bentos.export_bento(tags["bento"], export_dir)
    print(json.dumps(tags))


if __name__ == "__main__":
    main(*sys.argv[1:3])
