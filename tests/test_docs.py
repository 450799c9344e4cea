"""The README is a front page and docs/ holds the rest: every link between them leads to a file
and a heading that exist, and every file of the repository they name in backticks exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mlops_assets.settings import REPO_ROOT

ROOTS = (REPO_ROOT, REPO_ROOT / "mlops_assets")
PAGES = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")
# A path of this repository in backticks: a folder and a file with one of these endings.
NAMED_FILE = re.compile(r"`((?:[\w.-]+/)+[\w.-]+\.(?:py|md|yaml|toml|lock))`")
# Paths of what the system writes (under MLOPS_HOME), of the shared data, and of Dagster's own code.
OUTSIDE = ("$MLOPS_HOME", ".mlops/", "lake/", "landing/", "reports/", "mlartifacts/", "feast/", "../", "dagster/")


def anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[^\w\s-]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {anchor(line.lstrip("#")) for line in page.read_text().splitlines() if line.startswith("#")}


def test_the_readme_is_a_front_page() -> None:
    assert len((REPO_ROOT / "README.md").read_text().splitlines()) <= 200


def test_the_anchor_of_a_heading_is_githubs() -> None:
    assert anchor(" Someone else's data: the Fraud Detection Handbook's protocol") == (
        "someone-elses-data-the-fraud-detection-handbooks-protocol"
    )


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_link_leads_to_a_page_and_heading_that_exist(page: Path) -> None:
    broken = []
    for target in LINK.findall(page.read_text()):
        if "://" in target:
            continue
        path, _, fragment = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists() or (fragment and linked.suffix == ".md" and fragment not in anchors(linked)):
            broken.append(target)
    assert not broken, f"{page.name}: broken links {broken}"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_repository_file_a_page_names_exists(page: Path) -> None:
    named = {path for path in NAMED_FILE.findall(page.read_text()) if not path.startswith(OUTSIDE)}
    # A path may be short for one in the package: `lib/data/storage.py` for `mlops_assets/lib/...`.
    missing = sorted(path for path in named if not any((root / path).exists() for root in ROOTS))
    assert not missing, f"{page.name} names files that do not exist: {missing}"
