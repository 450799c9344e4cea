"""Structural Hamming distance on graphs whose distance is known by hand."""

from mlops_assets.lib.modelling.graphs import mermaid, structural_hamming_distance

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
