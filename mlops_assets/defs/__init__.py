"""The Dagster definitions, one folder per stage: each holds its assets, checks, jobs and sensors,
and its `definitions.py` returns them as one `dg.Definitions`. Stages name each other's assets and
jobs by key (`mlops_assets.keys`), so a job or sensor may reach across stages without importing
them. `mlops_assets/definitions.py` merges the stages with the environment's resources."""
