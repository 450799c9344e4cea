"""The long stories: the retraining loop day by day, the demo, the daemon, a sensor and a run worker killed."""
