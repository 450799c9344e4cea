"""Evaluation plots as PNG bytes: precision-recall curves and the reliability diagram, each model
on the same axes so they compare at a glance."""

from __future__ import annotations

import io

import numpy as np

from mlops_assets.lib.quality.metrics import reliability


def evaluation_png(holdout: dict[str, tuple[np.ndarray, np.ndarray]]) -> bytes:
    """`holdout` maps a model name to (labels, scores) on the holdout."""
    import matplotlib

    matplotlib.use("Agg")  # no display here, and none needed
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve

    figure, (curves, calibration) = plt.subplots(1, 2, figsize=(11, 4.5))
    for name, (labels, scores) in holdout.items():
        precision, recall, _ = precision_recall_curve(labels, scores)
        curves.plot(recall, precision, label=name)
        table = reliability(labels, scores)
        calibration.plot(table["mean_score"], table["fraud_rate"], marker="o", label=name)
    curves.set(xlabel="recall", ylabel="precision", title="Precision-recall on the holdout", xlim=(0, 1), ylim=(0, 1))
    top = max(max(float(scores.max()), float(labels.mean()) * 2) for labels, scores in holdout.values())
    calibration.plot([0, top], [0, top], color="grey", linestyle="--", label="perfectly calibrated")
    calibration.set(
        xlabel="mean predicted P(fraud)", ylabel="observed fraud rate", title="Reliability (deciles of score)"
    )
    calibration.set_xscale("symlog", linthresh=0.01)
    calibration.set_yscale("symlog", linthresh=0.01)
    for axes in (curves, calibration):
        axes.legend(loc="best", fontsize="small")
        axes.grid(alpha=0.3)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    return buffer.getvalue()


def graph_png(edges: list[tuple[str, str]], highlight: str) -> bytes:
    """A directed graph drawn with `highlight` (the target) in the middle and its neighbours first
    around it, so the Markov blanket is easy to see."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import networkx as nx

    graph = nx.DiGraph(edges)
    graph.add_node(highlight)
    neighbours = sorted(set(graph.predecessors(highlight)) | set(graph.successors(highlight)))
    others = sorted(set(graph) - {highlight, *neighbours})
    shells = [[highlight], neighbours, others] if others else [[highlight], neighbours]
    layout = nx.shell_layout(graph, nlist=[shell for shell in shells if shell])
    figure, axes = plt.subplots(figsize=(10, 8))
    colors = ["#f4a261" if node == highlight else "#a8dadc" for node in graph]
    nx.draw_networkx(
        graph, layout, ax=axes, node_color=colors, node_size=2600, font_size=8, arrowsize=15, edge_color="#555555"
    )
    axes.set_axis_off()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    plt.close(figure)
    return buffer.getvalue()


def rollout_png(looks: list[tuple[str, float, float, float]], outcomes: dict[str, float], margin: float) -> bytes:
    """A rollout's evidence: the cost gap (challenger minus champion, per 1,000 transactions) at
    each daily look with its interval, against 0 and the promotion bar (`margin`, in the same
    units); beside it each variant's cost on the customers it answered."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (gaps, costs) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [2, 1]})
    days = [day for day, _, _, _ in looks]
    points = np.array([point for _, point, _, _ in looks])
    lows, highs = np.array([low for _, _, low, _ in looks]), np.array([high for _, _, _, high in looks])
    gaps.errorbar(days, points, yerr=[points - lows, highs - points], fmt="o", capsize=4, label="cost gap")
    gaps.axhline(0, color="grey", linestyle="--", label="equal")
    gaps.axhline(margin, color="#2a9d8f", linestyle=":", label="promoted below")
    gaps.set(title="Challenger minus champion, cost per 1,000 transactions", xlabel="day of the look")
    gaps.legend(loc="best", fontsize="small")
    costs.bar(list(outcomes), list(outcomes.values()), color=["#a8dadc", "#f4a261"][: len(outcomes)])
    costs.set(title="Cost per 1,000 on the customers each answered")
    for axes in (gaps, costs):
        axes.grid(alpha=0.3)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    plt.close(figure)
    return buffer.getvalue()
