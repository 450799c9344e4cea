"""The Feast store of `feature_repo/` as a Dagster resource."""

import dagster as dg
from pydantic import Field

from mlops_assets.feature_store import open_store
from mlops_assets.settings import Settings


class FeastResource(dg.ConfigurableResource):
    """The Feast store of `feature_repo/`, where the code location's `Settings` put it (a local
    folder; or S3 and Redis in production, with `redis_password`)."""

    settings: dict[str, str] = Field(
        description="The code location's settings as variables (`Settings.export()`): where the store is."
    )
    redis_password: str | None = None

    @classmethod
    def of(cls, settings: Settings, redis_password: str | None = None) -> "FeastResource":
        return cls(settings=settings.export(), redis_password=redis_password)

    def store(self):
        return open_store(Settings.from_env(self.settings), self.redis_password)
