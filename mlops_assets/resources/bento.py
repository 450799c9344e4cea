"""BentoML's store as a Dagster resource: where the `bento` asset packages the champion."""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import dagster as dg
from dagster_aws.s3 import S3Resource
from pydantic import Field

from mlops_assets.lib.data.storage import Folder
from mlops_assets.resources.lake import s3_access
from mlops_assets.settings import REPO_ROOT, child_environment


class BentoResource(dg.ConfigurableResource):
    """BentoML's store (`BENTOML_HOME`): where the `bento` asset packages the champion. With
    `export_location` (production, where a step's own store goes with its pod), each Bento is also
    exported there as `<name>-<version>.bento`, for `bentoml import` and `bentoml containerize`."""

    bentoml_home: str
    tracking_uri: str
    export_location: str | None = Field(default=None, description="A local path or s3://bucket/prefix.")
    s3: S3Resource

    def package(self, version: str) -> dict[str, str]:
        """Packages a registry version; returns its `model` and `bento` tags, and the exported
        Bento's location as `exported` when there is an `export_location`."""
        with tempfile.TemporaryDirectory(prefix="bento-export-") as export_dir:
            tags = self._run_packaging(version, export_dir if self.export_location else None)
            if "exported" in tags:
                exported = Path(tags["exported"])
                exports = Folder.at(self.export_location, s3_access(self.s3))
                exports.write(exported.name, exported)
                tags["exported"] = f"{exports.location}/{exported.name}"
        return tags

    def _run_packaging(self, version: str, export_dir: str | None) -> dict[str, str]:
        """Runs `serving.packaging` in a process of its own: BentoML reads BENTOML_HOME once, when
        it is first imported."""
        environment = child_environment({"BENTOML_HOME": self.bentoml_home, "MLFLOW_TRACKING_URI": self.tracking_uri})
        done = subprocess.run(
            [sys.executable, "-m", "serving.packaging", version, *([export_dir] if export_dir else [])],
            cwd=REPO_ROOT, env=environment, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"packaging version {version} failed: {done.stderr.strip()[-2000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])
