"""mlops-assets: card transactions to a served fraud model, as Dagster assets.

Process-wide policy for the libraries we call, set once here because every entry point (the CLI,
Dagster's code server, tests) imports this package first.
"""

import os
import warnings

# dagster-mlflow is marked beta. The project uses its MLflow resource on purpose, and the
# warning says nothing a user can act on.
warnings.filterwarnings("ignore", message=r".*(_create_mlflow_run_hook|MlFlow).* is currently in beta")
# MLflow draws a progress bar for every model it loads; runs and terminals need none.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
