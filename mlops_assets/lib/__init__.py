"""Plain Python below Dagster, one folder per concern: `data` (the raw contract, storage, the lake,
landing and label files, validation), `featurize` (features, Feast import, point-in-time joins),
`modelling` (the models, the Bayesian network, the MLflow registry), `quality` (metrics, gates,
drift, review, shadow comparison, a rollout's evidence, plots) and `loop` (the retraining and
rollout policies). Nothing here imports
Dagster, the settings or the stages; `tests/test_structure.py` holds it to that."""
