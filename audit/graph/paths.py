"""All-pairs "detour" paths: the least total friction from every platform to every other,
and the fewest hops among the least-friction paths (a lexicographic shortest path). Pure.

Dijkstra from every source in Python would take minutes on an audit of a few thousand
platforms. Friction weights are small integers (0, 1, 2; infinite edges are not edges), so
the whole computation is a Bellman-Ford by hop count done on dense matrices: after h
rounds, B[s, t] is the least friction of a walk of at most h hops. One round is a min-plus
product, computed as ONE floating-point matrix product by encoding friction f as beta**-f:

    (X @ A)[s, t] = sum_u beta**-(B[s, u] + w(u, t))

The largest term is beta**-min, and at most n terms add up, so with beta > n the sum stays
below beta**(1 - min) and min = ceil(-log_beta(sum)) exactly. The hop count of a pair is the
round in which its friction last improved. Rounds stop when nothing improves (the longest
least-friction path, plus one). float64 keeps beta**-f representable while n * f stays
under ~1000 bits; sources whose frictions get near that limit are redone with a plain
Dijkstra (never needed in practice: path frictions are small).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

UNREACHABLE = np.iinfo(np.int32).max
_MIN_EXP = -1000  # float64 normal numbers reach 2**-1022; keep a margin


@dataclass
class AllPairs:
    """friction[s, t] (UNREACHABLE if no finite path) and hops[s, t] (-1 if none), indexed
    like `nodes`."""

    nodes: list[str]
    friction: npt.NDArray[np.int32]
    hops: npt.NDArray[np.int32]

    def path(self, source: str, target: str, edges: dict[tuple[str, str], int],
             incoming: dict[int, list[tuple[int, int]]] | None = None) -> list[str] | None:
        """One least-friction, fewest-hops path, rebuilt backwards from the labels: a
        predecessor u of t satisfies f(s,u) + w(u,t) = f(s,t) and h(s,u) + 1 = h(s,t).
        Pass `incoming` (from `incoming_index`) when asking for many paths."""
        index = {n: i for i, n in enumerate(self.nodes)}
        s, t = index[source], index[target]
        if self.friction[s, t] == UNREACHABLE:
            return None
        if incoming is None:
            incoming = self.incoming_index(edges)
        path = [t]
        while path[-1] != s:
            here = path[-1]
            for before, w in incoming.get(here, []):
                if (self.hops[s, before] == self.hops[s, here] - 1
                        and self.friction[s, before] != UNREACHABLE
                        and self.friction[s, before] + w == self.friction[s, here]):
                    path.append(before)
                    break
            else:  # pragma: no cover - labels are consistent by construction
                return None
        return [self.nodes[i] for i in reversed(path)]

    def incoming_index(self, edges: dict[tuple[str, str], int]
                       ) -> dict[int, list[tuple[int, int]]]:
        index = {n: i for i, n in enumerate(self.nodes)}
        incoming: dict[int, list[tuple[int, int]]] = {}
        for (a, b), w in edges.items():
            incoming.setdefault(index[b], []).append((index[a], w))
        return incoming


def all_pairs(nodes: Sequence[str], edges: dict[tuple[str, str], int]) -> AllPairs:
    """Lexicographic (friction, hops) shortest paths between all pairs of `nodes` over
    `edges` ((source, target) -> non-negative integer friction; leave out infinite ones)."""
    names = list(nodes)
    n = len(names)
    index = {name: i for i, name in enumerate(names)}
    friction = np.full((n, n), UNREACHABLE, dtype=np.int32)
    hops = np.full((n, n), -1, dtype=np.int32)
    np.fill_diagonal(friction, 0)
    np.fill_diagonal(hops, 0)
    if n == 0 or not edges:
        return AllPairs(names, friction, hops)
    bits = max(n.bit_length(), 1)  # beta = 2**bits > n
    limit = max(-_MIN_EXP // bits - 1, 1)  # the largest friction beta**-f can encode
    src = np.fromiter((index[u] for u, _ in edges), dtype=np.int64, count=len(edges))
    dst = np.fromiter((index[v] for _, v in edges), dtype=np.int64, count=len(edges))
    weight = np.fromiter(edges.values(), dtype=np.int64, count=len(edges))
    if (weight < 0).any():
        raise ValueError("frictions must be non-negative")
    usable = weight <= limit
    matrix = np.zeros((n, n))
    matrix[src[usable], dst[usable]] = np.exp2(-bits * weight[usable].astype(np.float64))
    frontier = np.zeros((n, n))
    np.fill_diagonal(frontier, 1.0)
    # Every round works in these buffers, in place: at a few thousand platforms a matrix is
    # tens of megabytes, and the expressions' temporaries were most of the metrics' peak.
    product = np.empty((n, n))
    candidate = np.empty((n, n), dtype=np.int32)
    rounds = 0
    while True:
        rounds += 1
        np.matmul(frontier, matrix, out=product)
        reached = product > 0
        # min = ceil(-log_beta(sum)), i.e. ceil(-log2(sum) / bits - 1e-9) as the docstring
        # derives it, in the same floating-point steps.
        np.log2(product, out=product, where=reached)
        np.negative(product, out=product)
        np.divide(product, bits, out=product)
        np.subtract(product, 1e-9, out=product)
        np.ceil(product, out=product)
        candidate.fill(UNREACHABLE)
        np.copyto(candidate, product, casting="unsafe", where=reached)
        better = candidate < friction
        if not better.any() or rounds > n:
            break
        friction[better] = candidate[better]
        hops[better] = rounds
        # Only pairs that improved can improve others next round; the rest were propagated.
        improved = better & (friction <= limit)
        np.multiply(friction, float(-bits), out=product)
        frontier.fill(0.0)
        np.exp2(product, out=frontier, where=improved)
    # A sum that would leave float64's range was lost: redo those sources exactly.
    heaviest = int(weight.max())
    if heaviest > limit:
        rows = list(range(n))
    else:
        overflow = (friction != UNREACHABLE) & (friction > limit - heaviest)
        rows = np.nonzero(overflow.any(axis=1))[0].tolist()
    if rows:
        adjacency: list[list[tuple[int, int]]] = [[] for _ in range(n)]
        for u, v, w in zip(src.tolist(), dst.tolist(), weight.tolist(), strict=True):
            adjacency[u].append((v, w))
        for s in rows:
            friction[s], hops[s] = _dijkstra(s, adjacency, n)
    return AllPairs(names, friction, hops)


def _dijkstra(source: int, adjacency: list[list[tuple[int, int]]],
              n: int) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]]:
    """Lexicographic (friction, hops) Dijkstra from one source: the exact fallback."""
    best: dict[int, tuple[int, int]] = {source: (0, 0)}
    heap = [(0, 0, source)]
    done: set[int] = set()
    while heap:
        f, h, u = heapq.heappop(heap)
        if u in done:
            continue
        done.add(u)
        for v, w in adjacency[u]:
            label = (f + w, h + 1)
            if v not in done and (v not in best or label < best[v]):
                best[v] = label
                heapq.heappush(heap, (label[0], label[1], v))
    f_row = np.full(n, UNREACHABLE, dtype=np.int32)
    h_row = np.full(n, -1, dtype=np.int32)
    for v, (f, h) in best.items():
        f_row[v], h_row[v] = min(f, UNREACHABLE - 1), h
    return f_row, h_row
