"""The Feast store of `feature_repo/` as a Dagster resource."""

import dagster as dg

from mlops_assets.feature_store import open_store
from mlops_assets.settings import Settings


class FeastResource(dg.ConfigurableResource):
    """The Feast store of `feature_repo/`, where `Settings` of the code location put it (a local
    folder; or S3 and Redis in production, with `redis_password`)."""

    redis_password: str | None = None

    def store(self):
        return open_store(Settings.from_env(), self.redis_password)
