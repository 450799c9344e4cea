"""Comparing and drawing directed graphs: how far a learned network is from the truth."""

from collections.abc import Iterable

Edge = tuple[str, str]


def structural_hamming_distance(learned: Iterable[Edge], truth: Iterable[Edge], nodes: Iterable[str]) -> int:
    """Edge additions, deletions and reversals that turn `learned` into `truth`, counting only
    edges between `nodes` (the variables both graphs share). A reversed edge counts once."""
    shared = set(nodes)
    learned_edges = {(a, b) for a, b in learned if a in shared and b in shared}
    true_edges = {(a, b) for a, b in truth if a in shared and b in shared}

    def between(pair: frozenset[str], edges: set[Edge]) -> set[Edge]:
        return {edge for edge in edges if set(edge) == pair}

    pairs = {frozenset(edge) for edge in learned_edges | true_edges}
    return sum(between(pair, learned_edges) != between(pair, true_edges) for pair in pairs)


def mermaid(edges: Iterable[Edge], highlight: str | None = None) -> str:
    """A Mermaid flowchart of the graph, as Markdown (GitHub draws it; Dagster shows the text)."""
    lines = ["```mermaid", "graph LR"]
    lines += [f"  {a} --> {b}" for a, b in sorted(edges)]
    if highlight:
        lines.append(f"  style {highlight} stroke-width:3px")
    return "\n".join([*lines, "```"])
