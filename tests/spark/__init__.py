"""The Spark engine (`MLOPS_ENGINE=spark`): its values equal the pandas path's, on the real graph."""
