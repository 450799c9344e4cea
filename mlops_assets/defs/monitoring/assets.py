"""`drift_report`: each day (or a trailing window) against the champion's reference, four ways:
the inputs (Evidently's statistics), the champion's scores, the Bayesian network's conditionals,
and performance where labels exist; a verdict from `lib.drift.DriftPolicy`. Beside them, not in
the verdict: how a challenger scored the window's live traffic in the shadow (`shadow_scores`).
`drift_report_html`: Evidently's HTML report of the same window, rendered after the verdict."""

import tempfile
from pathlib import Path

import dagster as dg
import pandas as pd
from pydantic import Field

from mlops_assets.defs.features.assets import point_in_time_inputs
from mlops_assets.defs.partitions import DAILY
from mlops_assets.keys import CUSTOMER_FEATURES, MERCHANT_FEATURES, VALIDATED_TRANSACTIONS, drift_report_record
from mlops_assets.lib.featurize import features
from mlops_assets.lib.modelling.registry import CHAMPION
from mlops_assets.lib.quality.drift import (
    HTML_MAX_ROWS,
    DriftPolicy,
    drift_html,
    input_drift,
    network_drift,
    psi,
    recovery_level,
)
from mlops_assets.lib.quality.metrics import pr_auc_upper_bound, recall_at_fpr
from mlops_assets.lib.quality.shadow import compare, scores_between
from mlops_assets.resources.feature_store import FeastResource
from mlops_assets.resources.lake import LakeResource, ReportsResource
from mlops_assets.resources.model_registry import ModelRegistryResource


class DriftConfig(DriftPolicy, dg.Config):
    """The drift policy (`lib.quality.drift.DriftPolicy`) and the window it judges."""

    window_days: int = Field(default=2, description="Trailing days compared, ending with the partition's day.")
    max_fpr: float = Field(default=0.01, description="False-positive rate of the recall compared with evaluation.")


@dg.asset(
    partitions_def=DAILY,
    deps=[VALIDATED_TRANSACTIONS, CUSTOMER_FEATURES, MERCHANT_FEATURES],
    group_name="monitoring",
    kinds={"evidently", "mlflow"},
    io_manager_key="record_io_manager",
)
def drift_report(
    context: dg.AssetExecutionContext,
    config: DriftConfig,
    model_registry: ModelRegistryResource,
    feast: FeastResource,
    lake: LakeResource,
    reports: ReportsResource,
) -> dg.Output[dict]:
    """How far the day's window moved from the champion's training data, and the verdict."""
    registry = model_registry.registry()
    champion = registry.alias(CHAMPION)
    if champion is None:
        raise dg.Failure("no champion yet: run retrain_job first, there is nothing to compare with")
    day = context.partition_key
    table = lake.lake()
    first = (pd.Timestamp(day) - pd.Timedelta(days=config.window_days - 1)).strftime("%Y-%m-%d")
    days, transactions = _validated_between(table, first, day)
    inputs = point_in_time_inputs(context, feast, transactions)
    model, reference = registry.load_with_reference(champion.version)

    monitored = features.drift_monitored(model.inputs)
    inputs_table = input_drift(reference[monitored], inputs[monitored], config)
    html = reports.location(_html_path(day))  # `drift_report_html` renders it just after
    scores = model.predict_proba(inputs)
    prediction_psi = psi(model.predict_proba(reference), scores)

    labelled = transactions["is_fraud"].notna().to_numpy()
    labels = transactions.loc[labelled, "is_fraud"].astype("int64").reset_index(drop=True)
    enough_labels = labels.sum() >= config.min_labelled_frauds and labels.nunique() == 2
    fraud_divergence = pr_auc = pr_auc_upper = recall = pr_auc_drop = recovery = None
    pre_drift = recovery_level(champion.tags, day, config)
    network_table = None
    if enough_labels:
        from sklearn.metrics import average_precision_score

        pr_auc = float(average_precision_score(labels, scores[labelled]))
        pr_auc_upper = pr_auc_upper_bound(labels.to_numpy(), scores[labelled])
        recall = recall_at_fpr(labels.to_numpy(), scores[labelled], config.max_fpr)
        baseline = float(champion.tags["pr_auc"])
        # What the window shows for sure: the fall from the baseline to the interval's upper end.
        pr_auc_drop = (baseline - pr_auc_upper) / baseline
        recovery = None if pre_drift is None else (pr_auc, pre_drift)
        companion = registry.companion_network(champion)
        if companion is not None:
            network = registry.load(companion.version)
            states = network.discretizer.transform(inputs[labelled].reset_index(drop=True), labels)
            network_table = network_drift(network.network, states)
            fraud_divergence = float(network_table["fraud_js"].dropna().mean())
    shadow = [p for p in compare(scores_between(table, first, day)) if p["champion_version"] == champion.version]
    verdict, reasons = config.verdict(inputs_table, prediction_psi, fraud_divergence, pr_auc_drop, recovery)
    context.log.info(f"drift {day}: {verdict}" + (f" ({'; '.join(reasons)})" if reasons else ""))
    record = {
        "day": day,
        "window": f"{days[0]}..{day}",
        "verdict": verdict,
        "reasons": reasons,
        "champion_version": champion.version,
        "rows": len(inputs),
        "labelled_rows": int(labelled.sum()),
        "shifted_inputs": sorted(inputs_table.index[inputs_table["shifted"]]),
        "shift_thresholds": {"psi_shift": config.psi_shift, "wasserstein_shift": config.wasserstein_shift},
        "prediction_psi": prediction_psi,
        "fraud_divergence": fraud_divergence,
        "pr_auc": pr_auc,
        "pr_auc_upper": pr_auc_upper,
        "pr_auc_baseline": float(champion.tags["pr_auc"]),
        "recall_at_fpr": recall,
        "pr_auc_drop": pr_auc_drop,
        "pre_drift_pr_auc": pre_drift,
        "shadow": shadow,
        "report": str(html),
        # Per monitored input and per network node, for the metrics exporter and dashboards.
        "inputs": _by_row(inputs_table[["method", "value", "threshold", "shifted"]]),
        "network": _by_row(network_table[["legitimate_js", "fraud_js"]]) if network_table is not None else {},
    }
    metadata = {
        "verdict": verdict,
        "reasons": dg.MetadataValue.md("\n".join(f"- {reason}" for reason in reasons) or "nothing moved"),
        "champion_version": champion.version,
        "window": record["window"],
        "rows": len(inputs),
        "prediction_psi": round(prediction_psi, 4),
        "inputs": dg.MetadataValue.md(inputs_table.round(4).to_markdown()),
        "report": dg.MetadataValue.path(str(html)),
        "report_url": dg.MetadataValue.url(html if "://" in html else Path(html).as_uri()),
    }
    if enough_labels:
        metadata.update(
            pr_auc=round(pr_auc, 4),
            pr_auc_upper=round(pr_auc_upper, 4),
            pr_auc_baseline=round(baseline, 4),
            recall_at_fpr=round(recall, 4),
            pr_auc_drop=round(pr_auc_drop, 4),
        )
    else:
        metadata["labels"] = f"fewer than {config.min_labelled_frauds} labelled frauds: no label-based verdict"
    if pre_drift is not None:
        metadata["pre_drift_pr_auc"] = round(pre_drift, 4)
    if network_table is not None:
        metadata["fraud_divergence"] = round(fraud_divergence, 4)
        metadata["network"] = dg.MetadataValue.md(network_table.round(4).to_markdown())
    if shadow:
        metadata["shadow"] = dg.MetadataValue.md(
            pd.DataFrame(shadow).set_index("challenger_version").round(4).T.to_markdown()
        )
    return dg.Output(record, metadata=metadata)


