"""Rate-limit API requests with a token bucket, per client."""
import doctest
import sys


class TokenBucket:
    """capacity tokens, refilled at `rate` per second; a request takes one.

    >>> b = TokenBucket(capacity=2, rate=1.0)
    >>> [b.allow(t) for t in (0.0, 0.1, 0.2, 1.2, 1.3)]
    [True, True, False, True, False]
    """

    def __init__(self, capacity, rate):
        self.capacity, self.rate = capacity, rate
        self.tokens, self.last = float(capacity), None

    def allow(self, now):
        if self.last is not None:
            self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


def replay(requests, capacity, rate):
    """Per client (allowed, rejected) over timestamped (time, client) requests.

    >>> replay([(0, "a"), (0, "a"), (0, "b"), (0.5, "a")], 1, 1.0)
    {'a': (1, 2), 'b': (1, 0)}
    """
    buckets, tally = {}, {}
    for now, client in sorted(requests):
        bucket = buckets.setdefault(client, TokenBucket(capacity, rate))
        ok, rejected = tally.get(client, (0, 0))
        tally[client] = (ok + 1, rejected) if bucket.allow(now) else (ok, rejected + 1)
    return dict(sorted(tally.items()))


def burst(client, start, count, gap):
    """count requests from client, gap seconds apart."""
    return [(round(start + i * gap, 3), client) for i in range(count)]


if __name__ == "__main__":
    if doctest.testmod().failed:
        sys.exit(1)
    traffic = (burst("mobile-app", 0, 40, 0.25) + burst("crawler", 1, 200, 0.02)
               + burst("dashboard", 0, 10, 1.0) + burst("crawler", 8, 20, 0.5))
    for capacity, rate in [(5, 2.0), (20, 2.0), (20, 10.0)]:
        print(f"bucket {capacity} tokens, {rate}/s")
        for client, (ok, rejected) in replay(traffic, capacity, rate).items():
            print(f"  {client:<11}{ok:>4} allowed {rejected:>4} rejected")
