"""Rate limiting: the token bucket in memory and in Redis; 429 with Retry-After through a route."""

from __future__ import annotations

import threading

import pytest

from hub.security.ratelimit import MemoryRateLimiter, RateLimited, RedisRateLimiter, enforce, make_rate_limiter


def test_memory_bucket_burst_and_refill():
    rl = MemoryRateLimiter(per_s=2.0, burst=3)
    assert [rl.take("a", now=100.0).allowed for _ in range(4)] == [True, True, True, False]
    d = rl.take("a", now=100.0)
    assert not d.allowed and d.retry_after_s == pytest.approx(0.5)
    assert rl.take("b", now=100.0).allowed  # per key
    assert rl.take("a", now=100.5).allowed  # one token back after 0.5 s
    assert not rl.take("a", now=100.5).allowed
    assert [rl.take("a", now=200.0).allowed for _ in range(4)] == [True, True, True, False]  # capped at burst


def test_memory_bucket_forgets_least_recent_keys():
    rl = MemoryRateLimiter(per_s=1.0, burst=1, max_keys=2)
    rl.take("a", now=0.0)
    rl.take("b", now=0.0)
    rl.take("c", now=0.0)
    assert rl.take("a", now=0.0).allowed  # "a" was forgotten, so it starts full


def test_memory_bucket_threads():
    rl = MemoryRateLimiter(per_s=0.001, burst=100)
    allowed = []

    def worker():
        for _ in range(50):
            allowed.append(rl.take("k").allowed)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(allowed) == 100


def test_enforce_raises_429_with_retry_after():
    rl = MemoryRateLimiter(per_s=0.5, burst=1)
    enforce(rl, "k")
    with pytest.raises(RateLimited) as info:
        enforce(rl, "k")
    assert info.value.status == 429 and info.value.code == "throttled"
    assert info.value.headers == {"Retry-After": "2"}
    enforce(None, "k")  # rate limiting off


def test_make_rate_limiter(settings):
    assert isinstance(make_rate_limiter(settings), MemoryRateLimiter)
    assert make_rate_limiter(settings.model_copy(update={"rate_limit_per_s": 0})) is None
    r = make_rate_limiter(settings.model_copy(update={"rate_limit_redis_url": "redis://127.0.0.1:1/0"}))
    assert isinstance(r, RedisRateLimiter)
    # Redis unreachable: let the request through (and warn), do not fail it.
    assert r.take("k").allowed
    r.close()


@pytest.mark.redis
def test_redis_bucket_shared_between_replicas(redis_url, redis_prefix):
    replica1 = RedisRateLimiter(redis_url, per_s=0.01, burst=5, prefix=redis_prefix)
    replica2 = RedisRateLimiter(redis_url, per_s=0.01, burst=5, prefix=redis_prefix)
    try:
        results = [(replica1 if i % 2 else replica2).take("client:his-a").allowed for i in range(8)]
        assert results == [True] * 5 + [False] * 3
        d = replica1.take("client:his-a")
        assert not d.allowed and 90 < d.retry_after_s <= 100  # a token every 100 s
        assert replica2.take("client:his-b").allowed  # per client
    finally:
        replica1.close()
        replica2.close()


@pytest.mark.redis
def test_redis_bucket_refills(redis_url, redis_prefix):
    import time

    rl = RedisRateLimiter(redis_url, per_s=20.0, burst=2, prefix=redis_prefix)
    try:
        assert [rl.take("k").allowed for _ in range(3)] == [True, True, False]
        time.sleep(0.12)  # 20/s: two tokens back after 0.1 s
        assert [rl.take("k").allowed for _ in range(3)] == [True, True, False]
    finally:
        rl.close()


@pytest.mark.redis
def test_redis_bucket_concurrent_is_exact(redis_url, redis_prefix):
    rl = RedisRateLimiter(redis_url, per_s=0.001, burst=40, prefix=redis_prefix)
    allowed = []

    def worker():
        for _ in range(25):
            allowed.append(rl.take("k").allowed)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rl.close()
    assert sum(allowed) == 40
