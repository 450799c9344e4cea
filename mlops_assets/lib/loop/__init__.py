"""The loop's policies: when a drift report or new labels call for a new model (`retraining`), and
how a new model reaches the traffic (`rollout`: the shadow, a canary split by card, the verdict)."""
