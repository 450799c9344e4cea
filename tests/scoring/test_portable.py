"""The portable champion, through the real graph and registry: `retrain_job`'s `onnx_model` stores
the champion's ONNX file and its network's XMLBIF beside its version; the ONNX file runs with
onnxruntime alone and gives the native probabilities; an export that differs is refused and not
written; a Bayesian-network champion gets its XMLBIF only."""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import dagster as dg
import mlflow
import numpy as np
import pytest

from mlops_assets.lib.modelling.portable import TOLERANCE, export_onnx
from mlops_assets.lib.modelling.registry import CHAMPION, FIRST_RUN_TAG, MODEL_NAME, Registry
from mlops_assets.ops.runs import QUIET

pytestmark = pytest.mark.slow

# Run with `python -I` (no site customizations, no project on the path): numpy and onnxruntime
# only, and it says so by listing what else of ours or of the training stack got imported.
ONNXRUNTIME_ONLY = """
import json, sys
import numpy as np
import onnxruntime
model, inputs, output = sys.argv[1:4]
session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
meta = session.get_modelmeta().custom_metadata_map
columns = meta["inputs"].split(",")
values = np.load(inputs).astype(np.float32)
np.save(output, session.run(["probabilities"], {"inputs": values})[0][:, 1])
loaded = [name for name in ("mlops_assets", "xgboost", "sklearn", "pandas", "pgmpy") if name in sys.modules]
print(json.dumps({"columns": columns, "model_version": meta["model_version"], "also_loaded": loaded}))
"""


def export_champion(defs: dg.Definitions, ops: dict | None = None) -> dg.ExecuteInProcessResult:
    job = defs.resolve_job_def("bento_job")
    with dg.DagsterInstance.get() as instance:
        return job.execute_in_process(
            instance=instance,
            asset_selection=[dg.AssetKey("onnx_model")],
            run_config={**QUIET, "ops": ops or {}},
            raise_on_error=False,
        )


def downloaded(settings, uri: str, into: Path) -> Path:
    return Path(mlflow.artifacts.download_artifacts(uri, dst_path=str(into), tracking_uri=settings.mlflow_tracking_uri))


def test_the_champion_runs_from_its_onnx_file_with_onnxruntime_alone(home, tmp_path) -> None:
    settings, _ = home
    registry = Registry(settings.mlflow_tracking_uri, MODEL_NAME)
    champion = registry.alias(CHAMPION)
    assert champion.tags["kind"] in ("xgboost", "baseline")
    folder = downloaded(settings, champion.tags["portable_uri"], tmp_path)
    onnx_file, xmlbif = folder / "model.onnx", folder / "network.xmlbif"
    assert hashlib.sha256(onnx_file.read_bytes()).hexdigest() == champion.tags["onnx_sha256"]
    assert float(champion.tags["onnx_max_abs_difference"]) <= TOLERANCE

    model, holdout = registry.load_with_reference(champion.version)
    np.save(tmp_path / "inputs.npy", holdout[list(model.inputs)].to_numpy(np.float64))
    ran = subprocess.run(
        [sys.executable, "-I", "-c", ONNXRUNTIME_ONLY, onnx_file, tmp_path / "inputs.npy", tmp_path / "out.npy"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert ran.returncode == 0, ran.stderr
    said = json.loads(ran.stdout)
    assert said == {"columns": list(model.inputs), "model_version": champion.version, "also_loaded": []}
    exported = np.load(tmp_path / "out.npy")
    assert len(exported) == len(holdout) > 100
    np.testing.assert_allclose(exported, model.predict_proba(holdout), atol=TOLERANCE, rtol=0)

    # The network that explains the champion, in XMLBIF: pgmpy reads back its graph and tables.
    from pgmpy.readwrite import XMLBIFReader

    network = registry.load(registry.explaining_network(champion).version).network
    reader = XMLBIFReader(str(xmlbif))
    read = reader.get_model()
    assert hashlib.sha256(xmlbif.read_bytes()).hexdigest() == champion.tags["xmlbif_sha256"]
    expected_edges = {(parent, f.variables[0]) for f in network.factors for parent in f.variables[1:]}
    assert set(read.edges()) == expected_edges and set(read.nodes()) == set(network.cardinality)
    for factor in network.factors:
        cpd = read.get_cpds(factor.variables[0])
        assert cpd.variables == list(factor.variables)
        [states] = reader.get_property()[factor.variables[0]]
        assert json.loads(states.removeprefix("states = ")) == [str(s) for s in network.state_names[cpd.variable]]
        np.testing.assert_allclose(cpd.values, factor.values, atol=1e-12)


def test_both_kinds_of_model_export_the_native_probabilities(home) -> None:
    """The XGBoost model and the scikit-learn baseline of the same training, on its holdout."""
    settings, _ = home
    registry = Registry(settings.mlflow_tracking_uri, MODEL_NAME)
    champion = registry.alias(CHAMPION)
    _, holdout = registry.load_with_reference(champion.version)
    for kind in ("xgboost", "baseline"):
        version = registry.registered_by(champion.tags[FIRST_RUN_TAG], kind)
        export = export_onnx(registry.load(version.version), holdout)
        assert export.max_abs_difference <= TOLERANCE and export.rows_checked == len(holdout)


def test_an_export_that_differs_is_refused_and_a_network_champion_gets_its_tables_only(home) -> None:
    settings, defs = home
    registry = Registry(settings.mlflow_tracking_uri, MODEL_NAME)
    champion = registry.alias(CHAMPION)
    trained = champion.tags[FIRST_RUN_TAG]
    others = {kind: registry.registered_by(trained, kind) for kind in ("xgboost", "baseline", "bayesian_network")}
    other = next(v for kind, v in others.items() if kind in ("xgboost", "baseline") and v.version != champion.version)
    try:
        registry.promote(other.version)
        refused = export_champion(defs, {"onnx_model": {"config": {"tolerance": 1e-12}}})
        assert not refused.success
        [failure] = [e for e in refused.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
        message = failure.step_failure_data.error.message
        assert f"v{other.version}: the ONNX export differs from the native" in message and "not written" in message
        tags = registry.version(other.version).tags
        assert not {"portable_uri", "onnx_sha256"} & set(tags)
        assert not registry.client.list_artifacts(other.run_id, f"portable/v{other.version}")

        assert export_champion(defs).success  # within the default tolerance: written
        assert float(registry.version(other.version).tags["onnx_max_abs_difference"]) <= TOLERANCE

        network = others["bayesian_network"]
        registry.promote(network.version)
        done = export_champion(defs)
        assert done.success
        [shown] = done.asset_materializations_for_node("onnx_model")
        assert shown.metadata["onnx"].value.startswith("none: a Bayesian network has no ONNX form")
        files = registry.client.list_artifacts(network.run_id, f"portable/v{network.version}")
        assert [Path(f.path).name for f in files] == ["network.xmlbif"]
    finally:
        registry.promote(champion.version)
