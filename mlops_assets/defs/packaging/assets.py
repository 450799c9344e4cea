"""`bento`: the champion packaged for BentoML, in the `retrain_job` that promotes it, or by
`bento_job` when the champion changed elsewhere (a rollout promoted, a review rolled back)."""

import dagster as dg

from mlops_assets.defs.evaluation.assets import champion_model
from mlops_assets.lib.modelling.registry import CHAMPION
from mlops_assets.resources.bento import BentoResource
from mlops_assets.resources.model_registry import ModelRegistryResource


# The champion is read from the registry, not from `champion_model`'s record: the alias also
# moves outside `retrain_job` (`rollout_report`, `champion_review`, `mlops rollout`), and the
# record of a retraining that started a rollout names the champion that stayed.
@dg.asset(group_name="serving", kinds={"bentoml"}, io_manager_key="record_io_manager", deps=[champion_model])
def bento(
    context: dg.AssetExecutionContext, bentoml: BentoResource, model_registry: ModelRegistryResource
) -> dg.Output[dict]:
    """The champion as the BentoML model `fraud-detector:v<version>` (its checked registry files,
    with version, kind, sha256 and threshold in the model's metadata) and a Bento of
    `bentofile.yaml` that serves it: `bentoml serve <bento tag>` or `bentoml containerize`. In
    production the Bento is also exported to `<storage>/bentos/` (`bentoml import` reads it)."""
    champion = model_registry.registry().alias(CHAMPION)
    if champion is None:
        raise dg.Failure("no champion to package yet: run retrain_job first")
    version = champion.version
    tags = bentoml.package(version)
    context.log.info(f"champion v{version} packaged: model {tags['model']}, bento {tags['bento']}")
    record = {"champion_version": version, "kind": champion.tags.get("kind"), **tags}
    return dg.Output(
        record,
        metadata={
            "bento_tag": tags["bento"],
            "model_tag": tags["model"],
            "champion_version": version,
            "serve": dg.MetadataValue.md(f"`bentoml serve {tags['bento']}` (with `BENTOML_HOME` of this state)"),
            **({"exported_to": dg.MetadataValue.path(tags["exported"])} if "exported" in tags else {}),
        },
    )
