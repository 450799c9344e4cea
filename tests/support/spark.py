"""What the tests of the Spark engine share: its settings for test-sized work, and the comparison
of a table it wrote with the pandas path's."""

import numpy as np
import pandas as pd

TOLERANCE = 1e-9
# Small work in a few tasks: the default of two per core is for real days, not test ones.
SPARK_VARIABLES = {"MLOPS_ENGINE": "spark", "MLOPS_SPARK_MASTER": "local[2]", "MLOPS_SPARK_PARTITIONS": "3"}


def assert_same(spark: pd.DataFrame, pandas: pd.DataFrame, order: list[str]) -> None:
    """Equal columns, types and rows (in `order`, which the engines do not share), numbers to 1e-9.
    Text is text whether pandas reads it as `object` or `string` (a file Spark writes has no
    pandas metadata to say which)."""
    assert list(spark.columns) == list(pandas.columns)
    spark = spark.sort_values(order, kind="stable").reset_index(drop=True)
    pandas = pandas.sort_values(order, kind="stable").reset_index(drop=True)
    assert len(spark) == len(pandas)
    for name in pandas.columns:
        left, right = spark[name], pandas[name]
        if pd.api.types.is_string_dtype(right):
            left, right = left.astype(object), right.astype(object)
        assert left.dtype == right.dtype, name
        if pd.api.types.is_float_dtype(right):
            assert left.isna().equals(right.isna()), name
            np.testing.assert_allclose(left.to_numpy(), right.to_numpy(), rtol=TOLERANCE, atol=TOLERANCE, err_msg=name)
        else:
            assert left.equals(right), name
