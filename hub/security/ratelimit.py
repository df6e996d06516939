"""Rate limiting per client: a token bucket of ``burst`` requests refilled at ``per_s`` requests a second.

In one process the buckets live in memory. Production runs several API replicas, so with
``rate_limit_redis_url`` set the buckets live in Redis and one Lua script takes a token atomically, on the
Redis server's clock (replicas' clocks may differ). If Redis cannot be reached the request is let through and
a warning logged (once a minute): rate limiting protects the hub, it must not take it down.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

import redis

from hub.config import Settings
from hub.errors import TooManyRequests

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    retry_after_s: float  # how long until a token is available (0 when allowed)


class RateLimited(TooManyRequests):
    """429 with ``Retry-After`` (whole seconds, at least 1)."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__("too many requests from this client; retry later")
        self.retry_after = max(1, math.ceil(retry_after_s))
        self.headers = {"Retry-After": str(self.retry_after)}


class RateLimiter(Protocol):
    def take(self, key: str, cost: float = 1.0) -> Decision: ...


class MemoryRateLimiter:
    """Token buckets in this process (thread-safe; the least recently used buckets are forgotten)."""

    def __init__(self, per_s: float, burst: int, *, max_keys: int = 100_000) -> None:
        if per_s <= 0 or burst <= 0:
            raise ValueError("a rate limiter needs per_s > 0 and burst > 0")
        self.per_s = per_s
        self.burst = float(burst)
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str, cost: float = 1.0, *, now: float | None = None) -> Decision:
        t = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.pop(key, (self.burst, t))
            tokens = min(self.burst, tokens + max(0.0, t - last) * self.per_s)
            if tokens >= cost:
                decision = Decision(True, 0.0)
                tokens -= cost
            else:
                decision = Decision(False, (cost - tokens) / self.per_s)
            self._buckets[key] = (tokens, t)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        return decision


# KEYS[1] bucket; ARGV: per_s, burst, cost. Returns {allowed (0|1), retry_after_s as a string}.
_TAKE = """
local per_s = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
tokens = math.min(burst, tokens + math.max(0, now - ts) * per_s)
local allowed = 0
local retry = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  retry = (cost - tokens) / per_s
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / per_s * 1000) + 1000)
return {allowed, tostring(retry)}
"""


class RedisRateLimiter:
    """Token buckets in Redis, shared by every API replica."""

    def __init__(self, url: str, per_s: float, burst: int, *, prefix: str = "hub:ratelimit:") -> None:
        if per_s <= 0 or burst <= 0:
            raise ValueError("a rate limiter needs per_s > 0 and burst > 0")
        self.per_s = per_s
        self.burst = burst
        self.prefix = prefix
        self._client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._script = self._client.register_script(_TAKE)
        self._last_warning = 0.0

    def take(self, key: str, cost: float = 1.0) -> Decision:
        try:
            allowed, retry = self._script(keys=[self.prefix + key], args=[self.per_s, self.burst, cost])
        except redis.RedisError:
            now = time.monotonic()
            if now - self._last_warning > 60:
                self._last_warning = now
                log.warning("rate limiter: Redis unavailable, requests are not limited")
            return Decision(True, 0.0)
        return Decision(bool(int(allowed)), float(retry))

    def close(self) -> None:
        self._client.close()


def make_rate_limiter(settings: Settings) -> RateLimiter | None:
    """The limiter the settings ask for: Redis-backed, in-process, or None (``rate_limit_per_s = 0``)."""
    if settings.rate_limit_per_s <= 0:
        return None
    if settings.rate_limit_redis_url:
        return RedisRateLimiter(settings.rate_limit_redis_url, settings.rate_limit_per_s, settings.rate_limit_burst)
    return MemoryRateLimiter(settings.rate_limit_per_s, settings.rate_limit_burst)


def enforce(limiter: RateLimiter | None, key: str) -> None:
    """Take one token for ``key``; raise :class:`RateLimited` (429, ``Retry-After``) if there is none."""
    if limiter is None:
        return
    decision = limiter.take(key)
    if not decision.allowed:
        raise RateLimited(decision.retry_after_s)
