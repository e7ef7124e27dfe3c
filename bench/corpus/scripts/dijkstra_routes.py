"""Shortest road distances between towns with Dijkstra's algorithm."""
import doctest
import heapq
import sys

ROADS = [("Avon", "Brook", 7), ("Avon", "Cliff", 9), ("Avon", "Fenn", 14),
         ("Brook", "Cliff", 10), ("Brook", "Dale", 15), ("Cliff", "Dale", 11),
         ("Cliff", "Fenn", 2), ("Dale", "Esk", 6), ("Esk", "Fenn", 9)]


def graph(edges):
    """Undirected adjacency lists.

    >>> graph([("a", "b", 1)])
    {'a': [('b', 1)], 'b': [('a', 1)]}
    """
    g = {}
    for a, b, w in edges:
        g.setdefault(a, []).append((b, w))
        g.setdefault(b, []).append((a, w))
    return g


def shortest(g, src, dst):
    """(distance, path) from src to dst.

    >>> shortest(graph([("a", "b", 1), ("b", "c", 1), ("a", "c", 5)]), "a", "c")
    (2, ['a', 'b', 'c'])
    """
    queue, seen = [(0, src, [src])], set()
    while queue:
        dist, node, path = heapq.heappop(queue)
        if node == dst:
            return dist, path
        if node in seen:
            continue
        seen.add(node)
        for nxt, w in g.get(node, []):
            if nxt not in seen:
                heapq.heappush(queue, (dist + w, nxt, path + [nxt]))
    return None


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    g = graph(ROADS)
    dist, path = shortest(g, "Avon", "Esk")
    print(f"Avon to Esk: {dist} km via {' -> '.join(path)}")
