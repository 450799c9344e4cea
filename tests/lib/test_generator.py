"""The transaction simulator: determinism, the truth graph, and what each scenario changes."""

import hashlib
from datetime import date
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from mlops_assets.lib.data.contract import COLUMNS
from mlops_assets.synth import generator

START = date(2025, 1, 1)


def digest(paths: list[Path]) -> list[str]:
    return [hashlib.sha256(path.read_bytes()).hexdigest() for path in paths]


def frame(scenario: str, days: int = 4, rows: int = 20_000, seed: int = 5) -> pd.DataFrame:
    population = generator.Population.build(seed, rows)
    world = generator.WORLDS[scenario]
    return pd.concat(
        generator.simulate_day(world, population, date(2025, 1, 1 + day), rows, np.random.default_rng([seed, day]))
        for day in range(days)
    )


@pytest.mark.parametrize("file_format", ["parquet", "csv"])
def test_same_seed_writes_same_bytes_and_another_seed_does_not(tmp_path: Path, file_format: str) -> None:
    first = generator.generate(START, 2, 500, tmp_path / "a", seed=3, file_format=file_format)
    again = generator.generate(START, 2, 500, tmp_path / "b", seed=3, file_format=file_format)
    other = generator.generate(START, 2, 500, tmp_path / "c", seed=4, file_format=file_format)
    assert digest(first.files) == digest(again.files)
    assert digest(first.files) != digest(other.files)


def test_dirty_scenario_is_deterministic_including_its_faults(tmp_path: Path) -> None:
    first = generator.generate(START, 1, 3000, tmp_path / "a", scenario="dirty", seed=3)
    again = generator.generate(START, 1, 3000, tmp_path / "b", scenario="dirty", seed=3)
    assert first.faults == again.faults and sum(first.faults.values()) == 60
    assert digest(first.files + first.rejected_files) == digest(again.files + again.rejected_files)


def test_rows_follow_the_landing_contract() -> None:
    day = frame("baseline", days=1)
    assert list(day.columns) == list(COLUMNS)
    assert day["transaction_id"].is_unique
    assert (day["amount"] > 0).all() and (day["amount"] <= 1_000_000).all()
    assert set(day["channel"]) == {"online", "pos", "atm"}
    assert day["country"].str.fullmatch(r"[A-Z]{2}").all()
    assert day["event_timestamp"].is_monotonic_increasing
    assert (day["event_timestamp"].dt.floor("D") == pd.Timestamp("2025-01-01", tz="UTC")).all()


def test_truth_graph_is_a_dag_over_its_nodes() -> None:
    truth = generator.truth_graph()
    graph = nx.DiGraph(truth["edges"])
    assert set(graph.nodes) <= set(truth["nodes"])
    assert nx.is_directed_acyclic_graph(graph)
    # Fraud is a cause, not an effect: it has children and no parents.
    assert graph.in_degree("is_fraud") == 0 and graph.out_degree("is_fraud") >= 5


def test_baseline_fraud_behaves_like_fraud() -> None:
    day = frame("baseline")
    fraud, legit = day[day["is_fraud"] == 1], day[day["is_fraud"] == 0]
    assert 0.004 < day["is_fraud"].mean() < 0.012
    night = lambda rows: rows["event_timestamp"].dt.hour.isin(range(0, 6)).mean()  # noqa: E731
    assert night(fraud) > 3 * night(legit)
    assert fraud["amount"].median() > 1.5 * legit["amount"].median()
    assert (fraud["channel"] == "online").mean() > (legit["channel"] == "online").mean() + 0.2
    # Card takeovers come in bursts: most fraud has another fraud on the same card within an hour.
    gaps = fraud.sort_values("event_timestamp").groupby("customer_id")["event_timestamp"].diff()
    assert (gaps < pd.Timedelta(hours=1)).mean() > 0.5


def test_covariate_shift_moves_inputs_but_not_the_fraud_mechanism() -> None:
    base, shifted = frame("baseline"), frame("covariate_shift")
    legit = lambda rows: rows[rows["is_fraud"] == 0]  # noqa: E731
    assert legit(shifted)["amount"].median() > 1.2 * legit(base)["amount"].median()
    assert (legit(shifted)["channel"] == "online").mean() > (legit(base)["channel"] == "online").mean() + 0.05
    fraud_categories = lambda rows: rows.loc[rows["is_fraud"] == 1, "merchant_category"].value_counts(normalize=True)  # noqa: E731
    difference = (fraud_categories(base) - fraud_categories(shifted)).abs().max()
    assert difference < 0.05


def test_concept_drift_moves_fraud_to_card_present_domestic_daytime() -> None:
    base, drifted = frame("baseline"), frame("concept_drift")
    fraud = lambda rows: rows[rows["is_fraud"] == 1]  # noqa: E731
    assert fraud(drifted)["card_present"].mean() > fraud(base)["card_present"].mean() + 0.4
    daytime = lambda rows: rows["event_timestamp"].dt.hour.isin(range(9, 19)).mean()  # noqa: E731
    assert daytime(fraud(drifted)) > daytime(fraud(base)) + 0.3
    legit = lambda rows: rows[rows["is_fraud"] == 0]  # noqa: E731
    assert (
        abs(legit(drifted)["amount"].median() - legit(base)["amount"].median()) < 0.05 * legit(base)["amount"].median()
    )


def test_unlabelled_share_leaves_labels_empty(tmp_path: Path) -> None:
    result = generator.generate(START, 1, 4000, tmp_path, seed=1, unlabelled_share=0.25)
    labels = pd.read_parquet(result.files[0])["is_fraud"]
    assert 0.2 < labels.isna().mean() < 0.3


def test_unknown_scenario_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown scenario 'nope'"):
        generator.generate(START, 1, 10, tmp_path, scenario="nope")
