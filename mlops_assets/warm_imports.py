"""Imported once by the local run launcher's forkserver, so that no run pays for it again (see
`mlops_assets/run_launcher.py`): the libraries of `LIBRARIES`, and Feast as the project imports
it. Nothing of the project's own code is imported here, so an edit of it takes effect at the
next run."""

import importlib

from mlops_assets.lib.featurize.feast_import import import_feast
from mlops_assets.run_launcher import LIBRARIES

for name in LIBRARIES:
    importlib.import_module(name)
import_feast()
