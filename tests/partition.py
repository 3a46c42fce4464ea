"""A network partition between the app and PostgreSQL, on real sockets.

``Partition`` is a TCP proxy in the test's event loop: the app connects to it
as to its database, and it forwards every byte both ways until ``cut()``.
From then on it forwards nothing and closes nothing: bytes either side sends
are read and dropped, and a new connection is accepted and never answered.
That is what a partitioned server looks like to a client: no refusal, no
reset, just silence. ``heal()`` forwards new connections again and closes the
ones that lived through the cut (after a real partition the server has long
dropped them, and their byte streams have holes).
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field

from sqlalchemy import make_url

CHUNK = 65536


@dataclass
class _Link:
    client: asyncio.StreamWriter
    server: asyncio.StreamWriter | None = None
    tasks: list["asyncio.Task[None]"] = field(default_factory=list)

    def close(self) -> None:
        # Never cancel a task asyncio.start_server made (Python 3.11 logs that
        # as an error): closing the sockets ends every task here.
        for task in self.tasks:
            task.cancel()
        for writer in (self.client, self.server):
            if writer is not None:
                writer.transport.abort()


@dataclass
class Partition:
    upstream_host: str
    upstream_port: int
    is_cut: bool = False
    links: list[_Link] = field(default_factory=list)
    dropped_bytes: int = 0
    _server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    def url_of(self, database_url: str) -> str:
        """``database_url`` with the proxy in the place of the server."""
        url = make_url(database_url).set(host="127.0.0.1", port=self.port)
        return url.render_as_string(hide_password=False)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)

    async def close(self) -> None:
        for link in self.links:
            link.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def cut(self) -> None:
        self.is_cut = True

    def heal(self) -> None:
        """Forward again; the connections that lived through the cut are closed."""
        for link in self.links:
            link.close()
        self.links = []
        self.is_cut = False

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link = _Link(client=writer)
        self.links.append(link)
        if self.is_cut:  # accepted (the kernel did that anyway), never answered
            await self._drain(reader)  # until heal() closes it
            return
        try:
            server_reader, link.server = await asyncio.open_connection(
                self.upstream_host, self.upstream_port
            )
        except OSError:
            link.close()
            return
        link.tasks += [
            asyncio.create_task(self._pipe(reader, link.server)),
            asyncio.create_task(self._pipe(server_reader, writer)),
        ]

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with suppress(OSError, asyncio.CancelledError):
            while data := await reader.read(CHUNK):
                if self.is_cut:
                    self.dropped_bytes += len(data)
                    continue
                writer.write(data)
                await writer.drain()
            if not self.is_cut:  # pass the end on, as a partition would not
                writer.close()

    async def _drain(self, reader: asyncio.StreamReader) -> None:
        with suppress(OSError, asyncio.CancelledError):
            while data := await reader.read(CHUNK):
                self.dropped_bytes += len(data)


@asynccontextmanager
async def partition_in_front_of(database_url: str) -> AsyncIterator[Partition]:
    url = make_url(database_url)
    proxy = Partition(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()
