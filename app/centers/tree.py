"""The network as one tree: each center's optional parent, one level up.

A district hub's children are street centers, theirs grid stations, theirs
residential stations and posts (``CenterKind.rank``). A parent's kind ranks
strictly above its child's, so kinds never go upward and the links cannot
form a cycle (a cycle would need a kind to rank above itself); the walk up
from the parent is checked too, so a cycle is refused by name. Refusals are
``422 invalid_parent``.
"""

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import AppError, NotFound, Text
from app.models import Center, CenterKind, ancestor_ids


class InvalidParent(AppError):
    status = 422
    code = "invalid_parent"
    title = Text("上级阵地无效", "Invalid parent")


NO_SUCH_PARENT = Text("上级阵地不存在", "No such parent center")
UPWARD = Text(
    "上级阵地的层级须高于本阵地（区级中心 > 街镇中心 > 片区站 > 居民区站 > 驿站）",
    "A parent's kind must rank above its child's"
    " (district hub > street center > grid station > residential station > post)",
)
CYCLE = Text("上级阵地不能是本阵地或其下级", "A center cannot sit below itself")
CHILD_ABOVE = Text(
    "本阵地的下级阵地层级须低于它",
    "The center's children must rank below its kind",
)


def _refuse(reason: Text) -> InvalidParent:
    return InvalidParent(reason)


async def check_parent(
    session: AsyncSession, *, center_id: int | None, kind: CenterKind, parent_id: int
) -> Center:
    """The parent a center (``center_id``; None while being created) of ``kind``
    may have, locked against a concurrent change of its kind."""
    parent = await session.scalar(
        select(Center).where(Center.id == parent_id).with_for_update(read=True)
    )
    if parent is None:
        raise _refuse(NO_SUCH_PARENT)
    if center_id is not None:
        upward = ancestor_ids(parent_id)
        if center_id in (await session.scalars(select(upward.c.id))).all():
            raise _refuse(CYCLE)
    if parent.kind.rank >= kind.rank:
        raise _refuse(UPWARD)
    return parent


async def check_children(session: AsyncSession, center_id: int, kind: CenterKind) -> None:
    """A center's new ``kind`` must still rank above each of its children's."""
    kinds = set(
        (await session.scalars(select(Center.kind).where(Center.parent_id == center_id))).all()
    )
    if any(child.rank <= kind.rank for child in kinds):
        raise _refuse(CHILD_ABOVE)


async def children(session: AsyncSession, center_id: int) -> Sequence[Center]:
    await _exists(session, center_id)
    query = select(Center).where(Center.parent_id == center_id).order_by(Center.id)
    return (await session.scalars(query)).all()


async def ancestors(session: AsyncSession, center_id: int) -> list[Center]:
    """The centers above ``center_id``, nearest first (its parent, then the
    parent's parent, up to the root)."""
    await _exists(session, center_id)
    upward = ancestor_ids(center_id)
    query = (
        select(Center)
        .join(upward, upward.c.id == Center.id)
        .where(upward.c.depth > 0)
        .order_by(upward.c.depth)
    )
    return list((await session.scalars(query)).all())


async def parent_names(session: AsyncSession, centers: Sequence[Center]) -> dict[int, str]:
    """The names of these centers' parents, by the parent's id."""
    wanted = {center.parent_id for center in centers if center.parent_id is not None}
    if not wanted:
        return {}
    found = await session.execute(select(Center.id, Center.name).where(Center.id.in_(wanted)))
    return {center_id: name for center_id, name in found}  # noqa: C416


async def _exists(session: AsyncSession, center_id: int) -> None:
    if await session.scalar(select(Center.id).where(Center.id == center_id)) is None:
        raise NotFound(Text("中心", "center"))
