"""Benchmark: posteriors of `is_fraud` from the compiled network against pgmpy's
VariableElimination, on a random network over the generator's truth graph.

Run with `uv run python bench/bayes.py`. pgmpy answers one row per query, so it runs on fewer
rows; both are reported in rows per second, with the answers checked to agree to 1e-9.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from pgmpy.inference import VariableElimination

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from mlops_assets.lib.bayes import CompiledNetwork  # noqa: E402
from mlops_assets.lib.generator import TRUTH_EDGES  # noqa: E402
from tests.lib.test_bayes import random_network  # noqa: E402


def evidence(compiled: CompiledNetwork, rows: int, missing_share: float, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        node: np.where(rng.random(rows) < missing_share, -1, rng.integers(0, compiled.cardinality[node], rows))
        for node in compiled.evidence_nodes
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--pgmpy-rows", type=int, default=2_000)
    args = parser.parse_args()
    model = random_network(list(TRUTH_EDGES), seed=1)
    compiled = CompiledNetwork.from_pgmpy(model, "is_fraud")
    inference = VariableElimination(model)
    print("| evidence | pgmpy VariableElimination rows/s | compiled rows/s | speed-up |\n|---|---:|---:|---:|")
    for label, missing in (("complete", 0.0), ("10% of values missing", 0.1)):
        small = evidence(compiled, args.pgmpy_rows, missing, seed=2)
        started = time.perf_counter()
        exact = np.array(
            [
                inference.query(
                    ["is_fraud"],
                    evidence={node: int(small[node][row]) for node in small if small[node][row] >= 0},
                    show_progress=False,
                ).values
                for row in range(args.pgmpy_rows)
            ]
        )
        pgmpy_rate = args.pgmpy_rows / (time.perf_counter() - started)
        np.testing.assert_allclose(compiled.posterior(small), exact, rtol=0, atol=1e-9)
        large = evidence(compiled, args.rows, missing, seed=3)
        started = time.perf_counter()
        compiled.posterior(large)
        compiled_rate = args.rows / (time.perf_counter() - started)
        print(f"| {label} | {pgmpy_rate:,.0f} | {compiled_rate:,.0f} | {compiled_rate / pgmpy_rate:,.0f}x |")


if __name__ == "__main__":
    main()
