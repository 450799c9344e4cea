"""Stage 4: the candidate models (XGBoost, a scikit-learn baseline, a Bayesian network), each
logged to MLflow and registered as a version of `fraud-detector`."""
