"""The MLflow model of every fraud-detector version, logged as "models from code": MLflow keeps a
copy of this file next to the model's own files and runs it to load them, so nothing is unpickled.
`mlflow.pyfunc.load_model("models:/fraud-detector@champion").predict(inputs)` gives P(fraud) for
rows of model inputs (`features.model_input`), whichever kind of model serves. Only MLflow imports this file."""

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from mlops_assets.lib.modelling.models import load_model


class FraudDetector(mlflow.pyfunc.PythonModel):
    """P(fraud) per row of model inputs, from the folder `models.save_model` wrote."""

    def load_context(self, context) -> None:
        self.model = load_model(Path(context.artifacts["model"]))

    def predict(self, context, model_input: pd.DataFrame, params=None) -> np.ndarray:
        return self.model.predict_proba(model_input)


mlflow.models.set_model(FraudDetector())
