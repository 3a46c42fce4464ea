"""The demo data: seeded once, idempotent, and shaped like the articles describe."""

from sqlalchemy import func, select

from app import demo
from app.models import BookingMode, Center, Space, Staff
from tests.factories import Api


async def test_seed_is_idempotent_and_shaped_like_the_articles(api: Api) -> None:
    async with api.database.writer.begin() as session:
        first = await demo.seed_demo(session)
    async with api.database.writer.begin() as session:
        second = await demo.seed_demo(session)
    assert first.centers_created == len(demo.CENTERS)
    assert (second.centers_created, second.spaces_created, second.staff_created) == (0, 0, [])

    async with api.database.reader() as session:
        assert await session.scalar(select(func.count()).select_from(Center)) == len(demo.CENTERS)
        assert await session.scalar(select(func.count()).select_from(Staff)) == 2
        yuexin = await session.scalar(select(Space).where(Space.name == "阅心书斋"))
    assert yuexin is not None
    assert yuexin.booking_mode is BookingMode.shared
    assert (yuexin.capacity, yuexin.open_24h, yuexin.requires_real_name) == (10, True, True)

    districts = {center.district for center in demo.CENTERS}
    assert districts == {"闵行区", "普陀区", "虹口区"}
    for center in demo.CENTERS:  # GCJ-02 coordinates inside Shanghai
        assert 30.6 < center.lat < 31.9
        assert 120.8 < center.lng < 122.2

    response = await api.client.get("/api/v1/centers", params={"near": "31.2412,121.3877"})
    assert response.json()["items"][0]["name"] == "长征镇丽湖居民区党群服务站"
