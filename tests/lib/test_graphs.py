"""Structural Hamming distance on graphs whose distance is known by hand; graphs read from JSON."""

import json
from pathlib import Path

import pytest

from mlops_assets.lib.modelling.graphs import mermaid, read_graph, structural_hamming_distance
from mlops_assets.synth import generator

TRUTH = [("is_fraud", "amount"), ("is_fraud", "hour"), ("channel", "card_present"), ("category", "channel")]
NODES = ["is_fraud", "amount", "hour", "channel", "card_present", "category"]


def test_identical_graphs_are_at_distance_zero() -> None:
    assert structural_hamming_distance(TRUTH, TRUTH, NODES) == 0


def test_a_missing_an_extra_and_a_reversed_edge_count_one_each() -> None:
    learned = [
        ("is_fraud", "amount"),  # right
        ("hour", "is_fraud"),  # reversed: 1
        ("channel", "card_present"),  # right
        ("amount", "channel"),  # extra: 1
        # category -> channel missing: 1
    ]
    assert structural_hamming_distance(learned, TRUTH, NODES) == 3
    assert structural_hamming_distance(TRUTH, learned, NODES) == 3  # symmetric


def test_only_shared_variables_count() -> None:
    learned = [("is_fraud", "amount"), ("is_fraud", "txn_count_1h"), ("is_fraud", "hour")]
    nodes = ["is_fraud", "amount", "hour"]  # the learned graph has no category, channel, ...
    assert structural_hamming_distance(learned, TRUTH, nodes) == 0


def test_mermaid_lists_every_edge() -> None:
    text = mermaid(TRUTH, highlight="is_fraud")
    assert text.startswith("```mermaid\ngraph LR") and text.endswith("```")
    assert all(f"{a} --> {b}" in text for a, b in TRUTH) and "style is_fraud" in text


def test_the_simulators_truth_graph_reads_back_from_the_json_the_cli_prints(tmp_path: Path) -> None:
    path = tmp_path / "truth.json"
    path.write_text(generator.truth_json())
    nodes, edges = read_graph(path)
    assert nodes == list(generator.TRUTH_NODES) and edges == list(generator.TRUTH_EDGES)


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("not json", "not a graph"),
        (json.dumps({"edges": []}), "not a graph"),
        (json.dumps({"nodes": ["a"], "edges": [["a"]]}), "not a graph"),
        (json.dumps({"nodes": ["a"], "edges": [["a", "b"]]}), "does not list: b"),
    ],
)
def test_a_file_that_is_not_a_graph_gets_an_error_that_says_why(tmp_path: Path, text: str, names: str) -> None:
    path = tmp_path / "graph.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=names):
        read_graph(path)
