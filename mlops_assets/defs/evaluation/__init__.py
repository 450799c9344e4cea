"""Stage 5: candidates and champion on a time-based holdout, the quality gates as blocking asset
checks, and the promotion of the champion in the MLflow registry."""
