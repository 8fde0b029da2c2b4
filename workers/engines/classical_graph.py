"""Graph algorithms of the classical engine, on superpixel and pixel graphs: a binary
min-cut by scipy's max-flow, multi-source geodesic distances by Dijkstra, and
connectivity clean-up."""

from __future__ import annotations

import cv2
import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import breadth_first_order, connected_components, dijkstra, maximum_flow


def geodesic_distance(graph: sp.csr_matrix, sources: dict[int, float]) -> np.ndarray | None:
    """Geodesic distance from the nearest source, each source starting at its offset
    (a virtual root node linked to every source by an edge of that length)."""
    if not sources:
        return None
    n = graph.shape[0]
    ids = np.fromiter(sources.keys(), dtype=np.int64)
    offs = np.fromiter(sources.values(), dtype=np.float64)
    coo = graph.tocoo()
    # scipy's csgraph treats explicit zeros of a sparse matrix as edges: offset 0 works.
    rows = np.concatenate([coo.row, np.full(len(ids), n)])
    cols = np.concatenate([coo.col, ids])
    data = np.concatenate([coo.data, offs])
    full = sp.csr_matrix((data, (rows, cols)), shape=(n + 1, n + 1))
    dist = dijkstra(full, directed=True, indices=n)
    return np.asarray(dist[:n])


def min_cut(
    n: int,
    edges: np.ndarray,
    pair: np.ndarray,
    unary: np.ndarray,
    hard_fg: np.ndarray,
    hard_bg: np.ndarray,
) -> np.ndarray:
    """Minimise sum(unary-disagreement) + sum(pair over cut edges) by max-flow.

    ``unary[i] > 0`` is the cost of labelling ``i`` background, ``< 0`` that of
    foreground. Returns ``(n,) bool`` foreground."""
    src, snk = n, n + 1
    to_src = np.maximum(unary, 0.0)
    to_snk = np.maximum(-unary, 0.0)
    finite = to_src.sum() + to_snk.sum() + 2 * pair.sum()
    # scipy's max-flow wants integer capacities: scale so the total fits in int32.
    scale = 1e9 / max(finite, 1e-9)
    hard = 2_000_000_000
    cap_src = np.round(to_src * scale).astype(np.int64)
    cap_snk = np.round(to_snk * scale).astype(np.int64)
    cap_src[hard_fg] = hard
    cap_snk[hard_fg] = 0
    cap_snk[hard_bg] = hard
    cap_src[hard_bg] = 0
    cap_pair = np.maximum(np.round(pair * scale), 0).astype(np.int64)
    nodes = np.arange(n)
    rows = np.concatenate([edges[:, 0], edges[:, 1], np.full(n, src), nodes])
    cols = np.concatenate([edges[:, 1], edges[:, 0], nodes, np.full(n, snk)])
    data = np.concatenate([cap_pair, cap_pair, cap_src, cap_snk])
    keep = data > 0
    graph = sp.csr_matrix(
        (data[keep].astype(np.int32), (rows[keep], cols[keep])), shape=(n + 2, n + 2)
    )
    flow = maximum_flow(graph, src, snk).flow
    residual = (graph - flow).tocsr()
    residual.data = (residual.data > 0).astype(np.int8)
    residual.eliminate_zeros()
    reached = breadth_first_order(residual, src, directed=True, return_predecessors=False)
    fg = np.zeros(n + 2, dtype=bool)
    fg[reached] = True
    return fg[:n]


def keep_connected(fg: np.ndarray, edges: np.ndarray, hard_fg: np.ndarray) -> np.ndarray:
    """Drop foreground components that touch no positive seed (or, without positive
    seeds, all but the largest)."""
    if not fg.any():
        return fg
    n = fg.shape[0]
    both = fg[edges[:, 0]] & fg[edges[:, 1]]
    e = edges[both]
    adj = sp.csr_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
    _, comp = connected_components(adj, directed=False)
    if hard_fg.any():
        keep_ids = np.unique(comp[hard_fg & fg])
        return fg & np.isin(comp, keep_ids)
    counts = np.bincount(comp[fg])
    return fg & (comp == int(np.argmax(counts)))


def keep_connected_pixels(
    mask: np.ndarray, pixel_seeds: list[tuple[np.ndarray, np.ndarray, bool]]
) -> np.ndarray:
    """Pixel-level version of :func:`keep_connected` (8-connectivity)."""
    pos = [(r, c) for r, c, positive in pixel_seeds if positive]
    if not mask.any() or not pos:
        return mask
    n_comp, comp = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    keep = np.zeros(n_comp, dtype=bool)
    for r, c in pos:
        keep[comp[r, c]] = True
    keep[0] = False
    if not keep.any():
        return mask
    return keep[comp]
