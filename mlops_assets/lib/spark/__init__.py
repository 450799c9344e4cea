"""The Spark engine of the heavy steps (`MLOPS_ENGINE=spark`): see docs/spark.md."""
