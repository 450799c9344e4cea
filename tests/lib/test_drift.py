"""Drift statistics on hand-made distributions, and the policy's verdicts."""

import numpy as np
import pandas as pd
import pytest
from pgmpy.models import DiscreteBayesianNetwork
from pgmpy.parameter_estimator import DiscreteBayesianEstimator

from mlops_assets.lib.modelling.bayes import CompiledNetwork
from mlops_assets.lib.quality.drift import (
    DriftPolicy,
    drift_html,
    earth_movers_distance,
    input_drift,
    js_divergence,
    network_drift,
    psi,
    recovery_level,
    recovery_tags,
    wasserstein,
)

RNG = np.random.default_rng(0)
N = 50_000


def test_psi_is_near_zero_for_the_same_distribution_and_large_for_a_shift() -> None:
    reference = RNG.normal(100, 20, N)
    assert psi(reference, RNG.normal(100, 20, N)) < 0.01
    assert psi(reference, RNG.normal(102, 20, N)) < 0.1  # a tenth of a std: ordinary
    assert psi(reference, RNG.normal(120, 20, N)) > 0.25  # a whole std: shifted


def test_psi_of_few_valued_inputs_compares_values() -> None:
    reference = np.repeat([0.0, 1.0], N // 2)
    current = np.r_[np.zeros(int(N * 0.8)), np.ones(int(N * 0.2))]
    # (0.8 - 0.5) ln(0.8 / 0.5) + (0.2 - 0.5) ln(0.2 / 0.5)
    assert psi(reference, current) == pytest.approx(0.3 * np.log(1.6) + 0.3 * np.log(2.5), rel=1e-3)
    # A value the reference never had counts, not ignored.
    assert psi(reference, np.r_[reference[: N // 2], np.full(N // 2, 2.0)]) > 1


def test_wasserstein_is_in_reference_standard_deviations() -> None:
    reference = RNG.normal(0, 5, N)
    assert wasserstein(reference, reference + 2.5) == pytest.approx(0.5, rel=0.02)


@pytest.mark.parametrize(
    "reference, current",
    [
        (RNG.normal(0, 5, 2_000), RNG.normal(1, 7, 30_000)),
        (RNG.integers(0, 6, 500).astype(float), RNG.integers(0, 9, 20_000).astype(float)),  # ties across both
        (np.array([3.0]), np.array([3.0, 3.0])),
        (np.array([0.0, 1.0]), np.array([5.0])),
    ],
)
def test_earth_movers_distance_is_scipy_s(reference, current) -> None:
    from scipy.stats import wasserstein_distance

    assert earth_movers_distance(reference, current) == pytest.approx(
        wasserstein_distance(reference, current), rel=1e-12, abs=1e-15
    )


def test_js_divergence_bounds() -> None:
    assert js_divergence([0.2, 0.8], [0.2, 0.8]) == 0
    assert js_divergence([1, 0], [0, 1]) == pytest.approx(1.0)
    assert 0 < js_divergence([0.5, 0.5], [0.6, 0.4]) < 0.01


def inputs_table(values: dict[str, float], threshold: float = 0.25) -> pd.DataFrame:
    return pd.DataFrame({"value": values, "threshold": threshold})


def test_policy_verdicts() -> None:
    policy = DriftPolicy()
    calm = {f"input_{i}": 0.02 for i in range(10)}
    assert policy.verdict(inputs_table(calm), prediction_psi=0.03, fraud_divergence=0.01, pr_auc_drop=0.05) == (
        "none",
        [],
    )
    verdict, reasons = policy.verdict(inputs_table({**calm, "input_0": 0.4}), 0.03, None, None)
    assert verdict == "warn" and reasons == ["inputs moved: input_0"]
    shifted = {name: 0.5 if i < 4 else 0.02 for i, name in enumerate(calm)}
    verdict, reasons = policy.verdict(inputs_table(shifted), 0.03, None, None)
    assert verdict == "drift" and reasons[0].startswith("4 of 10 inputs shifted")
    assert policy.verdict(inputs_table(calm), 0.4, None, None)[0] == "drift"
    assert policy.verdict(inputs_table(calm), 0.03, 0.3, None)[0] == "drift"
    assert policy.verdict(inputs_table(calm), 0.03, None, 0.5)[0] == "drift"


def test_a_champion_promoted_for_drift_is_drift_until_it_is_within_tolerance_of_the_pre_drift_level() -> None:
    policy, calm = DriftPolicy(recovery_tolerance=0.1), inputs_table({"input_0": 0.02})
    verdict, reasons = policy.verdict(calm, 0.03, None, pr_auc_drop=0.0, recovery=(0.55, 0.7))
    assert verdict == "drift" and reasons == ["not recovered: PR AUC 0.550 is below 90% of the pre-drift 0.700"]
    assert policy.verdict(calm, 0.03, None, pr_auc_drop=0.0, recovery=(0.64, 0.7)) == ("none", [])


def test_recovery_tags_keep_the_first_pre_drift_level_and_expire() -> None:
    # The level is what the reports measured before the drift (their median), else the evaluation's.
    first = recovery_tags({"pr_auc": "0.7"}, "2025-02-01", before=[0.6, 0.66, 0.64])
    assert first == {"recovery_level": "0.64", "recovery_since": "2025-02-01"}
    assert recovery_tags({"pr_auc": "0.7"}, "2025-02-01", before=[])["recovery_level"] == "0.7"
    # A champion replacing one that was still recovering keeps the same bar and clock.
    assert recovery_tags({"pr_auc": "0.5", **first}, "2025-02-05", before=[0.4]) == first
    policy = DriftPolicy(recovery_days=14)
    assert recovery_level(first, "2025-02-15", policy) == 0.64
    assert recovery_level(first, "2025-02-16", policy) is None
    assert recovery_level({"pr_auc": "0.7"}, "2025-02-02", policy) is None


def test_evidently_flags_the_shifted_day_not_the_ordinary_one(tmp_path) -> None:
    def day(rows: int, amount_mu: float, online_share: float) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "amount_usd": RNG.lognormal(amount_mu, 1.0, rows),
                "txn_count_24h": RNG.poisson(2.0, rows).astype(float),
                "is_online": (RNG.random(rows) < online_share).astype(float),
            }
        )

    reference, policy = day(30_000, 3.0, 0.3), DriftPolicy()
    ordinary = input_drift(reference, day(5_000, 3.0, 0.3), policy)
    assert not ordinary["shifted"].any()
    assert policy.verdict(ordinary, 0.0, None, None)[0] == "none"
    html = tmp_path / "drift.html"
    shifted = input_drift(reference, day(5_000, 3.6, 0.7), policy)
    assert shifted["shifted"].to_dict() == {"amount_usd": True, "txn_count_24h": False, "is_online": True}
    assert shifted.loc["is_online", "method"] == "psi" and shifted.loc["amount_usd", "method"] == "wasserstein"
    drift_html(reference, day(5_000, 3.6, 0.7), policy, str(html))
    assert html.read_text().lstrip().lower().startswith("<!doctype html") or "<html" in html.read_text()[:500]


def test_the_verdict_s_statistics_are_those_of_evidently_s_report(tmp_path) -> None:
    """`input_drift` computes what Evidently's report shows, without Evidently: on numbers with
    missing and infinite values, a constant number, flags with a value one side lacks, and a
    column with no value on one side (left out by both)."""
    rows, policy = 2_000, DriftPolicy()
    reference = pd.DataFrame(
        {
            "amount_usd": RNG.lognormal(3.0, 1.0, rows),
            "merchant_fraud_rate_7d": np.where(RNG.random(rows) < 0.2, np.nan, RNG.beta(1, 30, rows)),
            "amount_vs_mean_7d": np.where(RNG.random(rows) < 0.01, np.inf, RNG.gamma(2.0, 0.5, rows)),
            "constant_count": np.full(rows, 3.0),
            "is_online": (RNG.random(rows) < 0.3).astype(float),
            "is_category_rare": np.zeros(rows),
            "merchant_fraud_rate_30d": np.full(rows, np.nan),
        }
    )
    current = reference.sample(700, random_state=1).reset_index(drop=True)
    current["amount_usd"] *= 1.4
    current["constant_count"] = 4.0
    current.loc[:20, "is_category_rare"] = 1.0  # a value the reference never has
    current["is_online"] = (RNG.random(700) < 0.6).astype(float)
    ours = input_drift(reference, current, policy)
    evidently = drift_html(reference, current, policy, str(tmp_path / "drift.html"))
    assert list(ours.index) == list(evidently.index) and "merchant_fraud_rate_30d" not in ours.index
    assert ours["method"].tolist() == evidently["method"].tolist()
    np.testing.assert_allclose(ours["value"], evidently["value"], rtol=1e-9, atol=1e-12)
    assert ours["shifted"].tolist() == evidently["shifted"].tolist()
    assert ours.loc["is_online", "shifted"] and ours.loc["is_category_rare", "shifted"]


def test_evidently_s_report_of_a_large_window_shows_a_seeded_sample_of_it(tmp_path) -> None:
    """A window larger than `max_rows` is reported on that many of its rows, the same ones each
    time: the report's statistics are those of that sample, not of the first rows."""
    reference = pd.DataFrame({"amount_usd": RNG.lognormal(3.0, 1.0, 2_000)})
    # The window's second half moved: a head instead of a sample would miss it.
    current = pd.DataFrame({"amount_usd": np.r_[RNG.lognormal(3.0, 1.0, 3_000), RNG.lognormal(4.0, 1.0, 3_000)]})
    policy, html = DriftPolicy(), str(tmp_path / "drift.html")
    reported = drift_html(reference, current, policy, html, max_rows=1_000)
    shown = current.sample(1_000, random_state=0)
    np.testing.assert_allclose(reported["value"], input_drift(reference, shown, policy)["value"], rtol=1e-9)
    assert reported["value"].iloc[0] != pytest.approx(input_drift(reference, current, policy)["value"].iloc[0])
    assert reported["shifted"].iloc[0]
    assert drift_html(reference, current, policy, html, max_rows=1_000).equals(reported)


def sample(rows: int, fraud_share: float, channel_given_fraud: list[float], channel_given_legit: list[float]):
    """is_fraud -> channel, and an independent hour: discrete states as the discretizer names them."""
    fraud = (RNG.random(rows) < fraud_share).astype(int)
    channels = np.array(["atm", "online", "pos"])
    channel = np.where(
        fraud == 1,
        RNG.choice(channels, rows, p=channel_given_fraud),
        RNG.choice(channels, rows, p=channel_given_legit),
    )
    hour = RNG.choice(["<6", "6..12", ">=12"], rows, p=[0.2, 0.4, 0.4])
    return pd.DataFrame({"is_fraud": fraud, "channel": channel, "hour_of_day": hour})


@pytest.fixture(scope="module")
def reference() -> CompiledNetwork:
    data = sample(N, 0.1, [0.1, 0.8, 0.1], [0.2, 0.3, 0.5])
    model = DiscreteBayesianNetwork([("is_fraud", "channel")])
    model.add_nodes_from(["hour_of_day"])
    states = {"is_fraud": [0, 1], "channel": ["atm", "online", "pos"], "hour_of_day": ["6..12", "<6", ">=12"]}
    model.fit(data, estimator=DiscreteBayesianEstimator(state_names=states, prior_type="BDeu"))
    return CompiledNetwork.from_pgmpy(model, "is_fraud")


def test_the_network_sees_nothing_move_in_a_like_window(reference: CompiledNetwork) -> None:
    moved = network_drift(reference, sample(10_000, 0.1, [0.1, 0.8, 0.1], [0.2, 0.3, 0.5]))
    assert (moved["legitimate_js"] < 0.005).all() and moved.loc["channel", "fraud_js"] < 0.01
    assert np.isnan(moved.loc["hour_of_day", "fraud_js"])  # not a child of fraud


def test_rows_with_a_state_the_network_does_not_know_are_left_out(reference: CompiledNetwork) -> None:
    """A window with missing values of a variable trained without any (the discretizer names them
    `missing`) is judged on its other rows, as if they were all it had."""
    window = sample(10_000, 0.1, [0.1, 0.1, 0.8], [0.2, 0.3, 0.5])
    unknown = window.assign(channel=np.where(np.arange(len(window)) % 10 == 0, "missing", window["channel"]))
    known = unknown[unknown["channel"] != "missing"].reset_index(drop=True)
    pd.testing.assert_frame_equal(network_drift(reference, unknown), network_drift(reference, known))
    assert network_drift(reference, unknown).loc["channel", "fraud_js"] > 0.2


def test_the_network_separates_a_new_fraud_pattern_from_moved_inputs(reference: CompiledNetwork) -> None:
    concept = network_drift(reference, sample(10_000, 0.1, [0.1, 0.1, 0.8], [0.2, 0.3, 0.5]))
    assert concept.loc["channel", "fraud_js"] > 0.2 and concept.loc["channel", "legitimate_js"] < 0.005
    inputs = network_drift(reference, sample(10_000, 0.1, [0.1, 0.8, 0.1], [0.1, 0.7, 0.2]))
    assert inputs.loc["channel", "legitimate_js"] > 0.05 and inputs.loc["channel", "fraud_js"] < 0.01
