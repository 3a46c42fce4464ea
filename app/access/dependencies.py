"""The access domain's dependencies, for any router that needs them."""

from typing import Annotated

from fastapi import Depends, Request

from app.access.codes import CodeBook
from app.access.locks import CommandKeys, LockAdapter


async def get_codebook(request: Request) -> CodeBook:
    codes: CodeBook = request.app.state.codebook
    return codes


async def get_locks(request: Request) -> LockAdapter:
    locks: LockAdapter = request.app.state.locks
    return locks


async def get_command_keys(request: Request) -> CommandKeys:
    keys: CommandKeys = request.app.state.command_keys
    return keys


CodeBookDep = Annotated[CodeBook, Depends(get_codebook)]
LocksDep = Annotated[LockAdapter, Depends(get_locks)]
CommandKeysDep = Annotated[CommandKeys, Depends(get_command_keys)]