def _by_row(table: pd.DataFrame) -> dict[str, dict]:
    """`table` as {index: {column: value}} for a JSON record, NaN as null."""
    plain = table.astype(object).where(table.notna(), None)
    return {
        str(name): {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
        for name, row in plain.iterrows()
    }


def _validated_between(table, first: str, day: str) -> tuple[list[str], pd.DataFrame]:
    """The validated days from `first` to `day` (which must be one), and their transactions."""
    days = [d for d in table.partitions(VALIDATED_TRANSACTIONS) if first <= d <= day]
    if day not in days:
        raise dg.Failure(f"no validated transactions on {day}: ingest the day first")
    return days, pd.concat([table.read(VALIDATED_TRANSACTIONS, d) for d in days], ignore_index=True)


def _html_path(day: str) -> str:
    return f"drift/{day}.html"


@dg.asset(
    partitions_def=DAILY,
    deps=[drift_report],
    group_name="monitoring",
    kinds={"evidently"},
)
def drift_report_html(
    context: dg.AssetExecutionContext,
    model_registry: ModelRegistryResource,
    feast: FeastResource,
    lake: LakeResource,
    reports: ReportsResource,
) -> dg.MaterializeResult:
    """Evidently's data drift report of the day's `drift_report` (its window and shift thresholds,
    against the same champion's training data), as HTML: the statistics the verdict read, shown
    on at most `HTML_MAX_ROWS` of the window's rows (a seeded sample of a larger window). A step of
    its own, after the verdict, so that no decision waits for Evidently (20 s)."""
    day = context.partition_key
    table = lake.lake()
    verdict = table.read_record(drift_report_record(day))
    first, _ = verdict["window"].split("..")
    _, transactions = _validated_between(table, first, day)
    inputs = point_in_time_inputs(context, feast, transactions)
    model, reference = model_registry.registry().load_with_reference(verdict["champion_version"])
    monitored = features.drift_monitored(model.inputs)
    policy = DriftPolicy(**verdict.get("shift_thresholds", {}))  # a report of before they were kept: defaults
    with tempfile.TemporaryDirectory() as folder:  # Evidently saves to a local file
        report = Path(folder) / "drift.html"
        drift_html(reference[monitored], inputs[monitored], policy, str(report))
        html = reports.write(_html_path(day), report.read_bytes())
    return dg.MaterializeResult(
        metadata={
            "champion_version": verdict["champion_version"],
            "window_rows": len(inputs),
            "rows_in_report": min(len(inputs), HTML_MAX_ROWS),
            "report": dg.MetadataValue.path(html),
            "report_url": dg.MetadataValue.url(html if "://" in html else Path(html).as_uri()),
        }
    )
