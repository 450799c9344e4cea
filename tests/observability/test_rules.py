"""The Prometheus rules as promtool reads them: valid, and every alert unit-tested
(`deploy/prometheus/tests/alerts.test.yml`) to fire when its condition holds for its duration and
to stay silent otherwise, with an ordinary day that fires nothing; and each alert's runbook."""

from __future__ import annotations

import subprocess

import yaml

from mlops_assets.ops.prometheus import RULES, rule_files
from tests.support.prometheus import alert_rules

PROMTOOL = "/usr/bin/promtool"
UNIT_TESTS = RULES.parent / "tests" / "alerts.test.yml"
RUNBOOK = ("summary", "meaning", "where_to_look", "what_to_do")


def test_promtool_finds_the_rules_valid() -> None:
    checked = subprocess.run([PROMTOOL, "check", "rules", *map(str, rule_files())], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count("SUCCESS") == len(rule_files())


def test_promtool_unit_tests_of_the_alerts_pass() -> None:
    tested = subprocess.run(
        [PROMTOOL, "test", "rules", UNIT_TESTS.name], cwd=UNIT_TESTS.parent, capture_output=True, text=True
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_is_tested_firing_and_silent_and_an_ordinary_day_fires_none() -> None:
    tests = yaml.safe_load(UNIT_TESTS.read_text())["tests"]
    assert {str(path.relative_to(RULES.parent)) for path in rule_files()} == {
        name.removeprefix("../") for name in yaml.safe_load(UNIT_TESTS.read_text())["rule_files"]
    }
    checks = [check for test in tests for check in test["alert_rule_test"]]
    fired = {check["alertname"] for check in checks if check["exp_alerts"]}
    silent = {check["alertname"] for check in checks if not check["exp_alerts"]}
    assert fired == set(alert_rules()) and silent == set(alert_rules())
    [ordinary] = [test for test in tests if test["name"] == "an ordinary day fires nothing"]
    assert {check["alertname"] for check in ordinary["alert_rule_test"]} == set(alert_rules())
    assert all(check["exp_alerts"] == [] for check in ordinary["alert_rule_test"])


def test_every_alert_says_what_it_means_where_to_look_and_what_to_do() -> None:
    for name, rule in alert_rules().items():
        assert set(rule["annotations"]) == set(RUNBOOK), name
        assert all(len(rule["annotations"][field]) > 20 for field in RUNBOOK), name
        assert rule["labels"]["severity"] in ("page", "warning"), name
