"""Outside systems as Dagster resources: the landing folder and the lake (tables and IO manager).

Each takes plain locations, so the same asset code runs on a laptop folder and (later) on S3.
`build_local_resources` is the one place that picks them for the embedded local environment.
"""

from pathlib import Path

import dagster as dg
import pandas as pd

from mlops_assets.lib.feature_store import open_store
from mlops_assets.lib.lake import Lake
from mlops_assets.lib.landing import LandingIndex
from mlops_assets.settings import Settings


class LandingResource(dg.ConfigurableResource):
    """The landing folder where raw files arrive, and its index."""

    landing_dir: str
    partitions_start: str

    def index(self) -> LandingIndex:
        return LandingIndex(self.landing_dir, self.partitions_start)


class LakeResource(dg.ConfigurableResource):
    """Direct access to lake tables, for checks that look across partitions."""

    root: str

    def lake(self) -> Lake:
        return Lake(self.root)


class FeastResource(dg.ConfigurableResource):
    """The Feast store of `feature_repo/`: registry and online store under `feast_dir`."""

    feast_dir: str

    def store(self):
        return open_store(Path(self.feast_dir))


class LakeIOManager(dg.ConfigurableIOManager):
    """Stores each asset's DataFrame as Parquet in the lake, one file per daily partition."""

    root: str

    def _key(self, context: dg.OutputContext | dg.InputContext) -> str:
        return "/".join(context.asset_key.path)

    def handle_output(self, context: dg.OutputContext, obj: pd.DataFrame) -> None:
        partition = context.partition_key if context.has_partition_key else None
        path = Lake(self.root).write(self._key(context), obj, partition)
        context.add_output_metadata({"path": dg.MetadataValue.path(path)})

    def load_input(self, context: dg.InputContext) -> pd.DataFrame:
        lake = Lake(self.root)
        key = self._key(context)
        if not context.has_asset_partitions:
            return lake.read(key)
        partitions = [partition for partition in context.asset_partition_keys if lake.exists(key, partition)]
        frames = [lake.read(key, partition) for partition in partitions]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def build_local_resources(settings: Settings) -> dict[str, object]:
    """The embedded local environment: everything under `MLOPS_HOME`, no credentials, no servers."""
    return {
        "landing": LandingResource(landing_dir=str(settings.landing_dir), partitions_start=settings.partitions_start),
        "lake": LakeResource(root=str(settings.lake_dir)),
        "lake_io_manager": LakeIOManager(root=str(settings.lake_dir)),
        "feast": FeastResource(feast_dir=str(settings.feast_dir)),
    }
