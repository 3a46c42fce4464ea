"""Rate limits on what an attacker would repeat: passwords, logins, real-name
claims, app unlocks, recurring bookings.

The counting is the ``limits`` library's moving window. With
``ZHENDI_REDIS_URL`` set the counters live in Redis and every process and
replica shares them; otherwise each process keeps its own in memory (fine
for the single-process SQLite default). Over a limit is ``429 rate_limited``
with ``Retry-After``. Taking a place in a window is atomic (a Lua script in
Redis, a lock in memory): of N requests at once, at most the limit get one.

If Redis cannot be reached, requests are let through and a warning is
logged: a limiter outage must not become a login outage. The limits that
guard a secret's budget (the door keypads) live in the database instead.
"""

import logging
import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

from app.core.config import Settings
from app.core.errors import AppError, Text

logger = logging.getLogger("zhendi.ratelimit")


class RateLimited(AppError):
    status = 429
    code = "rate_limited"
    title = Text("请求过于频繁", "Too many requests")
    detail = Text("请于 {seconds} 秒后再试", "Try again in {seconds} seconds")

    def __init__(self, retry_after: int) -> None:
        super().__init__(seconds=retry_after)
        self.headers["Retry-After"] = str(retry_after)


@dataclass(frozen=True)
class Rule:
    """One named limit (possibly several windows: "10 per 15 minutes; 30 per day")."""

    name: str
    items: tuple[RateLimitItem, ...]

    @classmethod
    def of(cls, name: str, notation: str) -> "Rule":
        return cls(name, tuple(parse_many(notation)))


@dataclass(frozen=True)
class Rules:
    login_per_username: Rule
    login_per_ip: Rule
    login_per_device: Rule
    wechat_per_ip: Rule
    real_name_per_user: Rule
    unlock_per_user: Rule
    series_per_user: Rule

    @classmethod
    def of(cls, settings: Settings) -> "Rules":
        return cls(
            login_per_username=Rule.of("login-user", settings.rate_limit_login_per_username),
            login_per_ip=Rule.of("login-ip", settings.rate_limit_login_per_ip),
            login_per_device=Rule.of("login-device", settings.rate_limit_login_per_device),
            wechat_per_ip=Rule.of("wechat-ip", settings.rate_limit_wechat_per_ip),
            real_name_per_user=Rule.of("real-name", settings.rate_limit_real_name_per_user),
            unlock_per_user=Rule.of("unlock", settings.rate_limit_unlock_per_user),
            series_per_user=Rule.of("series", settings.rate_limit_series_per_user),
        )


class Limiter:
    def __init__(self, storage: Storage, rules: Rules) -> None:
        self._storage = storage
        self._strategy = MovingWindowRateLimiter(storage)
        self.rules = rules

    @classmethod
    def build(cls, settings: Settings) -> "Limiter":
        storage: Storage
        if settings.redis_url:
            uri = settings.redis_url.replace("redis://", "async+redis://", 1)
            storage = RedisStorage(
                uri,
                implementation="redispy",
                key_prefix=settings.redis_key_prefix,
                wrap_exceptions=True,
            )
        else:
            storage = MemoryStorage()
        return cls(storage, Rules.of(settings))

    async def hit(self, rule: Rule, key: str) -> None:
        """Count one request against ``rule`` for ``key``; 429 if over."""
        for item in rule.items:
            if not await self._guarded_hit(item, rule.name, key):
                raise RateLimited(await self._retry_after(item, rule.name, key))

    async def spend(self, *budgets: tuple[Rule, str]) -> None:
        """Take this attempt's place in every budget before the attempt is
        made; 429 if one is used up. Each place is taken atomically, so of N
        attempts at once at most the limit go ahead, in every process sharing
        the storage. Every budget is checked before any is counted, so that an
        attempt one budget refuses does not use up another's (but for attempts
        racing between the check and the count)."""
        for rule, key in budgets:
            await self.check(rule, key)
        for rule, key in budgets:
            await self.hit(rule, key)

    async def forget(self, rule: Rule, key: str) -> None:
        """Clear what ``key`` has used of ``rule``."""
        for item in rule.items:
            try:
                await self._strategy.clear(item, rule.name, key)
            except StorageError as exc:
                _warn(exc)

    async def check(self, rule: Rule, key: str) -> None:
        """429 if ``key`` has used up ``rule``, without counting this request."""
        for item in rule.items:
            try:
                allowed = await self._strategy.test(item, rule.name, key)
            except StorageError as exc:
                _warn(exc)
                continue
            if not allowed:
                raise RateLimited(await self._retry_after(item, rule.name, key))

    async def _guarded_hit(self, item: RateLimitItem, name: str, key: str) -> bool:
        try:
            return await self._strategy.hit(item, name, key)
        except StorageError as exc:
            _warn(exc)
            return True

    async def _retry_after(self, item: RateLimitItem, name: str, key: str) -> int:
        try:
            stats = await self._strategy.get_window_stats(item, name, key)
        except StorageError:
            return item.get_expiry()
        return max(1, math.ceil(stats.reset_time - time.time()))

    async def reset(self) -> None:
        """Forget every counter (tests; and staff after an incident)."""
        await self._storage.reset()


def _warn(exc: StorageError) -> None:
    logger.warning("rate limit storage unavailable, request allowed: %s", type(exc).__name__)
