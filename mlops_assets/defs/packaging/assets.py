"""`bento`: the champion packaged for BentoML, and `onnx_model`: the champion in portable files;
both in the `retrain_job` that promotes it, or by `bento_job` when the champion changed elsewhere
(a rollout promoted, a review rolled back)."""

import hashlib
import tempfile
from pathlib import Path

import dagster as dg
from pydantic import Field

from mlops_assets.defs.evaluation.assets import champion_model
from mlops_assets.lib.modelling.models import BayesianNetworkModel
from mlops_assets.lib.modelling.portable import TOLERANCE, ExportRefused, export_onnx, network_xmlbif
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


class OnnxConfig(dg.Config):
    tolerance: float = Field(
        default=TOLERANCE,
        gt=0,
        description="The largest difference from the native model's probabilities on the holdout an export may have.",
    )


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dg.asset(group_name="serving", kinds={"onnx"}, deps=[champion_model])
def onnx_model(
    context: dg.AssetExecutionContext, config: OnnxConfig, model_registry: ModelRegistryResource
) -> dg.MaterializeResult:
    """The champion in files stored beside its version in the registry (`portable/v<version>/`,
    the version's `portable_uri` tag): an XGBoost or scikit-learn champion as `model.onnx`, which
    onnxruntime alone runs, written only once it gives the native probabilities on the holdout to
    within the tolerance (refused with the difference otherwise); and the Bayesian network (the
    champion, or the one that explains it) as `network.xmlbif`, since a network has no ONNX form."""
    registry = model_registry.registry()
    champion = registry.alias(CHAMPION)
    if champion is None:
        raise dg.Failure("no champion to export yet: run retrain_job first")
    version = champion.version
    if "portable_uri" in champion.tags:
        return dg.MaterializeResult(
            metadata={"champion_version": version, "portable_uri": champion.tags["portable_uri"], "exported": "before"}
        )
    model, holdout = registry.load_with_reference(version)
    metadata: dict[str, object] = {"champion_version": version, "kind": champion.tags.get("kind", "")}
    tags: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as folder:
        files = []
        if isinstance(model, BayesianNetworkModel):
            network = model
            metadata["onnx"] = "none: a Bayesian network has no ONNX form; its CPTs are in network.xmlbif"
        else:
            try:
                export = export_onnx(model, holdout, config.tolerance, model_version=version)
            except ExportRefused as refused:
                raise dg.Failure(description=f"v{version}: {refused}", metadata=metadata) from refused
            onnx_file = Path(folder) / "model.onnx"
            onnx_file.write_bytes(export.content)
            files.append(onnx_file)
            tags |= {"onnx_sha256": _sha256(onnx_file), "onnx_max_abs_difference": f"{export.max_abs_difference:.3g}"}
            metadata |= {"max_abs_difference": export.max_abs_difference, "rows_checked": export.rows_checked}
            explaining = registry.explaining_network(champion)
            network = registry.load(explaining.version) if explaining is not None else None
        if network is not None:
            xmlbif_file = Path(folder) / "network.xmlbif"
            xmlbif_file.write_text(network_xmlbif(network))
            files.append(xmlbif_file)
            tags["xmlbif_sha256"] = _sha256(xmlbif_file)
        uri = registry.attach(champion, files, tags)
    context.log.info(f"champion v{version} exported to {uri}: {', '.join(path.name for path in files)}")
    return dg.MaterializeResult(metadata={**metadata, "portable_uri": uri, "files": ", ".join(p.name for p in files)})
