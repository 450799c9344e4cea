"""Feast, imported the way every process of this project imports it: quickly and quietly.

This module imports nothing of the project, so the local run launcher can import it once in the
process its runs are forked from (`mlops_assets/run_launcher.py`) without holding back an edit
of the project's code.
"""

import contextlib
import logging
import warnings


def import_feast():
    """Feast, imported here, not at module import, without instrumenting its classes for run-time
    type checks (see `_typeguard_off`), and without its side effect on warnings: its modules call
    `simplefilter("once", DeprecationWarning)` at import, which would print every library's
    deprecations in every terminal."""
    with warnings.catch_warnings(), _typeguard_off():
        import feast
    # ibis (Feast's offline engine) warns of its own deprecated DuckDB call on every query.
    warnings.filterwarnings("ignore", message=".*fetch_arrow_table", category=DeprecationWarning)
    logging.getLogger("feast.repo_config").addFilter(_not_the_flag_warning)
    return feast


@contextlib.contextmanager
def _typeguard_off():
    """Feast decorates its classes with typeguard's `@typechecked`, which parses and recompiles
    the whole module once per method at import: about 6 of the 7 s `import feast` takes here, paid
    by every run and step that opens the store. While Feast imports, the decorator leaves its
    target as it is. What is lost is Feast checking the argument types of its constructors in this
    process; `feast apply` and `tests/lib/test_feature_store.py` still check the repository's
    definitions with the instrumentation on."""
    import typeguard

    instrumenting = typeguard.typechecked
    typeguard.typechecked = _as_written
    try:
        yield
    finally:
        typeguard.typechecked = instrumenting


def _as_written(target=None, **_options):
    """`@typechecked` and `@typechecked(...)` that return their target unchanged."""
    return _as_written if target is None else target


def _not_the_flag_warning(record: logging.LogRecord) -> bool:
    """Feast warns at each store opened that `serve_features_while_materializing` "typically has no
    effect" on a file registry. It does have one here: Feast's own state check reads the flag, and
    `tests/lib/test_feature_store.py` fails without it."""
    return "`serve_features_while_materializing` is enabled but `registry_type`" not in record.getMessage()
