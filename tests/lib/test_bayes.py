"""The compiled network against pgmpy's exact inference, on random networks and evidence."""

import os
import subprocess
import sys

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from pgmpy.factors.discrete import TabularCPD
from pgmpy.inference import VariableElimination
from pgmpy.models import DiscreteBayesianNetwork

from mlops_assets.lib.modelling.bayes import CompiledNetwork, learn_network, state_codes
from mlops_assets.lib.modelling.graphs import structural_hamming_distance
from mlops_assets.settings import REPO_ROOT
from mlops_assets.synth.generator import TRUTH_EDGES


def random_network(edges, seed: int) -> DiscreteBayesianNetwork:
    """The given structure with random cardinalities (2 to 4) and random CPDs."""
    rng = np.random.default_rng(seed)
    graph = nx.DiGraph(edges)
    model = DiscreteBayesianNetwork(edges)
    cards = {node: 2 if node == "is_fraud" else int(rng.integers(2, 5)) for node in graph.nodes}
    for node in nx.topological_sort(graph):
        parents = sorted(graph.predecessors(node))
        columns = int(np.prod([cards[p] for p in parents])) if parents else 1
        values = rng.dirichlet(np.ones(cards[node]) * 0.7, size=columns).T
        model.add_cpds(
            TabularCPD(
                node, cards[node], values, evidence=parents or None, evidence_card=[cards[p] for p in parents] or None
            )
        )
    model.check_model()
    return model


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_posteriors_match_pgmpy_with_and_without_missing_values(seed: int) -> None:
    model = random_network(list(TRUTH_EDGES), seed)
    compiled = CompiledNetwork.from_pgmpy(model, "is_fraud")
    rng = np.random.default_rng(seed)
    rows = 120
    codes = {
        node: np.where(rng.random(rows) < 0.3, -1, rng.integers(0, compiled.cardinality[node], rows))
        for node in compiled.evidence_nodes
    }
    codes["country"][:10] = -1  # several rows with all of one node's evidence gone
    for node in compiled.evidence_nodes:
        codes[node][10] = -1  # and one row with no evidence at all: the prior
    fast = compiled.posterior(codes)
    inference = VariableElimination(model)
    for row in range(rows):
        evidence = {node: int(codes[node][row]) for node in compiled.evidence_nodes if codes[node][row] >= 0}
        exact = inference.query(["is_fraud"], evidence=evidence, show_progress=False).values
        np.testing.assert_allclose(fast[row], exact, rtol=0, atol=1e-9)


def test_unknown_or_missing_values_are_marginalized_not_refused() -> None:
    model = random_network([("is_fraud", "channel"), ("is_fraud", "hour_of_day")], seed=4)
    compiled = CompiledNetwork.from_pgmpy(model, "is_fraud")
    codes = compiled.encode({"channel": np.array([0, 99, 1]), "hour_of_day": np.array([1, 1, 1])})
    assert codes["channel"].tolist() == [0, -1, 1]
    only_hour = compiled.posterior({"channel": np.array([-1]), "hour_of_day": np.array([1])})
    np.testing.assert_allclose(compiled.posterior(codes)[1], only_hour[0])
    with pytest.raises(ValueError, match="not a node"):
        CompiledNetwork.from_pgmpy(model, "amount")


def test_state_codes_are_each_value_s_position_and_minus_one_for_missing_or_unknown() -> None:
    assert state_codes(np.array([2.0, np.nan, 0.0, 7.0]), [0, 1, 2]).tolist() == [2, -1, 0, -1]
    assert state_codes(pd.Series(["b", None, "z", "a"]), ["a", "b"]).tolist() == [1, -1, -1, 0]
    assert state_codes(pd.Series([1, 0, 1]).astype("category"), [0, 1]).tolist() == [1, 0, 1]
    assert state_codes(np.array([], dtype=float), [0, 1]).dtype == np.int64


