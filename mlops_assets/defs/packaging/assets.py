"""`bento`: the champion packaged for BentoML each time `champion_model` promotes one."""

import dagster as dg

from mlops_assets.resources.bento import BentoResource


@dg.asset(group_name="serving", kinds={"bentoml"}, io_manager_key="record_io_manager")
def bento(context: dg.AssetExecutionContext, bentoml: BentoResource, champion_model: dict) -> dg.Output[dict]:
    """The champion as the BentoML model `fraud-detector:v<version>` (its checked registry files,
    with version, kind, sha256 and threshold in the model's metadata) and a Bento of
    `bentofile.yaml` that serves it: `bentoml serve <bento tag>` or `bentoml containerize`. In
    production the Bento is also exported to `<storage>/bentos/` (`bentoml import` reads it)."""
    version = champion_model["version"]
    tags = bentoml.package(version)
    context.log.info(f"champion v{version} packaged: model {tags['model']}, bento {tags['bento']}")
    record = {"champion_version": version, "kind": champion_model["kind"], **tags}
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
