"""Comparing and drawing directed graphs: how far a learned network is from the truth."""

import json
from collections.abc import Iterable
from pathlib import Path

Edge = tuple[str, str]


def read_graph(path: str | Path) -> tuple[list[str], list[Edge]]:
    """The nodes and edges of a graph stored as JSON, `{"nodes": [...], "edges": [[parent, child], ...]}`
    (the shape `mlops generate --truth` prints); a clear error names what is wrong with the file."""
    try:
        graph = json.loads(Path(path).read_text())
        nodes = [str(node) for node in graph["nodes"]]
        edges = [(str(parent), str(child)) for parent, child in graph["edges"]]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path} is not a graph as JSON with nodes and [parent, child] edges: {error!r}") from error
    if unknown := sorted({node for edge in edges for node in edge} - set(nodes)):
        raise ValueError(f"{path}: edges name nodes the graph does not list: {', '.join(unknown)}")
    return nodes, edges


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
