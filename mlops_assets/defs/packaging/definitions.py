"""Packaging as Dagster sees it: the champion as a Bento."""

import dagster as dg

from mlops_assets.defs.packaging.assets import bento


def definitions() -> dg.Definitions:
    return dg.Definitions(assets=[bento])
