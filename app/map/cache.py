"""A few seconds' memory of the map's answers, in the process.

Every open map polls ``GET /map``, and most of them show the same few boxes
(a district, a street) at once: each answer is kept for
``ZHENDI_MAP_CACHE_SECONDS`` under its normalized query (``MapQuery``), and
the requests that arrive while it is being computed wait for that one
computation instead of starting their own. The store is cachetools'
``TTLCache``: bounded (least recently used entries go first) and expiring by
the monotonic clock. Each app has its own (``app.state.map_cache``), so each
test starts empty; ``clear()`` forgets every answer.
"""

import asyncio
from collections.abc import Awaitable, Callable, Hashable

from cachetools import TTLCache

# Distinct queries kept at once: a box, its filters. A few hundred maps of a
# district pan over far fewer boxes than this.
MAX_ANSWERS = 1024


class MapCache:
    def __init__(self, seconds: int, max_answers: int = MAX_ANSWERS) -> None:
        self.seconds = seconds
        self._answers: TTLCache[Hashable, bytes] = TTLCache(max_answers, ttl=max(seconds, 1))
        self._pending: dict[Hashable, asyncio.Future[bytes]] = {}

    async def get(self, key: Hashable, compute: Callable[[], Awaitable[bytes]]) -> bytes:
        """The answer kept for ``key``, or the one being computed, or a new one."""
        if self.seconds == 0:
            return await compute()
        found = self._answers.get(key)
        if found is not None:
            return found
        pending = self._pending.get(key)
        if pending is None:
            pending = asyncio.ensure_future(compute())
            self._pending[key] = pending
            pending.add_done_callback(lambda done: self._settle(key, done))
        # A caller that goes away does not cancel the others' computation.
        return await asyncio.shield(pending)

    def _settle(self, key: Hashable, done: asyncio.Future[bytes]) -> None:
        if self._pending.get(key) is done:
            del self._pending[key]
        if not done.cancelled() and done.exception() is None:
            self._answers[key] = done.result()

    def clear(self) -> None:
        self._answers.clear()
