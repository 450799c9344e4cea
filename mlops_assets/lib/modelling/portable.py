"""A model in forms that other programs read without this project.

- ONNX, for the XGBoost model (onnxmltools) and the scikit-learn baseline (skl2onnx): one input,
  `inputs`, a float32 matrix of the model's input columns in the order the file's `inputs`
  metadata names; one output read here, `probabilities` (column 1: P(fraud)). onnxruntime alone
  runs it (`onnx_probabilities`).
- XMLBIF, for the Bayesian network: ONNX has no operator for a network's inference, so its
  structure and conditional probability tables are written in the open interchange format pgmpy,
  Weka and other Bayesian-network tools read (`network_xmlbif`).

`export_onnx` writes nothing it has not checked: the file must give the native model's
probabilities on the holdout to within the tolerance, or it is refused with the difference.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mlops_assets.lib.modelling.models import BaselineModel, BayesianNetworkModel, FraudModel, XGBoostModel

INPUT = "inputs"
OUTPUT = "probabilities"
# The newest opset onnxmltools' XGBoost converter writes; the baseline uses the same.
OPSET = 15
TOLERANCE = 1e-5


class ExportRefused(ValueError):
    """An export that does not give the native model's probabilities; the message says by how much."""


@dataclass(frozen=True)
class OnnxExport:
    content: bytes
    max_abs_difference: float  # against the native model, on the rows it was checked on
    rows_checked: int


def export_onnx(model: FraudModel, holdout: pd.DataFrame, tolerance: float = TOLERANCE, **metadata: str) -> OnnxExport:
    """The model as ONNX, checked on `holdout` (model input rows): refused (`ExportRefused`) when
    any probability differs from the native model's by more than `tolerance`, or when the model
    has no ONNX form. `metadata` is written into the file beside its input names."""
    content = _convert(model, {"inputs": ",".join(model.inputs), **metadata})
    return checked(content, model, holdout, tolerance)


def checked(content: bytes, model: FraudModel, holdout: pd.DataFrame, tolerance: float) -> OnnxExport:
    """`content` as an export of `model`, once its probabilities on `holdout` are within
    `tolerance` of the native model's; `ExportRefused` otherwise."""
    if holdout.empty:
        raise ExportRefused("no holdout rows to check the export on")
    native = model.predict_proba(holdout)
    exported = onnx_probabilities(content, holdout[list(model.inputs)].to_numpy(np.float64))
    # A NaN on either side makes `worst` NaN, which no tolerance admits.
    worst = float(np.max(np.abs(exported - native)))
    if not worst <= tolerance:
        raise ExportRefused(
            f"the ONNX export differs from the native {getattr(model, 'kind', 'model')} by up to {worst:.3g} "
            f"on {len(holdout):,} holdout rows (allowed {tolerance:g}): not written"
        )
    return OnnxExport(content, worst, len(holdout))


def onnx_probabilities(content: bytes, values: np.ndarray) -> np.ndarray:
    """P(fraud) of each row of `values` (the file's input columns, in order), by onnxruntime."""
    import onnxruntime

    session = onnxruntime.InferenceSession(content, providers=["CPUExecutionProvider"])
    [probabilities] = session.run([OUTPUT], {INPUT: np.asarray(values, dtype=np.float32)})
    return probabilities[:, 1].astype(np.float64)


def _convert(model: FraudModel, metadata: dict[str, str]) -> bytes:
    if isinstance(model, XGBoostModel):
        converted = _xgboost_onnx(model)
    elif isinstance(model, BaselineModel):
        converted = _baseline_onnx(model)
    elif isinstance(model, BayesianNetworkModel):
        raise ExportRefused("a Bayesian network has no ONNX form: its CPTs are exported as XMLBIF instead")
    else:
        raise ExportRefused(f"no ONNX converter for {type(model).__name__}")
    for key, value in metadata.items():
        converted.metadata_props.add(key=key, value=value)
    return converted.SerializeToString()


