"""Where uploaded bytes live, behind one interface: ``Storage``.

``DiskStorage`` keeps each file under ``ZHENDI_UPLOAD_DIR``, named by its
random key. An S3-compatible store would implement the same three methods;
none ships, since no S3 client is among the dependencies.
"""

import asyncio
import os
from pathlib import Path
from typing import Protocol

from app.core.config import Settings


class Storage(Protocol):
    async def put(self, key: str, data: bytes) -> None: ...

    async def get(self, key: str) -> bytes | None: ...

    async def delete(self, key: str) -> None: ...


class DiskStorage:
    """Files in one directory; a key is a random hex name, never a path."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, key: str) -> Path:
        if not key.isalnum():
            raise ValueError("a storage key is letters and digits only")
        return self.directory / key

    def _write(self, key: str, data: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        partial = self._path(key).with_suffix(".part")
        partial.write_bytes(data)
        os.replace(partial, self._path(key))

    def _read(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    async def put(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self._write, key, data)

    async def get(self, key: str) -> bytes | None:
        return await asyncio.to_thread(self._read, key)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, missing_ok=True)


def storage_for(settings: Settings) -> Storage:
    return DiskStorage(settings.upload_dir)
