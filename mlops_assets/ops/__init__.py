"""The public operations that the CLI and the demo share: ingest, build features, retrain, status,
and starting the servers. `cli.py` parses arguments and calls these."""