def _xgboost_onnx(model: XGBoostModel):
    from onnxmltools.convert import convert_xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType

    # The converter reads features by position (`f0`, `f1`...): the booster's names go; the
    # order is the model's inputs, kept in the file's metadata.
    booster = model.booster.copy()
    booster.feature_names, booster.feature_types = None, None
    initial = [(INPUT, FloatTensorType([None, len(model.inputs)]))]
    return convert_xgboost(booster, initial_types=initial, target_opset=OPSET)


def _baseline_onnx(model: BaselineModel):
    """The pipeline, with its imputer's missing-value indicator as a step of its own: skl2onnx
    converts `SimpleImputer` without `add_indicator`, and `MissingIndicator` through the converter
    registered here. onnxruntime's Imputer takes float32 only."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.pipeline import FeatureUnion, Pipeline

    _register_missing_indicator()
    steps = [step for _, step in model.pipeline.steps]
    imputer, *rest = steps
    if imputer.add_indicator:
        plain = copy.deepcopy(imputer)
        plain.add_indicator, plain.indicator_ = False, None
        indicator = copy.deepcopy(imputer.indicator_)
        indicator._precomputed = False  # the imputer gives its indicator a mask; the union, the inputs
        steps = [FeatureUnion([("imputed", plain), ("missing", indicator)]), *rest]
    pipeline = Pipeline([(f"step{position}", step) for position, step in enumerate(steps)])
    classifier = steps[-1]
    return to_onnx(
        pipeline,
        initial_types=[(INPUT, FloatTensorType([None, len(model.inputs)]))],
        target_opset=OPSET,
        options={id(classifier): {"zipmap": False}},  # probabilities as a matrix, not a list of maps
    )


def _register_missing_indicator() -> None:
    """A skl2onnx converter for scikit-learn's `MissingIndicator` (of NaN): IsNaN of the columns it
    indicates, as numbers."""
    from skl2onnx import update_registered_converter
    from skl2onnx.algebra.onnx_ops import OnnxCast, OnnxGather, OnnxIsNaN
    from skl2onnx.common.data_types import guess_proto_type
    from sklearn.impute import MissingIndicator

    def shape(operator) -> None:
        columns = len(operator.raw_operator.features_)
        operator.outputs[0].type = operator.inputs[0].type.__class__(
            [operator.inputs[0].get_first_dimension(), columns]
        )

    def convert(scope, operator, container) -> None:
        indicator, opset = operator.raw_operator, container.target_opset
        if not (isinstance(indicator.missing_values, float) and np.isnan(indicator.missing_values)):
            raise ValueError(f"only a MissingIndicator of NaN converts, not of {indicator.missing_values!r}")
        values = operator.inputs[0]
        picked = OnnxGather(values, np.asarray(indicator.features_, dtype=np.int64), axis=1, op_version=opset)
        found = OnnxIsNaN(picked, op_version=opset)
        as_numbers = OnnxCast(found, to=guess_proto_type(values.type), op_version=opset, output_names=operator.outputs)
        as_numbers.add_to(scope, container)

    update_registered_converter(MissingIndicator, "SklearnMissingIndicator", shape, convert)


def network_xmlbif(model: BayesianNetworkModel) -> str:
    """The network's structure, states and conditional probability tables as XMLBIF 0.3 text; each
    variable's PROPERTY `states = [...]` names its states as the discretizer does (bins)."""
    from pgmpy.readwrite import XMLBIFWriter

    network = model.network
    graph = network.to_pgmpy()
    # XMLBIF outcomes are identifiers (the writer turns `<=9.4` into `_9_4`): each variable's
    # states as the discretizer names them are kept in its PROPERTY `states = [...]`, in order,
    # as JSON whose `=` is escaped (readers split a property at its `=`).
    for name, states in network.state_names.items():
        graph.nodes[name]["states"] = json.dumps([str(state) for state in states]).replace("=", "\\u003d")
    graph.check_model()
    return str(XMLBIFWriter(graph))
