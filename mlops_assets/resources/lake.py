"""The landing folder, the lake (tables, records and their IO managers) and the reports folder, as
Dagster resources: each takes a plain location (a local path or `s3://...`, reached through
dagster-aws's `S3Resource`), so the same asset code runs on a laptop folder and on S3."""

import dagster as dg
import pandas as pd
from dagster_aws.s3 import S3Resource
from pydantic import Field

from mlops_assets.lib.data.labels import LabelFolder
from mlops_assets.lib.data.lake import Lake
from mlops_assets.lib.data.landing import LandingIndex
from mlops_assets.lib.data.storage import Folder, S3Access
from mlops_assets.lib.quality.shadow import ShadowLog


def s3_access(s3: S3Resource) -> S3Access:
    """What pyarrow needs of dagster-aws's S3 settings."""
    return S3Access(
        endpoint_url=s3.endpoint_url,
        region=s3.region_name,
        access_key_id=s3.aws_access_key_id,
        secret_access_key=s3.aws_secret_access_key,
    )


class LandingResource(dg.ConfigurableResource):
    """The landing folder where raw files arrive, and its index."""

    landing_dir: str = Field(description="A local path or s3://bucket/prefix.")
    partitions_start: str
    s3: S3Resource

    def index(self) -> LandingIndex:
        return LandingIndex(self.landing_dir, self.partitions_start, s3_access(self.s3))

    def labels(self) -> LabelFolder:
        return LabelFolder.of_landing(self.landing_dir, s3_access(self.s3))

    def shadow(self) -> ShadowLog:
        return ShadowLog.of_landing(self.landing_dir, s3_access(self.s3))


class LakeResource(dg.ConfigurableResource):
    """Direct access to lake tables, for checks that look across partitions."""

    root: str = Field(description="A local path or s3://bucket/prefix.")
    s3: S3Resource

    def lake(self) -> Lake:
        return Lake(self.root, s3_access(self.s3))


class LakeIOManager(dg.ConfigurableIOManager):
    """Stores each asset's DataFrame as Parquet in the lake, one file per daily partition."""

    root: str = Field(description="A local path or s3://bucket/prefix.")
    s3: S3Resource

    def _key(self, context: dg.OutputContext | dg.InputContext) -> str:
        return "/".join(context.asset_key.path)

    def handle_output(self, context: dg.OutputContext, obj: pd.DataFrame | dict[str, pd.DataFrame]) -> None:
        """One frame for an unpartitioned asset or one day; for a run over a range of days (a
        single-run backfill), a frame per day, keyed by day."""
        lake = Lake(self.root, s3_access(self.s3))
        if isinstance(obj, dict):
            expected = set(context.asset_partition_keys)
            if set(obj) != expected:
                raise ValueError(
                    f"{self._key(context)}: a frame for each of {len(expected)} days expected, not {sorted(obj)}"
                )
            paths = [lake.write(self._key(context), frame, day) for day, frame in sorted(obj.items())]
            context.add_output_metadata({"path": dg.MetadataValue.path(paths[-1]), "days_written": len(paths)})
            return
        partition = context.partition_key if context.has_partition_key else None
        path = lake.write(self._key(context), obj, partition)
        context.add_output_metadata({"path": dg.MetadataValue.path(path)})

    def load_input(self, context: dg.InputContext) -> pd.DataFrame:
        lake = Lake(self.root, s3_access(self.s3))
        key = self._key(context)
        if not context.has_asset_partitions:
            return lake.read(key)
        partitions = [partition for partition in context.asset_partition_keys if lake.exists(key, partition)]
        frames = [lake.read(key, partition) for partition in partitions]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


class RecordIOManager(dg.ConfigurableIOManager):
    """Stores small JSON records (what a model asset registered, a day's drift verdict) in the
    lake: `<asset_key>.json`, or `<asset_key>/<YYYY-MM-DD>.json` for daily assets."""

    root: str = Field(description="A local path or s3://bucket/prefix.")
    s3: S3Resource

    def _key(self, context: dg.OutputContext | dg.InputContext) -> str:
        key = "/".join(context.asset_key.path)
        return f"{key}/{context.partition_key}" if context.has_partition_key else key

    def handle_output(self, context: dg.OutputContext, obj: dict) -> None:
        path = Lake(self.root, s3_access(self.s3)).write_record(self._key(context), obj)
        context.add_output_metadata({"path": dg.MetadataValue.path(path)})

    def load_input(self, context: dg.InputContext) -> dict:
        return Lake(self.root, s3_access(self.s3)).read_record(self._key(context))


class ReportsResource(dg.ConfigurableResource):
    """The folder of reports (plots, HTML) that asset metadata links to."""

    root: str = Field(description="A local path or s3://bucket/prefix.")
    s3: S3Resource

    def write(self, relative_path: str, data: bytes) -> str:
        """Writes a report (replacing it whole); returns where it is, as a user would name it."""
        target, name = self._folder(relative_path)
        target.write(name, data)
        return f"{target.location}/{name}"

    def location(self, relative_path: str) -> str:
        """Where `write` puts a report, as a user would name it (whether or not it exists yet)."""
        target, name = self._folder(relative_path)
        return f"{target.location}/{name}"

    def _folder(self, relative_path: str) -> tuple[Folder, str]:
        folder, name = f"/{relative_path}".rsplit("/", 1)
        reports = Folder.at(self.root, s3_access(self.s3))
        return Folder(reports.filesystem, reports.path + folder), name
