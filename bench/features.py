"""Benchmark: computing features for ~1,000,000 transactions, and the point-in-time join of
100,000 entity rows three ways: in pandas (`merge_asof`, the baseline), through Feast's
`get_historical_features` (its DuckDB offline store), and as the pipeline does it
(`lib/point_in_time.py`: DuckDB as-of joins over the Feast definitions).

Run with `uv run python bench/features.py`. Prints a Markdown table for docs/performance.md; the three joins
are checked to give the same values before their times are reported.
"""

import argparse
import os
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from mlops_assets.feature_store import definitions, open_store  # noqa: E402
from mlops_assets.keys import FEATURE_SERVICE  # noqa: E402
from mlops_assets.lib.data.lake import Lake  # noqa: E402
from mlops_assets.lib.featurize import features  # noqa: E402
from mlops_assets.lib.featurize.point_in_time import historical_features  # noqa: E402
from mlops_assets.settings import Settings  # noqa: E402
from mlops_assets.synth import generator  # noqa: E402
from tests.lib.frames import point_in_time  # noqa: E402


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--rows-per-day", type=int, default=33_334)
    parser.add_argument("--entities", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        home = Path(temporary)
        os.environ["MLOPS_HOME"] = str(home)  # the Feast sources find the lake through it
        result = generator.generate(date(2025, 1, 1), args.days, args.rows_per_day, home / "landing", seed=3)
        history = pd.concat([pd.read_parquet(path) for path in result.files], ignore_index=True)
        history["is_fraud"] = history["is_fraud"].astype("Int64")

        customer, customer_s = timed(features.customer_features, history, history)
        merchant, merchant_s = timed(features.merchant_features, history, history)
        lake = Lake(str(home / "lake"))
        days = history["event_timestamp"].dt.strftime("%Y-%m-%d")
        for day in days.unique():
            lake.write("customer_features", customer[(days == day).to_numpy()], day)
            lake.write("merchant_features", merchant[(days == day).to_numpy()], day)

        store = open_store(Settings.from_env())
        store.apply(definitions())
        entities = history.sample(args.entities, random_state=0)[
            ["transaction_id", "customer_id", "merchant_id", "event_timestamp"]
        ]
        service = store.get_feature_service(FEATURE_SERVICE)
        feast_frame, feast_s = timed(
            lambda: store.get_historical_features(entity_df=entities, features=service).to_df()
        )

        def pandas_both() -> pd.DataFrame:
            return pd.concat(
                [
                    point_in_time(entities, customer, "customer_id", tuple(features.customer_feature_kinds())),
                    point_in_time(entities, merchant, "merchant_id", tuple(features.merchant_feature_kinds())),
                ],
                axis=1,
            )

        pandas_frame, pandas_s = timed(pandas_both)
        as_of_frame, as_of_s = timed(historical_features, store, entities)
        expected = features.normalize_features(pandas_frame)
        for frame in (feast_frame, as_of_frame):
            found = features.normalize_features(frame.set_index("transaction_id").loc[pandas_frame.index])
            pd.testing.assert_frame_equal(found, expected, check_names=False)

        rows = len(history)
        print(f"Features and point-in-time joins: {rows:,} transactions over {args.days} days\n")
        print("| step | seconds | rows/s | vs. baseline |\n|---|---:|---:|---:|")
        print(
            f"| customer features ({len(tuple(features.customer_feature_kinds()))} columns) | {customer_s:.2f} | "
            f"{rows / customer_s:,.0f} | |"
        )
        print(
            f"| merchant features ({len(tuple(features.merchant_feature_kinds()))} columns) | {merchant_s:.2f} | "
            f"{rows / merchant_s:,.0f} | |"
        )
        print(
            f"| baseline: PIT join of {args.entities:,} entity rows, pandas merge_asof | {pandas_s:.2f} | "
            f"{args.entities / pandas_s:,.0f} | 1.0x |"
        )
        print(
            f"| PIT join of {args.entities:,} entity rows, Feast get_historical_features (DuckDB) | "
            f"{feast_s:.2f} | {args.entities / feast_s:,.0f} | {feast_s / pandas_s:.1f}x |"
        )
        print(
            f"| PIT join of {args.entities:,} entity rows, DuckDB as-of joins (`historical_features`, what "
            f"the pipeline uses) | {as_of_s:.2f} | {args.entities / as_of_s:,.0f} | {as_of_s / pandas_s:.1f}x |"
        )


if __name__ == "__main__":
    main()