def test_explanations_add_up_to_the_log_odds_and_name_the_evidence() -> None:
    model = random_network(list(TRUTH_EDGES), seed=5)
    compiled = CompiledNetwork.from_pgmpy(model, "is_fraud")
    rng = np.random.default_rng(5)
    children = {child for parent, child in TRUTH_EDGES if parent == "is_fraud"}
    for missing_share in (0.0, 0.4):
        for _ in range(20):
            row = {
                node: int(rng.integers(0, compiled.cardinality[node])) if rng.random() >= missing_share else -1
                for node in compiled.evidence_nodes
            }
            probability = compiled.posterior({node: np.array([code]) for node, code in row.items()})[0, 1]
            explanation = compiled.explain(row)
            total = sum(contribution for _, contribution in explanation)
            # In probability space: log(p / (1 - p)) itself loses digits when p is within 1e-10 of 1.
            probability_from_log_odds = 1 / (1 + np.exp(-total))
            assert probability_from_log_odds == pytest.approx(probability, abs=1e-12)
            assert total == pytest.approx(np.log(probability / (1 - probability)), rel=1e-6)
            assert [abs(c) for _, c in explanation] == sorted((abs(c) for _, c in explanation), reverse=True)
            if missing_share == 0.0:  # all observed: the prior and each child of is_fraud
                assert {name for name, _ in explanation} == children | {"is_fraud"}


def test_evidence_that_is_likelier_under_fraud_pushes_towards_fraud() -> None:
    model = DiscreteBayesianNetwork([("is_fraud", "is_night")])
    model.add_cpds(
        TabularCPD("is_fraud", 2, [[0.99], [0.01]]),
        TabularCPD("is_night", 2, [[0.9, 0.4], [0.1, 0.6]], evidence=["is_fraud"], evidence_card=[2]),
    )
    compiled = CompiledNetwork.from_pgmpy(model, "is_fraud")
    night = dict(compiled.explain({"is_night": 1}))
    day = dict(compiled.explain({"is_night": 0}))
    assert night["is_night"] == pytest.approx(np.log(0.6 / 0.1)) and day["is_night"] < 0
    assert night["is_fraud"] == pytest.approx(np.log(0.01 / 0.99))  # the prior pushes away


def test_learning_recovers_a_known_network_with_fraud_as_a_root() -> None:
    truth = [("is_fraud", "channel"), ("is_fraud", "amount"), ("category", "amount"), ("amount", "hour")]
    generating = random_network(truth, seed=3)
    data = generating.simulate(n_samples=20_000, seed=1, show_progress=False)
    learned = learn_network(data, "is_fraud")
    assert set(learned.nodes) == set(data.columns)
    assert learned.get_parents("is_fraud") == []
    assert structural_hamming_distance(learned.edges, truth, data.columns) <= 2
    # Its posteriors are close to those of the network that made the data.
    compiled, reference = (CompiledNetwork.from_pgmpy(model, "is_fraud") for model in (learned, generating))
    rows = data.drop(columns="is_fraud").head(2000)
    codes = {column: rows[column].astype(int).to_numpy() for column in rows}
    assert np.abs(compiled.posterior(codes)[:, 1] - reference.posterior(codes)[:, 1]).mean() < 0.02


def test_learning_needs_the_target_column() -> None:
    with pytest.raises(ValueError, match="no 'is_fraud' column"):
        learn_network(pd.DataFrame({"a": [0, 1]}), "is_fraud")


def test_the_learned_structure_is_the_same_in_every_process() -> None:
    """Python salts string hashes per process; the same data and seed must still give one network."""
    script = (
        "import warnings; warnings.simplefilter('ignore')\n"
        "from tests.lib.frames import labelled_inputs, transactions\n"
        "from mlops_assets.lib.featurize.features import model_inputs\n"
        "from mlops_assets.lib.modelling.models import BayesianNetworkModel\n"
        "frame = labelled_inputs(transactions(8, 4000, seed=7))\n"
        "columns = tuple(name for name in model_inputs() if name in frame)\n"
        "model = BayesianNetworkModel.fit(frame, frame['is_fraud'], columns=columns, bins=6, min_bin_share=0.01,\n"
        "    max_variables=12, max_indegree=3, equivalent_sample_size=10, structure_rows=50000, seed=0)\n"
        "print(model.network.edges)\n"
    )
    learned = {
        subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=True,
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONHASHSEED": str(salt)},
        ).stdout
        for salt in (1, 2, 3)
    }
    assert len(learned) == 1 and "is_fraud" in learned.pop()
