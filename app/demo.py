"""Demo data: real centers from the news articles the project grew from.

Addresses are plausible, coordinates are GCJ-02 near the real places, and
the spaces follow what the articles describe (free meeting rooms companies
borrow at Changfengwan, the 24-hour 阅心书斋 study room in Changzheng town).
Seeding is idempotent: rows are matched by name and left alone if present.
"""

from dataclasses import dataclass, field

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app import demo_activities, demo_bookings
from app.access.doors import device_key_hash
from app.access.keypad import ensure_keypad
from app.core.clock import parse_wall_clock, utcnow
from app.core.config import Settings
from app.core.crypto import PiiCipher
from app.core.db import Database
from app.demo_data import (
    CENTERS,
    CHANGFENGWAN_QUOTAS,
    ORGANIZATIONS,
    PARENTS,
    DemoSpace,
)
from app.identity import staff as staff_accounts
from app.identity.real_name import SAMPLE_ID_NUMBER
from app.models import (
    Center,
    Door,
    MemberRole,
    Membership,
    OpeningHours,
    Organization,
    OrganizationStatus,
    Space,
    Staff,
    User,
    default_holiday_policy,
)
from app.models import StaffRole as Role
from app.quotas import service as quotas

DEMO_STAFF_PASSWORD = "zhendi-demo-2026"
DEMO_SUPER_ADMIN = "demo-admin"
DEMO_CENTER_ADMIN = "changfengwan-admin"
DEMO_RESIDENT_CODE = "dev:demo-resident"
# A published sample number (GB 11643's example), not a real person's; the
# development verifier binds it to every account that claims it.
DEMO_ID_NUMBER = SAMPLE_ID_NUMBER
DEMO_DOOR_KEY = "demo-door-key-yuexin-not-for-production"


@dataclass
class SeedReport:
    centers_created: int = 0
    spaces_created: int = 0
    staff_created: list[str] = field(default_factory=list)


async def seed_demo(session: AsyncSession, cipher: PiiCipher | None = None) -> SeedReport:
    """The demo centers, spaces, companies, bookings, Changfengwan's programme of
    activities, and staff; with ``cipher``, the neighbours who booked and signed
    up get (sealed) phone numbers, found by their tails."""
    report = SeedReport()
    changfengwan_id = 0
    for demo in CENTERS:
        center = await session.scalar(
            select(Center).where(Center.district == demo.district, Center.name == demo.name)
        )
        if center is None:
            center = Center(
                name=demo.name,
                kind=demo.kind,
                district=demo.district,
                street=demo.street,
                address=demo.address,
                lat=demo.lat,
                lng=demo.lng,
                phone=demo.phone,
                description=demo.description,
            )
            session.add(center)
            await session.flush()
            report.centers_created += 1
        if demo.name.endswith("长风湾党群服务中心"):
            changfengwan_id = center.id
        for space in demo.spaces:
            report.spaces_created += await _seed_space(session, center.id, space)
    await _link_network(session)
    await _seed_organizations(session, changfengwan_id)
    now = utcnow()
    await demo_bookings.seed(session, changfengwan_id, now, cipher)
    await demo_activities.seed(session, changfengwan_id, now, cipher)
    for username, role, center_ids in (
        (DEMO_SUPER_ADMIN, Role.super_admin, []),
        (DEMO_CENTER_ADMIN, Role.center_admin, [changfengwan_id]),
    ):
        if await session.scalar(select(Staff.id).where(Staff.username == username)) is None:
            await staff_accounts.create_staff(
                session,
                username=username,
                password=DEMO_STAFF_PASSWORD,
                role=role,
                center_ids=center_ids,
            )
            report.staff_created.append(username)
    return report


async def _link_network(session: AsyncSession) -> None:
    """Hang each demo center under its parent (``PARENTS``), unless linked."""
    ids = {
        (district, name): center_id
        for center_id, district, name in await session.execute(
            select(Center.id, Center.district, Center.name)
        )
    }
    for demo in CENTERS:
        parent = PARENTS.get(demo.name)
        if parent is None:
            continue
        await session.execute(
            update(Center)
            .where(Center.id == ids[demo.district, demo.name], Center.parent_id.is_(None))
            .values(parent_id=ids[demo.district, parent])
        )


async def _seed_organizations(session: AsyncSession, center_id: int) -> None:
    for demo in ORGANIZATIONS:
        if await session.scalar(select(Organization.id).where(Organization.uscc == demo.uscc)):
            continue
        organization = Organization(
            name=demo.name,
            uscc=demo.uscc,
            contact_name=demo.contact_name,
            contact_phone=demo.contact_phone,
            center_id=center_id,
            status=OrganizationStatus.verified,
            decided_at=utcnow(),
        )
        session.add(organization)
        await session.flush()
        openids = [(demo.owner_openid, MemberRole.owner)]
        openids += [(openid, MemberRole.member) for openid in demo.member_openids]
        for openid, role in openids:
            user = await session.scalar(select(User).where(User.openid == openid))
            if user is None:
                user = User(openid=openid)
                session.add(user)
                await session.flush()
            session.add(
                Membership(
                    organization_id=organization.id,
                    user_id=user.id,
                    role=role,
                    joined_at=utcnow(),
                )
            )
    if not await quotas.rules_of(session, center_id=center_id):
        await quotas.replace_rules(session, center_id=center_id, rules=CHANGFENGWAN_QUOTAS)
    await session.flush()


async def _seed_space(session: AsyncSession, center_id: int, demo: DemoSpace) -> int:
    existing = await session.scalar(
        select(Space.id).where(Space.center_id == center_id, Space.name == demo.name)
    )
    if existing is not None:
        return 0
    space = Space(
        center_id=center_id,
        name=demo.name,
        kind=demo.kind,
        booking_mode=demo.booking_mode,
        capacity=demo.capacity,
        slot_minutes=demo.slot_minutes,
        min_minutes=demo.min_minutes,
        max_minutes=demo.max_minutes,
        advance_days=demo.advance_days,
        open_24h=demo.open_24h,
        requires_approval=demo.requires_approval,
        requires_real_name=demo.requires_real_name,
        requires_organization=demo.requires_organization,
        requires_check_in=demo.requires_check_in,
        holiday_policy=default_holiday_policy(demo.open_24h),
        release_minute=(
            parse_wall_clock(demo.release_time) if demo.release_time is not None else None
        ),
        facilities=list(demo.facilities),
        description=demo.description,
        opening_hours=[
            OpeningHours(weekday=day, opens_minute=opens, closes_minute=closes)
            for day, opens, closes in demo.opening
        ],
    )
    session.add(space)
    await session.flush()
    if demo.door is not None:
        session.add(
            Door(
                space_id=space.id,
                name=demo.door,
                device_key_hash=device_key_hash(DEMO_DOOR_KEY),
                is_active=True,
            )
        )
        await ensure_keypad(session, space.id)
        await session.flush()
    return 1


class DemoRefusedInProduction(RuntimeError):
    """The demo's staff password and door key are published in the README."""


async def seed_demo_database(settings: Settings) -> SeedReport:
    if settings.is_production:
        raise DemoRefusedInProduction("demo data is for development only")
    database = Database.connect(settings)
    try:
        async with database.writer.begin() as session:
            return await seed_demo(session, PiiCipher(settings.pii_key_bytes))
    finally:
        await database.dispose()
