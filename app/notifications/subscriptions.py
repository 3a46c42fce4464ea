"""The credit ledger: what ``wx.requestSubscribeMessage`` said, kept per user
and template.

Each ``accept`` of a one-time template lets us send one message of it: one
credit. ``reject`` and ``filter`` (WeChat's background filtered the request)
add nothing and take nothing away: what was accepted before still stands.
``ban`` means WeChat banned the template: its credits are gone. A send spends
one credit (``sender.py``); WeChat's 43101 zeroes them.
"""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.errors import AppError, Text
from app.models import SubscriptionCredit

Result = Literal["accept", "reject", "ban", "filter"]
# Credits stop growing here: a client that says "accept" a thousand times
# cannot make us send a thousand messages (WeChat would refuse them anyway).
MOST_CREDITS = 100


class UnknownTemplate(AppError):
    status = 422
    code = "unknown_template"
    title = Text("未知的消息模板", "Unknown message template")
    detail = Text("模板 {template_id} 不是本服务配置的订阅消息模板",
                  "Template {template_id} is not one this service sends")  # fmt: skip


def known_templates(settings: Settings) -> set[str]:
    return {template.template_id for template in settings.wechat_templates.values()}


async def record(
    session: AsyncSession,
    settings: Settings,
    user_id: int,
    results: Mapping[str, Result],
    now: datetime,
) -> Sequence[SubscriptionCredit]:
    known = known_templates(settings)
    for template_id in results:
        if template_id not in known:
            raise UnknownTemplate(template_id=template_id).with_extra(template_id=template_id)
    insert = sqlite_insert if session.get_bind().dialect.name == "sqlite" else postgresql_insert
    for template_id, result in sorted(results.items()):
        # Two answers at once for a new template: one row, each adds its credit.
        await session.execute(
            insert(SubscriptionCredit)
            .values(
                user_id=user_id,
                template_id=template_id,
                credits=0,
                last_result=result,
                updated_at=now,
            )  # fmt: skip
            .on_conflict_do_nothing()
        )
        credit = await session.scalar(
            select(SubscriptionCredit)
            .where(
                SubscriptionCredit.user_id == user_id,
                SubscriptionCredit.template_id == template_id,
            )
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        assert credit is not None
        if result == "accept":
            credit.credits = min(credit.credits + 1, MOST_CREDITS)
        elif result == "ban":
            credit.credits = 0
        credit.last_result = result
        credit.updated_at = now
    await session.flush()
    return await credits_of(session, user_id)


async def credits_of(session: AsyncSession, user_id: int) -> Sequence[SubscriptionCredit]:
    rows = await session.scalars(
        select(SubscriptionCredit)
        .where(SubscriptionCredit.user_id == user_id)
        .order_by(SubscriptionCredit.template_id)
    )
    return rows.all()
