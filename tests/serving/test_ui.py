"""The UIs as a person sees them, in headless Chromium: Dagster's asset graph shows every contract
asset with the status of its checks, and the service's `/docs` page lists its routes. Each page
is saved as a screenshot beside the test's files.

Dagster's UI is `dagster-webserver` on the serving tests' home (ten days ingested, one
retraining): the same UI `dagster dev` serves, without the daemon, whose sensors would start
runs in a home the other serving tests read."""

from __future__ import annotations

import contextlib
import re
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from playwright.sync_api import Page
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from mlops_assets.ops.servers import start_server
from mlops_assets.settings import REPO_ROOT
from tests.serving.conftest import Served
from tests.support.browser import browser_page, page_text_when
from tests.support.processes import answers, free_port, wait_until

pytestmark = pytest.mark.slow
CONTRACT_ASSETS = (
    "raw_transactions",
    "validated_transactions",
    "quarantined_transactions",
    "training_set",
    "xgboost_model",
    "baseline_model",
    "bayesian_network",
    "model_evaluation",
    "champion_model",
    "drift_report",
    "bento",
)


@pytest.fixture(scope="module")
def dagster_ui(home, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`dagster-webserver` on the home's instance and the repository's workspace; its URL."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("ui") / "webserver.log"
    webserver = Path(sys.executable).with_name("dagster-webserver")
    command = [str(webserver), "-h", "127.0.0.1", "-p", str(port), "-w", str(REPO_ROOT / "workspace.yaml")]
    with open(log_path, "w") as log:
        process = start_server(command, log)
    try:
        wait_until(lambda: answers(port), 300, "the Dagster UI", log_path)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=60)


def expected_check_status(instance: dg.DagsterInstance, checks: list[dg.AssetCheckKey]) -> str | None:
    """What an asset's node should say of its checks: "n / n Passed" when the latest run of each
    passed, "–" when it has none; None (anything but "–") otherwise."""
    if not checks:
        return "–"
    records = [instance.get_latest_asset_check_evaluation_record(key) for key in checks]
    passed = [record is not None and record.status.value == "SUCCEEDED" for record in records]
    return f"{len(checks)} / {len(checks)} Passed" if all(passed) else None


def node_check_status(text: str, asset: str) -> str | None:
    """The "Asset checks" line of an asset's node in the graph page's text; None when absent."""
    found = re.search(rf"^{asset}\nLatest event\n(?:.*\n){{0,2}}?Asset checks\n(.+)$", text, re.MULTILINE)
    return found.group(1).strip() if found else None


def test_the_asset_graph_shows_every_contract_asset_and_the_status_of_its_checks(
    home, dagster_ui: str, tmp_path: Path
) -> None:
    _, defs = home
    graph = defs.resolve_asset_graph()
    by_group: dict[str, list[str]] = {}
    for asset in CONTRACT_ASSETS:
        by_group.setdefault(graph.get(dg.AssetKey(asset)).group_name, []).append(asset)
    with dg.DagsterInstance.get() as instance:
        expected = {
            asset: expected_check_status(
                instance, sorted(k for k in graph.asset_check_keys if k.asset_key == dg.AssetKey(asset))
            )
            for asset in CONTRACT_ASSETS
        }
    assert expected["validated_transactions"] == "4 / 4 Passed"  # the home's ingestion ran them

    def shows_all(text: str, assets: list[str]) -> bool:
        statuses = {asset: node_check_status(text, asset) for asset in assets}
        return "Loading..." not in text and all(
            status is not None and (status == expected[asset] if expected[asset] else status != "–")
            for asset, status in statuses.items()
        )

    with browser_page() as page:
        for position, (group, assets) in enumerate(sorted(by_group.items())):
            selection = urllib.parse.quote(f'group:"{group}"')
            page.goto(f"{dagster_ui}/asset-groups~{selection}/", wait_until="networkidle", timeout=120_000)
            if position == 0:
                skip_the_invitation(page)
            what = f"group {group}: {assets} and their checks"
            page_text_when(page, lambda text, assets=assets: shows_all(text, assets), 60, what)
            screenshot = tmp_path / f"asset-graph-{group}.png"
            page.screenshot(path=screenshot)
            assert screenshot.read_bytes().startswith(b"\x89PNG")


def skip_the_invitation(page: Page) -> None:
    """Dagster invites a new instance's first visitor to join its community (a modal over the
    page, once): skipped, as a person would."""
    invitation = page.get_by_text("Join the Dagster community")
    with contextlib.suppress(PlaywrightTimeoutError):
        invitation.wait_for(timeout=10_000)
        page.get_by_role("button", name="Skip").click()
        invitation.wait_for(state="hidden")


def test_the_docs_page_lists_the_routes(served: Served, tmp_path: Path) -> None:
    routes = ("/predict", "/explain", "/feedback", "/model", "/readyz")
    with browser_page(1400, 2000) as page:
        page.goto(f"{served.url}/docs", wait_until="networkidle", timeout=120_000)
        page_text_when(page, lambda text: all(route in text for route in routes), 60, f"the routes {routes}")
        screenshot = tmp_path / "docs.png"
        page.screenshot(path=screenshot, full_page=True)
        assert screenshot.read_bytes().startswith(b"\x89PNG")
