"""The retraining policy: when a drift report or new labels call for a new model."""
