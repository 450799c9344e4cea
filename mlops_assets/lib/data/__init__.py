"""The data as it arrives and as it is kept: the raw contract, Parquet storage on a local path or
S3, the lake's partitions, landing and label files, and row validation with quarantine."""
